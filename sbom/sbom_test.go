package sbom

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/laingville/laingfile/internal/nar"
	"github.com/laingville/laingfile/internal/nixstore"
	"github.com/laingville/laingfile/nixsets"
)

// storePath is a store path with a made-up but well-formed hash derived from its name.
func storePath(name string) string {
	sum := sha256.Sum256([]byte(name))
	return nar.StoreDir + "/" + nar.Base32(sum[:20]) + "-" + name
}

func hashPart(p string) string {
	return strings.TrimPrefix(p, nar.StoreDir+"/")[:32]
}

func narHash(name string) string {
	return nar.SRI(sha256.Sum256([]byte("nar " + name)))
}

var (
	pathPython   = storePath("python3-3.12.10")
	pathGlibc    = storePath("glibc-2.40-66")
	pathGlibcBin = storePath("glibc-2.40-66-bin")
	pathRequests = storePath("python3.12-requests-2.32.3")
	pathProfile  = storePath("laingfile-profile")
	pathUnfree   = storePath("unfree-tool-1.0")
	pathApp      = storePath("app")
)

// sampleInput is an image with packages from nixpkgs (one with two outputs in the closure), an
// unfree one, a project file's package, the profile, and two files outside the store.
func sampleInput() Input {
	return Input{
		Name:        "devcontainer",
		Platform:    "linux/amd64",
		Created:     time.Unix(1, 0),
		Nixpkgs:     "github:NixOS/nixpkgs/48698d12cc10555a4f3e3222d9c669b884a49dfe",
		ToolVersion: "v1.4.0",
		Closure: []nixstore.StorePath{
			{Path: pathGlibc, NarHash: narHash("glibc"), NarSize: 30 << 20, References: []string{pathGlibc}},
			{Path: pathGlibcBin, NarHash: narHash("glibc-bin"), NarSize: 1 << 20, References: []string{pathGlibc, pathGlibcBin}},
			{Path: pathPython, NarHash: narHash("python"), NarSize: 120 << 20, References: []string{pathGlibc, pathPython}},
			{Path: pathRequests, NarHash: narHash("requests"), NarSize: 500 << 10, References: []string{pathPython}},
			{Path: pathUnfree, NarHash: narHash("unfree"), NarSize: 4096, References: []string{pathGlibc}},
			{Path: pathApp, NarHash: narHash("app"), NarSize: 2048, References: []string{pathPython, pathRequests}},
			{Path: pathProfile, NarHash: narHash("profile"), NarSize: 8192, References: []string{pathApp, pathPython, pathRequests, pathUnfree, pathGlibcBin}},
		},
		Derivations: []nixsets.PackageMeta{
			{
				Name: "glibc-2.40-66", PName: "glibc", Version: "2.40-66",
				Outputs:  map[string]string{"out": pathGlibc, "bin": pathGlibcBin, "dev": storePath("glibc-2.40-66-dev")},
				Licenses: []nixsets.PackageLicense{{SPDXID: "LGPL-2.1-or-later", ShortName: "lgpl21Plus"}, {SPDXID: "GPL-2.0-or-later", ShortName: "gpl2Plus"}},
				Homepage: "https://www.gnu.org/software/libc/", Description: "The GNU C Library",
			},
			{
				Name: "python3-3.12.10", PName: "python3", Version: "3.12.10",
				Outputs:  map[string]string{"out": pathPython},
				Licenses: []nixsets.PackageLicense{{SPDXID: "Python-2.0", ShortName: "psfl", FullName: "Python Software Foundation License version 2"}},
				Homepage: "https://www.python.org",
			},
			{
				Name: "python3.12-requests-2.32.3", PName: "requests", Version: "2.32.3",
				Outputs:  map[string]string{"out": pathRequests, "dist": storePath("python3.12-requests-2.32.3-dist")},
				Licenses: []nixsets.PackageLicense{{SPDXID: "Apache-2.0", ShortName: "asl20"}},
				Homepage: "https://requests.readthedocs.io", Description: "HTTP library for Python",
			},
			{
				Name: "unfree-tool-1.0", Outputs: map[string]string{"out": pathUnfree},
				Licenses: []nixsets.PackageLicense{{ShortName: "unfree", FullName: "Unfree"}},
				Homepage: "not a url",
			},
		},
		Requested: []Requested{
			{Attr: "python3", Set: "python", Paths: []string{pathPython}},
			{Attr: "python3Packages.requests", Set: "pythonDev", Paths: []string{pathRequests}},
			{Attr: "python3", Set: "pythonDev", Paths: []string{pathPython}},
			{Attr: "./nix/app.nix", Paths: []string{pathApp}},
			{Attr: "unfree-tool", Paths: []string{pathUnfree, "/nix/store/00000000000000000000000000000000-not-in-closure"}},
		},
		Files: []File{
			{Path: "/etc/passwd", SHA1: strings.Repeat("a", 40), SHA256: strings.Repeat("b", 64), Origin: "customisation"},
			{Path: "/app/app/__main__.py", SHA1: strings.Repeat("c", 40), SHA256: strings.Repeat("d", 64), Origin: "copy: app/"},
			{Path: "/usr/bin/env", Origin: "customisation"},
		},
	}
}

// decoded is the document as generic JSON, for checks that should not depend on this
// package's own types.
type decoded struct {
	SPDXVersion       string `json:"spdxVersion"`
	DocumentNamespace string `json:"documentNamespace"`
	CreationInfo      struct {
		Created  string   `json:"created"`
		Creators []string `json:"creators"`
	} `json:"creationInfo"`
	Packages []struct {
		Name             string `json:"name"`
		SPDXID           string `json:"SPDXID"`
		VersionInfo      string `json:"versionInfo"`
		PackageFileName  string `json:"packageFileName"`
		LicenseDeclared  string `json:"licenseDeclared"`
		LicenseConcluded string `json:"licenseConcluded"`
		Homepage         string `json:"homepage"`
		Comment          string `json:"comment"`
		Purpose          string `json:"primaryPackagePurpose"`
		Checksums        []struct {
			Algorithm string `json:"algorithm"`
			Value     string `json:"checksumValue"`
		} `json:"checksums"`
		ExternalRefs []struct {
			Category string `json:"referenceCategory"`
			Type     string `json:"referenceType"`
			Locator  string `json:"referenceLocator"`
		} `json:"externalRefs"`
	} `json:"packages"`
	Files []struct {
		FileName    string `json:"fileName"`
		SPDXID      string `json:"SPDXID"`
		Comment     string `json:"comment"`
		Annotations []struct {
			Date      string `json:"annotationDate"`
			Type      string `json:"annotationType"`
			Annotator string `json:"annotator"`
			Comment   string `json:"comment"`
		} `json:"annotations"`
		Checksums []struct {
			Algorithm string `json:"algorithm"`
			Value     string `json:"checksumValue"`
		} `json:"checksums"`
	} `json:"files"`
	Extracted []struct {
		ID   string `json:"licenseId"`
		Name string `json:"name"`
		Text string `json:"extractedText"`
	} `json:"hasExtractedLicensingInfos"`
	Relationships []struct {
		Element string `json:"spdxElementId"`
		Type    string `json:"relationshipType"`
		Related string `json:"relatedSpdxElement"`
	} `json:"relationships"`
}

func mustDocument(t *testing.T, in Input) ([]byte, decoded) {
	t.Helper()
	data, err := Document(in)
	if err != nil {
		t.Fatal(err)
	}
	var d decoded
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	return data, d
}

func TestParseDrvName(t *testing.T) {
	// Each was checked against builtins.parseDrvName of Nix 2.8.
	tests := []struct{ in, name, version string }{
		{"python3.12-requests-2.32.3", "python3.12-requests", "2.32.3"},
		{"glibc-2.40-66", "glibc", "2.40-66"},
		{"hello", "hello", ""},
		{"foo-bar-1.0-unstable", "foo-bar", "1.0-unstable"},
		{"perl5.38.2-URI-5.21", "perl5.38.2-URI", "5.21"},
		{"a-B-1", "a-B", "1"},
		{"nix-2.28.3pre", "nix", "2.28.3pre"},
		{"unstable-2024-01-01", "unstable", "2024-01-01"},
		{"foo-", "foo-", ""},
		{"foo--bar", "foo", "-bar"},
		{"a-_b", "a", "_b"},
		{"-1", "", "1"},
		{"x-ä", "x", "ä"},
		{"", "", ""},
	}
	for _, tt := range tests {
		name, version := ParseDrvName(tt.in)
		if name != tt.name || version != tt.version {
			t.Errorf("ParseDrvName(%q) = %q, %q; want %q, %q", tt.in, name, version, tt.name, tt.version)
		}
	}
}

// TestDocumentIsDeterministic shuffles every list of the input (and the store paths'
// references and the licenses) and wants the same bytes.
func TestDocumentIsDeterministic(t *testing.T) {
	want, _ := mustDocument(t, sampleInput())
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		in := sampleInput()
		rng.Shuffle(len(in.Closure), func(i, j int) { in.Closure[i], in.Closure[j] = in.Closure[j], in.Closure[i] })
		for _, sp := range in.Closure {
			rng.Shuffle(len(sp.References), func(i, j int) { sp.References[i], sp.References[j] = sp.References[j], sp.References[i] })
		}
		rng.Shuffle(len(in.Derivations), func(i, j int) { in.Derivations[i], in.Derivations[j] = in.Derivations[j], in.Derivations[i] })
		for _, d := range in.Derivations {
			rng.Shuffle(len(d.Licenses), func(i, j int) { d.Licenses[i], d.Licenses[j] = d.Licenses[j], d.Licenses[i] })
		}
		rng.Shuffle(len(in.Requested), func(i, j int) { in.Requested[i], in.Requested[j] = in.Requested[j], in.Requested[i] })
		rng.Shuffle(len(in.Files), func(i, j int) { in.Files[i], in.Files[j] = in.Files[j], in.Files[i] })
		// A path listed twice is one package.
		in.Closure = append(in.Closure, in.Closure[0])
		got, _ := mustDocument(t, in)
		if !bytes.Equal(got, want) {
			t.Fatalf("a shuffled input gave a different document:\n%s\nwant\n%s", got, want)
		}
	}
}

func TestDocumentHeader(t *testing.T) {
	in := sampleInput()
	in.Created = time.Date(2025, 3, 4, 5, 6, 7, 8, time.FixedZone("CET", 3600))
	_, d := mustDocument(t, in)
	if d.SPDXVersion != "SPDX-2.3" {
		t.Errorf("spdxVersion %q", d.SPDXVersion)
	}
	if d.CreationInfo.Created != "2025-03-04T04:06:07Z" {
		t.Errorf("created %q, want the input's time in UTC to the second", d.CreationInfo.Created)
	}
	if !slices.Equal(d.CreationInfo.Creators, []string{"Tool: laingfile-frontend-v1.4.0"}) {
		t.Errorf("creators %q", d.CreationInfo.Creators)
	}
	if !strings.HasPrefix(d.DocumentNamespace, Namespace+"devcontainer-linux-amd64-") || len(d.DocumentNamespace) != len(Namespace+"devcontainer-linux-amd64-")+64 {
		t.Errorf("documentNamespace %q", d.DocumentNamespace)
	}

	// The namespace follows the content.
	other := sampleInput()
	other.Files = other.Files[1:]
	_, o := mustDocument(t, other)
	if o.DocumentNamespace == d.DocumentNamespace {
		t.Errorf("two documents with different files share the namespace %s", d.DocumentNamespace)
	}
	noVersion := sampleInput()
	noVersion.ToolVersion = ""
	_, n := mustDocument(t, noVersion)
	if !slices.Equal(n.CreationInfo.Creators, []string{"Tool: laingfile-frontend"}) {
		t.Errorf("creators without a version %q", n.CreationInfo.Creators)
	}
}

// TestDocumentPackages checks each store path's package, field by field.
func TestDocumentPackages(t *testing.T) {
	in := sampleInput()
	_, d := mustDocument(t, in)

	type want struct {
		name, version, license, purl, homepage string
		commentHas                             []string
	}
	wants := map[string]want{
		pathGlibc: {"glibc", "2.40-66", "GPL-2.0-or-later AND LGPL-2.1-or-later",
			"pkg:nix/glibc@2.40-66?outputhash=" + hashPart(pathGlibc), "https://www.gnu.org/software/libc/",
			[]string{"nar-size: 31457280"}},
		pathGlibcBin: {"glibc", "2.40-66", "GPL-2.0-or-later AND LGPL-2.1-or-later",
			"pkg:nix/glibc@2.40-66?output=bin&outputhash=" + hashPart(pathGlibcBin), "https://www.gnu.org/software/libc/",
			[]string{"nar-size: 1048576"}},
		pathPython: {"python3", "3.12.10", "Python-2.0",
			"pkg:nix/python3@3.12.10?outputhash=" + hashPart(pathPython), "https://www.python.org",
			[]string{"requested: python3 (set python)\nrequested: python3 (set pythonDev)\nnar-size: 125829120"}},
		pathRequests: {"python3.12-requests", "2.32.3", "Apache-2.0",
			"pkg:nix/python3.12-requests@2.32.3?outputhash=" + hashPart(pathRequests), "https://requests.readthedocs.io",
			[]string{"requested: python3Packages.requests (set pythonDev)"}},
		pathUnfree: {"unfree-tool", "1.0", "LicenseRef-unfree",
			"pkg:nix/unfree-tool@1.0?outputhash=" + hashPart(pathUnfree), "",
			[]string{"requested: unfree-tool (packages:)"}},
		pathApp: {"app", "", noAssertion,
			"pkg:nix/app?outputhash=" + hashPart(pathApp), "",
			[]string{"requested: ./nix/app.nix (packages:)"}},
		pathProfile: {"laingfile-profile", "", noAssertion,
			"pkg:nix/laingfile-profile?outputhash=" + hashPart(pathProfile), "",
			[]string{"nar-size: 8192"}},
	}
	if len(d.Packages) != len(in.Closure)+1 {
		t.Fatalf("%d packages, want one per store path (%d) and the image", len(d.Packages), len(in.Closure))
	}
	root := d.Packages[0]
	if root.Name != "devcontainer" || root.Purpose != "CONTAINER" || root.SPDXID != "SPDXRef-Image-devcontainer" ||
		root.Comment != "platform: linux/amd64\nnixpkgs: "+in.Nixpkgs {
		t.Errorf("the image's package: %+v", root)
	}
	seen := map[string]bool{}
	for _, p := range d.Packages[1:] {
		w, ok := wants[p.PackageFileName]
		if !ok {
			t.Errorf("package %s (%s) is not a store path of the closure", p.Name, p.PackageFileName)
			continue
		}
		seen[p.PackageFileName] = true
		if p.Name != w.name || p.VersionInfo != w.version {
			t.Errorf("%s: name %q version %q, want %q %q", p.PackageFileName, p.Name, p.VersionInfo, w.name, w.version)
		}
		if p.LicenseDeclared != w.license || p.LicenseConcluded != w.license {
			t.Errorf("%s: licenses declared %q concluded %q, want %q", p.Name, p.LicenseDeclared, p.LicenseConcluded, w.license)
		}
		if len(p.ExternalRefs) != 1 || p.ExternalRefs[0].Type != "purl" || p.ExternalRefs[0].Category != "PACKAGE-MANAGER" || p.ExternalRefs[0].Locator != w.purl {
			t.Errorf("%s: externalRefs %+v, want the purl %s", p.Name, p.ExternalRefs, w.purl)
		}
		if p.Homepage != w.homepage {
			t.Errorf("%s: homepage %q, want %q", p.Name, p.Homepage, w.homepage)
		}
		for _, c := range w.commentHas {
			if !strings.Contains(p.Comment, c) {
				t.Errorf("%s: comment %q lacks %q", p.Name, p.Comment, c)
			}
		}
		if want := "SPDXRef-Nix-" + hashPart(p.PackageFileName) + "-"; !strings.HasPrefix(p.SPDXID, want) {
			t.Errorf("%s: SPDXID %q, want it to start with %s", p.Name, p.SPDXID, want)
		}
		sum, _ := nar.ParseSHA256(narHashOf(in, p.PackageFileName))
		if len(p.Checksums) != 1 || p.Checksums[0].Algorithm != "SHA256" || p.Checksums[0].Value != strings.ToLower(hexOf(sum[:])) {
			t.Errorf("%s: checksums %+v, want the NAR hash in hex", p.Name, p.Checksums)
		}
	}
	if len(seen) != len(wants) {
		t.Errorf("packages for %d store paths, want %d", len(seen), len(wants))
	}
	if len(d.Extracted) != 1 || d.Extracted[0].ID != "LicenseRef-unfree" || d.Extracted[0].Name != "Unfree" || d.Extracted[0].Text != noAssertion {
		t.Errorf("hasExtractedLicensingInfos %+v, want LicenseRef-unfree only", d.Extracted)
	}
}

func narHashOf(in Input, p string) string {
	for _, sp := range in.Closure {
		if sp.Path == p {
			return sp.NarHash
		}
	}
	return ""
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	var s strings.Builder
	for _, c := range b {
		s.WriteByte(digits[c>>4])
		s.WriteByte(digits[c&15])
	}
	return s.String()
}

func TestDocumentRelationships(t *testing.T) {
	in := sampleInput()
	_, d := mustDocument(t, in)
	idOf := map[string]string{}
	for _, p := range d.Packages[1:] {
		idOf[p.PackageFileName] = p.SPDXID
	}
	root := d.Packages[0].SPDXID

	var got []string
	for _, r := range d.Relationships {
		got = append(got, r.Element+" "+r.Type+" "+r.Related)
	}
	want := []string{"SPDXRef-DOCUMENT DESCRIBES " + root}
	for _, sp := range in.Closure {
		want = append(want, root+" CONTAINS "+idOf[sp.Path])
		for _, ref := range sp.References {
			if ref != sp.Path {
				want = append(want, idOf[sp.Path]+" DEPENDS_ON "+idOf[ref])
			}
		}
	}
	for _, f := range d.Files {
		want = append(want, root+" CONTAINS "+f.SPDXID)
	}
	if len(d.Files) != len(in.Files) {
		t.Errorf("%d files, want %d", len(d.Files), len(in.Files))
	}
	if got[0] != want[0] {
		t.Errorf("first relationship %q, want %q", got[0], want[0])
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("relationships:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDocumentFiles(t *testing.T) {
	_, d := mustDocument(t, sampleInput())
	var got []string
	for _, f := range d.Files {
		var sums []string
		for _, c := range f.Checksums {
			sums = append(sums, c.Algorithm+":"+c.Value[:4])
		}
		var notes []string
		for _, a := range f.Annotations {
			notes = append(notes, a.Date+" "+a.Type+" "+a.Annotator+" "+a.Comment)
		}
		got = append(got, f.FileName+" "+strings.Join(sums, ",")+" "+strings.Join(notes, ","))
		// BuildKit writes the file's layer as its comment when it has none.
		if f.Comment != "" {
			t.Errorf("%s: comment %q, want none", f.FileName, f.Comment)
		}
		if !strings.HasPrefix(f.SPDXID, "SPDXRef-File-") || sanitizeID(f.SPDXID) != f.SPDXID {
			t.Errorf("%s: SPDXID %q", f.FileName, f.SPDXID)
		}
	}
	want := []string{
		"./app/app/__main__.py SHA1:cccc,SHA256:dddd 1970-01-01T00:00:01Z OTHER Tool: laingfile-frontend-v1.4.0 origin: copy: app/",
		"./etc/passwd SHA1:aaaa,SHA256:bbbb 1970-01-01T00:00:01Z OTHER Tool: laingfile-frontend-v1.4.0 origin: customisation",
		"./usr/bin/env SHA1:0000 1970-01-01T00:00:01Z OTHER Tool: laingfile-frontend-v1.4.0 origin: customisation",
	}
	if !slices.Equal(got, want) {
		t.Errorf("files:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLicenseExpression(t *testing.T) {
	refs, _ := licenseRefs([]nixsets.PackageMeta{{Licenses: []nixsets.PackageLicense{
		{ShortName: "unfree", FullName: "Unfree"},
		{SPDXID: "LicenseRef-scancode-public-domain", ShortName: "publicDomain"},
		{SPDXID: "not an id", ShortName: "odd license"},
		{ShortName: "unfree", FullName: "Unfree redistributable"},
	}}})
	tests := []struct {
		name     string
		licenses []nixsets.PackageLicense
		want     string
	}{
		{"none", nil, "NOASSERTION"},
		{"empty entries", []nixsets.PackageLicense{{}}, "NOASSERTION"},
		{"one", []nixsets.PackageLicense{{SPDXID: "MIT"}}, "MIT"},
		{"sorted and joined with AND", []nixsets.PackageLicense{{SPDXID: "MIT"}, {SPDXID: "Apache-2.0"}}, "Apache-2.0 AND MIT"},
		{"duplicates once", []nixsets.PackageLicense{{SPDXID: "MIT"}, {SPDXID: "MIT", ShortName: "mit"}}, "MIT"},
		{"an or-later plus", []nixsets.PackageLicense{{SPDXID: "GPL-2.0+"}}, "GPL-2.0+"},
		{"an exception", []nixsets.PackageLicense{{SPDXID: "GPL-2.0-only WITH Classpath-exception-2.0"}, {SPDXID: "MIT"}}, "GPL-2.0-only WITH Classpath-exception-2.0 AND MIT"},
		{"no SPDX id", []nixsets.PackageLicense{{ShortName: "unfree", FullName: "Unfree"}, {SPDXID: "MIT"}}, "LicenseRef-unfree AND MIT"},
		{"a LicenseRef id kept", []nixsets.PackageLicense{{SPDXID: "LicenseRef-scancode-public-domain", ShortName: "publicDomain"}}, "LicenseRef-scancode-public-domain"},
		{"an invalid id becomes a ref", []nixsets.PackageLicense{{SPDXID: "not an id", ShortName: "odd license"}}, "LicenseRef-odd-license"},
		{"two licenses with one short name are told apart", []nixsets.PackageLicense{{ShortName: "unfree", FullName: "Unfree"}, {ShortName: "unfree", FullName: "Unfree redistributable"}}, "LicenseRef-unfree AND LicenseRef-unfree-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := licenseExpression(tt.licenses, refs); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSanitizeID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"python3-3.12.10", "python3-3.12.10"},
		{"gtk+3-3.24.43", "gtk-3-3.24.43"},
		{"app/app/__main__.py", "app-app---main--.py"},
		{"x_y=z?", "x-y-z-"},
		{"ünïcode", "--n--code"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := sanitizeID(tt.in); got != tt.want {
			t.Errorf("sanitizeID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestDocumentNames covers store paths named from the path rather than a derivation's name,
// and names that a purl escapes.
func TestDocumentNames(t *testing.T) {
	gtk := storePath("gtk+3-3.24.43")
	devOnly := storePath("zlib-1.3.1-dev")
	bare := storePath("source")
	in := Input{
		Name: "runtime", Created: time.Unix(1, 0),
		Closure: []nixstore.StorePath{{Path: gtk}, {Path: devOnly}, {Path: bare}},
		Derivations: []nixsets.PackageMeta{
			{Name: "gtk+3-3.24.43", Outputs: map[string]string{"out": gtk}},
			// No name: the store path's, without the output.
			{Outputs: map[string]string{"dev": devOnly}},
		},
	}
	_, d := mustDocument(t, in)
	got := map[string]string{}
	for _, p := range d.Packages[1:] {
		got[p.PackageFileName] = p.Name + "|" + p.VersionInfo + "|" + p.ExternalRefs[0].Locator
	}
	want := map[string]string{
		gtk:     "gtk+3|3.24.43|pkg:nix/gtk%2B3@3.24.43?outputhash=" + hashPart(gtk),
		devOnly: "zlib|1.3.1|pkg:nix/zlib@1.3.1?output=dev&outputhash=" + hashPart(devOnly),
		bare:    "source||pkg:nix/source?outputhash=" + hashPart(bare),
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s: %q, want %q", p, got[p], w)
		}
	}
	if d.Packages[0].Comment != "" {
		t.Errorf("an image without platform or nixpkgs has the comment %q", d.Packages[0].Comment)
	}
}

func TestDocumentErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Input)
		want   string
	}{
		{"no name", func(in *Input) { in.Name = "" }, "no name"},
		{"no time", func(in *Input) { in.Created = time.Time{} }, "no created time"},
		{"not a store path", func(in *Input) { in.Closure[0].Path = "/usr/lib/x" }, `"/usr/lib/x" is not a Nix store path`},
		{"a short hash", func(in *Input) { in.Closure[0].Path = "/nix/store/abc-x" }, "is not a Nix store path"},
		{"a bad NAR hash", func(in *Input) { in.Closure[0].NarHash = "md5-xyz" }, `NAR hash "md5-xyz" is not a SHA-256`},
		{"a path twice, differently", func(in *Input) {
			dup := in.Closure[0]
			dup.NarSize++
			in.Closure = append(in.Closure, dup)
		}, "lists " + pathGlibc + " twice"},
		{"a relative file", func(in *Input) { in.Files[0].Path = "etc/passwd" }, "want an absolute path"},
		{"a bad SHA1", func(in *Input) { in.Files[0].SHA1 = "xyz" }, "is not 40 hex digits"},
		{"a bad SHA256", func(in *Input) { in.Files[0].SHA256 = "abc" }, "is not 64 hex digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := sampleInput()
			tt.change(&in)
			_, err := Document(in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestParseReadsDocument(t *testing.T) {
	in := sampleInput()
	data, _ := mustDocument(t, in)
	s, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "devcontainer" || s.Platform != "linux/amd64" || s.Nixpkgs != in.Nixpkgs {
		t.Errorf("summary %q %q %q", s.Name, s.Platform, s.Nixpkgs)
	}
	var got []string
	for _, p := range s.Packages {
		var req []string
		for _, r := range p.Requested {
			req = append(req, r.Set+":"+r.Attr)
		}
		got = append(got, strings.Join([]string{p.Name, p.Version, p.License, strings.Join(req, ","), filepath.Base(p.StorePath)[33:], itoa(p.NARSize)}, "|"))
		if !strings.HasPrefix(p.PURL, "pkg:nix/") {
			t.Errorf("%s: purl %q", p.Name, p.PURL)
		}
	}
	want := []string{
		"app|||:./nix/app.nix|app|2048",
		"glibc|2.40-66|GPL-2.0-or-later AND LGPL-2.1-or-later||glibc-2.40-66|31457280",
		"glibc|2.40-66|GPL-2.0-or-later AND LGPL-2.1-or-later||glibc-2.40-66-bin|1048576",
		"laingfile-profile||||laingfile-profile|8192",
		"python3|3.12.10|Python-2.0|python:python3,pythonDev:python3|python3-3.12.10|125829120",
		"python3.12-requests|2.32.3|Apache-2.0|pythonDev:python3Packages.requests|python3.12-requests-2.32.3|512000",
		"unfree-tool|1.0|LicenseRef-unfree|:unfree-tool|unfree-tool-1.0|4096",
	}
	if !slices.Equal(got, want) {
		t.Errorf("rows:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var files []string
	for _, f := range s.Files {
		files = append(files, f.Path+" "+f.Origin+" "+f.SHA256)
	}
	wantFiles := []string{
		"/app/app/__main__.py copy: app/ " + strings.Repeat("d", 64),
		"/etc/passwd customisation " + strings.Repeat("b", 64),
		"/usr/bin/env customisation ",
	}
	if !slices.Equal(files, wantFiles) {
		t.Errorf("files:\n%s\nwant\n%s", strings.Join(files, "\n"), strings.Join(wantFiles, "\n"))
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// syftDocument is an SPDX 2.3 document of the shape Syft writes (as BuildKit's SBOM scanner
// runs it) for an image with one Debian package.
const syftDocument = `{
 "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
 "name": "/run/src/core/sbom", "documentNamespace": "https://anchore.com/syft/dir/run/src/core/sbom-1",
 "creationInfo": {"licenseListVersion": "3.25", "creators": ["Organization: Anchore, Inc", "Tool: syft-v1.20.0"], "created": "2025-01-01T00:00:00Z"},
 "packages": [
  {"name": "zlib1g", "SPDXID": "SPDXRef-Package-deb-zlib1g-1", "versionInfo": "1:1.2.13.dfsg-1", "supplier": "Person: Mark Brown",
   "downloadLocation": "NOASSERTION", "filesAnalyzed": false, "sourceInfo": "acquired package info from DPKG DB",
   "licenseConcluded": "NOASSERTION", "licenseDeclared": "Zlib", "copyrightText": "NOASSERTION",
   "externalRefs": [{"referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": "cpe:2.3:a:zlib1g:zlib1g:1:1.2.13.dfsg-1:*:*:*:*:*:*:*"},
                    {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64"}]},
  {"name": "/run/src/core/sbom", "SPDXID": "SPDXRef-DocumentRoot-Directory--run-src-core-sbom", "downloadLocation": "NOASSERTION",
   "filesAnalyzed": false, "licenseConcluded": "NOASSERTION", "licenseDeclared": "NOASSERTION", "copyrightText": "NOASSERTION", "primaryPackagePurpose": "FILE"}
 ],
 "files": [{"fileName": "/var/lib/dpkg/status.d/zlib1g", "SPDXID": "SPDXRef-File-x", "checksums": [{"algorithm": "SHA1", "checksumValue": "0000000000000000000000000000000000000000"}], "comment": "layerID: sha256:abc"}],
 "relationships": [
  {"spdxElementId": "SPDXRef-DocumentRoot-Directory--run-src-core-sbom", "relatedSpdxElement": "SPDXRef-Package-deb-zlib1g-1", "relationshipType": "CONTAINS"},
  {"spdxElementId": "SPDXRef-DOCUMENT", "relatedSpdxElement": "SPDXRef-DocumentRoot-Directory--run-src-core-sbom", "relationshipType": "DESCRIBES"}
 ]
}`

func TestParseOtherDocuments(t *testing.T) {
	s, err := Parse([]byte(syftDocument))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "/run/src/core/sbom" || len(s.Packages) != 1 || len(s.Files) != 1 {
		t.Fatalf("summary %+v", s)
	}
	p := s.Packages[0]
	if p.Name != "zlib1g" || p.Version != "1:1.2.13.dfsg-1" || p.License != "Zlib" || p.StorePath != "" || p.PURL != "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64" {
		t.Errorf("row %+v", p)
	}
	if s.Files[0].Path != "/var/lib/dpkg/status.d/zlib1g" || s.Files[0].Origin != "" {
		t.Errorf("file %+v", s.Files[0])
	}

	for _, tt := range []struct{ in, want string }{
		{"", "not an SPDX JSON document"},
		{"[]", "not an SPDX JSON document"},
		{`{"bomFormat": "CycloneDX"}`, `spdxVersion is ""`},
		{`{"spdxVersion": "SPDX-3.0"}`, `spdxVersion is "SPDX-3.0"`},
		{`{"spdxVersion": "SPDX-2.3", "packages": {}}`, "not an SPDX JSON document"},
	} {
		if _, err := Parse([]byte(tt.in)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q): error %v, want one containing %q", tt.in, err, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	data, err := Document(sampleInput())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(syftDocument))
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","packages":[null,{"comment":"requested:  (set )\nrequested: x (set y)\nnar-size: -1"}],"files":[{"fileName":""}],"relationships":[{"spdxElementId":"SPDXRef-DOCUMENT","relationshipType":"DESCRIBES"}]}`))
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","documentDescribes":["a","b"],"packages":[{"SPDXID":"a","packageFileName":"/nix/store/"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err == nil && s == nil {
			t.Fatal("no summary and no error")
		}
	})
}

// TestSyftReadsDocument converts a document with Syft (installed by hack/tools.sh), which is
// how Grype reads an SBOM, and checks what it makes of the packages. Under -short it is
// skipped when Syft is not installed.
func TestSyftReadsDocument(t *testing.T) {
	bin, err := exec.LookPath("syft")
	if err != nil {
		if testing.Short() {
			t.Skip("syft is not installed (hack/tools.sh installs it)")
		}
		t.Fatalf("syft is not on PATH (%v): run hack/tools.sh", err)
	}
	data, _ := mustDocument(t, sampleInput())
	file := filepath.Join(t.TempDir(), "sbom.spdx.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "convert", file, "-o", "syft-json", "-q")
	cmd.Env = append(os.Environ(), "SYFT_CHECK_FOR_APP_UPDATE=false")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("syft convert: %v\n%s", err, out)
	}
	var converted struct {
		Artifacts []struct {
			Name     string `json:"name"`
			Version  string `json:"version"`
			Type     string `json:"type"`
			PURL     string `json:"purl"`
			Licenses []struct {
				Value string `json:"value"`
			} `json:"licenses"`
		} `json:"artifacts"`
		Source struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"source"`
	}
	if err := json.Unmarshal(out, &converted); err != nil {
		t.Fatalf("syft's output: %v\n%s", err, out)
	}
	if converted.Source.Name != "devcontainer" || converted.Source.Type != "image" {
		t.Errorf("syft reads the source as %+v, want the image devcontainer", converted.Source)
	}
	in := sampleInput()
	if len(converted.Artifacts) != len(in.Closure) {
		t.Errorf("syft reads %d packages, want one per store path (%d)", len(converted.Artifacts), len(in.Closure))
	}
	for _, a := range converted.Artifacts {
		if a.Type != "nix" || !strings.HasPrefix(a.PURL, "pkg:nix/"+a.Name) {
			t.Errorf("syft reads %s as type %q purl %q, want a nix package", a.Name, a.Type, a.PURL)
		}
		if a.Name == "python3" && (a.Version != "3.12.10" || len(a.Licenses) == 0 || a.Licenses[0].Value != "Python-2.0") {
			t.Errorf("syft reads python3 as %+v", a)
		}
	}
}

// FuzzDocument varies the free-form parts of the input (names, licenses, homepages, file
// paths) and wants either an error or a document that Parse reads back whole.
func FuzzDocument(f *testing.F) {
	f.Add("python3-3.12.10", "python3.12-requests-2.32.3", "MIT", "unfree", "https://example.org", "/etc/passwd", "python")
	f.Add("gtk+3-3.24", "", "GPL-2.0-only WITH Classpath-exception-2.0", "", "", "/a b/ü", "")
	f.Add("x", "-", "LicenseRef-x", "LicenseRef-x", "ftp://x", "/", "set (set x)")
	f.Fuzz(func(t *testing.T, storeName, drvName, spdxID, shortName, homepage, filePath, set string) {
		p := nar.StoreDir + "/" + strings.Repeat("0", 32) + "-" + storeName
		in := Input{
			Name: "image", Platform: "linux/amd64", Created: time.Unix(1, 0),
			Closure:     []nixstore.StorePath{{Path: p, References: []string{p}}},
			Derivations: []nixsets.PackageMeta{{Name: drvName, Outputs: map[string]string{"out": p}, Homepage: homepage, Licenses: []nixsets.PackageLicense{{SPDXID: spdxID, ShortName: shortName}}}},
			Requested:   []Requested{{Attr: drvName, Set: set, Paths: []string{p}}},
			Files:       []File{{Path: filePath}},
		}
		data, err := Document(in)
		if err != nil {
			return
		}
		s, err := Parse(data)
		if err != nil {
			t.Fatalf("Parse of a document: %v", err)
		}
		if len(s.Packages) != 1 || len(s.Files) != 1 {
			t.Fatalf("%d packages and %d files, want 1 and 1", len(s.Packages), len(s.Files))
		}
	})
}
