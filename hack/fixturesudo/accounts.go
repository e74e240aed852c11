package main

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// account is one /etc/passwd entry.
type account struct {
	name        string
	uid, gid    int
	home, shell string
}

// groupEntry is one /etc/group entry.
type groupEntry struct {
	name    string
	gid     int
	members []string
}

// accounts are the passwd and group databases, read from files (there is no NSS here).
type accounts struct {
	users  []account
	groups []groupEntry
}

func readAccounts(fsys fs.FS) (accounts, error) {
	var db accounts
	passwd, err := fs.ReadFile(fsys, "etc/passwd")
	if err != nil {
		return db, fmt.Errorf("unable to read /etc/passwd: %w", err)
	}
	for _, f := range records(string(passwd), 7) {
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 == nil && err2 == nil {
			db.users = append(db.users, account{name: f[0], uid: uid, gid: gid, home: f[5], shell: f[6]})
		}
	}
	group, err := fs.ReadFile(fsys, "etc/group")
	if err != nil && !isNotExist(err) {
		return db, fmt.Errorf("unable to read /etc/group: %w", err)
	}
	for _, f := range records(string(group), 4) {
		gid, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		var members []string
		for _, m := range strings.Split(f[3], ",") {
			if m = strings.TrimSpace(m); m != "" {
				members = append(members, m)
			}
		}
		db.groups = append(db.groups, groupEntry{name: f[0], gid: gid, members: members})
	}
	return db, nil
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// records splits colon-separated lines with at least n fields, skipping comments.
func records(data string, n int) [][]string {
	var out [][]string
	for _, line := range strings.Split(data, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) >= n {
			out = append(out, f)
		}
	}
	return out
}

func (db accounts) byUID(uid int) (account, bool) {
	for _, u := range db.users {
		if u.uid == uid {
			return u, true
		}
	}
	return account{}, false
}

// lookup finds a user by name or as "#uid"; an unknown "#uid" is a user of that uid with no
// entry, as sudo allows.
func (db accounts) lookup(name string) (account, bool) {
	if id, ok := strings.CutPrefix(name, "#"); ok {
		uid, err := strconv.Atoi(id)
		if err != nil {
			return account{}, false
		}
		if u, ok := db.byUID(uid); ok {
			return u, true
		}
		return account{name: name, uid: uid, gid: uid, home: "/", shell: "/bin/sh"}, true
	}
	for _, u := range db.users {
		if u.name == name {
			return u, true
		}
	}
	return account{}, false
}

// group resolves a group name or "#gid".
func (db accounts) group(name string) (int, bool) {
	if id, ok := strings.CutPrefix(name, "#"); ok {
		gid, err := strconv.Atoi(id)
		return gid, err == nil
	}
	for _, g := range db.groups {
		if g.name == name {
			return g.gid, true
		}
	}
	return 0, false
}

// groupsOf returns the groups a user is in: its primary group and those that list it.
func (db accounts) groupsOf(u account) map[string]int {
	out := map[string]int{}
	for _, g := range db.groups {
		if g.gid == u.gid {
			out[g.name] = g.gid
			continue
		}
		for _, m := range g.members {
			if m == u.name {
				out[g.name] = g.gid
			}
		}
	}
	if len(out) == 0 || !containsGID(out, u.gid) {
		out["#"+strconv.Itoa(u.gid)] = u.gid
	}
	return out
}

func containsGID(groups map[string]int, gid int) bool {
	for _, g := range groups {
		if g == gid {
			return true
		}
	}
	return false
}
