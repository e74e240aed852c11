package main

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/laingville/laingfile/sbom"
)

// The annotations BuildKit puts on an attestation manifest's descriptor in an image index, and
// on its layers (docs.docker.com/build/metadata/attestations/attestation-storage/).
const (
	annotationReferenceType   = "vnd.docker.reference.type"
	annotationReferenceDigest = "vnd.docker.reference.digest"
	// buildx reads this newer spelling of the digest annotation too.
	annotationReferenceDigestNew = "com.docker.reference.digest"
	attestationManifest          = "attestation-manifest"
	annotationPredicateType      = "in-toto.io/predicate-type"
)

// dsseMediaType is a signed attestation layer's: a DSSE envelope whose payload is the statement.
var dsseMediaType = regexp.MustCompile(`^application/vnd\.in-toto\..*\+dsse$`)

func sbomCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sbom", flag.ContinueOnError)
	fs.SetOutput(stderr)
	platform := fs.String("platform", "linux/amd64", "platform to show for multi-platform images")
	asJSON := fs.Bool("json", false, "print the SPDX document as the attestation holds it")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ref := fs.Arg(0)
	if err := printSBOM(stdout, ref, *platform, *asJSON); err != nil {
		fmt.Fprintln(stderr, "laing sbom:", err)
		return 1
	}
	return 0
}

func printSBOM(w io.Writer, ref, platform string, asJSON bool) error {
	p, err := parsePlatform(platform)
	if err != nil {
		return err
	}
	documents, err := readSBOMs(ref, p)
	if err != nil {
		return err
	}
	if asJSON {
		_, err := fmt.Fprintf(w, "%s\n", documents[0])
		return err
	}
	s, err := sbom.Parse(documents[0])
	if err != nil {
		return fmt.Errorf("%s: the SBOM attestation for %s: %w", ref, p, err)
	}
	printSummary(w, ref, p, s)
	if len(documents) > 1 {
		fmt.Fprintf(w, "\n(%d more SBOM attestations for %s are not shown)\n", len(documents)-1, p)
	}
	return nil
}

// readSBOMs returns the SPDX documents attested for a platform's image: in the image's index,
// the attestation manifests that refer to the image, their layers whose predicate type is
// SPDX's, each an in-toto statement (maybe in a DSSE envelope) whose predicate is the document.
func readSBOMs(ref string, p v1.Platform) ([][]byte, error) {
	src, err := openImage(ref, p)
	if err != nil {
		return nil, err
	}
	if src.image != nil {
		return nil, fmt.Errorf("%s is a single image, not an index, so it has no attestations: build it with --sbom=true and push it (or export it with --output type=oci), which keeps the attestations in an index", ref)
	}
	holder, image, err := findImage(src.index, p, src.tag)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	m, err := holder.IndexManifest()
	if err != nil {
		return nil, err
	}
	var documents [][]byte
	attested := false
	for _, d := range m.Manifests {
		if d.Annotations[annotationReferenceType] != attestationManifest {
			continue
		}
		if digest := cmp.Or(d.Annotations[annotationReferenceDigest], d.Annotations[annotationReferenceDigestNew]); digest != image.Digest.String() {
			continue
		}
		attested = true
		found, err := spdxPredicates(holder, d)
		if err != nil {
			return nil, fmt.Errorf("%s: the attestations for %s: %w", ref, p, err)
		}
		documents = append(documents, found...)
	}
	switch {
	case !attested:
		return nil, fmt.Errorf("%s has no SBOM attestation for %s (it has no attestations for it at all): build it with --sbom=true", ref, p)
	case len(documents) == 0:
		return nil, fmt.Errorf("%s has no SBOM attestation for %s (only other attestations, such as provenance): build it with --sbom=true", ref, p)
	}
	return documents, nil
}

// spdxPredicates reads an attestation manifest's SPDX statements and returns their predicates
// as they are.
func spdxPredicates(idx v1.ImageIndex, manifest v1.Descriptor) ([][]byte, error) {
	img, err := idx.Image(manifest.Digest)
	if err != nil {
		return nil, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, l := range m.Layers {
		if l.Annotations[annotationPredicateType] != sbom.PredicateType {
			continue
		}
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return nil, err
		}
		rc, err := layer.Compressed() // the blob as stored: attestation layers are not compressed
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		predicate, err := statementPredicate(data, string(l.MediaType))
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		out = append(out, predicate)
	}
	return out, nil
}

// statementPredicate returns an in-toto statement's SPDX predicate, unwrapping a DSSE envelope.
func statementPredicate(data []byte, mediaType string) ([]byte, error) {
	if dsseMediaType.MatchString(mediaType) {
		var envelope struct {
			Payload string `json:"payload"`
		}
		if err := json.Unmarshal(data, &envelope); err != nil {
			return nil, fmt.Errorf("not a DSSE envelope: %w", err)
		}
		payload, err := base64.StdEncoding.DecodeString(envelope.Payload)
		if err != nil {
			return nil, fmt.Errorf("the DSSE envelope's payload is not base64: %w", err)
		}
		data = payload
	}
	var statement struct {
		PredicateType string          `json:"predicateType"`
		Predicate     json.RawMessage `json:"predicate"`
	}
	if err := json.Unmarshal(data, &statement); err != nil {
		return nil, fmt.Errorf("not an in-toto statement: %w", err)
	}
	if statement.PredicateType != sbom.PredicateType {
		return nil, fmt.Errorf("the statement's predicate type is %q, want %s", statement.PredicateType, sbom.PredicateType)
	}
	if len(statement.Predicate) == 0 || string(statement.Predicate) == "null" {
		return nil, errors.New("the statement has no predicate")
	}
	return statement.Predicate, nil
}

// printSummary prints the packages sorted by name (Parse sorts them), then the files outside
// the store.
func printSummary(w io.Writer, ref string, p v1.Platform, s *sbom.Summary) {
	head := fmt.Sprintf("%s (%s)", ref, p)
	if s.Name != "" {
		head += ": " + s.Name
	}
	head += fmt.Sprintf(", %d packages, %d files", len(s.Packages), len(s.Files))
	if s.Nixpkgs != "" {
		head += ", nixpkgs " + s.Nixpkgs
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w)

	// Another tool's SBOM has purls but no store paths: show what it has.
	last := "PURL"
	for _, r := range s.Packages {
		if r.StorePath != "" {
			last = "STORE PATH"
			break
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME\tVERSION\tLICENSE\tREQUESTED\tSIZE\t%s\n", last)
	for _, r := range s.Packages {
		var requested []string
		for _, q := range r.Requested {
			switch {
			case q.Implied:
				requested = append(requested, q.Attr+" (every image)")
			case q.Set == "":
				requested = append(requested, q.Attr+" (packages:)")
			default:
				requested = append(requested, q.Attr+" ("+q.Set+")")
			}
		}
		size := "-"
		if r.NARSize > 0 {
			size = humanBytes(r.NARSize)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", dash(r.Name), dash(r.Version), dash(r.License),
			dash(strings.Join(requested, ", ")), size, dash(cmp.Or(r.StorePath, r.PURL)))
	}
	tw.Flush()
	if len(s.Files) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tORIGIN\tSHA256")
	for _, f := range s.Files {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Path, dash(f.Origin), dash(f.SHA256))
	}
	tw.Flush()
}

// dash stands for an empty cell, so that columns stay readable.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
