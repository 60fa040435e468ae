package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/awacompat/awacompat/internal/redact"
	"github.com/awacompat/awacompat/internal/results"
)

//go:embed report.html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"anchor": anchor,
	// href is the link to a cell's section. The id is escaped as a path segment, which keeps
	// the IDs' "=" readable (html/template's own escaping would turn it into %3d).
	"href": func(id string) template.URL { return template.URL("#" + url.PathEscape(anchor(id))) },
}).Parse(htmlSource))

// anchor is the HTML id of a cell's section.
func anchor(id string) string { return "cell-" + id }

// HTMLOptions says where the HTML report finds the cells' log files.
type HTMLOptions struct {
	// Dir is the results folder. The report lists the files present in each cell's log folder
	// under it, and embeds the tails of the logs of cells that did not match. Empty: nothing
	// is read, and each cell links to its log folder only.
	Dir string
	// LinkBase is the relative path from the folder the HTML file is saved in to the results
	// folder; links to log files start with it. Empty when the HTML sits next to results.json,
	// as WriteFiles puts it.
	LinkBase string
}

// tailLines bounds each embedded log tail.
const (
	tailLines   = 20
	tailLineLen = 400
)

type htmlPage struct {
	Title       string
	Headline    string
	AllOK       bool
	Sub         string // one line of the run's facts under the headline
	Facts       []htmlFact
	Interrupted bool
	Error       string
	Counts      []htmlCount
	// Problems are the cells that ran and differ from their expectation, listed above the
	// picture with their rerun commands (at most maxDetailed; MoreProblems counts the rest).
	Problems     []htmlCell
	MoreProblems int
	Picture      template.HTML
	Cells        []htmlCell
	// Suites are the engine diffs of the run's test suites (suite.go).
	Suites []htmlSuite
}

type htmlFact struct{ Name, Value string }

type htmlCount struct {
	Label, Class string
	N            int
}

type htmlCell struct {
	ID, Class, Outcome    string
	Expected, Actual      string
	ExpectedError         string
	Roles, Duration       string
	Detail, Because, Rule string
	Findings              []string
	Error                 string
	KeptDatabase          string
	Repro                 string
	Attempts              int
	Logs, LogsHref        string
	Files                 []htmlFile
	Tails                 []htmlTail
	StderrTail            string
}

type htmlFile struct{ Name, Href, Size string }

type htmlTail struct{ Name, Text string }

// HTML writes a self-contained HTML report (no external CSS, scripts or fonts, and no
// JavaScript): the headline, the cells that differ from their expectation with their rerun
// commands, the support picture (picture.go) whose squares link to their cells, the run's
// facts, and every cell with expected and actual verdicts, detail, findings, error, rerun
// command and relative links to its log files, with the log tails of the cells that did not
// match embedded in an expandable section. Its colours follow prefers-color-scheme.
func HTML(w io.Writer, r *results.Results, opts HTMLOptions) error {
	r = printable(r)
	p := htmlPage{
		Title:       "awacompat: awa " + r.Target.Awa,
		Headline:    fmt.Sprintf("%d of %d cells as expected", r.Summary.OK, r.Summary.Total),
		AllOK:       allOK(r),
		Interrupted: r.Interrupted,
		Error:       redact.Text(r.Error),
		Sub:         subLine(r),
		// The picture's text is escaped by drawPicture itself (esc), every piece of it.
		Picture: template.HTML(drawPicture(r, "", false)),
	}
	p.Facts = htmlFacts(r)
	p.Suites = htmlSuites(r)
	s := r.Summary
	p.Counts = []htmlCount{
		{"as expected", classOK, s.OK},
		{"mismatched", classMismatch, s.Mismatched},
		{"errors", classError, s.Errors},
		{"not run", classSkipped, s.Skipped},
		{plural(s.Unexpected, "unexpected pass", "unexpected passes"), classUnexpected, s.Unexpected},
	}
	labels := artifactLabels(r)
	for i := range r.Cells {
		c := &r.Cells[i]
		hc := htmlCell{
			ID: c.ID, Class: classOf(c), Outcome: outcome(c),
			Expected: c.Expected, Actual: c.Actual, ExpectedError: c.ExpectedError,
			Roles:    roleSummary(c, labels),
			Duration: (time.Duration(c.DurationMS) * time.Millisecond).Round(100 * time.Millisecond).String(),
			Detail:   c.Detail, Because: c.Because, Rule: ruleName(c), Findings: c.Findings,
			Repro: c.Repro, Attempts: c.Attempts, StderrTail: redact.Text(c.StderrTail),
		}
		if c.Error != nil {
			hc.Error = errorText(c.Error)
		}
		if c.KeptDatabase != "" {
			hc.KeptDatabase = "psql '" + redact.URL(c.KeptDatabase) + "'"
		}
		if c.Logs != "" {
			hc.Logs = c.Logs
			hc.LogsHref = escapePath(filepath.Join(opts.LinkBase, c.Logs)) + "/"
			if opts.Dir != "" {
				hc.Files, hc.Tails = cellFiles(opts, c)
			}
		}
		p.Cells = append(p.Cells, hc)
		if !c.OK && c.Actual != "skipped" {
			if len(p.Problems) == maxDetailed {
				p.MoreProblems++
			} else {
				p.Problems = append(p.Problems, hc)
			}
		}
	}
	if err := htmlTemplate.Execute(w, p); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	return nil
}

func htmlFacts(r *results.Results) []htmlFact {
	t := fmt.Sprintf("awa %s", r.Target.Awa)
	if r.Target.Origin != "" {
		t += " from " + displayOrigin(r.Target.Origin)
	}
	sv := fmt.Sprint(r.Target.SchemaVersion)
	if r.Target.ExpectedSchemaVersion != 0 {
		sv += fmt.Sprintf(" (expected %d)", r.Target.ExpectedSchemaVersion)
	}
	f := []htmlFact{{"cells", summaryLine(r)}, {"target", t}, {"schema version", sv}}
	if r.Postgres.Mode != "" || r.Postgres.Version != "" {
		pg := strings.TrimSpace(r.Postgres.Version + " (" + r.Postgres.Mode + ")")
		if r.Postgres.URL != "" {
			pg += " at " + redact.URL(r.Postgres.URL)
		}
		f = append(f, htmlFact{"PostgreSQL", pg})
	}
	if r.Matrix != "" {
		f = append(f, htmlFact{"matrix", displayPath(r.Matrix)})
	}
	if sh := shardList(r); sh != "" {
		f = append(f, htmlFact{"shards", sh})
	}
	if !r.StartedAt.IsZero() {
		f = append(f, htmlFact{"started", r.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC")})
	}
	if !r.FinishedAt.IsZero() {
		f = append(f, htmlFact{"finished", r.FinishedAt.UTC().Format("2006-01-02 15:04:05 UTC") + " (" + r.FinishedAt.Sub(r.StartedAt).Round(time.Second).String() + ")"})
	}
	if r.Tool != "" {
		f = append(f, htmlFact{"awacompat", r.Tool})
	}
	var arts []string
	for _, a := range r.Artifacts {
		s := fmt.Sprintf("%s (%s %s", a.Name, a.Kind, a.Version)
		if a.Origin != "" {
			s += " from " + displayOrigin(a.Origin)
		}
		s += ")"
		if a.Error != "" {
			s += " FAILED: " + redact.Text(a.Error)
		}
		arts = append(arts, s)
	}
	if len(arts) > 0 {
		f = append(f, htmlFact{"artifacts", strings.Join(arts, "; ")})
	}
	return f
}

// subLine is the run in one line: "schema version 40 · matrix.yaml · PostgreSQL 15.18 ·
// 2026-12-02 14:47 UTC, took 1m12s".
func subLine(r *results.Results) string {
	parts := []string{fmt.Sprintf("schema version %d", r.Target.SchemaVersion)}
	if r.Matrix != "" {
		parts = append(parts, displayPath(r.Matrix))
	}
	if r.Postgres.Version != "" {
		parts = append(parts, "PostgreSQL "+pgVersion(r.Postgres.Version))
	}
	if sh := shardList(r); sh != "" {
		parts = append(parts, "shards "+sh)
	}
	if !r.StartedAt.IsZero() {
		when := r.StartedAt.UTC().Format("2006-01-02 15:04 UTC")
		if !r.FinishedAt.IsZero() {
			when += ", took " + r.FinishedAt.Sub(r.StartedAt).Round(time.Second).String()
		}
		parts = append(parts, when)
	}
	return strings.Join(parts, " · ")
}

// cellFiles lists the files in a cell's log folder and, for a cell that did not match, reads
// the tails of its logs. A folder that cannot be read yields nothing: the report is still
// written, with the link to the folder.
func cellFiles(opts HTMLOptions, c *results.Cell) ([]htmlFile, []htmlTail) {
	if !filepath.IsLocal(c.Logs) {
		return nil, nil
	}
	dir := filepath.Join(opts.Dir, c.Logs)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil
	}
	var files []htmlFile
	var tails []htmlTail
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		files = append(files, htmlFile{
			Name: e.Name(),
			Href: escapePath(filepath.Join(opts.LinkBase, c.Logs, e.Name())),
			Size: byteSize(info.Size()),
		})
		if c.OK || info.Size() == 0 || !isLog(e.Name()) {
			continue
		}
		if t := tail(filepath.Join(dir, e.Name())); t != "" {
			tails = append(tails, htmlTail{Name: e.Name(), Text: t})
		}
	}
	return files, tails
}

// isLog is true for the probe output worth embedding (not the specs, which hold the URL).
func isLog(name string) bool {
	return strings.HasSuffix(name, ".stdout.jsonl") || strings.HasSuffix(name, ".log")
}

// tail returns the last lines of a file, each cut to a readable length, passwords removed and
// control characters escaped (a probe's or CLI's raw output may hold terminal sequences).
func tail(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > tailLines {
		lines = slices.Concat([]string{fmt.Sprintf("… %d earlier lines", len(lines)-tailLines)}, lines[len(lines)-tailLines:])
	}
	for i, l := range lines {
		if len(l) > tailLineLen {
			lines[i] = strings.ToValidUTF8(l[:tailLineLen], "") + "…"
		}
	}
	return redact.Printable(strings.Join(lines, "\n"))
}

// escapePath escapes each segment of a relative path for a URL.
func escapePath(p string) string {
	parts := strings.Split(filepath.ToSlash(p), "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return path.Join(parts...)
}

func byteSize(n int64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1024*1024:
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1024*1024))
}

// displayPath shows a local path without the machine's layout: a relative path as it is, an
// absolute one as its last two elements ("…/awa-main/awa-cli"), so reports name what they
// ran without printing where it sat on the machine that ran it.
func displayPath(p string) string {
	if !filepath.IsAbs(p) {
		return p
	}
	dir, base := filepath.Split(filepath.Clean(p))
	if parent := filepath.Base(dir); parent != "/" && parent != "." && parent != "" {
		base = parent + "/" + base
	}
	return ".../" + base
}

// displayOrigin is an artifact's origin with a local path shown by displayPath:
// "path:.../awa-main/awa-cli".
func displayOrigin(o string) string {
	for _, prefix := range []string{"path:", "file:"} {
		if rest, ok := strings.CutPrefix(o, prefix); ok {
			return prefix + displayPath(rest)
		}
	}
	return o
}

// plural picks the singular or plural noun for n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
