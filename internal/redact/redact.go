// Package redact keeps credentials out of what the frontend prints.
package redact

import "regexp"

// urlCredentials matches the user information of URLs: "user:password@", "token@".
var urlCredentials = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s"']*@`)

// URLs replaces the user information of every URL in s with "xxxxx", so that a token written
// into a URL is repeated in no message and no printed Laingfile line.
func URLs(s string) string { return urlCredentials.ReplaceAllString(s, "${1}xxxxx@") }
