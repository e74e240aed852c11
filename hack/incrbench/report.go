package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/moby/buildkit/client"
)

// baseline is the host's account of the same work, and the sizes the goals compare with.
type baseline struct {
	old, grown     *realised
	newPaths       []string         // in grown's closure, not in old's
	nar            map[string]int64 // NAR bytes of every path realised
	compressAll    time.Duration    // tar | gzip -6 of old's closure
	compressNew    time.Duration    // of the new paths alone
	gzAll, gzNew   int64
	all            []string // every path realised: what the binary cache gets
	copyTook       time.Duration
	cacheBytes     int64 // the BuildKit cache case 1 exported
	cacheFiles     int
	images         map[string]*imageInfo // by case tag
	notes          []string
	oldNAR, newNAR int64
}

func (b *bench) baseline(ctx context.Context, files laingfiles) (*baseline, error) {
	fmt.Printf("==> baseline: the host's Nix into a fresh store (%s)\n", b.host.store)
	base := &baseline{images: map[string]*imageInfo{}}
	var err error
	if base.old, err = b.host.realise(ctx, b, "old", files.old); err != nil {
		return nil, err
	}
	if base.grown, err = b.host.realise(ctx, b, "grown", files.grown); err != nil {
		return nil, err
	}
	for _, p := range base.grown.closure {
		if !slices.Contains(base.old.closure, p) {
			base.newPaths = append(base.newPaths, p)
		}
	}
	if len(base.newPaths) == 0 {
		return nil, fmt.Errorf("adding %s adds no store path to %s (is it in the image already?)", b.add, b.target)
	}
	all := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(base.old.all), base.grown.all...))))
	if base.nar, err = b.host.narSizes(ctx, all); err != nil {
		return nil, err
	}
	for _, p := range base.old.closure {
		base.oldNAR += base.nar[p]
	}
	for _, p := range base.newPaths {
		base.newNAR += base.nar[p]
	}
	if base.compressAll, base.gzAll, err = b.host.compress(ctx, base.old.closure); err != nil {
		return nil, err
	}
	if base.compressNew, base.gzNew, err = b.host.compress(ctx, base.newPaths); err != nil {
		return nil, err
	}
	base.all = all
	fmt.Printf("    realised %d paths (%s) in %.1fs, then %d new paths (%s) in %.1fs\n",
		len(base.old.closure), mib(base.oldNAR), base.old.took.Seconds(), len(base.newPaths), mib(base.newNAR), base.grown.took.Seconds())
	return base, nil
}

// fillCache copies both closures into the binary cache.
func (b *bench) fillCache(ctx context.Context, base *baseline) error {
	fmt.Printf("==> binary cache %s: nix copy of both closures, signed\n", b.cache.url())
	var err error
	if base.copyTook, err = b.cache.fill(ctx, b.host, base.all); err != nil {
		return err
	}
	fmt.Printf("    %d paths in %.1fs\n", len(base.all), base.copyTook.Seconds())
	return nil
}

// noteCache measures the BuildKit cache case 1 exported.
func (base *baseline) noteCache(dir string) {
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				base.cacheBytes += info.Size()
				base.cacheFiles++
			}
		}
		return nil
	})
}

// imageInfo is a pushed image: its layers and the store paths its history names.
type imageInfo struct {
	layers     map[v1.Hash]int64 // compressed sizes
	storePaths map[string]bool
}

func (b *bench) fetchImage(ref string) (*imageInfo, error) {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return nil, err
	}
	platform, err := v1.ParsePlatform(b.platform)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(r, remote.WithPlatform(*platform))
	if err != nil {
		return nil, err
	}
	info := &imageInfo{layers: map[v1.Hash]int64{}, storePaths: map[string]bool{}}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, err
		}
		if info.layers[d], err = l.Size(); err != nil {
			return nil, err
		}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	// The store layers' history says `nix: PATH…` (laingfile2llb.StoreLayers).
	for _, h := range cfg.History {
		if rest, ok := strings.CutPrefix(h.CreatedBy, "nix: "); ok {
			for _, p := range strings.Fields(rest) {
				if strings.HasPrefix(p, "/nix/store/") {
					info.storePaths[p] = true
				}
			}
		}
	}
	return info, nil
}

// checkImages reads the pushed images and notes where they disagree with the host's closures
// or with each other.
func (b *bench) checkImages(base *baseline, cases []*caseResult) {
	for _, c := range cases {
		info, err := b.fetchImage(c.ref)
		if err != nil {
			base.notes = append(base.notes, fmt.Sprintf("case %s: cannot read the pushed image: %v", c.label, err))
			continue
		}
		base.images[c.tag] = info
	}
	compare := func(tag, label string, closure []string) {
		info := base.images[tag]
		if info == nil || len(info.storePaths) == 0 {
			return
		}
		var onlyHost, onlyImage []string
		for _, p := range closure {
			if !info.storePaths[p] {
				onlyHost = append(onlyHost, p)
			}
		}
		for p := range info.storePaths {
			if !slices.Contains(closure, p) {
				onlyImage = append(onlyImage, p)
			}
		}
		if len(onlyHost)+len(onlyImage) > 0 {
			base.notes = append(base.notes, fmt.Sprintf("case %s: the image's store paths are not the host's closure: %d only on the host (%s), %d only in the image (%s)",
				label, len(onlyHost), strings.Join(onlyHost[:min(3, len(onlyHost))], " "), len(onlyImage), strings.Join(onlyImage[:min(3, len(onlyImage))], " ")))
		}
	}
	compare("1-cold", "1", base.old.closure)
	compare("3-add", "3", base.grown.closure)
	if a, c := base.images["3-add"], base.images["4-fresh"]; a != nil && c != nil && !sameLayers(a, c) {
		base.notes = append(base.notes, "cases 3 and 4 built the same Laingfile change into different layers (expected the same digests)")
	}
	if a, c := base.images["1-cold"], base.images["2-cached"]; a != nil && c != nil && !sameLayers(a, c) {
		base.notes = append(base.notes, "cases 1 and 2 pushed different layers for the same Laingfile")
	}
}

func sameLayers(a, b *imageInfo) bool {
	if len(a.layers) != len(b.layers) {
		return false
	}
	for d := range a.layers {
		if _, ok := b.layers[d]; !ok {
			return false
		}
	}
	return true
}

// newLayers counts the layers of image tag that image of are lacking, and their compressed bytes.
func (base *baseline) newLayers(tag, of string) (int, int64, bool) {
	a, prev := base.images[tag], base.images[of]
	if a == nil || prev == nil {
		return 0, 0, false
	}
	n, size := 0, int64(0)
	for d, s := range a.layers {
		if _, ok := prev.layers[d]; !ok {
			n++
			size += s
		}
	}
	return n, size, true
}

// deleteImage deletes a pushed tag's manifest from the local registry (the blobs stay until
// the registry's garbage collection).
func deleteImage(ref string) error {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return err
	}
	desc, err := remote.Head(r)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return nil // never pushed
	}
	if err != nil {
		return err
	}
	return remote.Delete(r.Context().Digest(desc.Digest.String()))
}

// report prints the table, the baseline and the goals.
func (b *bench) report(base *baseline, cases []*caseResult, got fetched) {
	c1, c2, c3, c4 := cases[0], cases[1], cases[2], cases[3]
	fmt.Printf("\n%s %s, %s, fixture nixpkgs (%s profile), frontend %s\n", b.example, b.target, b.platform, b.profile, b.frontend)
	fmt.Printf("old closure %d store paths, %s NAR; + %s: %d new store paths, %s NAR\n",
		len(base.old.closure), mib(base.oldNAR), b.add, len(base.newPaths), mib(base.newNAR))
	for _, c := range cases {
		fmt.Printf("  case %-18s %s\n", c.label+":", c.about)
	}
	fmt.Println()

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "case\twall\tno step\tnix step\tlayer steps\tunpack\texport (compress / push)\tcache out\tlayers run\tnew layers")
	for _, c := range cases {
		ran, total := c.layers()
		newLayers := "-"
		if c.tag != "1-cold" {
			if n, size, ok := base.newLayers(c.tag, "1-cold"); ok {
				newLayers = fmt.Sprintf("%d, %s", n, mib(size))
			}
		} else if info := base.images[c.tag]; info != nil {
			var size int64
			for _, s := range info.layers {
				size += s
			}
			newLayers = fmt.Sprintf("%d, %s", len(info.layers), mib(size))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s (%s / %s)\t%s\t%d/%d\t%s\n", c.label, secs(c.wall), secs(c.idle()),
			span(c, isNix), span(c, isLayer), secs(c.statusSpan("extracting")), span(c, isExport),
			secs(c.statusSpan("exporting layers")), secs(c.statusSpan("pushing layers")),
			span(c, isCacheOut), ran, total, newLayers)
	}
	w.Flush()
	fmt.Println(`  A step column is the time during which at least one such step ran, not from the cache ("-": none ran);`)
	fmt.Println(`  "no step": wall time when no step ran (buildx, the frontend's own work, solving); "unpack": BuildKit`)
	fmt.Println(`  extracting image layers and cached results; "layers run": store layers whose steps ran; "new layers":`)
	fmt.Println(`  the image's layers not in case 1's image, compressed (case 1: all of its layers).`)
	fmt.Println("\nNix step (nixsets/build.sh's account)")
	for _, c := range cases {
		fmt.Printf("  case %-18s %s\n", c.label+":", c.nixSummary())
	}

	fmt.Printf("\nbaseline: host Nix (%s) into a fresh store, tar | gzip -6\n", nixVersion())
	fmt.Printf("  realise the closure     %6.1fs  %d paths, %s NAR\n", base.old.took.Seconds(), len(base.old.closure), mib(base.oldNAR))
	fmt.Printf("  compress the closure    %6.1fs  %s gzip\n", base.compressAll.Seconds(), mib(base.gzAll))
	fmt.Printf("  realise the new paths   %6.1fs  %d paths, %s NAR (with the old closure in the store)\n", base.grown.took.Seconds(), len(base.newPaths), mib(base.newNAR))
	fmt.Printf("  compress the new paths  %6.1fs  %s gzip\n", base.compressNew.Seconds(), mib(base.gzNew))

	fmt.Printf("\nBuildKit cache exported by case 1 (type=local, mode=max): %s in %d files; %s preparing it, %s sending it\n",
		mib(base.cacheBytes), base.cacheFiles, secs(c1.statusSpan("preparing build cache for export")), secs(c1.statusSpan("sending cache export")))

	fmt.Printf("\nbinary cache %s\n  named in every case; filled after case 3 with %d paths (nix copy, zstd, signed) in %.1fs\n",
		b.cache.url(), len(base.all), base.copyTook.Seconds())
	wire := "unknown"
	if got.wireBytes >= 0 {
		wire = mib(got.wireBytes)
	}
	fmt.Printf("  during case 4: %d narinfo and %d NAR requests served; %d store paths (from %s), %s NAR, %s sent\n",
		got.narinfos, got.nars, got.paths, got.source, mib(got.narBytes), wire)

	fmt.Printf("\nslowest steps (not from the cache)\n")
	for _, c := range cases {
		fmt.Printf("  case %s\n", c.label)
		for _, s := range c.slowest(5) {
			fmt.Printf("    %s\n", s)
		}
	}
	for _, c := range cases {
		if n := c.errors(); n > 0 {
			base.notes = append(base.notes, fmt.Sprintf("case %s: buildx printed %d ERROR lines, yet the build succeeded (e.g. %q)", c.label, n, firstError(c)))
		}
	}
	if len(base.notes) > 0 {
		fmt.Printf("\nnotes\n")
		for _, n := range base.notes {
			fmt.Printf("  %s\n", n)
		}
	}

	coldWall := c1.wall - c1.span(isCacheOut)
	coldBase := base.old.took + base.compressAll
	warmBase := base.grown.took + base.compressNew
	fmt.Printf("\ngoals\n")
	w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	goal(w, "cold", fmt.Sprintf("%s (wall %s - cache out %s) vs 1.3 x (%s realise + %s compress) = %s",
		secs(coldWall), secs(c1.wall), secs(c1.span(isCacheOut)), secs(base.old.took), secs(base.compressAll), secs(coldBase*13/10)),
		ratio(coldWall, coldBase), 1.3)
	goal(w, "fully cached", fmt.Sprintf("%s vs 1s", secs(c2.wall)), c2.wall.Seconds(), 1)
	goal(w, "warm add", fmt.Sprintf("%s vs 2 x (%s realise + %s compress the new paths) = %s",
		secs(c3.wall), secs(base.grown.took), secs(base.compressNew), secs(warmBase*2)), ratio(c3.wall, warmBase), 2)
	goal(w, "fresh runner", fmt.Sprintf("%s NAR fetched vs 1.1 x %s NAR of the new paths = %s (case 4 wall %s)",
		mib(got.narBytes), mib(base.newNAR), mib(base.newNAR*11/10), secs(c4.wall)), float64(got.narBytes)/float64(base.newNAR), 1.1)
	w.Flush()
}

func goal(w *tabwriter.Writer, name, detail string, got, limit float64) {
	verdict := "PASS"
	if got > limit {
		verdict = "MISS"
	}
	fmt.Fprintf(w, "  %s\t%s\t%.2f (goal <= %g)\t%s\n", verdict, name, got, limit, detail)
}

func span(c *caseResult, match func(*client.Vertex) bool) string {
	if !c.ran(match) {
		return "-"
	}
	return secs(c.span(match))
}

func ratio(a, b time.Duration) float64 { return a.Seconds() / b.Seconds() }

func secs(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func nixVersion() string {
	out, err := command(context.Background(), "nix-build", "--version")
	if err != nil {
		return "nix-build"
	}
	return strings.TrimSpace(out)
}

func firstError(c *caseResult) string {
	for _, l := range c.text {
		if strings.HasPrefix(l, "ERROR: ") {
			if len(l) > 160 {
				return l[:157] + "..."
			}
			return l
		}
	}
	return ""
}
