package redact

import "testing"

func TestURLs(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://ci:TOKEN@host/x.tar.gz", "https://xxxxx@host/x.tar.gz"},
		{"https://TOKEN@host/x", "https://xxxxx@host/x"},
		{"  url: https://a:b@h/n.tar.gz\n  sha256: x", "  url: https://xxxxx@h/n.tar.gz\n  sha256: x"},
		{"[https://a@h, http://b:c@k]", "[https://xxxxx@h, http://xxxxx@k]"},
		{"https://host/path@v1", "https://host/path@v1"},
		{"git+ssh://git@github.com/o/r", "git+ssh://xxxxx@github.com/o/r"},
		{"me@example.com", "me@example.com"},
		{"no url", "no url"},
	}
	for _, tc := range tests {
		if got := URLs(tc.in); got != tc.want {
			t.Errorf("URLs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
