package frontend

import (
	"context"
	"crypto/sha1" //nolint:gosec // SPDX 2.3 requires a SHA1 checksum for every file
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/platforms"
	intoto "github.com/in-toto/in-toto-golang/in_toto"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	gatewaypb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/result"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/laingville/laingfile"
	"github.com/laingville/laingfile/laingfile2llb"
	"github.com/laingville/laingfile/nixsets"
	"github.com/laingville/laingfile/sbom"
)

// sbomCoreName marks the attestation as the image's own SBOM (BuildKit's sbom-core): the base
// name of sbomFile up to its first dot must be it. BuildKit then runs no scanner of its own,
// adds to each file the layer it is in and itself as a creator.
const (
	sbomCoreName = "sbom"
	sbomFile     = "/" + sbomCoreName + ".spdx.json"
)

// sbomSubject is what the SPDX document describes: one platform's image.
type sbomSubject struct {
	step    laingfile2llb.NixStep
	target  ocispecs.Platform
	facts   laingfile2llb.Facts
	image   gwclient.Reference
	created time.Time
	pin     nixsets.Pin
}

// sboms holds the SPDX document of each platform's image until the result is assembled.
type sboms struct {
	mu   sync.Mutex
	docs map[string][]byte
}

func (s *sboms) put(p ocispecs.Platform, doc []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.docs == nil {
		s.docs = map[string][]byte{}
	}
	s.docs[platforms.FormatAll(platforms.Normalize(p))] = doc
}

func (s *sboms) get(p ocispecs.Platform) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	doc, ok := s.docs[platforms.FormatAll(platforms.Normalize(p))]
	return doc, ok
}

// attach adds each platform's document to the result as an in-toto SPDX attestation.
func (s *sboms) attach(ctx context.Context, c gwclient.Client, rb *dockerui.ResultBuilder) error {
	return rb.EachPlatform(ctx, func(ctx context.Context, id string, p ocispecs.Platform) error {
		doc, ok := s.get(p)
		if !ok {
			return fmt.Errorf("laingfile frontend: internal error: no SBOM for %s", id)
		}
		st := llb.Scratch().File(llb.Mkfile(sbomFile, 0o644, doc, llb.WithCreatedTime(laingfile2llb.LayerTime())),
			llb.WithCustomName("sbom: write the SPDX document ("+id+")"))
		def, err := st.Marshal(ctx)
		if err != nil {
			return err
		}
		res, err := c.Solve(ctx, gwclient.SolveRequest{Definition: def.ToPB()})
		if err != nil {
			return err
		}
		ref, err := res.SingleRef()
		if err != nil {
			return err
		}
		rb.AddAttestation(id, result.Attestation[gwclient.Reference]{
			Kind: gatewaypb.AttestationKind_InToto,
			Ref:  ref,
			Path: sbomFile,
			Metadata: map[string][]byte{
				result.AttestationReasonKey: []byte(result.AttestationReasonSBOM),
				result.AttestationSBOMCore:  []byte(sbomCoreName),
			},
			InToto: result.InTotoAttestation{PredicateType: intoto.PredicateSPDX},
		})
		return nil
	})
}

// sbomDocument is the SPDX document of one platform's image: its store paths with what nixpkgs
// says of them (the SBOM step), the packages the Laingfile asked for with the sets that brought
// them, and the image's files outside the store.
func (b *targetBuild) sbomDocument(ctx context.Context, s sbomSubject) ([]byte, error) {
	meta, err := b.packageMeta(ctx, s.step, s.target)
	if err != nil {
		return nil, err
	}
	files, err := imageFiles(ctx, s.image, b.target.Copy)
	if err != nil {
		return nil, fmt.Errorf("sbom: reading the image's files: %w", err)
	}
	return sbom.Document(sbom.Input{
		ToolVersion: b.identity.version,
		Name:        b.target.Name,
		Platform:    platforms.Format(s.target),
		Created:     s.created,
		Nixpkgs:     pinSource(s.pin),
		Closure:     s.facts.Closure,
		Derivations: meta,
		Requested:   sbomRequested(laingfile2llb.PackageOrigins(b.target, s.facts.Packages)),
		Files:       files,
	})
}

// packageMeta runs the SBOM step and reads what it says of the image's packages.
func (b *targetBuild) packageMeta(ctx context.Context, step laingfile2llb.NixStep, target ocispecs.Platform) ([]nixsets.PackageMeta, error) {
	st, err := step.MetaState(target)
	if err != nil {
		return nil, err
	}
	ref, err := b.solve(ctx, st, llb.Platform(target))
	if err != nil {
		return nil, err
	}
	data, err := ref.ReadFile(ctx, gwclient.ReadRequest{Filename: path.Join(laingfile2llb.OutputDir, "package-meta.json")})
	if err != nil {
		return nil, fmt.Errorf("the SBOM step left no package-meta.json: %w", err)
	}
	var meta []nixsets.PackageMeta
	if err := json.Unmarshal(data, &meta); err != nil {
		return nil, fmt.Errorf("the SBOM step's package-meta.json is not valid JSON: %w", err)
	}
	return meta, nil
}

// pinSource names the nixpkgs an image's packages come from: "" when a build context replaced
// the pin (the image cannot name it).
func pinSource(p nixsets.Pin) string {
	switch {
	case p.Rev != "":
		return "github:NixOS/nixpkgs/" + p.Rev
	case p.URL != "":
		return p.URL
	}
	return ""
}

func sbomRequested(origins []laingfile2llb.PackageOrigin) []sbom.Requested {
	requested := make([]sbom.Requested, 0, len(origins))
	for _, o := range origins {
		requested = append(requested, sbom.Requested{Attr: o.Attr, Set: o.Set, Implied: o.Implied, Paths: o.Paths})
	}
	return requested
}

// imageFiles are the regular files of the image outside /nix/store, with their checksums and
// where they come from: the copy: entry whose dst holds them (the last one wins, as its layer
// is above), the customisation layer otherwise.
func imageFiles(ctx context.Context, image gwclient.Reference, copies []laingfile.Copy) ([]sbom.File, error) {
	var files []sbom.File
	var walk func(dir string) error
	walk = func(dir string) error {
		entries, err := image.ReadDir(ctx, gwclient.ReadDirRequest{Path: dir})
		if err != nil {
			return err
		}
		for _, e := range entries {
			p := path.Join(dir, e.Path)
			mode := os.FileMode(e.Mode)
			switch {
			case p == "/nix/store":
			case mode.IsDir():
				if err := walk(p); err != nil {
					return err
				}
			case mode.IsRegular():
				data, err := image.ReadFile(ctx, gwclient.ReadRequest{Filename: p})
				if err != nil {
					return err
				}
				sum1, sum256 := sha1.Sum(data), sha256.Sum256(data) //nolint:gosec
				files = append(files, sbom.File{
					Path: p, SHA1: hex.EncodeToString(sum1[:]), SHA256: hex.EncodeToString(sum256[:]),
					Origin: fileOrigin(p, copies),
				})
			}
		}
		return nil
	}
	if err := walk("/"); err != nil {
		return nil, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// fileOrigin says which part of the image a file outside the store comes from.
func fileOrigin(file string, copies []laingfile.Copy) string {
	for i := len(copies) - 1; i >= 0; i-- {
		dst := path.Clean("/" + copies[i].Dst)
		if file == dst || strings.HasPrefix(file, strings.TrimSuffix(dst, "/")+"/") {
			return "copy: " + copies[i].Src
		}
	}
	return "customisation"
}
