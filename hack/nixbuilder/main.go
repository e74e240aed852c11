// Command nixbuilder assembles the test Nix builder image, a stand-in for
// docker.io/nixos/nix:2.28.3 built offline from Debian's packages.
//
// For each architecture it writes the relocatable trees the fixture nixpkgs
// universe copies into its own store paths:
//
//	<bootstrap>/<system>/nix      bin/nix (launcher) + bin/nix-*, libexec/nix, lib/
//	<bootstrap>/<system>/busybox  bin/busybox (static), bin/sh and applets -> busybox
//	<bootstrap>/<system>/glibc    lib/: the glibc loader, libc.so.6, libm.so.6, ...
//	<bootstrap>/<system>/gcc-lib  lib/: libstdc++.so.6, libgcc_s.so.1
//
// and an image with the layout of the real builder (Nix's docker.nix): nix,
// busybox, bash, curl, git, openssh and a CA bundle as store paths named after
// their content, a default profile with the real image's commands (and no
// others), a Nix database registering them, docker.nix's accounts, nix.conf and
// Env. Every layer is deterministic, so a rerun gives the same digests. The
// images are joined in an OCI index and, with -push, written to a registry.
//
//	nixbuilder -arch amd64=ROOT,LAUNCHER -arch arm64=ROOT,LAUNCHER \
//	  -bootstrap DIR -work DIR [-push REF]
//	nixbuilder -resolve REF    prints the digest REF has in its registry
package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
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
		bootstrap = flag.String("bootstrap", "", "directory for the <system>/{nix,busybox,glibc,gcc-lib} trees")
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
	for _, pkg := range []string{"nix-bin", "busybox-static", "bash", "curl", "git", "openssh-client", "ca-certificates"} {
		if versions[pkg] == "" {
			return nil, fmt.Errorf("%s/.packages lacks %s", a.root, pkg)
		}
	}
	sysDir := filepath.Join(bootstrap, system)
	// The trees the fixture nixpkgs copies: nix and busybox are also in the image,
	// glibc and gcc-lib only go into the fixture's glibc and gcc lib outputs.
	nixTree, err := refreshTree(filepath.Join(sysDir, "nix"), func(dst string) error { return writeNixTree(a, dst) })
	if err != nil {
		return nil, err
	}
	bbTree, err := refreshTree(filepath.Join(sysDir, "busybox"), func(dst string) error { return writeBusyboxTree(a, dst) })
	if err != nil {
		return nil, err
	}
	if _, err := refreshTree(filepath.Join(sysDir, "glibc"), func(dst string) error { return writeGlibcTree(a, dst) }); err != nil {
		return nil, err
	}
	if _, err := refreshTree(filepath.Join(sysDir, "gcc-lib"), func(dst string) error { return writeGccLibTree(a, dst) }); err != nil {
		return nil, err
	}
	archWork := filepath.Join(work, a.debian)
	// The image's other store paths are staged under the work directory.
	imageTree := func(name string, write func(string) error) (hashedTree, error) {
		return refreshTree(filepath.Join(archWork, "trees", name), write)
	}
	debTree := func(t debianTree) func(string) error {
		return func(dst string) error { return writeDebianTree(a, dst, t) }
	}
	var s imageStore
	s.nix = nixTree.storePath("nix-" + versions["nix-bin"])
	s.busybox = bbTree.storePath("busybox-static-" + versions["busybox-static"])
	for _, t := range []struct {
		sp    *storePath
		dir   string
		name  string
		write func(string) error
	}{
		{&s.bash, "bash", "bash-interactive-" + versions["bash"], debTree(bashTree)},
		{&s.curl, "curl", "curl-" + versions["curl"] + "-bin", debTree(curlTree)},
		{&s.git, "git", "git-" + versions["git"], debTree(gitTree)},
		{&s.openssh, "openssh", "openssh-" + versions["openssh-client"], debTree(sshTree)},
		{&s.cacert, "cacert", "nss-cacert-" + versions["ca-certificates"], func(dst string) error { return writeCACertTree(a, dst) }},
	} {
		tree, err := imageTree(t.dir, t.write)
		if err != nil {
			return nil, err
		}
		*t.sp = tree.storePath(t.name)
	}

	profileSrc := filepath.Join(archWork, "profile")
	if err := removeAll(profileSrc); err != nil {
		return nil, err
	}
	if err := writeProfile(profileSrc, s); err != nil {
		return nil, err
	}
	profile, err := hashTree(profileSrc)
	if err != nil {
		return nil, err
	}
	s.profile = profile
	paths := s.paths()
	for _, p := range paths {
		fmt.Printf("%s: %s (%s)\n", system, p.path, humanSize(p.narSize))
	}
	db, schema, err := registerStore(nixStore, filepath.Join(archWork, "store"), paths)
	if err != nil {
		return nil, err
	}
	return buildImage(a, versions["nix-bin"], paths, s, db, schema)
}

// imageStore is what the image's store holds.
type imageStore struct {
	nix, busybox, bash, curl, git, openssh, cacert storePath
	profile                                        hashedTree // the user environment, refs not set yet
}

// programs are the store paths the profile links into.
func (s imageStore) programs() []storePath {
	return []storePath{s.nix, s.busybox, s.bash, s.curl, s.git, s.openssh, s.cacert}
}

// profilePath is the user environment's store path; it refers to every program.
func (s imageStore) profilePath() storePath {
	t := s.profile
	for _, p := range s.programs() {
		t.refs = append(t.refs, p.path)
	}
	sort.Strings(t.refs)
	return t.storePath("user-environment")
}

// paths lists every store path of the image, each after its references.
func (s imageStore) paths() []storePath {
	return append(s.programs(), s.profilePath())
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
	v, _, _ = strings.Cut(v, "~") // 20250419~deb12u2: "~" is no store path character
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

// profileApplets are the busybox applets on PATH: only commands that the real
// image's default profile has too (coreutils-full, gnugrep, gnutar, gzip, which,
// less, wget, findutils), so that nothing works here that fails there (no sed,
// awk, xz, vi, diff, patch, hexdump, ...).
var profileApplets = []string{
	// coreutils-full
	"[", "base64", "basename", "cat", "chgrp", "chmod", "chown", "chroot", "cp", "cut",
	"date", "dd", "df", "dirname", "du", "echo", "env", "expand", "expr", "factor",
	"false", "fold", "groups", "head", "hostid", "id", "link", "ln", "logname", "ls",
	"md5sum", "mkdir", "mkfifo", "mknod", "mktemp", "mv", "nl", "nproc", "od", "paste",
	"printf", "pwd", "readlink", "realpath", "rm", "rmdir", "seq", "sha1sum", "sha256sum",
	"sha512sum", "shred", "shuf", "sleep", "sort", "stat", "stty", "sync", "tac", "tail",
	"tee", "test", "timeout", "touch", "tr", "true", "truncate", "tty", "uname",
	"unexpand", "uniq", "unlink", "wc", "who", "whoami", "yes",
	// gnugrep, gnutar, gzip, which, less, wget, findutils
	"grep", "egrep", "fgrep", "tar", "gzip", "gunzip", "zcat", "which", "less", "wget",
	"find", "xargs",
}

// gitCommands and sshCommands are the git and openssh commands on PATH.
var (
	gitCommands = []string{"git", "git-receive-pack", "git-shell", "git-upload-archive", "git-upload-pack"}
	sshCommands = []string{"scp", "sftp", "ssh", "ssh-add", "ssh-agent", "ssh-keygen", "ssh-keyscan"}
)

// writeProfile makes the default profile's content, like the buildEnv of the real
// image's packages: bin/ with their commands and etc/ssl/certs/ca-bundle.crt,
// linked into their store paths.
func writeProfile(dir string, s imageStore) error {
	links := map[string]string{
		"etc/ssl/certs/ca-bundle.crt": s.cacert.path + "/etc/ssl/certs/ca-bundle.crt",
		"bin/bash":                    s.bash.path + "/bin/bash",
		"bin/sh":                      s.bash.path + "/bin/sh",
		"bin/curl":                    s.curl.path + "/bin/curl",
	}
	add := func(store string, names []string) {
		for _, n := range names {
			links["bin/"+n] = store + "/bin/" + n
		}
	}
	add(s.nix.path, nixCommands)
	add(s.git.path, gitCommands)
	add(s.openssh.path, sshCommands)
	for _, n := range profileApplets {
		if _, dup := links["bin/"+n]; dup {
			return fmt.Errorf("%s is in the profile twice", n)
		}
		target := s.busybox.path + "/bin/busybox" // busybox runs the applet named like the link
		if _, err := os.Lstat(filepath.Join(s.busybox.src, "bin", n)); err == nil {
			target = s.busybox.path + "/bin/" + n
		}
		links["bin/"+n] = target
	}
	for _, name := range slices.Sorted(maps.Keys(links)) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(links[name], p); err != nil {
			return err
		}
	}
	return nil
}

func humanSize(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
