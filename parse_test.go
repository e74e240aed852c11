package laingfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// testOptions are the names the frontend passes: the seed library's sets and overlays.
func testOptions() Options {
	return Options{
		KnownSets: []string{"base", "vscodeCompat", "devTools", "nixTools", "python", "pythonDev", "node", "nodeDev",
			"go", "goDev", "rust", "rustDev", "bash", "bashDev"},
		KnownOverlays: []string{"cve-patches", "license-fixes", "custom-builds"},
		BuildArgs:     map[string]string{"VERSION": "1.2.3", "PORT": "8080", "APP_UID": "1001"},
	}
}

// errorLines formats each error as "line:col: message".
func errorLines(t *testing.T, err error) []string {
	t.Helper()
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, not Errors: %v", err, err)
	}
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = fmt.Sprintf("%d:%d: %s", e.Range.Start.Line, e.Range.Start.Column, e.Msg)
	}
	return out
}

const hash = "sha256-yxgb4AmkVHY5OOBrC79Vv6EVd4QZEotqv+6jcvA212M="
const rev = "48698d12cc10555a4f3e3222d9c669b884a49dfe"
const cacheKey = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="

func TestParseErrors(t *testing.T) {
	hashHelp := `; expected the NAR hash in SRI form "sha256-" followed by 44 base64 characters, as in flake.lock's narHash (e.g. ` + hash + `)`
	portHelp := `: expected a port number 1-65535, optionally followed by /tcp, /udp or /sctp (e.g. 8000 or "53/udp")`
	pkgHelp := `: expected a nixpkgs attribute path (e.g. python312Packages.pip) or a file in the build context starting with "./"`
	tests := []struct {
		name string
		src  string
		opts *Options
		want []string
	}{
		// The file as a whole.
		{"empty file", "", nil, []string{`1:1: the Laingfile is empty: expected "targets:" or a target's keys ("kind:", "sets:", …)`}},
		{"only comments", "# syntax=ghcr.io/laingville/laingfile:1\n# nothing\n", nil, []string{`1:1: the Laingfile is empty: expected "targets:" or a target's keys ("kind:", "sets:", …)`}},
		{"top-level list", "- kind: runtime\n", nil, []string{`1:1: expected a mapping at the top level ("targets:", or a single target's keys such as "kind:"), got a list`}},
		{"top-level string", "runtime\n", nil, []string{`1:1: expected a mapping at the top level ("targets:", or a single target's keys such as "kind:"), got a string`}},
		{"two documents", "kind: runtime\n---\nkind: devcontainer\n", nil, []string{`2:1: a Laingfile holds one YAML document; remove this "---" and what follows it, or merge it into the first document`}},
		{"no targets", "nixpkgs:\n  rev: " + rev + "\n  sha256: " + hash + "\n", nil, []string{`1:1: no targets: expected "targets:", or a single target's keys ("kind:", "sets:", …) at the top level`}},
		{"not UTF-8", "kind: runtime\nenv: {A: \"\xff\"}\n", nil, []string{`2:11: the Laingfile is not valid UTF-8 text`}},
		{"too large", "kind: runtime\n" + strings.Repeat("# padding\n", 13108), nil, []string{`1:1: the Laingfile is too large: 131094 bytes, more than the limit of 128 KiB`}},
		{"nested too deep", "kind: devcontainer\nmetadata: {a: " + strings.Repeat("[", 70) + strings.Repeat("]", 70) + "}\n", nil, []string{`2:78: the Laingfile nests lists and mappings more than 64 levels deep`}},
		{"NUL byte", "kind: runtime\x00\n", nil, []string{`1:14: the Laingfile contains a NUL character`}},

		// YAML syntax.
		{"unterminated quote", "kind: \"runtime\n", nil, []string{`1:7: invalid YAML: could not find end character of double-quoted text`}},
		{"tab indentation", "kind: runtime\nsets:\n\t- base\n", nil, []string{`3:1: invalid YAML: tabs cannot be used for indentation; use spaces`}},
		{"bad indentation", "kind: runtime\nsets: [base]\n  x: 1\n", nil, []string{`3:3: invalid YAML: unexpected value here (check the indentation)`}},
		{"colon in value", "kind: runtime\ncmd: a: b\n", nil, []string{`2:6: invalid YAML: unexpected ":" (quote values that contain ": ", or check the indentation)`}},
		{"unclosed list", "kind: runtime\nsets: [base\n", nil, []string{`2:7: invalid YAML: sequence end token ']' not found`}},
		{"unknown alias", "kind: runtime\nsets: *nope\n", nil, []string{`2:7: unknown alias "*nope": no anchor "&nope" comes before it`}},
		{"recursive alias", "kind: runtime\nenv: &e {A: *e}\n", nil, []string{`2:13: alias "*e" is inside the value it refers to`}},
		{"bad merge", "kind: runtime\n<<: 5\n", nil, []string{`2:5: a merge key "<<" needs a mapping or a list of mappings, got a number`}},

		// Top level and targets.
		{"unknown top-level key", "nixpgks: {}\nkind: runtime\n", nil, []string{`1:1: unknown key "nixpgks" at the top level (did you mean "nixpkgs"?)`}},
		{"unknown top-level key, no match", "foo: 1\nkind: runtime\n", nil, []string{`1:1: unknown key "foo" at the top level (expected one of: nixpkgs, overlays, substituters, targets, kind, sets, packages, user, workdir, env, entrypoint, cmd, labels, expose, volumes, stopsignal, copy, metadata, config, maxLayers)`}},
		{"target typo", "target:\n  app: {kind: runtime}\n", nil, []string{
			`1:1: unknown key "target" at the top level (did you mean "targets"?)`,
			`1:1: no targets: expected "targets:", or a single target's keys ("kind:", "sets:", …) at the top level`,
		}},
		{"mixing shorthand and targets", "kind: runtime\ntargets:\n  app: {kind: runtime}\nsets: [base]\n", nil, []string{
			`1:1: "kind" is a target key, but this file has "targets:"; move it into a target`,
			`4:1: "sets" is a target key, but this file has "targets:"; move it into a target`,
		}},
		{"empty targets", "targets: {}\n", nil, []string{`1:10: targets: expected at least one target (e.g. "runtime:" with "kind: runtime")`}},
		{"null targets", "targets:\n", nil, []string{`1:1: targets: expected at least one target (e.g. "runtime:" with "kind: runtime")`}},
		{"targets a list", "targets: [runtime]\n", nil, []string{`1:10: targets: expected a mapping of target names to targets, got a list`}},
		{"target a list", "targets:\n  app: [kind, runtime]\n", nil, []string{`2:8: target "app": expected a mapping of target settings (kind, sets, …), got a list`}},
		{"duplicate target", "targets:\n  app:\n    kind: runtime\n  app:\n    kind: devcontainer\n", nil, []string{`4:3: duplicate target "app" (first defined at line 2)`}},
		{"bad target name", "targets:\n  Dev: {kind: devcontainer}\n", nil, []string{`2:3: invalid target name "Dev": use lower-case letters, digits, ".", "_" and "-", starting with a letter or digit`}},
		{"target without kind", "targets:\n  app:\n    sets: [base]\n", nil, []string{`2:3: target "app" has no "kind" (expected devcontainer or runtime)`}},
		{"empty target", "targets:\n  app:\n", nil, []string{`2:3: target "app" has no "kind" (expected devcontainer or runtime)`}},
		{"shorthand without kind", "sets: [base]\n", nil, []string{`1:1: missing "kind" (expected devcontainer or runtime)`}},
		{"top-level key in a target", "targets:\n  app:\n    kind: runtime\n    overlays: [cve-patches]\n", nil, []string{`4:5: "overlays" is a top-level key, not a target key; move it to the top level`}},

		// Target keys.
		{"unknown target key", "targets:\n  app:\n    kind: runtime\n    sts: [base]\n", nil, []string{`4:5: unknown key "sts" in target "app" (did you mean "sets"?)`}},
		{"key case", "kind: runtime\nstopSignal: SIGINT\nmaxlayers: 5\n", nil, []string{
			`2:1: unknown key "stopSignal" at the top level (did you mean "stopsignal"?)`,
			`3:1: unknown key "maxlayers" at the top level (did you mean "maxLayers"?)`,
		}},
		{"duplicate key", "kind: runtime\nsets: [base]\nsets: [python]\n", nil, []string{`3:1: duplicate key "sets" (first defined at line 2)`}},
		{"unknown kind", "kind: runtim\n", nil, []string{`1:7: unknown kind "runtim": expected devcontainer or runtime (did you mean "runtime"?)`}},
		{"unknown kind, no match", "kind: library\n", nil, []string{`1:7: unknown kind "library": expected devcontainer or runtime`}},
		{"kind a list", "kind: [runtime]\n", nil, []string{`1:7: kind: expected devcontainer or runtime, got a list`}},
		{"kind null", "kind:\n", nil, []string{`1:6: kind: expected devcontainer or runtime, got nothing (null)`}},
		{"sets a mapping", "kind: runtime\nsets: {base: true}\n", nil, []string{`2:7: sets: expected a list of set names, got a mapping`}},
		{"sets a string", "kind: runtime\nsets: base\n", nil, []string{`2:7: sets: expected a list of set names, got a string (write it as a list: [base])`}},
		{"set item a list", "kind: runtime\nsets: [[base]]\n", nil, []string{`2:8: sets[0]: expected a string, got a list`}},
		{"unknown set", "kind: runtime\nsets: [base, pythn]\n", nil, []string{`2:14: unknown set "pythn" (did you mean "python"?)`}},
		{"unknown set, transposed", "kind: runtime\nsets:\n  - bsae\n", nil, []string{`3:5: unknown set "bsae" (did you mean "base"?)`}},
		{"unknown set, no match", "kind: runtime\nsets: [haskell]\n", nil, []string{`2:8: unknown set "haskell" (known sets: base, vscodeCompat, devTools, nixTools, python, pythonDev, node, nodeDev, go, goDev, rust, rustDev, bash, bashDev)`}},
		{"bad package", "kind: runtime\npackages: [foo bar, \"2fa\", python3.]\n", nil, []string{
			`2:12: invalid package "foo bar"` + pkgHelp,
			`2:21: invalid package "2fa"` + pkgHelp,
			`2:28: invalid package "python3."` + pkgHelp,
		}},
		{"package path without ./", "kind: runtime\npackages: [nix/app.nix]\n", nil, []string{`2:12: invalid package "nix/app.nix"` + pkgHelp + ` (did you mean "./nix/app.nix"?)`}},
		{"absolute package path", "kind: runtime\npackages: [/nix/app.nix]\n", nil, []string{`2:12: packages: "/nix/app.nix" is an absolute path; use a path relative to the build context (e.g. "./nix/app.nix")`}},
		{"package path escapes", "kind: runtime\npackages: [../app.nix]\n", nil, []string{`2:12: packages: "../app.nix" is outside the build context (".." leaves it)`}},
		{"user a number", "kind: runtime\nuser: 1000\n", nil, []string{`2:7: user: expected a user name or a mapping {name, uid, gid, home}, got a number`}},
		{"bad user name", "kind: runtime\nuser: Bob\n", nil, []string{`2:7: user: invalid user name "Bob": use lower-case letters, digits, "_" and "-", starting with a letter or "_" (at most 32 characters)`}},
		{"bad user mapping", "kind: runtime\nuser: {name: app, uid: -1, gid: x, uuid: 3, home: app}\n", nil, []string{
			`2:24: user.uid: -1 is out of range; expected 0 to 2147483647`,
			`2:33: user.gid: expected an integer from 0 to 2147483647, got a string`,
			`2:36: unknown key "uuid" in user (did you mean "uid"?)`,
			`2:51: user.home: expected an absolute path (starting with "/"), got "app"`,
		}},
		{"relative workdir", "kind: runtime\nworkdir: app\n", nil, []string{`2:10: workdir: expected an absolute path (starting with "/"), got "app"`}},
		{"env a list", "kind: runtime\nenv: [A=b]\n", nil, []string{`2:6: env: expected a mapping of variable names to values, got a list`}},
		{"bad env", "kind: runtime\nenv:\n  MY-VAR: x\n  EMPTY:\n  LIST: [a]\n", nil, []string{
			`3:3: env: invalid variable name "MY-VAR": use letters, digits and "_", not starting with a digit`,
			`4:9: env.EMPTY: expected a value, got nothing (write "" for an empty string)`,
			`5:9: env.LIST: expected a string, number or boolean, got a list`,
		}},
		{"duplicate env", "kind: runtime\nenv:\n  A: 1\n  A: 2\n", nil, []string{`4:3: duplicate key "A" (first defined at line 3)`}},
		{"cmd a string", "kind: runtime\ncmd: python3 -m app\n", nil, []string{`2:6: cmd: expected a list of strings, got a string (write it as a list: [python3, -m, app])`}},
		{"entrypoint a string", "kind: runtime\nentrypoint: \"/bin/sh -c\"\n", nil, []string{`2:13: entrypoint: expected a list of strings, got a string (write it as a list: [/bin/sh, -c])`}},
		{"cmd a mapping", "kind: runtime\ncmd: {a: b}\n", nil, []string{`2:6: cmd: expected a list of strings, got a mapping`}},
		{"labels a list", "kind: runtime\nlabels: [a]\n", nil, []string{`2:9: labels: expected a mapping of label names to values, got a list`}},
		{"bad ports", "kind: runtime\nexpose: [80000, \"80/icmp\", 0, 1.5, \"\", {a: 1}]\n", nil, []string{
			`2:10: invalid port "80000"` + portHelp,
			`2:17: invalid port "80/icmp"` + portHelp,
			`2:28: invalid port "0"` + portHelp,
			`2:31: expose[3]: expected a port (e.g. 8000 or "53/udp"), got a number`,
			`2:36: invalid port ""` + portHelp,
			`2:40: expose[5]: expected a port (e.g. 8000 or "53/udp"), got a mapping`,
		}},
		{"expose a number", "kind: runtime\nexpose: 8000\n", nil, []string{`2:9: expose: expected a list of ports (e.g. [8000, "53/udp"]), got a number (write it as a list: [8000])`}},
		{"no known sets", "kind: runtime\nsets: [base]\noverlays: [x]\n", &Options{}, []string{
			`2:8: unknown set "base" (no package sets are defined)`,
			`3:12: unknown overlay "x" (there are no built-in overlays; use a file in the build context such as "./overlay.nix")`,
		}},
		{"relative volume", "kind: runtime\nvolumes: [data]\n", nil, []string{`2:11: volumes: expected an absolute path (starting with "/"), got "data"`}},
		{"unknown signal", "kind: runtime\nstopsignal: SIGTREM\n", nil, []string{`2:13: unknown stop signal "SIGTREM" (did you mean "SIGTERM"?)`}},
		{"unknown signal, no match", "kind: runtime\nstopsignal: NOPE\n", nil, []string{`2:13: unknown stop signal "NOPE": expected a signal name such as SIGTERM or SIGINT, or a number`}},
		{"signal number", "kind: runtime\nstopsignal: 99\n", nil, []string{`2:13: invalid stop signal "99": signal numbers are 1-64`}},
		{"bad copy", "kind: runtime\ncopy:\n  - {dst: /app}\n  - src: /etc/passwd\n    dst: app\n  - {src: ../x, dst: /x, chown: \"a b\", mode: 0644}\n  - foo\n  - {src: x}\n", nil, []string{
			`3:5: copy[0]: missing "src" (a path in the build context)`,
			`4:10: copy[1].src: "/etc/passwd" is an absolute path; use a path relative to the build context (e.g. "./etc/passwd")`,
			`5:10: copy[1].dst: expected an absolute path (starting with "/"), got "app"`,
			`6:11: copy[2].src: "../x" is outside the build context (".." leaves it)`,
			`6:33: copy[2].chown: invalid owner "a b": expected "user", "user:group" or "uid:gid"`,
			`6:40: unknown key "mode" in copy[2] (expected one of: src, dst, chown, chmod)`,
			`7:5: copy[3]: expected a mapping {src, dst}, got a string`,
			`8:5: copy[4]: missing "dst" (an absolute path in the image)`,
		}},
		{"copy escapes through a subdirectory", "kind: runtime\ncopy: [{src: a/../../b, dst: /b}]\n", nil, []string{`2:14: copy[0].src: "a/../../b" is outside the build context (".." leaves it)`}},
		{"copy a mapping", "kind: runtime\ncopy: {src: a, dst: /a}\n", nil, []string{`2:7: copy: expected a list of {src, dst} mappings, got a mapping`}},
		{"metadata on runtime", "kind: runtime\nmetadata: {remoteUser: app}\n", nil, []string{`2:1: "metadata" is only valid for kind devcontainer (it becomes the devcontainer.metadata label)`}},
		{"metadata not a mapping", "kind: devcontainer\nmetadata: [a]\n", nil, []string{`2:11: metadata: expected a mapping of devcontainer metadata (e.g. customizations), got a list`}},
		{"metadata not JSON", "kind: devcontainer\nmetadata: {x: .inf}\n", nil, []string{`2:15: metadata.x: .inf is not a number that JSON can represent`}},
		{"config key typo", "kind: runtime\nconfig:\n  Healthchek: {}\n  workingdir: /x\n", nil, []string{
			`3:3: unknown key "Healthchek" in config (did you mean "Healthcheck"?)`,
			`4:3: unknown key "workingdir" in config (did you mean "WorkingDir"?)`,
		}},
		{"config types", "kind: runtime\nconfig:\n  Env: FOO=bar\n  ArgsEscaped: yes\n  ExposedPorts: [80]\n  User: [a]\n", nil, []string{
			`3:8: config.Env: expected a list of strings, got a string (write it as a list: [FOO=bar])`,
			`4:16: config.ArgsEscaped: expected true or false, got a string`,
			`5:17: config.ExposedPorts: expected a mapping, got a list`,
			`6:9: config.User: expected a string, got a list`,
		}},
		{"config a list", "kind: runtime\nconfig: [a]\n", nil, []string{`2:9: config: expected a mapping of OCI image config fields (e.g. Healthcheck), got a list`}},
		{"maxLayers too many", "kind: runtime\nmaxLayers: 200\n", nil, []string{`2:12: maxLayers: 200 is more than Docker's limit of 125 layers per image`}},
		{"maxLayers too few", "kind: runtime\nmaxLayers: 1\n", nil, []string{`2:12: maxLayers: 1 is too few; an image needs at least 2 layers (the store and the customisation layer)`}},
		{"maxLayers not a number", "kind: runtime\nmaxLayers: many\n", nil, []string{`2:12: maxLayers: expected an integer from 2 to 125, got a string`}},
		{"maxLayers a float", "kind: runtime\nmaxLayers: 50.5\n", nil, []string{`2:12: maxLayers: expected an integer from 2 to 125, got a number`}},

		// nixpkgs and overlays.
		{"nixpkgs a string", "nixpkgs: " + rev + "\nkind: runtime\n", nil, []string{`1:10: nixpkgs: expected a mapping {rev, sha256}, {url, sha256} or {flakeLock}, got a string`}},
		{"bad hash", "nixpkgs:\n  rev: " + rev + "\n  sha256: sha256-abc\nkind: runtime\n", nil, []string{`3:11: nixpkgs.sha256: invalid sha256 "sha256-abc": not valid base64 of 44 characters` + hashHelp}},
		{"sha512 hash", "nixpkgs:\n  rev: " + rev + "\n  sha256: sha512-abc\nkind: runtime\n", nil, []string{`3:11: nixpkgs.sha256: invalid sha256 "sha512-abc": only SHA-256 hashes are supported` + hashHelp}},
		{"hash not a hash", "nixpkgs:\n  rev: " + rev + "\n  sha256: abc\nkind: runtime\n", nil, []string{`3:11: nixpkgs.sha256: invalid sha256 "abc": not a SHA-256 hash` + hashHelp}},
		{"base32 hash out of range", "nixpkgs:\n  rev: " + rev + "\n  sha256: zqyp6vq758zfpxm8n4hrhivib8dzanzhnsz070wpcm5417h1n66b\nkind: runtime\n", nil, []string{`3:11: nixpkgs.sha256: invalid sha256 "zqyp6vq758zfpxm8n4hrhivib8dzanzhnsz070wpcm5417h1n66b": not a valid Nix base-32 SHA-256 hash` + hashHelp}},
		{"short rev", "nixpkgs:\n  rev: 48698d1\n  sha256: " + hash + "\nkind: runtime\n", nil, []string{`2:8: nixpkgs.rev: "48698d1" is an abbreviated commit (7 characters); give the full 40-character commit hash`}},
		{"bad rev", "nixpkgs:\n  rev: nixos-24.11\n  sha256: " + hash + "\nkind: runtime\n", nil, []string{`2:8: nixpkgs.rev: expected a full 40-character commit hash (hex digits), got "nixos-24.11"`}},
		{"rev and url", "nixpkgs: {rev: " + rev + ", url: \"https://x.org/n.tar.gz\", sha256: " + hash + "}\nkind: runtime\n", nil, []string{`1:58: nixpkgs: give either "rev" or "url", not both`}},
		{"no rev, no hash", "nixpkgs:\n  sha256: " + hash + "\nkind: runtime\n", nil, []string{
			`2:3: nixpkgs: "sha256" needs the "rev" (a nixpkgs commit) or "url" (a tarball URL) it is the hash of`,
		}},
		{"empty nixpkgs", "nixpkgs: {}\nkind: runtime\n", nil, []string{
			`1:10: nixpkgs: missing "rev" (a nixpkgs commit), "url" (a tarball URL) or "flakeLock" (a flake.lock in the build context)`,
		}},
		{"bad url", "nixpkgs: {url: \"ftp://x.org/n.tar.gz\", sha256: " + hash + "}\nkind: runtime\n", nil, []string{`1:16: nixpkgs.url: unsupported URL scheme "ftp": expected https://, http:// or file://`}},
		{"url without scheme", "nixpkgs: {url: x.org/n.tar.gz, sha256: " + hash + "}\nkind: runtime\n", nil, []string{`1:16: nixpkgs.url: expected the URL of a nixpkgs tarball (https://…), got "x.org/n.tar.gz"`}},
		{"unknown nixpkgs key", "nixpkgs: {rev: " + rev + ", sha256: " + hash + ", narHash: x}\nkind: runtime\n", nil, []string{`1:119: unknown key "narHash" in nixpkgs (expected one of: rev, url, sha256, flakeLock, input, config)`}},
		{"nixpkgs config a list", "nixpkgs: {rev: " + rev + ", sha256: " + hash + ", config: [a]}\nkind: runtime\n", nil, []string{`1:127: nixpkgs.config: expected a mapping of nixpkgs config options (e.g. allowUnfree: true), got a list`}},
		{"unknown overlay", "overlays: [cve-patch, zzz]\nkind: runtime\n", nil, []string{
			`1:12: unknown overlay "cve-patch" (did you mean "cve-patches"?)`,
			`1:23: unknown overlay "zzz" (built-in overlays: cve-patches, license-fixes, custom-builds; or a file in the build context such as "./overlay.nix")`,
		}},
		{"overlay paths", "overlays: [/etc/o.nix, ./a/../../b.nix, ..]\nkind: runtime\n", nil, []string{
			`1:12: overlays: "/etc/o.nix" is an absolute path; use a path relative to the build context (e.g. "./etc/o.nix")`,
			`1:24: overlays: "./a/../../b.nix" is outside the build context (".." leaves it)`,
			`1:41: overlays: ".." is outside the build context (".." leaves it)`,
		}},
		{"overlays a string", "overlays: cve-patches\nkind: runtime\n", nil, []string{`1:11: overlays: expected a list of overlay names or "./file.nix" paths, got a string (write it as a list: [cve-patches])`}},
		{"flakeLock with rev and sha256", "nixpkgs:\n  flakeLock: ./flake.lock\n  rev: " + rev + "\n  sha256: " + hash + "\nkind: runtime\n", nil, []string{
			`3:3: nixpkgs: "rev" cannot be given with "flakeLock", which takes the pin from the lock file`,
			`4:3: nixpkgs: "sha256" cannot be given with "flakeLock", which takes the pin from the lock file`,
		}},
		{"flakeLock outside the context", "nixpkgs: {flakeLock: ../flake.lock}\nkind: runtime\n", nil, []string{`1:22: nixpkgs.flakeLock: "../flake.lock" is outside the build context (".." leaves it)`}},
		{"flakeLock absolute", "nixpkgs: {flakeLock: /src/flake.lock}\nkind: runtime\n", nil, []string{`1:22: nixpkgs.flakeLock: "/src/flake.lock" is an absolute path; use a path relative to the build context (e.g. "./src/flake.lock")`}},
		{"flakeLock a list", "nixpkgs: {flakeLock: [a]}\nkind: runtime\n", nil, []string{`1:22: nixpkgs.flakeLock: expected the path of a flake.lock in the build context (e.g. ./flake.lock), got a list`}},
		{"input without flakeLock", "nixpkgs:\n  input: nixpkgs\nkind: runtime\n", nil, []string{`2:3: nixpkgs: "input" names an input of a flake.lock; add "flakeLock" (e.g. flakeLock: ./flake.lock)`}},
		{"bad input name", "nixpkgs: {flakeLock: ./flake.lock, input: \"nix pkgs\"}\nkind: runtime\n", nil, []string{`1:43: nixpkgs.input: invalid input name "nix pkgs": expected a flake input name such as nixpkgs`}},
		{"flakeLock key typo", "nixpkgs: {flakelock: ./flake.lock}\nkind: runtime\n", nil, []string{
			`1:10: nixpkgs: missing "rev" (a nixpkgs commit), "url" (a tarball URL) or "flakeLock" (a flake.lock in the build context)`,
			`1:11: unknown key "flakelock" in nixpkgs (did you mean "flakeLock"?)`,
		}},

		// substituters.
		{"substituters a mapping", "substituters: {url: https://cache.example.com}\nkind: runtime\n", nil, []string{`1:15: substituters: expected a list of {url, publicKey} mappings, got a mapping`}},
		{"substituter a string", "substituters: [https://cache.example.com]\nkind: runtime\n", nil, []string{`1:16: substituters[0]: expected a mapping {url, publicKey}, got a string`}},
		{"substituter without key", "substituters:\n  - url: https://cache.example.com\nkind: runtime\n", nil, []string{
			`2:5: substituters[0]: missing "publicKey" (the key the cache signs with, e.g. cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=); Nix ignores unsigned paths`,
		}},
		{"substituter without url", "substituters:\n  - publicKey: " + cacheKey + "\nkind: runtime\n", nil, []string{`2:5: substituters[0]: missing "url" (the URL of the binary cache)`}},
		{"substituter bad values", "substituters:\n  - url: s3://bucket\n    publicKey: [cache:abc]\n    secret: \"my token\"\n    logn: me\nkind: runtime\n", nil, []string{
			`2:10: substituters[0].url: unsupported URL scheme "s3": expected https:// or http://`,
			`3:17: substituters[0].publicKey: invalid public key "cache:abc": expected "name:" followed by the base64 of an Ed25519 key, as the cache publishes it (e.g. cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=)`,
			`4:13: substituters[0].secret: invalid secret id "my token": expected letters, digits, ".", "_" and "-", as in --secret id=cachetoken`,
			`5:5: unknown key "logn" in substituters[0] (did you mean "login"?)`,
		}},
		{"substituter credentials in the url", "substituters: [{url: \"https://me:pw@cache.example.com\", publicKey: " + cacheKey + "}]\nkind: runtime\n", nil, []string{
			`1:22: substituters[0].url: "https://xxxxx@cache.example.com" has credentials in it; give them as a secret (secret: <id>) so that they stay out of the image and the cache`,
		}},
		{"substituter login without secret", "substituters: [{url: https://cache.example.com, publicKey: " + cacheKey + ", login: me}]\nkind: runtime\n", nil, []string{
			`1:124: substituters[0]: "login" needs "secret", the build secret with the password or token`,
		}},
		{"substituters in a target", "targets:\n  app:\n    kind: runtime\n    substituters: []\n", nil, []string{`4:5: "substituters" is a top-level key, not a target key; move it to the top level`}},

		// Build args.
		{"undefined build arg", "kind: runtime\nworkdir: /app/${VERSON}\n", nil, []string{`2:10: undefined build arg "VERSON" in "${VERSON}" (did you mean "VERSION"?)`}},
		{"undefined build arg, no match", "kind: runtime\nlabels: {a: \"${NOPE}\"}\n", nil, []string{`2:13: undefined build arg "NOPE" in "${NOPE}" (set build args: APP_UID, PORT, VERSION)`}},
		{"undefined build arg, none set", "kind: runtime\nlabels: {a: \"${NOPE}\"}\n", &Options{}, []string{`2:13: undefined build arg "NOPE" in "${NOPE}" (no build args are set; pass --build-arg NOPE=…)`}},
		{"unterminated build arg", "kind: runtime\nlabels: {a: \"${X\"}\n", nil, []string{`2:13: unterminated build-arg reference "${X": expected ${NAME} (write $${ for a literal ${)`}},
		{"bad build arg reference", "kind: runtime\nlabels: {a: \"${X:-y}\"}\n", nil, []string{`2:13: invalid build-arg reference "${X:-y}": expected ${NAME}, where NAME is letters, digits and "_" (write $${ for a literal ${)`}},
		{"build arg gives a bad value", "kind: runtime\nmaxLayers: ${PORT}\n", nil, []string{`2:12: maxLayers: 8080 is more than Docker's limit of 125 layers per image`}},

		// Several problems are all reported, in file order.
		{"several", "targets:\n  b:\n    kind: devcontainer\n    sets: [bsae]\n  a: {kind: runtime, sets: [pythn], expose: [http]}\n", nil, []string{
			`4:12: unknown set "bsae" (did you mean "base"?)`,
			`5:29: unknown set "pythn" (did you mean "python"?)`,
			`5:46: invalid port "http"` + portHelp,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions()
			if tt.opts != nil {
				opts = *tt.opts
			}
			f, err := Parse("Laingfile", []byte(tt.src), opts)
			if err == nil {
				t.Fatalf("no error; parsed %d targets", len(f.Targets))
			}
			if f != nil {
				t.Errorf("Parse returned a File along with its errors")
			}
			got := errorLines(t, err)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(tt.want, "\n      "))
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	_, err := Parse("app/Laingfile", []byte("kind: runtime\nsets: [pythn]\nexpose: [0]\n"), testOptions())
	want := "app/Laingfile:2:8: unknown set \"pythn\" (did you mean \"python\"?)\n" +
		"app/Laingfile:3:10: invalid port \"0\": expected a port number 1-65535, optionally followed by /tcp, /udp or /sctp (e.g. 8000 or \"53/udp\")"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	e := &Error{Filename: "Laingfile", Msg: "no position"}
	if got := e.Error(); got != "Laingfile: no position" {
		t.Errorf("zero-range error = %q", got)
	}
}

// TestRanges checks the end of ranges, which editors use to underline the offending token.
func TestRanges(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want Range
	}{
		{"plain", "kind: runtime\nsets: [base, pythn]\n", Range{Pos{2, 14}, Pos{2, 19}}},
		{"double-quoted", "kind: runtime\nsets: [base, \"pythn\"]\n", Range{Pos{2, 14}, Pos{2, 21}}},
		{"single-quoted with escape", "kind: runtime\nsets: ['py''thn']\n", Range{Pos{2, 8}, Pos{2, 17}}},
		{"key", "kind: runtime\nsts: [base]\n", Range{Pos{2, 1}, Pos{2, 4}}},
		{"non-ASCII counts characters", "kind: runtime\nsets: [\"ünï\", base]\n", Range{Pos{2, 8}, Pos{2, 13}}},
		{"trailing comment", "kind: runtime\nstopsignal: SIGTREM   # typo\n", Range{Pos{2, 13}, Pos{2, 20}}},
		{"multi-line quoted", "kind: runtime\nworkdir: \"app\n  dir\"\n", Range{Pos{2, 10}, Pos{3, 7}}},
		{"block mapping", "kind: runtime\nsets:\n  a: 1\n  b: 2\n", Range{Pos{3, 3}, Pos{4, 7}}},
		{"flow mapping", "kind: runtime\nsets: {a: 1}\n", Range{Pos{2, 7}, Pos{2, 13}}},
		{"block list", "kind: runtime\ncopy:\n  - {src: a}\n", Range{Pos{3, 5}, Pos{3, 13}}},
		{"CRLF line ends", "kind: runtime\r\nsets: [base,\r\n  pythn]\r\n", Range{Pos{3, 3}, Pos{3, 8}}},
		{"CRLF after a comment", "# syntax=x\r\nkind: runtime\r\nsets: [pythn]\r\n", Range{Pos{3, 8}, Pos{3, 13}}},
		{"CR line ends", "kind: runtime\rworkdir: \"a\r b\"\r", Range{Pos{2, 10}, Pos{3, 4}}},
		{"block literal", "kind: runtime\nworkdir: |\n  app\n  dir\n", Range{Pos{2, 10}, Pos{4, 6}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("Laingfile", []byte(tt.src), testOptions())
			var errs Errors
			if !errors.As(err, &errs) || len(errs) != 1 {
				t.Fatalf("want one error, got %v", err)
			}
			if errs[0].Range != tt.want {
				t.Errorf("range = %v, want %v (%s)", errs[0].Range, tt.want, errs[0].Msg)
			}
		})
	}
}

// runtimeDefaults is a runtime target named "runtime" with nothing set.
func runtimeDefaults() *Target {
	return &Target{Name: "runtime", Kind: KindRuntime,
		User: User{Name: "app", UID: 1000, GID: 1000, Home: "/app"}, Workdir: "/app", MaxLayers: DefaultMaxLayers}
}

func devcontainerDefaults() *Target {
	return &Target{Name: "devcontainer", Kind: KindDevcontainer,
		User: User{Name: "vscode", UID: 1000, GID: 1000, Home: "/home/vscode"}, Workdir: "/workspace", MaxLayers: DefaultMaxLayers}
}

// stripRanges zeroes every Range so that targets compare by value.
func stripRanges(t *Target) {
	t.NameRange, t.KindRange, t.Range, t.User.Range = Range{}, Range{}, Range{}, Range{}
	for i := range t.Sets {
		t.Sets[i].Range = Range{}
	}
	for i := range t.Packages {
		t.Packages[i].Range = Range{}
	}
	for i := range t.Env {
		t.Env[i].Range = Range{}
	}
	for i := range t.Labels {
		t.Labels[i].Range = Range{}
	}
	for i := range t.Expose {
		t.Expose[i].Range = Range{}
	}
	for i := range t.Copy {
		t.Copy[i].Range = Range{}
	}
}

func TestParseTargetKeys(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want *Target
	}{
		{"runtime defaults", "kind: runtime\n", runtimeDefaults()},
		{"devcontainer defaults", "kind: devcontainer\n", devcontainerDefaults()},
		{"sets, without repeats", "kind: runtime\nsets: [base, python, base]\n", with(runtimeDefaults(), func(t *Target) {
			t.Sets = []SetRef{{Name: "base"}, {Name: "python"}}
		})},
		{"empty sets", "kind: runtime\nsets: []\n", with(runtimeDefaults(), func(t *Target) { t.Sets = []SetRef{} })},
		{"null sets", "kind: runtime\nsets:\n", with(runtimeDefaults(), func(t *Target) { t.Sets = []SetRef{} })},
		{"packages", "kind: runtime\npackages: [postgresql_16, python312Packages.pip, \"xorg.libX11\", ./nix/app.nix, ./nix//x/../pkg.nix, foo', a-b, _x]\n",
			with(runtimeDefaults(), func(t *Target) {
				t.Packages = []Package{{Attr: "postgresql_16"}, {Attr: "python312Packages.pip"}, {Attr: "xorg.libX11"},
					{Path: "./nix/app.nix"}, {Path: "./nix/pkg.nix"}, {Attr: "foo'"}, {Attr: "a-b"}, {Attr: "_x"}}
			})},
		{"user name, devcontainer", "kind: devcontainer\nuser: dev\n", with(devcontainerDefaults(), func(t *Target) {
			t.User = User{Name: "dev", UID: 1000, GID: 1000, Home: "/home/dev"}
		})},
		{"user name, runtime", "kind: runtime\nuser: svc\n", with(runtimeDefaults(), func(t *Target) {
			t.User = User{Name: "svc", UID: 1000, GID: 1000, Home: "/app"}
		})},
		{"user mapping", "kind: devcontainer\nuser: {name: dev, uid: 1001, gid: 100, home: /users/dev/}\n", with(devcontainerDefaults(), func(t *Target) {
			t.User = User{Name: "dev", UID: 1001, GID: 100, Home: "/users/dev"}
		})},
		{"gid follows uid", "kind: runtime\nuser: {uid: 10001}\n", with(runtimeDefaults(), func(t *Target) {
			t.User = User{Name: "app", UID: 10001, GID: 10001, Home: "/app"}
		})},
		{"uid from a build arg", "kind: runtime\nuser: {uid: \"${APP_UID}\", gid: 0}\n", with(runtimeDefaults(), func(t *Target) {
			t.User = User{Name: "app", UID: 1001, GID: 0, Home: "/app"}
		})},
		{"root", "kind: devcontainer\nuser: root\n", with(devcontainerDefaults(), func(t *Target) {
			t.User = User{Name: "root", UID: 0, GID: 0, Home: "/root"}
		})},
		{"runtime home follows workdir", "kind: runtime\nworkdir: /srv/app/\n", with(runtimeDefaults(), func(t *Target) {
			t.Workdir = "/srv/app"
			t.User.Home = "/srv/app"
		})},
		{"devcontainer workdir", "kind: devcontainer\nworkdir: /src\n", with(devcontainerDefaults(), func(t *Target) { t.Workdir = "/src" })},
		{"runtime home overrides", "kind: runtime\nworkdir: /srv\nuser: {home: /home/app}\n", with(runtimeDefaults(), func(t *Target) {
			t.Workdir = "/srv"
			t.User.Home = "/home/app"
		})},
		{"env", "kind: runtime\nenv:\n  A: text\n  B: 1.10\n  C: true\n  D: \"\"\n  E: 0x1F\n  F: $HOME/bin\n", with(runtimeDefaults(), func(t *Target) {
			t.Env = []KeyValue{{Key: "A", Value: "text"}, {Key: "B", Value: "1.10"}, {Key: "C", Value: "true"}, {Key: "D", Value: ""},
				{Key: "E", Value: "0x1F"}, {Key: "F", Value: "$HOME/bin"}}
		})},
		{"labels", "kind: runtime\nlabels:\n  org.opencontainers.image.version: ${VERSION}\n  n: 3\n", with(runtimeDefaults(), func(t *Target) {
			t.Labels = []KeyValue{{Key: "org.opencontainers.image.version", Value: "1.2.3"}, {Key: "n", Value: "3"}}
		})},
		{"entrypoint and cmd", "kind: runtime\nentrypoint: [/bin/sh, -c]\ncmd: [sleep, 10, true]\n", with(runtimeDefaults(), func(t *Target) {
			t.Entrypoint = []string{"/bin/sh", "-c"}
			t.Cmd = []string{"sleep", "10", "true"}
		})},
		{"empty cmd clears", "kind: devcontainer\ncmd: []\nentrypoint:\n", with(devcontainerDefaults(), func(t *Target) { t.Cmd = []string{} })},
		{"expose", "kind: runtime\nexpose: [8000, \"8001\", 8002/tcp, 53/UDP, 9/sctp, 8000/tcp, \"${PORT}\"]\n", with(runtimeDefaults(), func(t *Target) {
			t.Expose = []Port{{Port: "8000/tcp"}, {Port: "8001/tcp"}, {Port: "8002/tcp"}, {Port: "53/udp"}, {Port: "9/sctp"}, {Port: "8080/tcp"}}
		})},
		{"volumes", "kind: runtime\nvolumes: [/data, /var/lib/x/]\n", with(runtimeDefaults(), func(t *Target) { t.Volumes = []string{"/data", "/var/lib/x"} })},
		{"stopsignal name", "kind: runtime\nstopsignal: SIGINT\n", with(runtimeDefaults(), func(t *Target) { t.StopSignal = "SIGINT" })},
		{"stopsignal short lower-case", "kind: runtime\nstopsignal: quit\n", with(runtimeDefaults(), func(t *Target) { t.StopSignal = "SIGQUIT" })},
		{"stopsignal number", "kind: runtime\nstopsignal: 9\n", with(runtimeDefaults(), func(t *Target) { t.StopSignal = "9" })},
		{"stopsignal realtime", "kind: runtime\nstopsignal: rtmin+3\n", with(runtimeDefaults(), func(t *Target) { t.StopSignal = "SIGRTMIN+3" })},
		{"copy", "kind: runtime\ncopy:\n  - {src: src/, dst: /app/src/}\n  - src: ./a/../b\n    dst: /b\n    chown: app:app\n  - {src: ., dst: /ctx, chown: \"1000\"}\n", with(runtimeDefaults(), func(t *Target) {
			t.Copy = []Copy{{Src: "src/", Dst: "/app/src/", UID: 1000, GID: 1000}, {Src: "./a/../b", Dst: "/b", Chown: "app:app", UID: 1000, GID: 1000},
				{Src: ".", Dst: "/ctx", Chown: "1000", UID: 1000, GID: 1000}}
		})},
		{"metadata", "kind: devcontainer\nmetadata:\n  remoteUser: vscode\n  customizations: {vscode: {extensions: [a.b]}}\n  n: 1\n  f: 1.5\n  z: null\n",
			with(devcontainerDefaults(), func(t *Target) {
				t.Metadata = map[string]any{"remoteUser": "vscode", "n": int64(1), "f": 1.5, "z": nil,
					"customizations": map[string]any{"vscode": map[string]any{"extensions": []any{"a.b"}}}}
			})},
		{"config", "kind: runtime\nconfig:\n  Healthcheck: {Test: [CMD, true], Interval: 1000000000}\n  Labels: {a: 1}\n  Env: [A=1]\n  ArgsEscaped: true\n  StopSignal: SIGINT\n  Shell: [/bin/sh, -c]\n  Volumes: {/data: {}}\n",
			with(runtimeDefaults(), func(t *Target) {
				t.Config = map[string]any{
					"Healthcheck": map[string]any{"Test": []any{"CMD", true}, "Interval": int64(1000000000)},
					"Labels":      map[string]any{"a": "1"}, "Env": []string{"A=1"}, "ArgsEscaped": true, "StopSignal": "SIGINT",
					"Shell": []string{"/bin/sh", "-c"}, "Volumes": map[string]any{"/data": map[string]any{}},
				}
			})},
		{"maxLayers", "kind: runtime\nmaxLayers: 50\n", with(runtimeDefaults(), func(t *Target) { t.MaxLayers = 50 })},
		{"maxLayers bounds", "kind: runtime\nmaxLayers: 125\n", with(runtimeDefaults(), func(t *Target) { t.MaxLayers = 125 })},
		{"maxLayers from a string", "kind: runtime\nmaxLayers: \"2\"\n", with(runtimeDefaults(), func(t *Target) { t.MaxLayers = 2 })},
		{"escaped ${", "kind: runtime\nenv: {A: \"$${HOME} ${VERSION} $$ $x\"}\n", with(runtimeDefaults(), func(t *Target) {
			t.Env = []KeyValue{{Key: "A", Value: "${HOME} 1.2.3 $$ $x"}}
		})},
		{"!!str tag", "kind: runtime\nenv: {A: !!str 08}\n", with(runtimeDefaults(), func(t *Target) { t.Env = []KeyValue{{Key: "A", Value: "08"}} })},
		{"extension keys are ignored", "x-anything: {a: [1]}\nkind: runtime\n", runtimeDefaults()},
		{"alias", "x-sets: &sets [base, python]\nkind: runtime\nsets: *sets\n", with(runtimeDefaults(), func(t *Target) {
			t.Sets = []SetRef{{Name: "base"}, {Name: "python"}}
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("Laingfile", []byte(tt.src), testOptions())
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(f.Targets) != 1 {
				t.Fatalf("got %d targets", len(f.Targets))
			}
			got := f.Targets[0]
			stripRanges(got)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("target:\n got %+v\nwant %+v", *got, *tt.want)
			}
		})
	}
}

func with(t *Target, edit func(*Target)) *Target {
	edit(t)
	return t
}

func TestParseNixpkgs(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want *Nixpkgs
	}{
		{"absent", "", nil},
		{"null", "nixpkgs:\n", nil},
		{"rev and SRI hash", "nixpkgs:\n  rev: " + rev + "\n  sha256: " + hash + "\n", &Nixpkgs{Rev: rev, SHA256: hash}},
		{"upper-case rev", "nixpkgs: {rev: " + strings.ToUpper(rev) + ", sha256: " + hash + "}\n", &Nixpkgs{Rev: rev, SHA256: hash}},
		// Nix's base-32 and hex forms of the same digest, as printed by `nix hash to-base32` and
		// `nix hash to-base16`, become SRI.
		{"base-32 hash", "nixpkgs: {rev: " + rev + ", sha256: 0qyp6vq758zfpxm8n4hrhivib8dzanzhnsz070wpcm5417h1n66b}\n", &Nixpkgs{Rev: rev, SHA256: hash}},
		{"hex hash", "nixpkgs: {rev: " + rev + ", sha256: cb181be009a454763938e06b0bbf55bfa115778419128b6abfeea372f036d763}\n", &Nixpkgs{Rev: rev, SHA256: hash}},
		{"url and config", "nixpkgs:\n  url: https://github.com/NixOS/nixpkgs/archive/" + rev + ".tar.gz\n  sha256: " + hash + "\n  config:\n    allowUnfree: true\n    permittedInsecurePackages: [openssl-1.1.1w]\n",
			&Nixpkgs{URL: "https://github.com/NixOS/nixpkgs/archive/" + rev + ".tar.gz", SHA256: hash,
				Config: map[string]any{"allowUnfree": true, "permittedInsecurePackages": []any{"openssl-1.1.1w"}}}},
		{"rev from a build arg", "nixpkgs: {rev: \"${REV}\", sha256: " + hash + "}\n", &Nixpkgs{Rev: rev, SHA256: hash}},
		{"config only", "nixpkgs:\n  config: {allowUnfree: true}\n", &Nixpkgs{Config: map[string]any{"allowUnfree": true}}},
		{"flake.lock, default input", "nixpkgs:\n  flakeLock: flake.lock\n", &Nixpkgs{FlakeLock: "./flake.lock", Input: "nixpkgs"}},
		{"flake.lock, named input, config", "nixpkgs: {flakeLock: ./nix/../flake.lock, input: nixpkgs-stable, config: {allowUnfree: false}}\n",
			&Nixpkgs{FlakeLock: "./flake.lock", Input: "nixpkgs-stable", Config: map[string]any{"allowUnfree": false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions()
			opts.BuildArgs["REV"] = rev
			f, err := Parse("Laingfile", []byte(tt.src+"kind: runtime\n"), opts)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if f.Nixpkgs != nil {
				if f.Nixpkgs.Range.Start.Line == 0 {
					t.Errorf("nixpkgs has no range")
				}
				// Each value given has its range.
				for _, v := range []struct {
					set bool
					rng Range
				}{
					{f.Nixpkgs.Rev != "", f.Nixpkgs.RevRange}, {f.Nixpkgs.URL != "", f.Nixpkgs.URLRange},
					{f.Nixpkgs.SHA256 != "", f.Nixpkgs.SHA256Range}, {f.Nixpkgs.FlakeLock != "", f.Nixpkgs.FlakeLockRange},
				} {
					if v.set != (v.rng.Start.Line > 0) {
						t.Errorf("a value and its range disagree: %+v", f.Nixpkgs)
					}
				}
				n := f.Nixpkgs
				n.Range, n.RevRange, n.URLRange, n.SHA256Range, n.FlakeLockRange, n.InputRange = Range{}, Range{}, Range{}, Range{}, Range{}, Range{}
			}
			if !reflect.DeepEqual(f.Nixpkgs, tt.want) {
				t.Errorf("nixpkgs = %+v, want %+v", f.Nixpkgs, tt.want)
			}
		})
	}
}

func TestParseOverlays(t *testing.T) {
	f, err := Parse("Laingfile", []byte("overlays: [license-fixes, ./nix/overlay.nix, cve-patches, nix/../o.nix/]\nkind: runtime\n"), testOptions())
	if err == nil {
		t.Fatalf("want an error for nix/../o.nix/ (not ./-prefixed, not a name)")
	}
	f, err = Parse("Laingfile", []byte("overlays: [license-fixes, ./nix/overlay.nix, cve-patches, ./a/../o.nix]\nkind: runtime\n"), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	want := []Overlay{
		{Name: "license-fixes", Range: Range{Pos{1, 12}, Pos{1, 25}}},
		{Path: "./nix/overlay.nix", Range: Range{Pos{1, 27}, Pos{1, 44}}},
		{Name: "cve-patches", Range: Range{Pos{1, 46}, Pos{1, 57}}},
		{Path: "./o.nix", Range: Range{Pos{1, 59}, Pos{1, 71}}},
	}
	if !reflect.DeepEqual(f.Overlays, want) {
		t.Errorf("overlays = %+v\nwant %+v", f.Overlays, want)
	}
}

func TestShorthandAndTargets(t *testing.T) {
	f, err := Parse("Laingfile", []byte("# syntax=ghcr.io/laingville/laingfile:1\nkind: devcontainer\nsets: [base]\n"), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	tg := f.Target("")
	if tg == nil || tg.Name != "devcontainer" || tg.NameRange != tg.KindRange || tg.KindRange != (Range{Pos{2, 7}, Pos{2, 19}}) {
		t.Errorf("shorthand target = %+v", tg)
	}
	if got := f.TargetNames(); !reflect.DeepEqual(got, []string{"devcontainer"}) {
		t.Errorf("TargetNames = %v", got)
	}

	f, err = Parse("Laingfile", []byte("targets:\n  dev:\n    kind: devcontainer\n  app-1.0_x:\n    kind: runtime\n"), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if got := f.TargetNames(); !reflect.DeepEqual(got, []string{"dev", "app-1.0_x"}) {
		t.Errorf("TargetNames = %v", got)
	}
	if f.Target("").Name != "dev" || f.Target("app-1.0_x").Kind != KindRuntime || f.Target("nope") != nil {
		t.Errorf("Target lookups wrong")
	}
	if r := f.Target("dev").NameRange; r != (Range{Pos{2, 3}, Pos{2, 6}}) {
		t.Errorf("NameRange = %v", r)
	}
	if got := f.UnknownTargetError("de").Error(); got != `Laingfile: unknown target "de" (did you mean "dev"?); this Laingfile defines: dev, app-1.0_x` {
		t.Errorf("UnknownTargetError = %s", got)
	}
	if got := f.UnknownTargetError("zzz").Error(); got != `Laingfile: unknown target "zzz"; this Laingfile defines: dev, app-1.0_x` {
		t.Errorf("UnknownTargetError = %s", got)
	}
}

func TestMergeKeys(t *testing.T) {
	src := "x-base: &base\n  kind: runtime\n  env: {A: \"1\"}\n  sets: [base]\n" +
		"targets:\n  a:\n    <<: *base\n    env: {B: \"2\"}\n  b:\n    <<: [{sets: [python]}, *base]\n    kind: devcontainer\n"
	f, err := Parse("Laingfile", []byte(src), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	a, b := f.Target("a"), f.Target("b")
	if a.Kind != KindRuntime || len(a.Env) != 1 || a.Env[0].Key != "B" || len(a.Sets) != 1 || a.Sets[0].Name != "base" {
		t.Errorf("a = %+v", a)
	}
	// Explicit keys win over merged ones; earlier merged mappings win over later ones.
	if b.Kind != KindDevcontainer || len(b.Sets) != 1 || b.Sets[0].Name != "python" || len(b.Env) != 1 || b.Env[0].Key != "A" {
		t.Errorf("b = %+v", b)
	}
}

func TestAliasExpansionLimit(t *testing.T) {
	// Nine levels of ten aliases each would be 10^9 values if expanded naively.
	var b strings.Builder
	b.WriteString("kind: devcontainer\nx-0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "x-%d: &a%d [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	b.WriteString("metadata: {bomb: *a9}\n")
	_, err := Parse("Laingfile", []byte(b.String()), testOptions())
	got := errorLines(t, err)
	want := []string{`6:46: alias "*a3": aliases expand this Laingfile to more than 100000 values; use fewer or smaller aliases`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors = %v", got)
	}
}

// TestExamples parses the files in testdata and the complete examples in docs/laingfile.md (the
// fenced yaml blocks that start with a syntax line), so the documentation cannot drift from the
// parser.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("testdata/*.laingfile")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	examples := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		examples[f] = string(b)
	}
	doc, err := os.ReadFile("docs/laingfile.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(doc), "```yaml\n")
	for i, blk := range blocks[1:] {
		body, _, _ := strings.Cut(blk, "```")
		if strings.HasPrefix(body, "# syntax=") {
			examples[fmt.Sprintf("docs/laingfile.md yaml block %d", i+1)] = body
		}
	}
	if len(examples) < len(files)+2 {
		t.Errorf("found only %d examples", len(examples))
	}
	for name, src := range examples {
		if _, err := Parse("Laingfile", []byte(src), testOptions()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestDocErrorExample checks the error example in docs/laingfile.md: the block after "This file:"
// must give exactly the block after "gives:".
func TestDocErrorExample(t *testing.T) {
	doc, err := os.ReadFile("docs/laingfile.md")
	if err != nil {
		t.Fatal(err)
	}
	block := func(after string) string {
		_, rest, ok := strings.Cut(string(doc), after+"\n\n```\n")
		if !ok {
			t.Fatalf("no block after %q in docs/laingfile.md", after)
		}
		body, _, _ := strings.Cut(rest, "```")
		return body
	}
	_, err = Parse("Laingfile", []byte(block("This file:")), testOptions())
	if want := strings.TrimSpace(block("gives:")); err == nil || err.Error() != want {
		t.Errorf("the documented example gives:\n%v\nthe documentation says:\n%s", err, want)
	}
}

func TestCompleteExample(t *testing.T) {
	src, err := os.ReadFile("testdata/complete.laingfile")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse("Laingfile", src, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if f.Nixpkgs == nil || f.Nixpkgs.Rev != rev || f.Nixpkgs.Config["allowUnfree"] != true {
		t.Errorf("nixpkgs = %+v", f.Nixpkgs)
	}
	if len(f.Overlays) != 2 || f.Overlays[1].Path != "./nix/overlay.nix" {
		t.Errorf("overlays = %+v", f.Overlays)
	}
	doc, err := os.ReadFile("docs/laingfile.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```yaml\n"+string(src)+"```") {
		t.Errorf("testdata/complete.laingfile differs from the complete example in docs/laingfile.md")
	}
	rt := f.Target("runtime")
	stripRanges(rt)
	want := &Target{
		Name: "runtime", Kind: KindRuntime,
		Sets:       []SetRef{{Name: "base"}, {Name: "python"}},
		Packages:   []Package{{Path: "./nix/app.nix"}},
		User:       User{Name: "app", UID: 10001, GID: 10001, Home: "/srv/app"},
		Workdir:    "/srv/app",
		Env:        []KeyValue{{Key: "TZ", Value: "UTC"}, {Key: "PYTHONUNBUFFERED", Value: "1"}},
		Entrypoint: []string{"python3", "-m"},
		Cmd:        []string{"app", "--port", "8000"},
		Labels: []KeyValue{{Key: "org.opencontainers.image.source", Value: "https://github.com/acme/app"},
			{Key: "org.opencontainers.image.version", Value: "1.2.3"}},
		Expose:     []Port{{Port: "8000/tcp"}, {Port: "9000/udp"}},
		Volumes:    []string{"/srv/app/data"},
		StopSignal: "SIGINT",
		Copy: []Copy{{Src: "src/", Dst: "/srv/app/src/", UID: 10001, GID: 10001},
			{Src: "pyproject.toml", Dst: "/srv/app/pyproject.toml", Chown: "10001:10001", UID: 10001, GID: 10001}},
		Config: map[string]any{"Healthcheck": map[string]any{
			"Test": []any{"CMD", "python3", "-m", "app.health"}, "Interval": int64(30000000000)}},
		MaxLayers: 50,
	}
	if !reflect.DeepEqual(rt, want) {
		t.Errorf("runtime:\n got %+v\nwant %+v", *rt, *want)
	}
	dc := f.Target("devcontainer")
	if dc.User.Name != "vscode" || dc.Workdir != "/workspace" || len(dc.Env) != 2 || dc.Metadata["customizations"] == nil {
		t.Errorf("devcontainer = %+v", dc)
	}
}
