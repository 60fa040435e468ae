package report

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"unicode/utf8"
)

// drawable are the only characters beyond ASCII the reports write themselves, each in DejaVu
// Sans and DejaVu Sans Mono (Debian's default fonts) and in the fonts macOS and Windows ship:
// no emoji, which many fonts lack (a report titled with an empty box reads as broken).
var drawable = map[rune]string{
	'✓': "check mark", '✗': "ballot x", '·': "middle dot", '–': "en dash", '…': "ellipsis",
	'“': "left quote", '”': "right quote",
}

// Every format, rendered from results whose own text is ASCII, holds no other character.
func TestGlyphs(t *testing.T) {
	r := fixture(t)
	for i := range r.Cells {
		for j, f := range r.Cells[i].Findings {
			r.Cells[i].Findings[j] = strings.Map(func(c rune) rune {
				if c >= utf8.RuneSelf {
					return '?'
				}
				return c
			}, f)
		}
	}
	for _, f := range formats {
		var b bytes.Buffer
		if err := f.render(&b, r); err != nil {
			t.Fatal(err)
		}
		for _, c := range b.String() {
			if c >= utf8.RuneSelf && drawable[c] == "" {
				t.Errorf("%s writes %q (U+%04X), which is not among the characters every common font draws", f.file, c, c)
				break
			}
		}
	}
}

// The characters above are in DejaVu Sans and DejaVu Sans Mono, when fontconfig can say.
func TestDrawableInDejaVu(t *testing.T) {
	if _, err := exec.LookPath("fc-list"); err != nil {
		t.Skip("no fc-list to ask")
	}
	if out, err := exec.Command("fc-list", ":family=DejaVu Sans Mono", "family").Output(); err != nil || len(out) == 0 {
		t.Skipf("DejaVu is not installed (make setup installs it): %v", err)
	}
	for c, name := range drawable {
		out, err := exec.Command("fc-list", fmt.Sprintf(":charset=%x", c), "family").Output()
		if err != nil {
			t.Fatal(err)
		}
		families := map[string]bool{}
		for _, line := range strings.Split(string(out), "\n") {
			for _, f := range strings.Split(line, ",") {
				families[strings.TrimSpace(f)] = true
			}
		}
		for _, font := range []string{"DejaVu Sans", "DejaVu Sans Mono"} {
			if !families[font] {
				t.Errorf("%s lacks %s (U+%04X)", font, name, c)
			}
		}
	}
}
