package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

const modDir = "/nix/store/00000000000000000000000000000000-linux-pam-1.6.1/lib/security"

// installed is the linux-pam module set plus any absolute paths named in extra.
func installed(extra ...string) func(string) bool {
	return func(p string) bool {
		if strings.HasPrefix(p, modDir+"/") {
			switch filepath.Base(p) {
			case "pam_permit.so", "pam_deny.so", "pam_rootok.so", "pam_unix.so", "pam_env.so", "pam_limits.so":
				return true
			}
			return false
		}
		for _, e := range extra {
			if e == p {
				return true
			}
		}
		return false
	}
}

// recommended is the service file docs/research recommends for images (absolute paths).
const recommended = `auth     sufficient  ` + modDir + `/pam_rootok.so
auth     required    ` + modDir + `/pam_deny.so
account  required    ` + modDir + `/pam_permit.so
session  required    ` + modDir + `/pam_permit.so
`

// debianOther is Debian's /etc/pam.d/other with its common-* files.
var debianOther = map[string]string{
	"etc/pam.d/other":          "@include common-auth\n@include common-account\n@include common-password\n@include common-session\n",
	"etc/pam.d/common-auth":    "auth\t[success=1 default=ignore]\tpam_unix.so nullok\nauth\trequisite\t\t\tpam_deny.so\nauth\trequired\t\t\tpam_permit.so\nauth\toptional\t\t\tpam_cap.so\n",
	"etc/pam.d/common-account": "account\t[success=1 new_authtok_reqd=done default=ignore]\tpam_unix.so \naccount\trequisite\t\t\tpam_deny.so\naccount\trequired\t\t\tpam_permit.so\n",
	"etc/pam.d/common-session": "session\t[default=1]\t\t\tpam_permit.so\nsession\trequisite\t\t\tpam_deny.so\nsession\trequired\t\t\tpam_permit.so\nsession\trequired\tpam_unix.so \nsession\toptional\tpam_systemd.so\n",
}

func TestPAMStacks(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		exists  func(string) bool
		uid     int
		initErr bool
		want    map[string]pamCode // stack type -> result
	}{
		{name: "no configuration at all", files: map[string]string{}, initErr: true},
		{name: "only an unrelated service", files: map[string]string{"etc/pam.d/login": "auth required pam_permit.so\n"}, initErr: true},
		{name: "recommended file, user", files: map[string]string{"etc/pam.d/sudo": recommended}, uid: 1000,
			want: map[string]pamCode{"auth": pamAuthErr, "account": pamSuccess, "session": pamSuccess}},
		{name: "recommended file, root", files: map[string]string{"etc/pam.d/sudo": recommended}, uid: 0,
			want: map[string]pamCode{"auth": pamSuccess, "account": pamSuccess, "session": pamSuccess}},
		{name: "falls back to other", files: map[string]string{"etc/pam.d/other": recommended}, uid: 1000,
			want: map[string]pamCode{"account": pamSuccess, "session": pamSuccess}},
		{name: "Debian's other with relative modules", files: debianOther, uid: 1000,
			want: map[string]pamCode{"auth": pamAuthErr, "account": pamSuccess, "session": pamSuccess}},
		{name: "module path that does not exist", uid: 1000,
			files: map[string]string{"etc/pam.d/sudo": "account required /nix/store/gone-linux-pam/lib/security/pam_permit.so\nsession required /nix/store/gone-linux-pam/lib/security/pam_permit.so\n"},
			want:  map[string]pamCode{"account": pamModuleUnknown, "session": pamModuleUnknown}},
		{name: "missing module behind a dash is skipped", uid: 1000,
			files: map[string]string{"etc/pam.d/sudo": "-session optional pam_systemd.so\nsession required pam_permit.so\naccount optional pam_gone.so\naccount required pam_permit.so\n"},
			want:  map[string]pamCode{"account": pamSuccess, "session": pamSuccess}},
		{name: "an existing absolute module elsewhere", uid: 1000, exists: installed("/usr/lib/security/pam_permit.so"),
			files: map[string]string{"etc/pam.d/sudo": "account required /usr/lib/security/pam_permit.so\nsession required /usr/lib/security/pam_permit.so\n"},
			want:  map[string]pamCode{"account": pamSuccess, "session": pamSuccess}},
		{name: "permit authentication", files: map[string]string{"etc/pam.d/sudo": "auth sufficient pam_permit.so\nauth required pam_deny.so\n"}, uid: 1000,
			want: map[string]pamCode{"auth": pamSuccess}},
		{name: "deny sessions", files: map[string]string{"etc/pam.d/sudo": "session include sessions\n", "etc/pam.d/sessions": "session requisite pam_deny.so\nsession required pam_permit.so\n"}, uid: 0,
			want: map[string]pamCode{"session": pamSessionErr}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for k, v := range tt.files {
				fsys[k] = &fstest.MapFile{Data: []byte(v)}
			}
			exists := tt.exists
			if exists == nil {
				exists = installed()
			}
			s, err := loadPAM(fsys, "sudo", modDir, exists)
			if tt.initErr {
				if err == nil || err.Error() != "unable to initialize PAM: Critical error - immediate abort" {
					t.Fatalf("err = %v, want sudo's PAM initialisation error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for typ, want := range tt.want {
				if got := s.run(typ, pamRequest{uid: tt.uid, userKnown: true}); got != want {
					t.Errorf("%s stack: %s, want %s", typ, got, want)
				}
			}
		})
	}
}

func TestPAMMessages(t *testing.T) {
	if got := accountError(pamModuleUnknown).Error(); got != "PAM account management error: Module is unknown" {
		t.Errorf("account error %q", got)
	}
	if got := accountError(pamAuthErr).Error(); got != "account validation failure, is your account locked?" {
		t.Errorf("account error %q", got)
	}
}

// TestPAMMarker checks how the builds are told apart: the PAM build's derivation appends the
// module directory to the binary; without it there is no PAM.
func TestPAMMarker(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, want string
	}{
		{"PAM build", "\x7fELF...binary...\nfixturesudo-pam-modules=" + modDir + "\n", modDir},
		{"PAM-less build", "\x7fELF...binary...", ""},
		{"large binary", strings.Repeat("x", 100000) + "\nfixturesudo-pam-modules=/m\n", "/m"},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
		if err := os.WriteFile(p, []byte(tc.content), 0o755); err != nil {
			t.Fatal(err)
		}
		if got := pamModuleDir(p); got != tc.want {
			t.Errorf("%s: module dir %q, want %q", tc.name, got, tc.want)
		}
	}
}
