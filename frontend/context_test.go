package frontend

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"sort"
	"strings"

	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	fstypes "github.com/tonistiigi/fsutil/types"
)

// fakeContext is a solved build context holding files (paths relative to its root, in any
// spelling: "./nix/app.nix", "nix/app.nix"), answering as BuildKit's gateway reference does.
type fakeContext struct {
	gwclient.Reference // nil: what the tests do not fake fails loudly
	files              map[string]string
	// reads are the requests ReadFile got.
	reads []gwclient.ReadRequest
}

func newFakeContext(files map[string]string) *fakeContext {
	c := &fakeContext{files: map[string]string{}}
	for name, data := range files {
		c.files[contextName(name)] = data
	}
	return c
}

// contextName is a path as the context's root names it: "nix/app.nix".
func contextName(p string) string { return path.Clean("/" + p)[1:] }

// isDir reports whether name is a directory: the root, or a parent of a file.
func (c *fakeContext) isDir(name string) bool {
	for f := range c.files {
		if name == "" || strings.HasPrefix(f, name+"/") {
			return true
		}
	}
	return false
}

func (c *fakeContext) StatFile(_ context.Context, req gwclient.StatRequest) (*fstypes.Stat, error) {
	name := contextName(req.Path)
	if data, ok := c.files[name]; ok {
		return &fstypes.Stat{Path: path.Base(name), Size: int64(len(data))}, nil
	}
	if c.isDir(name) {
		return &fstypes.Stat{Path: path.Base(name), Mode: uint32(fs.ModeDir | 0o755)}, nil
	}
	return nil, errors.New("stat " + req.Path + ": no such file or directory")
}

func (c *fakeContext) ReadDir(_ context.Context, req gwclient.ReadDirRequest) ([]*fstypes.Stat, error) {
	dir := contextName(req.Path)
	if !c.isDir(dir) {
		return nil, errors.New("open " + req.Path + ": no such file or directory")
	}
	seen := map[string]bool{}
	var entries []*fstypes.Stat
	for f := range c.files {
		rel, ok := strings.CutPrefix(f, dir+"/")
		if dir == "" {
			rel, ok = f, true
		}
		if name, _, _ := strings.Cut(rel, "/"); ok && !seen[name] {
			seen[name] = true
			entries = append(entries, &fstypes.Stat{Path: name})
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Path < entries[j].Path })
	return entries, nil
}

func (c *fakeContext) ReadFile(_ context.Context, req gwclient.ReadRequest) ([]byte, error) {
	c.reads = append(c.reads, req)
	data, ok := c.files[contextName(req.Filename)]
	if !ok {
		return nil, errors.New("open " + req.Filename + ": no such file or directory")
	}
	if req.Range != nil {
		data = data[min(req.Range.Offset, len(data)):min(req.Range.Offset+req.Range.Length, len(data))]
	}
	return []byte(data), nil
}
