package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestScan scans a tree holding this test's own binary (a Go program), a shell script and a
// data file, as BuildKit would mount an image: only the Go program's modules are listed.
func TestScan(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	src, out := t.TempDir(), t.TempDir()
	for name, f := range map[string]struct {
		data []byte
		mode os.FileMode
	}{
		"bin/prog":       {data, 0o755},
		"bin/script":     {[]byte("#!/bin/sh\n"), 0o755},
		"etc/prog-again": {data, 0o644}, // not executable: not a program
	} {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := run(src, out, time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(out, coreFile))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Type          string   `json:"_type"`
		PredicateType string   `json:"predicateType"`
		Predicate     document `json:"predicate"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != "https://in-toto.io/Statement/v0.1" || st.PredicateType != "https://spdx.dev/Document" {
		t.Errorf("statement %q with predicate %q", st.Type, st.PredicateType)
	}
	doc := st.Predicate
	if doc.SPDXVersion != "SPDX-2.3" || doc.CreationInfo.Created != "1970-01-01T00:00:01Z" {
		t.Errorf("document %s created %s", doc.SPDXVersion, doc.CreationInfo.Created)
	}
	// By purl without the version: the main module's depends on how the test was built.
	purls := map[string]string{}
	for _, p := range doc.Packages {
		purls[p.ExternalRefs[0].Locator] = p.SourceInfo
		purls[strings.TrimSuffix(p.ExternalRefs[0].Locator, "@"+p.VersionInfo)] = p.SourceInfo
	}
	tests := []struct{ purl, from string }{
		{"pkg:golang/stdlib@" + strings.TrimPrefix(runtime.Version(), "go"), "/bin/prog"},
		{"pkg:golang/github.com/laingville/laingfile", "/bin/prog"},
	}
	for _, tt := range tests {
		if from, ok := purls[tt.purl]; !ok || from != "Go build information of "+tt.from {
			t.Errorf("package %s: from %q, want %s; packages: %v", tt.purl, from, tt.from, purls)
		}
	}
	if len(doc.Relationships) != len(doc.Packages) {
		t.Errorf("%d relationships for %d packages", len(doc.Relationships), len(doc.Packages))
	}
}

func TestScanNeedsBuildKit(t *testing.T) {
	if err := run("", "", time.Now()); err == nil || !strings.Contains(err.Error(), "BUILDKIT_SCAN_SOURCE") {
		t.Errorf("run without the protocol's environment: %v", err)
	}
}
