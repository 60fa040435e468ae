package testparse

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// JUnit reads a JUnit XML report (pytest --junitxml, nextest's junit.xml): one test per
// testcase, its binary the testcase's classname. A failure or error is fail (its message the
// reason, its text and the captured output the output), a skipped element skipped, except
// pytest's xfail, which is a pass as pytest counts it; a pass whose output has awa's [skip]
// line is skipped.
func JUnit(b []byte) (Result, error) {
	var doc struct {
		XMLName xml.Name
		Suites  []junitSuite `xml:"testsuite"`
		junitSuite
	}
	if err := xml.NewDecoder(bytes.NewReader(b)).Decode(&doc); err != nil {
		return Result{}, fmt.Errorf("read JUnit XML: %w", err)
	}
	suites := doc.Suites
	if doc.XMLName.Local == "testsuite" { // a single suite at the top
		suites = []junitSuite{doc.junitSuite}
	}
	r := Result{Finished: true}
	for _, s := range suites {
		r.Declared += s.Tests
		for _, c := range s.Cases {
			t := Test{Binary: c.Classname, Name: c.Name}
			if d, err := strconv.ParseFloat(c.Time, 64); err == nil {
				t.Duration, t.Timed = time.Duration(d*float64(time.Second)), true
			}
			var out []string
			switch {
			case len(c.Failures) > 0 || len(c.Errors) > 0:
				t.Outcome = Fail
				for _, f := range append(c.Failures, c.Errors...) {
					if t.Reason == "" {
						t.Reason = strings.TrimSpace(f.Message)
					}
					if strings.Contains(f.Type, "timeout") { // nextest: type="test timeout"
						t.Outcome = Timeout
					}
					out = append(out, strings.TrimSpace(f.Text))
				}
			case c.Skipped != nil:
				t.Outcome, t.Reason = Ignored, strings.TrimSpace(c.Skipped.Message)
				if c.Skipped.Type == "pytest.xfail" {
					t.Outcome = Pass
				} else if c.Skipped.Type == "pytest.skip" {
					t.Outcome = Skipped // pytest.skip() and skip markers: decided when the test ran
				}
			default:
				t.Outcome = Pass
			}
			for _, o := range []string{c.SystemOut, c.SystemErr} {
				if o = strings.TrimSpace(o); o != "" {
					out = append(out, o)
				}
			}
			for _, o := range c.RerunFailures {
				if t.Reason == "" {
					t.Reason = "flaky: " + strings.TrimSpace(o.Message)
				}
			}
			t.Output = strings.Join(out, "\n")
			r.Tests = append(r.Tests, t)
		}
	}
	markSkips(r.Tests)
	return r, nil
}

type junitSuite struct {
	Tests int         `xml:"tests,attr"`
	Cases []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string         `xml:"name,attr"`
	Classname string         `xml:"classname,attr"`
	Time      string         `xml:"time,attr"`
	Failures  []junitFailure `xml:"failure"`
	Errors    []junitFailure `xml:"error"`
	Skipped   *junitFailure  `xml:"skipped"`
	// nextest records retries of a test that passed in the end as flakyFailure.
	RerunFailures []junitFailure `xml:"flakyFailure"`
	SystemOut     string         `xml:"system-out"`
	SystemErr     string         `xml:"system-err"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}
