package laingfile2llb

import (
	"fmt"
	"maps"
	"path"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"

	"github.com/laingville/laingfile"
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
	out := map[string]written{}
	for i, a := range stagedActions(t, l) {
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

// stagedActions are the file actions of a stamped layer's staging op: the layer is one copy,
// with fixed times, of the tree they write (see stamped).
func stagedActions(t *testing.T, l Layer) []*pb.FileAction {
	t.Helper()
	all, head := ops(t, llb.Scratch().File(l.Action))
	layerOp := all[head]
	stamp := layerOp.GetFile().Actions[0].GetCopy()
	if len(layerOp.GetFile().Actions) != 1 || stamp == nil || stamp.Timestamp != LayerTime().UnixNano() || stamp.Owner != nil {
		t.Fatalf("the layer is not a single time-stamping copy: %v", layerOp.GetFile().Actions)
	}
	return all[digest.Digest(layerOp.Inputs[0].Digest)].GetFile().Actions
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
	nixOut := llb.Image("example.com/nix-out")
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
			w := layerFiles(t, mustLayer(t)(Customisation(dev, facts, fixedPaths(nixOut), nixOut)))

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
	w := layerFiles(t, mustLayer(t)(Customisation(run, facts, fixedPaths(llb.Image("example.com/nix-out")), llb.Image("example.com/nix-out"))))
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
	w := layerFiles(t, mustLayer(t)(Customisation(dev, facts, fixedPaths(llb.Image("example.com/nix-out")), llb.Image("example.com/nix-out"))))
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

// CopyLayers owns each copy by the ids the parser resolved for it.
func TestCopyLayersOwner(t *testing.T) {
	tg := &laingfile.Target{Kind: laingfile.KindRuntime, User: laingfile.User{Name: "app", UID: 1000, GID: 1000}, Copy: []laingfile.Copy{
		{Src: "s0/", Dst: "/d0/", UID: 1000, GID: 1000},
		{Src: "s1/", Dst: "/d1/", Chown: "root", UID: 0, GID: 0},
		{Src: "s2/", Dst: "/d2/", Chown: "5:6", UID: 5, GID: 6},
	}}
	want := []string{"1000:1000", "0:0", "5:6"}
	layers := CopyLayers(tg, llb.Local("context"), nil, nil)
	if len(layers) != len(want) {
		t.Fatalf("%d layers, want %d", len(layers), len(want))
	}
	for i, l := range layers {
		if got := ownerOf(stagedActions(t, l)[0].GetCopy().Owner); got != want[i] {
			t.Errorf("copy %d: owner %s, want %s", i, got, want[i])
		}
	}
}

// CopyLayers drops the setuid, setgid and write-for-others bits of every copied file unless the
// entry has a chmod, which applies as given: octal as a number, symbolic as BuildKit's mode
// string. Both kinds of image.
func TestCopyLayersMode(t *testing.T) {
	tests := []struct {
		name      string
		chmod     string
		mode      int32 // the copy action's Mode: chmod(2) bits, unused with a mode string
		modeStr   string
		createdBy string
	}{
		{"default: sanitised", "", 0, "u-s,g-s,o-w", "laingfile: copy app/ /app/"},
		{"octal", "0755", 0o755, "", "laingfile: copy --chmod=0755 app/ /app/"},
		{"octal without the leading 0", "640", 0o640, "", "laingfile: copy --chmod=640 app/ /app/"},
		{"octal setuid: the Laingfile says so", "4755", 0o4755, "", "laingfile: copy --chmod=4755 app/ /app/"},
		{"octal sticky and world-writable", "01777", 0o1777, "", "laingfile: copy --chmod=01777 app/ /app/"},
		{"octal zero", "0", 0, "", "laingfile: copy --chmod=0 app/ /app/"},
		{"symbolic", "u+x,go-w", 0, "u+x,go-w", "laingfile: copy --chmod=u+x,go-w app/ /app/"},
		{"symbolic setgid", "g+s", 0, "g+s", "laingfile: copy --chmod=g+s app/ /app/"},
	}
	for _, kind := range []laingfile.Kind{laingfile.KindRuntime, laingfile.KindDevcontainer} {
		for _, tt := range tests {
			t.Run(string(kind)+"/"+tt.name, func(t *testing.T) {
				tg := &laingfile.Target{Kind: kind, User: laingfile.User{Name: "u", UID: 1000, GID: 1000}, Copy: []laingfile.Copy{
					{Src: "app/", Dst: "/app/", UID: 1000, GID: 1000, Chmod: tt.chmod},
				}}
				layers := CopyLayers(tg, llb.Local("context"), nil, nil)
				if len(layers) != 1 {
					t.Fatalf("%d layers, want 1", len(layers))
				}
				actions := stagedActions(t, layers[0])
				if len(actions) != 1 || actions[0].GetCopy() == nil {
					t.Fatalf("the layer is not one copy: %v", actions)
				}
				c := actions[0].GetCopy()
				if c.Mode != tt.mode || c.ModeStr != tt.modeStr {
					t.Errorf("copy mode %#o, mode string %q; want %#o, %q", c.Mode, c.ModeStr, tt.mode, tt.modeStr)
				}
				if c.Src != "/app" || c.Dest != "/app/" || !c.DirCopyContents || ownerOf(c.Owner) != "1000:1000" {
					t.Errorf("copy %v", c)
				}
				if layers[0].CreatedBy != tt.createdBy {
					t.Errorf("created by %q, want %q", layers[0].CreatedBy, tt.createdBy)
				}
			})
		}
	}
}

// What the parser accepts, CopyLayers marshals: every chmod of a parsed Laingfile becomes the
// mode of its copy.
func TestCopyLayersParsedChmod(t *testing.T) {
	f, err := laingfile.Parse("Laingfile", []byte("kind: runtime\ncopy:\n  - {src: a, dst: /a}\n  - {src: b, dst: /b, chmod: 0750}\n  - {src: c, dst: /c, chmod: \"a=rX,u+w\"}\n"), laingfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range CopyLayers(f.Targets[0], llb.Local("context"), nil, nil) {
		c := stagedActions(t, l)[0].GetCopy()
		got = append(got, fmt.Sprintf("%#o %q", c.Mode, c.ModeStr))
	}
	if want := []string{`0 "u-s,g-s,o-w"`, `0750 ""`, `0 "a=rX,u+w"`}; strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("modes %q, want %q", got, want)
	}
}

// A copy layer makes the directories on its way to dst as the layers below make them (root's
// 0755 otherwise), before the copy: merged above them, its directories replace theirs.
func TestCopyLayersParents(t *testing.T) {
	run := &laingfile.Target{Kind: laingfile.KindRuntime, User: laingfile.User{Name: "app", UID: 1000, GID: 1000, Home: "/home/app"}}
	custom := mustLayer(t)(Customisation(run, Facts{Profile: "/nix/store/" + strings.Repeat("a", 32) + "-profile"}, fixedPaths(llb.Image("example.com/nix-out")), llb.Image("example.com/nix-out")))
	tests := []struct {
		dst  string
		want map[string]string // directory → "mode owner", in order before the copy
	}{
		{"/etc/myapp/", map[string]string{"/etc": "755 0:0"}},
		{"/srv/app/", map[string]string{"/srv": "755 0:0"}},
		{"/home/app/src/", map[string]string{"/home": "755 0:0", "/home/app": "755 1000:1000"}},
		{"/tmp/cache/", map[string]string{"/tmp": "1777 0:0"}},
		{"/home/app", map[string]string{"/home": "755 0:0"}},
		{"/app.py", map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.dst, func(t *testing.T) {
			tg := *run
			tg.Copy = []laingfile.Copy{{Src: "x", Dst: tc.dst, Chown: "root", UID: 0, GID: 0}}
			l := CopyLayers(&tg, llb.Local("context"), []Layer{custom}, nil)[0]
			actions := stagedActions(t, l)
			got := map[string]string{}
			for i, a := range actions {
				c := a.GetCopy()
				if c == nil {
					t.Fatalf("action %d is not a copy: %v", i, a)
				}
				if i == len(actions)-1 {
					if c.Dest != tc.dst || ownerOf(c.Owner) != "0:0" {
						t.Errorf("the last action copies to %s as %s, want the entry to %s as 0:0", c.Dest, ownerOf(c.Owner), tc.dst)
					}
					break
				}
				got[c.Dest] = fmt.Sprintf("%o %s", c.Mode, ownerOf(c.Owner))
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("directories made before the copy = %v, want %v", got, tc.want)
			}
		})
	}
}

// mustLayer fails the test on the error of a function that makes a layer.
func mustLayer(t *testing.T) func(Layer, error) Layer {
	return func(l Layer, err error) Layer {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
}
