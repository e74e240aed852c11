package llb

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"testing"

	bkllb "github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"

	"github.com/laingville/laingfile/frontend/laingfile"
)

// written is what a layer writes, by path: a file's data, a link's target, "dir" or "copy".
type written struct {
	kind  string // "file", "dir", "link", "copy"
	data  string // file contents or link target
	mode  int32
	owner string // "uid:gid"
	// order is the position of the action in the layer.
	order int
}

// layerFiles marshals a layer on scratch and returns what it writes.
func layerFiles(t *testing.T, l Layer) map[string]written {
	t.Helper()
	all, head := ops(t, bkllb.Scratch().File(l.Action))
	// The layer is one copy, with fixed times, of the tree its input op writes.
	layerOp := all[head]
	stamp := layerOp.GetFile().Actions[0].GetCopy()
	if len(layerOp.GetFile().Actions) != 1 || stamp == nil || stamp.Timestamp != LayerTime().UnixNano() || stamp.Owner != nil {
		t.Fatalf("the layer is not a single time-stamping copy: %v", layerOp.GetFile().Actions)
	}
	staging := all[digest.Digest(layerOp.Inputs[0].Digest)]
	out := map[string]written{}
	for i, a := range staging.GetFile().Actions {
		switch {
		case a.GetMkfile() != nil:
			m := a.GetMkfile()
			out[m.Path] = written{kind: "file", data: string(m.Data), mode: m.Mode, owner: ownerOf(m.Owner), order: i}
		case a.GetMkdir() != nil:
			m := a.GetMkdir()
			if _, ok := out[m.Path]; !ok { // the first mkdir creates it; later ones change nothing
				out[m.Path] = written{kind: "dir", mode: m.Mode, owner: ownerOf(m.Owner), order: i}
			}
		case a.GetSymlink() != nil:
			s := a.GetSymlink()
			out[s.Newpath] = written{kind: "link", data: s.Oldpath, owner: ownerOf(s.Owner), order: i}
		case a.GetCopy() != nil:
			c := a.GetCopy()
			out[c.Dest] = written{kind: "copy", data: c.Src, mode: c.Mode, owner: ownerOf(c.Owner), order: i}
		}
	}
	return out
}

func ownerOf(o *pb.ChownOpt) string {
	if o == nil {
		return ""
	}
	id := func(u *pb.UserOpt) string {
		if u == nil {
			return "?"
		}
		if u.GetByName() != nil {
			return u.GetByName().Name
		}
		return fmt.Sprint(u.GetByID())
	}
	return id(o.User) + ":" + id(o.Group)
}

func customFacts() Facts {
	facts := testFacts()
	sudo := storePath("sudo-1.9.16", 3<<20)
	coreutils := storePath("coreutils-9.5", 5<<20)
	nixDirenv := storePath("nix-direnv-3.0.6", 40<<10)
	facts.Closure = append(facts.Closure, sudo, coreutils, nixDirenv)
	linuxPAM := storePath("linux-pam-1.6.1", 1<<20)
	facts.Closure = append(facts.Closure, linuxPAM)
	facts.Info[attrSudo] = []string{sudo.Path}
	facts.Info[attrLinuxPAM] = []string{linuxPAM.Path}
	facts.Packages = map[string][]string{attrSudo: {sudo.Path}}
	facts.Info[attrCoreutils] = []string{coreutils.Path}
	facts.Info[attrNixDirenv] = []string{nixDirenv.Path}
	facts.ProfileEntries = []string{"bin", "lib", "lib64", "share"}
	facts.NixDB = NixDB{SQLite: []byte("SQLite format 3\x00…"), Schema: []byte("10")}
	return facts
}

func TestCustomisationDevcontainer(t *testing.T) {
	facts := customFacts()
	bash := facts.Info[attrBash][0] + "/bin/bash"
	pam := facts.Info[attrLinuxPAM][0] + "/lib/security/"
	sudo := facts.Info[attrSudo][0]
	nixOut := bkllb.Image("example.com/nix-out")
	tests := []struct {
		name string
		user laingfile.User
	}{
		{"default user", laingfile.User{Name: "vscode", UID: 1000, GID: 1000, Home: "/home/vscode"}},
		{"another name and ids", laingfile.User{Name: "dev", UID: 1234, GID: 2345, Home: "/home/dev"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.user
			ids := fmt.Sprintf("%d:%d", u.UID, u.GID)
			dev := &laingfile.Target{Kind: laingfile.KindDevcontainer, User: u, Workdir: "/workspace"}
			w := layerFiles(t, Customisation(dev, facts, nixOut))

			files := map[string]struct {
				data  string
				mode  int32
				owner string
			}{
				"/etc/passwd":                    {"root:x:0:0:root:/root:" + bash + "\n" + fmt.Sprintf("%s:x:%s:%s:%s:%s\n", u.Name, ids, u.Name, u.Home, bash), 0o644, "0:0"},
				"/etc/group":                     {fmt.Sprintf("root:x:0:\nwheel:x:10:%s\n%s:x:%d:\n", u.Name, u.Name, u.GID), 0o644, "0:0"},
				"/etc/shadow":                    {"root:!:1::::::\n" + u.Name + ":!:1::::::\n", 0o640, "0:0"},
				"/etc/sudoers":                   {"root ALL=(ALL:ALL) ALL\n#includedir /etc/sudoers.d\n", 0o440, "0:0"},
				"/etc/sudoers.d/" + u.Name:       {u.Name + " ALL=(ALL) NOPASSWD:ALL\n", 0o440, "0:0"},
				"/etc/nix/nix.conf":              {nixConf, 0o644, "0:0"},
				u.Home + "/.config/nix/nix.conf": {"experimental-features = nix-command flakes\naccept-flake-config = true\n", 0o644, ids},
				"/etc/direnv/direnvrc":           {"source " + facts.Info[attrNixDirenv][0] + "/share/nix-direnv/direnvrc\n", 0o644, "0:0"},
				"/nix/var/nix/db/db.sqlite":      {string(facts.NixDB.SQLite), 0o644, ids},
				"/nix/var/nix/db/schema":         {"10", 0o644, ids},
				// nixpkgs' sudo uses PAM: the cached sudo, not one rebuilt without it.
				"/etc/pam.d/sudo": {"# sudo in this devcontainer: root and NOPASSWD rules only.\n" +
					"auth     sufficient " + pam + "pam_rootok.so\nauth     required   " + pam + "pam_deny.so\n" +
					"account  required   " + pam + "pam_permit.so\nsession  required   " + pam + "pam_permit.so\n", 0o644, "0:0"},
				"/etc/pam.d/other": {"# Every other PAM service is refused.\n" +
					"auth     required   " + pam + "pam_deny.so\naccount  required   " + pam + "pam_deny.so\n" +
					"password required   " + pam + "pam_deny.so\nsession  required   " + pam + "pam_deny.so\n", 0o644, "0:0"},
			}
			for p, want := range files {
				got, ok := w[p]
				if !ok || got.kind != "file" || got.data != want.data || got.mode != want.mode || got.owner != want.owner {
					t.Errorf("%s = %+v, want %q mode %o owner %s", p, got, want.data, want.mode, want.owner)
				}
			}
			for _, p := range []string{"/etc/os-release", u.Home + "/.bashrc", u.Home + "/.bash_profile", u.Home + "/.profile", u.Home + "/.config/direnv/direnvrc"} {
				if w[p].kind != "file" {
					t.Errorf("missing %s", p)
				}
			}
			if !strings.Contains(w[u.Home+"/.bashrc"].data, "direnv hook bash") || !strings.Contains(w[u.Home+"/.profile"].data, ". ~/.bashrc") {
				t.Errorf(".bashrc %q, .profile %q", w[u.Home+"/.bashrc"].data, w[u.Home+"/.profile"].data)
			}
			// The Nix store and state are the user's, the image's default profile root's.
			for p, owner := range map[string]string{
				"/nix": ids, "/nix/store": ids, "/nix/var/nix": ids, "/nix/var/nix/db": ids, "/nix/var/nix/temproots": ids,
				"/nix/var/nix/gcroots/per-user/" + u.Name: ids, "/nix/var/nix/profiles/per-user": ids,
				"/nix/var/nix/profiles/per-user/" + u.Name: ids, "/nix/var/log/nix/drvs": ids,
				"/nix/var/nix/profiles": "0:0", u.Home: ids, "/workspace": ids, "/root": "0:0",
			} {
				if got := w[p]; got.kind != "dir" || got.owner != owner {
					t.Errorf("%s = %+v, want a directory owned by %s", p, got, owner)
				}
			}
			if w["/nix/var/nix"].order > w["/nix/var/nix/profiles"].order {
				t.Error("/nix/var/nix is created after the profiles below it, so it keeps their owner")
			}
			for newpath, old := range map[string]string{
				"/bin":                                 "/nix/var/nix/profiles/default/bin",
				"/lib64":                               "/nix/var/nix/profiles/default/lib64",
				"/usr/bin/env":                         facts.Info[attrCoreutils][0] + "/bin/env",
				"/nix/var/nix/profiles/default":        "default-1-link",
				"/nix/var/nix/profiles/default-1-link": facts.Profile,
				"/nix/var/nix/profiles/per-user/" + u.Name + "/profile":        "profile-1-link",
				"/nix/var/nix/profiles/per-user/" + u.Name + "/profile-1-link": facts.Profile,
				u.Home + "/.nix-profile":                                       "/nix/var/nix/profiles/per-user/" + u.Name + "/profile",
				"/nix/var/nix/gcroots/profiles":                                "/nix/var/nix/profiles",
				"/etc/ssl/certs/ca-certificates.crt":                           facts.Info[attrCACert][0] + "/etc/ssl/certs/ca-bundle.crt",
				// sudo is outside the profile, so it needs a root of its own.
				"/nix/var/nix/gcroots/laingfile/" + path.Base(sudo): sudo,
			} {
				if got := w[newpath]; got.kind != "link" || got.data != old {
					t.Errorf("symlink %s -> %q, want %q", newpath, got.data, old)
				}
			}
			if _, ok := w["/share"]; ok {
				t.Error("/share is linked; only bin, sbin, lib, lib64 and libexec are")
			}
			if got := w["/usr/bin/sudo"]; got.kind != "copy" || got.mode != 0o4755 || got.owner != "0:0" || got.data != facts.Info[attrSudo][0]+"/bin/sudo" {
				t.Errorf("/usr/bin/sudo = %+v", got)
			}
			if got := w["/tmp"]; got.kind != "copy" || got.mode != 0o1777 {
				t.Errorf("/tmp = %+v", got)
			}
		})
	}
}

func TestCustomisationRuntime(t *testing.T) {
	facts := customFacts()
	run := &laingfile.Target{Kind: laingfile.KindRuntime, User: laingfile.User{Name: "app", UID: 1000, GID: 1000, Home: "/app"}, Workdir: "/app"}
	w := layerFiles(t, Customisation(run, facts, bkllb.Image("example.com/nix-out")))
	if w["/etc/group"].data != "root:x:0:\napp:x:1000:\n" {
		t.Errorf("/etc/group = %q", w["/etc/group"].data)
	}
	if w["/app"].kind != "dir" || w["/app"].owner != "1000:1000" {
		t.Errorf("/app = %+v, want the user's home", w["/app"])
	}
	for _, p := range []string{"/etc/sudoers", "/etc/pam.d/sudo", "/etc/os-release", "/etc/nix/nix.conf", "/app/.bashrc", "/usr/bin/sudo", "/nix/var/nix/db/db.sqlite", "/nix/store", "/app/.nix-profile"} {
		if _, ok := w[p]; ok {
			t.Errorf("runtime has %s", p)
		}
	}
	if w["/usr/bin/env"].kind != "link" || w["/tmp"].mode != 0o1777 || w["/nix/var/nix/profiles"].owner != "0:0" {
		t.Errorf("/usr/bin/env %+v, /tmp %+v, profiles %+v", w["/usr/bin/env"], w["/tmp"], w["/nix/var/nix/profiles"])
	}
}

// A devcontainer for root has one root entry and no sudoers.
func TestCustomisationRootUser(t *testing.T) {
	facts := customFacts()
	dev := &laingfile.Target{Kind: laingfile.KindDevcontainer, User: laingfile.User{Name: "root", UID: 0, GID: 0, Home: "/root"}, Workdir: "/workspace"}
	w := layerFiles(t, Customisation(dev, facts, bkllb.Image("example.com/nix-out")))
	if strings.Count(w["/etc/passwd"].data, "\nroot:") != 0 || strings.Count(w["/etc/group"].data, "root:x:0:") != 1 || strings.Count(w["/etc/shadow"].data, "\n") != 1 {
		t.Errorf("passwd %q group %q shadow %q", w["/etc/passwd"].data, w["/etc/group"].data, w["/etc/shadow"].data)
	}
	if _, ok := w["/etc/sudoers.d/root"]; ok {
		t.Error("root has a sudoers rule of its own")
	}
	if w["/root"].mode != 0o700 || w["/nix/store"].owner != "0:0" {
		t.Errorf("/root %+v, /nix/store %+v", w["/root"], w["/nix/store"])
	}
}

// TestParseChown: a copy's owner is a user and group of the image (root, the target's user,
// and for devcontainers the group wheel) or numbers; anything else is an error, never the image
// user by default.
func TestParseChown(t *testing.T) {
	dev := &laingfile.Target{Kind: laingfile.KindDevcontainer, User: laingfile.User{Name: "vscode", UID: 1000, GID: 1000}}
	run := &laingfile.Target{Kind: laingfile.KindRuntime, User: laingfile.User{Name: "app", UID: 1001, GID: 1002}}
	tests := []struct {
		name   string
		target *laingfile.Target
		chown  string
		want   string // "uid:gid", or the error
	}{
		{"root", dev, "root", "0:0"},
		{"root:root", dev, "root:root", "0:0"},
		{"the user", run, "app", "1001:1002"},
		{"the user and group", run, "app:app", "1001:1002"},
		{"the user in group root", run, "app:root", "1001:0"},
		{"wheel in a devcontainer", dev, "vscode:wheel", "1000:10"},
		{"numbers", run, "1000:7", "1000:7"},
		{"a uid alone", run, "33", "33:33"},
		{"a uid and a group name", run, "33:app", "33:1002"},
		{"the largest id", run, "2147483647:0", "2147483647:0"},
		{"nobody:nogroup", dev, "nobody:nogroup", `chown "nobody:nogroup": unknown user "nobody"; expected a user of the image (vscode, root) or a uid from 0 to 2147483647`},
		{"an unknown group", dev, "root:nogroup", `chown "root:nogroup": unknown group "nogroup"; expected a group of the image (vscode, root, wheel) or a gid from 0 to 2147483647`},
		{"wheel in a runtime", run, "app:wheel", `unknown group "wheel"; expected a group of the image (app, root) or a gid`},
		{"digits and letters", dev, "1000abc:7x", `chown "1000abc:7x": unknown user "1000abc"`},
		{"a number and letters as group", dev, "1000:7x", `unknown group "7x"`},
		{"a negative uid", dev, "-1", `unknown user "-1"`},
		{"a signed uid", dev, "+5", `unknown user "+5"`},
		{"a uid out of range", dev, "2147483648", `uid 2147483648 is out of range; expected 0 to 2147483647`},
		{"a huge gid", dev, "0:99999999999999999999999", `gid 99999999999999999999999 is out of range`},
		{"an empty user", dev, ":0", `unknown user ""`},
		{"an empty group", dev, "root:", `unknown group ""`},
		{"two colons", dev, "root:root:root", `unknown group "root:root"`},
		{"a user with blanks", dev, " root", `unknown user " root"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseChown(tt.chown, tt.target)
			if strings.Contains(tt.want, ":") && !strings.Contains(tt.want, " ") {
				if err != nil {
					t.Fatal(err)
				}
				if s := fmt.Sprintf("%d:%d", got.User.UID, got.Group.UID); s != tt.want {
					t.Errorf("owner = %s, want %s", s, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n %v\nwant one containing:\n %s", err, tt.want)
			}
		})
	}
}

// TestCopyLayersChown: CopyLayers sets the owner of each copy, and an owner the image does not
// have is an error naming the copy, so that the caller can point at its line.
func TestCopyLayersChown(t *testing.T) {
	target := func(chowns ...string) *laingfile.Target {
		tg := &laingfile.Target{Kind: laingfile.KindRuntime, User: laingfile.User{Name: "app", UID: 1000, GID: 1000}}
		for i, c := range chowns {
			tg.Copy = append(tg.Copy, laingfile.Copy{Src: fmt.Sprintf("s%d/", i), Dst: fmt.Sprintf("/d%d/", i), Chown: c})
		}
		return tg
	}
	tests := []struct {
		name   string
		target *laingfile.Target
		owners []string
		index  int
		want   string
	}{
		{"default and names", target("", "root", "app:root", "5:6"), []string{"1000:1000", "0:0", "1000:0", "5:6"}, 0, ""},
		{"root:root", target("root:root"), []string{"0:0"}, 0, ""},
		{"the second copy's owner", target("root", "nobody:nogroup"), nil, 1, `copy[1].chown "nobody:nogroup": unknown user "nobody"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			layers, err := CopyLayers(tt.target, bkllb.Local("context"))
			if tt.want != "" {
				var ce *CopyError
				if !errors.As(err, &ce) || ce.Index != tt.index || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error = %v (%T), want a CopyError of copy %d containing %q", err, err, tt.index, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(layers) != len(tt.owners) {
				t.Fatalf("%d layers, want %d", len(layers), len(tt.owners))
			}
			for i, l := range layers {
				all, head := ops(t, bkllb.Scratch().File(l.Action))
				cp := all[head].GetFile().Actions[0].GetCopy()
				if got := ownerOf(cp.Owner); got != tt.owners[i] {
					t.Errorf("copy %d: owner %s, want %s", i, got, tt.owners[i])
				}
			}
		})
	}
}
