package nixsets

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/laingville/laingfile/internal/nar"
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
	name, err := lock.resolve([]string{input})
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
		if l.URL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return Pin{}, fmt.Errorf("flake.lock: %s.url %q is not an http(s) URL", where, l.URL)
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

// resolve walks a path of input names from the root to a node name: the root's input, then
// that node's input, and so on. An input is a node name or, for "follows", a path from the root.
func (l *flakeLock) resolve(path []string) (string, error) {
	return l.resolveDepth(path, 0)
}

func (l *flakeLock) resolveDepth(path []string, depth int) (string, error) {
	if depth > 32 {
		return "", fmt.Errorf("flake.lock: the follows of input %q go round in a circle", strings.Join(path, "/"))
	}
	node := l.Root
	for i, name := range path {
		n, ok := l.Nodes[node]
		if !ok {
			return "", fmt.Errorf("flake.lock: input %q refers to node %q, which is not in nodes", strings.Join(path[:i+1], "/"), node)
		}
		ref, ok := n.Inputs[name]
		if !ok {
			return "", fmt.Errorf("flake.lock: node %q has no input %q", node, name)
		}
		switch r := ref.(type) {
		case string:
			node = r
		case []any:
			follows := make([]string, 0, len(r))
			for _, x := range r {
				s, ok := x.(string)
				if !ok {
					return "", fmt.Errorf("flake.lock: input %q follows %v, not a list of input names", strings.Join(path[:i+1], "/"), r)
				}
				follows = append(follows, s)
			}
			if len(follows) == 0 {
				// An empty follows means the flake itself, which is not a nixpkgs.
				return "", fmt.Errorf("flake.lock: input %q follows the flake itself", strings.Join(path[:i+1], "/"))
			}
			target, err := l.resolveDepth(follows, depth+1)
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
	return node, nil
}
