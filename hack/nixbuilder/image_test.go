package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAccounts(t *testing.T) {
	passwd, group, shadow := accounts("/nix/store/h-bash/bin/bash")
	lines := strings.Split(strings.TrimSuffix(passwd, "\n"), "\n")
	if len(lines) != 34 {
		t.Fatalf("%d passwd lines, want 34 (root, nobody, nixbld1..32)", len(lines))
	}
	// docker.nix writes the users in Nix's attribute order.
	for i, want := range map[int]string{
		0:  "nixbld1:x:30001:30000:Nix build user 1:/var/empty:/bin/false",
		1:  "nixbld10:x:30010:30000:Nix build user 10:/var/empty:/bin/false",
		31: "nixbld9:x:30009:30000:Nix build user 9:/var/empty:/bin/false",
		33: "root:x:0:0:System administrator:/root:/nix/store/h-bash/bin/bash",
	} {
		if lines[i] != want {
			t.Errorf("passwd line %d = %q, want %q", i, lines[i], want)
		}
	}
	if !strings.Contains(passwd, "\nnobody:x:65534:65534:") {
		t.Errorf("no nobody in\n%s", passwd)
	}
	glines := strings.Split(strings.TrimSuffix(group, "\n"), "\n")
	if len(glines) != 3 || glines[1] != "nobody:x:65534:nobody" || glines[2] != "root:x:0:root" {
		t.Errorf("group:\n%s", group)
	}
	members := strings.Split(strings.TrimPrefix(glines[0], "nixbld:x:30000:"), ",")
	if !strings.HasPrefix(glines[0], "nixbld:x:30000:") || len(members) != 32 || members[0] != "nixbld1" || members[1] != "nixbld10" {
		t.Errorf("nixbld group line %q", glines[0])
	}
	slines := strings.Split(strings.TrimSuffix(shadow, "\n"), "\n")
	if len(slines) != 34 || slines[33] != "root:!:1::::::" {
		t.Errorf("shadow:\n%s", shadow)
	}
}

func TestNixConf(t *testing.T) {
	for _, line := range []string{
		"build-users-group = nixbld", "sandbox = false", "substituters =",
		"trusted-public-keys = cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=",
	} {
		if !strings.Contains("\n"+nixConf, "\n"+line+"\n") {
			t.Errorf("nix.conf lacks %q", line)
		}
	}
	if strings.Contains(nixConf, "experimental-features") {
		t.Error("nix.conf has experimental-features; the real one has none")
	}
}

// TestProfileApplets keeps busybox applets off PATH that the real image's
// packages do not provide.
func TestProfileApplets(t *testing.T) {
	seen := map[string]bool{}
	for _, a := range profileApplets {
		if seen[a] {
			t.Errorf("%s twice", a)
		}
		seen[a] = true
	}
	for _, no := range []string{"sed", "awk", "xz", "unxz", "vi", "hexdump", "xxd", "unzip", "strings",
		"patch", "diff", "cmp", "bzip2", "ps", "hostname", "busybox", "ash", "sh", "bash"} {
		if seen[no] {
			t.Errorf("%s is on PATH; no package of the real image's profile provides it", no)
		}
	}
}

func TestWriteProfile(t *testing.T) {
	bb := t.TempDir()
	if err := os.MkdirAll(filepath.Join(bb, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(bb, "bin", "cat")); err != nil {
		t.Fatal(err)
	}
	s := imageStore{
		nix:     storePath{path: "/nix/store/n-nix"},
		busybox: storePath{path: "/nix/store/b-busybox", src: bb},
		bash:    storePath{path: "/nix/store/s-bash"},
		curl:    storePath{path: "/nix/store/c-curl"},
		git:     storePath{path: "/nix/store/g-git"},
		openssh: storePath{path: "/nix/store/o-openssh"},
		cacert:  storePath{path: "/nix/store/a-cacert"},
	}
	dir := t.TempDir()
	if err := writeProfile(dir, s); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"bin/sh":                      "/nix/store/s-bash/bin/sh",
		"bin/nix-build":               "/nix/store/n-nix/bin/nix-build",
		"bin/cat":                     "/nix/store/b-busybox/bin/cat",
		"bin/chroot":                  "/nix/store/b-busybox/bin/busybox", // no link in the tree
		"bin/git-upload-pack":         "/nix/store/g-git/bin/git-upload-pack",
		"bin/ssh":                     "/nix/store/o-openssh/bin/ssh",
		"etc/ssl/certs/ca-bundle.crt": "/nix/store/a-cacert/etc/ssl/certs/ca-bundle.crt",
	} {
		if got, err := os.Readlink(filepath.Join(dir, name)); err != nil || got != want {
			t.Errorf("%s -> %q (%v), want %q", name, got, err, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "bin/sed")); err == nil {
		t.Error("bin/sed is in the profile")
	}
	refs := s.profilePath().refs
	if len(refs) != 7 || refs[0] != "/nix/store/a-cacert" {
		t.Errorf("profile refs %v", refs)
	}
}

func TestWriteCACertTree(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "usr/share/ca-certificates/mozilla")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, pem := range map[string]string{"B.crt": "b\n", "A.crt": "a"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(pem), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dst := t.TempDir()
	if err := writeCACertTree(arch{debian: "amd64", root: root}, dst); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dst, "etc/ssl/certs/ca-bundle.crt"))
	if err != nil || string(b) != "a\nb\n" {
		t.Errorf("bundle %q (%v), want %q", b, err, "a\nb\n")
	}
}
