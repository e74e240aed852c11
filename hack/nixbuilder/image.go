package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// profileDir is the default profile, as in the nixos/nix image: the frontend finds
// Nix through it (and through PATH), so it lives under /nix like everything the
// builder needs and disappears with /nix.
const profileDir = "/nix/var/nix/profiles/default"

// The files below are written like docker.nix of Nix 2.28.3 (the source of
// docker.io/nixos/nix): the same keys, users and groups, in its order (Nix's
// attribute order, so nixbld10 comes before nixbld2).

// nixConf is the real image's nix.conf, plus one deliberate difference: the test
// world is offline, so there are no substituters (the real image has no such
// line and uses https://cache.nixos.org/). Builds run as the nixbld users, like
// in the real image, unless the caller overrides build-users-group. The build
// hook is left at its default (see systemEntries); Nix 2.8 cannot switch it off
// with `build-hook =`, it then tries to execute "".
const nixConf = `build-users-group = nixbld
sandbox = false
substituters =
trusted-public-keys = cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=
`

// nixbldUsers are nixbld1..nixbld32 in attribute-name order.
func nixbldUsers() []string {
	var names []string
	for i := 1; i <= 32; i++ {
		names = append(names, fmt.Sprintf("nixbld%d", i))
	}
	sort.Strings(names)
	return names
}

// accounts returns /etc/passwd, /etc/group and /etc/shadow. root's shell is the
// image's bash. The real nobody's shell is shadow's nologin, which the image
// does not have (neither does the real one outside its store): /bin/false here.
func accounts(bash string) (passwd, group, shadow string) {
	var pw, sh []string
	for _, u := range nixbldUsers() {
		n := strings.TrimPrefix(u, "nixbld")
		uid, _ := strconv.Atoi(n)
		pw = append(pw, fmt.Sprintf("%s:x:%d:30000:Nix build user %s:/var/empty:/bin/false", u, 30000+uid, n))
	}
	pw = append(pw,
		"nobody:x:65534:65534:Unprivileged account (don't use!):/var/empty:/bin/false",
		"root:x:0:0:System administrator:/root:"+bash)
	for _, line := range pw {
		name, _, _ := strings.Cut(line, ":")
		sh = append(sh, name+":!:1::::::")
	}
	group = "nixbld:x:30000:" + strings.Join(nixbldUsers(), ",") + "\nnobody:x:65534:nobody\nroot:x:0:root\n"
	return strings.Join(pw, "\n") + "\n", group, strings.Join(sh, "\n") + "\n"
}

// systemEntries are the files outside the store: accounts, nix.conf, the Nix DB,
// the profile links, and /bin/sh and /usr/bin/env pointing into the store.
//
// Debian's Nix runs its build hook from the compiled-in
// /usr/libexec/nix/build-remote before every build (it declines when no remote
// builders are configured). That link points into the Nix store path, so like
// the real image's hook it works exactly when /nix holds the image's store.
func systemEntries(s imageStore, profile string, db, schema []byte) []tarEntry {
	reg := func(name, data string, mode int64) tarEntry {
		return tarEntry{name: name, typ: tar.TypeReg, mode: mode, data: []byte(data)}
	}
	link := func(name, target string) tarEntry {
		return tarEntry{name: name, typ: tar.TypeSymlink, mode: 0o777, linkname: target}
	}
	dir := func(name string, mode int64) tarEntry {
		return tarEntry{name: name, typ: tar.TypeDir, mode: mode}
	}
	passwd, group, shadow := accounts(s.bash.path + "/bin/bash")
	return []tarEntry{
		link("bin/sh", s.bash.path+"/bin/bash"),
		link("usr/bin/env", profileDir+"/bin/env"),
		link("usr/share", "/nix/var/nix/profiles/share"),
		link("usr/libexec/nix/build-remote", s.nix.path+"/libexec/build-remote"),
		reg("etc/passwd", passwd, 0o644),
		reg("etc/group", group, 0o644),
		reg("etc/shadow", shadow, 0o644),
		reg("etc/nix/nix.conf", nixConf, 0o644),
		link("etc/ssl/certs/ca-bundle.crt", caBundle),
		dir("root", 0o755),
		link("root/.nix-profile", profileDir),
		reg("root/.nix-channels", "https://nixos.org/channels/nixpkgs-unstable nixpkgs\n", 0o644),
		dir("tmp", 0o1777),
		dir("var/tmp", 0o1777),
		dir("nix/store", 0o755),
		{name: "nix/var/nix/db/db.sqlite", typ: tar.TypeReg, mode: 0o644, data: db},
		{name: "nix/var/nix/db/schema", typ: tar.TypeReg, mode: 0o644, data: schema},
		link("nix/var/nix/profiles/default", "/nix/var/nix/profiles/default-1-link"),
		link("nix/var/nix/profiles/default-1-link", profile),
		dir("nix/var/nix/profiles/per-user/root", 0o755),
		link("nix/var/nix/gcroots/profiles", "/nix/var/nix/profiles"),
	}
}

// caBundle is where the image's Env points TLS clients (curl, git, Nix).
const caBundle = profileDir + "/etc/ssl/certs/ca-bundle.crt"

// layerOf turns a tar into a gzip-compressed OCI layer. The compressed bytes are
// a pure function of the tar (fixed gzip level, no header timestamp).
func layerOf(tarBytes []byte) (v1.Layer, error) {
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tarBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// buildImage makes the single-platform image: one layer per store path, then one
// with everything else.
func buildImage(a arch, nixVersion string, paths []storePath, s imageStore, db, schema []byte) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	var adds []mutate.Addendum
	add := func(entries []tarEntry, createdBy string) error {
		t, err := layerTar(entries)
		if err != nil {
			return err
		}
		l, err := layerOf(t)
		if err != nil {
			return err
		}
		adds = append(adds, mutate.Addendum{Layer: l, History: v1.History{
			Created:   v1.Time{Time: epoch},
			CreatedBy: "nixbuilder: " + createdBy,
		}})
		return nil
	}
	for _, p := range paths {
		entries, err := storePathEntries(p.path, p.src)
		if err != nil {
			return nil, err
		}
		entries = append(entries, tarEntry{name: "nix/store", typ: tar.TypeDir, mode: 0o755})
		if err := add(entries, p.path); err != nil {
			return nil, err
		}
	}
	if err := add(systemEntries(s, s.profilePath().path, db, schema), "accounts, nix.conf, Nix database, profile"); err != nil {
		return nil, err
	}
	img, err := mutate.Append(img, adds...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture = a.debian
	cf.OS = "linux"
	cf.Created = v1.Time{Time: epoch}
	// docker.nix's config for root, less nothing: no HOME, as there.
	cf.Config.Env = []string{
		"USER=root",
		"PATH=/root/.nix-profile/bin:" + profileDir + "/bin:" + profileDir + "/sbin",
		"MANPATH=/root/.nix-profile/share/man:" + profileDir + "/share/man",
		"SSL_CERT_FILE=" + caBundle,
		"GIT_SSL_CAINFO=" + caBundle,
		"NIX_SSL_CERT_FILE=" + caBundle,
		"NIX_PATH=/nix/var/nix/profiles/per-user/root/channels:/root/.nix-defexpr/channels",
	}
	cf.Config.User = "0:0"
	cf.Config.Cmd = []string{"/root/.nix-profile/bin/bash"}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":       "laingfile test Nix builder",
		"org.opencontainers.image.description": "Debian's Nix, bash, curl, git, openssh and busybox laid out like the nixos/nix image",
		"org.opencontainers.image.version":     nixVersion,
	}
	return mutate.ConfigFile(img, cf)
}

// buildIndex joins the per-platform images into one OCI index.
func buildIndex(images map[string]v1.Image, order []string) (v1.ImageIndex, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, debArch := range order {
		img, ok := images[debArch]
		if !ok {
			return nil, fmt.Errorf("no image for %s", debArch)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add: img,
			Descriptor: v1.Descriptor{
				MediaType: types.OCIManifestSchema1,
				Platform:  &v1.Platform{OS: "linux", Architecture: debArch},
			},
		})
	}
	return idx, nil
}
