package llb

import (
	"strings"
	"testing"

	bkllb "github.com/moby/buildkit/client/llb"
	digest "github.com/opencontainers/go-digest"

	"github.com/laingville/laingfile/frontend/laingfile"
)

// layerFiles marshals a layer on scratch and returns what it writes: files with their data and
// mode, symlinks with their targets, and copies with their mode.
func layerFiles(t *testing.T, l Layer) (files map[string]string, modes map[string]int32, links map[string]string, copies map[string]int32) {
	t.Helper()
	all, head := ops(t, bkllb.Scratch().File(l.Action))
	// The layer is one copy, with fixed times, of the tree its input op writes.
	layerOp := all[head]
	stamp := layerOp.GetFile().Actions[0].GetCopy()
	if len(layerOp.GetFile().Actions) != 1 || stamp == nil || stamp.Timestamp != LayerTime().UnixNano() || stamp.Owner != nil {
		t.Fatalf("the layer is not a single time-stamping copy: %v", layerOp.GetFile().Actions)
	}
	staging := all[digest.Digest(layerOp.Inputs[0].Digest)]
	files, modes, links, copies = map[string]string{}, map[string]int32{}, map[string]string{}, map[string]int32{}
	for _, a := range staging.GetFile().Actions {
		switch {
		case a.GetMkfile() != nil:
			files[a.GetMkfile().Path] = string(a.GetMkfile().Data)
			modes[a.GetMkfile().Path] = a.GetMkfile().Mode
		case a.GetSymlink() != nil:
			links[a.GetSymlink().Newpath] = a.GetSymlink().Oldpath
		case a.GetCopy() != nil:
			copies[a.GetCopy().Dest] = a.GetCopy().Mode
		}
	}
	return files, modes, links, copies
}

func TestCustomisation(t *testing.T) {
	facts := testFacts()
	sudo := storePath("sudo-1.9.16", 3<<20)
	coreutils := storePath("coreutils-9.5", 5<<20)
	facts.Closure = append(facts.Closure, sudo, coreutils)
	facts.Info[attrSudo] = []string{sudo.Path}
	facts.Info[attrCoreutils] = []string{coreutils.Path}
	facts.ProfileEntries = []string{"bin", "lib", "lib64", "share"}
	bash := facts.Info[attrBash][0] + "/bin/bash"
	nixOut := bkllb.Image("example.com/nix-out")

	dev := &laingfile.Target{Kind: laingfile.KindDevcontainer, User: laingfile.User{Name: "vscode", UID: 1000, GID: 1000, Home: "/home/vscode"}, Workdir: "/workspace"}
	run := &laingfile.Target{Kind: laingfile.KindRuntime, User: laingfile.User{Name: "app", UID: 1000, GID: 1000, Home: "/app"}, Workdir: "/app"}

	t.Run("devcontainer", func(t *testing.T) {
		files, modes, links, copies := layerFiles(t, Customisation(dev, facts, nixOut))
		want := map[string]string{
			"/etc/passwd":           "root:x:0:0:root:/root:" + bash + "\nvscode:x:1000:1000:vscode:/home/vscode:" + bash + "\n",
			"/etc/group":            "root:x:0:\nwheel:x:10:vscode\nvscode:x:1000:\n",
			"/etc/shadow":           "root:!:1::::::\nvscode:!:1::::::\n",
			"/etc/sudoers":          "root ALL=(ALL:ALL) ALL\n#includedir /etc/sudoers.d\n",
			"/etc/sudoers.d/vscode": "vscode ALL=(ALL) NOPASSWD:ALL\n",
			"/etc/nix/nix.conf":     "experimental-features = nix-command flakes\naccept-flake-config = true\n",
		}
		for p, data := range want {
			if files[p] != data {
				t.Errorf("%s = %q, want %q", p, files[p], data)
			}
		}
		for p, mode := range map[string]int32{"/etc/shadow": 0o640, "/etc/sudoers": 0o440, "/etc/sudoers.d/vscode": 0o440, "/etc/passwd": 0o644} {
			if modes[p] != mode {
				t.Errorf("%s mode = %o, want %o", p, modes[p], mode)
			}
		}
		for _, p := range []string{"/etc/os-release", "/home/vscode/.bashrc", "/home/vscode/.config/nix/nix.conf"} {
			if _, ok := files[p]; !ok {
				t.Errorf("missing %s", p)
			}
		}
		if !strings.Contains(files["/home/vscode/.bashrc"], "direnv hook bash") {
			t.Errorf(".bashrc lacks the direnv hook: %q", files["/home/vscode/.bashrc"])
		}
		for newpath, old := range map[string]string{
			"/bin":                                 "/nix/var/nix/profiles/default/bin",
			"/lib64":                               "/nix/var/nix/profiles/default/lib64",
			"/usr/bin/env":                         coreutils.Path + "/bin/env",
			"/home/vscode/.nix-profile":            "/nix/var/nix/profiles/default",
			"/nix/var/nix/profiles/default":        "default-1-link",
			"/nix/var/nix/profiles/default-1-link": facts.Profile,
			"/etc/ssl/certs/ca-certificates.crt":   facts.Info[attrCACert][0] + "/etc/ssl/certs/ca-bundle.crt",
		} {
			if links[newpath] != old {
				t.Errorf("symlink %s -> %q, want %q", newpath, links[newpath], old)
			}
		}
		if _, ok := links["/share"]; ok {
			t.Error("/share is linked; only bin, sbin, lib, lib64 and libexec are")
		}
		if copies["/usr/bin/sudo"] != 0o4755 || copies["/tmp"] != 0o1777 {
			t.Errorf("copies = %v", copies)
		}
	})

	t.Run("runtime", func(t *testing.T) {
		files, _, links, copies := layerFiles(t, Customisation(run, facts, nixOut))
		if files["/etc/group"] != "root:x:0:\napp:x:1000:\n" {
			t.Errorf("/etc/group = %q", files["/etc/group"])
		}
		for _, p := range []string{"/etc/sudoers", "/etc/os-release", "/etc/nix/nix.conf", "/app/.bashrc"} {
			if _, ok := files[p]; ok {
				t.Errorf("runtime has %s", p)
			}
		}
		if _, ok := copies["/usr/bin/sudo"]; ok {
			t.Error("runtime has sudo")
		}
		if links["/usr/bin/env"] == "" || copies["/tmp"] != 0o1777 {
			t.Errorf("links %v copies %v", links, copies)
		}
	})
}
