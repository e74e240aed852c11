package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/laingville/laingfile"
	"github.com/laingville/laingfile/test/testenv"
)

// devHost is who runs the Dev Containers CLI on the host: root, whose uid the CLI leaves alone,
// or a user whose uid is not the image user's, for whom the CLI gives `vscode` that uid first.
type devHost struct {
	name string
	uid  int // 0 for root
}

// devHostUID is the host user of the remap case: any uid but the image user's 1000.
const devHostUID = 4242

// devExample is an example's devcontainer and the command that shows its language's tools.
type devExample struct {
	lang  string
	tools string
}

// TestDevContainersCLI opens each example's devcontainer with the real Dev Containers CLI, as
// VS Code does: the devcontainer image is built with the engine's default builder and loaded,
// the example's .devcontainer/devcontainer.json is pointed at it, and `devcontainer up` and
// `devcontainer exec` run as root and as a host user with uid 4242 (the CLI then gives `vscode`
// that uid). As `vscode`, in both cases: the user, sudo, the language's tools, the direnv hook
// in a login shell, the label's metadata, and Nix: a build, `nix profile install` of its
// result, and garbage collection.
func TestDevContainersCLI(t *testing.T) {
	testenv.SkipIfShort(t)
	eng := testenv.NewEngine(t, testenv.EngineContainerd)
	cli := devcontainerCLI(t)
	e := newBuildxEnv(t)
	hosts := []devHost{{"root", 0}, {"uid 4242", devHostUID}}
	hostUser(t, devHostUID)

	for _, ex := range []devExample{
		{"python", "python3 --version"},
		{"node", "node --version && tsc --version"},
		{"go", "go version"},
		{"rust", "cargo --version"},
	} {
		t.Run(ex.lang, func(t *testing.T) {
			dir := filepath.Join(e.root, "examples", ex.lang)
			tag := engineImageTag(t, eng)
			e.mustBuildxOnEngine(t, eng, dir, "-f", "Laingfile", "--target", "devcontainer",
				"--platform", "linux/amd64", "--load", "-t", tag, ".")
			for _, h := range hosts {
				t.Run(h.name, func(t *testing.T) {
					ws := devWorkspace(t, dir, tag, h.uid)
					up := runDevcontainer(t, cli, eng, h, "up", "--workspace-folder", ws)
					var result struct {
						Outcome     string `json:"outcome"`
						ContainerID string `json:"containerId"`
						RemoteUser  string `json:"remoteUser"`
					}
					if err := json.Unmarshal([]byte(lastLine(up)), &result); err != nil || result.Outcome != "success" {
						t.Fatalf("devcontainer up: %v\n%s", err, up)
					}
					t.Cleanup(func() { engineDocker(t, eng, "rm", "-f", result.ContainerID) })
					if result.RemoteUser != "vscode" {
						t.Errorf("remote user %q, want vscode (from the image's label)", result.RemoteUser)
					}

					// The CLI gives vscode the host user's uid, so that the user can write the
					// checkout; root's checkout stays root's (the CLI leaves uid 1000 alone).
					user := []string{"vscode 1000", "sudo works", "tools work", "direnv hooked"}
					if h.uid != 0 {
						user = []string{"vscode " + strconv.Itoa(h.uid), "sudo works", "tools work", "direnv hooked", "workspace writable"}
					}
					out := runDevcontainer(t, cli, eng, h, "exec", "--workspace-folder", ws, "sh", "-c", devChecks(ex))
					if got, want := lines(out), append(user,
						"hello from nix", "installed in the profile", "kept by the collector", "sudo works",
					); strings.Join(got, "\n") != strings.Join(want, "\n") {
						t.Errorf("in the devcontainer:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
					}

					// The label's metadata (the Laingfile's `metadata:`) reaches the tools.
					checkMergedConfiguration(t, runDevcontainer(t, cli, eng, h, "read-configuration",
						"--workspace-folder", ws, "--include-merged-configuration"), exampleTarget(t, dir, "devcontainer"))
				})
			}
		})
	}
}

// checkMergedConfiguration checks the CLI's merged configuration against the Laingfile target:
// the users, the Nix store's onCreateCommand and the VS Code extensions of `metadata:`.
func checkMergedConfiguration(t *testing.T, out string, target *laingfile.Target) {
	t.Helper()
	var cfg struct {
		Merged struct {
			RemoteUser       string   `json:"remoteUser"`
			ContainerUser    string   `json:"containerUser"`
			OnCreateCommands []string `json:"onCreateCommands"`
			Customizations   struct {
				VSCode []struct {
					Extensions []string `json:"extensions"`
				} `json:"vscode"`
			} `json:"customizations"`
		} `json:"mergedConfiguration"`
	}
	if err := json.Unmarshal([]byte(lastLine(out)), &cfg); err != nil {
		t.Fatalf("devcontainer read-configuration: %v\n%s", err, out)
	}
	m := cfg.Merged
	if m.RemoteUser != target.User.Name || m.ContainerUser != target.User.Name {
		t.Errorf("merged users %q/%q, want %q", m.RemoteUser, m.ContainerUser, target.User.Name)
	}
	if len(m.OnCreateCommands) == 0 || !strings.Contains(m.OnCreateCommands[0], "/nix/var/nix") {
		t.Errorf("merged onCreateCommands %q lack the Nix store's", m.OnCreateCommands)
	}
	var got []string
	for _, c := range m.Customizations.VSCode {
		got = append(got, c.Extensions...)
	}
	want, _ := json.Marshal(target.Metadata["customizations"])
	for _, ext := range regexp.MustCompile(`"extensions":\[([^\]]*)\]`).FindAllStringSubmatch(string(want), -1) {
		for _, x := range strings.Split(strings.ReplaceAll(ext[1], `"`, ""), ",") {
			if x != "" && !slices.Contains(got, x) {
				t.Errorf("merged extensions %q lack %q from the Laingfile's metadata", got, x)
			}
		}
	}
}

// devChecks is what runs in the devcontainer as `vscode`; each line it prints is one check.
func devChecks(ex devExample) string {
	return `echo "$(id -un) $(id -u)"
sudo -n true && echo sudo works
{ ` + ex.tools + `; } >/dev/null && echo tools work
bash -lic 'type _direnv_hook >/dev/null && echo direnv hooked' 2>/dev/null | grep -x 'direnv hooked'
touch /workspace/.probe 2>/dev/null && rm /workspace/.probe && echo workspace writable
` + strings.ReplaceAll(hello, "PLATFORM", "devcontainer-"+ex.lang) + `out=$(nix-build "$@" --no-out-link hello.nix 2>log) || { cat log; exit 1; }
cat "$out"
nix profile install "$@" "$out" 2>log || { cat log; exit 1; }
[ "$(readlink -f ~/.nix-profile)" != "$(readlink -f /nix/var/nix/profiles/default)" ] && ls -L ~/.nix-profile >/dev/null && echo installed in the profile
nix-collect-garbage >log 2>&1 || { cat log; exit 1; }
[ -e "$out" ] && echo kept by the collector
sudo -n true && echo sudo works`
}

// devcontainerCLI is the Dev Containers CLI that hack/tools.sh installs from npm.
func devcontainerCLI(t *testing.T) string {
	t.Helper()
	cli, err := exec.LookPath("devcontainer")
	if err != nil {
		t.Fatalf("the Dev Containers CLI is not on PATH (%v); run hack/tools.sh", err)
	}
	return cli
}

// hostUser makes sure the host has a user with uid (and a group with gid) uid, with a home,
// as a developer's machine has; the Dev Containers CLI asks for its name. It is removed when
// the test ends if the test made it.
func hostUser(t *testing.T, uid int) {
	t.Helper()
	if _, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return
	}
	name := fmt.Sprintf("laingfile-dev%d", uid)
	if out, err := exec.Command("useradd", "--uid", strconv.Itoa(uid), "--user-group", "--create-home", "--shell", "/bin/sh", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", "--remove", name).CombinedOutput(); err != nil {
			t.Logf("userdel %s: %v\n%s", name, err, out)
		}
	})
}

// devWorkspace copies an example into a workspace that the host user owns, with its
// .devcontainer/devcontainer.json pointing at image instead of the pushed one.
func devWorkspace(t *testing.T, example, image string, uid int) string {
	t.Helper()
	ws := copyDir(t, example)
	cfgPath := filepath.Join(ws, ".devcontainer", "devcontainer.json")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	imageLine := regexp.MustCompile(`"image":\s*"[^"]*"`)
	if !imageLine.Match(cfg) {
		t.Fatalf("%s names no image:\n%s", cfgPath, cfg)
	}
	cfg = imageLine.ReplaceAll(cfg, []byte(`"image": "`+image+`"`))
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	// The user owns the checkout, and can reach it.
	for d := ws; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := filepath.Walk(ws, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	}); err != nil {
		t.Fatal(err)
	}
	return ws
}

// runDevcontainer runs the Dev Containers CLI as the host user h against the engine (as a
// developer's shell would, with DOCKER_HOST set), and returns its standard output.
func runDevcontainer(t *testing.T, cli string, eng testenv.Engine, h devHost, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+eng.Host, "DOCKER_CONTEXT=")
	if h.uid != 0 {
		u, err := user.LookupId(strconv.Itoa(h.uid))
		if err != nil {
			t.Fatal(err)
		}
		// The engine's socket group, as members of the docker group have it.
		sock, err := os.Stat(strings.TrimPrefix(eng.Host, "unix://"))
		if err != nil {
			t.Fatal(err)
		}
		sockGID := sock.Sys().(*syscall.Stat_t).Gid
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
			Uid: uint32(h.uid), Gid: uint32(h.uid), Groups: []uint32{sockGID},
		}}
		cmd.Env = append(cmd.Env, "HOME="+u.HomeDir, "USER="+u.Username, "DOCKER_CONFIG="+filepath.Join(u.HomeDir, ".docker"))
		cmd.Dir = u.HomeDir
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("devcontainer %s (as %s): %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), h.name, err, tail(stdout.String(), 30), tail(stderr.String(), 40))
	}
	return stdout.String()
}

func lastLine(s string) string {
	l := lines(s)
	return l[len(l)-1]
}
