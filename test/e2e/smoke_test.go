package e2e

// Smoke tests of the two test inputs, without the frontend: the Nix builder image
// from the local registry, run by BuildKit the way the frontend runs it (with /nix
// as a cache mount seeded from the image's /nix), and the offline nixpkgs fixture
// universe built with it for both target systems.

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/fsutil"

	"github.com/laingville/laingfile/test/testenv"
)

// smokeProfileBin is where the builder image (like nixos/nix) keeps its commands.
const smokeProfileBin = "/nix/var/nix/profiles/default/bin"

// smokeRun is one command in the builder image.
type smokeRun struct {
	platform ocispecs.Platform
	// cacheID names the cache mount at /nix; seeded says whether it starts from
	// the image's /nix (llb.SourcePath) or empty.
	cacheID string
	seeded  bool
	args    []string
	// fixture mounts the fixture universe read-only at /src.
	fixture bool
}

// smokeExec runs r against the real daemon and returns the directory its /out
// mount was exported to, the progress log, and the solve error.
func smokeExec(t *testing.T, r smokeRun) (string, string, error) {
	t.Helper()
	c := testenv.Client(t)
	builder := smokeBuilderPinned(t)
	img := llb.Image(builder, llb.Platform(r.platform))
	nixSrc := llb.Scratch()
	nixOpts := []llb.MountOption{llb.AsPersistentCacheDir(r.cacheID, llb.CacheMountShared)}
	if r.seeded {
		nixSrc = img
		nixOpts = append(nixOpts, llb.SourcePath("/nix"))
	}
	runOpts := []llb.RunOption{
		llb.Args(r.args),
		llb.AddEnv("PATH", smokeProfileBin+":/bin:/usr/bin"),
		llb.AddEnv("USER", "root"),
		llb.AddMount("/nix", nixSrc, nixOpts...),
		llb.IgnoreCache,
	}
	opt := client.SolveOpt{}
	if r.fixture {
		dir := filepath.Join(testenv.RepoRoot(t), "test", "fixtures", "nixpkgs")
		if _, err := os.Stat(filepath.Join(dir, "bootstrap")); err != nil {
			t.Fatalf("fixture universe has no bootstrap trees (%v); run hack/nix-builder.sh", err)
		}
		fs, err := fsutil.NewFS(dir)
		if err != nil {
			t.Fatal(err)
		}
		opt.LocalMounts = map[string]fsutil.FS{"nixpkgs": fs}
		runOpts = append(runOpts, llb.AddMount("/src", llb.Local("nixpkgs"), llb.Readonly))
	}
	run := img.Run(runOpts...)
	out := run.AddMount("/out", llb.Scratch())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	def, err := out.Marshal(ctx, llb.Platform(r.platform))
	if err != nil {
		t.Fatal(err)
	}
	outDir := t.TempDir()
	opt.Exports = []client.ExportEntry{{Type: client.ExporterLocal, OutputDir: outDir}}

	var logBuf bytes.Buffer
	ch := make(chan *client.SolveStatus)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for s := range ch {
			for _, l := range s.Logs {
				logBuf.Write(l.Data)
			}
		}
	}()
	_, err = c.Solve(ctx, def, opt, ch)
	wg.Wait()
	return outDir, logBuf.String(), err
}

// smokeBuilderPinned is the builder image pinned to the digest the registry has
// now, so that the cache ids below follow the image like the frontend's do.
func smokeBuilderPinned(t *testing.T) string {
	t.Helper()
	ref := testenv.BuilderImage(t)
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(r)
	if err != nil {
		t.Fatalf("resolving %s: %v", ref, err)
	}
	return r.Context().Digest(desc.Digest.String()).String()
}

func smokeDigestID(t *testing.T) string {
	ref := smokeBuilderPinned(t)
	return ref[strings.LastIndex(ref, ":")+1:][:16]
}

// smokePlatforms are the builder image's platforms with their Nix systems.
var smokePlatforms = []struct {
	platform ocispecs.Platform
	system   string
}{
	{ocispecs.Platform{OS: "linux", Architecture: "amd64"}, "x86_64-linux"},
	{ocispecs.Platform{OS: "linux", Architecture: "arm64"}, "aarch64-linux"},
}

// smokeSeeded runs a shell script in the builder image with /nix seeded from the
// image (a cache per system) and returns the directory its /out was exported to.
func smokeSeeded(t *testing.T, platform ocispecs.Platform, system, script string) string {
	t.Helper()
	outDir, log, err := smokeExec(t, smokeRun{
		platform: platform,
		cacheID:  "laingfile-e2e-smoke-nix-" + system + "-" + smokeDigestID(t),
		seeded:   true,
		args:     []string{"/bin/sh", "-c", script},
	})
	if err != nil {
		t.Fatalf("running the builder image: %v\n%s", err, log)
	}
	return outDir
}

func smokeRead(t *testing.T, dir, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatalf("the run left no %s: %v", file, err)
	}
	return strings.TrimSpace(string(b))
}

// TestBuilderImageRunsLikeNixOS runs the builder image of each platform with /nix
// seeded from the image: Nix works, its database matches the store, and it builds
// a derivation whose builder is the image's busybox (under QEMU for arm64) as a
// nixbld build user.
func TestBuilderImageRunsLikeNixOS(t *testing.T) {
	testenv.SkipIfShort(t)
	for _, tt := range smokePlatforms {
		t.Run(tt.system, func(t *testing.T) {
			// A new derivation every run, so that Nix really builds.
			nonce := fmt.Sprint(time.Now().UnixNano())
			// With build users, Nix must load its seccomp filter, which an emulated
			// (QEMU user mode) Nix cannot: "unable to load seccomp BPF program:
			// Invalid argument". The real image behaves the same; a native arm64
			// host would not need this.
			opts := ""
			if tt.platform.Architecture != runtimeArch() {
				opts = "--option filter-syscalls false "
			}
			script := `set -e
nix-build --version > /out/version
nix-instantiate --eval -E builtins.currentSystem > /out/system
nix-store --verify --check-contents > /out/verify 2>&1
bb=$(readlink ` + smokeProfileBin + `/cat)
bb=${bb%/cat}
expr='derivation { name = "smoke"; system = "` + tt.system + `"; nonce = "` + nonce + `";
  builder = "'"$bb"'/sh"; args = [ "-c" "echo hi from $('"$bb"'/uname -m) as $('"$bb"'/id -u) > $out" ]; }'
out=$(nix-build ` + opts + `--no-out-link -E "$expr")
cat "$out" > /out/built
`
			outDir := smokeSeeded(t, tt.platform, tt.system, script)
			if got := smokeRead(t, outDir, "version"); got != "nix-build (Nix) 2.8.0" {
				t.Errorf("nix-build --version = %q", got)
			}
			if got := smokeRead(t, outDir, "system"); got != `"`+tt.system+`"` {
				t.Errorf("builtins.currentSystem = %s, want %q", got, tt.system)
			}
			if got := smokeRead(t, outDir, "verify"); strings.Contains(got, "modified") || strings.Contains(got, "error") {
				t.Errorf("nix-store --verify --check-contents:\n%s", got)
			}
			want := map[string]string{"x86_64-linux": "x86_64", "aarch64-linux": "aarch64"}[tt.system]
			// nix.conf says build-users-group = nixbld, as in the real image: the
			// builder runs as the first build user.
			if got := smokeRead(t, outDir, "built"); got != "hi from "+want+" as 30001" {
				t.Errorf("derivation output = %q, want %q", got, "hi from "+want+" as 30001")
			}
		})
	}
}

// smokeRealProfileCommands are the commands the default profile of the real
// nixos/nix:2.28.3 image may have: those of nix, bashInteractive, coreutils-full,
// gnutar, gzip, gnugrep, which, curl, less, wget, man, findutils, git and
// openssh (docker.nix). Anything else on the stand-in's PATH (busybox's sed,
// awk, xz, vi, ...) would let the project depend on a tool users do not have.
var smokeRealProfileCommands = strings.Fields(`
	nix nix-build nix-channel nix-collect-garbage nix-copy-closure nix-daemon nix-env
	nix-hash nix-instantiate nix-prefetch-url nix-shell nix-store
	bash sh
	[ b2sum base32 base64 basename basenc cat chcon chgrp chmod chown chroot cksum comm
	cp csplit cut date dd df dir dircolors dirname du echo env expand expr factor false
	fmt fold groups head hostid id install join link ln logname ls md5sum mkdir mkfifo
	mknod mktemp mv nice nl nohup nproc numfmt od paste pathchk pinky pr printenv printf
	ptx pwd readlink realpath rm rmdir runcon seq sha1sum sha224sum sha256sum sha384sum
	sha512sum shred shuf sleep sort split stat stdbuf stty sum sync tac tail tee test
	timeout touch tr true truncate tsort tty uname unexpand uniq unlink users vdir wc
	who whoami yes
	tar gzip gunzip zcat gzexe uncompress zcmp zdiff zegrep zfgrep zforce zgrep zless
	zmore znew grep egrep fgrep which curl less lessecho lesskey wget
	man apropos whatis mandb manpath catman lexgrog find xargs locate updatedb
	git git-receive-pack git-shell git-upload-archive git-upload-pack git-cvsserver scalar
	ssh scp sftp ssh-add ssh-agent ssh-keygen ssh-keyscan ssh-copy-id sshd
`)

// smokeBuilderConfig is the image config of the builder for one platform.
func smokeBuilderConfig(t *testing.T, platform ocispecs.Platform) *v1.ConfigFile {
	t.Helper()
	r, err := name.ParseReference(smokeBuilderPinned(t), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithPlatform(v1.Platform{OS: platform.OS, Architecture: platform.Architecture}))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cf
}

// TestBuilderImageIsNoKinderThanNixOS checks the builder image has what
// docker.io/nixos/nix:2.28.3 has and nothing more on PATH: no sed or awk, a real
// bash as sh, the nixbld build users and build-users-group = nixbld, docker.nix's
// Env (no HOME, TLS certificates in the default profile), git and curl that run.
func TestBuilderImageIsNoKinderThanNixOS(t *testing.T) {
	testenv.SkipIfShort(t)
	allowed := map[string]bool{}
	for _, c := range smokeRealProfileCommands {
		allowed[c] = true
	}
	for _, tt := range smokePlatforms {
		t.Run(tt.system, func(t *testing.T) {
			cf := smokeBuilderConfig(t, tt.platform)
			env := map[string]string{}
			for _, kv := range cf.Config.Env {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
			if _, ok := env["HOME"]; ok {
				t.Errorf("image config sets HOME=%s; nixos/nix does not", env["HOME"])
			}
			wantEnv := map[string]string{
				"USER":              "root",
				"PATH":              "/root/.nix-profile/bin:/nix/var/nix/profiles/default/bin:/nix/var/nix/profiles/default/sbin",
				"NIX_SSL_CERT_FILE": "/nix/var/nix/profiles/default/etc/ssl/certs/ca-bundle.crt",
				"SSL_CERT_FILE":     "/nix/var/nix/profiles/default/etc/ssl/certs/ca-bundle.crt",
				"GIT_SSL_CAINFO":    "/nix/var/nix/profiles/default/etc/ssl/certs/ca-bundle.crt",
			}
			for k, v := range wantEnv {
				if env[k] != v {
					t.Errorf("image config %s=%q, want %q", k, env[k], v)
				}
			}
			if cf.Config.User != "0:0" {
				t.Errorf("image config User = %q, want 0:0", cf.Config.User)
			}
			script := `set -e
if command -v sed >/dev/null; then echo present; else echo absent; fi > /out/sed
sh -c 'echo "$BASH_VERSION"' > /out/sh-bash-version
/usr/bin/env bash -c 'echo "$BASH_VERSION"' > /out/env-bash-version
id nixbld1 > /out/id-nixbld1 2>&1 || true
grep '^nixbld' /etc/group > /out/group || true
cat /etc/nix/nix.conf > /out/nix.conf
grep -c 'BEGIN CERTIFICATE' "` + env["NIX_SSL_CERT_FILE"] + `" > /out/certs || true
ls ` + smokeProfileBin + ` > /out/profile-bin
curl --version > /out/curl 2>&1 || true
cd /tmp && git init -q r && git -C r -c user.name=s -c user.email=s@s commit -q --allow-empty -m x &&
  git clone -q r r2 && git -C r2 rev-list --count HEAD > /out/git 2>&1 || true
ssh -V > /out/ssh 2>&1 || true
`
			outDir := smokeSeeded(t, tt.platform, tt.system, script)
			if got := smokeRead(t, outDir, "sed"); got != "absent" {
				t.Errorf("command -v sed: %s; nixos/nix has no sed", got)
			}
			for _, f := range []string{"sh-bash-version", "env-bash-version"} {
				if got := smokeRead(t, outDir, f); !strings.HasPrefix(got, "5.") {
					t.Errorf("%s: $BASH_VERSION = %q, want bash's (sh is bash in nixos/nix)", f, got)
				}
			}
			if got := smokeRead(t, outDir, "id-nixbld1"); !strings.HasPrefix(got, "uid=30001(nixbld1) gid=30000(nixbld)") {
				t.Errorf("id nixbld1 = %q, want uid 30001, gid 30000", got)
			}
			if got := smokeRead(t, outDir, "group"); !strings.HasPrefix(got, "nixbld:x:30000:nixbld1,nixbld10,") || !strings.HasSuffix(got, ",nixbld9") {
				t.Errorf("nixbld group = %q, want gid 30000 with nixbld1..32 as members", got)
			}
			conf := smokeRead(t, outDir, "nix.conf")
			for _, line := range []string{"build-users-group = nixbld", "sandbox = false",
				"trusted-public-keys = cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="} {
				if !strings.Contains("\n"+conf+"\n", "\n"+line+"\n") {
					t.Errorf("nix.conf lacks %q:\n%s", line, conf)
				}
			}
			if strings.Contains(conf, "experimental-features") {
				t.Errorf("nix.conf enables experimental features; nixos/nix does not:\n%s", conf)
			}
			if got := smokeRead(t, outDir, "certs"); got == "0" || got == "" {
				t.Errorf("NIX_SSL_CERT_FILE %s holds %q certificates", env["NIX_SSL_CERT_FILE"], got)
			}
			for _, c := range smokeLines(smokeRead(t, outDir, "profile-bin")) {
				if !allowed[c] {
					t.Errorf("%s/%s is on PATH, but no package of nixos/nix's profile provides it", smokeProfileBin, c)
				}
			}
			if got := smokeRead(t, outDir, "curl"); !strings.HasPrefix(got, "curl ") {
				t.Errorf("curl --version: %s", got)
			}
			if got := smokeRead(t, outDir, "git"); got != "1" {
				t.Errorf("git init, commit and clone: %s", got)
			}
			if got := smokeRead(t, outDir, "ssh"); !strings.HasPrefix(got, "OpenSSH_") {
				t.Errorf("ssh -V: %s", got)
			}
		})
	}
}

// TestBuilderImageNeedsItsNix checks the builder is as fragile as nixos/nix:
// over an empty cache mount at /nix (no `from`), nothing runs, not even /bin/sh.
func TestBuilderImageNeedsItsNix(t *testing.T) {
	testenv.SkipIfShort(t)
	for _, args := range [][]string{
		{smokeProfileBin + "/nix-build", "--version"},
		{"/bin/sh", "-c", "true"},
	} {
		t.Run(filepath.Base(args[0]), func(t *testing.T) {
			cacheID := fmt.Sprintf("laingfile-e2e-smoke-empty-%d", time.Now().UnixNano())
			t.Cleanup(func() { smokePruneCache(t, cacheID) })
			_, log, err := smokeExec(t, smokeRun{
				platform: ocispecs.Platform{OS: "linux", Architecture: "amd64"},
				cacheID:  cacheID,
				args:     args,
			})
			if err == nil {
				t.Fatalf("%v ran with an empty /nix:\n%s", args, log)
			}
			if !strings.Contains(err.Error()+log, "no such file or directory") {
				t.Errorf("%v failed, but not for a missing file: %v\n%s", args, err, log)
			}
		})
	}
}

// smokePruneCache removes the cache mount a test made for itself.
func smokePruneCache(t *testing.T, cacheID string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := testenv.Client(t).Prune(ctx, nil, client.WithFilter([]string{"description~=" + cacheID}))
	if err != nil {
		t.Errorf("removing cache mount %s: %v", cacheID, err)
	}
}

// TestFixtureBuildsWithBuilderImage builds fixture packages with the amd64 builder
// for both systems (aarch64 builders run under QEMU), as the frontend does: the
// built paths are the instantiated ones and the binaries are for the target.
func TestFixtureBuildsWithBuilderImage(t *testing.T) {
	testenv.SkipIfShort(t)
	// Each attribute with the program its bin/ must run (an ELF, possibly
	// through symlinks into other store paths or a #! interpreter).
	attrs := []struct{ attr, program string }{
		{"coreutils", "ls"},
		{"python312", "python3"},
	}
	tests := []struct {
		system  string
		machine elf.Machine
	}{
		{"x86_64-linux", elf.EM_X86_64},
		{"aarch64-linux", elf.EM_AARCH64},
	}
	for _, tt := range tests {
		t.Run(tt.system, func(t *testing.T) {
			var script strings.Builder
			script.WriteString("set -e\ncd /tmp\nmkdir -p /out/store\n")
			for _, a := range attrs {
				fmt.Fprintf(&script, `drv=$(nix-instantiate /src -A %[1]s --argstr system %[2]s)
nix-store --query --outputs "$drv" > /out/%[1]s.instantiated
nix-build /src -A %[1]s --argstr system %[2]s --option extra-platforms aarch64-linux --no-out-link > /out/%[1]s.built
nix-store --query --requisites $(cat /out/%[1]s.built) > /out/%[1]s.closure
`, a.attr, tt.system)
			}
			script.WriteString("cp -a $(cat /out/*.closure | sort -u) /out/store/\n")
			outDir, log, err := smokeExec(t, smokeRun{
				platform: ocispecs.Platform{OS: "linux", Architecture: "amd64"},
				cacheID:  "laingfile-e2e-smoke-nix-x86_64-linux-" + smokeDigestID(t),
				seeded:   true,
				args:     []string{"/bin/sh", "-c", script.String()},
				fixture:  true,
			})
			if err != nil {
				t.Fatalf("building the fixture for %s: %v\n%s", tt.system, err, log)
			}
			store := filepath.Join(outDir, "store")
			for _, a := range attrs {
				built := smokeLines(smokeRead(t, outDir, a.attr+".built"))
				inst := smokeLines(smokeRead(t, outDir, a.attr+".instantiated"))
				if len(built) == 0 || strings.Join(built, " ") != strings.Join(inst, " ") {
					t.Errorf("%s: nix-build gave %v, nix-instantiate said %v", a.attr, built, inst)
					continue
				}
				program := built[0] + "/bin/" + a.program
				if len(smokeELFMachines(t, store, []string{program})) == 0 {
					t.Errorf("%s: %s leads to no ELF file", a.attr, program)
				}
				closure := smokeLines(smokeRead(t, outDir, a.attr+".closure"))
				machines := smokeELFMachines(t, store, closure)
				if len(machines) == 0 {
					t.Errorf("%s: no ELF file in its closure", a.attr)
				}
				for file, m := range machines {
					if m != tt.machine {
						t.Errorf("%s: %s is %v, want %v", a.attr, file, m, tt.machine)
					}
				}
			}
		})
	}
}

func smokeLines(s string) []string {
	lines := strings.Fields(s)
	sort.Strings(lines)
	return lines
}

// smokeELFMachines follows every file reachable from the given store paths in the
// exported store copy (symlinks into other store paths and `#!` interpreters
// included) and returns the machine of each ELF file found.
func smokeELFMachines(t *testing.T, store string, paths []string) map[string]elf.Machine {
	t.Helper()
	out := map[string]elf.Machine{}
	seen := map[string]bool{}
	var visit func(p string, depth int)
	visit = func(p string, depth int) {
		if depth > 40 || seen[p] {
			return
		}
		seen[p] = true
		local := filepath.Join(store, strings.TrimPrefix(p, "/nix/store/"))
		fi, err := os.Lstat(local)
		if err != nil {
			t.Errorf("%s is not in the copied closure: %v", p, err)
			return
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(local)
			if err != nil {
				t.Fatal(err)
			}
			if !filepath.IsAbs(target) {
				target = filepath.Join(filepath.Dir(p), target)
			}
			if strings.HasPrefix(target, "/nix/store/") {
				visit(target, depth+1)
			}
		case fi.IsDir():
			entries, err := os.ReadDir(local)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				visit(p+"/"+e.Name(), depth)
			}
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(local)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.HasPrefix(b, []byte("\x7fELF")) {
				f, err := elf.NewFile(bytes.NewReader(b))
				if err != nil {
					t.Errorf("%s: %v", p, err)
					return
				}
				out[p] = f.Machine
			} else if bytes.HasPrefix(b, []byte("#!/nix/store/")) {
				line, _, _ := strings.Cut(string(b[2:]), "\n")
				if fields := strings.Fields(line); len(fields) > 0 {
					visit(fields[0], depth+1)
				}
			}
		}
	}
	for _, p := range paths {
		visit(p, 0)
	}
	return out
}

// runtimeArch is the build host's architecture, where BuildKit runs images natively.
func runtimeArch() string { return runtime.GOARCH }
