package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/laingville/laingfile/internal/nar"
	"github.com/laingville/laingfile/internal/nixstore"
)

// storePath is one path of the image's store with what its DB row needs.
type storePath struct {
	path    string   // /nix/store/<hash>-<name>
	src     string   // directory with its content
	refs    []string // store paths it refers to
	narHash [32]byte
	narSize int64
}

// registerStore copies the paths into a chroot store at stage and has the host's
// Nix register them there, so the image carries a database written by Nix itself
// (the schema is the one Nix 2.8 in the image reads). Nix then checks every NAR
// hash against the files. Registration times are then set
// to 1 so that the database file, like every other file, depends only on content.
// It returns the contents of db.sqlite and schema.
func registerStore(nixStore, stage string, paths []storePath) (db, schema []byte, err error) {
	if err := removeAll(stage); err != nil {
		return nil, nil, err
	}
	var reginfo strings.Builder
	for _, p := range paths {
		if err := copyTree(p.src, filepath.Join(stage, p.path)); err != nil {
			return nil, nil, err
		}
		// path, NAR hash, NAR size, deriver (none), number of references, references.
		fmt.Fprintf(&reginfo, "%s\nsha256:%s\n%d\n\n%d\n", p.path, nar.Base32(p.narHash[:]), p.narSize, len(p.refs))
		for _, r := range p.refs {
			fmt.Fprintf(&reginfo, "%s\n", r)
		}
	}
	confDir := filepath.Join(stage, "conf")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return nil, nil, err
	}
	// The host's nix.conf must not leak in (build users, substituters).
	if err := os.WriteFile(filepath.Join(confDir, "nix.conf"), []byte("build-users-group =\nsandbox = false\nsubstituters =\n"), 0o644); err != nil {
		return nil, nil, err
	}
	store := "local?root=" + stage
	run := func(stdin string, args ...string) (string, error) {
		cmd := exec.Command(nixStore, append([]string{"--store", store}, args...)...)
		cmd.Env = append(os.Environ(), "NIX_CONF_DIR="+confDir, "NIX_REMOTE=")
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("nix-store %s: %v: %s", strings.Join(args, " "), err, errb.String())
		}
		return out.String(), nil
	}
	// Nix 2.8 hashes a chroot store's paths at their logical /nix/store location
	// when it registers them itself, so the hashes are given and --verify
	// --check-contents below recomputes them from the real files.
	if _, err := run(reginfo.String(), "--load-db"); err != nil {
		return nil, nil, err
	}
	for _, p := range paths {
		out, err := run("", "--query", "--hash", p.path)
		if err != nil {
			return nil, nil, err
		}
		if got, want := strings.TrimSpace(out), "sha256:"+nar.Base32(p.narHash[:]); got != want {
			return nil, nil, fmt.Errorf("%s: Nix hashed it as %s, we as %s", p.path, got, want)
		}
	}
	if _, err := run("", "--verify", "--check-contents"); err != nil {
		return nil, nil, err
	}
	dbFile := filepath.Join(stage, "nix/var/nix/db/db.sqlite")
	for _, side := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Stat(dbFile + side); err == nil {
			return nil, nil, fmt.Errorf("%s%s left behind: the database was not closed cleanly", dbFile, side)
		}
	}
	if db, err = os.ReadFile(dbFile); err != nil {
		return nil, nil, err
	}
	// Registration times pinned as the frontend pins a devcontainer's, so that the image
	// depends on its contents alone.
	if db, err = nixstore.PinRegistrationTimes(db, 1); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", dbFile, err)
	}
	if schema, err = os.ReadFile(filepath.Join(stage, "nix/var/nix/db/schema")); err != nil {
		return nil, nil, err
	}
	return db, schema, nil
}

// copyTree copies a directory of regular files, directories and symlinks,
// keeping only what a Nix store path keeps: contents, links and the executable bit.
func copyTree(src, dst string) error {
	return walkTree(src, dst, false, func(p, _, target string, perm os.FileMode) error {
		return copyFile(p, target, perm)
	})
}

// walkTree recreates src's directories and relative links under dst (absolute links
// too, unless relocatable) and hands each regular file to file with its path
// relative to src, its place under dst and its store mode (0755 when executable).
func walkTree(src, dst string, relocatable bool, file func(p, rel, target string, perm os.FileMode) error) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch mode := fi.Mode(); {
		case mode.IsDir():
			return os.MkdirAll(target, 0o755)
		case mode&os.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if relocatable && path.IsAbs(link) {
				return fmt.Errorf("%s: absolute link %s does not relocate", p, link)
			}
			return os.Symlink(link, target)
		case mode.IsRegular():
			perm := os.FileMode(0o644)
			if mode&0o100 != 0 {
				perm = 0o755
			}
			return file(p, rel, target, perm)
		default:
			return fmt.Errorf("%s: unsupported file type %v", p, mode.Type())
		}
	})
}

// removeAll deletes a tree even where Nix made it read-only.
func removeAll(dir string) error {
	if _, err := os.Lstat(dir); os.IsNotExist(err) {
		return nil
	}
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
