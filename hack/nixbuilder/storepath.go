package main

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"

	"github.com/laingville/laingfile/internal/nar"
)

// storeDir is where every store path of the image lives; Nix bakes it into each
// path's hash, so it is part of the fingerprint below.
const storeDir = "/nix/store"

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
	return storeDir + "/" + nar.Base32(compressHash(sum[:], 20)) + "-" + name
}
