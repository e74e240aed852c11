package nixsets

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
)

//go:embed build.nix
var buildExpression []byte

//go:embed build.sh
var buildScript string

//go:embed push.sh
var pushScript string

//go:embed layer.sh
var layerScript string

//go:embed nixopts.sh
var nixOptionsScript string

//go:embed meta.sh
var metaScript string

// BuildExpression is the Nix file the build step evaluates (see Request for its input).
func BuildExpression() []byte { return buildExpression }

// BuildScript is the POSIX shell script the build step runs in the Nix builder.
func BuildScript() string { return buildScript }

// LayerScript is the POSIX shell script each layer step runs in the Nix builder.
func LayerScript() string { return layerScript }

// MetaScript is the POSIX shell script the SBOM step runs in the Nix builder.
func MetaScript() string { return metaScript }

// PushScript is the POSIX shell script the push step runs in the Nix builder.
func PushScript() string { return pushScript }

// NixOptionsScript is sourced by both scripts, as nixopts.sh next to them: Nix's settings.
func NixOptionsScript() string { return nixOptionsScript }

// Request is the input of the build expression, written to request.json.
type Request struct {
	System  string         `json:"system"`
	Nixpkgs NixpkgsSource  `json:"nixpkgs"`
	Config  map[string]any `json:"config"`
	// Overlays are paths of overlay files inside the build step, applied in order.
	Overlays []string         `json:"overlays"`
	Packages []RequestPackage `json:"packages"`
	// Exclude lists requested attributes realised but kept out of the profile (the
	// devcontainer's sudo, which is installed setuid outside the store instead).
	Exclude []string `json:"exclude"`
	// Info lists attributes whose store paths the image configuration needs (the shell for
	// /etc/passwd, the CA bundle); they are evaluated, not realised.
	Info []string `json:"info"`
}

// NixpkgsSource is a directory inside the build step, or a tarball URL with its NAR hash.
type NixpkgsSource struct {
	Path   string `json:"path,omitempty"`
	URL    string `json:"url,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// RequestPackage is an attribute path of nixpkgs or a callPackage-style file.
type RequestPackage struct {
	Attr string `json:"attr,omitempty"`
	File string `json:"file,omitempty"`
}

// PackageMeta is what the build expression's packageMeta says of one derivation the image's
// store paths come from (the SBOM step writes a list of them to package-meta.json).
type PackageMeta struct {
	// Name is the derivation name ("python3-3.12.10"); PName and Version may be empty.
	Name    string `json:"name"`
	PName   string `json:"pname"`
	Version string `json:"version"`
	// Outputs maps output names to store paths.
	Outputs     map[string]string `json:"outputs"`
	Licenses    []PackageLicense  `json:"licenses"`
	Homepage    string            `json:"homepage"`
	Description string            `json:"description"`
}

// PackageLicense is one license of meta.license: a nixpkgs license (SPDX id, short and full
// names, any of which may be missing) or, in old packages, a bare string as ShortName.
type PackageLicense struct {
	SPDXID    string `json:"spdxId"`
	ShortName string `json:"shortName"`
	FullName  string `json:"fullName"`
}

// Report is what the build expression says about a request before anything is realised.
type Report struct {
	Problems []Problem `json:"problems"`
	// Profile is the store path of the profile; Roots are the store paths whose closure is
	// the image (the profile and the outputs of the excluded packages).
	Profile  string   `json:"profile"`
	Roots    []string `json:"roots"`
	Packages []struct {
		Attr  string   `json:"attr"`
		Paths []string `json:"paths"`
	} `json:"packages"`
	// Info maps each Request.Info attribute to its output paths (empty when it does not exist).
	Info map[string][]string `json:"info"`
	// HashMismatch is set, and nothing else, when a source fetched during evaluation did not
	// have the NAR hash it was given: the nixpkgs pin when URL is its URL.
	HashMismatch *HashMismatch `json:"hashMismatch,omitempty"`
}

// HashMismatch is Nix's "hash mismatch in file downloaded from" error: the URL, the hash the
// build gave and the hash of what was downloaded, as Nix prints them ("sha256:<base-32>" or SRI).
type HashMismatch struct {
	URL       string `json:"url"`
	Specified string `json:"specified"`
	Got       string `json:"got"`
}

// The kinds of Problem.
const (
	ProblemMissing     = "missing"     // no such attribute
	ProblemNotPackage  = "notPackage"  // an attribute set, not a derivation
	ProblemThrows      = "throws"      // evaluating it fails (an alias that was removed, …)
	ProblemUnfree      = "unfree"      // an unfree license and allowUnfree is not set
	ProblemBroken      = "broken"      // meta.broken
	ProblemUnsupported = "unsupported" // meta.platforms does not include the system
	ProblemInsecure    = "insecure"    // meta.knownVulnerabilities
)

// Problem is a requested package that cannot be used. Prefix, Name and Candidates say where a
// lookup stopped (the names that exist there); Details are the licenses (unfree), the
// supported platforms (unsupported) or the package name and its vulnerabilities (insecure).
type Problem struct {
	Problem    string   `json:"problem"`
	Attr       string   `json:"attr"`
	Prefix     []string `json:"prefix"`
	Name       string   `json:"name"`
	Candidates []string `json:"candidates"`
	System     string   `json:"system,omitempty"`
	Details    []string `json:"details,omitempty"`
	// ID names the file with Nix's own message about the problem (ProblemLog), for every kind
	// but missing and notPackage.
	ID string `json:"id"`
}

// ProblemLog is where the build step leaves Nix's message about a problem, relative to its
// report directory.
func ProblemLog(p Problem) string { return "problems/" + p.ID + ".log" }

// platformSystems maps OCI platforms to Nix system names.
func platformSystems() map[string]string {
	return map[string]string{
		"linux/amd64":   "x86_64-linux",
		"linux/arm64":   "aarch64-linux",
		"linux/386":     "i686-linux",
		"linux/arm/v7":  "armv7l-linux",
		"linux/arm/v6":  "armv6l-linux",
		"linux/riscv64": "riscv64-linux",
		"linux/ppc64le": "powerpc64le-linux",
		"linux/s390x":   "s390x-linux",
	}
}

// System returns the Nix system for an OCI platform ("linux", "arm64", "" → "aarch64-linux").
func System(os, arch, variant string) (string, error) {
	key := os + "/" + arch
	if variant != "" && arch == "arm" {
		key += "/" + variant
	}
	systems := platformSystems()
	if s, ok := systems[key]; ok {
		return s, nil
	}
	var known []string
	for p := range systems {
		known = append(known, p)
	}
	slices.Sort(known)
	return "", fmt.Errorf("platform %s has no Nix system; supported: %s", key, strings.Join(known, ", "))
}
