// Command sbomscanner is BuildKit's SBOM generator (the scanner protocol of `--attest
// type=sbom,generator=IMAGE`) as docker/buildkit-syft-scanner is, around the syft command:
// BuildKit mounts the image it built at $BUILDKIT_SCAN_SOURCE, syft catalogs it, and the SPDX
// document goes to $BUILDKIT_SCAN_DESTINATION as an in-toto statement.
//
// hack/release.sh uses it where BuildKit's default generator image cannot be pulled (offline);
// hack/frontendimage -sbom-scanner builds its image, with the syft that hack/tools.sh builds.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Names the BuildKit scanner protocol fixes: the environment, and the core SBOM's file name
// (its name before the first dot must be "sbom").
const (
	envSource      = "BUILDKIT_SCAN_SOURCE"
	envDestination = "BUILDKIT_SCAN_DESTINATION"
	coreFile       = "sbom.spdx.json"
	tool           = "laingfile-sbom-scanner"
)

func main() {
	if err := run(context.Background(), os.Getenv(envSource), os.Getenv(envDestination)); err != nil {
		fmt.Fprintln(os.Stderr, tool+":", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, source, destination string) error {
	if source == "" || destination == "" {
		return fmt.Errorf("%s and %s must be set: this program runs as BuildKit's SBOM generator (--attest type=sbom,generator=IMAGE)", envSource, envDestination)
	}
	syft, err := exec.LookPath("syft")
	if err != nil {
		return fmt.Errorf("syft is not on PATH: %w", err)
	}
	work, err := os.MkdirTemp("", tool)
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	spdx := filepath.Join(work, "sbom.spdx.json")
	cmd := exec.CommandContext(ctx, syft, "scan", "dir:"+source, "--quiet", "--output", "spdx-json="+spdx)
	cmd.Env = append(os.Environ(), "SYFT_CHECK_FOR_APP_UPDATE=false")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("syft scan %s: %w", source, err)
	}
	doc, err := os.ReadFile(spdx)
	if err != nil {
		return err
	}
	data, err := json.Marshal(statement{
		Type:          "https://in-toto.io/Statement/v0.1",
		PredicateType: "https://spdx.dev/Document",
		Subject:       []any{}, // BuildKit fills in the image
		Predicate:     json.RawMessage(doc),
	})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(destination, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(destination, coreFile), data, 0o644)
}

type statement struct {
	Type          string          `json:"_type"`
	PredicateType string          `json:"predicateType"`
	Subject       []any           `json:"subject"`
	Predicate     json.RawMessage `json:"predicate"`
}
