package matrix

import "fmt"

// Warning is something in matrix.yaml that is allowed but almost certainly not meant.
type Warning struct {
	Pos Pos
	Msg string
}

func (w Warning) String() string { return w.Pos.String() + ": " + w.Msg }

// Lint looks at the whole expansion of m (before any selection) for expect rules that can
// never set a cell's expectation: a rule that matches no cell, and a rule whose every cell an
// earlier rule already claims (first match wins). `awacompat plan` and `run` print these;
// --strict makes them errors.
func Lint(m *Matrix) []Warning {
	cells := expand(m)
	var out []Warning
	for i, r := range m.Expect {
		matched, first := 0, 0
		shadowedBy := map[int]bool{}
		for _, c := range cells {
			if !ruleMatches(r.When, c) {
				continue
			}
			matched++
			earlier := -1
			for j := 0; j < i; j++ {
				if ruleMatches(m.Expect[j].When, c) {
					earlier = j
					break
				}
			}
			if earlier < 0 {
				first++
			} else {
				shadowedBy[m.Expect[earlier].Index] = true
			}
		}
		switch {
		case matched == 0:
			out = append(out, Warning{r.Pos, fmt.Sprintf("expect[%d] matches no cell of this matrix", r.Index)})
		case first == 0:
			out = append(out, Warning{r.Pos, fmt.Sprintf("expect[%d] never applies: every cell it matches is claimed by an earlier rule (%s)", r.Index, ruleList(shadowedBy))})
		}
	}
	return out
}

func ruleList(idx map[int]bool) string {
	s := ""
	for i := 1; len(idx) > 0; i++ {
		if idx[i] {
			if s != "" {
				s += ", "
			}
			s += fmt.Sprintf("expect[%d]", i)
			delete(idx, i)
		}
	}
	return s
}
