// Package version reads awa release versions in both of the spellings awa publishes them in,
// orders them, and matches them against constraints.
//
// awa ships one release under two spellings: crates.io, cargo and the git tags use semver
// (0.6.0-rc.4, 0.7.0-alpha.1), PyPI uses PEP 440 (0.6.0rc4, 0.7.0a1). Both are accepted and
// mean the same release; the canonical spelling, used in cell IDs, results and reports, is
// semver (String). PEP440 gives the form pip needs, Cargo the form a Cargo.toml requirement
// needs.
//
// Only exact releases and pre-releases are versions here: X.Y.Z, X.Y.Z-alpha.N, -beta.N,
// -rc.N (or X.Y.ZaN, bN, rcN). Partial versions (0.6), a leading v, build metadata
// (+local.1), dev and post releases are refused: a matrix names exactly what it runs.
package version

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Version is one exact awa release or pre-release.
type Version struct {
	Major, Minor, Patch int
	// Pre is the pre-release; the zero value is a release.
	Pre Pre
}

// Pre is a pre-release tag: alpha.N, beta.N or rc.N.
type Pre struct {
	// Kind is "alpha", "beta" or "rc"; "" for a release.
	Kind string
	N    int
}

// rank orders pre-release kinds; a release (Kind "") comes after every pre-release of it.
func (p Pre) rank() int {
	switch p.Kind {
	case "alpha":
		return 1
	case "beta":
		return 2
	case "rc":
		return 3
	}
	return 4
}

// pep440Kind maps semver pre-release words to PEP 440's and back.
var pep440Kind = map[string]string{"alpha": "a", "beta": "b", "rc": "rc"}

var (
	core   = `(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)`
	semver = regexp.MustCompile(`^` + core + `(?:-(alpha|beta|rc)\.(0|[1-9]\d*))?$`)
	pep440 = regexp.MustCompile(`^` + core + `(a|b|rc)(0|[1-9]\d*)$`)
)

// Parse reads an exact version in either spelling.
func Parse(s string) (Version, error) {
	var m []string
	var kind string
	if m = semver.FindStringSubmatch(s); m != nil {
		kind = m[4]
	} else if m = pep440.FindStringSubmatch(s); m != nil {
		for k, short := range pep440Kind {
			if short == m[4] {
				kind = k
			}
		}
	} else {
		return Version{}, fmt.Errorf("%q is not an exact release like 0.6.9 or a pre-release like 0.6.0-rc.4 (0.6.0rc4)", clip(s))
	}
	v := Version{Major: atoi(m[1]), Minor: atoi(m[2]), Patch: atoi(m[3])}
	if kind != "" {
		v.Pre = Pre{Kind: kind, N: atoi(m[5])}
	}
	return v, nil
}

// MustParse is Parse for constants; it panics on a bad version.
func MustParse(s string) Version {
	v, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return v
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		// The patterns only admit short digit strings; a number too large for int is not a
		// version awa will ever ship.
		return int(^uint(0) >> 1)
	}
	return n
}

// String is the canonical (semver) spelling: 0.6.9, 0.6.0-rc.4.
func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.Pre.Kind != "" {
		s += fmt.Sprintf("-%s.%d", v.Pre.Kind, v.Pre.N)
	}
	return s
}

// PEP440 is the spelling PyPI and pip use: 0.6.9, 0.6.0rc4, 0.7.0a1.
func (v Version) PEP440() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.Pre.Kind != "" {
		s += fmt.Sprintf("%s%d", pep440Kind[v.Pre.Kind], v.Pre.N)
	}
	return s
}

// Cargo is the spelling crates.io and Cargo.toml use (semver).
func (v Version) Cargo() string { return v.String() }

// IsZero reports whether v is the zero Version (no version given).
func (v Version) IsZero() bool { return v == Version{} }

// IsPre reports whether v is a pre-release.
func (v Version) IsPre() bool { return v.Pre.Kind != "" }

// Core is v without its pre-release.
func (v Version) Core() Version { return Version{Major: v.Major, Minor: v.Minor, Patch: v.Patch} }

// Compare orders versions: -1, 0 or 1. Pre-releases come before their release, alpha before
// beta before rc: 0.6.0-rc.3 < 0.6.0-rc.4 < 0.6.0 < 0.6.1.
func Compare(a, b Version) int {
	for _, d := range [][2]int{{a.Major, b.Major}, {a.Minor, b.Minor}, {a.Patch, b.Patch}, {a.Pre.rank(), b.Pre.rank()}, {a.Pre.N, b.Pre.N}} {
		switch {
		case d[0] < d[1]:
			return -1
		case d[0] > d[1]:
			return 1
		}
	}
	return 0
}

// Less reports a < b.
func (v Version) Less(b Version) bool { return Compare(v, b) < 0 }

// Equal compares two spellings: "0.6.0rc4" and "0.6.0-rc.4" are the same release. A string
// that is not a version equals nothing.
func Equal(a, b string) bool {
	va, errA := Parse(a)
	vb, errB := Parse(b)
	return errA == nil && errB == nil && va == vb
}

// Canonical returns the canonical spelling of s, or s unchanged when it is not a version.
func Canonical(s string) string {
	v, err := Parse(s)
	if err != nil {
		return s
	}
	return v.String()
}

// clip keeps error messages short whatever the input.
func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// Constraint is a comma-separated list of comparisons that must all hold, like "<0.6.0" or
// ">=0.6.2, <0.7". A comparison is an operator (=, ==, !=, <, <=, >, >=; none means =) and a
// version in either spelling, whose missing minor or patch count as 0 (0.7 is 0.7.0).
//
// Pre-releases sort before their release (0.6.0-rc.4 < 0.6.0), with one exception, as in
// PEP 440 and npm: "<V", where V is a release, does not admit V's own pre-releases unless the
// constraint names a pre-release of V itself. So "<0.6.0" is the 0.5 line and earlier, and
// 0.6.0-rc.4 matches neither "<0.6.0" nor ">=0.6.0"; ">=0.6.0-rc.1, <0.6.0" is 0.6.0's
// release candidates, and ">=0.6.0-alpha.0" is the 0.6 line with its pre-releases.
type Constraint struct {
	text  string
	terms []term
}

type term struct {
	op string
	v  Version
}

var termRE = regexp.MustCompile(`^(==|=|!=|<=|>=|<|>)?\s*(\d+(?:\.\d+){0,2})((?:-(?:alpha|beta|rc)\.\d+)|(?:(?:a|b|rc)\d+))?$`)

// ParseConstraint reads a constraint.
func ParseConstraint(s string) (Constraint, error) {
	c := Constraint{text: s}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		m := termRE.FindStringSubmatch(part)
		if m == nil {
			return Constraint{}, fmt.Errorf("%q is not a version constraint like \"<0.6.0\" or \">=0.6.2, <0.7\"", clip(s))
		}
		nums := strings.Split(m[2], ".")
		for len(nums) < 3 {
			nums = append(nums, "0")
		}
		v, err := Parse(strings.Join(nums, ".") + m[3])
		if err != nil {
			return Constraint{}, fmt.Errorf("%q: %w", clip(s), err)
		}
		op := m[1]
		if op == "" || op == "==" {
			op = "="
		}
		c.terms = append(c.terms, term{op, v})
	}
	return c, nil
}

// String is the constraint as written.
func (c Constraint) String() string { return c.text }

// Check reports whether v satisfies every comparison.
func (c Constraint) Check(v Version) bool {
	for _, t := range c.terms {
		if !t.check(v) {
			return false
		}
		if t.op == "<" && !t.v.IsPre() && v.IsPre() && v.Core() == t.v && !c.namesPreOf(t.v) {
			return false
		}
	}
	return len(c.terms) > 0
}

// namesPreOf reports whether a comparison of c names a pre-release of release r.
func (c Constraint) namesPreOf(r Version) bool {
	for _, t := range c.terms {
		if t.v.IsPre() && t.v.Core() == r {
			return true
		}
	}
	return false
}

func (t term) check(v Version) bool {
	d := Compare(v, t.v)
	switch t.op {
	case "=":
		return d == 0
	case "!=":
		return d != 0
	case "<":
		return d < 0
	case "<=":
		return d <= 0
	case ">":
		return d > 0
	case ">=":
		return d >= 0
	}
	return false
}
