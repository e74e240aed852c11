package laingfile

// This file reads `substituters:`, the binary caches of the Nix build step, and their `push:`.

// substituterReader is the state of one entry of `substituters:` being read.
type substituterReader struct {
	item
	sub   Substituter
	login *entry
}

var substituterFields = table[*substituterReader]{
	{key: "url", missing: "(the URL of the binary cache)", read: func(r *substituterReader, e *entry) {
		r.sub.URL = r.value(e, "the URL of a binary cache", asIs(checkSubstituterURL))
	}},
	{key: "publicKey", missing: "(the key the cache signs with, e.g. " + examplePublicKey + "); Nix ignores unsigned paths",
		read: (*substituterReader).publicKeys},
	{key: "secret", read: func(r *substituterReader, e *entry) {
		r.sub.Secret = r.value(e, "the id of a build secret", asIs(checkSecretID))
	}},
	{key: "login", read: func(r *substituterReader, e *entry) {
		r.login = e
		r.sub.Login = r.value(e, "a user name", asIs(checkLogin))
	}},
	{key: "push", read: func(r *substituterReader, e *entry) {
		push, ok := r.push(e.val, r.what+".push")
		r.sub.Push, r.valid = push, r.valid && ok
	}},
}

func (c *checker) substituters(n *node) []Substituter {
	out := []Substituter{}
	ok := c.mappings(n, "substituters", "a list of {url, publicKey} mappings", "a mapping {url, publicKey}", func(it *node, what string) {
		r := &substituterReader{item: item{checker: c, what: what, valid: true}, sub: Substituter{Range: it.rng}}
		complete := substituterFields.readMapping(c, r, it, what)
		if r.login != nil && r.sub.Secret == "" {
			c.errorf(r.login.keyRange, "%s: \"login\" needs \"secret\", the build secret with the password or token", what)
			r.valid = false
		}
		if complete && r.valid {
			out = append(out, r.sub)
		}
	})
	if !ok {
		return nil
	}
	return out
}

// publicKeys reads a substituter's `publicKey:`, one key or a list of them.
func (r *substituterReader) publicKeys(e *entry) {
	what, v := r.what, e.val
	var keys []string
	var nodes []*node
	var ok bool
	if v.kind == kindSeq {
		for j, it := range v.items {
			if it.kind == kindMap {
				// [name:key] in a flow list reads as a mapping.
				r.errorf(it.rng, "%s.publicKey[%d]: expected a string, got a mapping (quote the key: \"name:base64\")", what, j)
				it.kind = kindInvalid
			}
		}
		keys, nodes, ok = r.strList(v, what+".publicKey", "a public key or a list of them")
	} else {
		var s string
		s, ok = r.str(v, what+".publicKey", "a public key or a list of them")
		keys, nodes = []string{s}, []*node{v}
	}
	if !ok {
		r.valid = false
		return
	}
	if len(v.items) == 0 && v.kind == kindSeq {
		r.errorf(v.rng, "%s.publicKey: expected at least one public key", what)
		r.valid = false
	}
	for j, k := range keys {
		if problem := checkPublicKey(k); problem != "" {
			r.errorf(nodes[j].rng, "%s.publicKey: %s", what, problem)
			r.valid = false
		}
	}
	r.sub.PublicKeys = keys
}

// pushReader is the state of a substituter's `push:` being read.
type pushReader struct {
	item
	push *Push
}

var pushFields = table[*pushReader]{
	{key: "signingKey", missing: "(the id of a build secret holding the key paths are signed with, as nix-store --generate-binary-cache-key writes it)",
		read: func(r *pushReader, e *entry) {
			r.push.SigningKey = r.value(e, "the id of a build secret holding the cache's signing key", asIs(checkSecretID))
		}},
	{key: "bestEffort", read: func(r *pushReader, e *entry) {
		best, ok := r.boolean(e.val, r.what+".bestEffort")
		r.push.BestEffort, r.valid = best, r.valid && ok
	}},
}

// push reads a substituter's `push:` mapping: the build secret with the signing key, and
// whether a failed push only warns.
func (c *checker) push(n *node, what string) (*Push, bool) {
	if n.kind != kindMap {
		c.typeError(n, what, "a mapping {signingKey, bestEffort}")
		return nil, false
	}
	r := &pushReader{item: item{checker: c, what: what, valid: true}, push: &Push{Range: n.rng}}
	complete := pushFields.readMapping(c, r, n, what)
	return r.push, complete && r.valid
}
