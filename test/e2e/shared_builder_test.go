package e2e

import (
	"archive/tar"
	"io"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/laingville/laingfile/test/testenv"
)

// victimPackage is a package of the victim project's own: the attacker looks for its store
// path, which the victim builds first on the shared builder.
const victimPackage = `{ stdenv, runtimeShell }:
stdenv.mkDerivation {
  name = "victim-data-1.0";
  buildCommand = ''
    mkdir -p $out/bin
    printf '#!%s\necho victim intact\n' ${runtimeShell} >$out/bin/victim
    chmod +x $out/bin/victim
  '';
}
`

// attackPackage is a project package that tries, from its builder, each way of changing what
// another project on the same builder gets: rewrite a store path, make a file setuid, repoint
// the default profile, write the Nix database, change the builder's own Nix. It records what
// worked instead of failing, so that its image tells.
const attackPackage = `{ stdenv }:
stdenv.mkDerivation {
  name = "attack-1.0";
  nonce = "NONCE";
  buildCommand = ''
    mkdir -p $out
    try() {
      if (eval "$2") 2>/dev/null; then echo "$1: done"; else echo "$1: denied"; fi
    }
    nixStore=$(dirname "$(dirname "$(readlink -f /nix/var/nix/profiles/default/bin/nix-store)")")
    {
      for victim in /nix/store/*-victim-data-1.0; do
        [ -d "$victim" ] || { echo "find the victim's store path: not found"; continue; }
        try "rewrite a store path" "echo 'echo poisoned' >>$victim/bin/victim"
        try "make a store file setuid" "chmod 4755 $victim/bin/victim"
      done
      try "repoint the default profile" "ln -sfn $out /nix/var/nix/profiles/default"
      try "write the Nix database" "touch /nix/var/nix/db/laingfile-attack"
      try "change the builder's Nix" "touch $nixStore/bin/laingfile-attack"
    } >$out/attempts
    cat $out/attempts
  '';
}
`

// TestSharedBuilderIsolation builds a project, then on the same builder (the same /nix cache)
// a project whose package attacks the store, then the first project again: its Nix step runs
// again on the attacked store, and its image must be exactly the one built before.
func TestSharedBuilderIsolation(t *testing.T) {
	testenv.SkipIfShort(t)
	victimDir, attackerDir := t.TempDir(), t.TempDir()
	writeFiles(t, victimDir, map[string]string{
		"Laingfile":  "kind: runtime\nsets: [base]\npackages: [./victim.nix]\ncmd: [victim]\n",
		"victim.nix": victimPackage,
	})
	writeFiles(t, attackerDir, map[string]string{
		"Laingfile": "kind: runtime\nsets: [base]\npackages: [./attack.nix]\n",
		// A new derivation each run, so that Nix builds it: the attack runs every time.
		"attack.nix": strings.Replace(attackPackage, "NONCE", time.Now().String(), 1),
	})

	victimRef, attackerRef := imageName(t, "victim"), imageName(t, "attacker")
	mustBuild(t, buildRequest{Dir: victimDir, Platforms: "linux/amd64", Push: victimRef})
	before := pulledImages(t, victimRef)["linux/amd64"]

	mustBuild(t, buildRequest{Dir: attackerDir, Platforms: "linux/amd64", Push: attackerRef})
	attempts := mustRunInImage(t, imageRun{Image: attackerRef, Script: "cat /nix/store/*-attack-1.0/attempts"})
	t.Logf("the attacker's builder:\n%s", attempts)
	if strings.Count(attempts, ": ") != 5 {
		t.Errorf("the attack made %d attempts, want 5 (did it find the victim's store path?):\n%s", strings.Count(attempts, ": "), attempts)
	}
	for _, line := range strings.Split(strings.TrimSpace(attempts), "\n") {
		if !strings.HasSuffix(line, ": denied") {
			t.Errorf("a project's builder could %s", line)
		}
	}
	checkNoSetuidOrWorldWritable(t, attackerRef, pulledImages(t, attackerRef)["linux/amd64"])

	// A comment changes the build context, not the derivation: the Nix step runs again on the
	// same store and realises nothing.
	writeFiles(t, victimDir, map[string]string{"victim.nix": "# " + time.Now().String() + "\n" + victimPackage})
	res := mustBuild(t, buildRequest{Dir: victimDir, Platforms: "linux/amd64", Push: victimRef})
	if !strings.Contains(res.Log, "nix: realising: 0 paths to substitute, 0 to build") {
		t.Errorf("the victim's Nix step did not run again on the attacked store:\n%s", res.Log)
	}
	after := pulledImages(t, victimRef)["linux/amd64"]
	if imageDigest(t, after) != imageDigest(t, before) {
		t.Errorf("the victim's image changed after another project built on its builder: %s -> %s", imageDigest(t, before), imageDigest(t, after))
	}
	checkNoSetuidOrWorldWritable(t, victimRef, after)
	if out := mustRunInImage(t, imageRun{Image: victimRef, Script: "victim"}); out != "victim intact\n" {
		t.Errorf("the victim's program printed %q", out)
	}
}

// checkNoSetuidOrWorldWritable checks that no file of an image is setuid or setgid and none but
// /tmp is writable by others.
func checkNoSetuidOrWorldWritable(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	for _, l := range layersWithHistory(t, img) {
		eachEntry(t, l.Layer, func(hdr *tar.Header, _ io.Reader) {
			name := "/" + strings.TrimSuffix(strings.TrimPrefix(hdr.Name, "./"), "/")
			switch {
			case hdr.Typeflag == tar.TypeSymlink:
			case hdr.Mode&(0o4000|0o2000) != 0:
				t.Errorf("%s: %s is setuid or setgid (mode %o), in the layer of %q", ref, name, hdr.Mode, l.CreatedBy)
			case hdr.Mode&0o002 != 0 && name != "/tmp":
				t.Errorf("%s: %s is writable by others (mode %o), in the layer of %q", ref, name, hdr.Mode, l.CreatedBy)
			}
		})
	}
}
