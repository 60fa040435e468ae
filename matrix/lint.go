package matrix

import (
	"fmt"
	"math/big"
)

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
	if estimateCells(m).Cmp(big.NewInt(MaxCells)) > 0 {
		return nil // too big to expand; NewPlan says so
	}
	// One pass over the cells, each rule tested once per cell: a matrix may have thousands
	// of cells and hundreds of rules.
	matched := make([]int, len(m.Expect))
	first := make([]int, len(m.Expect))
	shadowedBy := make([]map[int]bool, len(m.Expect))
	for _, c := range expand(m) {
		winner := -1
		for i, r := range m.Expect {
			if !ruleMatches(r.When, c) {
				continue
			}
			matched[i]++
			if len(r.When.Tests) > 0 {
				first[i]++ // a test rule sets tests' outcomes, not the cell's: which tests it wins is known only when they run
				continue
			}
			if winner < 0 {
				winner = i
				first[i]++
				continue
			}
			if shadowedBy[i] == nil {
				shadowedBy[i] = map[int]bool{}
			}
			shadowedBy[i][m.Expect[winner].Index] = true
		}
	}
	var out []Warning
	for i, r := range m.Expect {
		switch {
		case matched[i] == 0 && len(r.When.Tests) > 0:
			out = append(out, Warning{r.Pos, fmt.Sprintf("expect[%d] matches no suite cell of this matrix", r.Index)})
		case matched[i] == 0:
			out = append(out, Warning{r.Pos, fmt.Sprintf("expect[%d] matches no cell of this matrix", r.Index)})
		case first[i] == 0:
			out = append(out, Warning{r.Pos, fmt.Sprintf("expect[%d] never applies: every cell it matches is claimed by an earlier rule (%s)", r.Index, ruleList(shadowedBy[i]))})
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
