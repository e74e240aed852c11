package devshell

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// ChangeKind is what writing the files does to one path.
type ChangeKind int

const (
	// Create writes a file that is missing.
	Create ChangeKind = iota
	// Update rewrites a generated file whose contents differ.
	Update
	// Remove deletes a file under Dir that the Laingfile no longer gives.
	Remove
)

// Change is one file that writing the generated files changes.
type Change struct {
	Path string
	Kind ChangeKind
}

// Why says what makes the file out of date, for `laing shell --check`.
func (c Change) Why() string {
	switch c.Kind {
	case Create:
		return "is missing"
	case Update:
		return "differs from what the Laingfile gives"
	default:
		return "is no longer generated from the Laingfile"
	}
}

// Done says what writing did to the file.
func (c Change) Done() string {
	switch c.Kind {
	case Create:
		return "wrote"
	case Update:
		return "updated"
	default:
		return "removed"
	}
}

func (k ChangeKind) String() string {
	switch k {
	case Create:
		return "create"
	case Update:
		return "update"
	case Remove:
		return "remove"
	}
	return fmt.Sprintf("ChangeKind(%d)", int(k))
}

// Plan compares files with a project's current ones, existing (by path: every file under Dir,
// and the entry points that exist), and returns what writing files changes, by path. Entry
// points that exist are never changed. No change means that the generated files are current.
func Plan(files []File, existing map[string][]byte) []Change {
	var changes []Change
	wanted := map[string]bool{}
	for _, f := range files {
		wanted[f.Path] = true
		have, ok := existing[f.Path]
		switch {
		case !ok:
			changes = append(changes, Change{f.Path, Create})
		case !f.EntryPoint && !bytes.Equal(have, f.Data):
			changes = append(changes, Change{f.Path, Update})
		}
	}
	for p := range existing {
		if strings.HasPrefix(p, Dir+"/") && !wanted[p] {
			changes = append(changes, Change{p, Remove})
		}
	}
	slices.SortFunc(changes, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	return changes
}
