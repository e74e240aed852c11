package nixsets

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/laingville/laingfile/internal/nar"
	"github.com/laingville/laingfile/internal/redact"
)

// A Laingfile can follow an input of a flake.lock (`nixpkgs: {flakeLock: ./flake.lock}`), so that
// a project that also has a flake gets the same nixpkgs, and so the same store paths, in both.
// This file turns the lock's locked source of that input into a Pin.

// flakeLock is the part of a flake.lock (versions 5 to 7) that locates an input's source.
type flakeLock struct {
	Version int                  `json:"version"`
	Root    string               `json:"root"`
	Nodes   map[string]flakeNode `json:"nodes"`
}

type flakeNode struct {
	// Inputs maps an input name to a node name, or to a "follows" path of input names from
	// the root ([]any of strings).
	Inputs map[string]any  `json:"inputs"`
	Locked *flakeLockedRef `json:"locked"`
}

// flakeLockedRef is a locked source: the fields that the github and tarball types use.
type flakeLockedRef struct {
	Type    string `json:"type"`
	NarHash string `json:"narHash"`
	// github
	Owner string `json:"owner"`
	Repo  string `json:"repo"`
	Rev   string `json:"rev"`
	Host  string `json:"host"`
	// tarball
	URL string `json:"url"`
}

// UnknownInputError is a flake.lock without the requested input; Inputs are the names its root
// has, so that a caller can suggest the nearest.
type UnknownInputError struct {
	Input  string
	Inputs []string
}

func (e *UnknownInputError) Error() string {
	if len(e.Inputs) == 0 {
		return fmt.Sprintf("flake.lock has no input %q: it has no inputs at all", e.Input)
	}
	return fmt.Sprintf("flake.lock has no input %q; its inputs are: %s", e.Input, strings.Join(e.Inputs, ", "))
}

var (
	lockRevRe    = regexp.MustCompile(`^[0-9a-f]{40}$`)
	githubNameRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

// supportedLockTypes are the locked source types a Laingfile can follow.
const supportedLockTypes = `"github" and "tarball"`

// PinFromFlakeLock returns the pin of input in a flake.lock: the root's input, following
// "follows" paths, and its locked source, which must be of type github (fetched as GitHub's
// tarball of the commit, as Nix does) or tarball. Errors say what is wrong with the lock in
// terms of its JSON (nodes.<name>.locked.narHash, …), so that a user can find it.
func PinFromFlakeLock(data []byte, input string) (Pin, error) {
	return PinFromFlakeLockContext(context.Background(), data, input)
}

// MaxFlakeLockSize is the largest flake.lock read: a lock of a few hundred inputs is tens of
// kilobytes.
const MaxFlakeLockSize = 1 << 20

// maxFollowsDepth is how deeply follows may refer to follows; maxResolveSteps bounds the
// input names looked up in all, whatever the lock.
const (
	maxFollowsDepth = 32
	maxResolveSteps = 100_000
)

// PinFromFlakeLockContext is PinFromFlakeLock that stops when ctx is done.
func PinFromFlakeLockContext(ctx context.Context, data []byte, input string) (Pin, error) {
	if len(data) > MaxFlakeLockSize {
		return Pin{}, fmt.Errorf("flake.lock is %d bytes; expected a lock file of at most %d bytes (1 MiB)", len(data), MaxFlakeLockSize)
	}
	if err := ctx.Err(); err != nil {
		return Pin{}, fmt.Errorf("flake.lock: %w", err)
	}
	var lock flakeLock
	if err := json.Unmarshal(data, &lock); err != nil {
		return Pin{}, fmt.Errorf("flake.lock is not valid JSON: %v", err)
	}
	if lock.Version < 5 || lock.Version > 7 {
		return Pin{}, fmt.Errorf("flake.lock has version %d; lock files of versions 5 to 7 (Nix 2.4 and later) are supported", lock.Version)
	}
	if lock.Root == "" {
		lock.Root = "root"
	}
	root, ok := lock.Nodes[lock.Root]
	if !ok {
		return Pin{}, fmt.Errorf("flake.lock has no root node %q", lock.Root)
	}
	if _, ok := root.Inputs[input]; !ok {
		names := make([]string, 0, len(root.Inputs))
		for n := range root.Inputs {
			names = append(names, n)
		}
		sort.Strings(names)
		return Pin{}, &UnknownInputError{Input: input, Inputs: names}
	}
	name, err := lock.resolver(ctx, input).resolve([]string{input}, 0)
	if err != nil {
		return Pin{}, err
	}
	node := lock.Nodes[name]
	where := "nodes." + name + ".locked"
	if node.Locked == nil {
		return Pin{}, fmt.Errorf("flake.lock: input %q (node %q) has no %q", input, name, "locked")
	}
	l := node.Locked
	if l.NarHash == "" {
		return Pin{}, fmt.Errorf("flake.lock: %s has no narHash", where)
	}
	sum, ok := nar.ParseSHA256(l.NarHash)
	if !ok {
		return Pin{}, fmt.Errorf("flake.lock: %s.narHash %q is not a SHA-256 hash", where, l.NarHash)
	}
	hash := nar.SRI(sum)
	switch l.Type {
	case "github":
		if l.Host != "" && l.Host != "github.com" {
			return Pin{}, fmt.Errorf("flake.lock: input %q is on the GitHub host %q; only github.com is supported (use a tarball input with the archive URL)", input, l.Host)
		}
		switch {
		case !githubNameRe.MatchString(l.Owner) || !githubNameRe.MatchString(l.Repo):
			return Pin{}, fmt.Errorf("flake.lock: %s has owner %q and repo %q; expected a GitHub owner and repository", where, l.Owner, l.Repo)
		case !lockRevRe.MatchString(l.Rev):
			return Pin{}, fmt.Errorf("flake.lock: %s.rev %q is not a 40-character commit hash", where, l.Rev)
		}
		if strings.EqualFold(l.Owner, "NixOS") && strings.EqualFold(l.Repo, "nixpkgs") {
			return Pin{Rev: l.Rev, SHA256: hash}, nil
		}
		return Pin{Rev: l.Rev, URL: GitHubTarballURL(l.Owner, l.Repo, l.Rev), SHA256: hash}, nil
	case "tarball":
		u, err := url.Parse(l.URL)
		if l.URL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
			strings.ContainsFunc(l.URL, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return Pin{}, fmt.Errorf("flake.lock: %s.url %q is not an http(s) URL", where, redact.URLs(l.URL))
		}
		// The URL goes into the image (NIX_PATH) and the build's LLB: no credentials in it.
		if u.User != nil {
			return Pin{}, fmt.Errorf("flake.lock: %s.url %q has credentials in it; the build cannot keep them out of the image: lock a URL without them", where, redact.URLs(l.URL))
		}
		return Pin{URL: l.URL, SHA256: hash}, nil
	case "":
		return Pin{}, fmt.Errorf("flake.lock: %s has no type", where)
	default:
		return Pin{}, fmt.Errorf("flake.lock: input %q is locked as type %q, which the Laingfile cannot follow: the build step has no %s; the supported types are %s (e.g. inputs.nixpkgs.url = \"github:NixOS/nixpkgs/nixos-unstable\"), or pin nixpkgs with rev and sha256", input, l.Type, fetcherOf(l.Type), supportedLockTypes)
	}
}

// fetcherOf names what a lock type would need in the build step, for the error message.
func fetcherOf(typ string) string {
	switch typ {
	case "git":
		return "git"
	case "path":
		return "access to paths outside the build context"
	case "mercurial":
		return "Mercurial"
	case "indirect":
		return "flake registry (an indirect input should not be in a lock file at all)"
	}
	return "fetcher for it"
}

// resolver walks paths of input names from the root to node names. Each follows path is
// resolved once (memo), a path that needs itself is a circle, and the steps in all are
// bounded, so that no lock, however its follows fan out, takes more than a moment.
type resolver struct {
	ctx     context.Context
	input   string // the input asked for, for messages
	lock    *flakeLock
	memo    map[string]string
	pending map[string]bool
	steps   int
}

func (l *flakeLock) resolver(ctx context.Context, input string) *resolver {
	return &resolver{ctx: ctx, input: input, lock: l, memo: map[string]string{}, pending: map[string]bool{}}
}

// resolve walks a path of input names from the root to a node name: the root's input, then
// that node's input, and so on. An input is a node name or, for "follows", a path from the root.
func (r *resolver) resolve(path []string, depth int) (string, error) {
	key := strings.Join(path, "\x00")
	if node, ok := r.memo[key]; ok {
		return node, nil
	}
	if depth > maxFollowsDepth {
		return "", fmt.Errorf("flake.lock: the follows of input %q nest more than %d deep (down to %q); expected follows that lead to a node in a few steps", r.input, maxFollowsDepth, strings.Join(path, "/"))
	}
	r.pending[key] = true
	defer delete(r.pending, key)
	l := r.lock
	node := l.Root
	for i, name := range path {
		r.steps++
		if r.steps > maxResolveSteps {
			return "", fmt.Errorf("flake.lock: resolving input %q takes more than %d steps; expected follows that lead to a node in a few steps", r.input, maxResolveSteps)
		}
		if r.steps%1024 == 0 {
			if err := r.ctx.Err(); err != nil {
				return "", fmt.Errorf("flake.lock: %w", err)
			}
		}
		n, ok := l.Nodes[node]
		if !ok {
			return "", fmt.Errorf("flake.lock: input %q refers to node %q, which is not in nodes", strings.Join(path[:i+1], "/"), node)
		}
		ref, ok := n.Inputs[name]
		if !ok {
			return "", fmt.Errorf("flake.lock: node %q has no input %q", node, name)
		}
		switch ref := ref.(type) {
		case string:
			node = ref
		case []any:
			follows := make([]string, 0, len(ref))
			for _, x := range ref {
				s, ok := x.(string)
				if !ok {
					return "", fmt.Errorf("flake.lock: input %q follows %v, not a list of input names", strings.Join(path[:i+1], "/"), ref)
				}
				follows = append(follows, s)
			}
			if len(follows) == 0 {
				// An empty follows means the flake itself, which is not a nixpkgs.
				return "", fmt.Errorf("flake.lock: input %q follows the flake itself", strings.Join(path[:i+1], "/"))
			}
			if r.pending[strings.Join(follows, "\x00")] {
				return "", fmt.Errorf("flake.lock: the follows of input %q go round in a circle", strings.Join(path[:i+1], "/"))
			}
			target, err := r.resolve(follows, depth+1)
			if err != nil {
				return "", err
			}
			node = target
		default:
			return "", fmt.Errorf("flake.lock: input %q of node %q is %v, not a node name or a follows list", name, node, ref)
		}
	}
	if _, ok := l.Nodes[node]; !ok {
		return "", fmt.Errorf("flake.lock: input %q refers to node %q, which is not in nodes", strings.Join(path, "/"), node)
	}
	r.memo[key] = node
	return node, nil
}
