package sbom

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Summary is what an SPDX document says about an image, as rows to print.
type Summary struct {
	// Name is the name of the one element the document describes (the image); "" when it
	// describes none or several.
	Name     string
	Platform string // from a Laingfile document's root comment; "" otherwise
	Nixpkgs  string // likewise
	Packages []PackageRow
	Files    []FileRow
}

// PackageRow is one package of the document.
type PackageRow struct {
	Name, Version string
	// License is the declared license expression, else the concluded one; "" when the
	// document asserts none (NOASSERTION, NONE).
	License   string
	StorePath string // the Nix store path, for a package that is one
	PURL      string
	Requested []RequestedBy // what in the Laingfile asked for it, when something did
	NARSize   int64         // 0 when the document does not say
}

// RequestedBy is one request of the Laingfile that brought a package: an attribute path or a
// project file, and the package set it is in ("" for `packages:`).
type RequestedBy struct {
	Attr, Set string
	Implied   bool // every image gets it; Set is ""
}

// FileRow is one file of the document.
type FileRow struct {
	Path   string // absolute, as in the image
	SHA256 string // hex, "" when the document has none
	Origin string // "customisation", "copy: SRC"; "" when the document does not say
}

// parsedDocument is the part of an SPDX 2.x JSON document that Parse reads; unknown fields
// are ignored.
type parsedDocument struct {
	SPDXVersion       string   `json:"spdxVersion"`
	DocumentDescribes []string `json:"documentDescribes"`
	Packages          []struct {
		Name                  string        `json:"name"`
		SPDXID                string        `json:"SPDXID"`
		VersionInfo           string        `json:"versionInfo"`
		PackageFileName       string        `json:"packageFileName"`
		LicenseConcluded      string        `json:"licenseConcluded"`
		LicenseDeclared       string        `json:"licenseDeclared"`
		Comment               string        `json:"comment"`
		ExternalRefs          []externalRef `json:"externalRefs"`
		PrimaryPackagePurpose string        `json:"primaryPackagePurpose"`
	} `json:"packages"`
	Files []struct {
		FileName    string       `json:"fileName"`
		Checksums   []checksum   `json:"checksums"`
		Annotations []annotation `json:"annotations"`
	} `json:"files"`
	Relationships []relationship `json:"relationships"`
}

// Parse reads an SPDX 2.x JSON document: this package's, or any other (BuildKit's Syft
// scanner's, say), of which it reads the packages' names, versions, licenses and purls. The
// element the document describes is the image: when it is a container or a directory it is not
// a package row.
func Parse(data []byte) (*Summary, error) {
	var doc parsedDocument
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not an SPDX JSON document: %w", err)
	}
	if !strings.HasPrefix(doc.SPDXVersion, "SPDX-2.") {
		return nil, fmt.Errorf("not an SPDX 2 JSON document: spdxVersion is %q, want SPDX-2.3", doc.SPDXVersion)
	}

	described := map[string]bool{}
	for _, id := range doc.DocumentDescribes {
		described[id] = true
	}
	for _, r := range doc.Relationships {
		switch {
		case r.Element == "SPDXRef-DOCUMENT" && r.Type == "DESCRIBES":
			described[r.Related] = true
		case r.Related == "SPDXRef-DOCUMENT" && r.Type == "DESCRIBED_BY":
			described[r.Element] = true
		}
	}

	s := &Summary{}
	for _, p := range doc.Packages {
		if described[p.SPDXID] {
			if len(described) == 1 {
				s.Name = p.Name
				s.Platform, s.Nixpkgs = commentValue(p.Comment, commentPlatform), commentValue(p.Comment, commentNixpkgs)
			}
			if isImageRoot(p.PrimaryPackagePurpose, p.SPDXID) {
				continue
			}
		}
		row := PackageRow{
			Name:    p.Name,
			Version: p.VersionInfo,
			License: assertedLicense(p.LicenseDeclared, p.LicenseConcluded),
			PURL:    purlOf(p.ExternalRefs),
		}
		if _, _, err := splitStorePath(p.PackageFileName); err == nil {
			row.StorePath = p.PackageFileName
		}
		for _, line := range strings.Split(p.Comment, "\n") {
			if v, ok := strings.CutPrefix(line, commentRequested); ok {
				row.Requested = append(row.Requested, parseRequested(v))
			}
			if v, ok := strings.CutPrefix(line, commentNARSize); ok {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
					row.NARSize = n
				}
			}
		}
		s.Packages = append(s.Packages, row)
	}
	slices.SortFunc(s.Packages, func(a, b PackageRow) int {
		return cmpStrings(a.Name, b.Name, a.Version, b.Version, a.StorePath, b.StorePath, a.PURL, b.PURL)
	})

	for _, f := range doc.Files {
		row := FileRow{Path: "/" + strings.TrimPrefix(strings.TrimPrefix(f.FileName, "."), "/")}
		for _, a := range f.Annotations {
			if v, ok := strings.CutPrefix(a.Comment, annotationOrigin); ok {
				row.Origin = v
			}
		}
		for _, c := range f.Checksums {
			if c.Algorithm == "SHA256" {
				row.SHA256 = c.Value
			}
		}
		s.Files = append(s.Files, row)
	}
	slices.SortFunc(s.Files, func(a, b FileRow) int { return cmp.Compare(a.Path, b.Path) })
	return s, nil
}

// isImageRoot reports whether a described element stands for what was scanned (an image, a
// directory) rather than for a package in it. Syft's SPDX 2.2 roots have no purpose but say
// what they are in their id.
func isImageRoot(purpose, id string) bool {
	return purpose == "CONTAINER" || purpose == "FILE" || strings.HasPrefix(id, "SPDXRef-DocumentRoot-")
}

func assertedLicense(declared, concluded string) string {
	for _, l := range []string{declared, concluded} {
		if l != "" && l != noAssertion && l != "NONE" {
			return l
		}
	}
	return ""
}

func purlOf(refs []externalRef) string {
	for _, r := range refs {
		if r.Type == "purl" {
			return r.Locator
		}
	}
	return ""
}

// commentValue is the rest of the comment's first line that starts with prefix.
func commentValue(comment, prefix string) string {
	for _, line := range strings.Split(comment, "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return v
		}
	}
	return ""
}

// parseRequested reads "ATTR (set SET)", "ATTR (packages:)" or "ATTR (every image)".
func parseRequested(v string) RequestedBy {
	if attr, ok := strings.CutSuffix(v, requestedListed); ok {
		return RequestedBy{Attr: attr}
	}
	if attr, ok := strings.CutSuffix(v, requestedImplied); ok {
		return RequestedBy{Attr: attr, Implied: true}
	}
	if i := strings.LastIndex(v, requestedInSet); i >= 0 && strings.HasSuffix(v, ")") {
		return RequestedBy{Attr: v[:i], Set: v[i+len(requestedInSet) : len(v)-1]}
	}
	return RequestedBy{Attr: v}
}
