// Command sbomscanner is an SBOM generator for BuildKit's SBOM attestations (the scanner
// protocol of `--attest type=sbom,generator=IMAGE`): BuildKit mounts the image it built at
// $BUILDKIT_SCAN_SOURCE and takes in-toto statements from $BUILDKIT_SCAN_DESTINATION. It lists
// the Go modules and the Go standard library compiled into every Go binary of the image, from
// the build information Go embeds, as an SPDX 2.3 document: the same packages syft's Go binary
// cataloger reports for the frontend image, a static Go binary on scratch.
//
// hack/release.sh uses it where BuildKit's default generator image cannot be pulled (offline);
// hack/frontendimage -sbom-scanner builds its image.
package main

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"
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
	if err := run(os.Getenv(envSource), os.Getenv(envDestination), time.Now().UTC()); err != nil {
		fmt.Fprintln(os.Stderr, tool+":", err)
		os.Exit(1)
	}
}

func run(source, destination string, now time.Time) error {
	if source == "" || destination == "" {
		return fmt.Errorf("%s and %s must be set: this program runs as BuildKit's SBOM generator (--attest type=sbom,generator=IMAGE)", envSource, envDestination)
	}
	binaries, err := goBinaries(source)
	if err != nil {
		return err
	}
	doc := spdxDocument(binaries, now)
	data, err := json.MarshalIndent(statement{
		Type:          "https://in-toto.io/Statement/v0.1",
		PredicateType: "https://spdx.dev/Document",
		Subject:       []any{}, // BuildKit fills in the image
		Predicate:     doc,
	}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(destination, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(destination, coreFile), data, 0o644)
}

// goBinary is a Go program found in the image and what it was built from.
type goBinary struct {
	Path string // in the image, absolute
	Info *buildinfo.BuildInfo
}

// goBinaries finds the Go programs under root: regular executable files with Go build
// information, in path order.
func goBinaries(root string) ([]goBinary, error) {
	var out []goBinary
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil || fi.Mode().Perm()&0o111 == 0 {
			return err
		}
		info, err := buildinfo.ReadFile(p)
		if err != nil {
			return nil // not a Go program
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		out = append(out, goBinary{Path: "/" + filepath.ToSlash(rel), Info: info})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the image at %s: %w", root, err)
	}
	return out, nil
}

type statement struct {
	Type          string `json:"_type"`
	PredicateType string `json:"predicateType"`
	Subject       []any  `json:"subject"`
	Predicate     any    `json:"predicate"`
}

// The parts of SPDX 2.3's JSON form this document uses.
type (
	document struct {
		SPDXVersion       string         `json:"spdxVersion"`
		DataLicense       string         `json:"dataLicense"`
		SPDXID            string         `json:"SPDXID"`
		Name              string         `json:"name"`
		DocumentNamespace string         `json:"documentNamespace"`
		CreationInfo      creationInfo   `json:"creationInfo"`
		Packages          []pkg          `json:"packages"`
		Relationships     []relationship `json:"relationships"`
	}
	creationInfo struct {
		Created  string   `json:"created"`
		Creators []string `json:"creators"`
	}
	pkg struct {
		Name             string        `json:"name"`
		SPDXID           string        `json:"SPDXID"`
		VersionInfo      string        `json:"versionInfo"`
		DownloadLocation string        `json:"downloadLocation"`
		FilesAnalyzed    bool          `json:"filesAnalyzed"`
		SourceInfo       string        `json:"sourceInfo"`
		ExternalRefs     []externalRef `json:"externalRefs"`
	}
	externalRef struct {
		Category string `json:"referenceCategory"`
		Type     string `json:"referenceType"`
		Locator  string `json:"referenceLocator"`
	}
	relationship struct {
		Element string `json:"spdxElementId"`
		Type    string `json:"relationshipType"`
		Related string `json:"relatedSpdxElement"`
	}
)

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// spdxDocument lists, for each binary, its main module, the modules it was built with (a
// replacement as the module it replaced with, which is what was compiled) and the Go standard
// library of its Go version.
func spdxDocument(binaries []goBinary, now time.Time) document {
	doc := document{
		SPDXVersion: "SPDX-2.3",
		DataLicense: "CC0-1.0",
		SPDXID:      "SPDXRef-DOCUMENT",
		Name:        "sbom",
		CreationInfo: creationInfo{
			Created:  now.Format(time.RFC3339),
			Creators: []string{"Tool: " + tool},
		},
		Packages:      []pkg{},
		Relationships: []relationship{},
	}
	seen := map[string]bool{}
	add := func(bin goBinary, name, version string) {
		id := "SPDXRef-Package-golang-" + unsafeID.ReplaceAllString(name+"-"+version, "-")
		if !seen[id] {
			seen[id] = true
			doc.Packages = append(doc.Packages, pkg{
				Name:             name,
				SPDXID:           id,
				VersionInfo:      version,
				DownloadLocation: "NOASSERTION",
				SourceInfo:       "Go build information of " + bin.Path,
				ExternalRefs: []externalRef{{
					Category: "PACKAGE-MANAGER",
					Type:     "purl",
					Locator:  "pkg:golang/" + name + "@" + version,
				}},
			})
			doc.Relationships = append(doc.Relationships, relationship{Element: "SPDXRef-DOCUMENT", Type: "DESCRIBES", Related: id})
		}
	}
	for _, bin := range binaries {
		add(bin, bin.Info.Main.Path, bin.Info.Main.Version)
		for _, dep := range bin.Info.Deps {
			if dep.Replace != nil {
				dep = dep.Replace
			}
			add(bin, dep.Path, dep.Version)
		}
		// go1.26.8 → 1.26.8, as vulnerability databases name the standard library's versions.
		add(bin, "stdlib", strings.TrimPrefix(strings.Fields(bin.Info.GoVersion + " ")[0], "go"))
	}
	// A namespace unique to the contents, as SPDX asks for.
	sum, _ := json.Marshal(doc.Packages)
	h := sha256.Sum256(sum)
	doc.DocumentNamespace = "https://github.com/laingville/laingfile/sbom/" + path.Join(tool, hex.EncodeToString(h[:]))
	return doc
}
