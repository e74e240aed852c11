package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// imageLayer is one layer of an image as a user reads it.
type imageLayer struct {
	Digest v1.Hash
	Size   int64  // compressed: what a pull downloads
	What   string // the store paths, or what else the layer is
}

// imageLayers is an image's name and layers.
type imageLayers struct {
	Name   string
	Layers []imageLayer
}

func (im imageLayers) size() int64 {
	var n int64
	for _, l := range im.Layers {
		n += l.Size
	}
	return n
}

func layersCommand(w io.Writer, refs []string, platform string) error {
	p, err := parsePlatform(platform)
	if err != nil {
		return err
	}
	var images []imageLayers
	for _, ref := range refs {
		img, err := loadImage(ref, p)
		if err != nil {
			return err
		}
		il, err := describeLayers(ref, img)
		if err != nil {
			return fmt.Errorf("%s: %w", ref, err)
		}
		images = append(images, il)
	}
	for _, im := range images {
		printLayers(w, im)
	}
	if len(images) > 1 {
		printSharing(w, images)
	}
	return nil
}

// parsePlatform reads a --platform value such as linux/arm64.
func parsePlatform(platform string) (v1.Platform, error) {
	p, err := platforms.Parse(platform)
	if err != nil {
		return v1.Platform{}, fmt.Errorf("--platform %q: %w", platform, err)
	}
	return v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}, nil
}

// imageSource is what an image reference names: an index to pick a platform's image from
// (with the tag to look for among an OCI layout's entries), or a single image.
type imageSource struct {
	index v1.ImageIndex
	tag   string
	image v1.Image
}

// openImage reads what ref names, from a registry or an OCI layout (oci-layout://DIR[:TAG]).
func openImage(ref string, p v1.Platform) (imageSource, error) {
	if dir, ok := strings.CutPrefix(ref, "oci-layout://"); ok {
		tag := ""
		if i := strings.LastIndex(dir, ":"); i > 0 {
			dir, tag = dir[:i], dir[i+1:]
		}
		lp, err := layout.FromPath(dir)
		if err != nil {
			return imageSource{}, fmt.Errorf("%s: %w", ref, err)
		}
		idx, err := lp.ImageIndex()
		if err != nil {
			return imageSource{}, err
		}
		return imageSource{index: idx, tag: tag}, nil
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return imageSource{}, fmt.Errorf("%q is not an image reference: %w", ref, err)
	}
	desc, err := remote.Get(r, remote.WithPlatform(p))
	if err != nil {
		return imageSource{}, fmt.Errorf("fetching %s: %w", ref, err)
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return imageSource{}, err
		}
		return imageSource{index: idx}, nil
	}
	img, err := desc.Image()
	if err != nil {
		return imageSource{}, err
	}
	return imageSource{image: img}, nil
}

// loadImage reads an image from a registry or an OCI layout, picking the platform from an index.
func loadImage(ref string, p v1.Platform) (v1.Image, error) {
	src, err := openImage(ref, p)
	if err != nil {
		return nil, err
	}
	if src.image != nil {
		return src.image, nil
	}
	holder, desc, err := findImage(src.index, p, src.tag)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	return holder.Image(desc.Digest)
}

// findImage finds the image for a platform (and tag, in an OCI layout) in an index, descending
// into nested indexes. It returns the index that lists the image: its attestations are there too.
func findImage(idx v1.ImageIndex, p v1.Platform, tag string) (v1.ImageIndex, v1.Descriptor, error) {
	var others []string
	holder, desc, found, err := searchIndex(idx, p, tag, &others)
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	if !found {
		if tag != "" && len(others) == 0 {
			return nil, v1.Descriptor{}, fmt.Errorf("no image tagged %q for %s", tag, p)
		}
		if len(others) > 0 {
			return nil, v1.Descriptor{}, fmt.Errorf("no image for %s (it has %s): choose one with --platform", p, strings.Join(others, ", "))
		}
		return nil, v1.Descriptor{}, fmt.Errorf("no image for %s", p)
	}
	return holder, desc, nil
}

// searchIndex is findImage's walk; it adds the platforms it passes over to others.
func searchIndex(idx v1.ImageIndex, p v1.Platform, tag string, others *[]string) (v1.ImageIndex, v1.Descriptor, bool, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, v1.Descriptor{}, false, err
	}
	for _, d := range m.Manifests {
		if tag != "" && d.Annotations["org.opencontainers.image.ref.name"] != tag {
			continue
		}
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, v1.Descriptor{}, false, err
			}
			if holder, desc, found, err := searchIndex(child, p, "", others); err != nil || found {
				return holder, desc, found, err
			}
		case d.MediaType.IsImage():
			if d.Platform == nil || d.Platform.Satisfies(p) {
				return idx, d, true, nil
			}
			// Attestation manifests are unknown/unknown: not a platform to offer.
			if d.Platform.OS != "unknown" {
				*others = append(*others, d.Platform.String())
			}
		}
	}
	return nil, v1.Descriptor{}, false, nil
}

// describeLayers pairs each layer with its history entry: the frontend writes one per layer.
func describeLayers(ref string, img v1.Image) (imageLayers, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return imageLayers{}, err
	}
	layers, err := img.Layers()
	if err != nil {
		return imageLayers{}, err
	}
	var history []v1.History
	for _, h := range cfg.History {
		if !h.EmptyLayer {
			history = append(history, h)
		}
	}
	out := imageLayers{Name: ref}
	for i, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return imageLayers{}, err
		}
		size, err := l.Size()
		if err != nil {
			return imageLayers{}, err
		}
		what := "(no history)"
		if i < len(history) {
			what = describeHistory(history[i].CreatedBy)
		}
		out.Layers = append(out.Layers, imageLayer{Digest: d, Size: size, What: what})
	}
	return out, nil
}

// describeHistory shortens "nix: /nix/store/<hash>-a /nix/store/<hash>-b" to the names.
func describeHistory(createdBy string) string {
	paths, ok := strings.CutPrefix(createdBy, "nix: ")
	if !ok {
		return strings.TrimPrefix(createdBy, "laingfile: ")
	}
	fields := strings.Fields(paths)
	var names []string
	for _, p := range fields {
		names = append(names, storeName(p))
	}
	const shown = 4
	if len(names) > shown {
		return fmt.Sprintf("%s and %d more", strings.Join(names[:shown], " "), len(names)-shown)
	}
	if len(names) == 1 {
		return fields[0]
	}
	return strings.Join(names, " ")
}

// storeName is the store path without directory and hash.
func storeName(p string) string {
	base := p[strings.LastIndex(p, "/")+1:]
	if i := strings.IndexByte(base, '-'); i >= 0 {
		return base[i+1:]
	}
	return base
}

func printLayers(w io.Writer, im imageLayers) {
	fmt.Fprintf(w, "%s: %d layers, %s\n", im.Name, len(im.Layers), humanBytes(im.size()))
	for i, l := range im.Layers {
		fmt.Fprintf(w, "%4d %10s  %s  %s\n", i+1, humanBytes(l.Size), l.Digest.Hex[:12], l.What)
	}
	fmt.Fprintln(w)
}

// printSharing prints the layer bytes all images share, and for each ordered pair what a pull
// of the second downloads when the first is present.
func printSharing(w io.Writer, images []imageLayers) {
	inAll := map[v1.Hash]int{}
	sizes := map[v1.Hash]int64{}
	for _, im := range images {
		seen := map[v1.Hash]bool{}
		for _, l := range im.Layers {
			if !seen[l.Digest] {
				seen[l.Digest] = true
				inAll[l.Digest]++
				sizes[l.Digest] = l.Size
			}
		}
	}
	var shared int64
	for d, n := range inAll {
		if n == len(images) {
			shared += sizes[d]
		}
	}
	fmt.Fprintf(w, "shared by all %d images: %s\n\n", len(images), humanBytes(shared))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "present\tpull\tdownloads\tof\treused")
	for _, a := range images {
		have := map[v1.Hash]bool{}
		for _, l := range a.Layers {
			have[l.Digest] = true
		}
		for _, b := range images {
			if a.Name == b.Name {
				continue
			}
			var download int64
			for _, l := range b.Layers {
				if !have[l.Digest] {
					download += l.Size
				}
			}
			total := b.size()
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.0f%%\n", a.Name, b.Name, humanBytes(download), humanBytes(total), 100*float64(total-download)/float64(max(total, 1)))
		}
	}
	tw.Flush()
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
