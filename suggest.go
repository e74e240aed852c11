package laingfile

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Nearest returns the candidate closest to name, for "did you mean" hints. Names are compared
// case-insensitively by edit distance (insertions, deletions, substitutions and transpositions
// of adjacent characters each cost 1). A candidate qualifies when its distance is at most a third
// of name's length (at least 1, at most 4), so short names only match near-identical ones. Ties
// go to the candidate that is also closest case-sensitively, then to the earliest in candidates.
// It reports false when no candidate qualifies; an exact match is returned as itself.
func Nearest(name string, candidates []string) (string, bool) {
	n := utf8.RuneCountInString(name)
	if n == 0 {
		return "", false
	}
	limit := min(max(n/3, 1), 4)
	lower := []rune(strings.ToLower(name))
	exact := []rune(name)

	best, bestFold, bestCase := "", limit+1, 0
	for _, c := range candidates {
		cl := utf8.RuneCountInString(c)
		if cl-n > limit || n-cl > limit {
			continue // the distance is at least the difference in length
		}
		d := editDistance(lower, []rune(strings.ToLower(c)), bestFold)
		if d > bestFold || d > limit {
			continue
		}
		dc := editDistance(exact, []rune(c), -1)
		if d < bestFold || dc < bestCase {
			best, bestFold, bestCase = c, d, dc
		}
	}
	if bestFold > limit {
		return "", false
	}
	return best, true
}

// DidYouMean returns ` (did you mean "x"?)` for the candidate nearest to name, or "" when none
// is near enough or name is itself a candidate. It is meant to be appended to a message:
//
//	fmt.Sprintf("unknown package %q%s", attr, laingfile.DidYouMean(attr, attrs))
func DidYouMean(name string, candidates []string) string {
	s, ok := Nearest(name, candidates)
	if !ok || s == name {
		return ""
	}
	return " (did you mean " + strconv.Quote(s) + "?)"
}

// nameHint is what follows `unknown set "x"` in a message: the known name nearest to name (see
// DidYouMean); else listHint, a format whose %s is the known names joined by ", "; else, when
// there are none, noneHint.
func nameHint(name string, known []string, noneHint, listHint string) string {
	switch hint := DidYouMean(name, known); {
	case hint != "":
		return hint
	case len(known) == 0:
		return noneHint
	default:
		return fmt.Sprintf(listHint, strings.Join(known, ", "))
	}
}

// editDistance is the optimal-string-alignment distance between a and b (Levenshtein plus
// adjacent transpositions). When bound >= 0 it may stop early and return any value above bound
// once the distance is known to exceed it.
func editDistance(a, b []rune, bound int) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if bound >= 0 && rowMin > bound {
			return bound + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
