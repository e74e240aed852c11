package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/laingville/laingfile/frontend"
	"github.com/laingville/laingfile/nixsets"
	"github.com/laingville/laingfile/test/testenv"
)

// releaseRepo is where hack/release.sh pushes by default: the test registry.
const releaseRepo = testenv.RegistryAddr + "/laingfile/frontend"

// TestRelease runs hack/release.sh as the release workflow does, offline, with a version of its
// own, then checks what it pushed: the release tags on one multi-platform index with BuildKit's
// provenance and SBOM attestations, and a Laingfile whose `# syntax=` line names the major tag
// builds with that release, which names itself in the progress and the image's labels.
func TestRelease(t *testing.T) {
	testenv.SkipIfShort(t)
	root := testenv.RepoRoot(t)
	builder := testenv.BuilderImage(t)
	if out, err := exec.Command("docker", "buildx", "inspect", buildxBuilder).CombinedOutput(); err != nil {
		t.Fatalf("docker buildx has no builder %q: %v\n%s\nrun hack/setup.sh", buildxBuilder, err, out)
	}
	// A patch version of its own, so that the major tag must move to this run's release.
	version := fmt.Sprintf("v0.0.%d", time.Now().Unix())

	start := time.Now()
	cmd := exec.Command("bash", filepath.Join(root, "hack", "release.sh"), version)
	cmd.Env = append(os.Environ(), "RELEASE_IMAGE="+releaseRepo)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hack/release.sh %s: %v\n%s", version, err, tail(string(out), 60))
	}
	t.Logf("hack/release.sh %s took %s", version, time.Since(start).Round(100*time.Millisecond))

	index := checkReleaseTags(t, version)
	checkReleaseAttestations(t, index)
	images := pulledImages(t, releaseRepo+":"+strings.TrimPrefix(version, "v"))
	for platform, img := range images {
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Config.Labels["org.opencontainers.image.version"]; got != version {
			t.Errorf("%s: org.opencontainers.image.version = %q, want %q", platform, got, version)
		}
	}

	t.Run("the major tag builds with the release", func(t *testing.T) {
		checkMajorTagBuild(t, root, builder, version)
	})
}

// checkReleaseTags checks that the tags X, X.Y, X.Y.Z and latest are one index, and returns it.
func checkReleaseTags(t *testing.T, version string) v1.ImageIndex {
	t.Helper()
	m := regexp.MustCompile(`^v(\d+)\.(\d+)\.(\d+)$`).FindStringSubmatch(version)
	var index v1.ImageIndex
	var first v1.Hash
	for _, tag := range []string{m[1], m[1] + "." + m[2], m[1] + "." + m[2] + "." + m[3], "latest"} {
		ref, err := name.ParseReference(releaseRepo+":"+tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := remote.Index(ref)
		if err != nil {
			t.Fatalf("the release has no tag %s: %v", tag, err)
		}
		d, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		if index == nil {
			index, first = idx, d
		} else if d != first {
			t.Errorf("tag %s is %s, not the release's index %s", tag, d, first)
		}
	}
	return index
}

// checkReleaseAttestations checks that each platform's image has an attestation manifest with
// BuildKit's SLSA provenance and an SPDX SBOM that lists the frontend's Go modules.
func checkReleaseAttestations(t *testing.T, index v1.ImageIndex) {
	t.Helper()
	manifest, err := index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	attested := map[string][]string{} // image digest -> predicate types
	for _, d := range manifest.Manifests {
		if d.Annotations["vnd.docker.reference.type"] != "attestation-manifest" {
			if d.Platform == nil {
				t.Fatalf("the release's index has a manifest %s with no platform", d.Digest)
			}
			platforms = append(platforms, d.Platform.OS+"/"+d.Platform.Architecture)
			continue
		}
		img, err := index.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		subject := d.Annotations["vnd.docker.reference.digest"]
		for _, l := range m.Layers {
			predicate := l.Annotations["in-toto.io/predicate-type"]
			attested[subject] = append(attested[subject], predicate)
			if predicate == "https://spdx.dev/Document" {
				checkSBOM(t, img, l.Digest)
			}
		}
	}
	slices.Sort(platforms)
	if !slices.Equal(platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("the release has images for %v, want linux/amd64 and linux/arm64", platforms)
	}
	for _, d := range manifest.Manifests {
		if d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
			continue
		}
		got := attested[d.Digest.String()]
		for _, want := range []string{"https://slsa.dev/provenance/v1", "https://spdx.dev/Document"} {
			if !slices.Contains(got, want) {
				t.Errorf("%s/%s has attestations %v, none of type %s", d.Platform.OS, d.Platform.Architecture, got, want)
			}
		}
	}
}

// checkSBOM reads an SBOM attestation layer: an in-toto statement whose SPDX document lists the
// Go standard library and BuildKit, which the frontend is built with.
func checkSBOM(t *testing.T, img v1.Image, layer v1.Hash) {
	t.Helper()
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name string `json:"name"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(attestationPredicate(t, img, layer), &doc); err != nil {
		t.Fatalf("the SBOM attestation is not an SPDX document: %v", err)
	}
	var names []string
	for _, p := range doc.Packages {
		names = append(names, p.Name)
	}
	for _, want := range []string{"stdlib", "github.com/moby/buildkit"} {
		if !slices.Contains(names, want) {
			t.Errorf("the SBOM (%s) has no package %s: %v", doc.SPDXVersion, want, names)
		}
	}
}

// checkMajorTagBuild builds a Laingfile whose `# syntax=` line names the release's major tag,
// through docker buildx as a user would (no BUILDKIT_SYNTAX), with the test builder image and
// fixture as named contexts, and checks the release's progress line and labels, and that
// another frontend version makes the same layers.
func checkMajorTagBuild(t *testing.T, root, builder, version string) {
	major, _, _ := strings.Cut(strings.TrimPrefix(version, "v"), ".")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Laingfile": "# syntax=" + releaseRepo + ":" + major + "\nkind: runtime\nsets: [base]\n",
	})
	e := &buildxEnv{root: root, builder: builder, nixpkgs: filepath.Join(root, "test", "fixtures", "nixpkgs")}
	ref := imageName(t, "release")
	r := e.run(t, dir, nil, "build", "--builder", buildxBuilder,
		"--build-context", "nix-builder=docker-image://"+e.builder,
		"--build-context", "nixpkgs="+e.nixpkgs,
		"-f", "Laingfile", "--platform", "linux/amd64", "--push", "-t", ref, ".")
	if r.Err != nil {
		t.Fatalf("docker buildx build with # syntax=%s:%s: %v\n%s", releaseRepo, major, r.Err, tail(r.Output, 60))
	}

	// buildx names a local directory context by its name alone.
	wantNixpkgs := "local:nixpkgs"
	wantBuilder := "docker-image://" + builder
	line := fmt.Sprintf(`laingfile %s: nixpkgs from the "nixpkgs" build context (%s), replacing %s (the release's pin), builder from the "nix-builder" build context (%s)`,
		version, wantNixpkgs, nixsets.DefaultPin().Rev[:12], wantBuilder)
	if !regexp.MustCompile(`(?m)^#\d+ ` + regexp.QuoteMeta(line) + `$`).MatchString(r.Output) {
		t.Errorf("the progress has no step named\n %s\n%s", line, grepLines(r.Output, "laingfile "))
	}
	released := pulledImages(t, ref)
	for platform, img := range released {
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		for label, want := range map[string]string{
			frontend.LabelVersion: version,
			frontend.LabelNixpkgs: "build context: " + wantNixpkgs,
			frontend.LabelBuilder: "build context: " + wantBuilder,
		} {
			if got := cfg.Config.Labels[label]; got != want {
				t.Errorf("%s: label %s = %q, want %q", platform, label, got, want)
			}
		}
	}
	checkLayersAcrossVersions(t, dir, released)
}

// checkLayersAcrossVersions builds the same Laingfile with this checkout's frontend in process
// (another version) and checks that only the image config differs: every layer is the same.
func checkLayersAcrossVersions(t *testing.T, dir string, released map[string]v1.Image) {
	t.Helper()
	ref := imageName(t, "in-process")
	mustBuild(t, buildRequest{Dir: dir, Platforms: "linux/amd64", Push: ref})
	for platform, img := range pulledImages(t, ref) {
		want, got := layerDigests(t, released[platform]), layerDigests(t, img)
		if !slices.Equal(got, want) {
			t.Errorf("%s: the frontend %s made layers\n %v\nthe release made\n %v", platform, frontend.DevVersion, got, want)
		}
	}
}

func layerDigests(t *testing.T, img v1.Image) []v1.Hash {
	t.Helper()
	if img == nil {
		t.Fatal("no image for this platform")
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []v1.Hash
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return out
}

// grepLines are the lines of s that contain substr, or a note that none does.
func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return "(no line contains " + substr + ")"
	}
	return strings.Join(out, "\n")
}

// TestProjectWorkflows checks the repository's own GitHub workflows: actionlint accepts them
// (under -short it is skipped when actionlint is not installed, as for the examples'), and
// each runs the steps the release process depends on.
func TestProjectWorkflows(t *testing.T) {
	root := testenv.RepoRoot(t)
	dir := filepath.Join(root, ".github", "workflows")
	want := map[string][]string{
		"ci.yml":          {"run: bash .ci/run", "/var/cache/laingfile", "uses: actions/setup-go@", "--privileged"},
		"release.yml":     {`tags: ["v*.*.*"]`, "hack/release.sh --notes", "hack/release.sh --online --examples", "sigstore/cosign-installer@", "id-token: write", "cosign sign --yes", "gh release create"},
		"update-pins.yml": {"laing pin release", "laing pin builder", "go test -short ./...", "peter-evans/create-pull-request@"},
		"scan.yml":        {"schedule:", "{{json .SBOM}}", "anchore/scan-action/download-grype@", `"Critical" or .vulnerability.severity == "High"`, "gh issue create"},
	}
	var files []string
	for file, steps := range want {
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Errorf("missing workflow: %v", err)
			continue
		}
		files = append(files, filepath.Join(dir, file))
		for _, s := range steps {
			if !strings.Contains(string(data), s) {
				t.Errorf("%s has no %q", file, s)
			}
		}
	}

	bin, err := exec.LookPath("actionlint")
	if err != nil {
		if testing.Short() {
			t.Skip("actionlint is not installed (hack/tools.sh installs it)")
		}
		t.Fatalf("actionlint is not on PATH (%v): run hack/tools.sh", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// As for the examples: no optional linters, so that the result does not depend on what
	// else is installed.
	cmd := exec.CommandContext(ctx, bin, append([]string{"-no-color", "-shellcheck=", "-pyflakes="}, files...)...)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("actionlint found problems (%v):\n%s", err, out)
	}
}

// TestReleaseNotes checks that hack/release.sh --notes prints a version's CHANGELOG.md section,
// which the release workflow makes the GitHub release's notes, and refuses a version without
// one before anything is built.
func TestReleaseNotes(t *testing.T) {
	root := testenv.RepoRoot(t)
	tests := []struct {
		version  string
		want     string // in the output
		unwanted string // not in it
		fails    bool
	}{
		{version: "v1.0.0", want: "### Added", unwanted: "## [Unreleased]"},
		{version: "1.0.0", want: "The first release", unwanted: "]: https://"},
		{version: "v0.0.1", want: `CHANGELOG.md has no section "## [0.0.1] - YYYY-MM-DD"`, fails: true},
		{version: "v1.0", want: "expected vMAJOR.MINOR.PATCH", fails: true},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			out, err := exec.Command("bash", filepath.Join(root, "hack", "release.sh"), "--notes", tt.version).CombinedOutput()
			if (err != nil) != tt.fails {
				t.Fatalf("hack/release.sh --notes %s: %v\n%s", tt.version, err, out)
			}
			if !strings.Contains(string(out), tt.want) || (tt.unwanted != "" && strings.Contains(string(out), tt.unwanted)) {
				t.Errorf("hack/release.sh --notes %s printed:\n%s\nwant %q and not %q", tt.version, out, tt.want, tt.unwanted)
			}
		})
	}
}
