package sbom

import (
	"cmp"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/laingville/laingfile/nixsets"
)

const (
	noAssertion      = "NOASSERTION"
	licenseRefPrefix = "LicenseRef-"
)

// spdxLicenseTerm is what an SPDX id from nixpkgs' meta.license.spdxId may be to go into an
// expression as it is: a license id (GPL-2.0+ included), optionally WITH an exception id.
// Anything else (a space, parentheses, an AND) would change the expression's meaning.
var spdxLicenseTerm = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]*\+?( WITH [A-Za-z0-9][A-Za-z0-9.-]*)?$`)

// licenseKey identifies one license of the input.
func licenseKey(l nixsets.PackageLicense) string {
	return l.SPDXID + "\x00" + l.ShortName + "\x00" + l.FullName
}

// needsRef reports whether a license is written as a LicenseRef- with an
// hasExtractedLicensingInfos entry, rather than by its SPDX id.
func needsRef(l nixsets.PackageLicense) bool {
	return strings.HasPrefix(l.SPDXID, licenseRefPrefix) || !spdxLicenseTerm.MatchString(l.SPDXID)
}

// licenseEmpty reports whether a license says nothing: no id and no name.
func licenseEmpty(l nixsets.PackageLicense) bool {
	return l.SPDXID == "" && l.ShortName == "" && l.FullName == ""
}

// extractedLicense is one hasExtractedLicensingInfos entry.
type extractedLicense struct {
	ID            string `json:"licenseId"`
	ExtractedText string `json:"extractedText"`
	Name          string `json:"name,omitempty"`
	Comment       string `json:"comment,omitempty"`
}

// licenseRefs gives every license of the derivations that has no usable SPDX id a LicenseRef-
// id: the license's own LicenseRef- id, else its nixpkgs short name (its full name, its SPDX id)
// made an idstring. Licenses are numbered in sorted order when two would get the same id, so
// the ids do not depend on the order of the input.
func licenseRefs(derivations []nixsets.PackageMeta) (map[string]string, []extractedLicense) {
	byKey := map[string]nixsets.PackageLicense{}
	for _, d := range derivations {
		for _, l := range d.Licenses {
			if !licenseEmpty(l) && needsRef(l) {
				byKey[licenseKey(l)] = l
			}
		}
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ids := map[string]string{}
	taken := map[string]bool{}
	var extracted []extractedLicense
	for _, k := range keys {
		l := byKey[k]
		var base string
		if strings.HasPrefix(l.SPDXID, licenseRefPrefix) {
			base = licenseRefPrefix + sanitizeID(strings.TrimPrefix(l.SPDXID, licenseRefPrefix))
		} else {
			base = licenseRefPrefix + sanitizeID(cmp.Or(l.ShortName, l.FullName, l.SPDXID))
		}
		id := base
		for n := 2; taken[id]; n++ {
			id = base + "-" + strconv.Itoa(n)
		}
		taken[id] = true
		ids[k] = id
		comment := "nixpkgs license"
		if l.ShortName != "" {
			comment += " " + l.ShortName
		}
		if l.SPDXID != "" && !strings.HasPrefix(l.SPDXID, licenseRefPrefix) {
			comment += ", spdxId " + strconv.Quote(l.SPDXID) + " is not an SPDX license id"
		}
		extracted = append(extracted, extractedLicense{
			ID: id,
			// The text is not in the image and nixpkgs does not carry it: say so, as Syft does.
			ExtractedText: noAssertion,
			Name:          cmp.Or(l.FullName, l.ShortName),
			Comment:       comment,
		})
	}
	slices.SortFunc(extracted, func(a, b extractedLicense) int { return strings.Compare(a.ID, b.ID) })
	return ids, extracted
}

// licenseExpression joins a derivation's licenses with AND (nixpkgs' meta.license list does not
// say whether all or any apply; AND claims no choice that was not made). Terms are sorted and
// unique; NOASSERTION when there are none.
func licenseExpression(licenses []nixsets.PackageLicense, refs map[string]string) string {
	var terms []string
	for _, l := range licenses {
		if licenseEmpty(l) {
			continue
		}
		term := l.SPDXID
		if needsRef(l) {
			term = refs[licenseKey(l)]
		}
		terms = append(terms, term)
	}
	slices.Sort(terms)
	terms = slices.Compact(terms)
	if len(terms) == 0 {
		return noAssertion
	}
	return strings.Join(terms, " AND ")
}
