package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The binary cache server of the environment (hack/binarycache, served by hack/env.sh): its
// keys, its push caches' directory and its request log, which has the bytes of every response.
const (
	cacheKeys    = "/var/cache/laingfile/binarycache/cache/keys" // LAINGFILE_BINARY_CACHE/keys
	cachePushDir = "/var/lib/laingfile/binarycache-push"         // hack/env.sh's BINARY_CACHE_PUSH
	cacheLog     = "/var/log/laingfile/binarycache.log"          // LAINGFILE_LOGS/binarycache.log
)

// binaryCache is the push cache /push/NAME of the server: the stand-in for cache.nixos.org.
type binaryCache struct {
	name, token, publicKey string
	byPath, byURL          map[string]narinfo // filled by fill
}

type narinfo struct {
	path, url         string
	fileSize, narSize int64
}

// fetched is what case 4 got from the binary cache.
type fetched struct {
	narinfos, nars int64 // GETs answered 200, from the server's counters
	wireBytes      int64 // bytes of the NAR responses, from the server's log; -1 if unknown
	narBytes       int64 // NAR bytes of the store paths served
	paths          int
	source         string // where the paths come from
}

type cacheSnapshot struct {
	stats     cacheStats
	logOffset int64 // -1 without a log
}

// cacheStats is GET /_stats/push/NAME (test/testenv.CacheStats).
type cacheStats struct {
	Narinfo int64 `json:"narinfo"`
	Nar     int64 `json:"nar"`
}

func newBinaryCache(ctx context.Context, name string) (*binaryCache, error) {
	c := &binaryCache{name: name}
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("the binary cache token (run hack/setup.sh): %v", err)
	}
	key, err := os.ReadFile(filepath.Join(cacheKeys, "public"))
	if err != nil {
		return nil, fmt.Errorf("the binary cache key (run hack/setup.sh): %v", err)
	}
	c.token, c.publicKey = strings.TrimSpace(string(token)), strings.TrimSpace(string(key))
	if _, err := os.Stat(filepath.Join(cacheKeys, "secret")); err != nil {
		return nil, fmt.Errorf("the binary cache's signing key (run hack/setup.sh): %v", err)
	}
	if _, err := c.get(ctx, c.url()+"/nix-cache-info"); err != nil {
		return nil, fmt.Errorf("the binary cache server (run hack/setup.sh): %v", err)
	}
	return c, nil
}

func (c *binaryCache) url() string { return cacheBase + "/push/" + c.name }

// remove deletes the push cache from the server's directory.
func (c *binaryCache) remove() error {
	if !strings.HasPrefix(c.name, "incrbench-") {
		return nil
	}
	return os.RemoveAll(filepath.Join(cachePushDir, c.name))
}

// fill copies store paths of the host's chroot store into the cache, signed with the
// environment's key, and reads their narinfos back.
func (c *binaryCache) fill(ctx context.Context, h *host, paths []string) (time.Duration, error) {
	netrc := filepath.Join(h.work, "netrc")
	if err := os.WriteFile(netrc, []byte("machine 127.0.0.1 login incrbench password "+c.token+"\n"), 0o600); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := h.copyTo(ctx, c.url(), filepath.Join(cacheKeys, "secret"), netrc, paths); err != nil {
		return 0, err
	}
	took := time.Since(start)
	c.byPath, c.byURL = map[string]narinfo{}, map[string]narinfo{}
	for _, p := range paths {
		hash, _, _ := strings.Cut(path.Base(p), "-")
		body, err := c.get(ctx, c.url()+"/"+hash+".narinfo")
		if err != nil {
			return 0, err
		}
		ni := narinfo{}
		for _, line := range strings.Split(body, "\n") {
			k, v, _ := strings.Cut(line, ": ")
			switch k {
			case "StorePath":
				ni.path = v
			case "URL":
				ni.url = v
			case "FileSize":
				ni.fileSize, _ = strconv.ParseInt(v, 10, 64)
			case "NarSize":
				ni.narSize, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		if ni.path != p || ni.url == "" {
			return 0, fmt.Errorf("the narinfo of %s in the binary cache is not that path's:\n%s", p, body)
		}
		c.byPath[p], c.byURL[ni.url] = ni, ni
	}
	return took, nil
}

func (c *binaryCache) snapshot(ctx context.Context) (cacheSnapshot, error) {
	var s cacheSnapshot
	var err error
	if s.stats, err = c.stats(ctx); err != nil {
		return s, err
	}
	s.logOffset = -1
	if info, err := os.Stat(cacheLog); err == nil {
		s.logOffset = info.Size()
	}
	return s, nil
}

func (c *binaryCache) stats(ctx context.Context) (cacheStats, error) {
	var st cacheStats
	body, err := c.get(ctx, cacheBase+"/_stats/push/"+c.name)
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal([]byte(body), &st)
}

// fetchedSince is what the cache served since the snapshot: the counts from the server's
// counters, the NARs and their bytes from its log, or when there is no log, the paths that
// Nix's output in the build says it copied.
func (c *binaryCache) fetchedSince(ctx context.Context, s cacheSnapshot, r *caseResult) (fetched, error) {
	st, err := c.stats(ctx)
	if err != nil {
		return fetched{}, err
	}
	f := fetched{narinfos: st.Narinfo - s.stats.Narinfo, nars: st.Nar - s.stats.Nar, wireBytes: -1}
	if s.logOffset >= 0 {
		if served, err := c.servedSince(s.logOffset); err == nil && int64(len(served)) == f.nars {
			f.wireBytes, f.source = 0, "the server's log"
			distinct := map[string]bool{}
			for _, n := range served {
				f.wireBytes += n.bytes
				f.narBytes += c.byURL[n.url].narSize
				distinct[n.url] = true
			}
			f.paths = len(distinct)
			return f, nil
		}
	}
	f.source = "Nix's log"
	for p := range r.copied() {
		f.narBytes += c.byPath[p].narSize
		f.paths++
	}
	return f, nil
}

type served struct {
	url   string // nar/….nar.zst
	bytes int64
}

// servedSince reads the server's log from offset: the NARs of this cache it answered with 200,
// and the bytes of each response.
func (c *binaryCache) servedSince(offset int64) ([]served, error) {
	f, err := os.Open(cacheLog)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, err
	}
	re := regexp.MustCompile(`GET /push/` + regexp.QuoteMeta(c.name) + `/(nar/\S+) 200 (\d+)$`)
	var list []served
	s := bufio.NewScanner(f)
	for s.Scan() {
		if m := re.FindStringSubmatch(s.Text()); m != nil {
			n, _ := strconv.ParseInt(m[2], 10, 64)
			list = append(list, served{m[1], n})
		}
	}
	return list, s.Err()
}

// get GETs a URL of the server with the token.
func (c *binaryCache) get(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth("incrbench", c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body), nil
}
