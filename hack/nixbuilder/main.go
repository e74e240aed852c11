// Command nixbuilder assembles the test Nix builder image, a stand-in for
// docker.io/nixos/nix built offline from Debian's nix-bin and busybox-static.
//
// For each architecture it writes two relocatable trees, the ones the fixture
// nixpkgs universe copies into its own store paths:
//
//	<bootstrap>/<system>/nix      bin/nix (launcher) + bin/nix-*, libexec/nix, lib/
//	<bootstrap>/<system>/busybox  bin/busybox (static), bin/sh and applets -> busybox
//
// and an image with the same layout as the real builder: both trees as store
// paths named after their content, a profile at /nix/var/nix/profiles/default,
// a Nix database registering them, /bin/sh and /usr/bin/env into the profile.
// Every layer is deterministic, so a rerun gives the same digests. The images are
// joined in an OCI index and, with -push, written to a registry.
//
//	nixbuilder -arch amd64=ROOT,LAUNCHER -arch arm64=ROOT,LAUNCHER \
//	  -bootstrap DIR -work DIR [-push REF]
//	nixbuilder -resolve REF    prints the digest REF has in its registry
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/laingville/laingfile/internal/nar"
)

type archFlag []arch

func (f *archFlag) String() string { return fmt.Sprint(*f) }

func (f *archFlag) Set(v string) error {
	debArch, rest, ok := strings.Cut(v, "=")
	root, launcher, ok2 := strings.Cut(rest, ",")
	if !ok || !ok2 || debArch == "" || root == "" || launcher == "" {
		return fmt.Errorf("want ARCH=ROOT,LAUNCHER, got %q", v)
	}
	*f = append(*f, arch{debian: debArch, root: root, launcher: launcher})
	return nil
}

func main() {
	var (
		arches    archFlag
		bootstrap = flag.String("bootstrap", "", "directory for the <system>/{nix,busybox} trees")
		work      = flag.String("work", "", "scratch directory (chroot stores for registration)")
		push      = flag.String("push", "", "push the index to this reference (plain http allowed)")
		resolve   = flag.String("resolve", "", "print the digest this reference has in its registry and exit")
		nixStore  = flag.String("nix-store", "nix-store", "host nix-store used to register the store paths")
	)
	flag.Var(&arches, "arch", "ARCH=ROOT,LAUNCHER: Debian architecture, extracted packages, launcher binary (repeat)")
	flag.Parse()
	ctx := context.Background()
	var err error
	if *resolve != "" {
		err = printDigest(ctx, *resolve)
	} else {
		err = run(ctx, arches, *bootstrap, *work, *push, *nixStore)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "nixbuilder: %v\n", err)
		os.Exit(1)
	}
}

func printDigest(ctx context.Context, ref string) error {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return err
	}
	desc, err := remote.Head(r, remote.WithContext(ctx))
	if err != nil {
		return err
	}
	fmt.Println(desc.Digest)
	return nil
}

func run(ctx context.Context, arches []arch, bootstrap, work, push, nixStore string) error {
	if len(arches) == 0 || bootstrap == "" || work == "" {
		return fmt.Errorf("need -arch (at least once), -bootstrap and -work")
	}
	images := map[string]v1.Image{}
	var order []string
	for _, a := range arches {
		img, err := buildArch(a, bootstrap, work, nixStore)
		if err != nil {
			return fmt.Errorf("%s: %w", a.debian, err)
		}
		d, err := img.Digest()
		if err != nil {
			return err
		}
		fmt.Printf("image linux/%s %s\n", a.debian, d)
		images[a.debian] = img
		order = append(order, a.debian)
	}
	idx, err := buildIndex(images, order)
	if err != nil {
		return err
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	if push != "" {
		ref, err := name.ParseReference(push, name.Insecure)
		if err != nil {
			return err
		}
		if err := remote.WriteIndex(ref, idx, remote.WithContext(ctx)); err != nil {
			return fmt.Errorf("pushing %s: %w", push, err)
		}
		fmt.Printf("pushed %s@%s\n", push, d)
	}
	fmt.Printf("index %s\n", d)
	return nil
}

// buildArch refreshes the bootstrap trees of one architecture and builds its image.
func buildArch(a arch, bootstrap, work, nixStore string) (v1.Image, error) {
	system, err := a.system()
	if err != nil {
		return nil, err
	}
	versions, err := packageVersions(filepath.Join(a.root, ".packages"))
	if err != nil {
		return nil, err
	}
	nixVersion, bbVersion := versions["nix-bin"], versions["busybox-static"]
	if nixVersion == "" || bbVersion == "" {
		return nil, fmt.Errorf("%s/.packages lacks nix-bin or busybox-static", a.root)
	}
	sysDir := filepath.Join(bootstrap, system)
	nixTree, err := refreshTree(filepath.Join(sysDir, "nix"), func(dst string) error { return writeNixTree(a, dst) })
	if err != nil {
		return nil, err
	}
	bbTree, err := refreshTree(filepath.Join(sysDir, "busybox"), func(dst string) error { return writeBusyboxTree(a, dst) })
	if err != nil {
		return nil, err
	}
	nixPath := nixTree.storePath("nix-" + nixVersion)
	bbPath := bbTree.storePath("busybox-static-" + bbVersion)
	fmt.Printf("%s: %s (%s)\n%s: %s (%s)\n", system, nixPath.path, humanSize(nixPath.narSize), system, bbPath.path, humanSize(bbPath.narSize))

	archWork := filepath.Join(work, a.debian)
	profileSrc := filepath.Join(archWork, "profile")
	if err := removeAll(profileSrc); err != nil {
		return nil, err
	}
	if err := writeProfile(profileSrc, nixPath.path, bbPath.path); err != nil {
		return nil, err
	}
	profile, err := hashTree(profileSrc)
	if err != nil {
		return nil, err
	}
	profile.refs = []string{bbPath.path, nixPath.path}
	profilePath := profile.storePath("user-environment")

	paths := []storePath{bbPath, nixPath, profilePath}
	db, schema, err := registerStore(nixStore, filepath.Join(archWork, "store"), paths)
	if err != nil {
		return nil, err
	}
	return buildImage(a, nixVersion, paths, nixPath.path, profilePath.path, db, schema)
}

// packageVersions reads the name=version list hack/nix-builder.sh leaves in a
// root and returns upstream versions (no epoch, no Debian revision).
func packageVersions(file string) (map[string]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		pkg, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: bad line %q", file, line)
		}
		out[pkg] = upstreamVersion(v)
	}
	return out, nil
}

func upstreamVersion(v string) string {
	if _, after, ok := strings.Cut(v, ":"); ok {
		v = after
	}
	if i := strings.LastIndexByte(v, '-'); i > 0 {
		v = v[:i]
	}
	return v
}

// hashedTree is a directory with its NAR hash and size.
type hashedTree struct {
	dir     string
	refs    []string
	narHash [32]byte
	narSize int64
}

func hashTree(dir string) (hashedTree, error) {
	h, n, err := nar.Hash(dir)
	return hashedTree{dir: dir, narHash: h, narSize: n}, err
}

func (t hashedTree) storePath(name string) storePath {
	return storePath{
		path:    nar.SourceStorePath(name, t.narHash, t.refs),
		src:     t.dir,
		refs:    t.refs,
		narHash: t.narHash,
		narSize: t.narSize,
	}
}

// refreshTree writes a fresh tree next to dst and swaps it in only when its
// content differs, so a rerun leaves an unchanged tree (and whoever reads it) alone.
func refreshTree(dst string, write func(string) error) (hashedTree, error) {
	tmp := dst + ".new"
	if err := removeAll(tmp); err != nil {
		return hashedTree{}, err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return hashedTree{}, err
	}
	if err := write(tmp); err != nil {
		return hashedTree{}, err
	}
	fresh, err := hashTree(tmp)
	if err != nil {
		return hashedTree{}, err
	}
	if old, err := hashTree(dst); err == nil && old.narHash == fresh.narHash {
		return old, removeAll(tmp)
	}
	if err := removeAll(dst); err != nil {
		return hashedTree{}, err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return hashedTree{}, err
	}
	fresh.dir = dst
	return fresh, nil
}

// writeProfile makes the default profile's content: bin/ with every Nix command
// and busybox applet, linked into their store paths.
func writeProfile(dir, nixPath, bbPath string) error {
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	for _, c := range nixCommands {
		if err := os.Symlink(nixPath+"/bin/"+c, filepath.Join(bin, c)); err != nil {
			return err
		}
	}
	for _, c := range append([]string{"busybox"}, busyboxApplets...) {
		if err := os.Symlink(bbPath+"/bin/"+c, filepath.Join(bin, c)); err != nil {
			return err
		}
	}
	return nil
}

func humanSize(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
