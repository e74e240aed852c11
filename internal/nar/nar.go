// Package nar computes Nix archive (NAR) hashes of file trees and spells SHA-256 digests the
// ways Nix does: its base-32 alphabet, SRI ("sha256-…", as flake.lock's narHash) and hex. A
// NAR hash is what Nix records for a store path and what `fetchTarball`'s sha256 checks, so
// the Laingfile tools compute pins with it and the builder-image tool registers paths with it.
package nar

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Hash serialises the tree at path as a Nix archive and returns its SHA-256 and size: the
// narHash and narSize Nix records for a store path, what `nix-store --verify --check-contents`
// recomputes, and (for an unpacked source tarball) what `fetchTarball { sha256 }` checks.
func Hash(path string) ([sha256.Size]byte, int64, error) {
	h := sha256.New()
	cw := &countingWriter{w: h}
	if err := Write(cw, path); err != nil {
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

// Write writes the NAR serialisation of path: only file contents, the executable bit, symlink
// targets and sorted directory entries count; owners, times and other permission bits do not.
func Write(w io.Writer, path string) error {
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
		// Byte order, as Nix sorts std::string keys.
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

// base32Alphabet is Nix's base-32 alphabet: no e, o, u or t, so that hashes never spell words.
const base32Alphabet = "0123456789abcdfghijklmnpqrsvwxyz"

// Base32 encodes b the way Nix prints hashes: 5-bit groups taken from the least significant
// end of the byte string, printed most significant first.
func Base32(b []byte) string {
	n := (len(b)*8-1)/5 + 1
	out := make([]byte, 0, n)
	for i := n - 1; i >= 0; i-- {
		bit := i * 5
		j, k := bit/8, uint(bit%8)
		c := b[j] >> k
		if j+1 < len(b) {
			c |= b[j+1] << (8 - k)
		}
		out = append(out, base32Alphabet[c&0x1f])
	}
	return string(out)
}

// IsBase32 reports whether s uses only Nix's base-32 alphabet.
func IsBase32(s string) bool {
	return s != "" && strings.Trim(s, base32Alphabet) == ""
}

// DecodeBase32 decodes Nix's base-32 spelling of a size-byte digest. Nix writes the digest's
// bits least significant first, from the last character back, so character n from the end
// holds bits 5n..5n+4. It fails on a wrong length, a character outside the alphabet, or bits
// beyond the digest.
func DecodeBase32(s string, size int) ([]byte, bool) {
	if len(s) != (size*8-1)/5+1 {
		return nil, false
	}
	out := make([]byte, size)
	for n := 0; n < len(s); n++ {
		digit := strings.IndexByte(base32Alphabet, s[len(s)-n-1])
		if digit < 0 {
			return nil, false
		}
		b := n * 5
		i, j := b/8, uint(b%8)
		out[i] |= byte(digit << j)
		carry := digit >> (8 - j)
		if i < size-1 {
			out[i+1] |= byte(carry)
		} else if carry != 0 {
			return nil, false
		}
	}
	return out, true
}

// SRI is the SRI spelling of a SHA-256 digest, "sha256-" and base64, as flake.lock and
// `nix hash path` print it.
func SRI(sum [sha256.Size]byte) string {
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// ParseSHA256 reads a SHA-256 digest in any spelling Nix prints: SRI ("sha256-" and 44 base64
// characters), "sha256:" followed by base-32, base64 or hex (as Nix's hash-mismatch errors
// print it), or a bare 52-character base-32 or 64-character hex string.
func ParseSHA256(s string) ([sha256.Size]byte, bool) {
	var sum [sha256.Size]byte
	var digest []byte
	body := s
	switch {
	case strings.HasPrefix(s, "sha256-"):
		body = s[len("sha256-"):]
		b, err := base64.StdEncoding.Strict().DecodeString(body)
		if err != nil || len(body) != 44 {
			return sum, false
		}
		digest = b
	default:
		body = strings.TrimPrefix(s, "sha256:")
		switch {
		case len(body) == 52 && IsBase32(body):
			b, ok := DecodeBase32(body, sha256.Size)
			if !ok {
				return sum, false
			}
			digest = b
		case len(body) == 64:
			b, err := hex.DecodeString(body)
			if err != nil {
				return sum, false
			}
			digest = b
		case len(body) == 44 && body != s:
			b, err := base64.StdEncoding.Strict().DecodeString(body)
			if err != nil {
				return sum, false
			}
			digest = b
		default:
			return sum, false
		}
	}
	if len(digest) != sha256.Size {
		return sum, false
	}
	copy(sum[:], digest)
	return sum, true
}
