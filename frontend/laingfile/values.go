package laingfile

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/laingville/laingfile/internal/nar"
)

// This file holds the validators for single values: hashes, revisions, paths, ports, signals and
// names. Each returns the normalised value, or a message saying what was expected.

var (
	targetNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	attrPathRe   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_'-]*(\.[A-Za-z_][A-Za-z0-9_'-]*)*$`)
	envNameRe    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	userNameRe   = regexp.MustCompile(`^[a-z_][a-z0-9_-]*$`)
	chownRe      = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$`)
	revRe        = regexp.MustCompile(`^[0-9a-fA-F]{40}$`)
	hexRe        = regexp.MustCompile(`^[0-9a-fA-F]+$`)
	// inputNameRe is a flake input name as flake.lock's root node lists it.
	inputNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_'-]*$`)
	// secretIDRe is a BuildKit secret id as `--secret id=…` takes it.
	secretIDRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	// loginRe is a netrc login: no blanks, which would split it.
	loginRe = regexp.MustCompile(`^[^\s"#]+$`)
)

// examplePublicKey is the signing key shown in messages about a bad substituter key.
const examplePublicKey = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="

// exampleHash is the NAR hash shown in messages about a bad sha256.
const exampleHash = "sha256-yxgb4AmkVHY5OOBrC79Vv6EVd4QZEotqv+6jcvA212M="

// normaliseSHA256 accepts a SHA-256 NAR hash as SRI ("sha256-" + 44 base64 characters, as in
// flake.lock), as Nix's 52-character base-32 form (as printed by nix-prefetch-url), or as 64 hex
// digits, and returns the SRI form.
func normaliseSHA256(s string) (string, string) {
	bad := func(why string) (string, string) {
		return "", "invalid sha256 " + strconv.Quote(s) + ": " + why + `; expected the NAR hash in SRI form "sha256-" followed by 44 base64 characters, as in flake.lock's narHash (e.g. ` + exampleHash + `)`
	}
	var digest []byte
	switch {
	case strings.HasPrefix(s, "sha256-"):
		b, err := base64.StdEncoding.Strict().DecodeString(s[len("sha256-"):])
		if err != nil || len(s) != len("sha256-")+44 {
			return bad("not valid base64 of 44 characters")
		}
		digest = b
	case strings.HasPrefix(s, "sha512-"), strings.HasPrefix(s, "sha1-"), strings.HasPrefix(s, "md5-"):
		return bad("only SHA-256 hashes are supported")
	case len(s) == 52 && nar.IsBase32(s):
		b, ok := nar.DecodeBase32(s, 32)
		if !ok {
			return bad("not a valid Nix base-32 SHA-256 hash")
		}
		digest = b
	case len(s) == 64 && hexRe.MatchString(s):
		digest, _ = hex.DecodeString(s)
	default:
		return bad("not a SHA-256 hash")
	}
	if len(digest) != 32 {
		return bad("not a 32-byte digest")
	}
	return "sha256-" + base64.StdEncoding.EncodeToString(digest), ""
}

// normaliseRev checks a nixpkgs git revision: 40 hex digits, returned lower-case.
func normaliseRev(s string) (string, string) {
	if revRe.MatchString(s) {
		return strings.ToLower(s), ""
	}
	if hexRe.MatchString(s) && len(s) < 40 {
		return "", "nixpkgs.rev: " + strconv.Quote(s) + " is an abbreviated commit (" + strconv.Itoa(len(s)) + " characters); give the full 40-character commit hash"
	}
	return "", "nixpkgs.rev: expected a full 40-character commit hash (hex digits), got " + strconv.Quote(s)
}

// checkURL checks a nixpkgs tarball URL.
func checkURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return "nixpkgs.url: expected the URL of a nixpkgs tarball (https://…), got " + strconv.Quote(s)
	}
	switch u.Scheme {
	case "https", "http":
		if u.Host == "" {
			return "nixpkgs.url: " + strconv.Quote(s) + " has no host"
		}
	case "file":
	default:
		return "nixpkgs.url: unsupported URL scheme " + strconv.Quote(u.Scheme) + ": expected https://, http:// or file://"
	}
	return ""
}

// checkSubstituterURL checks a binary cache URL: http or https with a host.
func checkSubstituterURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Scheme == "":
		return "expected the URL of a binary cache (https://…), got " + strconv.Quote(s)
	case u.Scheme != "https" && u.Scheme != "http":
		return "unsupported URL scheme " + strconv.Quote(u.Scheme) + ": expected https:// or http://"
	case u.Host == "":
		return strconv.Quote(s) + " has no host"
	case u.User != nil:
		return strconv.Quote(s) + " has credentials in it; give them as a secret (secret: <id>) so that they stay out of the image and the cache"
	}
	return ""
}

// checkPublicKey checks a binary cache's signing key: "name:" and the base64 of a 32-byte
// Ed25519 public key, as `nix key convert-secret-to-public` prints it.
func checkPublicKey(s string) string {
	name, key, ok := strings.Cut(s, ":")
	b, err := base64.StdEncoding.DecodeString(key)
	if !ok || name == "" || err != nil || len(b) != 32 {
		return "invalid public key " + strconv.Quote(s) + `: expected "name:" followed by the base64 of an Ed25519 key, as the cache publishes it (e.g. ` + examplePublicKey + ")"
	}
	return ""
}

// contextPath checks a path inside the build context (a copy source, an overlay or package file)
// and returns it unchanged. It must be relative and must not leave the context through "..".
func contextPath(s string) string {
	switch {
	case s == "":
		return "expected a path in the build context, got an empty string"
	case strings.HasPrefix(s, "/"):
		return strconv.Quote(s) + " is an absolute path; use a path relative to the build context (e.g. \"./" + strings.TrimLeft(s, "/") + "\")"
	}
	if c := path.Clean(s); c == ".." || strings.HasPrefix(c, "../") {
		return strconv.Quote(s) + " is outside the build context (\"..\" leaves it)"
	}
	return ""
}

// cleanNixPath returns a checked context path in "./dir/file.nix" form.
func cleanNixPath(s string) string {
	return "./" + strings.TrimPrefix(path.Clean(s), "./")
}

// isNixPath reports whether a package or overlay entry is meant as a file path rather than a name.
func isNixPath(s string) bool {
	return strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") || strings.HasPrefix(s, "/") || s == "." || s == ".."
}

// absPath checks an absolute path in the image (workdir, volumes, home, copy dst).
func absPath(s string) string {
	if !strings.HasPrefix(s, "/") {
		return "expected an absolute path (starting with \"/\"), got " + strconv.Quote(s)
	}
	return ""
}

// normalisePort accepts 8000, "8000", "8000/tcp", "53/udp" and "9/sctp" and returns "8000/tcp".
func normalisePort(s string) (string, string) {
	num, proto, hasProto := strings.Cut(s, "/")
	proto = strings.ToLower(proto)
	if !hasProto {
		proto = "tcp"
	}
	n, err := strconv.Atoi(num)
	ok := err == nil && num != "" && strings.Trim(num, "0123456789") == "" && n >= 1 && n <= 65535
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		ok = false
	}
	if !ok {
		return "", "invalid port " + strconv.Quote(s) + `: expected a port number 1-65535, optionally followed by /tcp, /udp or /sctp (e.g. 8000 or "53/udp")`
	}
	return strconv.Itoa(n) + "/" + proto, ""
}

// signalNames are the Linux signal names a container's stop signal may use.
var signalNames = []string{
	"SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGIOT", "SIGBUS", "SIGFPE",
	"SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT",
	"SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU",
	"SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPOLL", "SIGPWR", "SIGSYS",
	"SIGRTMIN", "SIGRTMAX",
}

// normaliseSignal accepts a signal name (with or without "SIG", any case; SIGRTMIN+n and
// SIGRTMAX-n too) or number 1-64, and returns "SIGTERM" or "15" form.
func normaliseSignal(s string) (string, string) {
	if s != "" && strings.Trim(s, "0123456789") == "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 1 && n <= 64 {
			return strconv.Itoa(n), ""
		}
		return "", "invalid stop signal " + strconv.Quote(s) + ": signal numbers are 1-64"
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	for _, known := range signalNames {
		if name == known {
			return name, ""
		}
	}
	for _, rt := range []struct{ prefix, sep string }{{"SIGRTMIN", "+"}, {"SIGRTMAX", "-"}} {
		if off, ok := strings.CutPrefix(name, rt.prefix+rt.sep); ok {
			if n, err := strconv.Atoi(off); err == nil && n >= 1 && n <= 30 && strings.Trim(off, "0123456789") == "" {
				return rt.prefix + rt.sep + strconv.Itoa(n), ""
			}
		}
	}
	msg := "unknown stop signal " + strconv.Quote(s)
	// Compare without the common "SIG", which would make every name look close.
	bare := make([]string, len(signalNames))
	for i, n := range signalNames {
		bare[i] = strings.TrimPrefix(n, "SIG")
	}
	if hint, ok := Nearest(strings.TrimPrefix(name, "SIG"), bare); ok {
		return "", msg + " (did you mean " + strconv.Quote("SIG"+hint) + "?)"
	}
	return "", msg + ": expected a signal name such as SIGTERM or SIGINT, or a number"
}
