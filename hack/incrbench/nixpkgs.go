package main

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/laingville/laingfile/test/testenv"
)

// nixpkgsPin is the fixture universe as users pin nixpkgs: a source tarball on a web server
// (127.0.0.1 here, GitHub for them) named by `nixpkgs: {url, sha256}`. The Nix step fetches it
// into /nix once, and an unchanged Laingfile is a cache hit without reading it. (A `nixpkgs`
// build context directory instead is sent and checksummed by every build.)
type nixpkgsPin struct {
	url, sha256 string
}

// serveNixpkgs makes the tarball of the fixture (with the other system's bootstrap left out)
// and serves it until the bench ends.
func (b *bench) serveNixpkgs() (nixpkgsPin, error) {
	other := map[string]string{"x86_64-linux": "aarch64-linux", "aarch64-linux": "x86_64-linux"}[b.system]
	data, hash, err := testenv.NixpkgsTarball(b.host.fixture, b.work, []string{filepath.Join("bootstrap", other)}, nil)
	if err != nil {
		return nixpkgsPin{}, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nixpkgsPin{}, err
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/nixpkgs.tar.gz" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/gzip")
		_, _ = w.Write(data)
	})}
	go func() { _ = srv.Serve(l) }()
	b.later(srv.Close)
	pin := nixpkgsPin{url: fmt.Sprintf("http://%s/nixpkgs.tar.gz", l.Addr()), sha256: hash}
	fmt.Printf("    nixpkgs: the fixture as a %.0f MiB tarball, %s (%s)\n", float64(len(data))/(1<<20), pin.url, pin.sha256)
	return pin, nil
}
