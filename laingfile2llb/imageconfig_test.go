package laingfile2llb

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/laingville/laingfile"
	"github.com/laingville/laingfile/nixsets"
)

func testFacts() Facts {
	c := testClosure()
	bash := c[2].Path
	cacert := storePath("nss-cacert-3.101", 500<<10)
	gccLib := storePath("gcc-14.2.1-lib", 8<<20)
	c = append(c, cacert, gccLib)
	return Facts{
		Closure: c,
		Profile: "/nix/store/cccccccccccccccccccccccccccccccc-laingfile-profile",
		Info: map[string][]string{
			attrBash:   {bash},
			attrCACert: {cacert.Path},
			attrGCCLib: {gccLib.Path},
			attrSudo:   {"/nix/store/dddddddddddddddddddddddddddddddd-sudo-1.9.17p2"}, // not in the closure
		},
	}
}

func TestImageConfig(t *testing.T) {
	facts := testFacts()
	bash := facts.Info[attrBash][0]
	devcontainer := &laingfile.Target{Name: "devcontainer", Kind: laingfile.KindDevcontainer,
		User: laingfile.User{Name: "vscode", UID: 1000, GID: 1000, Home: "/home/vscode"}, Workdir: "/workspace",
		Metadata: map[string]any{"customizations": map[string]any{"vscode": map[string]any{"extensions": []any{"ms-python.python"}}}}}
	runtime := &laingfile.Target{Name: "runtime", Kind: laingfile.KindRuntime,
		User: laingfile.User{Name: "app", UID: 1000, GID: 1000, Home: "/app"}, Workdir: "/app",
		Cmd: []string{"python3", "-m", "app"}, Expose: []laingfile.Port{{Port: "8000/tcp"}}, Volumes: []string{"/data"},
		StopSignal: "SIGINT", Env: []laingfile.KeyValue{{Key: "USER", Value: "service"}, {Key: "APP_MODE", Value: "prod"}},
		Labels: []laingfile.KeyValue{{Key: "org.opencontainers.image.title", Value: "app"}}}
	withConfig := *runtime
	withConfig.Config = map[string]any{"Entrypoint": []any{"/bin/sh", "-c"}, "Env": []any{"ONLY=this"}}

	tests := []struct {
		name   string
		target *laingfile.Target
		check  func(t *testing.T, env []string, cfg map[string]any)
	}{
		{"devcontainer", devcontainer, func(t *testing.T, env []string, cfg map[string]any) {
			for _, want := range []string{
				"HOME=/home/vscode", "USER=vscode",
				"PATH=/home/vscode/.nix-profile/bin:/nix/var/nix/profiles/default/bin:/usr/bin:/bin",
				"NIX_PATH=nixpkgs=https://github.com/NixOS/nixpkgs/archive/" + nixsets.DefaultPin().Rev + ".tar.gz",
				"SSL_CERT_FILE=" + facts.Info[attrCACert][0] + "/etc/ssl/certs/ca-bundle.crt",
				// Only the gcc runtime: glibc's loader finds libc itself (docs/laingfile.md).
				"LD_LIBRARY_PATH=" + facts.Info[attrGCCLib][0] + "/lib",
			} {
				if !slices.Contains(env, want) {
					t.Errorf("env lacks %q: %v", want, env)
				}
			}
			if cfg["User"] != "vscode" || cfg["WorkingDir"] != "/workspace" {
				t.Errorf("user/workdir = %v %v", cfg["User"], cfg["WorkingDir"])
			}
			if cmd := cfg["Cmd"].([]any); len(cmd) != 1 || cmd[0] != bash+"/bin/bash" {
				t.Errorf("Cmd = %v", cmd)
			}
			labels := cfg["Labels"].(map[string]any)
			var meta []map[string]any
			if err := json.Unmarshal([]byte(labels["devcontainer.metadata"].(string)), &meta); err != nil {
				t.Fatal(err)
			}
			last := meta[len(meta)-1]
			if last["remoteUser"] != "vscode" || last["containerUser"] != "vscode" || last["customizations"] == nil {
				t.Errorf("devcontainer.metadata = %v", meta)
			}
		}},
		{"runtime", runtime, func(t *testing.T, env []string, cfg map[string]any) {
			for _, want := range []string{"HOME=/app", "USER=service", "APP_MODE=prod", "PATH=" + dockerDefaultPath} {
				if !slices.Contains(env, want) {
					t.Errorf("env lacks %q: %v", want, env)
				}
			}
			if slices.ContainsFunc(env, func(s string) bool { return len(s) > 8 && s[:8] == "NIX_PATH" }) {
				t.Error("runtime has NIX_PATH")
			}
			if cfg["Cmd"].([]any)[0] != "python3" || cfg["StopSignal"] != "SIGINT" {
				t.Errorf("cmd/stopsignal = %v %v", cfg["Cmd"], cfg["StopSignal"])
			}
			if _, ok := cfg["ExposedPorts"].(map[string]any)["8000/tcp"]; !ok {
				t.Errorf("ExposedPorts = %v", cfg["ExposedPorts"])
			}
			if _, ok := cfg["Volumes"].(map[string]any)["/data"]; !ok {
				t.Errorf("Volumes = %v", cfg["Volumes"])
			}
			labels := cfg["Labels"].(map[string]any)
			if labels["org.opencontainers.image.title"] != "app" || labels["devcontainer.metadata"] != nil {
				t.Errorf("labels = %v", labels)
			}
		}},
		{"config fragment replaces keys last", &withConfig, func(t *testing.T, env []string, cfg map[string]any) {
			if len(env) != 1 || env[0] != "ONLY=this" {
				t.Errorf("Env = %v, want the fragment's", env)
			}
			if ep := cfg["Entrypoint"].([]any); ep[0] != "/bin/sh" {
				t.Errorf("Entrypoint = %v", ep)
			}
			if cfg["User"] != "app" {
				t.Errorf("User = %v, untouched keys must stay", cfg["User"])
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			layers := []Layer{{CreatedBy: "nix: a"}, {CreatedBy: "laingfile: customisation"}}
			img, err := ImageConfig(ImageInput{
				Target: tt.target, Platform: ocispecs.Platform{OS: "linux", Architecture: "arm64"},
				Facts: facts, Layers: layers, Created: time.Unix(1, 0), Pin: nixsets.DefaultPin(),
			})
			if err != nil {
				t.Fatal(err)
			}
			if img.OS != "linux" || img.Architecture != "arm64" || img.RootFS.Type != "layers" {
				t.Errorf("platform = %+v", img.Platform)
			}
			if img.Created.Unix() != 1 || len(img.History) != 2 || img.History[1].CreatedBy != "laingfile: customisation" {
				t.Errorf("created %v, history %+v", img.Created, img.History)
			}
			data, _ := json.Marshal(img.Config)
			var cfg map[string]any
			if err := json.Unmarshal(data, &cfg); err != nil {
				t.Fatal(err)
			}
			tt.check(t, img.Config.Env, cfg)
		})
	}
}

func TestImageConfigRejectsBadFragment(t *testing.T) {
	target := &laingfile.Target{Kind: laingfile.KindRuntime, User: laingfile.User{Name: "app", Home: "/app"},
		Config: map[string]any{"Env": "not-a-list"}}
	_, err := ImageConfig(ImageInput{Target: target, Platform: ocispecs.Platform{OS: "linux", Architecture: "amd64"}, Facts: testFacts()})
	if err == nil {
		t.Fatal("a config fragment with Env as a string was accepted")
	}
}

func TestDevcontainerMetadata(t *testing.T) {
	user := laingfile.User{Name: "vscode", UID: 1000, GID: 1000, Home: "/home/vscode"}
	root := laingfile.User{Name: "root", UID: 0, GID: 0, Home: "/root"}
	tests := []struct {
		name     string
		user     laingfile.User
		nixStore bool
		metadata map[string]any
		// onCreate says whether the first entry gives the Nix store to a changed uid.
		onCreate bool
	}{
		{"user with a Nix store", user, true, nil, true},
		{"user without Nix", user, false, nil, false},
		{"root owns the store anyway", root, true, nil, false},
		{"the Laingfile's own onCreateCommand is kept", user, true, map[string]any{"onCreateCommand": "make setup"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := &laingfile.Target{Kind: laingfile.KindDevcontainer, User: tt.user, Metadata: tt.metadata}
			label, err := devcontainerMetadata(target, tt.nixStore)
			if err != nil {
				t.Fatal(err)
			}
			var entries []map[string]any
			if err := json.Unmarshal([]byte(label), &entries); err != nil {
				t.Fatal(err)
			}
			want := 1
			if tt.onCreate {
				want = 2
				if entries[0]["onCreateCommand"] != nixOwnerAfterUIDChange {
					t.Errorf("first entry %v, want the Nix store's onCreateCommand", entries[0])
				}
			}
			if len(entries) != want {
				t.Fatalf("%d entries, want %d: %s", len(entries), want, label)
			}
			last := entries[len(entries)-1]
			if last["remoteUser"] != tt.user.Name || last["containerUser"] != tt.user.Name {
				t.Errorf("last entry %v does not name the user", last)
			}
			for k, v := range tt.metadata {
				if last[k] != v {
					t.Errorf("%s = %v, want the Laingfile's %v", k, last[k], v)
				}
			}
		})
	}
}
