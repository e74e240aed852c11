package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/laingville/laingfile/internal/nar"
	"github.com/laingville/laingfile/internal/nixstore"
	"github.com/laingville/laingfile/nixsets"
	"github.com/laingville/laingfile/sbom"
)

const (
	inTotoMediaType     = "application/vnd.in-toto+json"
	provenancePredicate = "https://slsa.dev/provenance/v0.2"
)

// testDocument is an SPDX document for an image with python3 and a profile.
func testDocument(t *testing.T) []byte {
	t.Helper()
	python := nar.StoreDir + "/" + strings.Repeat("a", 32) + "-python3-3.12.10"
	profile := nar.StoreDir + "/" + strings.Repeat("b", 32) + "-laingfile-profile"
	doc, err := sbom.Document(sbom.Input{
		Name: "runtime", Platform: "linux/amd64", Created: time.Unix(1, 0),
		Nixpkgs: "github:NixOS/nixpkgs/48698d12cc10555a4f3e3222d9c669b884a49dfe",
		Closure: []nixstore.StorePath{
			{Path: python, NarSize: 3 << 20},
			{Path: profile, NarSize: 4096, References: []string{python}},
		},
		Derivations: []nixsets.PackageMeta{{Name: "python3-3.12.10", Outputs: map[string]string{"out": python}, Licenses: []nixsets.PackageLicense{{SPDXID: "Python-2.0"}}}},
		Requested:   []sbom.Requested{{Attr: "python3", Set: "python", Paths: []string{python}}},
		Files:       []sbom.File{{Path: "/app/main.py", SHA1: strings.Repeat("1", 40), SHA256: strings.Repeat("2", 64), Origin: "copy: app/"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// statement is an in-toto statement with a predicate.
func statement(t *testing.T, predicateType string, predicate []byte) []byte {
	t.Helper()
	data, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v0.1",
		"predicateType": predicateType,
		"subject":       []any{},
		"predicate":     json.RawMessage(predicate),
	})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// attestationLayer is one layer of an attestation manifest.
type attestationLayer struct {
	mediaType, predicateType string
	data                     []byte
}

// attestedIndex is an index as buildx pushes it: an image for each platform, and for each
// platform with layers an attestation manifest that refers to the image.
func attestedIndex(t *testing.T, attestations map[string][]attestationLayer, platforms ...string) v1.ImageIndex {
	t.Helper()
	var idx v1.ImageIndex = empty.Index
	for _, p := range platforms {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		digest, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		goos, goarch, _ := strings.Cut(p, "/")
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: goos, Architecture: goarch}}})
		layers, ok := attestations[p]
		if !ok {
			continue
		}
		att := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		for _, l := range layers {
			att, err = mutate.Append(att, mutate.Addendum{
				Layer:       static.NewLayer(l.data, types.MediaType(l.mediaType)),
				Annotations: map[string]string{annotationPredicateType: l.predicateType},
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{annotationReferenceType: attestationManifest, annotationReferenceDigest: digest.String()},
		}})
	}
	return idx
}

// pushToTestRegistry serves an in-memory registry holding x as acme/app:latest and returns its
// reference.
func pushToTestRegistry(t *testing.T, x remote.Taggable) string {
	t.Helper()
	return testRegistry(t, map[string]remote.Taggable{"acme/app:latest": x}) + "/acme/app:latest"
}

func runSBOM(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(append([]string{"sbom"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestSBOMTable(t *testing.T) {
	doc := testDocument(t)
	ref := pushToTestRegistry(t, attestedIndex(t, map[string][]attestationLayer{
		"linux/amd64": {
			{inTotoMediaType, provenancePredicate, statement(t, provenancePredicate, []byte(`{}`))},
			{inTotoMediaType, sbom.PredicateType, statement(t, sbom.PredicateType, doc)},
		},
	}, "linux/amd64", "linux/arm64"))

	code, out, errOut := runSBOM(ref)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(out, "\n")
	wantHead := ref + " (linux/amd64): runtime, 2 packages, 1 files, nixpkgs github:NixOS/nixpkgs/48698d12cc10555a4f3e3222d9c669b884a49dfe"
	if lines[0] != wantHead {
		t.Errorf("first line %q, want %q", lines[0], wantHead)
	}
	wantRows := [][]string{
		{"NAME", "VERSION", "LICENSE", "REQUESTED", "SIZE", "STORE", "PATH"},
		{"laingfile-profile", "-", "-", "-", "4.0", "KiB", "/nix/store/" + strings.Repeat("b", 32) + "-laingfile-profile"},
		{"python3", "3.12.10", "Python-2.0", "python3", "(python)", "3.0", "MiB", "/nix/store/" + strings.Repeat("a", 32) + "-python3-3.12.10"},
		{},
		{"FILE", "ORIGIN", "SHA256"},
		{"/app/main.py", "copy:", "app/", strings.Repeat("2", 64)},
	}
	for i, want := range wantRows {
		if got := strings.Fields(lines[2+i]); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("line %d: %q, want the fields %q", 3+i, lines[2+i], want)
		}
	}

	code, out, errOut = runSBOM("--json", ref)
	if code != 0 {
		t.Fatalf("--json: exit %d: %s", code, errOut)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, doc); err != nil {
		t.Fatal(err)
	}
	// The statement holds the document compacted, as BuildKit stores it; --json prints it as is.
	if out != compact.String()+"\n" {
		t.Errorf("--json printed\n%s\nwant the predicate\n%s", out, compact.String())
	}
}

func TestSBOMFromOCILayoutAndDSSE(t *testing.T) {
	doc := testDocument(t)
	envelope, err := json.Marshal(map[string]any{
		"payloadType": "application/vnd.in-toto+json",
		"payload":     base64.StdEncoding.EncodeToString(statement(t, sbom.PredicateType, doc)),
		"signatures":  []any{},
	})
	if err != nil {
		t.Fatal(err)
	}
	idx := attestedIndex(t, map[string][]attestationLayer{
		"linux/arm64": {{"application/vnd.in-toto.spdx+dsse", sbom.PredicateType, envelope}},
	}, "linux/arm64")
	dir := t.TempDir()
	if _, err := layout.Write(dir, mutate.AppendManifests(empty.Index, mutate.IndexAddendum{
		Add:        idx,
		Descriptor: v1.Descriptor{Annotations: map[string]string{"org.opencontainers.image.ref.name": "v1"}},
	})); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runSBOM("--platform", "linux/arm64", "oci-layout://"+dir+":v1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "python3") || !strings.Contains(out, "Python-2.0") {
		t.Errorf("output lacks python3:\n%s", out)
	}
	code, _, errOut = runSBOM("--platform", "linux/arm64", "oci-layout://"+dir+":v2")
	if want := `no image tagged "v2" for linux/arm64`; code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("another tag: exit %d, stderr %q; want exit 1 and %q", code, errOut, want)
	}
}

func TestSBOMErrors(t *testing.T) {
	doc := testDocument(t)
	single, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	provenanceOnly := pushToTestRegistry(t, attestedIndex(t, map[string][]attestationLayer{
		"linux/amd64": {{inTotoMediaType, provenancePredicate, statement(t, provenancePredicate, []byte(`{}`))}},
	}, "linux/amd64", "linux/arm64"))
	mislabelled := pushToTestRegistry(t, attestedIndex(t, map[string][]attestationLayer{
		"linux/amd64": {{inTotoMediaType, sbom.PredicateType, statement(t, provenancePredicate, doc)}},
	}, "linux/amd64"))
	notSPDX := pushToTestRegistry(t, attestedIndex(t, map[string][]attestationLayer{
		"linux/amd64": {{inTotoMediaType, sbom.PredicateType, statement(t, sbom.PredicateType, []byte(`{"bomFormat": "CycloneDX"}`))}},
	}, "linux/amd64"))

	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no image", nil, 2, "usage: laing"},
		{"two images", []string{"a", "b"}, 2, "usage: laing"},
		{"a bad platform", []string{"--platform", "linux/amd64/v9/x", "x"}, 1, `--platform "linux/amd64/v9/x"`},
		{"a single image", []string{pushToTestRegistry(t, single)}, 1, "is a single image, not an index, so it has no attestations: build it with --sbom=true"},
		{"no attestations", []string{pushToTestRegistry(t, attestedIndex(t, nil, "linux/amd64"))}, 1, "has no SBOM attestation for linux/amd64 (it has no attestations for it at all): build it with --sbom=true"},
		{"provenance only", []string{provenanceOnly}, 1, "has no SBOM attestation for linux/amd64 (only other attestations, such as provenance): build it with --sbom=true"},
		{"another platform's attestations", []string{"--platform", "linux/arm64", provenanceOnly}, 1, "has no SBOM attestation for linux/arm64 (it has no attestations for it at all)"},
		{"a platform the image lacks", []string{"--platform", "linux/s390x", provenanceOnly}, 1, "no image for linux/s390x (it has linux/amd64, linux/arm64): choose one with --platform"},
		{"a statement of another type", []string{mislabelled}, 1, `the statement's predicate type is "` + provenancePredicate + `"`},
		{"not SPDX", []string{notSPDX}, 1, "not an SPDX 2 JSON document"},
		{"not a reference", []string{"UPPER CASE"}, 1, "is not an image reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runSBOM(tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errOut, tt.code, tt.want)
			}
		})
	}
}
