package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/laingville/laingfile/test/testenv"
)

// spdxDoc is the part of an SPDX 2.3 document the tests read.
type spdxDoc struct {
	SPDXVersion       string `json:"spdxVersion"`
	DocumentNamespace string `json:"documentNamespace"`
	CreationInfo      struct {
		Created  string   `json:"created"`
		Creators []string `json:"creators"`
	} `json:"creationInfo"`
	Packages []struct {
		SPDXID          string `json:"SPDXID"`
		Name            string `json:"name"`
		VersionInfo     string `json:"versionInfo"`
		LicenseDeclared string `json:"licenseDeclared"`
		Homepage        string `json:"homepage"`
		PackageFileName string `json:"packageFileName"`
		Checksums       []struct{ Algorithm, ChecksumValue string }
		ExternalRefs    []struct{ ReferenceCategory, ReferenceType, ReferenceLocator string }
	} `json:"packages"`
	Files []struct {
		FileName string `json:"fileName"`
	} `json:"files"`
	Relationships []struct {
		SPDXElementID      string `json:"spdxElementId"`
		RelationshipType   string `json:"relationshipType"`
		RelatedSPDXElement string `json:"relatedSpdxElement"`
	} `json:"relationships"`
}

// TestSBOMAttestation builds the python devcontainer the user's way, docker buildx build
// --sbom=true --push, and reads the SPDX attestation from the pushed index: it lists every store
// path of the image with its name, version, purl, NAR hash, license, homepage and the set that
// brought it, and their references; buildx's imagetools shows it; a rebuild and a build on
// another daemon give the same bytes; Syft, scanning the image itself and reading the
// attestation, finds the same packages.
func TestSBOMAttestation(t *testing.T) {
	testenv.SkipIfShort(t)
	e := newBuildxEnv(t)
	dir := filepath.Join(e.root, "examples", "python")
	const platform = "linux/amd64"
	build := func(img string) {
		e.mustBuildx(t, dir, "-f", "Laingfile", "--target", "devcontainer", "--platform", platform,
			"--sbom=true", "--push", "-t", img, ".")
	}
	img := imageName(t, "devcontainer")
	build(img)
	raw := attestedSBOM(t, img, platform)
	var doc spdxDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("the SBOM attestation is not JSON: %v", err)
	}
	if doc.SPDXVersion != "SPDX-2.3" {
		t.Errorf("spdxVersion %q, want SPDX-2.3", doc.SPDXVersion)
	}

	t.Run("every store path", func(t *testing.T) {
		want := imageStorePaths(t, pulledImages(t, img)[platform])
		got := map[string]int{}
		licensed, withHomepage := 0, 0
		for _, p := range doc.Packages {
			sp := p.PackageFileName
			if !strings.HasPrefix(sp, "/nix/store/") {
				continue // the image itself
			}
			got[sp]++
			if p.Name == "" {
				t.Errorf("%s has no name", sp)
			}
			if !hasPurl(p.ExternalRefs) {
				t.Errorf("%s has no pkg:nix purl", sp)
			}
			if len(p.Checksums) == 0 || p.Checksums[0].Algorithm != "SHA256" || len(p.Checksums[0].ChecksumValue) != 64 {
				t.Errorf("%s: checksums %+v, want its NAR hash as SHA256", sp, p.Checksums)
			}
			if p.LicenseDeclared != "" && p.LicenseDeclared != "NOASSERTION" {
				licensed++
			}
			if p.Homepage != "" {
				withHomepage++
			}
		}
		for sp := range want {
			if got[sp] != 1 {
				t.Errorf("%s is in the image; the SBOM lists it %d times", sp, got[sp])
			}
		}
		for sp := range got {
			if !want[sp] {
				t.Errorf("the SBOM lists %s, which is not in the image", sp)
			}
		}
		if licensed < len(want)/2 || withHomepage < len(want)/2 {
			t.Errorf("of %d packages %d carry a license and %d a homepage; nixpkgs' meta gives most of them both", len(want), licensed, withHomepage)
		}
		dependsOn := 0
		for _, r := range doc.Relationships {
			if r.RelationshipType == "DEPENDS_ON" {
				dependsOn++
			}
		}
		if dependsOn < len(want) {
			t.Errorf("%d DEPENDS_ON relationships for %d store paths", dependsOn, len(want))
		}
		for _, want := range []string{"requested: python312 (set python)", "requested: python312Packages.pip (set pythonDev)", "requested: bashInteractive (set base)"} {
			if !bytes.Contains(raw, []byte(want)) {
				t.Errorf("the SBOM does not say %q", want)
			}
		}
		if len(doc.Files) == 0 {
			t.Errorf("the SBOM lists no file outside the store (/etc/passwd, the Nix database, …)")
		}
		t.Logf("%d store paths, %d with a license, %d files outside the store, %d DEPENDS_ON", len(want), licensed, len(doc.Files), dependsOn)
	})

	t.Run("imagetools inspect", func(t *testing.T) {
		r := e.run(t, dir, nil, "imagetools", "inspect", img, "--format", "{{json .SBOM}}")
		if r.Err != nil {
			t.Fatalf("docker buildx imagetools inspect: %v\n%s", r.Err, tail(r.Output, 20))
		}
		if !strings.Contains(r.Stdout, doc.DocumentNamespace) {
			t.Errorf("imagetools' .SBOM does not show our document (%s):\n%s", doc.DocumentNamespace, tail(r.Stdout, 10))
		}
	})

	t.Run("the same on a rebuild and on another daemon", func(t *testing.T) {
		again := imageName(t, "again")
		build(again)
		if got := attestedSBOM(t, again, platform); !bytes.Equal(got, raw) {
			t.Errorf("a rebuild gave another SBOM:\n%s", firstDifference(got, raw))
		}
		// The same frontend image on a fresh buildkitd of its own, through a buildx builder.
		d := testenv.NewDaemon(t)
		builder := "laingfile-sbom-" + nonce(t)
		if r := e.run(t, dir, nil, "create", "--name", builder, "--driver", "remote", d.Addr); r.Err != nil {
			t.Fatalf("docker buildx create: %v\n%s", r.Err, r.Output)
		}
		t.Cleanup(func() { e.run(t, dir, nil, "rm", builder) })
		other := imageName(t, "other-daemon")
		args := append(e.buildArgs(), "--builder", builder, "-f", "Laingfile", "--target", "devcontainer", "--platform", platform,
			"--sbom=true", "--push", "-t", other, ".")
		if r := e.run(t, dir, nil, args...); r.Err != nil {
			t.Fatalf("docker buildx build on another daemon: %v\n%s", r.Err, tail(r.Output, 40))
		}
		if got := attestedSBOM(t, other, platform); !bytes.Equal(got, raw) {
			t.Errorf("another daemon gave another SBOM:\n%s", firstDifference(got, raw))
		}
	})

	t.Run("syft", func(t *testing.T) {
		scanned := syftPackages(t, "scan", "registry:"+img)
		file := filepath.Join(t.TempDir(), "sbom.spdx.json")
		if err := os.WriteFile(file, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		attested := syftPackages(t, "convert", file)
		if len(scanned) == 0 {
			t.Fatalf("syft found no package in the image")
		}
		licensed := func(pkgs map[string]bool) (n int) {
			for _, l := range pkgs {
				if l {
					n++
				}
			}
			return n
		}
		for nv := range scanned {
			if _, ok := attested[nv]; !ok {
				t.Errorf("syft finds %s in the image; reading the attestation it does not", nv)
			}
		}
		t.Logf("syft: %d packages (%d with a license) scanning the image, %d (%d with a license) reading the attestation",
			len(scanned), licensed(scanned), len(attested), licensed(attested))
	})
}

// attestedSBOM returns the SPDX document of the SBOM attestation of ref's image for platform.
func attestedSBOM(t *testing.T, ref, platform string) []byte {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r)
	if err != nil {
		t.Fatalf("%s is not an index (attestations need one): %v", ref, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var image v1.Hash
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.OS+"/"+d.Platform.Architecture == platform {
			image = d.Digest
		}
	}
	for _, d := range m.Manifests {
		if d.Annotations["vnd.docker.reference.type"] != "attestation-manifest" || d.Annotations["vnd.docker.reference.digest"] != image.String() {
			continue
		}
		att, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		am, err := att.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range am.Layers {
			if l.Annotations["in-toto.io/predicate-type"] == "https://spdx.dev/Document" {
				return attestationPredicate(t, att, l.Digest)
			}
		}
	}
	t.Fatalf("%s has no SPDX attestation for %s", ref, platform)
	return nil
}

// attestationPredicate reads an attestation layer of an attestation manifest: an in-toto
// statement, whose predicate it returns.
func attestationPredicate(t *testing.T, att v1.Image, layer v1.Hash) json.RawMessage {
	t.Helper()
	l, err := att.LayerByDigest(layer)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var statement struct {
		Predicate json.RawMessage `json:"predicate"`
	}
	if err := json.NewDecoder(rc).Decode(&statement); err != nil {
		t.Fatalf("the attestation is not an in-toto statement: %v", err)
	}
	return statement.Predicate
}

// imageStorePaths are the store paths an image's layers hold, from their history.
func imageStorePaths(t *testing.T, img v1.Image) map[string]bool {
	t.Helper()
	paths := map[string]bool{}
	for _, l := range layersWithHistory(t, img) {
		if list, ok := strings.CutPrefix(l.CreatedBy, "nix: "); ok {
			for _, p := range strings.Fields(list) {
				paths[p] = true
			}
		}
	}
	if len(paths) == 0 {
		t.Fatalf("the image has no store layers")
	}
	return paths
}

func hasPurl(refs []struct{ ReferenceCategory, ReferenceType, ReferenceLocator string }) bool {
	for _, r := range refs {
		if r.ReferenceType == "purl" && strings.HasPrefix(r.ReferenceLocator, "pkg:nix/") {
			return true
		}
	}
	return false
}

// syftPackages runs syft with args and returns the names and versions ("name@version") of the
// Nix packages it finds, each with whether syft gives it a license.
func syftPackages(t *testing.T, args ...string) map[string]bool {
	t.Helper()
	if _, err := exec.LookPath("syft"); err != nil {
		t.Fatalf("syft is not on PATH (%v): run hack/tools.sh", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "syft", append(args, "-o", "syft-json", "-q")...)
	cmd.Env = append(os.Environ(), "SYFT_REGISTRY_INSECURE_USE_HTTP=true", "SYFT_CHECK_FOR_APP_UPDATE=false")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("syft %s: %v\n%s", strings.Join(args, " "), err, tail(stderr.String(), 20))
	}
	var res struct {
		Artifacts []struct {
			Name, Version, Type, PURL string
			Licenses                  []json.RawMessage
		} `json:"artifacts"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("syft's output is not JSON: %v", err)
	}
	found := map[string]bool{}
	for _, a := range res.Artifacts {
		if a.Type == "nix" || strings.HasPrefix(a.PURL, "pkg:nix/") {
			found[a.Name+"@"+a.Version] = found[a.Name+"@"+a.Version] || len(a.Licenses) > 0
		}
	}
	return found
}

// firstDifference shows where two documents first differ.
func firstDifference(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-200)
	return "…" + string(a[from:min(len(a), i+200)]) + "\n---\n…" + string(b[from:min(len(b), i+200)])
}
