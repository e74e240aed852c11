package sbom

// ParseDrvName splits a derivation name into a package name and a version the way Nix's
// builtins.parseDrvName does: the version starts after the first "-" that is followed by a
// character other than an ASCII letter ("glibc-2.40-66" is glibc 2.40-66,
// "python3.12-requests-2.32.3" is python3.12-requests 2.32.3). A name with no such "-" has no
// version. Nix compares bytes with isalpha in the C locale, so a byte outside ASCII, a digit
// or any punctuation starts a version.
func ParseDrvName(s string) (name, version string) {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '-' && !isASCIILetter(s[i+1]) {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

func isASCIILetter(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
