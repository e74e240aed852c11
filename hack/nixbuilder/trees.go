package main

import (
	"crypto/sha256"
	"debug/elf"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// nixCommands are the names Nix answers to: it dispatches on the base name of
// argv[0], so each is a link to the launcher in bin/.
var nixCommands = []string{
	"nix", "nix-build", "nix-channel", "nix-collect-garbage", "nix-copy-closure",
	"nix-daemon", "nix-env", "nix-hash", "nix-instantiate", "nix-prefetch-url",
	"nix-shell", "nix-store",
}

// busyboxApplets are linked in the busybox tree's bin/: what the fixture
// nixpkgs' shell builders use. busybox picks the applet from the name it is run
// as. The image's profile links only profileApplets (main.go) into the tree.
var busyboxApplets = []string{
	"[", "ash", "awk", "base64", "basename", "bunzip2", "bzcat", "bzip2", "cat", "chgrp",
	"chmod", "chown", "cmp", "cp", "cpio", "cut", "date", "dd", "df", "diff",
	"dirname", "du", "echo", "egrep", "env", "expr", "false", "fgrep", "find", "fold",
	"getopt", "grep", "gunzip", "gzip", "head", "hexdump", "hostname", "id",
	"kill", "less", "ln", "ls", "md5sum", "mkdir", "mkfifo", "mktemp", "more", "mv", "nl",
	"nproc", "od", "paste", "patch", "printf", "ps", "pwd", "readlink", "realpath", "rev",
	"rm", "rmdir", "sed", "seq", "sh", "sha1sum", "sha256sum", "sha512sum", "sleep", "sort",
	"stat", "strings", "tac", "tail", "tar", "tee", "test", "timeout", "touch",
	"tr", "true", "truncate", "uname", "uniq", "unxz", "unzip", "vi", "wc", "which",
	"whoami", "xargs", "xxd", "xz", "xzcat", "yes", "zcat",
}

// arch describes one target: the Debian root its packages were extracted into and
// the launcher built for it.
type arch struct {
	debian   string // amd64, arm64
	root     string // extracted .debs
	launcher string // static launcher binary for this architecture
}

func (a arch) system() (string, error) {
	switch a.debian {
	case "amd64":
		return "x86_64-linux", nil
	case "arm64":
		return "aarch64-linux", nil
	}
	return "", fmt.Errorf("no Nix system for Debian architecture %q", a.debian)
}

func (a arch) triplet() string {
	if a.debian == "arm64" {
		return "aarch64-linux-gnu"
	}
	return "x86_64-linux-gnu"
}

func (a arch) machine() elf.Machine {
	if a.debian == "arm64" {
		return elf.EM_AARCH64
	}
	return elf.EM_X86_64
}

// writeNixTree lays out the relocatable Nix tree at dst:
//
//	bin/nix                the launcher; bin/nix-* link to it
//	libexec/nix            Debian's Nix binary, unchanged
//	libexec/build-remote   link to ../bin/nix (a build hook, if one is wanted)
//	libexec/lib/           the glibc loader and every shared library Nix needs
//
// The launcher finds the tree from its own path and runs
// libexec/lib/<loader> --library-path libexec/lib --argv0 <argv[0]> libexec/nix,
// so nothing in the tree depends on where it is placed. The libraries are the
// program's own, not lib/: in a profile that holds the tree (the fixture's nix
// package), they must not stand in for a glibc the image does not have.
func writeNixTree(a arch, dst string) error {
	nixBin := filepath.Join(a.root, "usr/bin/nix")
	libs, interp, err := sharedLibraryClosure(a, nixBin, dlopened)
	if err != nil {
		return err
	}
	if err := copyFile(a.launcher, filepath.Join(dst, "bin/nix"), 0o755); err != nil {
		return err
	}
	for _, name := range nixCommands[1:] {
		if err := os.Symlink("nix", filepath.Join(dst, "bin", name)); err != nil {
			return err
		}
	}
	if err := copyFile(nixBin, filepath.Join(dst, "libexec/nix"), 0o755); err != nil {
		return err
	}
	if err := os.Symlink("../bin/nix", filepath.Join(dst, "libexec/build-remote")); err != nil {
		return err
	}
	if _, ok := libs[interp]; !ok {
		return fmt.Errorf("loader %s not found in %s", interp, a.root)
	}
	return writePrivateLibs(dst, libs, interp)
}

// dlopened are libraries Nix loads at run time rather than through DT_NEEDED:
// before a build it dlopens glibc's NSS modules (warning "unable to load nss_dns
// backend" without them). The loader's --library-path serves dlopen as well.
var dlopened = []string{"libnss_dns.so.2", "libnss_files.so.2"}

// sharedLibraryClosure walks DT_NEEDED from bin (plus the dlopen names), resolving each name inside the
// Debian root the way the loader would (RUNPATH, then the multiarch and plain
// library directories), and returns soname -> file plus the loader's soname.
func sharedLibraryClosure(a arch, bin string, dlopen []string) (map[string]string, string, error) {
	f, err := elf.Open(bin)
	if err != nil {
		return nil, "", err
	}
	interp, err := interpreter(f)
	f.Close()
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", bin, err)
	}
	interpFile, err := resolveInRoot(a.root, interp)
	if err != nil {
		return nil, "", err
	}
	libs := map[string]string{path.Base(interp): interpFile}
	queue := []string{bin}
	for first := true; len(queue) > 0; first = false {
		file := queue[0]
		queue = queue[1:]
		needed, runpath, err := dynamicInfo(file, a.machine())
		if err != nil {
			return nil, "", err
		}
		if first {
			needed = append(needed, dlopen...)
		}
		dirs := append(runpath, "/lib/"+a.triplet(), "/usr/lib/"+a.triplet(), "/lib", "/usr/lib")
		for _, soname := range needed {
			if _, done := libs[soname]; done {
				continue
			}
			found := ""
			for _, dir := range dirs {
				if p, err := resolveInRoot(a.root, path.Join(dir, soname)); err == nil {
					found = p
					break
				}
			}
			if found == "" {
				return nil, "", fmt.Errorf("%s needs %s, which no extracted package provides", file, soname)
			}
			libs[soname] = found
			queue = append(queue, found)
		}
	}
	return libs, path.Base(interp), nil
}

func interpreter(f *elf.File) (string, error) {
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, err := io.ReadAll(p.Open())
			if err != nil {
				return "", err
			}
			return strings.TrimRight(string(b), "\x00"), nil
		}
	}
	return "", fmt.Errorf("not a dynamically linked executable")
}

func dynamicInfo(file string, want elf.Machine) (needed, runpath []string, err error) {
	f, err := elf.Open(file)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if f.Machine != want {
		return nil, nil, fmt.Errorf("%s is for %v, not %v", file, f.Machine, want)
	}
	if needed, err = f.DynString(elf.DT_NEEDED); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		vals, err := f.DynString(tag)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", file, err)
		}
		for _, v := range vals {
			runpath = append(runpath, strings.Split(v, ":")...)
		}
	}
	return needed, runpath, nil
}

// resolveInRoot follows p (an absolute path as seen inside root) through
// symlinks, component by component, so that absolute link targets (Debian's
// /lib64/ld-linux-x86-64.so.2) stay inside root, and returns the regular file.
func resolveInRoot(root, p string) (string, error) {
	rest := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	cur := "/"
	for hops := 0; len(rest) > 0; {
		next := path.Join(cur, rest[0])
		full := filepath.Join(root, next)
		fi, err := os.Lstat(full)
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			cur, rest = next, rest[1:]
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("%s: too many levels of symbolic links in %s", p, root)
		}
		target, err := os.Readlink(full)
		if err != nil {
			return "", err
		}
		if !path.IsAbs(target) {
			target = path.Join(cur, target)
		}
		rest = append(strings.Split(strings.Trim(path.Clean(target), "/"), "/"), rest[1:]...)
		cur = "/"
	}
	full := filepath.Join(root, cur)
	fi, err := os.Stat(full)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", full)
	}
	return full, nil
}

// writeBusyboxTree lays out bin/busybox (static) with bin/sh and the applets as
// relative links to it.
func writeBusyboxTree(a arch, dst string) error {
	src := filepath.Join(a.root, "bin/busybox")
	f, err := elf.Open(src)
	if err != nil {
		return err
	}
	machine := f.Machine
	static := true
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			static = false
		}
	}
	f.Close()
	if machine != a.machine() || !static {
		return fmt.Errorf("%s is not a static %v binary", src, a.machine())
	}
	if err := copyFile(src, filepath.Join(dst, "bin/busybox"), 0o755); err != nil {
		return err
	}
	for _, applet := range busyboxApplets {
		if err := os.Symlink("busybox", filepath.Join(dst, "bin", applet)); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, mode) // umask must not decide the executable bit
}

// glibcLibraries are the libraries of Debian's libc6 that the glibc tree carries,
// besides the loader: what foreign dynamically linked programs (a Debian-built
// node, a cross-compiled C++ program) commonly need. Since glibc 2.34 most are
// stubs whose symbols live in libc.so.6; programs linked before that still name them.
var glibcLibraries = []string{
	"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1",
	"libresolv.so.2", "libutil.so.1",
}

// gccLibraries are the GCC runtime libraries of the gcc-lib tree (Debian's
// libstdc++6 and libgcc-s1).
var gccLibraries = []string{"libstdc++.so.6", "libgcc_s.so.1"}

// loaderName is the soname of the glibc loader for the architecture.
func (a arch) loaderName() string {
	if a.debian == "arm64" {
		return "ld-linux-aarch64.so.1"
	}
	return "ld-linux-x86-64.so.2"
}

// privateLibDir holds a relocatable tree's loader and libraries (the launcher's
// --library-path).
const privateLibDir = "libexec/lib"

// writePrivateLibs copies libs (soname -> file) into dst's privateLibDir, the
// loader executable (the launcher runs it).
func writePrivateLibs(dst string, libs map[string]string, loader string) error {
	for _, soname := range slices.Sorted(maps.Keys(libs)) {
		mode := os.FileMode(0o644)
		if soname == loader {
			mode = 0o755
		}
		if err := copyFile(libs[soname], filepath.Join(dst, privateLibDir, soname), mode); err != nil {
			return err
		}
	}
	return nil
}

// writeGlibcTree lays out lib/ with the glibc loader (0755) and glibcLibraries
// (0644), regular files named by soname.
func writeGlibcTree(a arch, dst string) error {
	if err := copyLibraries(a, dst, []string{a.loaderName()}, 0o755); err != nil {
		return err
	}
	return copyLibraries(a, dst, glibcLibraries, 0o644)
}

// writeGccLibTree lays out lib/ with libstdc++.so.6 and libgcc_s.so.1 (0644).
func writeGccLibTree(a arch, dst string) error {
	return copyLibraries(a, dst, gccLibraries, 0o644)
}

// copyLibraries copies each soname, found in the Debian root's library
// directories with links resolved, to dst/lib/<soname>.
func copyLibraries(a arch, dst string, sonames []string, mode os.FileMode) error {
	for _, soname := range sonames {
		src, err := findLibrary(a, soname)
		if err != nil {
			return err
		}
		if err := copyFile(src, filepath.Join(dst, "lib", soname), mode); err != nil {
			return err
		}
	}
	return nil
}

func findLibrary(a arch, soname string) (string, error) {
	for _, dir := range []string{"/lib/" + a.triplet(), "/usr/lib/" + a.triplet(), "/lib", "/usr/lib"} {
		if p, err := resolveInRoot(a.root, path.Join(dir, soname)); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no extracted package in %s provides %s", a.root, soname)
}

// debianTree is a relocatable tree of Debian's dynamically linked programs, laid
// out like the nix tree: bin/<name> is the launcher, libexec/<name> the program,
// libexec/lib/ the loader and the programs' shared-library closure.
type debianTree struct {
	programs []string          // the programs, as paths inside the Debian root
	links    map[string]string // more bin/ entries: name -> relative link target
	gitCore  string            // a git exec-path to lay out as libexec/git-core
}

var (
	bashTree = debianTree{programs: []string{"/bin/bash"}, links: map[string]string{"sh": "bash"}}
	curlTree = debianTree{programs: []string{"/usr/bin/curl"}}
	sshTree  = debianTree{programs: []string{
		"/usr/bin/ssh", "/usr/bin/scp", "/usr/bin/sftp", "/usr/bin/ssh-add",
		"/usr/bin/ssh-agent", "/usr/bin/ssh-keygen", "/usr/bin/ssh-keyscan",
	}}
	gitTree = debianTree{
		programs: []string{"/usr/bin/git", "/usr/bin/git-shell"},
		links: map[string]string{
			"git-receive-pack": "git", "git-upload-archive": "git", "git-upload-pack": "git",
		},
		gitCore: "/usr/lib/git-core",
	}
)

// writeDebianTree lays out t at dst. Programs of the git exec-path become
// libexec/git-core entries: a copy of a program already in the tree (Debian
// hard-links the builtins to git) links to its bin/ launcher, which keeps the
// name it was called by; another program gets its own launcher in bin/; scripts
// and data are copied.
func writeDebianTree(a arch, dst string, t debianTree) error {
	libs := map[string]string{}
	byContent := map[[32]byte]string{} // program content -> its bin/ name
	add := func(src, name string) error {
		closure, interp, err := sharedLibraryClosure(a, src, nil)
		if err != nil {
			return err
		}
		if interp != a.loaderName() {
			return fmt.Errorf("%s: loader %s, want %s", src, interp, a.loaderName())
		}
		for soname, file := range closure {
			libs[soname] = file
		}
		if err := copyFile(a.launcher, filepath.Join(dst, "bin", name), 0o755); err != nil {
			return err
		}
		sum, err := fileSHA256(src)
		if err != nil {
			return err
		}
		byContent[sum] = name
		return copyFile(src, filepath.Join(dst, "libexec", name), 0o755)
	}
	for _, p := range t.programs {
		src, err := resolveInRoot(a.root, p)
		if err != nil {
			return err
		}
		if err := add(src, path.Base(p)); err != nil {
			return err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(t.links)) {
		if err := os.Symlink(t.links[name], filepath.Join(dst, "bin", name)); err != nil {
			return err
		}
	}
	if t.gitCore != "" {
		if err := writeGitCore(a, filepath.Join(dst, "libexec/git-core"), t.gitCore, byContent, add); err != nil {
			return err
		}
	}
	if err := writePrivateLibs(dst, libs, a.loaderName()); err != nil {
		return err
	}
	return nil
}

// writeGitCore copies git's exec-path: its programs become links to bin/, where they
// run through the launcher like git itself; scripts and data are copied.
func writeGitCore(a arch, dst, dir string, byContent map[[32]byte]string, add func(src, name string) error) error {
	return walkTree(filepath.Join(a.root, dir), dst, true, func(p, rel, target string, perm os.FileMode) error {
		if perm == 0o644 || !isELF(p) {
			return copyFile(p, target, perm)
		}
		if strings.Contains(rel, "/") {
			return fmt.Errorf("%s: a program below the exec-path's top level", p)
		}
		sum, err := fileSHA256(p)
		if err != nil {
			return err
		}
		name, ok := byContent[sum]
		if !ok {
			name = rel
			if err := add(p, name); err != nil {
				return err
			}
		}
		return os.Symlink("../../bin/"+name, target)
	})
}

func isELF(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, 4)
	_, err = io.ReadFull(f, magic)
	return err == nil && string(magic) == "\x7fELF"
}

func fileSHA256(p string) ([32]byte, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// writeCACertTree writes etc/ssl/certs/ca-bundle.crt (as nixpkgs' cacert does):
// the certificates of Debian's ca-certificates in name order, which is what its
// update-ca-certificates would concatenate into /etc/ssl/certs/ca-certificates.crt.
func writeCACertTree(a arch, dst string) error {
	src := filepath.Join(a.root, "usr/share/ca-certificates/mozilla")
	files, err := filepath.Glob(filepath.Join(src, "*.crt"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no certificates in %s", src)
	}
	sort.Strings(files)
	var bundle []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			b = append(b, '\n')
		}
		bundle = append(bundle, b...)
	}
	out := filepath.Join(dst, "etc/ssl/certs/ca-bundle.crt")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, bundle, 0o644)
}
