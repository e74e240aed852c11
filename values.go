package laingfile

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/laingville/laingfile/internal/nar"
	"github.com/laingville/laingfile/internal/redact"
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
	// hostNameRe is a host name in a substituter URL: DNS labels (with "_", which private
	// networks use), and nothing that the build step's lists split on.
	hostNameRe = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$`)
	// publicKeyRe is a Nix signing key as caches publish it: a name without blanks or ":", then
	// the strict base64 of 32 bytes.
	publicKeyRe = regexp.MustCompile(`^[!-9;-~]+:[A-Za-z0-9+/]{43}=$`)
	// priorityRe is the value of a substituter URL's priority parameter (see checkStoreQuery).
	priorityRe = regexp.MustCompile(`^[0-9]{1,9}$`)
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
		return "", strconv.Quote(s) + " is an abbreviated commit (" + strconv.Itoa(len(s)) + " characters); give the full 40-character commit hash"
	}
	return "", "expected a full 40-character commit hash (hex digits), got " + strconv.Quote(s)
}

// checkURL checks a nixpkgs tarball URL. The URL reaches NIX_PATH, the image config and the
// LLB, so it may not carry credentials or characters that would split it.
func checkURL(s string) string {
	if _, c, bad := firstBadURLChar(s); bad {
		return quoteURL(s) + " contains " + describeChar(c) + "; expected the URL of a nixpkgs tarball (https://…), with spaces written %20"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return "expected the URL of a nixpkgs tarball (https://…), got " + quoteURL(s)
	}
	switch u.Scheme {
	case "https", "http":
		if u.Host == "" {
			return quoteURL(s) + " has no host"
		}
	case "file":
	default:
		return "unsupported URL scheme " + strconv.Quote(u.Scheme) + ": expected https://, http:// or file://"
	}
	if u.User != nil {
		return quoteURL(s) + " has credentials in it; they would end up in NIX_PATH, the image config and the build cache. Credentials go through build secrets, never the Laingfile: remove them from the URL"
	}
	return ""
}

// firstBadURLChar returns the first blank or control character in a URL: Nix and the build
// step read lists of URLs separated by blanks, and NIX_PATH and LLB are no place for control
// characters.
func firstBadURLChar(s string) (int, rune, bool) {
	for i, c := range s {
		if unicode.IsSpace(c) || unicode.IsControl(c) {
			return i, c, true
		}
	}
	return 0, 0, false
}

// describeChar names a character for messages: "a space", "a newline", "a NUL character", "the
// control character U+001B".
func describeChar(c rune) string {
	switch c {
	case ' ':
		return "a space"
	case '\n':
		return "a newline"
	case '\r':
		return "a carriage return"
	case '\t':
		return "a tab"
	case 0:
		return "a NUL character"
	case ':':
		return `":"`
	}
	if unicode.IsControl(c) || unicode.IsSpace(c) {
		return "the control character " + fmt.Sprintf("U+%04X", c)
	}
	return strconv.QuoteRune(c)
}

// credentialsProblem is the message for a URL with credentials (user or password), which would
// end up in the LLB and the build cache; they are not repeated.
func credentialsProblem(s string) string {
	return quoteURL(s) + " has credentials in it; give them as a secret (secret: <id>) so that they stay out of the image and the cache"
}

// checkSecretID checks the id of a build secret.
func checkSecretID(s string) string {
	if !secretIDRe.MatchString(s) {
		return fmt.Sprintf("invalid secret id %q: expected letters, digits, \".\", \"_\" and \"-\", as in --secret id=%s", s, "cachetoken")
	}
	return ""
}

// checkInputName checks the name of a flake input.
func checkInputName(s string) string {
	if !inputNameRe.MatchString(s) {
		return fmt.Sprintf("invalid input name %q: expected a flake input name such as nixpkgs", s)
	}
	return ""
}

// checkUserName checks the name of the image's user, a field of /etc/passwd; it returns "" with
// the problem.
func checkUserName(s string) (string, string) {
	if !userNameRe.MatchString(s) || len(s) > 32 {
		return "", fmt.Sprintf("invalid user name %q: use lower-case letters, digits, \"_\" and \"-\", starting with a letter or \"_\" (at most 32 characters)", s)
	}
	return s, ""
}

// checkOwner checks the form of a copy's chown; chownIDs resolves the names in it.
func checkOwner(s string) string {
	if !chownRe.MatchString(s) {
		return fmt.Sprintf("invalid owner %q: expected \"user\", \"user:group\" or \"uid:gid\"", s)
	}
	return ""
}

// quoteURL quotes a URL for a message, without its credentials.
func quoteURL(s string) string { return strconv.Quote(redact.URLs(s)) }

// substituterURLHelp ends the messages about a malformed substituter URL.
const substituterURLHelp = "; expected a binary cache URL (e.g. https://cache.example.com)"

// checkSubstituterURL checks a binary cache URL: http or https with a host. The URL is one of
// Nix's space-separated extra-substituters, and its host goes into the build step's
// comma-separated netrc list, so blanks, control characters and anything but a plain host name
// are errors; so are query parameters that change how far Nix trusts the cache.
func checkSubstituterURL(s string) string {
	if i, c, bad := firstBadURLChar(s); bad {
		return quoteURL(s) + " contains " + describeChar(c) + " at character " + strconv.Itoa(utf8.RuneCountInString(s[:i])+1) + ", which would split it into two caches" + substituterURLHelp
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Scheme == "":
		return "expected the URL of a binary cache (https://…), got " + quoteURL(s)
	case u.Scheme != "https" && u.Scheme != "http":
		return "unsupported URL scheme " + strconv.Quote(u.Scheme) + ": expected https:// or http://"
	case u.Host == "":
		return quoteURL(s) + " has no host"
	case u.User != nil:
		return credentialsProblem(s)
	}
	if host := u.Hostname(); !hostNameRe.MatchString(host) && !isIPv6Host(u.Host) {
		return "the host " + strconv.Quote(host) + " of " + quoteURL(s) + ` is not a host name; expected letters, digits, "-", "_" and "." (e.g. cache.example.com), or an IP address`
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return quoteURL(s) + " has the port " + strconv.Quote(p) + "; expected a port number 1-65535"
		}
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return quoteURL(s) + ` has a "#" fragment, which Nix does not read` + substituterURLHelp
	}
	if u.RawQuery != "" || u.ForceQuery {
		return checkStoreQuery(s, u.RawQuery)
	}
	return ""
}

// isIPv6Host reports whether host is a bracketed IPv6 address, with an optional port.
func isIPv6Host(host string) bool {
	h, _, _ := strings.Cut(strings.TrimPrefix(host, "["), "]")
	if !strings.HasPrefix(host, "[") || h == "" {
		return false
	}
	return strings.Trim(h, "0123456789abcdefABCDEF:.") == ""
}

// checkStoreQuery checks the query of a substituter URL: Nix reads it as store settings, and
// most of them change what the cache is trusted with (trusted=1 accepts unsigned paths) or what
// the build step does (local-nar-cache writes files). Only two are harmless and allowed: priority
// (the order in which caches are asked) and want-mass-query (whether to ask about many paths at
// once). The raw query is checked, so that a percent-encoded name cannot slip through.
func checkStoreQuery(s, query string) string {
	const allowed = "; only priority=<number> and want-mass-query=<true|false> are allowed after \"?\""
	for _, param := range strings.Split(query, "&") {
		name, value, _ := strings.Cut(param, "=")
		switch name {
		case "priority":
			if !priorityRe.MatchString(value) {
				return quoteURL(s) + ": priority must be a number (e.g. priority=40)"
			}
		case "want-mass-query":
			if value != "true" && value != "false" {
				return quoteURL(s) + ": want-mass-query must be true or false"
			}
		default:
			return quoteURL(s) + " has the Nix store setting " + strconv.Quote(name) + ", which would change which paths Nix trusts" + allowed
		}
	}
	return ""
}

// checkPublicKey checks a binary cache's signing key: "name:" and the base64 of a 32-byte
// Ed25519 public key, as `nix key convert-secret-to-public` prints it. Keys are passed to Nix
// separated by blanks, so a key with a blank or a line break in it is an error (Go's base64
// decoder would skip line breaks).
func checkPublicKey(s string) string {
	_, key, _ := strings.Cut(s, ":")
	b, err := base64.StdEncoding.Strict().DecodeString(key)
	if !publicKeyRe.MatchString(s) || err != nil || len(b) != 32 {
		return "invalid public key " + strconv.Quote(s) + `: expected "name:" followed by the base64 of an Ed25519 key, as the cache publishes it (e.g. ` + examplePublicKey + ")"
	}
	return ""
}

// checkLogin checks a substituter's login, which the build step writes into a netrc after
// splitting a list on blanks and commas (and unquoted, so that glob characters would expand).
func checkLogin(s string) string {
	bad := s == ""
	for _, c := range s {
		if unicode.IsSpace(c) || unicode.IsControl(c) || strings.ContainsRune("\"'#,\\*?[", c) {
			bad = true
		}
	}
	if bad {
		return "invalid user name " + strconv.Quote(s) + `: expected no blanks, control characters, quotes, "#", ",", "\" or "*?[" (e.g. "me")`
	}
	return ""
}

// firstControl returns the first control character in s other than those in allow.
func firstControl(s, allow string) (rune, bool) {
	for _, c := range s {
		if unicode.IsControl(c) && !strings.ContainsRune(allow, c) {
			return c, true
		}
	}
	return 0, false
}

// checkText checks a string that goes into the image config as it is (env values, labels,
// config strings, cmd): NUL cannot be in an environment or an argument, and other control
// characters would reach terminals through `docker inspect` and build output unescaped. Tab and
// newline are allowed: multi-line values (certificates, scripts) are common.
func checkText(s string) string {
	if c, bad := firstControl(s, "\t\n"); bad {
		return strconv.Quote(s) + " contains " + describeChar(c) + "; only tab and newline are allowed among control characters"
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
	if c, bad := firstControl(s, ""); bad {
		return strconv.Quote(s) + " contains " + describeChar(c) + "; expected a path in the build context without control characters"
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

// contextFile checks a Nix file in the build context (an overlay, a package, a flake.lock) and
// returns it in "./dir/file.nix" form.
func contextFile(s string) (string, string) {
	if problem := contextPath(s); problem != "" {
		return "", problem
	}
	return cleanNixPath(s), ""
}

// isNixPath reports whether a package or overlay entry is meant as a file path rather than a name.
func isNixPath(s string) bool {
	return strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") || strings.HasPrefix(s, "/") || s == "." || s == ".."
}

// absPath checks an absolute path in the image (workdir, volumes, home, copy dst). The home and
// the workdir become fields of /etc/passwd, which ":" and line breaks would split into other
// fields and other accounts; volumes and copy destinations follow the same rule (":" separates
// the two sides of a Docker volume). Control characters are errors everywhere.
func absPath(s string) string {
	const expected = "; expected an absolute path without \":\" or control characters"
	if c, bad := firstControl(s, ""); bad {
		return strconv.Quote(s) + " contains " + describeChar(c) + expected
	}
	if strings.Contains(s, ":") {
		return strconv.Quote(s) + ` contains ":"` + expected + " (e.g. " + strconv.Quote(strings.ReplaceAll(s, ":", "-")) + ")"
	}
	if !strings.HasPrefix(s, "/") {
		return "expected an absolute path (starting with \"/\"), got " + strconv.Quote(s)
	}
	return ""
}

// cleanAbsPath checks an absolute path in the image (see absPath) and returns it cleaned.
func cleanAbsPath(s string) (string, string) {
	if problem := absPath(s); problem != "" {
		return "", problem
	}
	return path.Clean(s), ""
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
