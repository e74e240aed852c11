package testenv

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/laingville/laingfile/internal/nar"
)

// NixpkgsTarball makes a nixpkgs source tarball of the fixture universe in dir, as GitHub
// serves them (one top directory), and returns it with the NAR hash (SRI) of its unpacked tree,
// which a Laingfile's `nixpkgs: {url, sha256}` names. skip lists directories to leave out
// (relative to dir); extra adds files (relative path → contents), to make a tree no store has
// seen. It copies the tree to work first.
func NixpkgsTarball(dir, work string, skip []string, extra map[string]string) ([]byte, string, error) {
	tree := filepath.Join(work, "nixpkgs")
	skipped := map[string]bool{}
	for _, s := range skip {
		skipped[filepath.Clean(s)] = true
	}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if skipped[rel] {
			return filepath.SkipDir
		}
		dst := filepath.Join(tree, rel)
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		case info.IsDir():
			return os.MkdirAll(dst, 0o755)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(dst, data, info.Mode().Perm())
		}
	})
	if err != nil {
		return nil, "", fmt.Errorf("copying the fixture: %w", err)
	}
	for rel, data := range extra {
		if err := os.WriteFile(filepath.Join(tree, rel), []byte(data), 0o644); err != nil {
			return nil, "", err
		}
	}
	sum, _, err := nar.Hash(tree)
	if err != nil {
		return nil, "", err
	}

	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	err = filepath.Walk(tree, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(filepath.Dir(tree), p)
		link := ""
		if info.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return nil, "", err
	}
	return buf.Bytes(), nar.SRI(sum), nil
}
