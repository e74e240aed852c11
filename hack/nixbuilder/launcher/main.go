// Command launcher is bin/nix of the relocatable Nix tree that hack/nixbuilder
// assembles. Debian's Nix binary expects its libraries and loader at /usr and
// /lib; the tree carries them instead, so the launcher finds the tree from its own
// path and runs
//
//	<tree>/lib/<loader> --library-path <tree>/lib --argv0 <argv[0]> <tree>/libexec/nix ARGS...
//
// Nix dispatches on the base name of argv[0] (nix-build, nix-store, ...), and the
// bin/nix-* links keep the name they were called by. Being a static binary, the
// launcher needs no shell and no interpreter path, so the tree works wherever it
// is copied: in the builder image's store or in a store path of the fixtures.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "nix launcher: %v\n", err)
		os.Exit(127)
	}
}

func run() error {
	loader, ok := map[string]string{
		"amd64": "ld-linux-x86-64.so.2",
		"arm64": "ld-linux-aarch64.so.1",
	}[runtime.GOARCH]
	if !ok {
		return fmt.Errorf("no glibc loader known for %s", runtime.GOARCH)
	}
	self, err := selfPath()
	if err != nil {
		return err
	}
	tree := filepath.Dir(filepath.Dir(self))
	lib := filepath.Join(tree, "lib")
	argv0 := "nix"
	if len(os.Args) > 0 && os.Args[0] != "" {
		argv0 = os.Args[0]
	}
	argv := append([]string{
		filepath.Join(lib, loader), "--library-path", lib, "--argv0", argv0,
		filepath.Join(tree, "libexec", "nix"),
	}, os.Args[1:]...)
	err = syscall.Exec(argv[0], argv, os.Environ())
	return fmt.Errorf("exec %s: %w", argv[0], err)
}

// selfPath is the launcher's real location. /proc/self/exe has every link
// resolved (also under qemu-user, which answers it for the emulated binary);
// without /proc, argv[0] resolved through PATH and links does the same.
func selfPath() (string, error) {
	if p, err := os.Executable(); err == nil {
		if p, err = filepath.EvalSymlinks(p); err == nil {
			return p, nil
		}
	}
	if len(os.Args) == 0 {
		return "", fmt.Errorf("cannot find the launcher's own path")
	}
	p, err := exec.LookPath(os.Args[0])
	if err != nil {
		return "", fmt.Errorf("cannot find the launcher's own path: %w", err)
	}
	if p, err = filepath.Abs(p); err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(p)
}
