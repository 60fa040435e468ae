package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/awacompat/awacompat/internal/redact"
	"github.com/awacompat/awacompat/internal/results"
)

// JUnit XML, in the dialect CI test reporters read (Jenkins, GitLab, GitHub reporter actions).
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitProblem `xml:"skipped,omitempty"`
	SystemOut *junitText    `xml:"system-out"`
}

// junitText is multi-line text, kept readable in the file as CDATA.
type junitText struct {
	Text string `xml:",cdata"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",cdata"`
}

// JUnit writes the results as JUnit XML: one testsuite per engine, one testcase per cell
// (named by its ID, so `--only id=NAME` reruns it). A cell that differs from its expectation is
// a <failure>, or an <error> when its verdict is error or timeout; a cell that did not run is
// <skipped>. The text of each gives expected and actual, the oracle's findings, the tail of the
// probes' stderr and the rerun command. A failed run (results' error) adds a testsuite "run"
// whose one testcase is that error, so no test reporter shows a broken run as green.
func JUnit(w io.Writer, r *results.Results) error {
	r = printable(r)
	doc := junitSuites{Name: "awacompat awa " + r.Target.Awa}
	props := junitProps(r)
	var timestamp string
	if !r.StartedAt.IsZero() {
		timestamp = r.StartedAt.UTC().Format("2006-01-02T15:04:05")
	}
	index := map[string]int{}
	var totalMS int64
	for i := range r.Cells {
		c := &r.Cells[i]
		suite := junitSuiteName(c)
		si, ok := index[suite]
		if !ok {
			si = len(doc.Suites)
			index[suite] = si
			doc.Suites = append(doc.Suites, junitSuite{Name: suite, Timestamp: timestamp, Properties: props})
		}
		s := &doc.Suites[si]
		tc := junitCase{Name: c.ID, Classname: "awacompat." + suite, Time: seconds(c.DurationMS)}
		if out := junitOut(c); out != "" {
			tc.SystemOut = &junitText{xmlSafe(out)}
		}
		switch {
		case c.OK:
		case c.Actual == "skipped":
			tc.Skipped = &junitProblem{Message: c.Detail}
			s.Skipped++
		case c.Actual == "error" || c.Actual == "timeout":
			tc.Error = &junitProblem{Message: junitMessage(c), Type: c.Actual, Text: xmlSafe(junitBody(c))}
			s.Errors++
		default:
			tc.Failure = &junitProblem{Message: junitMessage(c), Type: c.Actual, Text: xmlSafe(junitBody(c))}
			s.Failures++
		}
		s.Tests++
		s.Cases = append(s.Cases, tc)
		totalMS += c.DurationMS
		cases, failures, skipped := suiteJUnitCases(c)
		s.Cases = append(s.Cases, cases...)
		s.Tests += len(cases)
		s.Failures += failures
		s.Skipped += skipped
	}
	if r.Error != "" {
		doc.Suites = append(doc.Suites, junitSuite{
			Name: "run", Tests: 1, Errors: 1, Time: "0", Timestamp: timestamp, Properties: props,
			Cases: []junitCase{{Name: "run", Classname: "awacompat.run", Time: "0",
				Error: &junitProblem{Message: "the run failed: " + redact.Text(r.Error), Type: "infrastructure", Text: xmlSafe(redact.Text(r.Error))}}},
		})
	}
	for i := range doc.Suites {
		s := &doc.Suites[i]
		var ms int64
		for _, c := range r.Cells {
			if junitSuiteName(&c) == s.Name && s.Name != "run" {
				ms += c.DurationMS
			}
		}
		if s.Time == "" {
			s.Time = seconds(ms)
		}
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
	}
	doc.Time = seconds(totalMS)
	if !r.StartedAt.IsZero() && !r.FinishedAt.IsZero() {
		doc.Time = seconds(r.FinishedAt.Sub(r.StartedAt).Milliseconds())
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	return nil
}

func junitProps(r *results.Results) []junitProperty {
	p := []junitProperty{
		{"awa", r.Target.Awa},
		{"schema_version", fmt.Sprint(r.Target.SchemaVersion)},
	}
	if r.Postgres.Version != "" {
		p = append(p, junitProperty{"postgres", r.Postgres.Version + " (" + r.Postgres.Mode + ")"})
	}
	if sh := shardList(r); sh != "" {
		p = append(p, junitProperty{"shards", sh})
	}
	if r.Interrupted {
		p = append(p, junitProperty{"interrupted", "true"})
	}
	return p
}

// junitMessage is the one-line message: "expected pass, got fail: <detail>".
func junitMessage(c *results.Cell) string {
	m := expectedGot(c)
	if c.Detail != "" {
		m += ": " + c.Detail
	}
	return m
}

// junitBody is the text of a failure: everything needed to understand and rerun the cell.
func junitBody(c *results.Cell) string {
	var b strings.Builder
	fmt.Fprintf(&b, "cell:     %s\n", c.ID)
	exp := c.Expected
	if c.ExpectedError != "" {
		exp += " (error matching /" + c.ExpectedError + "/)"
	}
	fmt.Fprintf(&b, "expected: %s\n", exp)
	fmt.Fprintf(&b, "actual:   %s\n", c.Actual)
	if c.Detail != "" {
		fmt.Fprintf(&b, "detail:   %s\n", c.Detail)
	}
	fmt.Fprintf(&b, "because:  %s (%s)\n", c.Because, ruleName(c))
	if c.Error != nil {
		fmt.Fprintf(&b, "error:    %s\n", errorText(c.Error))
	}
	if len(c.Findings) > 0 {
		b.WriteString("findings:\n")
		for _, f := range c.Findings {
			fmt.Fprintf(&b, "  - %s\n", f)
		}
	}
	if c.Attempts > 1 {
		fmt.Fprintf(&b, "attempts: %d\n", c.Attempts)
	}
	if c.KeptDatabase != "" {
		fmt.Fprintf(&b, "database kept: psql '%s'\n", redact.URL(c.KeptDatabase))
	}
	if c.Logs != "" {
		fmt.Fprintf(&b, "logs:     %s\n", c.Logs)
	}
	if c.StderrTail != "" {
		b.WriteString("stderr tail:\n")
		for _, l := range strings.Split(strings.TrimRight(redact.Text(c.StderrTail), "\n"), "\n") {
			b.WriteString("  " + l + "\n")
		}
	}
	fmt.Fprintf(&b, "rerun:    %s\n", c.Repro)
	return b.String()
}

// junitOut is every cell's detail and findings, shown by reporters for passing cases too.
func junitOut(c *results.Cell) string {
	var b strings.Builder
	if c.Detail != "" {
		b.WriteString(c.Detail + "\n")
	}
	for _, f := range c.Findings {
		b.WriteString("- " + f + "\n")
	}
	return b.String()
}

func seconds(ms int64) string {
	return fmt.Sprintf("%.3f", (time.Duration(ms) * time.Millisecond).Seconds())
}

// xmlSafe replaces the characters XML 1.0 does not allow (the encoder does this for attributes
// and character data, but not for CDATA): probes' stderr may hold terminal escapes.
func xmlSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r',
			r >= 0x20 && r <= 0xD7FF,
			r >= 0xE000 && r <= 0xFFFD,
			r >= 0x10000 && r <= 0x10FFFF:
			return r
		}
		return '\uFFFD'
	}, s)
}

// junitSuiteName is a cell's suite: its engine, after its PostgreSQL major on a run over
// several ("pg17.canonical").
func junitSuiteName(c *results.Cell) string {
	if c.Postgres == 0 {
		return c.Engine
	}
	return fmt.Sprintf("pg%d.%s", c.Postgres, c.Engine)
}
