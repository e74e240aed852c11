package laingfile

import (
	"fmt"
	"strings"
)

// Error is a problem a user can fix in the Laingfile, located at Range. A zero Range means the
// problem has no place in the file (such as an unknown --target); Error() then omits it.
type Error struct {
	Filename string
	Range    Range
	// Msg says what is wrong and what was expected, e.g. `unknown set "pythn" (did you mean
	// "python"?)`. It does not repeat the file name or position.
	Msg string
}

// Error formats the problem as "file:line:column: message", the form compilers use.
func (e *Error) Error() string {
	if e.Range.Start.Line <= 0 {
		return fmt.Sprintf("%s: %s", e.Filename, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.Filename, e.Range.Start.Line, e.Range.Start.Column, e.Msg)
}

// Errors is every problem found in one Laingfile, in file order. Parse returns it as its error;
// use errors.As(err, &errs) with a variable of type Errors to get each problem and its range.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}
