package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"

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

// nixConf keeps Nix 2.8 working as root in a BuildKit exec without network: no
// build users, no sandbox (the exec is the sandbox), no binary caches. The build
// hook is left at its default (see systemEntries); Nix 2.8 cannot switch it off
// with `build-hook =`, it then tries to execute "".
const nixConf = `build-users-group =
sandbox = false
substituters =
experimental-features = nix-command
`

const passwd = `root:x:0:0:System administrator:/root:/bin/sh
nobody:x:65534:65534:Unprivileged account:/var/empty:/bin/false
`

const group = `root:x:0:
nixbld:x:30000:
nogroup:x:65534:
`

// systemEntries are the files outside the store: accounts, nix.conf, the Nix DB,
// the profile links, and /bin/sh and /usr/bin/env pointing into the profile.
//
// Debian's Nix runs its build hook from the compiled-in
// /usr/libexec/nix/build-remote before every build (it declines when no remote
// builders are configured). That link points into the Nix store path, so like
// the real image's hook it works exactly when /nix holds the image's store.
func systemEntries(nixPath, profile string, db, schema []byte) []tarEntry {
	reg := func(name, data string, mode int64) tarEntry {
		return tarEntry{name: name, typ: tar.TypeReg, mode: mode, data: []byte(data)}
	}
	link := func(name, target string) tarEntry {
		return tarEntry{name: name, typ: tar.TypeSymlink, mode: 0o777, linkname: target}
	}
	dir := func(name string, mode int64) tarEntry {
		return tarEntry{name: name, typ: tar.TypeDir, mode: mode}
	}
	return []tarEntry{
		link("bin/sh", profileDir+"/bin/sh"),
		link("usr/bin/env", profileDir+"/bin/env"),
		link("usr/libexec/nix/build-remote", nixPath+"/libexec/build-remote"),
		reg("etc/passwd", passwd, 0o644),
		reg("etc/group", group, 0o644),
		reg("etc/nix/nix.conf", nixConf, 0o644),
		dir("root", 0o700),
		link("root/.nix-profile", profileDir),
		dir("tmp", 0o1777),
		dir("var/tmp", 0o1777),
		dir("nix/store", 0o755),
		{name: "nix/var/nix/db/db.sqlite", typ: tar.TypeReg, mode: 0o644, data: db},
		{name: "nix/var/nix/db/schema", typ: tar.TypeReg, mode: 0o644, data: schema},
		link("nix/var/nix/profiles/default", "default-1-link"),
		link("nix/var/nix/profiles/default-1-link", profile),
		link("nix/var/nix/gcroots/profiles", "/nix/var/nix/profiles"),
	}
}

// layerOf turns a tar into a gzip-compressed OCI layer. The compressed bytes are
// a pure function of the tar (fixed gzip level, no header timestamp).
func layerOf(tarBytes []byte) (v1.Layer, error) {
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tarBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// buildImage makes the single-platform image: one layer per store path, then one
// with everything else.
func buildImage(a arch, nixVersion string, paths []storePath, nixPath, profile string, db, schema []byte) (v1.Image, error) {
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
	if err := add(systemEntries(nixPath, profile, db, schema), "accounts, nix.conf, Nix database, profile"); err != nil {
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
	cf.Config.Env = []string{
		"PATH=" + profileDir + "/bin:/bin:/usr/bin",
		"USER=root",
	}
	cf.Config.Cmd = []string{"/bin/sh"}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":       "laingfile test Nix builder",
		"org.opencontainers.image.description": "Debian's Nix and busybox laid out like the nixos/nix image",
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
