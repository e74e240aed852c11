// Package nixsets holds what a Laingfile release pins: the named package sets, the default
// nixpkgs revision, the default Nix builder image, the built-in overlays and the Nix expression
// the build step evaluates. Changing a set, a pin or an overlay happens here and only here.
package nixsets

import (
	"slices"
	"sort"
)

// Set is a named list of nixpkgs attribute paths.
type Set struct {
	Name  string
	Attrs []string
}

// Sets returns every package set, in a stable order. The contents follow the upstream flake
// library so that projects moving over get the same store paths.
func Sets() []Set {
	return []Set{
		{"base", []string{"bashInteractive", "coreutils", "findutils", "gnugrep", "gnused", "gawk", "gnutar", "gzip", "cacert", "tzdata"}},
		// What a binary built for a mainstream distribution (the VS Code server's node) needs:
		// glibc's `out` output (the loader, libc; `glibc` alone installs only `bin`, which has
		// ldd), and the gcc runtime (libstdc++, libgcc_s). See docs/laingfile.md.
		{"vscodeCompat", []string{"glibc.out", "glibc", "stdenv.cc.cc.lib"}},
		{"devTools", []string{"gitMinimal", "curl", "jq", "ripgrep", "fd", "fzf", "bat", "diffutils", "just", "shadow", "sudo", "starship", "openssh"}},
		{"nixTools", []string{"nix", "direnv", "nix-direnv"}},
		{"python", []string{"python312"}},
		{"pythonDev", []string{"python312Packages.pip", "python312Packages.virtualenv", "uv", "ruff", "pyright"}},
		{"node", []string{"nodejs_22"}},
		// Top-level names: nixpkgs removed `nodePackages` (it throws since 2026-03); at the
		// release pin its members are aliases of these same store paths.
		{"nodeDev", []string{"bun", "typescript", "typescript-language-server", "prettier", "eslint"}},
		{"go", []string{"go"}},
		{"goDev", []string{"gopls", "golangci-lint"}},
		{"rust", []string{"rustc", "cargo"}},
		{"rustDev", []string{"rust-analyzer", "clippy", "rustfmt"}},
		{"bash", nil},
		{"bashDev", []string{"shellcheck", "shellspec", "shfmt", "kcov"}},
	}
}

// Lookup returns the set with the given name.
func Lookup(name string) (Set, bool) {
	for _, s := range Sets() {
		if s.Name == name {
			return s, true
		}
	}
	return Set{}, false
}

// Names returns the set names, sorted.
func Names() []string {
	var names []string
	for _, s := range Sets() {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	return names
}

// Expand returns the attribute paths of the named sets followed by extra, in order, each once.
// Unknown set names are skipped; the Laingfile parser has already rejected them.
func Expand(sets []string, extra ...string) []string {
	var attrs []string
	add := func(a string) {
		if !slices.Contains(attrs, a) {
			attrs = append(attrs, a)
		}
	}
	for _, name := range sets {
		s, _ := Lookup(name)
		for _, a := range s.Attrs {
			add(a)
		}
	}
	for _, a := range extra {
		add(a)
	}
	return attrs
}
