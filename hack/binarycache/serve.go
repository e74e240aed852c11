package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// The prefixes the server answers under, besides push/<name>.
const (
	prefixSigned   = "signed"   // DIR/signed, public
	prefixUnsigned = "unsigned" // DIR/unsigned, public
	prefixPrivate  = "private"  // DIR/signed, token required
	prefixPush     = "push"     // push/<name>: a writable cache per name, token required
	statsPath      = "/_stats/"
)

// realm is the HTTP Basic realm of the caches that need the token.
const realm = "laingfile-test-cache"

// cacheInfo is every prefix's nix-cache-info.
const cacheInfo = "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n"

// maxUpload bounds one PUT (a NAR of the fixture universe is a few MiB).
const maxUpload = 1 << 30

// pushNameRe is a push cache's name: one path segment of plain characters.
var pushNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Stats counts the requests of one prefix since the server started.
type Stats struct {
	Narinfo        int64 `json:"narinfo"`        // narinfo GETs answered 200
	NarinfoMissing int64 `json:"narinfoMissing"` // narinfo GETs answered 404
	Nar            int64 `json:"nar"`            // GETs of files under nar/ answered 200
	Put            int64 `json:"put"`            // files stored by PUT
	Refused        int64 `json:"refused"`        // requests answered 401 or 403
}

// server serves the caches in root (signed/, unsigned/) and the push caches in pushDir.
type server struct {
	root    string
	pushDir string
	token   string
	log     *log.Logger // one line per request

	mu    sync.Mutex
	stats map[string]*Stats
}

func newServer(root, pushDir, token string, logger *log.Logger) *server {
	return &server{root: root, pushDir: pushDir, token: token, log: logger, stats: map[string]*Stats{}}
}

func runServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:5001", "listen address")
	root := fs.String("root", "", "directory made by `binarycache make` (required)")
	pushDir := fs.String("push-dir", "", "directory of the push caches (default ROOT/../push)")
	tokenFile := fs.String("token-file", "", "file with the token of /private and /push (required)")
	parseFlags(fs, args)
	if *root == "" || *tokenFile == "" {
		return errors.New("serve: -root DIR and -token-file FILE are required")
	}
	if *pushDir == "" {
		*pushDir = filepath.Join(filepath.Dir(filepath.Clean(*root)), "push")
	}
	data, err := os.ReadFile(*tokenFile)
	if err != nil {
		return err
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		return fmt.Errorf("%s is empty", *tokenFile)
	}
	if err := os.MkdirAll(*pushDir, 0o755); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newServer(*root, *pushDir, token, log.Default()), ReadHeaderTimeout: 30 * time.Second}
	ctx, cancel := signalContext()
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdown, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		_ = srv.Shutdown(shutdown) // lets requests in flight finish
	}()
	log.Printf("serving %s (signed, unsigned, private) and %s (push/<name>) on http://%s", *root, *pushDir, ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-stopped
	log.Printf("stopped")
	return nil
}

// route is what a request path names: a prefix ("signed", "push/NAME", …), the directory that
// holds its files, the file relative to it, and whether the token is needed.
type route struct {
	Prefix   string
	Dir      string
	File     string
	Auth     bool
	Writable bool
}

var (
	// errBadPath is a request path that names nothing the server has (404).
	errBadPath = errors.New("no such cache")
	// errBadSegment is a path with an empty, "." or ".." segment (400), refused before
	// anything is opened.
	errBadSegment = errors.New("bad path segment")
)

// parseRoute maps a request path to its route. A path with an empty, "." or ".." segment is
// refused, whatever it would clean to.
func (s *server) parseRoute(p string) (route, error) {
	if !strings.HasPrefix(p, "/") || p == "/" {
		return route{}, errBadPath
	}
	segs := strings.Split(p[1:], "/")
	for _, seg := range segs {
		if seg == "" || seg == "." || seg == ".." || strings.ContainsRune(seg, '\\') || strings.ContainsRune(seg, 0) {
			return route{}, fmt.Errorf("%w %q", errBadSegment, seg)
		}
	}
	if len(segs) < 2 {
		return route{}, errBadPath
	}
	file := strings.Join(segs[1:], "/")
	switch segs[0] {
	case prefixSigned, prefixUnsigned:
		return route{Prefix: segs[0], Dir: filepath.Join(s.root, segs[0]), File: file}, nil
	case prefixPrivate:
		return route{Prefix: prefixPrivate, Dir: filepath.Join(s.root, prefixSigned), File: file, Auth: true}, nil
	case prefixPush:
		if len(segs) < 3 || !pushNameRe.MatchString(segs[1]) {
			return route{}, fmt.Errorf("%w: want /push/NAME/FILE with NAME of [A-Za-z0-9._-]", errBadPath)
		}
		return route{Prefix: prefixPush + "/" + segs[1], Dir: filepath.Join(s.pushDir, segs[1]),
			File: strings.Join(segs[2:], "/"), Auth: true, Writable: true}, nil
	}
	return route{}, errBadPath
}

// validPrefix reports whether stats may be asked for prefix.
func validPrefix(prefix string) bool {
	switch prefix {
	case prefixSigned, prefixUnsigned, prefixPrivate:
		return true
	}
	name, ok := strings.CutPrefix(prefix, prefixPush+"/")
	return ok && pushNameRe.MatchString(name)
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	s.serve(rec, r)
	s.log.Printf("%s %s %d %d", r.Method, r.URL.Path, rec.status, rec.bytes)
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	if prefix, ok := strings.CutPrefix(r.URL.Path, statsPath); ok {
		s.serveStats(w, r, prefix)
		return
	}
	rt, err := s.parseRoute(r.URL.Path)
	if err != nil {
		status := http.StatusNotFound
		if errors.Is(err, errBadSegment) {
			status = http.StatusBadRequest
		}
		http.Error(w, err.Error(), status)
		return
	}
	if rt.Auth && !s.authorize(w, r, rt.Prefix) {
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.serveFile(w, r, rt)
	case http.MethodPut:
		if !rt.Writable {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "read-only cache", http.StatusMethodNotAllowed)
			return
		}
		s.storeFile(w, r, rt)
	default:
		allow := "GET, HEAD"
		if rt.Writable {
			allow += ", PUT"
		}
		w.Header().Set("Allow", allow)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// authorize wants HTTP Basic auth whose password is the token (any user name: Nix sends the
// netrc's login): 401 without credentials, 403 with a wrong token.
func (s *server) authorize(w http.ResponseWriter, r *http.Request, prefix string) bool {
	_, password, ok := r.BasicAuth()
	switch {
	case !ok:
		s.count(prefix, func(st *Stats) { st.Refused++ })
		w.Header().Set("WWW-Authenticate", `Basic realm="`+realm+`"`)
		http.Error(w, "this cache needs the token (HTTP Basic auth, any user)", http.StatusUnauthorized)
		return false
	case subtle.ConstantTimeCompare([]byte(password), []byte(s.token)) != 1:
		s.count(prefix, func(st *Stats) { st.Refused++ })
		http.Error(w, "wrong token", http.StatusForbidden)
		return false
	}
	return true
}

func (s *server) serveFile(w http.ResponseWriter, r *http.Request, rt route) {
	if rt.File == "nix-cache-info" {
		w.Header().Set("Content-Type", "text/x-nix-cache-info")
		http.ServeContent(w, r, "nix-cache-info", time.Time{}, strings.NewReader(cacheInfo))
		return
	}
	kind := fileKind(rt.File)
	f, info, err := openInRoot(rt.Dir, rt.File)
	if err != nil {
		if r.Method == http.MethodGet && kind == "narinfo" {
			s.count(rt.Prefix, func(st *Stats) { st.NarinfoMissing++ })
		}
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Printf("%s: %v", r.URL.Path, err)
		}
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	if r.Method == http.MethodGet {
		switch kind {
		case "narinfo":
			s.count(rt.Prefix, func(st *Stats) { st.Narinfo++ })
		case "nar":
			s.count(rt.Prefix, func(st *Stats) { st.Nar++ })
		}
	}
	if kind == "narinfo" {
		w.Header().Set("Content-Type", "text/x-nix-narinfo")
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	http.ServeContent(w, r, "", info.ModTime(), f)
}

// fileKind is "narinfo", "nar" or "" (nix-cache-info, logs, listings, …).
func fileKind(file string) string {
	switch {
	case strings.HasSuffix(file, ".narinfo") && !strings.Contains(file, "/"):
		return "narinfo"
	case strings.HasPrefix(file, "nar/"):
		return "nar"
	}
	return ""
}

// openInRoot opens a regular file under dir, never leaving dir (a symlink out of it fails).
// A missing dir is a missing file: the caches may not be made yet, a push cache not used yet.
func openInRoot(dir, file string) (*os.File, os.FileInfo, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, err
	}
	defer root.Close()
	f, err := root.Open(filepath.FromSlash(file))
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w (not a regular file)", file, fs.ErrNotExist)
	}
	return f, info, nil
}

// storeFile writes the body to a temporary file next to the target and renames it into place,
// so that a reader sees the whole file or none. The push cache's directory is made by its
// first PUT.
func (s *server) storeFile(w http.ResponseWriter, r *http.Request, rt route) {
	if err := s.store(rt, http.MaxBytesReader(w, r.Body, maxUpload)); err != nil {
		s.log.Printf("PUT %s: %v", r.URL.Path, err)
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot store the file", http.StatusInternalServerError)
		return
	}
	s.count(rt.Prefix, func(st *Stats) { st.Put++ })
	w.WriteHeader(http.StatusCreated)
}

func (s *server) store(rt route, body io.Reader) error {
	top, err := os.OpenRoot(s.pushDir)
	if err != nil {
		return err
	}
	defer top.Close()
	name := path.Base(rt.Dir)
	if err := top.Mkdir(name, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	root, err := top.OpenRoot(name)
	if err != nil {
		return err
	}
	defer root.Close()
	file := filepath.FromSlash(rt.File)
	if d := filepath.Dir(file); d != "." {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	var suffix [8]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(file), ".tmp-"+filepath.Base(file)+"-"+hex.EncodeToString(suffix[:]))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, file)
	}
	if err != nil {
		_ = root.Remove(tmp)
	}
	return err
}

func (s *server) count(prefix string, f func(*Stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats[prefix]
	if st == nil {
		st = &Stats{}
		s.stats[prefix] = st
	}
	f(st)
}

// serveStats answers GET /_stats/<prefix> with that prefix's Stats (zero before its first
// request), and GET /_stats/ with every prefix's, by prefix.
func (s *server) serveStats(w http.ResponseWriter, r *http.Request, prefix string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	s.mu.Lock()
	var v any
	if prefix == "" {
		all := map[string]Stats{}
		keys := make([]string, 0, len(s.stats))
		for k := range s.stats {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			all[k] = *s.stats[k]
		}
		v = all
	} else if validPrefix(prefix) {
		var st Stats
		if p := s.stats[prefix]; p != nil {
			st = *p
		}
		v = st
	}
	s.mu.Unlock()
	if v == nil {
		http.Error(w, "no such prefix: want signed, unsigned, private or push/NAME", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// statusRecorder keeps the status and size of a response for the log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (r *statusRecorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (ServeContent, MaxBytesReader).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
