package devshell

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/laingville/laingfile/nixsets"
)

// step are the build step's paths as llb has them; the tests write requests by hand, as
// laingfile2llb.NixRequest makes them, so that this package's tests need no BuildKit.
var step = StepPaths{Overlays: "/laingfile/overlays", Context: "/context", Nixpkgs: "/nixpkgs"}

// request is a request for system as laingfile2llb.NixRequest makes it for a target with the release's pin.
func request(system string) nixsets.Request {
	pin := nixsets.DefaultPin()
	return nixsets.Request{
		System:   system,
		Nixpkgs:  nixsets.NixpkgsSource{URL: pin.TarballURL(), SHA256: pin.SHA256},
		Config:   map[string]any{"allowUnfree": false},
		Overlays: []string{},
		Packages: []nixsets.RequestPackage{{Attr: "bashInteractive"}, {Attr: "python312"}},
		Exclude:  []string{},
		Info:     []string{"bashInteractive"},
	}
}

func requests(edit func(*nixsets.Request)) []nixsets.Request {
	var out []nixsets.Request
	for _, s := range Systems() {
		r := request(s)
		if edit != nil {
			edit(&r)
		}
		out = append(out, r)
	}
	return out
}

func fileMap(t *testing.T, files []File) map[string]File {
	t.Helper()
	m := map[string]File{}
	for _, f := range files {
		if _, dup := m[f.Path]; dup {
			t.Fatalf("%s is generated twice", f.Path)
		}
		m[f.Path] = f
	}
	return m
}

func generatedRequest(t *testing.T, files map[string]File, system string) nixsets.Request {
	t.Helper()
	f, ok := files[Dir+"/request-"+system+".json"]
	if !ok {
		t.Fatalf("no request for %s", system)
	}
	var req nixsets.Request
	if err := json.Unmarshal(f.Data, &req); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestGenerateMakesStepPathsRelative(t *testing.T) {
	cve := nixsets.Overlays()[0].Name
	tests := []struct {
		name       string
		edit       func(*nixsets.Request)
		nixpkgsDir string
		// want are the generated request's overlays, package files and nixpkgs.
		wantOverlays []string
		wantFiles    []string
		wantNixpkgs  nixsets.NixpkgsSource
		// wantOverlayFiles are the built-in overlays written under Dir/overlays.
		wantOverlayFiles []string
	}{{
		name:        "the release's pin",
		wantNixpkgs: nixsets.NixpkgsSource{URL: nixsets.DefaultPin().TarballURL(), SHA256: nixsets.DefaultPin().SHA256},
	}, {
		name: "built-in and project overlays, in order",
		edit: func(r *nixsets.Request) {
			r.Overlays = []string{"/context/nix/overlay.nix", "/laingfile/overlays/" + cve + ".nix", "/context/a/b/c.nix"}
		},
		wantOverlays:     []string{"../nix/overlay.nix", "overlays/" + cve + ".nix", "../a/b/c.nix"},
		wantOverlayFiles: []string{cve},
		wantNixpkgs:      nixsets.NixpkgsSource{URL: nixsets.DefaultPin().TarballURL(), SHA256: nixsets.DefaultPin().SHA256},
	}, {
		name: "package files among attributes",
		edit: func(r *nixsets.Request) {
			r.Packages = []nixsets.RequestPackage{{File: "/context/nix/app.nix"}, {Attr: "jq"}, {File: "/context/tool.nix"}}
		},
		wantFiles:   []string{"../nix/app.nix", "../tool.nix"},
		wantNixpkgs: nixsets.NixpkgsSource{URL: nixsets.DefaultPin().TarballURL(), SHA256: nixsets.DefaultPin().SHA256},
	}, {
		name:        "a nixpkgs directory in the project",
		edit:        func(r *nixsets.Request) { r.Nixpkgs = nixsets.NixpkgsSource{Path: "/nixpkgs"} },
		nixpkgsDir:  "vendor/nixpkgs",
		wantNixpkgs: nixsets.NixpkgsSource{Path: "../vendor/nixpkgs"},
	}, {
		name:        "a nixpkgs directory elsewhere",
		edit:        func(r *nixsets.Request) { r.Nixpkgs = nixsets.NixpkgsSource{Path: "/nixpkgs"} },
		nixpkgsDir:  "/src/nixpkgs/",
		wantNixpkgs: nixsets.NixpkgsSource{Path: "/src/nixpkgs"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := Generate(Spec{Target: "devcontainer", Requests: requests(tt.edit), Step: step, NixpkgsDir: tt.nixpkgsDir})
			if err != nil {
				t.Fatal(err)
			}
			m := fileMap(t, files)
			for _, system := range Systems() {
				req := generatedRequest(t, m, system)
				if req.System != system {
					t.Errorf("the request for %s says system %q", system, req.System)
				}
				var gotFiles []string
				for _, p := range req.Packages {
					if p.File != "" {
						gotFiles = append(gotFiles, p.File)
					}
				}
				if !slices.Equal(req.Overlays, tt.wantOverlays) {
					t.Errorf("%s overlays = %q, want %q", system, req.Overlays, tt.wantOverlays)
				}
				if !slices.Equal(gotFiles, tt.wantFiles) {
					t.Errorf("%s package files = %q, want %q", system, gotFiles, tt.wantFiles)
				}
				if req.Nixpkgs != tt.wantNixpkgs {
					t.Errorf("%s nixpkgs = %+v, want %+v", system, req.Nixpkgs, tt.wantNixpkgs)
				}
			}
			var overlayFiles []string
			for p, f := range m {
				if name, ok := strings.CutPrefix(p, Dir+"/overlays/"); ok {
					name = strings.TrimSuffix(name, ".nix")
					overlayFiles = append(overlayFiles, name)
					for _, o := range nixsets.Overlays() {
						if o.Name == name && !bytes.Equal(o.Source, f.Data) {
							t.Errorf("%s is not the release's overlay", p)
						}
					}
				}
			}
			slices.Sort(overlayFiles)
			if !slices.Equal(overlayFiles, tt.wantOverlayFiles) {
				t.Errorf("overlay files %q, want %q", overlayFiles, tt.wantOverlayFiles)
			}
		})
	}
}

func TestGenerateWritesTheBuildExpressionAndTheShells(t *testing.T) {
	files, err := Generate(Spec{Target: "dev.box", Requests: requests(nil), Step: step})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range files {
		paths = append(paths, f.Path)
		if want := !strings.HasPrefix(f.Path, Dir+"/"); f.EntryPoint != want {
			t.Errorf("%s: EntryPoint %v, want %v", f.Path, f.EntryPoint, want)
		}
	}
	want := []string{".envrc", Dir + "/build.nix", Dir + "/devshells.nix",
		Dir + "/request-aarch64-darwin.json", Dir + "/request-aarch64-linux.json",
		Dir + "/request-x86_64-darwin.json", Dir + "/request-x86_64-linux.json",
		Dir + "/shell/setup", "flake.nix", "shell.nix"}
	if !slices.Equal(paths, want) {
		t.Fatalf("files %q\nwant %q", paths, want)
	}
	m := fileMap(t, files)
	if !bytes.Equal(m[Dir+"/build.nix"].Data, nixsets.BuildExpression()) {
		t.Error("build.nix is not the frontend's build expression")
	}
	shells := string(m[Dir+"/devshells.nix"].Data)
	for _, s := range []string{
		`"laingfile-dev.box-shell"`,
		`systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];`,
		`./build.nix { inherit requestFile; }`,
		`requestFile = ./. + "/request-${system}.json";`,
	} {
		if !strings.Contains(shells, s) {
			t.Errorf("devshells.nix lacks %s", s)
		}
	}
	if !strings.Contains(string(m[FlakeFile].Data), "devShells = import ./.laingfile/devshells.nix;") ||
		!strings.Contains(string(m[ShellFile].Data), "import ./.laingfile/devshells.nix") {
		t.Error("the entry points do not import the shells")
	}
	if !strings.Contains(string(m[Dir+"/shell/setup"].Data), `PATH="$laingfileProfile/bin"`) {
		t.Error("the setup script does not put the profile on PATH")
	}
}

func TestEnvrcUsesTheFlakeWithNixDirenv(t *testing.T) {
	tests := []struct {
		nixpkgsDir string
		want       string
	}{
		{"", "  use flake\n"},
		{"nixpkgs", "  use flake\n"},
		{"/src/nixpkgs", "  use flake . --impure"},
	}
	for _, tt := range tests {
		edit := func(r *nixsets.Request) {
			if tt.nixpkgsDir != "" {
				r.Nixpkgs = nixsets.NixpkgsSource{Path: "/nixpkgs"}
			}
		}
		files, err := Generate(Spec{Target: "t", Requests: requests(edit), Step: step, NixpkgsDir: tt.nixpkgsDir})
		if err != nil {
			t.Fatal(err)
		}
		envrc := string(fileMap(t, files)[EnvrcFile].Data)
		if !strings.Contains(envrc, "if has nix_direnv_version; then\n"+tt.want) || !strings.Contains(envrc, "else\n  use nix\nfi\n") {
			t.Errorf("nixpkgs %q: .envrc\n%s\nwant %q then use nix", tt.nixpkgsDir, envrc, tt.want)
		}
	}
}

// TestEnvrcRunsInDirenv sources the .envrc with stand-ins for direnv's stdlib functions, with
// and without nix-direnv loaded.
func TestEnvrcRunsInDirenv(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	files, err := Generate(Spec{Target: "t", Requests: requests(nil), Step: step})
	if err != nil {
		t.Fatal(err)
	}
	envrc := string(fileMap(t, files)[EnvrcFile].Data)
	stdlib := `has() { type "$1" >/dev/null 2>&1; }; use() { echo "use $*"; }; watch_file() { echo "watch $#"; }; `
	for _, tt := range []struct{ loaded, want string }{
		{"", "watch 3\nuse nix\n"},
		{"nix_direnv_version() { :; }; ", "watch 3\nuse flake\n"},
	} {
		out, err := exec.Command(bash, "-euc", stdlib+tt.loaded+envrc).CombinedOutput()
		if err != nil || string(out) != tt.want {
			t.Errorf("with %q: %v, printed %q, want %q", tt.loaded, err, out, tt.want)
		}
	}
}

func TestGenerateRefusesRequestsItCannotPlace(t *testing.T) {
	tests := []struct {
		name       string
		target     string // default "t"
		reqs       []nixsets.Request
		nixpkgsDir string
		want       string
	}{
		{"no request", "", nil, "", "no request"},
		{"a target name Nix would read otherwise", `t"; x = "`, []nixsets.Request{request("x86_64-linux")}, "", "expected lower-case letters"},
		{"a system twice", "", []nixsets.Request{request("x86_64-linux"), request("x86_64-linux")}, "", "two requests for x86_64-linux"},
		{"an overlay elsewhere", "", requests(func(r *nixsets.Request) { r.Overlays = []string{"/etc/overlay.nix"} }), "", `the overlay "/etc/overlay.nix" is neither built in nor in the build context`},
		{"an unknown built-in overlay", "", requests(func(r *nixsets.Request) { r.Overlays = []string{"/laingfile/overlays/nope.nix"} }), "", "no built-in overlay"},
		{"a package file elsewhere", "", requests(func(r *nixsets.Request) { r.Packages = []nixsets.RequestPackage{{File: "/tmp/x.nix"}} }), "", `package file "/tmp/x.nix" is not in the build context`},
		{"a nixpkgs directory without one given", "", requests(func(r *nixsets.Request) { r.Nixpkgs = nixsets.NixpkgsSource{Path: "/nixpkgs"} }), "", "no nixpkgs directory is given"},
		{"a nixpkgs directory for a fetching request", "", requests(nil), "nixpkgs", "a nixpkgs directory is given"},
		{"a relative nixpkgs directory outside", "", requests(func(r *nixsets.Request) { r.Nixpkgs = nixsets.NixpkgsSource{Path: "/nixpkgs"} }), "../nixpkgs", "inside the Laingfile's directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := tt.target
			if target == "" {
				target = "t"
			}
			_, err := Generate(Spec{Target: target, Requests: tt.reqs, Step: step, NixpkgsDir: tt.nixpkgsDir})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	files := []File{
		{Path: Dir + "/a.json", Data: []byte("a")},
		{Path: Dir + "/overlays/o.nix", Data: []byte("o")},
		{Path: FlakeFile, Data: []byte("flake"), EntryPoint: true},
	}
	tests := []struct {
		name     string
		existing map[string][]byte
		want     []Change
	}{{
		name: "nothing yet",
		want: []Change{{Dir + "/a.json", Create}, {Dir + "/overlays/o.nix", Create}, {FlakeFile, Create}},
	}, {
		name:     "current",
		existing: map[string][]byte{Dir + "/a.json": []byte("a"), Dir + "/overlays/o.nix": []byte("o"), FlakeFile: nil},
	}, {
		name:     "an entry point is the user's, whatever it holds",
		existing: map[string][]byte{Dir + "/a.json": []byte("a"), Dir + "/overlays/o.nix": []byte("o"), FlakeFile: []byte("edited")},
	}, {
		name:     "a generated file was edited",
		existing: map[string][]byte{Dir + "/a.json": []byte("edited"), Dir + "/overlays/o.nix": []byte("o"), FlakeFile: nil},
		want:     []Change{{Dir + "/a.json", Update}},
	}, {
		name: "files the Laingfile no longer gives go; others stay",
		existing: map[string][]byte{Dir + "/a.json": []byte("a"), Dir + "/overlays/o.nix": []byte("o"), FlakeFile: nil,
			Dir + "/overlays/gone.nix": []byte("g"), Dir + "/request-old.json": nil, "README.md": []byte("r")},
		want: []Change{{Dir + "/overlays/gone.nix", Remove}, {Dir + "/request-old.json", Remove}},
	}, {
		name:     "a deleted entry point comes back",
		existing: map[string][]byte{Dir + "/a.json": []byte("a"), Dir + "/overlays/o.nix": []byte("o")},
		want:     []Change{{FlakeFile, Create}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Plan(files, tt.existing)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Plan = %v, want %v", got, tt.want)
			}
		})
	}
}
