package laingfile

import "fmt"

// This file reads a target's `user:`; applyDefaults in parse_targets.go completes it.

// userSpec is what a Laingfile says about the user, before defaults.
type userSpec struct {
	name, home string
	uid, gid   *int
	rng        Range
}

// isRoot reports whether the user is root: named so, or given uid 0 without a name.
func (u userSpec) isRoot() bool {
	return u.name == "root" || (u.name == "" && u.uid != nil && *u.uid == 0)
}

// userReader is the state of `user:` being read: the ranges of the values, for the rules
// about root.
type userReader struct {
	*checker
	u                             userSpec
	uidRange, gidRange, homeRange Range
}

var userFields = table[*userReader]{
	{key: "name", read: func(r *userReader, e *entry) {
		r.u.name, _ = r.scalar(e.val, "user.name", "a user name", checkUserName)
	}},
	{key: "uid", read: func(r *userReader, e *entry) {
		r.uidRange = e.val.rng
		r.u.uid = r.id(e.val, "user.uid")
	}},
	{key: "gid", read: func(r *userReader, e *entry) {
		r.gidRange = e.val.rng
		r.u.gid = r.id(e.val, "user.gid")
	}},
	{key: "home", read: func(r *userReader, e *entry) {
		r.homeRange = e.val.rng
		r.u.home, _ = r.scalar(e.val, "user.home", "an absolute path", cleanAbsPath)
	}},
}

func (c *checker) user(n *node) userSpec {
	switch n.kind {
	case kindInvalid, kindNull:
		return userSpec{}
	case kindString:
		name, _ := c.scalar(n, "user", "a user name", checkUserName)
		return userSpec{name: name, rng: n.rng}
	case kindMap:
	default:
		c.typeError(n, "user", "a user name or a mapping {name, uid, gid, home}")
		return userSpec{}
	}
	r := &userReader{checker: c, u: userSpec{rng: n.rng}}
	userFields.readMapping(c, r, n, "user")
	u := r.u
	// The name root means uid and gid 0 and home /root; uid 0 means the name root. The image's
	// /etc/passwd has one root line, so anything else would be lost or make a second root.
	if u.isRoot() {
		if u.uid != nil && *u.uid != 0 {
			c.errorf(r.uidRange, "user.uid: the user root has uid 0, not %d; leave out uid, or give the user another name (e.g. app)", *u.uid)
		}
		if u.gid != nil && *u.gid != 0 {
			c.errorf(r.gidRange, "user.gid: the user root has gid 0, not %d; leave out gid, or give the user another name (e.g. app)", *u.gid)
		}
		if u.home != "" && u.home != "/root" {
			c.errorf(r.homeRange, "user.home: the user root has home /root; leave out home (set env HOME to use another directory)")
		}
	} else if u.uid != nil && *u.uid == 0 && u.name != "" {
		c.errorf(r.uidRange, "user.uid: uid 0 is root; write name: root for a root image, or give %s another uid (e.g. 1000)", u.name)
	}
	return u
}

// id reads a uid or gid; nil when it is wrong.
func (c *checker) id(n *node, what string) *int {
	id, ok := c.integer(n, what, "an integer from 0 to 2147483647", func(id int64) string {
		if id < 0 || id > 2147483647 {
			return fmt.Sprintf("%d is out of range; expected 0 to 2147483647", id)
		}
		return ""
	})
	if !ok {
		return nil
	}
	return &id
}
