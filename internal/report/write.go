package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/awacompat/awacompat/internal/results"
)

// The files WriteFiles puts next to results.json.
const (
	JUnitFile    = "junit.xml"
	MarkdownFile = "summary.md"
	HTMLFile     = "report.html"
)

// StepSummaryEnv names the file GitHub Actions shows as the job's summary.
const StepSummaryEnv = "GITHUB_STEP_SUMMARY"

// WriteAll writes every report of r into dir, next to results.json (WriteFiles), and appends
// the Markdown summary to $GITHUB_STEP_SUMMARY when it is set (StepSummary). It is meant to run
// at the end of every run, including failed and interrupted ones; it writes what it can and
// returns the errors joined.
func WriteAll(dir string, r *results.Results) error {
	return errors.Join(WriteFiles(dir, r), StepSummary(r))
}

// WriteFiles writes junit.xml, summary.md, report.html and support.svg into dir, each
// atomically. The HTML report links to the cells' log folders relative to dir; the picture's
// entries link to their cells in report.html.
func WriteFiles(dir string, r *results.Results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write reports: %w", err)
	}
	return errors.Join(
		writeFile(dir, JUnitFile, func(w io.Writer) error { return JUnit(w, r) }),
		writeFile(dir, MarkdownFile, func(w io.Writer) error { return Markdown(w, r) }),
		writeFile(dir, HTMLFile, func(w io.Writer) error { return HTML(w, r, HTMLOptions{Dir: dir}) }),
		writeFile(dir, SVGFile, func(w io.Writer) error { return SVG(w, r, SVGOptions{ReportHref: HTMLFile}) }),
	)
}

// StepSummary appends the Markdown summary to the file named by $GITHUB_STEP_SUMMARY, and does
// nothing when it is unset (outside GitHub Actions).
func StepSummary(r *results.Results) error {
	path := os.Getenv(StepSummaryEnv)
	if path == "" {
		return nil
	}
	var b bytes.Buffer
	if err := Markdown(&b, r); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("step summary: %w", err)
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("step summary: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("step summary: %w", err)
	}
	return nil
}

// JSON writes r as results.json is written.
func JSON(w io.Writer, r *results.Results) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("json: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// writeFile renders into dir/name through a temporary file, so a reader never sees half a
// report.
func writeFile(dir, name string, render func(io.Writer) error) error {
	var b bytes.Buffer
	if err := render(&b); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	tmp := filepath.Join(dir, name+".tmp")
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
