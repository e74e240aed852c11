// Command buildkitimage assembles a BuildKit image equivalent to moby/buildkit:<version> from
// binaries built on this machine (hack/buildkit-image.sh builds them) without a Docker daemon,
// a base image or the network, and pushes it unless the registry already has the same index.
//
// The layout follows moby/buildkit's Dockerfile (target buildkit-linux): buildkitd, buildctl
// and runc as buildkit-runc in /usr/bin, PATH as in Alpine, BUILDKIT_SETUP_CGROUPV2_ROOT=1,
// the CDI directories, a volume at /var/lib/buildkit and buildkitd as the entrypoint. buildx's
// docker-container driver needs no more: it runs the entrypoint with its flags and execs
// `buildctl debug workers`, `buildkitd --version` and `buildctl dial-stdio` in the container.
//
// Two layers per platform: one that all platforms share (directories, /etc/passwd and
// /etc/group, the CA bundle) and one with the platform's binaries. Fixed times and owners make
// the same binaries give the same digests.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/containerd/platforms"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/laingville/laingfile/hack/internal/ociindex"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// files is the repeated -file PLATFORM:PATH=SOURCE flag.
type files map[string]map[string]string

func (f files) String() string { return fmt.Sprint(map[string]map[string]string(f)) }

func (f files) Set(v string) error {
	plat, rest, ok := strings.Cut(v, ":")
	dst, src, ok2 := strings.Cut(rest, "=")
	if !ok || !ok2 || plat == "" || dst == "" || src == "" {
		return fmt.Errorf("want PLATFORM:PATH=SOURCE, got %q", v)
	}
	if f[plat] == nil {
		f[plat] = map[string]string{}
	}
	f[plat][strings.TrimPrefix(dst, "/")] = src
	return nil
}

func main() {
	bins := files{}
	flag.Var(bins, "file", "PLATFORM:PATH=SOURCE: put SOURCE at PATH in the image for PLATFORM (repeat; the platforms are those named)")
	push := flag.String("push", "", "push the image to this reference (unless it already has this index)")
	ociDir := flag.String("oci-layout", "", "write the image to this OCI layout directory")
	version := flag.String("version", "", "BuildKit version (the image's version label)")
	runcVersion := flag.String("runc-version", "", "runc version (a label)")
	caBundle := flag.String("ca-bundle", "", "CA certificates to install as /etc/ssl/certs/ca-certificates.crt")
	flag.Parse()
	if (*push == "" && *ociDir == "") || *version == "" || len(bins) == 0 {
		fmt.Fprintln(os.Stderr, "buildkitimage: give -version, -file PLATFORM:PATH=SOURCE..., and -push REF and/or -oci-layout DIR")
		os.Exit(2)
	}
	if err := run(context.Background(), bins, *push, *ociDir, *version, *runcVersion, *caBundle); err != nil {
		fmt.Fprintln(os.Stderr, "buildkitimage:", err)
		os.Exit(1)
	}
}

var epoch = time.Unix(0, 0).UTC()

const pathEnv = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func run(ctx context.Context, bins files, push, ociDir, version, runcVersion, caBundle string) error {
	base, err := baseLayer(caBundle)
	if err != nil {
		return err
	}
	plats := make([]string, 0, len(bins))
	for p := range bins {
		plats = append(plats, p)
	}
	sort.Strings(plats)
	var images []ociindex.Image
	for _, p := range plats {
		plat, err := platforms.Parse(p)
		if err != nil {
			return err
		}
		img, err := image(plat, base, bins[p], version, runcVersion)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		d, err := img.Digest()
		if err != nil {
			return err
		}
		fmt.Printf("==> %s: %s\n", platforms.Format(plat), d)
		images = append(images, ociindex.Image{Platform: plat, Image: img})
	}
	d, err := ociindex.Publish(ctx, images, push, ociDir)
	if err != nil {
		return err
	}
	fmt.Printf("==> buildkit image %s\n", d)
	return nil
}

// entry is one file, directory or symbolic link of a layer.
type entry struct {
	hdr  tar.Header
	data []byte
}

func dir(p string, mode int64) entry {
	return entry{hdr: tar.Header{Name: p + "/", Typeflag: tar.TypeDir, Mode: mode}}
}

func file(p string, mode int64, data []byte) entry {
	return entry{hdr: tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(data))}, data: data}
}

func symlink(p, target string) entry {
	return entry{hdr: tar.Header{Name: p, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}}
}

// baseLayer is what every platform shares: the directories of moby/buildkit's image that
// buildkitd and the docker-container driver use, root's entries in /etc/passwd and
// /etc/group, and the CA bundle for registries with TLS.
func baseLayer(caBundle string) (v1.Layer, error) {
	entries := []entry{
		dir("etc", 0o755),
		dir("etc/buildkit", 0o755),
		dir("etc/buildkit/cdi", 0o755),
		dir("etc/cdi", 0o755),
		file("etc/group", 0o644, []byte("root:x:0:root\nnogroup:x:65533:\n")),
		file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n")),
		dir("root", 0o700),
		dir("run", 0o755),
		dir("run/cdi", 0o755),
		dir("tmp", 0o1777),
		dir("usr", 0o755),
		dir("usr/bin", 0o755),
		dir("var", 0o755),
		dir("var/lib", 0o755),
		dir("var/lib/buildkit", 0o711),
		symlink("var/run", "../run"),
	}
	if caBundle != "" {
		data, err := os.ReadFile(caBundle)
		if err != nil {
			return nil, err
		}
		entries = append(entries, dir("etc/ssl", 0o755), dir("etc/ssl/certs", 0o755),
			file("etc/ssl/certs/ca-certificates.crt", 0o644, data))
	}
	return layer(entries)
}

// binaryLayer holds a platform's binaries (PATH in the image → file on this machine).
func binaryLayer(bins map[string]string) (v1.Layer, error) {
	var entries []entry
	for dst, src := range bins {
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		entries = append(entries, file(dst, 0o755, data))
	}
	return layer(entries)
}

// layer writes the entries sorted by name, owned by root, with a fixed time.
func layer(entries []entry) (v1.Layer, error) {
	sort.Slice(entries, func(i, j int) bool { return entries[i].hdr.Name < entries[j].hdr.Name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		h.ModTime, h.Format = epoch, tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return ociindex.TarLayer(buf.Bytes())
}

func image(plat ocispecs.Platform, base v1.Layer, bins map[string]string, version, runcVersion string) (v1.Image, error) {
	binLayer, err := binaryLayer(bins)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(bins))
	for p := range bins {
		names = append(names, "/"+p)
	}
	sort.Strings(names)
	return ociindex.NewImage(plat, epoch, []ociindex.Layer{
		{Layer: base, CreatedBy: "hack/buildkitimage: directories, /etc/passwd, /etc/group, CA certificates"},
		{Layer: binLayer, CreatedBy: "hack/buildkitimage: " + strings.Join(names, " ")},
	}, func(c *v1.Config) {
		c.Env = []string{pathEnv, "BUILDKIT_SETUP_CGROUPV2_ROOT=1"}
		c.Entrypoint = []string{"buildkitd"}
		c.Volumes = map[string]struct{}{"/var/lib/buildkit": {}}
		c.Labels = map[string]string{
			"org.opencontainers.image.title":       "BuildKit",
			"org.opencontainers.image.description": "moby/buildkit " + version + " assembled offline by laingfile's hack/buildkit-image.sh (runc " + runcVersion + " as buildkit-runc)",
			"org.opencontainers.image.version":     version,
			"org.opencontainers.image.source":      "https://github.com/moby/buildkit",
		}
	})
}
