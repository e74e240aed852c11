package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
)

// buildCase is one `docker buildx build` of the benchmark.
type buildCase struct {
	label     string // "1 cold"
	about     string // what the case does
	daemon    *daemon
	laingfile []byte
	tag       string // of the pushed image: 127.0.0.1:5000/incrbench/EXAMPLE-TARGET:NONCE-TAG
	cacheTo   string // --cache-to type=local,dest=…,mode=max
	cacheFrom string // --cache-from type=local,src=…
}

// caseResult is what one build took, from its progress.
type caseResult struct {
	buildCase
	ref  string
	wall time.Duration

	vertices map[digest.Digest]*client.Vertex
	statuses map[string]*client.VertexStatus // by vertex and id
	logs     map[digest.Digest]*bytes.Buffer
	text     []string // lines that are not progress: buildx's own messages
}

// build writes the case's build context (a copy of the example with the case's Laingfile),
// runs docker buildx build with the frontend pinned by digest, and reads its progress.
func (b *bench) build(ctx context.Context, bc buildCase) (*caseResult, error) {
	dir := filepath.Join(b.work, "context-"+bc.tag)
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(b.root, "examples", b.example))); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "Laingfile"), bc.laingfile, 0o644); err != nil {
		return nil, err
	}
	r := &caseResult{buildCase: bc, ref: fmt.Sprintf("%s/incrbench/%s-%s:%s-%s", registry, b.example, b.target, b.nonce, bc.tag),
		vertices: map[digest.Digest]*client.Vertex{}, statuses: map[string]*client.VertexStatus{}, logs: map[digest.Digest]*bytes.Buffer{}}
	b.later(func() error { return deleteImage(r.ref) })

	args := []string{"buildx", "build", "--builder", bc.daemon.name, "--progress", "rawjson",
		"--build-arg", "BUILDKIT_SYNTAX=" + b.frontend,
		"-f", "Laingfile", "--target", b.target, "--platform", b.platform,
		"--build-context", "nix-builder=docker-image://" + b.builder,
		"--output", "type=image,name=" + r.ref + ",push=true",
		"--secret", "id=" + secretID + ",src=" + tokenFile}
	if bc.cacheTo != "" {
		args = append(args, "--cache-to", "type=local,dest="+bc.cacheTo+",mode=max")
	}
	if bc.cacheFrom != "" {
		args = append(args, "--cache-from", "type=local,src="+bc.cacheFrom)
	}
	fmt.Printf("==> case %s: %s\n", bc.label, bc.about)
	cmd := exec.CommandContext(ctx, "docker", append(args, ".")...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	r.wall = time.Since(start)
	if b.logs != "" {
		if err := os.MkdirAll(b.logs, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(b.logs, "case-"+bc.tag+".json"), out.Bytes(), 0o644); err != nil {
			return nil, err
		}
	}
	r.parse(&out)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("case %s: interrupted", bc.label)
	}
	if err != nil {
		return nil, fmt.Errorf("case %s: docker buildx build: %v\n%s", bc.label, err, r.failure())
	}
	fmt.Printf("    %.1fs\n", r.wall.Seconds())
	return r, nil
}

// parse reads buildx's rawjson progress: a client.SolveStatus a line, the latest state of each
// vertex and sub-step winning but for its first start; other lines are kept as text.
func (r *caseResult) parse(out *bytes.Buffer) {
	s := bufio.NewScanner(out)
	s.Buffer(make([]byte, 1<<20), 64<<20)
	for s.Scan() {
		line := s.Bytes()
		var st client.SolveStatus
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &st) != nil {
			r.text = append(r.text, string(line))
			continue
		}
		for _, v := range st.Vertexes {
			// A vertex is reported again as it progresses: keep its first start.
			if prev := r.vertices[v.Digest]; prev != nil && prev.Started != nil && (v.Started == nil || prev.Started.Before(*v.Started)) {
				v.Started = prev.Started
			}
			r.vertices[v.Digest] = v
		}
		for _, vs := range st.Statuses {
			if prev := r.statuses[vs.Vertex.String()+" "+vs.ID]; prev != nil && prev.Started != nil && (vs.Started == nil || prev.Started.Before(*vs.Started)) {
				vs.Started = prev.Started
			}
			r.statuses[vs.Vertex.String()+" "+vs.ID] = vs
		}
		for _, l := range st.Logs {
			if r.logs[l.Vertex] == nil {
				r.logs[l.Vertex] = &bytes.Buffer{}
			}
			r.logs[l.Vertex].Write(l.Data)
		}
	}
}

// failure is what to show when the build failed: the failed steps with the end of their
// output, and buildx's messages.
func (r *caseResult) failure() string {
	var sb strings.Builder
	for d, v := range r.vertices {
		if v.Error == "" {
			continue
		}
		fmt.Fprintf(&sb, "step %q failed: %s\n", v.Name, v.Error)
		if l := r.logs[d]; l != nil {
			fmt.Fprintf(&sb, "%s\n", tail(l.String(), 30))
		}
	}
	sb.WriteString(tail(strings.Join(r.text, "\n"), 20))
	return sb.String()
}

// The kinds of steps the table shows, by progress name. A layer's steps without inputs only
// write the files its copy step reads (BuildKit runs such a step again even when the steps
// that use it are cache hits, and may start it long before it runs): they are left out.
var (
	isNix      = func(v *client.Vertex) bool { return strings.HasPrefix(v.Name, "nix: realise ") }
	isLayer    = func(v *client.Vertex) bool { return strings.HasPrefix(v.Name, "layer ") && len(v.Inputs) > 0 }
	isExport   = func(v *client.Vertex) bool { return strings.HasPrefix(v.Name, "exporting to ") }
	isCacheOut = func(v *client.Vertex) bool {
		return strings.Contains(v.Name, "cache") && strings.Contains(v.Name, "export")
	}
	layerIndexRe = regexp.MustCompile(`^layer (\d+)/(\d+) `)
)

type interval struct{ from, to time.Time }

// union is the time during which at least one of the intervals runs.
func union(ivs []interval) time.Duration {
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].from.Before(ivs[j].from) })
	var total time.Duration
	var cur interval
	for i, iv := range ivs {
		switch {
		case i == 0:
			cur = iv
		case !iv.from.After(cur.to):
			if iv.to.After(cur.to) {
				cur.to = iv.to
			}
		default:
			total += cur.to.Sub(cur.from)
			cur = iv
		}
	}
	if len(ivs) > 0 {
		total += cur.to.Sub(cur.from)
	}
	return total
}

// span is the time during which at least one matching step ran, not from the cache (steps run
// in parallel).
func (r *caseResult) span(match func(*client.Vertex) bool) time.Duration {
	var ivs []interval
	for _, v := range r.vertices {
		if match(v) && !v.Cached && v.Started != nil && v.Completed != nil {
			ivs = append(ivs, interval{*v.Started, *v.Completed})
		}
	}
	return union(ivs)
}

// ran reports whether any matching step ran (rather than coming from the cache).
func (r *caseResult) ran(match func(*client.Vertex) bool) bool {
	for _, v := range r.vertices {
		if match(v) && !v.Cached {
			return true
		}
	}
	return false
}

// layers counts the image's store layers and those whose steps ran (not from the cache).
func (r *caseResult) layers() (ran, total int) {
	seen := map[string]bool{}
	for _, v := range r.vertices {
		m := layerIndexRe.FindStringSubmatch(v.Name)
		if m == nil {
			continue
		}
		total, _ = strconv.Atoi(m[2])
		seen[m[1]] = seen[m[1]] || (isLayer(v) && !v.Cached)
	}
	for _, executed := range seen {
		if executed {
			ran++
		}
	}
	return ran, total
}

// statusSpan is the time during which at least one of the steps' sub-steps whose id starts
// with prefix ran: "exporting layers" (compressing), "pushing layers", "extracting" (unpacking
// image layers and cached results), "preparing build cache for export".
func (r *caseResult) statusSpan(prefix string) time.Duration {
	var ivs []interval
	for _, s := range r.statuses {
		if strings.HasPrefix(s.ID, prefix) && s.Started != nil && s.Completed != nil {
			ivs = append(ivs, interval{*s.Started, *s.Completed})
		}
	}
	return union(ivs)
}

// errors counts buildx's own ERROR lines (not the build's error, which fails the case).
func (r *caseResult) errors() int {
	n := 0
	for _, l := range r.text {
		if strings.HasPrefix(l, "ERROR: ") {
			n++
		}
	}
	return n
}

// nixLog is the output of the Nix step(s).
func (r *caseResult) nixLog() string {
	var sb strings.Builder
	for d, v := range r.vertices {
		if isNix(v) && r.logs[d] != nil {
			sb.Write(r.logs[d].Bytes())
		}
	}
	return sb.String()
}

var (
	planRe   = regexp.MustCompile(`nix: realising: (\d+) paths to substitute(?: \(([\d.]+) (\w+) download\))?, (\d+) to build`)
	countsRe = regexp.MustCompile(`nix: substituted (\d+) paths, built (\d+)`)
	copiedRe = regexp.MustCompile(`copying path '(/nix/store/[^']+)' from '([^']+)'`)
)

// nixSummary is the Nix step's plan and account, as build.sh prints them, or "cached".
func (r *caseResult) nixSummary() string {
	if !r.ran(isNix) {
		return "cached"
	}
	log := r.nixLog()
	var parts []string
	if m := planRe.FindStringSubmatch(log); m != nil {
		p := "plan: " + m[1] + " to fetch"
		if m[2] != "" {
			p += " (" + m[2] + " " + m[3] + ")"
		}
		parts = append(parts, p+", "+m[4]+" to build")
	}
	if m := countsRe.FindStringSubmatch(log); m != nil {
		parts = append(parts, "fetched "+m[1]+", built "+m[2])
	}
	if len(parts) == 0 {
		return "ran (no plan in its output)"
	}
	return strings.Join(parts, "; ")
}

// copied are the store paths Nix copied from a binary cache in any step, as Nix logs them.
func (r *caseResult) copied() map[string]bool {
	paths := map[string]bool{}
	for _, l := range r.logs {
		for _, m := range copiedRe.FindAllStringSubmatch(l.String(), -1) {
			paths[m[1]] = true
		}
	}
	return paths
}

// idle is the wall time during which no step ran: buildx, the frontend's own work (reading
// the Laingfile, planning, making LLB) and BuildKit's solving.
func (r *caseResult) idle() time.Duration {
	var ivs []interval
	for _, v := range r.vertices {
		if v.Started != nil && v.Completed != nil {
			ivs = append(ivs, interval{*v.Started, *v.Completed})
		}
	}
	return r.wall - union(ivs)
}

// slowest are the n longest executed steps, "12.3s name". File steps without inputs (writing
// a step's script and list, mkdir) are left out: BuildKit reports them as running until the
// step that reads them starts, however long that waits.
func (r *caseResult) slowest(n int) []string {
	var vs []*client.Vertex
	for _, v := range r.vertices {
		source := strings.HasPrefix(v.Name, "[") || strings.Contains(v.Name, "://") ||
			strings.HasPrefix(v.Name, "resolve ") || strings.HasPrefix(v.Name, "exporting ") || strings.HasPrefix(v.Name, "importing ")
		if !v.Cached && v.Started != nil && v.Completed != nil && (len(v.Inputs) > 0 || source) {
			vs = append(vs, v)
		}
	}
	sort.Slice(vs, func(i, j int) bool { return dur(vs[i]) > dur(vs[j]) })
	var out []string
	for _, v := range vs[:min(n, len(vs))] {
		name := v.Name
		if len(name) > 90 {
			name = name[:87] + "..."
		}
		out = append(out, fmt.Sprintf("%6.1fs  %s", dur(v).Seconds(), name))
	}
	return out
}

func dur(v *client.Vertex) time.Duration { return v.Completed.Sub(*v.Started) }
