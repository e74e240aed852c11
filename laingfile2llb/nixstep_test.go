package laingfile2llb

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/laingville/laingfile"
	"github.com/laingville/laingfile/internal/nixstore"
	"github.com/laingville/laingfile/nixsets"
)

func parseTestFile(t *testing.T, src string) *laingfile.File {
	t.Helper()
	f, err := laingfile.Parse("Laingfile", []byte(src), nixsets.ParseOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestNixRequestPinConfigOverlays(t *testing.T) {
	tests := []struct {
		name         string
		src          string
		pin          nixsets.Pin
		wantSource   nixsets.NixpkgsSource
		wantConfig   map[string]any
		wantOverlays []string
		wantContext  bool
	}{
		{
			name:       "release pin, unfree refused",
			src:        "kind: runtime\nsets: [base]\n",
			pin:        nixsets.DefaultPin(),
			wantSource: nixsets.NixpkgsSource{URL: nixsets.DefaultPin().TarballURL(), SHA256: nixsets.DefaultPin().SHA256},
			wantConfig: map[string]any{"allowUnfree": false},
		},
		{
			name:       "URL pin, config from the Laingfile",
			src:        "nixpkgs: {config: {allowUnfree: true, cudaSupport: true}}\nkind: runtime\n",
			pin:        nixsets.Pin{URL: "https://x.org/n.tar.gz", SHA256: nixsets.DefaultPin().SHA256},
			wantSource: nixsets.NixpkgsSource{URL: "https://x.org/n.tar.gz", SHA256: nixsets.DefaultPin().SHA256},
			wantConfig: map[string]any{"allowUnfree": true, "cudaSupport": true},
		},
		{
			// Overlays keep the Laingfile's order, built-in and context files alike.
			name:         "overlays in order",
			src:          "overlays: [./nix/b.nix, license-fixes, ./nix/a.nix, cve-patches]\nkind: runtime\n",
			pin:          nixsets.DefaultPin(),
			wantSource:   nixsets.NixpkgsSource{URL: nixsets.DefaultPin().TarballURL(), SHA256: nixsets.DefaultPin().SHA256},
			wantConfig:   map[string]any{"allowUnfree": false},
			wantOverlays: []string{"/context/nix/b.nix", "/laingfile/overlays/license-fixes.nix", "/context/nix/a.nix", "/laingfile/overlays/cve-patches.nix"},
			wantContext:  true,
		},
		{
			name:         "built-in overlays need no context",
			src:          "overlays: [custom-builds]\nkind: runtime\n",
			pin:          nixsets.DefaultPin(),
			wantSource:   nixsets.NixpkgsSource{URL: nixsets.DefaultPin().TarballURL(), SHA256: nixsets.DefaultPin().SHA256},
			wantConfig:   map[string]any{"allowUnfree": false},
			wantOverlays: []string{"/laingfile/overlays/custom-builds.nix"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parseTestFile(t, tt.src)
			req := NixRequest(f, f.Targets[0], "x86_64-linux", tt.pin)
			if req.Nixpkgs != tt.wantSource {
				t.Errorf("nixpkgs = %+v, want %+v", req.Nixpkgs, tt.wantSource)
			}
			if !reflect.DeepEqual(req.Config, tt.wantConfig) {
				t.Errorf("config = %v, want %v", req.Config, tt.wantConfig)
			}
			if tt.wantOverlays == nil {
				tt.wantOverlays = []string{}
			}
			if !reflect.DeepEqual(req.Overlays, tt.wantOverlays) {
				t.Errorf("overlays = %v, want %v", req.Overlays, tt.wantOverlays)
			}
			if got := f.NixReadsContext(f.Targets[0]); got != tt.wantContext {
				t.Errorf("NixReadsContext = %v", got)
			}
		})
	}
}

func TestNixRequestProjectPackages(t *testing.T) {
	f := parseTestFile(t, "kind: runtime\nsets: [base]\npackages: [./nix/app.nix, jq]\n")
	req := NixRequest(f, f.Targets[0], "x86_64-linux", nixsets.DefaultPin())
	if req.Packages[0] != (nixsets.RequestPackage{File: "/context/nix/app.nix"}) {
		t.Errorf("first package = %+v, want the file in the mounted context", req.Packages[0])
	}
	if !f.NixReadsContext(f.Targets[0]) {
		t.Error("a package file needs the build context")
	}
	if !slices.Contains(req.Packages, nixsets.RequestPackage{Attr: "jq"}) {
		t.Errorf("packages = %+v", req.Packages)
	}
}

// buildStepExec returns the build step's exec op.
func buildStepExec(t *testing.T, step NixStep) *pb.ExecOp {
	t.Helper()
	st, err := step.State(ocispecs.Platform{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	all, _ := ops(t, st)
	for _, op := range all {
		if e := op.GetExec(); e != nil && slices.Contains(e.Meta.Args, "/laingfile/build.sh") {
			return e
		}
	}
	t.Fatal("no exec of build.sh")
	return nil
}

func TestNixStepSubstituters(t *testing.T) {
	const key1 = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="
	const key2 = "cache.example.com-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	f := parseTestFile(t, `substituters:
  - {url: https://nix-community.cachix.org, publicKey: `+key1+`}
  - url: https://cache.example.com:8443/nix
    publicKey: [`+key2+`]
    secret: cachetoken
    login: ci
kind: runtime
`)
	step := NixStep{
		Builder:      llb.Image("example.com/nix"),
		BuilderID:    "example.com/nix",
		Tools:        testBuilderTools(t),
		Request:      NixRequest(f, f.Targets[0], "x86_64-linux", nixsets.DefaultPin()),
		Substituters: f.Substituters,
	}
	exec := buildStepExec(t, step)
	env := map[string]string{}
	for _, e := range exec.Meta.Env {
		k, v, _ := strings.Cut(e, "=")
		env[k] = v
	}
	want := map[string]string{
		"LAINGFILE_SUBSTITUTERS":        "https://nix-community.cachix.org https://cache.example.com:8443/nix",
		"LAINGFILE_TRUSTED_PUBLIC_KEYS": key1 + " " + key2,
		"LAINGFILE_NETRC":               "cache.example.com,ci," + secretDir + "/1",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	var secrets []string
	for _, m := range exec.Mounts {
		if m.MountType == pb.MountType_SECRET {
			secrets = append(secrets, m.Dest+"="+m.SecretOpt.ID)
			if m.SecretOpt.Optional {
				t.Errorf("secret %s is optional: a build without it would go on without the cache's token", m.SecretOpt.ID)
			}
		}
	}
	if !reflect.DeepEqual(secrets, []string{secretDir + "/1=cachetoken"}) {
		t.Errorf("secret mounts = %v", secrets)
	}

	// Without substituters the step has none of it.
	step.Substituters = nil
	for _, e := range buildStepExec(t, step).Meta.Env {
		if strings.HasPrefix(e, "LAINGFILE_SUBSTITUTERS=") || strings.HasPrefix(e, "LAINGFILE_NETRC=") {
			t.Errorf("env %s without substituters", e)
		}
	}
}

func TestNixStepRequestJSON(t *testing.T) {
	f := parseTestFile(t, "kind: runtime\n")
	step := NixStep{Builder: llb.Image("example.com/nix"), Tools: testBuilderTools(t), Request: NixRequest(f, f.Targets[0], "x86_64-linux", nixsets.DefaultPin())}
	st, err := step.State(ocispecs.Platform{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	all, _ := ops(t, st)
	var request []byte
	for _, op := range all {
		for _, a := range op.GetFile().GetActions() {
			if mk := a.GetMkfile(); mk != nil && mk.Path == "/request.json" {
				request = mk.Data
			}
		}
	}
	var req nixsets.Request
	if err := json.Unmarshal(request, &req); err != nil {
		t.Fatalf("request.json: %v\n%s", err, request)
	}
	if req.Nixpkgs.URL != nixsets.DefaultPin().TarballURL() || req.Config["allowUnfree"] != false {
		t.Errorf("request = %+v", req)
	}
}

// testStorePath is a store path with a valid hash part.
func testStorePath(name string) string { return "/nix/store/" + strings.Repeat("b", 32) + "-" + name }

func testBuilderTools(t *testing.T) BuilderTools {
	t.Helper()
	tools, err := NewBuilderTools([]string{testStorePath("nix-2.28.3"), testStorePath("bash-5.2"), testStorePath("user-environment")}, testStorePath("user-environment"))
	if err != nil {
		t.Fatal(err)
	}
	return tools
}

// The step runs only the builder image's own tools: PATH and the shell are the image's
// profile, and each of the image's store paths is mounted read-only over the shared /nix.
func TestNixStepRunsTheBuildersOwnTools(t *testing.T) {
	f := parseTestFile(t, "kind: runtime\n")
	tools := testBuilderTools(t)
	exec := buildStepExec(t, NixStep{Builder: llb.Image("example.com/nix"), BuilderID: "example.com/nix", Tools: tools,
		Request: NixRequest(f, f.Targets[0], "x86_64-linux", nixsets.DefaultPin())})

	if want := testStorePath("user-environment") + "/bin/sh"; exec.Meta.Args[0] != want {
		t.Errorf("args[0] = %q, want %q", exec.Meta.Args[0], want)
	}
	if !slices.Contains(exec.Meta.Env, "PATH="+testStorePath("user-environment")+"/bin") {
		t.Errorf("env = %v, want PATH the builder's profile only", exec.Meta.Env)
	}
	readonly := map[string]bool{}
	var cache *pb.Mount
	for _, m := range exec.Mounts {
		switch {
		case m.Dest == "/nix":
			cache = m
		case strings.HasPrefix(m.Dest, "/nix/"):
			if m.Selector != m.Dest || !m.Readonly || m.Input == 0 {
				t.Errorf("mount %s: selector %q, readonly %v, input %d; want the path from the builder's store, read-only", m.Dest, m.Selector, m.Readonly, m.Input)
			}
			readonly[m.Dest] = true
		}
	}
	if cache == nil || cache.MountType != pb.MountType_CACHE || !strings.HasPrefix(cache.CacheOpt.ID, "laingfile-nix-v3-") {
		t.Errorf("/nix mount = %+v, want the v2 cache (stores whose builds ran as build users)", cache)
	}
	for _, p := range tools.StorePaths {
		if !readonly[p] {
			t.Errorf("builder store path %s is not mounted read-only", p)
		}
	}
}

func TestNewBuilderTools(t *testing.T) {
	profile := testStorePath("user-environment")
	tests := []struct {
		name    string
		paths   []string
		profile string
		wantErr string
	}{
		{"nixos/nix", []string{testStorePath("nix"), profile}, profile, ""},
		{"empty store", nil, profile, "empty /nix/store"},
		{"profile outside the store", []string{testStorePath("nix")}, profile, "is not one of its store paths"},
		{"not a store path", []string{"/nix/store/x", profile}, profile, "not a store path"},
		{"nested", []string{testStorePath("nix") + "/bin", profile}, profile, "not a store path"},
		{"too many", slices.Repeat([]string{profile}, maxBuilderStorePaths+1), profile, "more than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewBuilderTools(tc.paths, tc.profile)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// A layer step depends on its store paths and their NAR hashes, not on the rest of the build:
// a different request (another package added) leaves an unchanged layer's step as it was, so
// it is a cache hit that reads nothing.
func TestLayerStateDependsOnlyOnItsPaths(t *testing.T) {
	f := parseTestFile(t, "kind: runtime\nsets: [base]\n")
	g := parseTestFile(t, "kind: runtime\nsets: [base]\npackages: [postgresql_16]\n")
	const hash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
	group := []nixstore.StorePath{{Path: testStorePath("openssl-3.4.1"), NarHash: hash, NarSize: 1 << 20}}
	digestOf := func(step NixStep, group []nixstore.StorePath) string {
		st, err := step.LayerState(group, "layer 1/1")
		if err != nil {
			t.Fatal(err)
		}
		def, err := st.Marshal(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		head, err := def.Head()
		if err != nil {
			t.Fatal(err)
		}
		return head.String()
	}
	step := func(file *laingfile.File) NixStep {
		return NixStep{Builder: llb.Image("example.com/nix"), BuilderID: "example.com/nix", Tools: testBuilderTools(t),
			Request: NixRequest(file, file.Targets[0], "x86_64-linux", nixsets.DefaultPin())}
	}
	if a, b := digestOf(step(f), group), digestOf(step(g), group); a != b {
		t.Errorf("the layer step changed with the request: %s, %s", a, b)
	}
	withCache := step(f)
	withCache.Substituters = []laingfile.Substituter{{URL: "https://cache.example.com", PublicKeys: []string{"cache.example.com-1:AAAA"}, Secret: "token"}}
	if a, b := digestOf(step(f), group), digestOf(withCache, group); a != b {
		t.Errorf("the layer step changed with the Laingfile's caches: %s, %s", a, b)
	}
	other := []nixstore.StorePath{{Path: group[0].Path, NarHash: "sha256-LCa0a2j/xo/5m0U8HTBBNBNCLXBkg7+g+YpeiGJm564=", NarSize: 1 << 20}}
	if digestOf(step(f), group) == digestOf(step(f), other) {
		t.Error("the layer step did not change with the NAR hash")
	}
	if _, err := step(f).LayerState([]nixstore.StorePath{{Path: group[0].Path, NarHash: "md5-x"}}, "layer"); err == nil {
		t.Error("a bad NAR hash was accepted")
	}
}

// The SBOM step evaluates the build step's very request, with the same sources, and nothing of
// the Laingfile's caches: asking for an SBOM neither changes the build step nor needs a secret.
func TestMetaStateEvaluatesTheSameRequest(t *testing.T) {
	f := parseTestFile(t, `substituters:
  - {url: https://cache.example.com, publicKey: cache.example.com-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=, secret: cachetoken}
kind: runtime
packages: [jq]
`)
	nixpkgs := llb.Local("nixpkgs")
	step := NixStep{
		Builder: llb.Image("example.com/nix"), BuilderID: "example.com/nix", Tools: testBuilderTools(t),
		Request:      WithNixpkgsDir(NixRequest(f, f.Targets[0], "x86_64-linux", nixsets.DefaultPin())),
		Substituters: f.Substituters,
		Nixpkgs:      &nixpkgs,
	}
	st, err := step.MetaState(ocispecs.Platform{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	all, _ := ops(t, st)
	var meta *pb.ExecOp
	var request string
	for _, op := range all {
		if e := op.GetExec(); e != nil && slices.Contains(e.Meta.Args, "/laingfile/meta.sh") {
			meta = e
		}
		if fo := op.GetFile(); fo != nil {
			for _, a := range fo.Actions {
				if mk := a.GetMkfile(); mk != nil && mk.Path == "/request.json" {
					request = string(mk.Data)
				}
			}
		}
	}
	if meta == nil {
		t.Fatal("no exec of meta.sh")
	}
	want, err := json.MarshalIndent(step.Request, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if request != string(want) {
		t.Errorf("request.json = %s, want the build step's %s", request, want)
	}
	for _, e := range meta.Meta.Env {
		if strings.HasPrefix(e, "LAINGFILE_SUBSTITUTERS=") || strings.HasPrefix(e, "LAINGFILE_NETRC=") {
			t.Errorf("env %s: the SBOM step uses no cache", e)
		}
	}
	mounts := map[string]bool{}
	for _, m := range meta.Mounts {
		mounts[m.Dest] = true
		if m.MountType == pb.MountType_SECRET {
			t.Errorf("secret mount %s: the SBOM step needs no secret", m.Dest)
		}
	}
	if !mounts[stepNixpkgsDir] || !mounts["/nix"] || !mounts[stepOutDir] {
		t.Errorf("mounts %v: want the nixpkgs tree, the /nix cache and the output", mounts)
	}
}
