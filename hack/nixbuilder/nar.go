package main

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// narHash serialises the tree at path as a Nix archive and returns its SHA-256
// and size: the narHash and narSize Nix records for a store path, and what
// `nix-store --verify --check-contents` recomputes.
func narHash(path string) ([sha256.Size]byte, int64, error) {
	h := sha256.New()
	cw := &countingWriter{w: h}
	if err := writeNAR(cw, path); err != nil {
		return [sha256.Size]byte{}, 0, err
	}
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return sum, cw.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeNAR writes the NAR serialisation of path: only file contents, the
// executable bit, symlink targets and sorted directory entries count.
func writeNAR(w io.Writer, path string) error {
	nw := narWriter{w: w}
	nw.str("nix-archive-1")
	if err := nw.node(path); err != nil {
		return err
	}
	return nw.err
}

type narWriter struct {
	w   io.Writer
	err error
}

func (n *narWriter) write(p []byte) {
	if n.err == nil {
		_, n.err = n.w.Write(p)
	}
}

// str writes a length-prefixed string padded to 8 bytes, NAR's only primitive.
func (n *narWriter) str(s string) {
	var l [8]byte
	binary.LittleEndian.PutUint64(l[:], uint64(len(s)))
	n.write(l[:])
	n.write([]byte(s))
	if pad := (8 - len(s)%8) % 8; pad > 0 {
		n.write(make([]byte, pad))
	}
}

func (n *narWriter) node(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	n.str("(")
	switch mode := fi.Mode(); {
	case mode&os.ModeSymlink != 0:
		target, err := os.Readlink(path)
		if err != nil {
			return err
		}
		n.str("type")
		n.str("symlink")
		n.str("target")
		n.str(target)
	case mode.IsRegular():
		n.str("type")
		n.str("regular")
		if mode&0o100 != 0 {
			n.str("executable")
			n.str("")
		}
		if err := n.contents(path, fi.Size()); err != nil {
			return err
		}
	case mode.IsDir():
		n.str("type")
		n.str("directory")
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		for _, name := range names {
			n.str("entry")
			n.str("(")
			n.str("name")
			n.str(name)
			n.str("node")
			if err := n.node(filepath.Join(path, name)); err != nil {
				return err
			}
			n.str(")")
		}
	default:
		return fmt.Errorf("%s: %v cannot be stored in Nix", path, mode.Type())
	}
	n.str(")")
	return n.err
}

func (n *narWriter) contents(path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	n.str("contents")
	var l [8]byte
	binary.LittleEndian.PutUint64(l[:], uint64(size))
	n.write(l[:])
	if n.err != nil {
		return n.err
	}
	copied, err := io.Copy(n.w, f)
	if err != nil {
		return err
	}
	if copied != size {
		return fmt.Errorf("%s changed while it was read", path)
	}
	if pad := (8 - size%8) % 8; pad > 0 {
		n.write(make([]byte, pad))
	}
	return n.err
}
