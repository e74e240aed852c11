// Command laing is the Laingfile user CLI: it lists the package sets, shows an image's layers
// with their store paths and what images share, lists an image's SBOM, writes the files that
// give a target's packages on a host with Nix, and updates a Laingfile's nixpkgs pin and the
// release's own pins in nixsets/pins.go.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/laingville/laingfile/nixsets"
)

const usage = `usage: laing COMMAND [ARGS]

commands:
  layers [--platform P] IMAGE...   layers of each image with their store paths and sizes;
                                   for several images, the bytes they share and what a pull
                                   of each downloads when another is present.
                                   IMAGE is a registry reference or oci-layout://DIR[:TAG]
  sbom [--platform P] [--json] IMAGE
                                   the packages of the image's SBOM attestation (docker buildx
                                   build --sbom=true): name, version, license, what asked for
                                   it, size and store path; --json prints the SPDX document
  sets                             the package sets and their nixpkgs attributes
  pin update [--branch B] [--remote URL] [FILE]
                                   set FILE's (default Laingfile) nixpkgs pin to the newest
                                   commit of branch B (default nixpkgs-unstable) of the git
                                   repository URL (default https://github.com/NixOS/nixpkgs)
                                   and its NAR hash, keeping the rest of the file as it is
  pin update --print [--branch B] [--remote URL]
                                   print that pin (rev and sha256) instead
  pin release [--branch B] [--remote URL] [FILE]
                                   the same for the release's pin: DefaultPin in FILE
                                   (default nixsets/pins.go, run at the repository's root)
  pin builder [--image REPOSITORY:TAG] [FILE]
                                   set the release's Nix builder image (DefaultBuilderImage
                                   in FILE, default nixsets/pins.go) to the digest of the
                                   tag's multi-platform index (default: the tag pinned now)
  shell [--target T] [--check] [--nixpkgs DIR] [--build-arg NAME=VALUE]... [FILE]
                                   write .laingfile/ next to FILE (default Laingfile), and
                                   flake.nix, shell.nix and .envrc where missing: target T's
                                   packages (default: the first devcontainer) on this host with
                                   nix develop, nix-shell or direnv. --check writes nothing and
                                   fails when they are not current; --nixpkgs replaces the pin
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "layers":
		fs := flag.NewFlagSet("layers", flag.ContinueOnError)
		fs.SetOutput(stderr)
		platform := fs.String("platform", "linux/amd64", "platform to show for multi-platform images")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			fmt.Fprint(stderr, usage)
			return 2
		}
		if err := layersCommand(stdout, fs.Args(), *platform); err != nil {
			fmt.Fprintln(stderr, "laing layers:", err)
			return 1
		}
		return 0
	case "sbom":
		return sbomCommand(args[1:], stdout, stderr)
	case "sets":
		for _, s := range nixsets.Sets() {
			fmt.Fprintf(stdout, "%-13s %s\n", s.Name, strings.Join(s.Attrs, " "))
		}
		return 0
	case "pin":
		return pinCommand(args[1:], stdout, stderr)
	case "shell":
		return shellCommand(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "laing: unknown command %q\n%s", args[0], usage)
		return 2
	}
}
