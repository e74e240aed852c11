// Command binarycache gives the offline test environment a real Nix binary cache.
//
//	binarycache make -out DIR     realises what the example images need, for x86_64-linux and
//	                              aarch64-linux, with the builder image's Nix through the test
//	                              environment's buildkitd, and copies the closures with Nix into
//	                              DIR/signed (signed with DIR/keys/secret) and DIR/unsigned
//	binarycache serve -root DIR   serves those caches over HTTP on 127.0.0.1, with a private
//	                              (token) view of the signed one, writable push caches and
//	                              request counters for the tests
//
// hack/binary-cache.sh runs make; hack/env.sh runs serve as a daemon.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "make":
		err = runMake(os.Args[2:])
	case "serve":
		err = runServe(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "binarycache:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: binarycache make -out DIR [flags]\n       binarycache serve -root DIR -token-file FILE [flags]")
	os.Exit(2)
}

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// parseFlags parses args with fs, exiting with status 2 on a usage error as flag does.
func parseFlags(fs *flag.FlagSet, args []string) {
	if err := fs.Parse(args); err != nil {
		os.Exit(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "binarycache %s: unexpected arguments %q\n", fs.Name(), fs.Args())
		os.Exit(2)
	}
}
