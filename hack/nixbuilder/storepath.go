package main

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
)

// storeDir is where every store path of the image lives; Nix bakes it into each
// path's hash, so it is part of the fingerprint below.
const storeDir = "/nix/store"

// nixBase32Alphabet is Nix's base32 alphabet: no e, o, u or t, so that hashes never
// spell words.
const nixBase32Alphabet = "0123456789abcdfghijklmnpqrsvwxyz"

// nixBase32 encodes b the way Nix prints hashes: 5-bit groups taken from the
// least significant end of the byte string, printed most significant first.
func nixBase32(b []byte) string {
	n := (len(b)*8-1)/5 + 1
	out := make([]byte, 0, n)
	for i := n - 1; i >= 0; i-- {
		bit := i * 5
		j, k := bit/8, uint(bit%8)
		c := b[j] >> k
		if j+1 < len(b) {
			c |= b[j+1] << (8 - k)
		}
		out = append(out, nixBase32Alphabet[c&0x1f])
	}
	return string(out)
}

// compressHash folds h into size bytes by XOR, as Nix does to turn a SHA-256 into
// the 160-bit hash part of a store path.
func compressHash(h []byte, size int) []byte {
	out := make([]byte, size)
	for i, b := range h {
		out[i%size] ^= b
	}
	return out
}

// sourceStorePath is the store path Nix gives a directory added with
// `nix-store --add` (content-addressed, recursive SHA-256 of its NAR): so the
// image's paths are real Nix names, derived from their content alone. refs are the
// store paths the content refers to, which Nix adds to the fingerprint's type.
func sourceStorePath(name string, narHash [sha256.Size]byte, refs []string) string {
	sorted := append([]string(nil), refs...)
	sort.Strings(sorted)
	typ := strings.Join(append([]string{"source"}, sorted...), ":")
	fingerprint := typ + ":sha256:" + hex.EncodeToString(narHash[:]) + ":" + storeDir + ":" + name
	sum := sha256.Sum256([]byte(fingerprint))
	return storeDir + "/" + nixBase32(compressHash(sum[:], 20)) + "-" + name
}
