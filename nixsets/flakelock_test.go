package nixsets

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	lockRev  = "48698d12cc10555a4f3e3222d9c669b884a49dfe"
	lockHash = "sha256-yxgb4AmkVHY5OOBrC79Vv6EVd4QZEotqv+6jcvA212M="
)

// lockWith is a flake.lock, as `nix flake lock` writes it, with the given nodes besides root.
func lockWith(rootInputs, nodes string) string {
	return `{
  "nodes": {
    ` + nodes + `
    "root": {"inputs": {` + rootInputs + `}}
  },
  "root": "root",
  "version": 7
}`
}

const githubNode = `"nixpkgs": {
      "locked": {"lastModified": 1700000000, "narHash": "` + lockHash + `", "owner": "NixOS", "repo": "nixpkgs", "rev": "` + lockRev + `", "type": "github"},
      "original": {"owner": "NixOS", "ref": "nixos-unstable", "repo": "nixpkgs", "type": "github"}
    },`

func TestPinFromFlakeLock(t *testing.T) {
	tests := []struct {
		name  string
		lock  string
		input string
		want  Pin
	}{
		{"github NixOS/nixpkgs", lockWith(`"nixpkgs": "nixpkgs"`, githubNode), "nixpkgs", Pin{Rev: lockRev, SHA256: lockHash}},
		{"a fork on GitHub", lockWith(`"nixpkgs": "nixpkgs"`, `"nixpkgs": {"locked": {"narHash": "`+lockHash+`", "owner": "acme", "repo": "nixpkgs", "rev": "`+lockRev+`", "type": "github"}},`),
			"nixpkgs", Pin{Rev: lockRev, URL: "https://github.com/acme/nixpkgs/archive/" + lockRev + ".tar.gz", SHA256: lockHash}},
		{"tarball", lockWith(`"nixpkgs": "nixpkgs"`, `"nixpkgs": {"locked": {"narHash": "`+lockHash+`", "type": "tarball", "url": "https://releases.nixos.org/nixos/24.11/nixos-24.11.1/nixexprs.tar.xz"}},`),
			"nixpkgs", Pin{URL: "https://releases.nixos.org/nixos/24.11/nixos-24.11.1/nixexprs.tar.xz", SHA256: lockHash}},
		{"node named differently from the input", lockWith(`"pkgs": "nixpkgs_2"`, strings.Replace(githubNode, `"nixpkgs":`, `"nixpkgs_2":`, 1)), "pkgs", Pin{Rev: lockRev, SHA256: lockHash}},
		{"follows", lockWith(`"nixpkgs": ["utils", "nixpkgs"], "utils": "utils"`, githubNode+`"utils": {"inputs": {"nixpkgs": "nixpkgs"}, "locked": {"narHash": "`+lockHash+`", "type": "tarball", "url": "https://x.org/u.tar.gz"}},`),
			"nixpkgs", Pin{Rev: lockRev, SHA256: lockHash}},
		{"base-32 narHash", lockWith(`"nixpkgs": "nixpkgs"`, strings.Replace(githubNode, lockHash, "sha256:0qyp6vq758zfpxm8n4hrhivib8dzanzhnsz070wpcm5417h1n66b", 1)), "nixpkgs", Pin{Rev: lockRev, SHA256: lockHash}},
		{"version 5", strings.Replace(lockWith(`"nixpkgs": "nixpkgs"`, githubNode), `"version": 7`, `"version": 5`, 1), "nixpkgs", Pin{Rev: lockRev, SHA256: lockHash}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PinFromFlakeLock([]byte(tt.lock), tt.input)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("pin = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPinFromFlakeLockErrors(t *testing.T) {
	tests := []struct {
		name  string
		lock  string
		input string
		want  string
	}{
		{"not JSON", "{nodes: }", "nixpkgs", "flake.lock is not valid JSON: invalid character 'n' looking for beginning of object key string"},
		{"truncated", lockWith(`"nixpkgs": "nixpkgs"`, githubNode)[:50], "nixpkgs", "flake.lock is not valid JSON: unexpected end of JSON input"},
		{"old version", `{"nodes": {}, "root": "root", "version": 4}`, "nixpkgs", "flake.lock has version 4; lock files of versions 5 to 7 (Nix 2.4 and later) are supported"},
		{"no root node", `{"nodes": {}, "root": "root", "version": 7}`, "nixpkgs", `flake.lock has no root node "root"`},
		{"unknown input", lockWith(`"nixpkgs": "nixpkgs", "flake-utils": "flake-utils"`, githubNode), "nixpks", `flake.lock has no input "nixpks"; its inputs are: flake-utils, nixpkgs`},
		{"no inputs", lockWith(``, ``), "nixpkgs", `flake.lock has no input "nixpkgs": it has no inputs at all`},
		{"dangling node", lockWith(`"nixpkgs": "nixpkgs_9"`, githubNode), "nixpkgs", `flake.lock: input "nixpkgs" refers to node "nixpkgs_9", which is not in nodes`},
		{"follows in a circle", lockWith(`"a": ["b"], "b": ["a"]`, ``), "a", `flake.lock: the follows of input "b" go round in a circle`},
		{"follows the flake itself", lockWith(`"nixpkgs": []`, ``), "nixpkgs", `flake.lock: input "nixpkgs" follows the flake itself`},
		{"not locked", lockWith(`"nixpkgs": "nixpkgs"`, `"nixpkgs": {"original": {"type": "indirect", "id": "nixpkgs"}},`), "nixpkgs", `flake.lock: input "nixpkgs" (node "nixpkgs") has no "locked"`},
		{"no narHash", lockWith(`"nixpkgs": "nixpkgs"`, strings.Replace(githubNode, `"narHash": "`+lockHash+`", `, "", 1)), "nixpkgs", "flake.lock: nodes.nixpkgs.locked has no narHash"},
		{"bad narHash", lockWith(`"nixpkgs": "nixpkgs"`, strings.Replace(githubNode, lockHash, "sha256-abc", 1)), "nixpkgs", `flake.lock: nodes.nixpkgs.locked.narHash "sha256-abc" is not a SHA-256 hash`},
		{"short rev", lockWith(`"nixpkgs": "nixpkgs"`, strings.Replace(githubNode, lockRev, "48698d1", 1)), "nixpkgs", `flake.lock: nodes.nixpkgs.locked.rev "48698d1" is not a 40-character commit hash`},
		{"GitHub Enterprise", lockWith(`"nixpkgs": "nixpkgs"`, strings.Replace(githubNode, `"type": "github"}`, `"type": "github", "host": "git.acme.com"}`, 1)), "nixpkgs",
			`flake.lock: input "nixpkgs" is on the GitHub host "git.acme.com"; only github.com is supported (use a tarball input with the archive URL)`},
		{"tarball without url", lockWith(`"nixpkgs": "nixpkgs"`, `"nixpkgs": {"locked": {"narHash": "`+lockHash+`", "type": "tarball"}},`), "nixpkgs", `flake.lock: nodes.nixpkgs.locked.url "" is not an http(s) URL`},
		{"git", lockWith(`"nixpkgs": "nixpkgs"`, `"nixpkgs": {"locked": {"narHash": "`+lockHash+`", "type": "git", "url": "https://github.com/NixOS/nixpkgs", "rev": "`+lockRev+`"}},`), "nixpkgs",
			`flake.lock: input "nixpkgs" is locked as type "git", which the Laingfile cannot follow: the build step has no git; the supported types are "github" and "tarball" (e.g. inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable"), or pin nixpkgs with rev and sha256`},
		{"path", lockWith(`"nixpkgs": "nixpkgs"`, `"nixpkgs": {"locked": {"narHash": "`+lockHash+`", "type": "path", "path": "/src/nixpkgs"}},`), "nixpkgs",
			`is locked as type "path", which the Laingfile cannot follow: the build step has no access to paths outside the build context;`},
		{"tarball with credentials", lockWith(`"nixpkgs": "nixpkgs"`, `"nixpkgs": {"locked": {"narHash": "`+lockHash+`", "type": "tarball", "url": "https://ci:TOKEN@host.example/nixpkgs.tar.gz"}},`), "nixpkgs",
			`flake.lock: nodes.nixpkgs.locked.url "https://xxxxx@host.example/nixpkgs.tar.gz" has credentials in it`},
		{"tarball url with a blank", lockWith(`"nixpkgs": "nixpkgs"`, `"nixpkgs": {"locked": {"narHash": "`+lockHash+`", "type": "tarball", "url": "https://host.example/a b.tar.gz"}},`), "nixpkgs",
			`is not an http(s) URL`},
		{"no type", lockWith(`"nixpkgs": "nixpkgs"`, `"nixpkgs": {"locked": {"narHash": "`+lockHash+`"}},`), "nixpkgs", "flake.lock: nodes.nixpkgs.locked has no type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := PinFromFlakeLock([]byte(tt.lock), tt.input)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n %s\nwant:\n %s", err, tt.want)
			}
		})
	}
}

func TestUnknownInputErrorListsInputs(t *testing.T) {
	_, err := PinFromFlakeLock([]byte(lockWith(`"nixpkgs": "nixpkgs", "home-manager": "hm"`, githubNode)), "nixpgks")
	var unknown *UnknownInputError
	if !errors.As(err, &unknown) {
		t.Fatalf("error %v is not an UnknownInputError", err)
	}
	if unknown.Input != "nixpgks" || !reflect.DeepEqual(unknown.Inputs, []string{"home-manager", "nixpkgs"}) {
		t.Errorf("error = %+v", unknown)
	}
}

func TestPinTarballURL(t *testing.T) {
	tests := []struct {
		pin  Pin
		want string
	}{
		{Pin{}, ""},
		{Pin{Rev: lockRev}, "https://github.com/NixOS/nixpkgs/archive/" + lockRev + ".tar.gz"},
		{Pin{Rev: lockRev, URL: "https://x.org/n.tar.gz"}, "https://x.org/n.tar.gz"},
	}
	for _, tt := range tests {
		if got := tt.pin.TarballURL(); got != tt.want {
			t.Errorf("%+v: TarballURL = %q, want %q", tt.pin, got, tt.want)
		}
		if tt.pin.IsZero() != (tt.want == "") {
			t.Errorf("%+v: IsZero = %v", tt.pin, tt.pin.IsZero())
		}
	}
}

// fanOutLock is a small flake.lock whose follows fan out: input a<k> follows ten times a<k-1>,
// each of which resolves back to the root, so that resolving a<levels-1> naively walks
// width^levels steps.
func fanOutLock(levels, width int) string {
	var b strings.Builder
	b.WriteString(`"a0": "root"`)
	for k := 1; k < levels; k++ {
		fmt.Fprintf(&b, `, "a%d": [`, k)
		for i := 0; i < width; i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, `"a%d"`, k-1)
		}
		b.WriteString("]")
	}
	return lockWith(b.String(), ``)
}

// chainLock is a flake.lock whose root input c<k> follows c<k-1>, n deep.
func chainLock(n int) string {
	var b strings.Builder
	b.WriteString(`"c0": "nixpkgs"`)
	for k := 1; k < n; k++ {
		fmt.Fprintf(&b, `, "c%d": ["c%d"]`, k, k-1)
	}
	return lockWith(b.String(), githubNode)
}

// TestPinFromFlakeLockHostile: hostile lock files end, quickly, with an error that says what
// was expected; none spins, none panics.
func TestPinFromFlakeLockHostile(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name  string
		ctx   context.Context
		lock  string
		input string
		want  string
	}{
		{"follows fanning out 30 levels x 10", context.Background(), fanOutLock(30, 10), "a29", `flake.lock: input "a29" (node "root") has no "locked"`},
		{"follows fanning out, cancelled", cancelled, fanOutLock(30, 10), "a29", "context canceled"},
		{"a lock over 1 MiB", context.Background(), lockWith(`"nixpkgs": "nixpkgs"`, githubNode+`"pad": {"original": {"pad": "`+strings.Repeat("x", 1<<20)+`"}},`), "nixpkgs",
			"flake.lock is 1049051 bytes; expected a lock file of at most 1048576 bytes (1 MiB)"},
		{"follows nested 40 deep", context.Background(), chainLock(40), "c39", `flake.lock: the follows of input "c39" nest more than 32 deep (down to "c6")`},
		{"a follows list of 150000 names", context.Background(), lockWith(`"r": "root", "top": [`+strings.Repeat(`"r", `, 150000)+`"r"]`, ``), "top", `flake.lock: resolving input "top" takes more than 100000 steps`},
		{"follows nested 30 deep", context.Background(), chainLock(30), "c29", ""},
		{"follows a path through a non-node", context.Background(), lockWith(`"a": ["a", "b"]`, ``), "a", `go round in a circle`},
		{"input is a number", context.Background(), lockWith(`"nixpkgs": 7`, ``), "nixpkgs", `not a node name or a follows list`},
		{"inputs not an object", context.Background(), `{"nodes": {"root": {"inputs": 7}}, "root": "root", "version": 7}`, "nixpkgs", "flake.lock is not valid JSON"},
		{"root null", context.Background(), `{"nodes": {"root": null}, "root": "root", "version": 7}`, "nixpkgs", `flake.lock has no input "nixpkgs": it has no inputs at all`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan struct{})
			var err error
			go func() {
				defer close(done)
				_, err = PinFromFlakeLockContext(tt.ctx, []byte(tt.lock), tt.input)
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("PinFromFlakeLock did not return within 5 s")
			}
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n %v\nwant one containing:\n %s", err, tt.want)
			}
		})
	}
}
