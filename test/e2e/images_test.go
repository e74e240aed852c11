package e2e

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/laingville/laingfile"
	"github.com/laingville/laingfile/laingfile2llb"
	"github.com/laingville/laingfile/nixsets"
	"github.com/laingville/laingfile/test/testenv"
)

// imageCheck is one property of a running image: a script, the user it runs as ("" for the
// image's) and what its output must be.
type imageCheck struct {
	name   string
	user   string
	script string
	// input is a host directory the script finds at inputDir ("" for none).
	input string
	// want returns what is wrong with the script's output, "" when nothing is. The script
	// must also exit 0.
	want func(out string) string
}

// runChecks runs each check in its own container of the image, as a subtest.
func runChecks(t *testing.T, ref, platform string, checks []imageCheck) {
	t.Helper()
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			out, status := runInImage(t, imageRun{Image: ref, Platform: platform, User: c.user, Script: c.script, Input: c.input})
			if status != 0 {
				t.Fatalf("exited %d:\n%s", status, out)
			}
			if c.want != nil {
				if problem := c.want(out); problem != "" {
					t.Errorf("%s\noutput:\n%s", problem, out)
				}
			}
		})
	}
}

// lines is the output as trimmed lines.
func lines(out string) []string {
	var l []string
	for _, s := range strings.Split(strings.TrimSpace(out), "\n") {
		l = append(l, strings.TrimSpace(s))
	}
	return l
}

// exactly wants the output's lines to be these.
func exactly(want ...string) func(string) string {
	return func(out string) string {
		if got := lines(out); !slices.Equal(got, want) {
			return fmt.Sprintf("output %q, want %q", got, want)
		}
		return ""
	}
}

// contains wants every fragment somewhere in the output.
func contains(fragments ...string) func(string) string {
	return func(out string) string {
		for _, f := range fragments {
			if !strings.Contains(out, f) {
				return fmt.Sprintf("output lacks %q", f)
			}
		}
		return ""
	}
}

// silent wants no output: the scripts print only what is wrong.
func silent(out string) string {
	if strings.TrimSpace(out) != "" {
		return "the script reported problems"
	}
	return ""
}

// exampleTarget parses the python example's Laingfile and returns a target of it.
func exampleTarget(t *testing.T, dir, name string) *laingfile.Target {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "Laingfile"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := laingfile.Parse("Laingfile", data, nixsets.ParseOptions(nil))
	if err != nil {
		t.Fatalf("the example's Laingfile: %v", err)
	}
	target := f.Target(name)
	if target == nil {
		t.Fatalf("the example has no target %q", name)
	}
	return target
}

// commonChecks hold for images of both kinds: the account files are real files, /tmp is
// sticky, /usr/bin/env and /bin/sh run, and the CA bundle is where TLS clients look.
func commonChecks() []imageCheck {
	return []imageCheck{{
		name: "system files",
		script: `for f in /etc/passwd /etc/group /etc/shadow; do
	[ -f "$f" ] && [ ! -L "$f" ] || echo "$f is not a regular file"
done
[ "$(stat -c %a /etc/shadow)" = 640 ] || echo "/etc/shadow mode $(stat -c %a /etc/shadow)"
[ "$(stat -c %a /tmp)" = 1777 ] || echo "/tmp mode $(stat -c %a /tmp)"
/usr/bin/env true || echo "/usr/bin/env does not run"
/bin/sh -c true || echo "/bin/sh does not run"
[ -n "${SSL_CERT_FILE:-}" ] && [ -s "$SSL_CERT_FILE" ] || echo "SSL_CERT_FILE=${SSL_CERT_FILE:-} is not a file"
for f in /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-bundle.crt; do
	[ "$(readlink -f "$f")" = "$(readlink -f "$SSL_CERT_FILE")" ] || echo "$f does not resolve to $SSL_CERT_FILE"
done
grep -q "BEGIN CERTIFICATE" /etc/ssl/certs/ca-certificates.crt || echo "the CA bundle has no certificates"`,
		want: silent,
	}}
}

// pathProbes say how to tell that a package of a set is installed: a command on PATH, or a
// file it provides through the user's profile. $LOADER is the platform's ELF interpreter.
var pathProbes = map[string]string{
	"bashInteractive": "cmd bash", "coreutils": "cmd ls", "findutils": "cmd find", "gnugrep": "cmd grep",
	"gnused": "cmd sed", "gawk": "cmd gawk", "gnutar": "cmd tar", "gzip": "cmd gzip",
	"cacert": "file $HOME/.nix-profile/etc/ssl/certs/ca-bundle.crt", "tzdata": "file $HOME/.nix-profile/share/zoneinfo/UTC",
	"glibc.out": "file $LOADER", "glibc": "cmd ldd", "stdenv.cc.cc.lib": "file $HOME/.nix-profile/lib/libstdc++.so.6",
	"gitMinimal": "cmd git", "curl": "cmd curl", "jq": "cmd jq", "ripgrep": "cmd rg", "fd": "cmd fd", "fzf": "cmd fzf",
	"bat": "cmd bat", "diffutils": "cmd diff", "just": "cmd just", "shadow": "cmd useradd", "starship": "cmd starship",
	"openssh": "cmd ssh", "sudo": "sudo", "nix": "cmd nix", "direnv": "cmd direnv",
	"nix-direnv": "file $HOME/.nix-profile/share/nix-direnv/direnvrc", "python312": "cmd python3",
	"python312Packages.pip": "cmd pip", "python312Packages.virtualenv": "cmd virtualenv", "uv": "cmd uv",
	"ruff": "cmd ruff", "pyright": "cmd pyright", "nodejs_22": "cmd node", "go": "cmd go", "rustc": "cmd rustc",
	"cargo": "cmd cargo", "bun": "cmd bun", "typescript": "cmd tsc", "typescript-language-server": "cmd typescript-language-server",
	"prettier": "cmd prettier", "eslint": "cmd eslint",
}

// loaders are the ELF interpreters vscodeCompat provides, by platform.
var loaders = map[string]string{"linux/amd64": "/lib64/ld-linux-x86-64.so.2", "linux/arm64": "/lib/ld-linux-aarch64.so.1"}

// packagesOnPath is a script that prints every package of the target's sets that is not
// installed. sudo must be the setuid copy, not a store path on PATH.
func packagesOnPath(t *testing.T, target *laingfile.Target, platform string) string {
	t.Helper()
	var sets []string
	for _, s := range target.Sets {
		sets = append(sets, s.Name)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "LOADER=%s\n", loaders[platform])
	for _, attr := range nixsets.Expand(sets) {
		probe, ok := pathProbes[attr]
		if !ok {
			t.Fatalf("no probe for %s (set %v): add one to pathProbes", attr, sets)
		}
		switch kind, arg, _ := strings.Cut(probe, " "); kind {
		case "cmd":
			fmt.Fprintf(&b, "command -v %s >/dev/null || echo '%s: no %s on PATH'\n", arg, attr, arg)
		case "file":
			fmt.Fprintf(&b, "[ -e %s ] || echo '%s: no %s'\n", arg, attr, arg)
		case "sudo":
			fmt.Fprintf(&b, "[ \"$(command -v sudo)\" = /usr/bin/sudo ] || echo \"sudo: $(command -v sudo), not /usr/bin/sudo\"\n")
		}
	}
	// And every directory on PATH exists, the profile's included.
	b.WriteString(`IFS=:; for d in $PATH; do [ -d "$d" ] || echo "PATH entry $d does not exist"; done`)
	return b.String()
}

// hello is a local derivation that needs nothing but /bin/sh. The fixture's Nix is Debian's
// build, whose build hook is /usr/libexec/nix/build-remote; the image has its own in the store,
// which a nixpkgs Nix finds by itself, so the checks name it.
const hello = `cd "$(mktemp -d)"
cat >hello.nix <<'EOF'
derivation {
  name = "hello-PLATFORM";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" "echo hello from nix >$out" ];
}
EOF
hook=$(dirname "$(readlink -f "$(command -v nix-build)")")/../libexec/build-remote
set -- --option substituters '' --option build-hook "$hook"
`

// foreignProgram is a dynamically linked program built outside Nix, as the VS Code server's
// node is: it needs glibc's loader at the standard path, libc and libstdc++.
type foreignProgram struct {
	dir    string // holds the program
	script string // runs it from inputDir
	want   string // what it prints
}

// foreignProgramFor gives the machine's own node on linux/amd64 and, on linux/arm64, a C++
// program cross-compiled with Debian's aarch64 toolchain. Either must really be dynamically
// linked against libstdc++ through the platform's loader, or the check would prove nothing.
func foreignProgramFor(t *testing.T, platform string) foreignProgram {
	t.Helper()
	dir := t.TempDir()
	var bin string
	var p foreignProgram
	switch platform {
	case "linux/amd64":
		node, err := exec.LookPath("node")
		if err != nil {
			t.Fatalf("no node on PATH (%v): the machine's node is the program from outside Nix", err)
		}
		data, err := os.ReadFile(node)
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(dir, "node")
		if err := os.WriteFile(bin, data, 0o755); err != nil {
			t.Fatal(err)
		}
		p = foreignProgram{dir: dir, script: inputDir + `/node -e 'console.log("node " + process.version + " runs")'`,
			want: "node " + strings.TrimSpace(mustOutput(t, node, "--version")) + " runs"}
	case "linux/arm64":
		writeFiles(t, dir, map[string]string{"hello.cc": "#include <iostream>\n#include <string>\n" +
			"int main() { std::string what = \"c++ runs\"; std::cout << what << std::endl; }\n"})
		bin = filepath.Join(dir, "hello")
		mustOutput(t, "aarch64-linux-gnu-g++", "-O1", "-o", bin, filepath.Join(dir, "hello.cc"))
		p = foreignProgram{dir: dir, script: inputDir + "/hello", want: "c++ runs"}
	default:
		t.Fatalf("no program from outside Nix for %s", platform)
	}
	checkDynamic(t, bin, loaders[platform])
	return p
}

// mustOutput runs a host command and returns its standard output (Debian's
// aarch64-linux-gnu-g++ comes from hack/tools.sh).
func mustOutput(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stderr strings.Builder
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// checkDynamic fails unless the ELF file at path is interpreted by loader and needs libstdc++.
func checkDynamic(t *testing.T, path, loader string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	interp := ""
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, _ := io.ReadAll(p.Open())
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	needed, _ := f.DynString(elf.DT_NEEDED)
	if interp != loader || !slices.Contains(needed, "libstdc++.so.6") {
		t.Fatalf("%s: interpreter %q, needs %v; want %s and libstdc++.so.6", path, interp, needed, loader)
	}
}

// devcontainerChecks are what a devcontainer must do when it runs: the user, sudo, the shell
// hooks, a Nix that verifies and builds as the user, the packages, and programs from outside
// Nix. TestDevContainersCLI opens devcontainers with the real Dev Containers CLI.
func devcontainerChecks(t *testing.T, target *laingfile.Target, platform string) []imageCheck {
	u := target.User
	uid := fmt.Sprint(u.UID)
	foreign := foreignProgramFor(t, platform)
	return append(commonChecks(), []imageCheck{
		{
			name:   "user",
			script: `id -u; id -g; id -un; echo "$HOME"; touch "$HOME/.probe" && echo home writable`,
			want:   exactly(uid, fmt.Sprint(u.GID), u.Name, u.Home, "home writable"),
		},
		{
			name: "sudo",
			script: `ls -ln /usr/bin/sudo | awk '{ print $1, $3, $4 }'
sudo -n true && echo true ran
sudo -n id -u
sudo -n sh -c 'echo by root >/tmp/sudo-probe' && stat -c %u /tmp/sudo-probe
sudo -n -u nobody-such true 2>&1 || echo refused unknown user`,
			want: exactly("-rwsr-xr-x 0 0", "true ran", "0", "0", "sudo: unknown user nobody-such", "refused unknown user"),
		},
		{
			name:   "direnv hook in bash login shells",
			script: `bash -lic 'type _direnv_hook >/dev/null && echo hooked' 2>/dev/null; grep -c 'direnv hook bash' ~/.bashrc; . ~/.config/direnv/direnvrc && type use_flake >/dev/null && echo nix-direnv loaded; grep -q '^source /nix/store/.*-nix-direnv-.*/share/nix-direnv/direnvrc$' /etc/direnv/direnvrc && echo system direnvrc`,
			want:   contains("hooked\n", "1\n", "nix-direnv loaded\n", "system direnvrc\n"),
		},
		{
			name: "nix store verifies",
			script: `nix-store --verify --check-contents >log 2>&1 && echo verified || cat log
nix-store --check-validity --print-invalid /nix/store/* | sed 's/$/ is not registered/'
profile=$(readlink -f ~/.nix-profile)
nix path-info --json "$profile" | grep -o '"registrationTime":[0-9]*'
grep -E '^(experimental-features|build-users-group|sandbox) ' /etc/nix/nix.conf`,
			want: func(out string) string {
				if strings.Contains(out, "is not registered") {
					return "the database lacks store paths of the image"
				}
				return contains("verified\n", `"registrationTime":1`+"\n", "experimental-features = nix-command flakes\n", "build-users-group =\n", "sandbox = false\n")(out)
			},
		},
		{
			name: "nix builds as the user",
			script: strings.ReplaceAll(hello, "PLATFORM", strings.ReplaceAll(platform, "/", "-")) + `out=$(nix-build "$@" hello.nix 2>log) || { cat log; exit 1; }
cat "$out"; stat -c %u "$out"
nix build "$@" -f hello.nix -o result-new 2>log || { cat log; exit 1; }
cat result-new
nix-store --verify-path "$out" && echo registered`,
			want: exactly("hello from nix", uid, "hello from nix", "registered"),
		},
		{
			// The VS Code server is such a program: the loader at its standard path, libc next
			// to it, libstdc++ through LD_LIBRARY_PATH, which must not name glibc.
			name:  "a program built outside Nix runs",
			input: foreign.dir,
			script: `case ":${LD_LIBRARY_PATH-}:" in *-glibc-*) echo "LD_LIBRARY_PATH names glibc: $LD_LIBRARY_PATH" ;; esac
` + foreign.script,
			want: exactly(foreign.want),
		},
		{
			// sudo is outside the profile; collecting it would break /usr/bin/sudo.
			name: "garbage collection keeps sudo",
			script: `nix-collect-garbage -d >log 2>&1 || { cat log; exit 1; }
sudo -n nix-collect-garbage -d >log 2>&1 || { cat log; exit 1; }
sudo -n true && echo sudo works`,
			want: exactly("sudo works"),
		},
		{
			name:   "packages on PATH",
			script: packagesOnPath(t, target, platform),
			want:   silent,
		},
		{
			name:   "devcontainer files",
			user:   "root",
			script: `[ "$(stat -c '%a %u' /etc/sudoers /etc/sudoers.d/` + u.Name + ` | sort -u)" = "440 0" ] || echo "sudoers modes: $(stat -c '%n %a %u' /etc/sudoers /etc/sudoers.d/*)"; grep -q '^ID=nixos$' /etc/os-release || echo "os-release is not NixOS"; [ -d /root ] || echo "no /root"`,
			want:   silent,
		},
	}...)
}

// runtimeChecks are what a runtime image must do: run as its user in a writable home, have no
// development tools it was not asked for, and run the application it was given.
func runtimeChecks(t *testing.T, dir string, target *laingfile.Target, cfg *v1.ConfigFile) []imageCheck {
	u := target.User
	ids := fmt.Sprintf("%d:%d", u.UID, u.GID)
	var copied []string
	for _, c := range target.Copy {
		copied = append(copied, c.Dst)
	}
	main, err := os.ReadFile(filepath.Join(dir, "app", "__main__.py"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`print\("([^"]*)"\)`).FindSubmatch(main)
	if m == nil {
		t.Fatalf("the example app prints nothing recognisable: %s", main)
	}
	var cmd []string
	for _, w := range append(append([]string{}, cfg.Config.Entrypoint...), cfg.Config.Cmd...) {
		cmd = append(cmd, "'"+strings.ReplaceAll(w, "'", `'\''`)+"'")
	}
	return append(commonChecks(), []imageCheck{
		{
			name:   "user",
			script: `id -u; id -g; id -un; echo "$HOME"; pwd; touch "$HOME/.probe" && echo home writable`,
			want:   exactly(fmt.Sprint(u.UID), fmt.Sprint(u.GID), u.Name, u.Home, target.Workdir, "home writable"),
		},
		{
			name: "no development tools",
			script: `for c in sudo nix nix-build nix-store git; do command -v "$c" && echo "$c is installed"; done
for f in /usr/bin/sudo /etc/sudoers /nix/var/nix/db /etc/nix /etc/os-release; do [ -e "$f" ] && echo "$f exists"; done
ls /nix/store | grep -E -- '-(nix|sudo|git|git-minimal)-[0-9]' | sed 's/$/ is in the store/'
true`,
			want: silent,
		},
		{
			name:   "copied files",
			script: `find ` + strings.Join(copied, " ") + ` -exec stat -c '%u:%g %n' {} + | cut -d' ' -f1 | sort -u`,
			want:   exactly(ids),
		},
		{
			name:   "the application runs",
			script: strings.Join(cmd, " "),
			want:   exactly(string(m[1])),
		},
	}...)
}

// checkConfig compares an image's configuration with its Laingfile target: user, workdir,
// command, environment, ports, labels (the devcontainer.metadata label included) and the raw
// `config:` fragment.
func checkConfig(t *testing.T, cfg *v1.ConfigFile, target *laingfile.Target) {
	t.Helper()
	c := cfg.Config
	if c.User != target.User.Name || c.WorkingDir != target.Workdir {
		t.Errorf("user %q workdir %q, want %q %q", c.User, c.WorkingDir, target.User.Name, target.Workdir)
	}
	if target.Cmd != nil && !slices.Equal(c.Cmd, target.Cmd) {
		t.Errorf("cmd %q, want %q", c.Cmd, target.Cmd)
	}
	if target.Cmd == nil && target.Kind == laingfile.KindDevcontainer && (len(c.Cmd) != 1 || !strings.HasSuffix(c.Cmd[0], "/bin/bash")) {
		t.Errorf("cmd %q, want the image's bash", c.Cmd)
	}
	if target.Cmd == nil && target.Kind == laingfile.KindRuntime && len(c.Cmd) != 0 {
		t.Errorf("cmd %q, want none", c.Cmd)
	}
	if !slices.Equal(c.Entrypoint, target.Entrypoint) && (len(c.Entrypoint) != 0 || len(target.Entrypoint) != 0) {
		t.Errorf("entrypoint %q, want %q", c.Entrypoint, target.Entrypoint)
	}
	env := map[string]string{}
	for _, kv := range c.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	want := map[string]string{"HOME": target.User.Home, "USER": target.User.Name}
	for _, kv := range target.Env {
		want[kv.Key] = kv.Value
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("env %s=%q, want %q", k, env[k], v)
		}
	}
	if !strings.HasPrefix(env["SSL_CERT_FILE"], "/nix/store/") {
		t.Errorf("SSL_CERT_FILE=%q", env["SSL_CERT_FILE"])
	}
	for _, p := range target.Expose {
		if _, ok := c.ExposedPorts[p.Port]; !ok {
			t.Errorf("port %s is not exposed: %v", p.Port, c.ExposedPorts)
		}
	}
	if len(c.ExposedPorts) != len(target.Expose) {
		t.Errorf("exposed ports %v, want %v", c.ExposedPorts, target.Expose)
	}
	for _, kv := range target.Labels {
		if c.Labels[kv.Key] != kv.Value {
			t.Errorf("label %s=%q, want %q", kv.Key, c.Labels[kv.Key], kv.Value)
		}
	}
	meta, hasMeta := c.Labels["devcontainer.metadata"]
	if target.Kind == laingfile.KindDevcontainer {
		var entries []map[string]any
		if err := json.Unmarshal([]byte(meta), &entries); err != nil || len(entries) == 0 {
			t.Errorf("devcontainer.metadata = %q: %v", meta, err)
		} else {
			got := entries[len(entries)-1]
			wantMeta := map[string]any{"remoteUser": target.User.Name, "containerUser": target.User.Name}
			for k, v := range target.Metadata {
				wantMeta[k] = v
			}
			for k, v := range wantMeta {
				if !jsonEqual(got[k], v) {
					t.Errorf("devcontainer.metadata %s = %v, want %v", k, got[k], v)
				}
			}
		}
	} else if hasMeta {
		t.Errorf("a %s image has a devcontainer.metadata label", target.Kind)
	}
	if len(target.Config) > 0 {
		var raw map[string]any
		data, _ := json.Marshal(c)
		_ = json.Unmarshal(data, &raw)
		for k, v := range target.Config {
			if !jsonEqual(raw[k], v) {
				t.Errorf("config %s = %v, want %v", k, raw[k], v)
			}
		}
	}
}

// jsonEqual compares two values as their JSON forms.
func jsonEqual(a, b any) bool {
	var x, y any
	da, _ := json.Marshal(a)
	db, _ := json.Marshal(b)
	_ = json.Unmarshal(da, &x)
	_ = json.Unmarshal(db, &y)
	return reflect.DeepEqual(x, y)
}

// TestPythonDevcontainerWorks runs the python example's devcontainer for real on both
// platforms (arm64 under emulation): as its user, with sudo, Nix, direnv and its packages
// (TestDevContainersCLI opens devcontainers with the real Dev Containers CLI).
func TestPythonDevcontainerWorks(t *testing.T) {
	testenv.SkipIfShort(t)
	dir := filepath.Join(testenv.RepoRoot(t), "examples", "python")
	target := exampleTarget(t, dir, "devcontainer")
	ref := imageName(t, "devcontainer")
	mustBuild(t, buildRequest{Dir: dir, Target: "devcontainer", Platforms: bothPlatforms, Push: ref})
	images := pulledImages(t, ref)
	for _, platform := range []string{"linux/amd64", "linux/arm64"} {
		t.Run(platform, func(t *testing.T) {
			img, ok := images[platform]
			if !ok {
				t.Fatalf("no %s image in %v", platform, images)
			}
			cfg, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			t.Run("image config", func(t *testing.T) { checkConfig(t, cfg, target) })
			if platform == "linux/amd64" { // the host builds the fixture natively
				t.Run("every store path is the fixture's own", func(t *testing.T) { checkUnmodifiedClosure(t, img, target) })
			}
			runChecks(t, ref, platform, devcontainerChecks(t, target, platform))
		})
	}
}

// checkUnmodifiedClosure checks that every store path of an x86_64-linux image but its profile
// is one that the fixture itself defines: an output of one of the target's attributes, or in
// the closure of one, realised on the host without any override. An image that carried a
// package rebuilt with other arguments (sudo without PAM) would need a build that the binary
// cache does not have.
func checkUnmodifiedClosure(t *testing.T, img v1.Image, target *laingfile.Target) {
	t.Helper()
	var sets []string
	for _, s := range target.Sets {
		sets = append(sets, s.Name)
	}
	var attrs []string
	for _, a := range nixsets.Expand(sets, laingfile2llb.ImpliedPackages()...) {
		attrs = append(attrs, strconv.Quote(a))
	}
	for _, p := range target.Packages {
		if p.Attr != "" {
			attrs = append(attrs, strconv.Quote(p.Attr))
		}
	}
	const expr = `{ nixpkgs, attrs }:
let
  pkgs = import nixpkgs { system = "x86_64-linux"; };
  get = a: builtins.foldl' (set: n: builtins.getAttr n set) pkgs (builtins.filter builtins.isString (builtins.split "[.]" a));
in builtins.concatMap (a: let p = get a; in map (o: builtins.getAttr o p) (p.outputs or [ "out" ])) attrs`
	settings := []string{"--option", "sandbox", "false", "--option", "build-users-group", "", "--option", "substituters", ""}
	outputs := mustOutput(t, "nix-build", append(settings, "--no-out-link", "-E", expr,
		"--arg", "nixpkgs", filepath.Join(testenv.RepoRoot(t), "test", "fixtures", "nixpkgs"),
		"--arg", "attrs", "[ "+strings.Join(attrs, " ")+" ]")...)
	fixture := map[string]bool{}
	for _, p := range strings.Fields(mustOutput(t, "nix-store", append([]string{"--query", "--requisites"}, strings.Fields(outputs)...)...)) {
		fixture[p] = true
	}
	var foreign []string
	count := 0
	for _, l := range layersWithHistory(t, img) {
		paths, ok := strings.CutPrefix(l.CreatedBy, "nix: ")
		if !ok {
			continue
		}
		for _, p := range strings.Fields(paths) {
			count++
			// The profile and its (empty) manifest are the build expression's own.
			if !fixture[p] && !strings.HasSuffix(p, "-laingfile-profile") && !strings.HasSuffix(p, "-manifest.nix") {
				foreign = append(foreign, p)
			}
		}
	}
	if count == 0 {
		t.Fatal("the image has no store path layers")
	}
	if len(foreign) > 0 {
		t.Errorf("%d of %d store paths are not the fixture's own outputs: %v", len(foreign), count, foreign)
	}
}

// TestPythonRuntimeWorks runs the python example's runtime image: as its user, without
// development tools, running the application copied into it.
func TestPythonRuntimeWorks(t *testing.T) {
	testenv.SkipIfShort(t)
	dir := filepath.Join(testenv.RepoRoot(t), "examples", "python")
	target := exampleTarget(t, dir, "runtime")
	ref := imageName(t, "runtime")
	const platform = "linux/amd64"
	mustBuild(t, buildRequest{Dir: dir, Target: "runtime", Platforms: platform, Push: ref})
	img, ok := pulledImages(t, ref)[platform]
	if !ok {
		t.Fatalf("no %s image", platform)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("image config", func(t *testing.T) { checkConfig(t, cfg, target) })
	runChecks(t, ref, platform, runtimeChecks(t, dir, target, cfg))
}
