package version

import (
	"sort"
	"strings"
	"testing"
)

func TestParseBothSpellings(t *testing.T) {
	for _, tc := range []struct{ in, canonical, pep440 string }{
		{"0.6.9", "0.6.9", "0.6.9"},
		{"0.6.0rc4", "0.6.0-rc.4", "0.6.0rc4"},
		{"0.6.0-rc.4", "0.6.0-rc.4", "0.6.0rc4"},
		{"0.6.0b2", "0.6.0-beta.2", "0.6.0b2"},
		{"0.6.0-beta.2", "0.6.0-beta.2", "0.6.0b2"},
		{"0.7.0a1", "0.7.0-alpha.1", "0.7.0a1"},
		{"0.7.0-alpha.1", "0.7.0-alpha.1", "0.7.0a1"},
		{"0.6.0a0", "0.6.0-alpha.0", "0.6.0a0"},
		{"10.20.30", "10.20.30", "10.20.30"},
	} {
		v, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if v.String() != tc.canonical || v.Cargo() != tc.canonical || v.PEP440() != tc.pep440 {
			t.Errorf("Parse(%q) = %s / cargo %s / pep440 %s, want %s / %s", tc.in, v, v.Cargo(), v.PEP440(), tc.canonical, tc.pep440)
		}
		if w, err := Parse(v.PEP440()); err != nil || w != v {
			t.Errorf("PEP 440 spelling of %q does not parse back: %v %v", tc.in, w, err)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, in := range []string{
		"", "0.6", "0", "v0.6.9", "0.6.9+local.1", "0.6.9.1", "0.6.0-rc4", "0.6.0.rc4", "0.6.0rc", "0.6.0-rc",
		"0.6.0-rc.4.1", "0.6.0dev1", "0.6.0.dev1", "0.6.0.post1", "0.6.0-gamma.1", "00.6.0", "0.6.01", " 0.6.9",
		"0.6.9 ", ">=0.6.9", "0.6.*", "latest", strings.Repeat("9", 200),
	} {
		if v, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", in, v)
		}
	}
	_, err := Parse(strings.Repeat("x", 10_000))
	if err == nil || len(err.Error()) > 200 {
		t.Errorf("a long input must give a short error, got %d bytes", len(err.Error()))
	}
}

func TestOrder(t *testing.T) {
	want := []string{"0.5.7", "0.6.0-alpha.0", "0.6.0-alpha.9", "0.6.0-beta.1", "0.6.0-beta.2", "0.6.0-rc.3", "0.6.0-rc.4", "0.6.0", "0.6.1", "0.6.10", "0.7.0-alpha.1", "0.7.0", "1.0.0"}
	var vs []Version
	for i := len(want) - 1; i >= 0; i-- {
		vs = append(vs, MustParse(want[i]))
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].Less(vs[j]) })
	for i, v := range vs {
		if v.String() != want[i] {
			t.Fatalf("sorted[%d] = %s, want %s (all: %v)", i, v, want[i], vs)
		}
	}
	if Compare(MustParse("0.6.0rc4"), MustParse("0.6.0-rc.4")) != 0 {
		t.Error("the two spellings of one pre-release must compare equal")
	}
}

func TestEqualAndCanonical(t *testing.T) {
	if !Equal("0.6.0rc4", "0.6.0-rc.4") || !Equal("0.7.0a1", "0.7.0-alpha.1") || Equal("0.6.0rc3", "0.6.0-rc.4") || Equal("x", "x") {
		t.Error("Equal")
	}
	if Canonical("0.6.0rc4") != "0.6.0-rc.4" || Canonical("junk") != "junk" {
		t.Error("Canonical")
	}
}

func TestConstraints(t *testing.T) {
	for _, tc := range []struct {
		c    string
		yes  []string
		no   []string
		fail bool
	}{
		{c: "<0.6.0", yes: []string{"0.5.7", "0.5.5-alpha.0"}, no: []string{"0.6.0-rc.3", "0.6.0rc4", "0.6.0-alpha.0", "0.6.0", "0.6.1"}},
		{c: ">=0.6.0", yes: []string{"0.6.0", "0.6.9", "0.7.0-alpha.1"}, no: []string{"0.6.0-rc.4", "0.5.7"}},
		{c: ">=0.6.0-alpha.0, <0.6.1", yes: []string{"0.6.0-alpha.0", "0.6.0rc4", "0.6.0"}, no: []string{"0.5.7", "0.6.1"}},
		{c: ">=0.6.0-rc.1, <0.6.0", yes: []string{"0.6.0-rc.1", "0.6.0rc4"}, no: []string{"0.6.0-beta.2", "0.6.0", "0.5.7"}},
		{c: ">=0.5.0, <0.6.0", yes: []string{"0.5.7"}, no: []string{"0.6.0-rc.4", "0.6.0"}},
		{c: "<0.6.0-rc.4", yes: []string{"0.6.0-rc.3", "0.5.7"}, no: []string{"0.6.0-rc.4", "0.6.0"}},
		{c: ">=0.6.2, <0.7", yes: []string{"0.6.2", "0.6.9"}, no: []string{"0.6.1", "0.7.0-alpha.1", "0.7.0"}},
		{c: "<=0.6.0", yes: []string{"0.6.0-rc.4", "0.6.0"}, no: []string{"0.6.1"}},
		{c: ">0.6.0-rc.3", yes: []string{"0.6.0-rc.4", "0.6.0"}, no: []string{"0.6.0-rc.3"}},
		{c: "0.6.0rc4", yes: []string{"0.6.0-rc.4"}, no: []string{"0.6.0"}},
		{c: "==0.6.9", yes: []string{"0.6.9"}, no: []string{"0.6.8"}},
		{c: "!=0.6.9", yes: []string{"0.6.8"}, no: []string{"0.6.9"}},
		{c: "~>0.6", fail: true},
		{c: "", fail: true},
		{c: "<0.6.0,", fail: true},
		{c: "0.6.x", fail: true},
		{c: "< 0.6.0 junk", fail: true},
	} {
		c, err := ParseConstraint(tc.c)
		if tc.fail {
			if err == nil {
				t.Errorf("ParseConstraint(%q): want an error", tc.c)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseConstraint(%q): %v", tc.c, err)
			continue
		}
		for _, v := range tc.yes {
			if !c.Check(MustParse(v)) {
				t.Errorf("%q should admit %s", tc.c, v)
			}
		}
		for _, v := range tc.no {
			if c.Check(MustParse(v)) {
				t.Errorf("%q should not admit %s", tc.c, v)
			}
		}
	}
}
