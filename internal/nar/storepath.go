package nar

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
)

// StoreDir is where Nix keeps store paths; it is part of every path's hash.
const StoreDir = "/nix/store"

// SourceStorePath is the store path Nix gives a tree added with `nix-store --add`
// (content-addressed by the SHA-256 of its NAR). refs are the store paths the content refers
// to, which Nix adds to the fingerprint; their order does not matter.
func SourceStorePath(name string, narHash [sha256.Size]byte, refs []string) string {
	sorted := append([]string(nil), refs...)
	sort.Strings(sorted)
	typ := strings.Join(append([]string{"source"}, sorted...), ":")
	fingerprint := typ + ":sha256:" + hex.EncodeToString(narHash[:]) + ":" + StoreDir + ":" + name
	sum := sha256.Sum256([]byte(fingerprint))
	return StoreDir + "/" + Base32(compressHash(sum[:], 20)) + "-" + name
}

// compressHash folds h into size bytes by XOR, as Nix does to turn a SHA-256 into the 160-bit
// hash part of a store path.
func compressHash(h []byte, size int) []byte {
	out := make([]byte, size)
	for i, b := range h {
		out[i%size] ^= b
	}
	return out
}
