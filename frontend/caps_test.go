package frontend

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	gwpb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/util/apicaps"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/laingville/laingfile"
	"github.com/laingville/laingfile/internal/nixstore"
	"github.com/laingville/laingfile/laingfile2llb"
	"github.com/laingville/laingfile/nixsets"
)

// engine2010 are the capabilities of Docker Engine 20.10 (Debian 12's docker.io): those of
// BuildKit v0.8.0's solver/pb/caps.go and frontend/gateway/pb/caps.go, which Engine 20.10's
// vendored BuildKit (v0.8 commits 950603da…, eeb7b65a…) defines unchanged.
var engine2010 = struct{ llb, gateway []string }{
	llb: strings.Fields(`source.image source.image.resolvemode source.local source.local.unique
		source.local.sessionid source.local.includepatterns source.local.followpaths
		source.local.excludepatterns source.local.sharedkeyhint source.git source.git.keepgitdir
		source.git.fullurl source.git.httpauth source.git.knownsshhosts source.git.mountsshsock
		source.http source.http.checksum source.http.perm soruce.http.uidgid
		source.buildop.llbfilename exec.meta.base exec.meta.proxyenv exec.meta.network
		exec.meta.security exec.meta.setsdefaultpath exec.mount.bind
		exec.mount.bind.readwrite-nooutput exec.mount.cache exec.mount.cache.sharing
		exec.mount.selector exec.mount.tmpfs exec.mount.secret exec.mount.ssh exec.cgroup
		exec.meta.security.devices.v1 file.base file.rm.wildcard constraints platform
		meta.ignorecache meta.description meta.exportcache`),
	gateway: strings.Fields(`solve.base solve.inlinereturn resolveimage resolveimage.resolvemode
		readfile return returnmap readdir statfile importcaches proto.refarray reference.output
		frontend.inputs gateway.solve.metadata gateway.exec frontend.caps gateway.solve.evaluate`),
}

func enabled(ids []string) []*apicaps.PBCap {
	var out []*apicaps.PBCap
	for _, id := range ids {
		out = append(out, &apicaps.PBCap{ID: id, Enabled: true})
	}
	return out
}

// edit returns all of list's capabilities (as this BuildKit reports them) with change applied
// to each; change returns nil to leave a capability out.
func edit(list *apicaps.CapList, change func(*apicaps.PBCap) *apicaps.PBCap) apicaps.CapSet {
	var out []*apicaps.PBCap
	for _, c := range list.All() {
		if c = change(c); c != nil {
			out = append(out, c)
		}
	}
	return list.CapSet(out)
}

func keep(c *apicaps.PBCap) *apicaps.PBCap { return c }

func fullCaps() builderCaps {
	return builderCaps{gateway: edit(&gwpb.Caps, keep), llb: edit(&pb.Caps, keep), product: "buildkit"}
}

// withoutCap is the full set less one capability; disabled keeps it, disabled with reason.
func withoutCap(c capability, disabled bool, reason string) builderCaps {
	change := func(p *apicaps.PBCap) *apicaps.PBCap {
		if p.ID != string(c.id) {
			return p
		}
		if !disabled {
			return nil
		}
		return &apicaps.PBCap{ID: p.ID, Enabled: false, DisabledReasonMsg: reason}
	}
	b := fullCaps()
	if c.gateway {
		b.gateway = edit(&gwpb.Caps, change)
	} else {
		b.llb = edit(&pb.Caps, change)
	}
	return b
}

// release is a builder with exactly the capabilities of BuildKit v0.N, by capSince.
func release(n int, product string) builderCaps {
	pick := func(since map[apicaps.CapID]int) []string {
		var ids []string
		for id, v := range since {
			if v <= n {
				ids = append(ids, string(id))
			}
		}
		return ids
	}
	return builderCaps{
		gateway: gwpb.Caps.CapSet(enabled(pick(capSince.gateway))),
		llb:     pb.Caps.CapSet(enabled(pick(capSince.llb))),
		product: product,
	}
}

var allNeeds = buildNeeds{Secrets: true, Platforms: 2, CacheImports: true, CopyModeStrings: true}

func TestCheckBuilder(t *testing.T) {
	tests := []struct {
		name  string
		caps  builderCaps
		needs buildNeeds
		want  []string // in the message; none: no error
	}{
		{name: "full caps", caps: fullCaps()},
		{name: "full caps, every need", caps: fullCaps(), needs: allNeeds},
		{name: "BuildKit v0.19", caps: release(19, "buildkit"), needs: allNeeds},
		{name: "no MergeOp: chained layers instead",
			caps: withoutCap(capability{id: pb.CapMergeOp}, false, ""), needs: allNeeds},
		{name: "MergeOp disabled (Docker's classic store)",
			caps: withoutCap(capability{id: pb.CapMergeOp}, true, "only enabled with containerd image store backend"), needs: allNeeds},
		{name: "no secret mounts, no secrets used",
			caps:  withoutCap(capability{id: pb.CapExecMountSecret}, false, ""),
			needs: buildNeeds{Platforms: 2, CacheImports: true}},
		{name: "no secret mounts, secrets used",
			caps:  withoutCap(capability{id: pb.CapExecMountSecret}, false, ""),
			needs: buildNeeds{Secrets: true},
			want:  []string{"it lacks: secret mounts for the substituters' credentials (exec.mount.secret, BuildKit v0.3)"}},
		{name: "no return map, one platform",
			caps: withoutCap(capability{id: gwpb.CapReturnMap, gateway: true}, false, ""), needs: buildNeeds{Platforms: 1}},
		{name: "no return map, two platforms",
			caps:  withoutCap(capability{id: gwpb.CapReturnMap, gateway: true}, false, ""),
			needs: buildNeeds{Platforms: 2},
			want:  []string{"returning one image per platform (returnmap, BuildKit v0.3)"}},
		{name: "a required cap disabled",
			caps: withoutCap(capability{id: pb.CapFileSymlinkCreate}, true, "off here"),
			want: []string{"it lacks: creating symbolic links in file operations (the profile links, /usr/bin/env, the CA bundle) (file.symlink.create, disabled on this builder: off here)",
				"this builder (buildkit): BuildKit v0.31 or later"}},
		{name: "copies on BuildKit v0.17: mode strings, no symlinks", caps: release(17, ""), needs: buildNeeds{CopyModeStrings: true},
			want: []string{"it lacks: creating symbolic links in file operations (the profile links, /usr/bin/env, the CA bundle) (file.symlink.create, BuildKit v0.19)\n"}},
		{name: "copies on BuildKit v0.16: no mode strings", caps: release(16, "buildkit"), needs: buildNeeds{CopyModeStrings: true},
			want: []string{"it lacks: symbolic modes of copied files (dropping setuid, setgid and write for others) (file.copy.modestring, BuildKit v0.17); creating symbolic links"}},
		{name: "Docker Engine 27.5 (BuildKit v0.18)", caps: release(18, ""),
			want: []string{"needs BuildKit v0.19 or later (Docker Engine 28.0 or later)",
				"this builder: BuildKit v0.17 to v0.18, the BuildKit of Docker Engine 27.4 or 27.5 (",
				"it lacks: creating symbolic links in file operations (the profile links, /usr/bin/env, the CA bundle) (file.symlink.create, BuildKit v0.19)\n"}},
		{name: "Docker Engine 23.0 (BuildKit v0.10)", caps: release(10, "docker"),
			want: []string{"this builder (docker): BuildKit v0.10, the BuildKit of Docker Engine 23.0 ("}},
		{name: "BuildKit v0.9: no Docker Engine", caps: release(9, "buildkit"),
			want: []string{"this builder (buildkit): BuildKit v0.9 (judging"}},
		{name: "version unknown", caps: builderCaps{gateway: gwpb.Caps.CapSet(nil), llb: pb.Caps.CapSet(nil)},
			want: []string{"its BuildKit version is unknown", "file.base", "solve.base"}},
	}
	// Each required capability missing: the message names it, in words and by id. A builder
	// lacks one that no builder reports when it is of an earlier release.
	for _, c := range requiredCaps {
		caps, want := withoutCap(c, false, ""), "it lacks: "+c.what+" ("+string(c.id)+", BuildKit v0."
		if c.unreported {
			caps, want = release(c.since()-1, ""), c.what+" ("+string(c.id)+fmt.Sprintf(", BuildKit v0.%d)", c.since())
		}
		tests = append(tests, struct {
			name  string
			caps  builderCaps
			needs buildNeeds
			want  []string
		}{name: "missing " + string(c.id), caps: caps, needs: allNeeds,
			want: []string{want, "needs BuildKit v0.19 or later"}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.caps.check(tt.needs)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

// Debian 12's docker.io: the message in full.
func TestCheckBuilderEngine2010(t *testing.T) {
	b := builderCaps{
		gateway: gwpb.Caps.CapSet(enabled(engine2010.gateway)),
		llb:     pb.Caps.CapSet(enabled(engine2010.llb)),
	}
	if b.merge() {
		t.Error("merge() on BuildKit v0.8")
	}
	err := b.check(buildNeeds{Platforms: 1})
	want := `this builder cannot build a Laingfile: it needs BuildKit v0.19 or later (Docker Engine 28.0 or later)
  this builder: BuildKit v0.8, the BuildKit of Docker Engine 20.10 (judging by the capabilities it reports; builders do not report their version)
  it lacks: creating symbolic links in file operations (the profile links, /usr/bin/env, the CA bundle) (file.symlink.create, BuildKit v0.19)
  use Docker Engine 28.0 or later (with the containerd image store for independent layers), or a docker-container builder, which runs a current BuildKit on any Docker Engine: docker buildx create --use --driver docker-container`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
	// Secrets and several platforms need nothing v0.8 lacks; copies need mode strings.
	if err2 := b.check(buildNeeds{Secrets: true, Platforms: 2, CacheImports: true}); err2 == nil || err2.Error() != want {
		t.Errorf("with every need but copies:\n%v\nwant:\n%s", err2, want)
	}
	wantCopies := strings.Replace(want, "it lacks: ", "it lacks: symbolic modes of copied files (dropping setuid, setgid and write for others) (file.copy.modestring, BuildKit v0.17); ", 1)
	if err3 := b.check(allNeeds); err3 == nil || err3.Error() != wantCopies {
		t.Errorf("with every need:\n%v\nwant:\n%s", err3, wantCopies)
	}
}

func TestMergeFromCaps(t *testing.T) {
	if !fullCaps().merge() {
		t.Error("merge() false with every capability")
	}
	if withoutCap(capability{id: pb.CapMergeOp}, true, "only enabled with containerd image store backend").merge() {
		t.Error("merge() true with MergeOp disabled")
	}
}

// Every capability this BuildKit defines has a release in capSince, and every release of
// BuildKit is told apart from the one before by the capabilities it reports.
func TestCapSinceCoversBuildKit(t *testing.T) {
	for _, l := range []struct {
		name  string
		list  *apicaps.CapList
		since map[apicaps.CapID]int
	}{{"LLB", &pb.Caps, capSince.llb}, {"gateway", &gwpb.Caps, capSince.gateway}} {
		for _, c := range l.list.All() {
			if _, ok := l.since[apicaps.CapID(c.ID)]; !ok {
				t.Errorf("%s capability %s has no release in capSince: add the BuildKit release that introduced it (git log -S'%s' -- solver/pb/caps.go frontend/gateway/pb/caps.go)", l.name, c.ID, c.ID)
			}
		}
	}
	for _, c := range requiredCaps {
		if c.since() == 0 {
			t.Errorf("required capability %s has no release in capSince", c.id)
		}
	}
	// Releases that brought no capability (v0.15, v0.16, v0.18, …) look like the one before.
	for n := 3; n <= 32; n++ {
		wantLo, wantHi := 0, 0
		for _, since := range []map[apicaps.CapID]int{capSince.llb, capSince.gateway} {
			for _, v := range since {
				if v <= n {
					wantLo = max(wantLo, v)
				} else if wantHi == 0 || v < wantHi {
					wantHi = v
				}
			}
		}
		if lo, hi := release(n, "").buildkitRange(); lo != wantLo || hi != wantHi || lo > n || (hi != 0 && hi <= n) {
			t.Errorf("BuildKit v0.%d's capabilities read as v0.%d..v0.%d", n, lo, hi)
		}
	}
	if got := minEngine(19); got != "28.0" {
		t.Errorf("minEngine(19) = %s, want 28.0", got)
	}
	if got := enginesOf(25, 25); got != "28.5 or 29.0" {
		t.Errorf("enginesOf(25, 25) = %q", got)
	}
	if got := enginesOf(19, 19); got != "" {
		t.Errorf("enginesOf(19, 19) = %q, want none", got)
	}
}

// The capabilities that the frontend's LLB records, and the file actions it uses (whose caps
// BuildKit's client does not record), are all in requiredCaps (MergeOp aside): a new kind of
// op or mount must come with its line there.
func TestRequiredCapsCoverTheLLB(t *testing.T) {
	ctx := context.Background()
	f, err := laingfile.Parse("Laingfile", []byte(`substituters:
  - url: https://cache.example.com/nix
    publicKey: cache.example.com-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
    secret: cachetoken
    push: {signingKey: cachekey}
targets:
  dev:
    kind: devcontainer
    copy:
      - {src: app/, dst: /app}
`), nixsets.ParseOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	target := f.Targets[0]
	platform := ocispecs.Platform{OS: "linux", Architecture: "amd64"}
	// The build context and a named context as dockerui loads them.
	local := func(name string) llb.State {
		return llb.Local(name, llb.SessionID("session"), llb.ExcludePatterns([]string{".git"}),
			llb.FollowPaths([]string{"Laingfile"}), llb.SharedKeyHint(name))
	}
	mainContext, nixpkgs := local("context"), local("nixpkgs")
	profile := "/nix/store/" + strings.Repeat("b", 32) + "-user-environment"
	tools, err := laingfile2llb.NewBuilderTools([]string{profile}, profile)
	if err != nil {
		t.Fatal(err)
	}
	step := laingfile2llb.NixStep{
		Builder:       llb.Image(nixsets.DefaultBuilderImage, llb.Platform(platform), llb.ResolveModeDefault),
		BuilderID:     "builder",
		Tools:         tools,
		BuildPlatform: platform,
		Nixpkgs:       &nixpkgs,
		Context:       &mainContext,
		Request:       laingfile2llb.NixRequest(f, target, "x86_64-linux", nixsets.DefaultPin()),
		Substituters:  f.Substituters,
	}
	nixOut, err := step.State(platform)
	if err != nil {
		t.Fatal(err)
	}
	sp := func(name string) string { return "/nix/store/" + strings.Repeat("a", 32) + "-" + name }
	const hash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
	closure := nixstore.Closure{{Path: sp("bash"), NarHash: hash, NarSize: 1 << 20}, {Path: sp("sudo"), NarHash: hash, NarSize: 1 << 20}, {Path: sp("cacert"), NarHash: hash, NarSize: 1 << 10}}
	facts := laingfile2llb.Facts{
		Closure:        closure,
		Profile:        sp("profile"),
		ProfileEntries: []string{"bin", "lib"},
		Info:           map[string][]string{"bashInteractive": {sp("bash")}, "sudo": {sp("sudo")}, "cacert": {sp("cacert")}, "coreutils": {sp("bash")}},
		Packages:       map[string][]string{"sudo": {sp("sudo")}},
		NixDB:          laingfile2llb.NixDB{SQLite: []byte("db"), Schema: []byte("10")},
	}
	plan, err := laingfile2llb.PlanLayers(closure, 2, nil) // two layers: one of them collects two paths
	if err != nil {
		t.Fatal(err)
	}
	layers, err := laingfile2llb.StoreLayers(step.LayerState, plan)
	if err != nil {
		t.Fatal(err)
	}
	custom, err := laingfile2llb.Customisation(target, facts, laingfile2llb.StorePathSource(layers), nixOut)
	if err != nil {
		t.Fatal(err)
	}
	layers = append(layers, custom)
	layers = append(layers, laingfile2llb.CopyLayers(target, mainContext, layers, nil)...)

	required := map[apicaps.CapID]bool{pb.CapMergeOp: true}
	for _, c := range requiredCaps {
		if c.when == nil || c.when(allNeeds) {
			required[c.id] = true
		}
	}
	seen := map[apicaps.CapID]bool{}
	for _, merge := range []bool{true, false} {
		// The image, the build step and the push step: every op a build solves.
		all := llb.Merge([]llb.State{laingfile2llb.Assemble(layers, merge), nixOut, step.PushState(nixOut, f.Substituters[0])})
		def, err := all.Marshal(ctx, llb.Platform(platform))
		if err != nil {
			t.Fatal(err)
		}
		for _, md := range def.Metadata {
			for id := range md.Caps {
				seen[id] = true
			}
		}
		for _, dt := range def.Def {
			var op pb.Op
			if err := op.UnmarshalVT(dt); err != nil {
				t.Fatal(err)
			}
			for _, a := range op.GetFile().GetActions() {
				switch a.Action.(type) {
				case *pb.FileAction_Copy:
					seen[pb.CapFileBase] = true
					if a.GetCopy().ModeStr != "" { // BuildKit does not record it
						seen[pb.CapFileCopyModeStringFormat] = true
					}
				case *pb.FileAction_Mkfile, *pb.FileAction_Mkdir:
					seen[pb.CapFileBase] = true
				case *pb.FileAction_Symlink:
					seen[pb.CapFileSymlinkCreate] = true
				default:
					t.Errorf("file action %T: add the capability it needs to requiredCaps and here", a.Action)
				}
			}
		}
	}
	for id := range seen {
		if !required[id] {
			t.Errorf("the LLB needs %s, which requiredCaps lacks", id)
		}
	}
	for _, id := range []apicaps.CapID{pb.CapFileSymlinkCreate, pb.CapFileCopyModeStringFormat, pb.CapExecMountSecret, pb.CapExecMountCacheSharing, pb.CapMergeOp} {
		if !seen[id] {
			t.Errorf("the test LLB does not use %s: it no longer covers what it should", id)
		}
	}
}

// A build whose copies set a mode string (every copy without an octal chmod, in any target:
// the builder is checked before the target is chosen) needs BuildKit v0.17, which no builder
// reports but every builder of v0.17 or later has.
func TestCopyModeStrings(t *testing.T) {
	opts := nixsets.ParseOptions(nil)
	tests := []struct {
		name, src string
		want      bool
	}{
		{"no copies", "kind: runtime\n", false},
		{"a copy: the default mode is symbolic", "kind: runtime\ncopy: [{src: a, dst: /a}]\n", true},
		{"octal chmods only", "kind: runtime\ncopy: [{src: a, dst: /a, chmod: 0755}, {src: b, dst: /b, chmod: \"4755\"}]\n", false},
		{"a symbolic chmod", "kind: runtime\ncopy: [{src: a, dst: /a, chmod: 0755}, {src: b, dst: /b, chmod: \"u+x\"}]\n", true},
		{"a copy in another target", "targets:\n  a: {kind: runtime}\n  b: {kind: runtime, copy: [{src: a, dst: /a}]}\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := laingfile.Parse("Laingfile", []byte(tt.src), opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := needsOf(f, 1, 0).CopyModeStrings; got != tt.want {
				t.Errorf("CopyModeStrings = %v, want %v", got, tt.want)
			}
		})
	}

	// Judged by release: every BuildKit from v0.17 has it, none before.
	lacks := func(b builderCaps) bool {
		err := b.check(buildNeeds{CopyModeStrings: true})
		return err != nil && strings.Contains(err.Error(), string(pb.CapFileCopyModeStringFormat))
	}
	for n := 3; n <= 32; n++ {
		if got := lacks(release(n, "")); got != (n < 17) {
			t.Errorf("BuildKit v0.%d: lacks file.copy.modestring = %v", n, got)
		}
	}
	if lacks(fullCaps()) {
		t.Error("a builder with every capability lacks file.copy.modestring")
	}
	// Without copies that need it, it is not asked for.
	if err := release(16, "").check(buildNeeds{}); err == nil || strings.Contains(err.Error(), string(pb.CapFileCopyModeStringFormat)) {
		t.Errorf("BuildKit v0.16 without copies: %v", err)
	}
	// The floor implies it: every build needs file.symlink.create, of a later release.
	for _, c := range requiredCaps {
		if c.id == pb.CapFileSymlinkCreate && (c.when != nil || c.since() < capSince.llb[pb.CapFileCopyModeStringFormat]) {
			t.Errorf("file.symlink.create no longer implies file.copy.modestring: check the builders mode strings reach")
		}
	}
	// No builder reports it (BuildKit defines it but does not register it): if a BuildKit
	// upgrade registers it, builders before that still do not report it, so keep judging by
	// release, and revisit the comment in requiredCaps.
	if all := pb.Caps.CapSet(pb.Caps.All()); all.Supports(pb.CapFileCopyModeStringFormat) == nil {
		t.Log("this BuildKit registers file.copy.modestring; builders before it do not report it")
	}
}
