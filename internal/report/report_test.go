package report

import (
	"bytes"
	"encoding/xml"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/awacompat/awacompat/internal/results"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden (refused when CI is set)")

// refuseUpdateInCI fails the test when -update is asked for under CI: a golden file rewritten
// from the output under test makes the comparison pass by construction.
func refuseUpdateInCI(t *testing.T) {
	t.Helper()
	if ci := os.Getenv("CI"); ci != "" {
		t.Fatalf("-update rewrites golden files; refused because CI=%q is set (accept changes locally and commit the files)", ci)
	}
}

// fixture is testdata/results.json: two engines, two scenarios, python and rust clients in
// producer, worker and admin roles, and every verdict (pass, inert, refused as expected and
// with the wrong error, fail with findings and stderr, engine_changed, error after a retry,
// timeout, skipped, an unexpected pass) of an interrupted run.
func fixture(t *testing.T) *results.Results {
	t.Helper()
	r, err := results.Read("testdata")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		refuseUpdateInCI(t)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./internal/report -update to accept):\n%s", name, firstDiff(string(want), string(got)))
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\nwant: " + w + "\ngot:  " + g
		}
	}
	return "(no line differs)"
}

var formats = []struct {
	file   string
	render func(io.Writer, *results.Results) error
}{
	{"table.txt", Table},
	{"junit.xml", JUnit},
	{"summary.md", Markdown},
	{"support.md", Support},
	{"report.html", func(w io.Writer, r *results.Results) error { return HTML(w, r, HTMLOptions{Dir: "testdata"}) }},
	{"support.svg", func(w io.Writer, r *results.Results) error { return SVG(w, r, SVGOptions{ReportHref: HTMLFile}) }},
	{"results.json", JSON},
}

func TestGolden(t *testing.T) {
	for _, f := range formats {
		t.Run(f.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := f.render(&b, fixture(t)); err != nil {
				t.Fatal(err)
			}
			golden(t, f.file, b.Bytes())
		})
	}
}

// Every format renders the same bytes every time: maps (roles, verdict counts) never leak
// their iteration order.
func TestDeterministic(t *testing.T) {
	for _, f := range formats {
		var first []byte
		for i := range 5 {
			var b bytes.Buffer
			if err := f.render(&b, fixture(t)); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = b.Bytes()
			} else if !bytes.Equal(first, b.Bytes()) {
				t.Fatalf("%s: render %d differs from the first", f.file, i+1)
			}
		}
	}
}

func TestFixtureSummary(t *testing.T) {
	r := fixture(t)
	want := r.Summary
	r.Summarize()
	if !reflect.DeepEqual(r.Summary, want) {
		t.Errorf("fixture summary %+v, recomputed %+v", want, r.Summary)
	}
}

// The JUnit output parses as XML, with one testsuite per engine and one testcase per cell.
func TestJUnitParses(t *testing.T) {
	type problem struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	}
	type tcase struct {
		Name    string   `xml:"name,attr"`
		Failure *problem `xml:"failure"`
		Error   *problem `xml:"error"`
		Skipped *problem `xml:"skipped"`
	}
	type suite struct {
		Name     string  `xml:"name,attr"`
		Tests    int     `xml:"tests,attr"`
		Failures int     `xml:"failures,attr"`
		Cases    []tcase `xml:"testcase"`
	}
	type doc struct {
		XMLName  xml.Name `xml:"testsuites"`
		Tests    int      `xml:"tests,attr"`
		Failures int      `xml:"failures,attr"`
		Errors   int      `xml:"errors,attr"`
		Skipped  int      `xml:"skipped,attr"`
		Suites   []suite  `xml:"testsuite"`
	}
	r := fixture(t)
	// Control characters (ANSI colours in a probe's stderr) are not allowed in XML 1.0.
	r.Cells[3].StderrTail += "\x1b[31mred\x1b[0m \x00 ]]> end\n"
	r.Error = "provision postgres: connection refused"
	var b bytes.Buffer
	if err := JUnit(&b, r); err != nil {
		t.Fatal(err)
	}
	var d doc
	if err := xml.Unmarshal(b.Bytes(), &d); err != nil {
		t.Fatalf("junit output is not valid XML: %v\n%s", err, b.String())
	}
	var names []string
	cases := 0
	for _, s := range d.Suites {
		names = append(names, s.Name)
		if s.Tests != len(s.Cases) {
			t.Errorf("suite %s: tests=%d, %d testcases", s.Name, s.Tests, len(s.Cases))
		}
		cases += len(s.Cases)
	}
	if want := []string{"canonical", "queue_storage", "run"}; !reflect.DeepEqual(names, want) {
		t.Errorf("suites %v, want %v", names, want)
	}
	if cases != len(r.Cells)+1 || d.Tests != cases {
		t.Errorf("%d testcases (tests=%d), want %d cells + the run", cases, d.Tests, len(r.Cells))
	}
	if d.Failures != 4 || d.Errors != 3 || d.Skipped != 1 {
		t.Errorf("failures=%d errors=%d skipped=%d, want 4, 3 (2 cells + the run), 1", d.Failures, d.Errors, d.Skipped)
	}
	fail := d.Suites[0].Cases[3]
	if fail.Failure == nil {
		t.Fatalf("%s: no failure", fail.Name)
	}
	for _, want := range []string{"expected: pass", "actual:   fail", "job 2: args differ", "stderr tail:", "coerced args", `\x1b[31mred`, "]]> end", "rerun:    awacompat run /home/ci/awa/compat/matrix.yaml --only id=" + fail.Name} {
		if !strings.Contains(fail.Failure.Text, want) {
			t.Errorf("failure text lacks %q:\n%s", want, fail.Failure.Text)
		}
	}
}

// Text from the probes and the database reaches the HTML report as text, never as markup.
func TestHTMLEscapes(t *testing.T) {
	r := fixture(t)
	evil := `<script>alert("x")</script>`
	r.Cells[3].Detail = "job args " + evil
	r.Cells[3].Findings = append(r.Cells[3].Findings, evil)
	r.Cells[3].StderrTail = evil + "\n"
	r.Error = evil
	var b bytes.Buffer
	if err := HTML(&b, r, HTMLOptions{Dir: "testdata"}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "<script") {
		t.Errorf("HTML report holds an unescaped <script>")
	}
	if !strings.Contains(out, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Errorf("HTML report lacks the escaped message")
	}
	var md bytes.Buffer
	if err := Markdown(&md, r); err != nil {
		t.Fatal(err)
	}
	// In the Markdown, text outside code blocks must not be markup either.
	outside := md.String()
	if i := strings.Index(outside, "```"); i >= 0 {
		outside = outside[:i]
	}
	if strings.Contains(outside, "<script") {
		t.Errorf("Markdown summary holds an unescaped <script> outside a code block")
	}
}

// The HTML is self-contained: nothing is loaded from elsewhere.
func TestHTMLSelfContained(t *testing.T) {
	var b bytes.Buffer
	if err := HTML(&b, fixture(t), HTMLOptions{Dir: "testdata"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<link", "<script", "@import", "src=", "http://", "https://", "url("} {
		if strings.Contains(b.String(), bad) {
			t.Errorf("HTML report contains %q", bad)
		}
	}
	for _, want := range []string{
		`href="cells/canonical.fresh.lifecycle.producer=py-0.5.7.worker=rs-0.6.9/worker.stderr.log"`,
		`href="#cell-canonical.fresh.lifecycle.producer=py-0.5.7.worker=rs-0.6.9"`,
		`id="cell-canonical.fresh.lifecycle.producer=py-0.5.7.worker=rs-0.6.9"`,
		"… 6 earlier lines",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("HTML report lacks %s", want)
		}
	}
}

func TestGridAggregates(t *testing.T) {
	g := newGrid(fixture(t))
	var labels []string
	for _, c := range g.Cols {
		labels = append(labels, c.Label)
	}
	if want := []string{"canonical · cancel", "canonical · lifecycle", "queue_storage · cancel", "queue_storage · lifecycle"}; !reflect.DeepEqual(labels, want) {
		t.Errorf("columns %q, want %q", labels, want)
	}
	labels = nil
	for _, r := range g.Rows {
		labels = append(labels, r.Label)
	}
	want := []string{
		"python 0.5.7 producer", "python 0.5.7 worker", "python 0.5.7 admin",
		"python 0.6.9 producer", "python 0.6.9 worker",
		"rust 0.6.9 producer", "rust 0.6.9 worker", "rust 0.6.9 admin",
	}
	if !reflect.DeepEqual(labels, want) {
		t.Errorf("rows %q, want %q", labels, want)
	}
	// python 0.5.7 producer under canonical lifecycle ran with two workers, with different outcomes.
	got := g.Rows[0].Cells[1].text()
	if got != "pass ✓ with python 0.5.7 worker; fail ✗ (expected pass) with rust 0.6.9 worker" {
		t.Errorf("aggregated entry %q", got)
	}
	if g.Rows[0].Cells[1].Class != classMismatch {
		t.Errorf("entry class %s, want %s", g.Rows[0].Cells[1].Class, classMismatch)
	}
}

func TestWriteAll(t *testing.T) {
	dir := t.TempDir()
	summary := filepath.Join(t.TempDir(), "step_summary")
	t.Setenv(StepSummaryEnv, summary)
	r := fixture(t)
	for range 2 {
		if err := WriteAll(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{JUnitFile, MarkdownFile, HTMLFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
	var md bytes.Buffer
	if err := Markdown(&md, r); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	if want := md.String() + md.String(); string(got) != want {
		t.Errorf("step summary is not the Markdown appended once per call")
	}
	written, err := os.ReadFile(filepath.Join(dir, MarkdownFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(written, md.Bytes()) {
		t.Errorf("%s differs from Markdown()", MarkdownFile)
	}

	t.Setenv(StepSummaryEnv, "")
	if err := StepSummary(r); err != nil {
		t.Errorf("StepSummary without %s: %v", StepSummaryEnv, err)
	}
}

// An empty run (infrastructure failed before any cell) still renders every format.
func TestEmptyRun(t *testing.T) {
	r := &results.Results{Schema: results.SchemaVersion, Shards: []string{""}, Target: results.Target{Awa: "0.6.9"}, Error: "install the target's awa CLI 0.6.9: pip: no matching distribution"}
	r.Summarize()
	for _, f := range formats {
		var b bytes.Buffer
		if err := f.render(&b, r); err != nil {
			t.Errorf("%s: %v", f.file, err)
		}
		if f.file != "results.json" && !strings.Contains(b.String(), "no matching distribution") {
			t.Errorf("%s does not show the run's error", f.file)
		}
	}
}
