package laingfile2llb

import (
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/moby/buildkit/client/llb"

	"github.com/laingville/laingfile"
	"github.com/laingville/laingfile/internal/nixstore"
)

// Facts are what the Nix build step reported about one image: its closure, its profile, and
// the store paths of the packages the customisation layer and the image config refer to.
type Facts struct {
	Closure nixstore.Closure
	// Profile is the store path of the image's Nix profile (a user environment).
	Profile string
	// ProfileEntries are the top-level names in the profile (bin, lib, share, …).
	ProfileEntries []string
	// Info maps attribute paths to their output paths, as evaluated; see Path.
	Info map[string][]string
	// Packages maps the requested packages (attribute paths, project files) to their outputs.
	Packages map[string][]string
	// NixDB registers the closure; devcontainers carry it.
	NixDB NixDB
}

// Path returns the first output path of attr when it is part of the image, else "".
func (f Facts) Path(attr string) string {
	paths := f.Info[attr]
	if len(paths) == 0 {
		return ""
	}
	for _, p := range f.Closure {
		if p.Path == paths[0] {
			return p.Path
		}
	}
	return ""
}

// The attributes the customisation layer and image config refer to.
const (
	attrBash      = "bashInteractive"
	attrCoreutils = "coreutils"
	attrCACert    = "cacert"
	attrGCCLib    = "stdenv.cc.cc.lib"
	attrSudo      = "sudo"
	attrLinuxPAM  = "linux-pam"
	attrNixDirenv = "nix-direnv"
)

// ImpliedPackages are added to every image: the login shell, /usr/bin/env and the CA bundle.
func ImpliedPackages() []string { return []string{attrBash, attrCoreutils, attrCACert} }

// InfoAttrs are the attributes whose store paths the build step reports.
func InfoAttrs() []string {
	return []string{attrBash, attrCoreutils, attrCACert, attrGCCLib, attrSudo, attrLinuxPAM, attrNixDirenv}
}

// profileLinks are the profile directories linked at the root, as Nix's docker images do, so
// that /bin/sh, /lib64/ld-linux-*.so.* and friends resolve.
func profileLinks() []string { return []string{"bin", "sbin", "lib", "lib64", "libexec"} }

const (
	nixStateDir = "/nix/var/nix"
	profileDir  = nixStateDir + "/profiles"
	profileLink = profileDir + "/default"
)

// Customisation is the layer that makes a set of store paths an image of its kind: users and
// groups as real files, /tmp, /usr/bin/env, the root links into the profile, CA certificates and,
// for devcontainers, sudo, a Nix the user can build with, and direnv configuration.
//
// store gives the state holding a store path, to copy files out of the store (sudo). buildStep
// is the Nix step's output: the layer's staging reads its record of the profile, which the
// layer links to anyway, and leaves it out of the layer. The store layers copy from their own
// steps, so this is what puts the Nix step in the image's graph, and BuildKit exports the cache
// (--cache-to) of that graph only: with it, a fresh builder that imports the cache runs no Nix.
func Customisation(t *laingfile.Target, f Facts, store func(path string) (llb.State, bool), buildStep llb.State) (Layer, error) {
	u := t.User
	shell := "/bin/sh"
	if bash := f.Path(attrBash); bash != "" {
		shell = bash + "/bin/bash"
	}
	kind := t.Kind.Traits()
	isRoot := u.UID == 0
	owner := owned(u.UID, u.GID)
	at := llb.WithCreatedTime(LayerTime())
	root := owned(0, 0)

	b := &fileActions{}
	if kind.UserNix && f.NixDB.SQLite != nil {
		// First: a directory that exists keeps its owner, and the profiles below are root's.
		nixStore(b, u, f)
	}
	b.mkdir("/etc", 0o755, root, at)
	b.mkdir("/root", 0o700, root, at)
	b.mkdir("/usr/bin", 0o755, root, at)
	b.mkdir(profileDir, 0o755, root, at)
	b.dir("/tmp", Dir{Mode: 0o1777})

	// Real files, not links into the store: the Dev Containers CLI rewrites them (sed -i) to
	// match the host user's uid.
	passwd := fmt.Sprintf("root:x:0:0:root:/root:%s\n", shell)
	group := "root:x:0:\n"
	shadow := "root:!:1::::::\n"
	if kind.WheelGroup {
		group += "wheel:x:10:" + u.Name + "\n"
	}
	if !isRoot {
		passwd += fmt.Sprintf("%s:x:%d:%d:%s:%s:%s\n", u.Name, u.UID, u.GID, u.Name, u.Home, shell)
		if u.GID != 0 && u.GID != 10 {
			group += fmt.Sprintf("%s:x:%d:\n", u.Name, u.GID)
		}
		shadow += u.Name + ":!:1::::::\n"
	}
	b.mkfile("/etc/passwd", 0o644, passwd, root, at)
	b.mkfile("/etc/group", 0o644, group, root, at)
	b.mkfile("/etc/shadow", 0o640, shadow, root, at)

	if coreutils := f.Path(attrCoreutils); coreutils != "" {
		b.symlink(coreutils+"/bin/env", "/usr/bin/env", root, at)
	}
	// A profile as Nix makes it: default -> default-1-link -> the store path.
	b.symlink(f.Profile, profileDir+"/default-1-link", root, at)
	b.symlink("default-1-link", profileLink, root, at)
	for _, dir := range profileLinks() {
		if slices.Contains(f.ProfileEntries, dir) {
			b.symlink(profileLink+"/"+dir, "/"+dir, root, at)
		}
	}
	if cacert := f.Path(attrCACert); cacert != "" {
		b.mkdir("/etc/ssl/certs", 0o755, root, at)
		for _, name := range []string{"ca-certificates.crt", "ca-bundle.crt"} {
			b.symlink(cacert+"/etc/ssl/certs/ca-bundle.crt", "/etc/ssl/certs/"+name, root, at)
		}
	}

	b.mkdir(u.Home, 0o755, owner, at)
	if t.Workdir != "" && t.Workdir != u.Home {
		b.mkdir(t.Workdir, 0o755, owner, at)
	}

	if kind.UserNix {
		userNixFiles(b, u, f)
	}
	if kind.Sudo {
		if err := sudoFiles(b, u, f, store); err != nil {
			return Layer{}, err
		}
	}

	b.copy(buildStep, OutputDir+"/profile", buildStepRecord+"/profile", &llb.CopyInfo{CreateDestPath: true})

	name := fmt.Sprintf("customise: %s image for user %s", t.Kind, u.Name)
	staged := llb.Scratch().File(b.action, llb.WithCustomName(name+": write files"))
	return Layer{
		Name:      name,
		CreatedBy: fmt.Sprintf("laingfile: %s customisation (user %s %d:%d)", t.Kind, u.Name, u.UID, u.GID),
		Action: llb.Copy(staged, "/", "/", &llb.CopyInfo{CopyDirContentsOnly: true, CreatedTime: ptr(LayerTime()),
			ExcludePatterns: []string{strings.TrimPrefix(buildStepRecord, "/")}}),
		Dirs: b.dirs,
	}, nil
}

// nixConf is /etc/nix/nix.conf of a devcontainer. Nix runs there as a single user, without a
// daemon: no build users (root too, through sudo, builds as itself) and no sandbox, which would
// need user namespaces that container runtimes usually deny. Every option means the same to
// Nix 2.8 and to current releases.
const nixConf = `experimental-features = nix-command flakes
accept-flake-config = true
build-users-group =
sandbox = false
`

// userNixConf is the user's ~/.config/nix/nix.conf: what a project's flake needs.
const userNixConf = "experimental-features = nix-command flakes\naccept-flake-config = true\n"

// userNixFiles writes what a user who builds with Nix needs: os-release (NixOS, as tools that
// look for Nix expect), Nix's configuration and the user's profile, direnv and shell start-up
// files. The store and database are nixStore's.
func userNixFiles(b *fileActions, u laingfile.User, f Facts) {
	owner := owned(u.UID, u.GID)
	at := llb.WithCreatedTime(LayerTime())
	root := owned(0, 0)

	b.mkfile("/etc/os-release", 0o644, "ID=nixos\nNAME=\"NixOS\"\nPRETTY_NAME=\"NixOS (Laingfile devcontainer)\"\n", root, at)
	b.mkdir("/etc/nix", 0o755, root, at)
	b.mkfile("/etc/nix/nix.conf", 0o644, nixConf, root, at)
	b.mkdir(u.Home+"/.config/nix", 0o755, owner, at)
	b.mkfile(u.Home+"/.config/nix/nix.conf", 0o644, userNixConf, owner, at)
	// The user's own profile, so that nix-env and friends change it rather than the image's
	// default profile, which /bin and the other root links go through. Nix sets the mode of
	// per-user, so the user owns it.
	userProfiles := profileDir + "/per-user/" + u.Name
	b.mkdir(profileDir+"/per-user", 0o755, owner, at)
	b.mkdir(userProfiles, 0o755, owner, at)
	b.symlink(f.Profile, userProfiles+"/profile-1-link", owner, at)
	b.symlink("profile-1-link", userProfiles+"/profile", owner, at)
	b.symlink(userProfiles+"/profile", u.Home+"/.nix-profile", owner, at)

	if nixDirenv := f.Path(attrNixDirenv); nixDirenv != "" {
		direnvrc := "source " + nixDirenv + "/share/nix-direnv/direnvrc\n"
		b.mkdir("/etc/direnv", 0o755, root, at)
		b.mkfile("/etc/direnv/direnvrc", 0o644, direnvrc, root, at)
		b.mkdir(u.Home+"/.config/direnv", 0o755, owner, at)
		b.mkfile(u.Home+"/.config/direnv/direnvrc", 0o644, direnvrc, owner, at)
	}
	b.mkfile(u.Home+"/.bashrc", 0o644, bashrc, owner, at)
	// Login shells: bash reads .bash_profile, other shells (sh -l) .profile.
	b.mkfile(u.Home+"/.bash_profile", 0o644, "[ -f ~/.bashrc ] && . ~/.bashrc\n", owner, at)
	b.mkfile(u.Home+"/.profile", 0o644, profile, owner, at)
}

// sudoFiles installs nixpkgs' sudo, setuid outside the store, with a NOPASSWD rule for the user
// and its PAM services; root needs none of it.
func sudoFiles(b *fileActions, u laingfile.User, f Facts, store func(path string) (llb.State, bool)) error {
	at := llb.WithCreatedTime(LayerTime())
	root := owned(0, 0)
	if sudo := f.Path(attrSudo); sudo != "" && u.UID != 0 {
		b.mkfile("/etc/sudoers", 0o440, "root ALL=(ALL:ALL) ALL\n#includedir /etc/sudoers.d\n", root, at)
		b.mkdir("/etc/sudoers.d", 0o750, root, at)
		b.mkfile("/etc/sudoers.d/"+u.Name, 0o440, u.Name+" ALL=(ALL) NOPASSWD:ALL\n", root, at)
		// A store path cannot be setuid: sudo is copied out of the store. It is nixpkgs' own
		// sudo, which the binary cache has, so it uses PAM and needs a service file.
		src, ok := store(sudo)
		if !ok {
			return fmt.Errorf("sudo (%s) is in no layer of the image", sudo)
		}
		b.copy(src, sudo+"/bin/sudo", "/usr/bin/sudo", &llb.CopyInfo{
			Mode: &llb.ChmodOpt{Mode: 0o4755}, ChownOpt: rootOwner(), CreatedTime: ptr(LayerTime()),
		})
		b.mkdir("/etc/pam.d", 0o755, root, at)
		for _, s := range pamServices(f.Path(attrLinuxPAM)) {
			b.mkfile("/etc/pam.d/"+s.name, 0o644, s.config, root, at)
		}
	}
	return nil
}

// pamServices are /etc/pam.d/sudo and /etc/pam.d/other for a devcontainer. sudo's NOPASSWD
// rule needs no authentication, only an account check and a session; anything that would ask
// for a password (the users have none) is refused, and so is every other PAM service. Modules
// are named by path inside linux-pam when the image has it (relative names resolve to the
// same directory, libpam's own).
func pamServices(linuxPAM string) []pamService {
	module := func(name string) string {
		if linuxPAM == "" {
			return name
		}
		return linuxPAM + "/lib/security/" + name
	}
	return []pamService{
		{"sudo", fmt.Sprintf("# sudo in this devcontainer: root and NOPASSWD rules only.\n"+
			"auth     sufficient %[1]s\nauth     required   %[2]s\naccount  required   %[3]s\nsession  required   %[3]s\n",
			module("pam_rootok.so"), module("pam_deny.so"), module("pam_permit.so"))},
		{"other", fmt.Sprintf("# Every other PAM service is refused.\n"+
			"auth     required   %[1]s\naccount  required   %[1]s\npassword required   %[1]s\nsession  required   %[1]s\n",
			module("pam_deny.so"))},
	}
}

// pamService is one file in /etc/pam.d.
type pamService struct{ name, config string }

// nixStore makes /nix a single-user Nix installation of the user's: the database registering
// every store path of the image, and the store and state directories owned by the user, so
// that nix-build and nix build work without root or a daemon. The store paths themselves stay
// root's (their layers are shared with other images), which Nix does not mind, and so does
// the image's default profile.
func nixStore(b *fileActions, u laingfile.User, f Facts) {
	owner := owned(u.UID, u.GID)
	at := llb.WithCreatedTime(LayerTime())
	for _, dir := range []string{
		"/nix", "/nix/store", "/nix/var", nixStateDir, nixStateDir + "/db", nixStateDir + "/temproots",
		nixStateDir + "/gcroots", nixStateDir + "/gcroots/per-user", nixStateDir + "/gcroots/per-user/" + u.Name,
		"/nix/var/log", "/nix/var/log/nix", "/nix/var/log/nix/drvs",
	} {
		b.mkdir(dir, 0o755, owner, at)
	}
	b.mkfile(nixStateDir+"/db/db.sqlite", 0o644, string(f.NixDB.SQLite), owner, at)
	b.mkfile(nixStateDir+"/db/schema", 0o644, string(f.NixDB.Schema), owner, at)
	// Profiles are garbage collector roots, as Nix sets them up. So is sudo, which is outside
	// the profile: collecting it would leave /usr/bin/sudo without its plugins.
	b.symlink(profileDir, nixStateDir+"/gcroots/profiles", owner, at)
	if sudo := f.Packages[attrSudo]; len(sudo) > 0 {
		b.mkdir(nixStateDir+"/gcroots/laingfile", 0o755, owner, at)
		for _, p := range sudo {
			b.symlink(p, nixStateDir+"/gcroots/laingfile/"+path.Base(p), owner, at)
		}
	}
}

// buildStepRecord is where the customisation stages what it reads of the Nix step's output,
// left out of the layer.
const buildStepRecord = "/.laingfile-build-step"

// stamped copies a whole tree with every entry's mtime set to LayerTime. Writing a file
// updates its directory's mtime to the wall clock; the copy makes the layer deterministic.
// Owners and modes come through unchanged.
func stamped(st llb.State) *llb.FileAction {
	return llb.Copy(st, "/", "/", &llb.CopyInfo{CopyDirContentsOnly: true, CreatedTime: ptr(LayerTime())})
}

// bashrc hooks the tools in when the image has them, so a devcontainer without direnv or
// starship still gets a working shell.
const bashrc = `# Interactive bash setup for this devcontainer.
if command -v direnv >/dev/null 2>&1; then eval "$(direnv hook bash)"; fi
if command -v starship >/dev/null 2>&1; then eval "$(starship init bash)"; fi
`

// profile is ~/.profile, which login shells other than bash read: interactive ones get the
// same setup as bash.
const profile = `# Login shells that are not bash (bash reads ~/.bash_profile).
case $- in *i*) [ -f ~/.bashrc ] && . ~/.bashrc ;; esac
`

// copySanitiseMode is the mode every `copy:` entry without a `chmod:` gets, in chmod's symbolic
// form: the files keep their mode from the build context less the setuid, setgid and
// write-for-others bits, so that a runtime or devcontainer image holds such files only when the
// Laingfile asks for them. BuildKit applies it to every file and directory copied (not to
// symbolic links, whose mode Linux ignores); the directories it creates for the destination are
// 0755.
const copySanitiseMode = "u-s,g-s,o-w"

// CopyLayers makes one layer per `copy:` entry, with fixed times so that an unchanged source
// gives the same layer, owned by the uid and gid the parser resolved for it. The mode is the
// entry's chmod as given (octal as a number, symbolic as a string), else copySanitiseMode. A
// symbolic mode needs BuildKit v0.17 (file.copy.modestring, see frontend/caps.go); an older
// builder ignores it and makes the files mode 0000.
//
// Each copy layer is made on scratch and merged above the others, where its directories
// replace theirs: the directories above dst are made first as the layers below make them, else
// root's with mode 0755, so that a copy to /etc/app/ or $HOME/src/ changes neither /etc's nor
// the home directory's owner or mode. dst itself is the copy's, like what is copied into it.
//
// locate, when not nil, gives the constraint that ties a copy's ops to its Laingfile range.
func CopyLayers(t *laingfile.Target, context llb.State, below []Layer, locate func(laingfile.Range) llb.ConstraintsOpt) []Layer {
	made := map[string]Dir{}
	for _, l := range below {
		maps.Copy(made, l.Dirs)
	}
	var layers []Layer
	for _, c := range t.Copy {
		b := &fileActions{}
		dst := path.Clean(c.Dst)
		for _, p := range parentDirs(dst) {
			d, ok := made[p]
			if !ok {
				d = Dir{Mode: 0o755}
			}
			b.dir(p, d)
		}
		src := path.Clean("/" + c.Src)
		mode := &llb.ChmodOpt{ModeStr: copySanitiseMode}
		if m, ok := c.OctalMode(); ok {
			mode = &llb.ChmodOpt{Mode: os.FileMode(m)} // chmod(2) bits: BuildKit reads 04000 as setuid
		} else if c.Chmod != "" {
			mode = &llb.ChmodOpt{ModeStr: c.Chmod}
		}
		b.copy(context, src, c.Dst, &llb.CopyInfo{
			Mode:                mode,
			CreateDestPath:      true,
			CopyDirContentsOnly: strings.HasSuffix(c.Src, "/"),
			AllowWildcard:       true,
			ChownOpt:            ptr(owned(c.UID, c.GID)),
			CreatedTime:         ptr(LayerTime()),
		})
		// An explicit mode shows in the image's history, as Dockerfile's COPY --chmod does.
		chmod := ""
		if c.Chmod != "" {
			chmod = "--chmod=" + c.Chmod + " "
		}
		name := fmt.Sprintf("copy %s%s → %s", chmod, c.Src, c.Dst)
		var constraints []llb.ConstraintsOpt
		if locate != nil {
			constraints = append(constraints, locate(c.Range))
		}
		// Copying into the directories made first changes their mtimes: the layer is a stamped
		// copy of what the actions wrote.
		staged := llb.Scratch().File(b.action, append(constraints, llb.WithCustomName(name+": stage"))...)
		layers = append(layers, Layer{
			Name:        name,
			CreatedBy:   fmt.Sprintf("laingfile: copy %s%s %s", chmod, c.Src, c.Dst),
			Action:      stamped(staged),
			Constraints: constraints,
		})
	}
	return layers
}

// parentDirs are the directories above p, from the top ("/" excluded).
func parentDirs(p string) []string {
	var dirs []string
	for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
		dirs = append([]string{d}, dirs...)
	}
	return dirs
}

// Dir is a directory a layer makes: its mode (with the sticky bit, as for /tmp) and owner.
type Dir struct {
	Mode     os.FileMode
	UID, GID int
}

// fileActions chains file actions into one FileOp, hence one layer, and records the
// directories it makes.
type fileActions struct {
	action *llb.FileAction
	dirs   map[string]Dir
}

// dir makes one directory, its parent existing. Mkdir cannot set the sticky bit; a copy of an
// empty directory with an explicit mode can.
func (b *fileActions) dir(p string, d Dir) {
	at := ptr(LayerTime())
	b.copy(llb.Scratch().File(llb.Mkdir(p, 0o755, llb.WithParents(true), llb.WithCreatedTime(LayerTime()))), p, p,
		&llb.CopyInfo{Mode: &llb.ChmodOpt{Mode: d.Mode}, ChownOpt: ptr(owned(d.UID, d.GID)), CreatedTime: at})
	b.record(p, d)
}

// record notes a directory the layer makes; the first record of a path wins, as Mkdir keeps a
// directory that exists.
func (b *fileActions) record(p string, d Dir) {
	if b.dirs == nil {
		b.dirs = map[string]Dir{}
	}
	if _, ok := b.dirs[p]; !ok {
		b.dirs[p] = d
	}
}

// owned is a file's owner for the file actions.
func owned(uid, gid int) llb.ChownOpt {
	return llb.ChownOpt{User: &llb.UserOpt{UID: uid}, Group: &llb.UserOpt{UID: gid}}
}

// mkdir makes p and its missing parents. A missing parent is owned like its nearest ancestor
// the layer makes (root's when none), mode 0755: a home directory's owner does not get /home.
func (b *fileActions) mkdir(p string, mode os.FileMode, owner llb.ChownOpt, at llb.CreatedTime) {
	parent := Dir{Mode: 0o755}
	for _, d := range parentDirs(p) {
		if made, ok := b.dirs[d]; ok {
			parent = Dir{Mode: 0o755, UID: made.UID, GID: made.GID}
			continue
		}
		b.mkdirOne(d, parent.Mode, owned(parent.UID, parent.GID), at)
	}
	b.mkdirOne(p, mode, owner, at)
}

// mkdirOne makes p, whose parent exists; a directory that exists stays as it is.
func (b *fileActions) mkdirOne(p string, mode os.FileMode, owner llb.ChownOpt, at llb.CreatedTime) {
	b.record(p, Dir{Mode: mode, UID: owner.User.UID, GID: owner.Group.UID})
	opts := []llb.MkdirOption{llb.WithParents(true), owner, at}
	if b.action == nil {
		b.action = llb.Mkdir(p, mode, opts...)
	} else {
		b.action = b.action.Mkdir(p, mode, opts...)
	}
}

func (b *fileActions) mkfile(p string, mode os.FileMode, data string, owner llb.ChownOption, at llb.CreatedTime) {
	if b.action == nil {
		b.action = llb.Mkfile(p, mode, []byte(data), owner, at)
	} else {
		b.action = b.action.Mkfile(p, mode, []byte(data), owner, at)
	}
}

func (b *fileActions) symlink(target, p string, owner llb.ChownOption, at llb.CreatedTime) {
	if b.action == nil {
		b.action = llb.Symlink(target, p, owner, at)
	} else {
		b.action = b.action.Symlink(target, p, owner, at)
	}
}

func (b *fileActions) copy(input llb.CopyInput, src, dst string, info *llb.CopyInfo) {
	if b.action == nil {
		b.action = llb.Copy(input, src, dst, info)
	} else {
		b.action = b.action.Copy(input, src, dst, info)
	}
}
