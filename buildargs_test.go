package laingfile

import "testing"

func TestExpandArgs(t *testing.T) {
	args := map[string]string{"A": "1", "B_2": "two", "EMPTY": ""}
	names := sortedKeys(args)
	tests := []struct{ in, want, problem string }{
		{"plain", "plain", ""},
		{"${A}", "1", ""},
		{"x${A}y${B_2}z", "x1ytwoz", ""},
		{"${EMPTY}", "", ""},
		{"$${A}", "${A}", ""},
		// Only "$${" is an escape, read left to right: "$" then "$${".
		{"$$${A}", "$${A}", ""},
		{"$A $ $$ ${A}$", "$A $ $$ 1$", ""},
		{"${A", "", `unterminated build-arg reference "${A": expected ${NAME} (write $${ for a literal ${)`},
		{"${}", "", `invalid build-arg reference "${}": expected ${NAME}, where NAME is letters, digits and "_" (write $${ for a literal ${)`},
		{"${1A}", "", `invalid build-arg reference "${1A}": expected ${NAME}, where NAME is letters, digits and "_" (write $${ for a literal ${)`},
		{"${a}", "", `undefined build arg "a" in "${a}" (did you mean "A"?)`},
		{"${C}", "", `undefined build arg "C" in "${C}" (did you mean "A"?)`},
		{"${NOPE}", "", `undefined build arg "NOPE" in "${NOPE}" (set build args: A, B_2, EMPTY)`},
	}
	for _, tt := range tests {
		got, _, problem := expandArgs(tt.in, args, names, 1<<20)
		if got != tt.want || problem != tt.problem {
			t.Errorf("expandArgs(%q) = %q, %q; want %q, %q", tt.in, got, problem, tt.want, tt.problem)
		}
	}
}
