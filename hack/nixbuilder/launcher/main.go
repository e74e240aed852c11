// Command launcher is bin/<name> of the relocatable trees that hack/nixbuilder
// assembles from Debian's packages (nix, bash, curl, git, ssh). Debian's programs
// expect their libraries and loader at /usr and /lib; the trees carry them
// instead, so the launcher finds its tree and program from its own path
// (<tree>/bin/<name>, every link resolved) and runs
//
//	<tree>/libexec/lib/<loader> --library-path <tree>/libexec/lib --argv0 <argv[0]> <tree>/libexec/<name> ARGS...
//
// argv[0] is kept: Nix dispatches on its base name (nix-build, nix-store, ...
// are links to bin/nix), bash runs as a POSIX sh when called sh, git runs
// git-upload-pack when called so. When <tree>/libexec/git-core exists and
// GIT_EXEC_PATH is unset, it is set to that directory (Debian's git looks in
// /usr/lib/git-core otherwise). Being a static binary, the launcher needs no
// shell and no interpreter path, so a tree works wherever it is copied: in the
// builder image's store or in a store path of the fixtures.
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
		fmt.Fprintf(os.Stderr, "launcher: %v\n", err)
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
	tree, name := filepath.Dir(filepath.Dir(self)), filepath.Base(self)
	lib := filepath.Join(tree, "libexec", "lib")
	argv0 := name
	if len(os.Args) > 0 && os.Args[0] != "" {
		argv0 = os.Args[0]
	}
	argv := append([]string{
		filepath.Join(lib, loader), "--library-path", lib, "--argv0", argv0,
		filepath.Join(tree, "libexec", name),
	}, os.Args[1:]...)
	env := os.Environ()
	if gitCore := filepath.Join(tree, "libexec", "git-core"); os.Getenv("GIT_EXEC_PATH") == "" {
		if fi, err := os.Stat(gitCore); err == nil && fi.IsDir() {
			env = append(env, "GIT_EXEC_PATH="+gitCore)
		}
	}
	err = syscall.Exec(argv[0], argv, env)
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
