package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// epoch is every entry's mtime: layer digests must depend on content only.
var epoch = time.Unix(1, 0).UTC()

// tarEntry is one file of a layer. name is relative to / without a trailing slash.
type tarEntry struct {
	name     string
	typ      byte // tar.TypeReg, tar.TypeDir, tar.TypeSymlink
	mode     int64
	linkname string
	data     []byte // contents of a regular file given inline
	src      string // or the file on disk to read them from
}

// layerTar writes entries as a tar with fixed owner, mtime and order, adding any
// missing parent directory (0755), so that the same entries always give the
// same bytes.
func layerTar(entries []tarEntry) ([]byte, error) {
	byName := map[string]tarEntry{}
	for _, e := range entries {
		if _, dup := byName[e.name]; dup {
			return nil, fmt.Errorf("%s is in the layer twice", e.name)
		}
		byName[e.name] = e
	}
	for _, e := range entries {
		for dir := path.Dir(e.name); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if _, ok := byName[dir]; !ok {
				byName[dir] = tarEntry{name: dir, typ: tar.TypeDir, mode: 0o755}
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	// Plain byte order puts every directory before its contents.
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		e := byName[n]
		hdr := &tar.Header{
			Typeflag: e.typ,
			Name:     e.name,
			Mode:     e.mode,
			ModTime:  epoch,
			Linkname: e.linkname,
			Format:   tar.FormatPAX,
		}
		data := e.data
		switch e.typ {
		case tar.TypeDir:
			hdr.Name += "/"
		case tar.TypeSymlink:
		case tar.TypeReg:
			if e.src != "" {
				b, err := os.ReadFile(e.src)
				if err != nil {
					return nil, err
				}
				data = b
			}
			hdr.Size = int64(len(data))
		default:
			return nil, fmt.Errorf("%s: unsupported entry type %q", e.name, e.typ)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// storePathEntries lists the content of store path p (read from dir) as a Nix
// store holds it: directories 0555, files 0444 or 0555, owned by root.
func storePathEntries(p, dir string) ([]tarEntry, error) {
	var entries []tarEntry
	err := filepath.WalkDir(dir, func(file string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, file)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(path.Join(p, filepath.ToSlash(rel)), "/")
		fi, err := os.Lstat(file)
		if err != nil {
			return err
		}
		switch mode := fi.Mode(); {
		case mode.IsDir():
			entries = append(entries, tarEntry{name: name, typ: tar.TypeDir, mode: 0o555})
		case mode&os.ModeSymlink != 0:
			link, err := os.Readlink(file)
			if err != nil {
				return err
			}
			entries = append(entries, tarEntry{name: name, typ: tar.TypeSymlink, mode: 0o777, linkname: link})
		case mode.IsRegular():
			perm := int64(0o444)
			if mode&0o100 != 0 {
				perm = 0o555
			}
			entries = append(entries, tarEntry{name: name, typ: tar.TypeReg, mode: perm, src: file})
		default:
			return fmt.Errorf("%s: unsupported file type %v", file, mode.Type())
		}
		return nil
	})
	return entries, err
}
