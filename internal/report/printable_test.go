package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/awacompat/awacompat/internal/results"
)

// A CLI that prints raw control bytes (an ESC sequence, a carriage return, a bell) reaches no
// report and no terminal line as such: every format shows them escaped.
func TestNoControlCharactersInReports(t *testing.T) {
	r := fixture(t)
	raw := "\x1b[2J\x1b[31mgarbage\r\x07"
	c := &r.Cells[3]
	c.Detail = "cli said " + raw
	c.Findings = append(c.Findings, raw)
	c.Error = &results.ErrorInfo{Op: "cancel", Class: "CLI", Message: raw}
	c.StderrTail = raw
	c.Repro = "awacompat run " + raw + " --only id=" + c.ID
	c.ExpectedError = raw
	r.Error = raw
	r.Matrix = "/home/ci/" + raw + "/matrix.yaml"
	r.Artifacts[0].Origin = "path:" + raw
	r.Postgres.Version = raw
	renders := map[string]func(*bytes.Buffer) error{
		"table":    func(b *bytes.Buffer) error { return Table(b, r) },
		"markdown": func(b *bytes.Buffer) error { return Markdown(b, r) },
		"support":  func(b *bytes.Buffer) error { return Support(b, r) },
		"junit":    func(b *bytes.Buffer) error { return JUnit(b, r) },
		"html":     func(b *bytes.Buffer) error { return HTML(b, r, HTMLOptions{}) },
		"svg":      func(b *bytes.Buffer) error { return SVG(b, r, SVGOptions{ReportHref: HTMLFile}) },
		"line":     func(b *bytes.Buffer) error { _, err := b.WriteString(Line(*c)); return err },
	}
	for name, render := range renders {
		var b bytes.Buffer
		if err := render(&b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if i := bytes.IndexFunc(b.Bytes(), func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' }); i >= 0 {
			t.Errorf("%s: raw control byte %q at %d: %q", name, b.Bytes()[i], i, b.String()[max(0, i-20):min(b.Len(), i+20)])
		}
		if (name == "table" || name == "markdown") && !strings.Contains(b.String(), `\x1b[31mgarbage`) {
			t.Errorf("%s: the escaped text is missing", name)
		}
	}
	if c.Detail != "cli said "+raw {
		t.Error("rendering changed the results it was given")
	}
}
