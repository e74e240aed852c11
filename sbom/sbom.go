// Package sbom writes the SPDX 2.3 document that describes one Laingfile image for one
// platform: a package for every Nix store path of the image's closure, with the name and
// version Nix gives it, its licenses, homepage, NAR hash and the store paths it refers to, and
// a file for every file of the image outside the store. The frontend attaches it to the image
// as an in-toto attestation (predicate type https://spdx.dev/Document); `laing sbom` reads
// it back with Parse.
//
// The document is a pure function of its Input: the same closure and files give the same
// bytes, whatever order they come in, with a creation time that is the image's and a namespace
// derived from the content.
package sbom

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/package-url/packageurl-go"

	"github.com/laingville/laingfile/internal/nar"
	"github.com/laingville/laingfile/internal/nixstore"
	"github.com/laingville/laingfile/nixsets"
)

// Input is everything the document says about one image, for one platform.
type Input struct {
	Name     string    // the document's subject: the image's target name, e.g. "devcontainer"
	Platform string    // "linux/amd64"
	Created  time.Time // the image's created time (SOURCE_DATE_EPOCH or the fixed layer time): never the wall clock
	// Nixpkgs is where the packages come from, e.g. "github:NixOS/nixpkgs/48698d1…", or "" when
	// a build context replaced the pin.
	Nixpkgs string
	// ToolVersion is the frontend's version ("v1.4.0", "dev"): the document's creator is
	// "Tool: laingfile-frontend-<ToolVersion>", or "Tool: laingfile-frontend" when it is "".
	ToolVersion string
	// Closure is the image's store paths; a NAR hash may also be in Nix's "sha256:<base-32>"
	// or hex form.
	Closure nixstore.Closure
	// Derivations are what Nix's evaluation knows of the packages the closure's paths are
	// outputs of (the SBOM step's package-meta.json); a store path no derivation claims (the
	// image's profile, a path built by a project file) still becomes a package, named from its
	// store path.
	Derivations []nixsets.PackageMeta
	// Requested are the packages the Laingfile asked for (attribute paths or project files),
	// with the package set that brought each ("" when listed under `packages:`).
	Requested []Requested
	// Files are the image's files that are not in the Nix store: the customisation layer's and
	// the copy: entries'.
	Files []File
}

// Requested is one package the Laingfile asked for, and the store paths it put in the image.
type Requested struct {
	Attr, Set string
	// Implied packages are those every image gets (its login shell, coreutils, the CA bundle),
	// not named by the Laingfile; their Set is "".
	Implied bool
	Paths   []string
}

// File is a file of the image outside the Nix store.
type File struct {
	Path         string
	SHA1, SHA256 string // hex
	Origin       string // "customisation" or "copy: SRC"
}

// PredicateType is the in-toto predicate type of an SPDX document, as BuildKit and buildx use it.
const PredicateType = "https://spdx.dev/Document"

// Namespace is where every document's namespace starts; the rest is the image's name and
// platform and a hash of the document.
const Namespace = "https://laingville.github.io/laingfile/sbom/"

// toolName is the creator every document names.
const toolName = "laingfile-frontend"

// The lines of a comment that Parse reads back; see docs/usage.md#security-scanning.
const (
	commentPlatform  = "platform: "
	commentNixpkgs   = "nixpkgs: "
	commentRequested = "requested: "
	commentNARSize   = "nar-size: "
	annotationOrigin = "origin: "
	requestedInSet   = " (set "
	requestedListed  = " (packages:)"
	requestedImplied = " (every image)"
)

// document is an SPDX 2.3 JSON document, with the fields this package writes in the order the
// specification lists them.
type document struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      creationInfo       `json:"creationInfo"`
	Comment           string             `json:"comment,omitempty"`
	Packages          []spdxPackage      `json:"packages"`
	Files             []spdxFile         `json:"files,omitempty"`
	ExtractedLicenses []extractedLicense `json:"hasExtractedLicensingInfos,omitempty"`
	Relationships     []relationship     `json:"relationships"`
}

type creationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
	Comment  string   `json:"comment,omitempty"`
}

type spdxPackage struct {
	Name                  string        `json:"name"`
	SPDXID                string        `json:"SPDXID"`
	VersionInfo           string        `json:"versionInfo,omitempty"`
	PackageFileName       string        `json:"packageFileName,omitempty"`
	Supplier              string        `json:"supplier"`
	DownloadLocation      string        `json:"downloadLocation"`
	FilesAnalyzed         bool          `json:"filesAnalyzed"`
	Checksums             []checksum    `json:"checksums,omitempty"`
	Homepage              string        `json:"homepage,omitempty"`
	SourceInfo            string        `json:"sourceInfo,omitempty"`
	LicenseConcluded      string        `json:"licenseConcluded"`
	LicenseDeclared       string        `json:"licenseDeclared"`
	CopyrightText         string        `json:"copyrightText"`
	Description           string        `json:"description,omitempty"`
	Comment               string        `json:"comment,omitempty"`
	ExternalRefs          []externalRef `json:"externalRefs,omitempty"`
	PrimaryPackagePurpose string        `json:"primaryPackagePurpose,omitempty"`
}

type checksum struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"checksumValue"`
}

type externalRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type spdxFile struct {
	FileName         string       `json:"fileName"`
	SPDXID           string       `json:"SPDXID"`
	Checksums        []checksum   `json:"checksums"`
	LicenseConcluded string       `json:"licenseConcluded"`
	CopyrightText    string       `json:"copyrightText"`
	Comment          string       `json:"comment,omitempty"`
	Annotations      []annotation `json:"annotations,omitempty"`
}

type annotation struct {
	Date      string `json:"annotationDate"`
	Type      string `json:"annotationType"`
	Annotator string `json:"annotator"`
	Comment   string `json:"comment"`
}

type relationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

// storePackage is a closure path on its way to becoming a package.
type storePackage struct {
	path      nixstore.StorePath
	hash      string // the store path's hash part, which names it
	baseName  string // the store path's name, after the hash
	id        string
	drv       *nixsets.PackageMeta
	output    string // the derivation output the path is ("" when no derivation claims it)
	name      string
	version   string
	requested []string // comment lines
}

// Document returns the SPDX 2.3 JSON document, byte-identical for identical input.
func Document(in Input) ([]byte, error) {
	if in.Name == "" {
		return nil, errors.New("sbom: the image has no name (Input.Name)")
	}
	if in.Created.IsZero() {
		return nil, errors.New("sbom: the image has no created time (Input.Created): give SOURCE_DATE_EPOCH's or the fixed layer time")
	}
	pkgs, err := storePackages(in)
	if err != nil {
		return nil, err
	}
	refs, extracted := licenseRefs(in.Derivations)

	root := spdxPackage{
		Name:             in.Name,
		SPDXID:           "SPDXRef-Image-" + sanitizeID(in.Name),
		Supplier:         noAssertion,
		DownloadLocation: noAssertion,
		// The image's own files are listed (and CONTAINed) when there are any; SPDX forbids
		// files in a package whose files were not analysed.
		FilesAnalyzed:         len(in.Files) > 0,
		LicenseConcluded:      noAssertion,
		LicenseDeclared:       noAssertion,
		CopyrightText:         noAssertion,
		Description:           describeImage(in),
		Comment:               rootComment(in),
		PrimaryPackagePurpose: "CONTAINER",
	}
	created := in.Created.UTC().Format(time.RFC3339)
	creator := "Tool: " + toolName + suffix("-", in.ToolVersion)
	doc := document{
		SPDXVersion: "SPDX-2.3",
		DataLicense: "CC0-1.0",
		SPDXID:      "SPDXRef-DOCUMENT",
		Name:        documentName(in),
		CreationInfo: creationInfo{
			Created:  created,
			Creators: []string{creator},
			Comment:  "One package per Nix store path of the image's closure; the image's other files are listed as files.",
		},
		Packages:          []spdxPackage{root},
		ExtractedLicenses: extracted,
		Relationships: []relationship{
			{Element: "SPDXRef-DOCUMENT", Type: "DESCRIBES", Related: root.SPDXID},
		},
	}

	ids := map[string]string{} // store path -> SPDX id
	for _, p := range pkgs {
		ids[p.path.Path] = p.id
	}
	for _, p := range pkgs {
		sp, err := p.spdx(refs)
		if err != nil {
			return nil, err
		}
		doc.Packages = append(doc.Packages, sp)
		doc.Relationships = append(doc.Relationships, relationship{Element: root.SPDXID, Type: "CONTAINS", Related: p.id})
	}

	files, err := spdxFiles(in.Files, annotation{Date: created, Type: "OTHER", Annotator: creator})
	if err != nil {
		return nil, err
	}
	doc.Files = files
	for _, f := range files {
		doc.Relationships = append(doc.Relationships, relationship{Element: root.SPDXID, Type: "CONTAINS", Related: f.SPDXID})
	}

	for _, p := range pkgs {
		var deps []string
		for _, r := range p.path.References {
			// A closure is closed; a reference outside it (which Nix would not give) has no
			// element to point at.
			if id, ok := ids[r]; ok && r != p.path.Path {
				deps = append(deps, id)
			}
		}
		slices.Sort(deps)
		for _, d := range slices.Compact(deps) {
			doc.Relationships = append(doc.Relationships, relationship{Element: p.id, Type: "DEPENDS_ON", Related: d})
		}
	}

	// The namespace must be unique to the document: a hash of everything else in it.
	body, err := marshal(doc)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	doc.DocumentNamespace = Namespace + sanitizeID(in.Name) + suffix("-", sanitizeID(in.Platform)) + "-" + hex.EncodeToString(sum[:])
	return marshal(doc)
}

// marshal writes JSON indented, without HTML escaping (store paths and URLs stay readable).
func marshal(doc document) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("sbom: %w", err)
	}
	return buf.Bytes(), nil
}

func documentName(in Input) string {
	if in.Platform == "" {
		return in.Name
	}
	return in.Name + " (" + in.Platform + ")"
}

func describeImage(in Input) string {
	s := "Laingfile image " + in.Name
	if in.Platform != "" {
		s += " for " + in.Platform
	}
	return s
}

func rootComment(in Input) string {
	var lines []string
	if in.Platform != "" {
		lines = append(lines, commentPlatform+in.Platform)
	}
	if in.Nixpkgs != "" {
		lines = append(lines, commentNixpkgs+in.Nixpkgs)
	}
	return strings.Join(lines, "\n")
}

// storePackages parses, claims and names the closure's paths, sorted by name, version and path.
func storePackages(in Input) ([]*storePackage, error) {
	byPath := map[string]*storePackage{}
	for _, sp := range in.Closure {
		hash, name, err := splitStorePath(sp.Path)
		if err != nil {
			return nil, err
		}
		if prev, ok := byPath[sp.Path]; ok {
			if !slices.Equal(sortedCopy(prev.path.References), sortedCopy(sp.References)) || prev.path.NarHash != sp.NarHash || prev.path.NarSize != sp.NarSize {
				return nil, fmt.Errorf("sbom: the closure lists %s twice, with different path info", sp.Path)
			}
			continue
		}
		byPath[sp.Path] = &storePackage{path: sp, hash: hash, baseName: name, id: "SPDXRef-Nix-" + hash + "-" + sanitizeID(name)}
	}

	// Derivations are sorted so that, should two claim the same path, the same one wins
	// whatever the input order.
	drvs := make([]*nixsets.PackageMeta, len(in.Derivations))
	for i := range in.Derivations {
		drvs[i] = &in.Derivations[i]
	}
	slices.SortFunc(drvs, compareDerivations)
	for _, d := range drvs {
		outputs := make([]string, 0, len(d.Outputs))
		for o := range d.Outputs {
			outputs = append(outputs, o)
		}
		slices.Sort(outputs)
		for _, o := range outputs {
			if p, ok := byPath[d.Outputs[o]]; ok && p.drv == nil {
				p.drv, p.output = d, o
			}
		}
	}

	for _, r := range in.Requested {
		line := commentRequested + r.Attr + requestedListed
		switch {
		case r.Implied:
			line = commentRequested + r.Attr + requestedImplied
		case r.Set != "":
			line = commentRequested + r.Attr + requestedInSet + r.Set + ")"
		}
		for _, sp := range r.Paths {
			if p, ok := byPath[sp]; ok {
				p.requested = append(p.requested, line)
			}
		}
	}

	pkgs := make([]*storePackage, 0, len(byPath))
	for _, p := range byPath {
		p.name, p.version = p.nameVersion()
		slices.Sort(p.requested)
		p.requested = slices.Compact(p.requested)
		pkgs = append(pkgs, p)
	}
	slices.SortFunc(pkgs, func(a, b *storePackage) int {
		return cmpStrings(a.name, b.name, a.version, b.version, a.path.Path, b.path.Path)
	})
	return pkgs, nil
}

// nameVersion is the package's name and version: the claiming derivation's name as Nix splits
// it, else its pname and version, else the store path's name (without "-OUTPUT" for an output
// other than out, which Nix appends to the derivation name).
func (p *storePackage) nameVersion() (string, string) {
	if p.drv != nil {
		if p.drv.Name != "" {
			return ParseDrvName(p.drv.Name)
		}
		if p.drv.PName != "" {
			return p.drv.PName, p.drv.Version
		}
		if p.output != "out" {
			if trimmed, ok := strings.CutSuffix(p.baseName, "-"+p.output); ok && trimmed != "" {
				return ParseDrvName(trimmed)
			}
		}
	}
	return ParseDrvName(p.baseName)
}

func (p *storePackage) spdx(refs map[string]string) (spdxPackage, error) {
	sp := spdxPackage{
		Name:             p.name,
		SPDXID:           p.id,
		VersionInfo:      p.version,
		PackageFileName:  p.path.Path,
		Supplier:         noAssertion,
		DownloadLocation: noAssertion,
		LicenseConcluded: noAssertion,
		LicenseDeclared:  noAssertion,
		CopyrightText:    noAssertion,
		ExternalRefs: []externalRef{{
			Category: "PACKAGE-MANAGER",
			Type:     "purl",
			Locator:  p.purl(),
		}},
	}
	if p.path.NarHash != "" {
		sum, ok := nar.ParseSHA256(p.path.NarHash)
		if !ok {
			return spdxPackage{}, fmt.Errorf("sbom: %s: NAR hash %q is not a SHA-256 (want SRI, sha256-…)", p.path.Path, p.path.NarHash)
		}
		sp.Checksums = []checksum{{Algorithm: "SHA256", Value: hex.EncodeToString(sum[:])}}
	}
	if d := p.drv; d != nil {
		sp.LicenseDeclared = licenseExpression(d.Licenses, refs)
		sp.LicenseConcluded = sp.LicenseDeclared
		sp.Homepage = homepage(d.Homepage)
		sp.Description = d.Description
		sp.SourceInfo = "output " + p.output + " of the Nix derivation " + cmp.Or(d.Name, d.PName)
	}
	lines := slices.Clone(p.requested)
	if p.path.NarSize > 0 {
		lines = append(lines, commentNARSize+strconv.FormatInt(p.path.NarSize, 10))
	}
	sp.Comment = strings.Join(lines, "\n")
	return sp, nil
}

// purl is the package URL Syft's Nix cataloger gives a store path: pkg:nix/NAME@VERSION with
// the output when it is not out, and the store path's hash.
func (p *storePackage) purl() string {
	var q packageurl.Qualifiers
	if p.output != "" && p.output != "out" {
		q = append(q, packageurl.Qualifier{Key: "output", Value: p.output})
	}
	q = append(q, packageurl.Qualifier{Key: "outputhash", Value: p.hash})
	return packageurl.NewPackageURL("nix", "", p.name, p.version, q, "").ToString()
}

// homepage keeps a web address; SPDX wants a URL there, and a meta.homepage that is not one
// is left out rather than making the document invalid.
func homepage(s string) string {
	if strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://") {
		if !strings.ContainsAny(s, " \t\n") {
			return s
		}
	}
	return ""
}

// splitStorePath returns a store path's hash part and name, refusing anything else.
func splitStorePath(p string) (hash, name string, err error) {
	dir, base := path.Split(p)
	hash, name, _ = strings.Cut(base, "-")
	if dir != nar.StoreDir+"/" || len(hash) != 32 || !nar.IsBase32(hash) || name == "" {
		return "", "", fmt.Errorf("sbom: %q is not a Nix store path (want %s/<32-character hash>-<name>)", p, nar.StoreDir)
	}
	return hash, name, nil
}

// spdxFiles turns the image's files into SPDX files, sorted by path. A file's id is its path
// made an idstring plus a hash of everything said about it, so that two entries for one path
// (a copy: over a customisation file) stay apart and identical entries become one.
//
// A file's origin is an annotation (made by annotator), not its comment: BuildKit writes the
// layer each file is in as the comment of a file that has none ("layerID: sha256:…"), which
// Syft reads.
func spdxFiles(files []File, annotator annotation) ([]spdxFile, error) {
	seen := map[string]bool{}
	var out []spdxFile
	for _, f := range files {
		if !strings.HasPrefix(f.Path, "/") {
			return nil, fmt.Errorf("sbom: file %q: want an absolute path in the image", f.Path)
		}
		sha1 := strings.ToLower(f.SHA1)
		sha256sum := strings.ToLower(f.SHA256)
		if sha1 == "" {
			// SPDX requires a SHA1; a file without contents (a link, a directory) gets the
			// zero digest, as Syft writes for one.
			sha1 = strings.Repeat("0", 40)
		}
		if !isHex(sha1, 40) {
			return nil, fmt.Errorf("sbom: file %s: SHA1 %q is not 40 hex digits", f.Path, f.SHA1)
		}
		if sha256sum != "" && !isHex(sha256sum, 64) {
			return nil, fmt.Errorf("sbom: file %s: SHA256 %q is not 64 hex digits", f.Path, f.SHA256)
		}
		identity := sha256.Sum256([]byte(f.Path + "\x00" + sha1 + "\x00" + sha256sum + "\x00" + f.Origin))
		id := "SPDXRef-File-" + truncate(sanitizeID(strings.TrimPrefix(f.Path, "/")), 100) + "-" + hex.EncodeToString(identity[:6])
		if seen[id] {
			continue
		}
		seen[id] = true
		sf := spdxFile{
			// SPDX file names are relative to the package's root, here the image's.
			FileName:         "." + f.Path,
			SPDXID:           id,
			Checksums:        []checksum{{Algorithm: "SHA1", Value: sha1}},
			LicenseConcluded: noAssertion,
			CopyrightText:    noAssertion,
		}
		if sha256sum != "" {
			sf.Checksums = append(sf.Checksums, checksum{Algorithm: "SHA256", Value: sha256sum})
		}
		if f.Origin != "" {
			origin := annotator
			origin.Comment = annotationOrigin + f.Origin
			sf.Annotations = []annotation{origin}
		}
		out = append(out, sf)
	}
	slices.SortFunc(out, func(a, b spdxFile) int { return cmpStrings(a.FileName, b.FileName, a.SPDXID, b.SPDXID) })
	return out, nil
}

// sanitizeID makes s an SPDX idstring: letters, digits, "." and "-"; everything else becomes "-".
func sanitizeID(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !isASCIILetter(c) && !('0' <= c && c <= '9') && c != '.' && c != '-' {
			b[i] = '-'
		}
	}
	return string(b)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func suffix(sep, s string) string {
	if s == "" {
		return ""
	}
	return sep + s
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// cmpStrings compares pairs in turn: a0 with b0, then a1 with b1, …
func cmpStrings(pairs ...string) int {
	for i := 0; i+1 < len(pairs); i += 2 {
		if c := strings.Compare(pairs[i], pairs[i+1]); c != 0 {
			return c
		}
	}
	return 0
}

// compareDerivations orders derivations by everything they say (encoding/json writes maps
// sorted), so that the order is total.
func compareDerivations(a, b *nixsets.PackageMeta) int {
	if c := cmpStrings(a.Name, b.Name, a.PName, b.PName, a.Version, b.Version); c != 0 {
		return c
	}
	ka, _ := json.Marshal(a)
	kb, _ := json.Marshal(b)
	return bytes.Compare(ka, kb)
}
