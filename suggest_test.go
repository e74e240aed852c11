package laingfile

import "testing"

func TestNearest(t *testing.T) {
	sets := []string{"base", "vscodeCompat", "devTools", "nixTools", "python", "pythonDev", "node", "nodeDev", "go", "goDev", "rust", "rustDev", "bash", "bashDev"}
	tests := []struct {
		name       string
		candidates []string
		want       string
		ok         bool
	}{
		{"pythn", sets, "python", true},
		{"pyhton", sets, "python", true}, // transposition
		{"Python", sets, "python", true}, // case only
		{"PYTHONDEV", sets, "pythonDev", true},
		{"devtools", sets, "devTools", true},
		{"bsae", sets, "base", true},
		{"rustdev", sets, "rustDev", true},
		{"python", sets, "python", true}, // exact
		{"haskell", sets, "", false},
		{"g", sets, "go", true},
		{"xy", sets, "", false},
		{"", sets, "", false},
		{"pythn312", []string{"python312", "python313", "python3"}, "python312", true},
		// Ties on the case-insensitive distance go to the case-sensitive nearest.
		{"Ab", []string{"aB", "AB"}, "AB", true},
		{"ab", []string{"aB", "Ab"}, "aB", true},
		// Then to the earliest candidate.
		{"cat", []string{"bat", "hat"}, "bat", true},
		{"stopSignal", []string{"stopsignal", "maxLayers"}, "stopsignal", true},
		{"nixpkgs", nil, "", false},
		{"ünïcode", []string{"unicode"}, "unicode", true},
	}
	for _, tt := range tests {
		got, ok := Nearest(tt.name, tt.candidates)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Nearest(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	tests := []struct{ name, want string }{
		{"pythn", ` (did you mean "python"?)`},
		{"python", ""},
		{"zzz", ""},
	}
	for _, tt := range tests {
		if got := DidYouMean(tt.name, []string{"python", "node"}); got != tt.want {
			t.Errorf("DidYouMean(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"kitten", "sitting", 3},
		{"ab", "ba", 1}, {"abc", "acb", 1}, {"ca", "abc", 3}, {"python", "pythn", 1},
	}
	for _, tt := range tests {
		if got := editDistance([]rune(tt.a), []rune(tt.b), -1); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := editDistance([]rune(tt.a), []rune(tt.b), 0); (got == 0) != (tt.want == 0) {
			t.Errorf("bounded editDistance(%q, %q) = %d", tt.a, tt.b, got)
		}
	}
}

// BenchmarkNearest measures a lookup against a nixpkgs-sized list of attribute names, which the
// frontend does for an unknown package.
func BenchmarkNearest(b *testing.B) {
	names := make([]string, 0, 100000)
	for i := 0; i < 100000; i++ {
		names = append(names, "package"+string(rune('a'+i%26))+string(rune('a'+(i/26)%26))+string(rune('a'+(i/676)%26)))
	}
	for b.Loop() {
		Nearest("pythn312Packages.pip", names)
	}
}
