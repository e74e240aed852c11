package nixsets

import (
	"embed"
	"sort"
	"strings"
)

//go:embed overlays/*.nix
var overlayFiles embed.FS

// Overlay is a built-in overlay: its name in a Laingfile and its Nix source.
type Overlay struct {
	Name   string
	Source []byte
}

// Overlays returns the built-in overlays, sorted by name.
func Overlays() []Overlay {
	entries, err := overlayFiles.ReadDir("overlays")
	if err != nil {
		return nil // the directory is embedded; it cannot be missing
	}
	var out []Overlay
	for _, e := range entries {
		src, err := overlayFiles.ReadFile("overlays/" + e.Name())
		if err != nil {
			continue
		}
		out = append(out, Overlay{Name: strings.TrimSuffix(e.Name(), ".nix"), Source: src})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// OverlayNames returns the names of the built-in overlays.
func OverlayNames() []string {
	var names []string
	for _, o := range Overlays() {
		names = append(names, o.Name)
	}
	return names
}
