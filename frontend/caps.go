package frontend

import (
	"errors"
	"fmt"
	"strings"

	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	gwpb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/util/apicaps"

	"github.com/laingville/laingfile"
)

// The builder's capabilities, checked before any work: a builder too old for the LLB this
// frontend emits fails far from the cause otherwise (Docker Engine 20.10 answers a symlink
// file action with "invalid action type <nil>" in the customisation step). BuildKit cannot
// catch it itself: client/llb records file.base for a FileOp but not the caps of its actions
// (file.symlink.create among them), so neither the gateway client nor the daemon sees them.

// builderCaps is what the gateway says about the builder: its gateway API capabilities
// (BuildOpts().Caps), its LLB capabilities (BuildOpts().LLBCaps) and the product name it
// exports ("buildkit" for buildkitd, what Docker was built with for Docker Engine, often "").
// The gateway reports no version: the BuildKit release is judged from the capabilities.
type builderCaps struct {
	gateway apicaps.CapSet
	llb     apicaps.CapSet
	product string
}

func capsOf(o gwclient.BuildOpts) builderCaps {
	return builderCaps{gateway: o.Caps, llb: o.LLBCaps, product: o.Product}
}

// merge tells whether the builder has MergeOp. Without it the layers are chained (Docker's
// classic image store disables it); it is the one LLB capability the frontend can do without.
func (b builderCaps) merge() bool {
	return b.llb.Supports(pb.CapMergeOp) == nil
}

// buildNeeds is what one build asks of the builder beyond what every build needs.
type buildNeeds struct {
	// Secrets: a substituter with a `secret:` or a `push:` signing key, mounted into the Nix
	// or push step.
	Secrets bool
	// Platforms: more than one returns a result per platform.
	Platforms int
	// CacheImports: --cache-from, passed with each solve.
	CacheImports bool
	// CopyModeStrings: a `copy:` entry whose mode goes to BuildKit as a string (llb.CopyLayers):
	// every entry but those with an octal chmod, since the default, which drops the setuid,
	// setgid and write-for-others bits, is symbolic.
	CopyModeStrings bool
}

func needsOf(f *laingfile.File, platforms int, cacheImports int) buildNeeds {
	n := buildNeeds{Platforms: platforms, CacheImports: cacheImports > 0}
	for _, s := range f.Substituters {
		if s.Secret != "" || s.Push != nil {
			n.Secrets = true
		}
	}
	// Every target's: the check comes before the target is chosen.
	for _, t := range f.Targets {
		for _, c := range t.Copy {
			if _, octal := c.OctalMode(); !octal {
				n.CopyModeStrings = true
			}
		}
	}
	return n
}

// capability is one thing the frontend asks of the builder.
type capability struct {
	id      apicaps.CapID
	gateway bool   // a gateway API capability, else an LLB one
	what    string // what the frontend does with it, for the user
	// when tells whether a build needs it; nil for every build.
	when func(buildNeeds) bool
	// unreported: BuildKit defines the capability and has what it names, but does not register
	// it (pb.Caps), so no builder reports it. A builder has it when it reports a capability of
	// the release that brought it or a later one (see buildkitRange).
	unreported bool
}

// requiredCaps are the capabilities the frontend's requests and LLB need, by the code that uses
// them. MergeOp is not here: without it the layers are chained (see merge). Neither are the
// ones the frontend or BuildKit's client use only when present (frontend inputs, the source
// metadata resolver, warnings), nor those of the named contexts a user passes (git, https,
// oci-layout: BuildKit's client checks those when it solves them).
var requiredCaps = []capability{
	// Gateway: frontend/build.go, target.go, pin.go, problems.go, dockerui.
	{id: gwpb.CapSolveBase, gateway: true, what: "solving build steps from a frontend"},
	{id: gwpb.CapReturnResult, gateway: true, what: "returning the image from a frontend"},
	{id: gwpb.CapReadFile, gateway: true, what: "reading files of a step's result (the Laingfile, the Nix step's report)"},
	{id: gwpb.CapStatFile, gateway: true, what: "checking files of the build context"},
	{id: gwpb.CapReadDir, gateway: true, what: "listing directories of the build context"},
	{id: gwpb.CapResolveImage, gateway: true, what: "resolving the Nix builder image's config"},
	{id: gwpb.CapReturnMap, gateway: true, what: "returning one image per platform",
		when: func(n buildNeeds) bool { return n.Platforms > 1 }},
	{id: gwpb.CapImportCaches, gateway: true, what: "importing caches (--cache-from)",
		when: func(n buildNeeds) bool { return n.CacheImports }},

	// LLB: every definition.
	{id: pb.CapConstraints, what: "op constraints"},
	{id: pb.CapPlatform, what: "per-op platforms"},
	{id: pb.CapMetaDescription, what: "step names"},
	// The build context (dockerui, readContextFile) and the Nix builder image.
	{id: pb.CapSourceLocal, what: "reading the build context"},
	{id: pb.CapSourceLocalSessionID, what: "reading the build context of this session"},
	{id: pb.CapSourceLocalFollowPaths, what: "reading single files of the build context"},
	{id: pb.CapSourceLocalExcludePatterns, what: "leaving out what .dockerignore names"},
	{id: pb.CapSourceLocalSharedKeyHint, what: "reusing transfers of the build context"},
	{id: pb.CapSourceImage, what: "pulling the Nix builder image"},
	// The Nix step (laingfile2llb/nixstep.go).
	{id: pb.CapExecMetaBase, what: "running the Nix build step"},
	{id: pb.CapExecMountBind, what: "read-only mounts of the step's inputs"},
	{id: pb.CapExecMountSelector, what: "mounting the builder image's /nix"},
	{id: pb.CapExecMountCache, what: "the persistent /nix cache mount"},
	{id: pb.CapExecMountCacheSharing, what: "sharing the /nix cache mount between steps"},
	{id: pb.CapExecMountTmpfs, what: "a tmpfs /tmp in the Nix step"},
	{id: pb.CapExecMountSecret, what: "secret mounts for the substituters' credentials",
		when: func(n buildNeeds) bool { return n.Secrets }},
	// The layers (laingfile2llb/layers.go, laingfile2llb/custom.go).
	{id: pb.CapFileBase, what: "file operations (copy, mkdir, mkfile with owners and times)"},
	// A `copy:` entry's mode as a string: BuildKit v0.17 reads it (FileActionCopy.modeStr) but
	// never registered file.copy.modestring; a builder before v0.17 ignores the string and
	// makes the copied files mode 0000. file.symlink.create (v0.19), which every build needs,
	// implies it today.
	{id: pb.CapFileCopyModeStringFormat, unreported: true, what: "symbolic modes of copied files (dropping setuid, setgid and write for others)",
		when: func(n buildNeeds) bool { return n.CopyModeStrings }},
	{id: pb.CapFileSymlinkCreate, what: "creating symbolic links in file operations (the profile links, /usr/bin/env, the CA bundle)"},
}

// capSince is the BuildKit release (v0.N) that introduced each capability, from the first
// v0.N.0 tag whose solver/pb/caps.go or frontend/gateway/pb/caps.go defines it (3: v0.3 or
// earlier, the first release with caps.go). TestCapSinceCoversBuildKit fails when a BuildKit
// upgrade brings a capability this table lacks.
var capSince = struct{ llb, gateway map[apicaps.CapID]int }{
	llb: map[apicaps.CapID]int{
		"constraints": 3, "exec.cgroup": 3, "exec.meta.base": 3, "exec.meta.network": 3,
		"exec.meta.proxyenv": 3, "exec.meta.setsdefaultpath": 3, "exec.mount.bind": 3,
		"exec.mount.cache": 3, "exec.mount.cache.sharing": 3, "exec.mount.secret": 3,
		"exec.mount.selector": 3, "exec.mount.ssh": 3, "exec.mount.tmpfs": 3,
		"meta.description": 3, "meta.exportcache": 3, "meta.ignorecache": 3, "platform": 3,
		"soruce.http.uidgid": 3, "source.buildop.llbfilename": 3, "source.git": 3,
		"source.git.fullurl": 3, "source.git.keepgitdir": 3, "source.http": 3,
		"source.http.checksum": 3, "source.http.perm": 3, "source.image": 3,
		"source.image.resolvemode": 3, "source.local": 3, "source.local.excludepatterns": 3,
		"source.local.followpaths": 3, "source.local.includepatterns": 3,
		"source.local.sessionid": 3, "source.local.sharedkeyhint": 3, "source.local.unique": 3,
		"exec.meta.security": 5, "file.base": 5,
		"exec.meta.security.devices.v1": 7, "exec.mount.bind.readwrite-nooutput": 7, "file.rm.wildcard": 7,
		"source.git.httpauth": 8, "source.git.knownsshhosts": 8, "source.git.mountsshsock": 8,
		"cache.gha": 9, "file.copy.includeexcludepatterns": 9, "source.git.subdir": 9, "source.local.differ": 9,
		"diffop": 10, "exec.meta.cgroup.parent": 10, "exec.meta.ulimit": 10, "exec.mount.tmpfs.size": 10,
		"exec.secretenv": 10, "file.rm.nofollowsymlink": 10, "mergeop": 10,
		"cache.azblob": 11, "cache.s3": 11, "exec.meta.removemountstubs.recursive": 11,
		"exporter.image.annotations": 11, "exporter.image.attestations": 11, "exporter.sourcedateepoch": 11,
		"source.image.layerlimit": 11, "source.ocilayout": 11, "source.policy": 11,
		"exec.mount.cache.content": 13, "exporter.multiple": 13,
		"file.copy.alwaysreplaceexistingdestpaths": 14,
		"exec.validexitcode":                       17, "file.copy.modestring": 17, "gc.freespacefilter": 17,
		"file.symlink.create": 19,
		"exec.meta.cdi":       20, "history.filter": 20,
		"exporter.session": 21, "source.http.auth": 21, "source.http.header": 21, "source.local.metadatatransfer": 21,
		"source.git.checksum":       22,
		"source.git.skipsubmodules": 24,
		"source.image.checksum":     25,
		"file.copy.requiredpaths":   26, "source.git.signatureverify": 26, "source.policy.session": 26,
		"source.http.signatureverify": 28, "source.imageblob": 28,
		"source.git.mtime":  29,
		"source.git.bundle": 30, "source.git.checkoutbundle": 30, "source.git.fetchbycommit": 30,
		"exec.meta.linux.resources": 31, "exec.meta.network.proxy": 31, "passthroughop": 31,
	},
	gateway: map[apicaps.CapID]int{
		"readdir": 3, "readfile": 3, "resolveimage": 3, "resolveimage.resolvemode": 3, "return": 3,
		"returnmap": 3, "solve.base": 3, "solve.inlinereturn": 3, "statfile": 3,
		"importcaches":    4,
		"frontend.inputs": 7, "proto.refarray": 7, "reference.output": 7,
		"frontend.caps": 8, "gateway.exec": 8, "gateway.solve.evaluate": 8, "gateway.solve.metadata": 8,
		"gateway.exec.extrahosts": 10, "gateway.exec.signals": 10, "gateway.warnings": 10,
		"gateway.evaluate": 11, "reference.attestations": 11,
		"gateway.exec.secretenv":                   12,
		"source.metaresolver":                      13,
		"gateway.exec.filesystem":                  27,
		"source.metaresolver.http.checksumrequest": 28, "source.metaresolver.image.attestations": 28,
	},
}

// dockerEngines are Docker Engine's releases and the BuildKit they vendor (v0.N; Engine 20.10
// vendors a v0.8 commit), from moby's vendor.conf and vendor.mod at each release tag. No Engine
// release vendors BuildKit v0.19: 27.5 has v0.18, 28.0 has v0.20.
var dockerEngines = []struct {
	engine   string
	buildkit int
}{
	{"20.10", 8}, {"23.0", 10}, {"24.0", 11}, {"25.0", 12}, {"26.0", 13}, {"26.1", 13},
	{"27.0", 14}, {"27.1", 15}, {"27.2", 15}, {"27.3", 16}, {"27.4", 17}, {"27.5", 18},
	{"28.0", 20}, {"28.1", 21}, {"28.2", 22}, {"28.3", 23}, {"28.4", 24}, {"28.5", 25},
	{"29.0", 25}, {"29.1", 26}, {"29.2", 27}, {"29.3", 28}, {"29.4", 29}, {"29.5", 30},
	{"29.6", 31}, {"29.7", 32},
}

// check returns nil when the builder has every capability this build needs, else an error
// that says what the frontend needs, what the builder is and lacks, and what to use instead.
func (b builderCaps) check(n buildNeeds) error {
	need := 0
	var missing []string
	newest, _ := b.buildkitRange()
	for _, c := range requiredCaps {
		if c.when != nil && !c.when(n) {
			continue
		}
		since := c.since()
		need = max(need, since)
		set := b.llb
		if c.gateway {
			set = b.gateway
		}
		var err error
		switch {
		case c.unreported && newest < since:
			err = &apicaps.CapError{ID: c.id}
		case !c.unreported:
			err = set.Supports(c.id)
		}
		if err == nil {
			continue
		}
		line := fmt.Sprintf("%s (%s, BuildKit v0.%d)", c.what, c.id, since)
		var ce *apicaps.CapError
		if errors.As(err, &ce) && ce.State != nil && !ce.State.Enabled {
			line = fmt.Sprintf("%s (%s, disabled on this builder", c.what, c.id)
			if ce.State.DisabledReasonMsg != "" {
				line += ": " + ce.State.DisabledReasonMsg
			}
			line += ")"
		}
		missing = append(missing, line)
	}
	if len(missing) == 0 {
		return nil
	}

	var msg strings.Builder
	fmt.Fprintf(&msg, "this builder cannot build a Laingfile: it needs BuildKit v0.%d or later (Docker Engine %s or later)", need, minEngine(need))
	fmt.Fprintf(&msg, "\n  this builder%s: %s", b.productNote(), b.describeVersion())
	fmt.Fprintf(&msg, "\n  it lacks: %s", strings.Join(missing, "; "))
	fmt.Fprintf(&msg, "\n  use Docker Engine %s or later (with the containerd image store for independent layers), or a docker-container builder, which runs a current BuildKit on any Docker Engine: docker buildx create --use --driver docker-container", minEngine(need))
	return errors.New(msg.String())
}

func (c capability) since() int {
	if c.gateway {
		return capSince.gateway[c.id]
	}
	return capSince.llb[c.id]
}

func (b builderCaps) productNote() string {
	if b.product == "" {
		return ""
	}
	return fmt.Sprintf(" (%s)", b.product)
}

// describeVersion says which BuildKit release the builder's capabilities match: it knows (maybe
// disabled) every capability of the releases up to its own and none of the later ones.
func (b builderCaps) describeVersion() string {
	lo, hi := b.buildkitRange()
	const how = "judging by the capabilities it reports; builders do not report their version"
	switch {
	case lo == 0:
		return "its BuildKit version is unknown: builders do not report their version, and this one reports no capability of a known BuildKit release"
	case hi == 0:
		return fmt.Sprintf("BuildKit v0.%d or later (%s)", lo, how)
	case hi > lo:
		v := fmt.Sprintf("BuildKit v0.%d", lo)
		if hi > lo+1 { // releases that brought no capability look like the one before
			v = fmt.Sprintf("BuildKit v0.%d to v0.%d", lo, hi-1)
		}
		if e := enginesOf(lo, hi-1); e != "" {
			v += ", the BuildKit of Docker Engine " + e
		}
		return fmt.Sprintf("%s (%s)", v, how)
	default: // a mix that no release has, such as a backport
		return fmt.Sprintf("BuildKit v0.%d or later, with features of later releases missing (%s)", lo, how)
	}
}

// buildkitRange returns the newest release lo whose capabilities the builder knows and the
// oldest release hi with one it does not know (0: none).
func (b builderCaps) buildkitRange() (lo, hi int) {
	scan := func(set apicaps.CapSet, since map[apicaps.CapID]int) {
		for id, v := range since {
			if set.Contains(id) {
				lo = max(lo, v)
			} else if hi == 0 || v < hi {
				hi = v
			}
		}
	}
	scan(b.llb, capSince.llb)
	scan(b.gateway, capSince.gateway)
	return lo, hi
}

// minEngine is the first Docker Engine release whose BuildKit is v0.N or later.
func minEngine(n int) string {
	for _, e := range dockerEngines {
		if e.buildkit >= n {
			return e.engine
		}
	}
	return "newer than " + dockerEngines[len(dockerEngines)-1].engine
}

// enginesOf names the Docker Engine releases that vendor BuildKit v0.lo to v0.hi, or "".
func enginesOf(lo, hi int) string {
	var names []string
	for _, e := range dockerEngines {
		if e.buildkit >= lo && e.buildkit <= hi {
			names = append(names, e.engine)
		}
	}
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
