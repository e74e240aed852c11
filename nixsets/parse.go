package nixsets

import "github.com/laingville/laingfile"

// ParseOptions are the options every Laingfile of this release is parsed with: its package sets
// and built-in overlays, and the build's arguments (nil when there are none).
func ParseOptions(buildArgs map[string]string) laingfile.Options {
	return laingfile.Options{KnownSets: Names(), KnownOverlays: OverlayNames(), BuildArgs: buildArgs}
}
