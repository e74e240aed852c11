package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestScan scans a tree holding this test's own binary (a Go program), as BuildKit would mount
// an image: syft lists the Go modules it was built from, in an in-toto statement of SPDX.
func TestScan(t *testing.T) {
	if testing.Short() {
		t.Skip("runs syft")
	}
	if _, err := exec.LookPath("syft"); err != nil {
		t.Fatalf("syft is not on PATH (%v): run hack/tools.sh", err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	src, out := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "bin", "prog"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), src, out); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(out, coreFile))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Type          string `json:"_type"`
		PredicateType string `json:"predicateType"`
		Predicate     struct {
			SPDXVersion string `json:"spdxVersion"`
			Packages    []struct {
				Name string `json:"name"`
			} `json:"packages"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != "https://in-toto.io/Statement/v0.1" || st.PredicateType != "https://spdx.dev/Document" || st.Predicate.SPDXVersion != "SPDX-2.3" {
		t.Errorf("statement %q with predicate %q of %q", st.Type, st.PredicateType, st.Predicate.SPDXVersion)
	}
	var names []string
	for _, p := range st.Predicate.Packages {
		names = append(names, p.Name)
	}
	for _, want := range []string{"stdlib", "github.com/laingville/laingfile"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("syft lists %v, without %s", names, want)
		}
	}
}

func TestScanNeedsBuildKit(t *testing.T) {
	if err := run(context.Background(), "", ""); err == nil || !strings.Contains(err.Error(), "BUILDKIT_SCAN_SOURCE") {
		t.Errorf("run without the protocol's environment: %v", err)
	}
}
