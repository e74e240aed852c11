package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/laingville/laingfile"
	"github.com/laingville/laingfile/internal/nar"
)

// `laing pin update` moves a Laingfile's nixpkgs pin to the newest commit of a branch: the rev
// from `git ls-remote`, and the NAR hash of that commit's tree, which is what Nix checks after
// unpacking GitHub's tarball of it (GitHub makes the tarball with `git archive`, so the tree is
// the same). Everything goes through git against a configurable remote, so that a local
// repository stands in for GitHub in tests.

const (
	defaultRemote = "https://github.com/NixOS/nixpkgs"
	defaultBranch = "nixpkgs-unstable"
)

var commitRe = regexp.MustCompile(`^[0-9a-f]{40}$`)

func pinCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "update":
		return pinUpdateCommand(args[1:], stdout, stderr)
	case "release":
		return pinReleaseCommand(args[1:], stdout, stderr)
	case "builder":
		return pinBuilderCommand(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "laing pin: unknown command %q\n%s", args[0], usage)
	return 2
}

// pinUpdateCommand runs `laing pin update` (args after "update").
func pinUpdateCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pin update", flag.ContinueOnError)
	fs.SetOutput(stderr)
	branch := fs.String("branch", defaultBranch, "the nixpkgs branch to follow")
	remote := fs.String("remote", defaultRemote, "the nixpkgs git repository")
	printOnly := fs.Bool("print", false, "print the newest pin instead of rewriting a Laingfile (laing pin release writes it into nixsets/pins.go)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 1 || (*printOnly && fs.NArg() > 0) {
		fmt.Fprint(stderr, usage)
		return 2
	}
	file := "Laingfile"
	if fs.NArg() == 1 {
		file = fs.Arg(0)
	}
	if err := pinUpdate(stdout, *remote, *branch, file, *printOnly); err != nil {
		fmt.Fprintln(stderr, "laing pin update:", err)
		return 1
	}
	return 0
}

func pinUpdate(stdout io.Writer, remote, branch, file string, printOnly bool) error {
	rev, err := branchHead(remote, branch)
	if err != nil {
		return err
	}
	if printOnly {
		hash, err := treeNARHash(remote, branch, rev)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "# %s of %s\nrev: %s\nsha256: %s\n", branch, remote, rev, hash)
		return nil
	}

	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	current, err := laingfile.ReadPin(file, data)
	if err != nil {
		return err
	}
	if current.Rev == rev && current.SHA256 != "" {
		fmt.Fprintf(stdout, "%s: nixpkgs is at %s, the newest %s\n", file, short(rev), branch)
		return nil
	}
	// Refuse before the download when the file has no rev pin to rewrite.
	if _, err := laingfile.SetPin(file, data, rev, nar.SRI([32]byte{})); err != nil {
		return err
	}
	hash, err := treeNARHash(remote, branch, rev)
	if err != nil {
		return err
	}
	updated, err := laingfile.SetPin(file, data, rev, hash)
	if err != nil {
		return err
	}
	info, err := os.Stat(file)
	if err != nil {
		return err
	}
	if err := os.WriteFile(file, updated, info.Mode().Perm()); err != nil {
		return err
	}
	from := "the release's pin"
	if current.Rev != "" {
		from = short(current.Rev)
	}
	fmt.Fprintf(stdout, "%s: nixpkgs %s -> %s (%s of %s)\n", file, from, short(rev), branch, remote)
	return nil
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// git runs git with its output captured; the error carries git's message.
func git(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	// Never ask for credentials: a scheduled job has nobody to answer.
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return out, fmt.Errorf("git %s: %s", strings.Join(args, " "), msg)
	}
	return out, nil
}

// branchHead is the commit a branch of remote points at, from `git ls-remote`.
func branchHead(remote, branch string) (string, error) {
	ref := "refs/heads/" + branch
	out, err := git("", "ls-remote", "--", remote, ref)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 2 && fields[1] == ref && commitRe.MatchString(fields[0]) {
			return fields[0], nil
		}
	}
	return "", fmt.Errorf("%s has no branch %q", remote, branch)
}

// treeNARHash fetches rev alone (a shallow fetch into a temporary repository), unpacks its
// `git archive` and returns the NAR hash of the tree in SRI form.
func treeNARHash(remote, branch, rev string) (string, error) {
	tmp, err := os.MkdirTemp("", "laing-pin-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	repo := filepath.Join(tmp, "repo.git")
	if _, err := git("", "init", "--quiet", "--bare", repo); err != nil {
		return "", err
	}
	// By commit, as GitHub allows; a server that does not falls back to the branch, which
	// must still be at rev.
	if _, err := git(repo, "fetch", "--quiet", "--depth", "1", "--no-tags", "--", remote, rev); err != nil {
		if _, err := git(repo, "fetch", "--quiet", "--depth", "1", "--no-tags", "--", remote, "refs/heads/"+branch); err != nil {
			return "", err
		}
	}
	head, err := git(repo, "rev-parse", "FETCH_HEAD")
	if err != nil {
		return "", err
	}
	if got := strings.TrimSpace(string(head)); got != rev {
		return "", fmt.Errorf("%s moved from %s to %s during the update; run it again", branch, short(rev), short(got))
	}
	archive, err := git(repo, "archive", "--format=tar", rev)
	if err != nil {
		return "", err
	}
	tree := filepath.Join(tmp, "source")
	if err := untar(bytes.NewReader(archive), tree); err != nil {
		return "", fmt.Errorf("unpacking %s: %w", short(rev), err)
	}
	sum, _, err := nar.Hash(tree)
	if err != nil {
		return "", err
	}
	return nar.SRI(sum), nil
}

// untar writes a `git archive` tar into dir: directories, regular files (executable or not,
// which is all NAR records) and symbolic links. Whatever the archive (a mirror's, or a local
// repository's with a crafted tree), nothing is written outside dir, nor through a link: every
// operation goes through an os.Root, parents must be real directories, an entry that is
// already there is refused, and so is a link that leads out of the tree.
func untar(r io.Reader, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader || hdr.Typeflag == tar.TypeXHeader {
			continue // git archive's pax header carries the commit id; it is no file.
		}
		name := path.Clean(hdr.Name)
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("%q is outside the archive", hdr.Name)
		}
		if name == "." && hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("%q is not a file name", hdr.Name)
		}
		if err := realParents(root, hdr.Name, name); err != nil {
			return err
		}
		twice := func(err error) error {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%q is in the archive twice; a git archive has each path once", hdr.Name)
			}
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if name == "." {
				continue
			}
			if err := root.Mkdir(name, 0o755); err != nil {
				if fi, lerr := root.Lstat(name); errors.Is(err, fs.ErrExist) && lerr == nil && fi.IsDir() {
					continue // a directory that a file's parents made
				}
				return twice(err)
			}
		case tar.TypeReg:
			mode := os.FileMode(0o644)
			if hdr.Mode&0o111 != 0 {
				mode = 0o755
			}
			// O_EXCL: an existing name, a link above all, is never opened.
			f, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
			if err != nil {
				return twice(err)
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("%s: %w", hdr.Name, err)
			}
		case tar.TypeSymlink:
			if hdr.Linkname == "" {
				return fmt.Errorf("%q is a symbolic link to nothing; expected a link target", hdr.Name)
			}
			to := path.Join(path.Dir(name), hdr.Linkname)
			if path.IsAbs(hdr.Linkname) || to == ".." || strings.HasPrefix(to, "../") {
				return fmt.Errorf("%q links to %q, outside the tree; expected links within it", hdr.Name, hdr.Linkname)
			}
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return twice(err)
			}
		default:
			return fmt.Errorf("%s: unexpected entry type %q in a git archive", hdr.Name, hdr.Typeflag)
		}
	}
}

// realParents makes the parent directories of name (a clean relative path) in root, each a
// real directory: a parent that is a link, or a file, is an error.
func realParents(root *os.Root, entry, name string) error {
	parts := strings.Split(name, "/")
	for i := 1; i < len(parts); i++ {
		p := strings.Join(parts[:i], "/")
		fi, err := root.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := root.Mkdir(p, 0o755); err != nil {
				return fmt.Errorf("%s: %w", entry, err)
			}
		case err != nil:
			return fmt.Errorf("%s: %w", entry, err)
		case fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%q: %q is a symbolic link, not a directory; a git archive writes no file through a link", entry, p)
		case !fi.IsDir():
			return fmt.Errorf("%q: %q is a file, not a directory", entry, p)
		}
	}
	return nil
}
