package testparse

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Libtest reads the stdout of libtest test binaries (what `cargo test` prints for each), in
// its JSON event form (`-Z unstable-options --format json`, nextest's libtest-json too) or its
// text form, or a mix: each line is read as an event when it holds one, else as text.
//
// In the text form, a test's result can come after uncaptured output on the line where its
// name was printed ("test x ... " then noise then "ok" when tests run one at a time), and
// the captured output of failed tests (and of passed ones under --show-output) comes in
// "---- name stdout ----" sections after every result.
func Libtest(stdout []byte) Result {
	p := &libtestParser{index: map[string]int{}, running: map[string]bool{}}
	for _, line := range strings.Split(string(stdout), "\n") {
		p.line(strings.TrimRight(line, "\r"))
	}
	p.flushSection()
	r := Result{Declared: p.declared, Finished: p.starts > 0 && p.finishes >= p.starts}
	for _, t := range p.tests {
		delete(p.running, t.FullName())
	}
	r.Tests = p.tests
	for _, name := range p.order {
		if p.running[name] {
			r.Running = append(r.Running, name)
		}
	}
	markSkips(r.Tests)
	return r
}

type libtestParser struct {
	tests    []Test
	index    map[string]int // FullName -> position in tests
	running  map[string]bool
	order    []string // tests in the order they started (or were named)
	declared int
	starts   int // "running N tests" / suite started
	finishes int // "test result:" / suite ok|failed

	pending   string   // text form: a "test x ... " whose result has not come yet
	slowNames []string // tests warned about before their result

	section     bool    // inside the failures/successes part of a text run
	sectionName string  // the test whose ---- output ---- is being read
	listOf      Outcome // the name list being read: Fail after "failures:", Pass after "successes:"
	sectionBuf  strings.Builder
}

var (
	runningRE = regexp.MustCompile(`running (\d+) tests?$`)
	// resultRE: a result line; anything before "test " is uncaptured output of another test.
	resultRE = regexp.MustCompile(`^.*?test (\S+)(?: - should panic)? \.\.\. (.*)$`)
	// verdictRE: the result word at the end of a line ("ok", "FAILED", "ignored, reason"),
	// with --report-time's duration.
	verdictRE = regexp.MustCompile(`(?:^|[^\w])?(ok|FAILED|ignored(?:, (.*?))?)(?: <([0-9.]+)s>)?$`)
	slowRE    = regexp.MustCompile(`test (\S+) has been running for over \d+ seconds`)
	sectionRE = regexp.MustCompile(`^---- (\S+) std(?:out|err) ----$`)
	summaryRE = regexp.MustCompile(`^test result: (ok|FAILED)\. `)
)

func (p *libtestParser) add(t Test) {
	name := t.FullName()
	t.Slow = t.Slow || slices.Contains(p.slowNames, name)
	if i, ok := p.index[name]; ok {
		// A second result for a test (nextest retries): the last word counts, output kept.
		if t.Output == "" {
			t.Output = p.tests[i].Output
		}
		t.Slow = t.Slow || p.tests[i].Slow
		p.tests[i] = t
		return
	}
	p.index[name] = len(p.tests)
	p.tests = append(p.tests, t)
	if !p.running[name] {
		p.order = append(p.order, name)
	}
}

func (p *libtestParser) line(line string) {
	if i := jsonStart(line); i >= 0 {
		if p.event(line[i:]) {
			return
		}
	}
	if p.section {
		p.sectionLine(line)
		return
	}
	if m := runningRE.FindStringSubmatch(line); m != nil {
		n, _ := strconv.Atoi(m[1])
		p.declared += n
		p.starts++
		return
	}
	if m := slowRE.FindStringSubmatch(line); m != nil {
		p.slow(m[1])
		return
	}
	if line == "failures:" || line == "successes:" {
		p.section = true
		p.listOf = listOutcome(line)
		return
	}
	if summaryRE.MatchString(line) {
		p.finishes++
		return
	}
	if m := resultRE.FindStringSubmatch(line); m != nil {
		if p.pending != "" && p.pending != m[1] {
			p.pendingNoResult()
		}
		if p.result(m[1], m[2]) {
			p.pending = ""
		} else {
			p.pending = m[1]
			p.startRunning(m[1])
		}
		return
	}
	if p.pending != "" && p.result(p.pending, line) {
		p.pending = ""
	}
}

// pendingNoResult: a test printed its name and another test's line came before its result
// (only possible in a stream that is not libtest's own order); it stays running.
func (p *libtestParser) pendingNoResult() { p.pending = "" }

func (p *libtestParser) startRunning(name string) {
	if !p.running[name] {
		p.running[name] = true
		p.order = append(p.order, name)
	}
}

// result reads rest (what follows "test name ... ", perhaps behind noise) as the test's
// result; false when it holds none.
func (p *libtestParser) result(name, rest string) bool {
	m := verdictRE.FindStringSubmatch(rest)
	if m == nil {
		return false
	}
	t := Test{Name: name}
	switch {
	case m[1] == "ok":
		t.Outcome = Pass
	case m[1] == "FAILED":
		t.Outcome = Fail
	default:
		t.Outcome, t.Reason = Ignored, m[2]
	}
	if m[3] != "" {
		if d, err := strconv.ParseFloat(m[3], 64); err == nil {
			t.Duration, t.Timed = time.Duration(d*float64(time.Second)), true
		}
	}
	p.add(t)
	return true
}

func (p *libtestParser) slow(name string) {
	if i, ok := p.index[name]; ok {
		p.tests[i].Slow = true
		return
	}
	p.startRunning(name)
	p.slowNames = append(p.slowNames, name)
}

// sectionLine reads the part of a text run after the results: each test's captured output
// under its "---- name stdout ----" header, the lists of names, and the summary.
func (p *libtestParser) sectionLine(line string) {
	if m := sectionRE.FindStringSubmatch(line); m != nil {
		p.flushSection()
		p.sectionName = m[1]
		return
	}
	if summaryRE.MatchString(line) {
		p.flushSection()
		p.finishes++
		p.section = false
		return
	}
	if line == "failures:" || line == "successes:" {
		p.flushSection()
		p.listOf = listOutcome(line)
		return
	}
	if p.sectionName != "" {
		p.sectionBuf.WriteString(line)
		p.sectionBuf.WriteString("\n")
		return
	}
	// The list of failed (or succeeded) names: "    name".
	if name, ok := strings.CutPrefix(line, "    "); ok && name != "" && !strings.Contains(name, " ") {
		if _, seen := p.index[name]; !seen {
			p.add(Test{Name: name, Outcome: p.listOf})
		}
	}
}

func (p *libtestParser) flushSection() {
	if p.sectionName == "" {
		return
	}
	out := strings.TrimRight(p.sectionBuf.String(), "\n")
	// The last section runs until the name list; its blank separator lines are not output.
	if i, ok := p.index[p.sectionName]; ok {
		p.tests[i].Output = strings.TrimLeft(out, "\n")
	} else {
		p.add(Test{Name: p.sectionName, Outcome: Fail, Output: strings.TrimLeft(out, "\n")})
	}
	p.sectionName = ""
	p.sectionBuf.Reset()
}

// jsonStart finds a libtest JSON event in a line, which may follow uncaptured output.
func jsonStart(line string) int {
	for _, prefix := range []string{`{ "type": "`, `{"type":"`} {
		if i := strings.Index(line, prefix); i >= 0 {
			return i
		}
	}
	return -1
}

type libtestEvent struct {
	Type      string   `json:"type"`
	Event     string   `json:"event"`
	Name      string   `json:"name"`
	TestCount int      `json:"test_count"`
	ExecTime  *float64 `json:"exec_time"`
	Stdout    string   `json:"stdout"`
	Message   string   `json:"message"`
	Reason    string   `json:"reason"`
}

// event reads one JSON event; false when the text is not one (then it is read as text).
func (p *libtestParser) event(s string) bool {
	var e libtestEvent
	if err := json.Unmarshal([]byte(s), &e); err != nil || e.Type == "" {
		return false
	}
	switch e.Type {
	case "suite":
		switch e.Event {
		case "started":
			p.starts++
			p.declared += e.TestCount
		case "ok", "failed":
			p.finishes++
		}
	case "test":
		binary, name := splitNextestName(e.Name)
		t := Test{Binary: binary, Name: name, Output: e.Stdout}
		if e.ExecTime != nil {
			t.Duration, t.Timed = time.Duration(*e.ExecTime*float64(time.Second)), true
		}
		switch e.Event {
		case "started":
			p.startRunning(t.FullName())
			return true
		case "timeout": // libtest's "has been running for over 60 seconds"
			p.slow(t.FullName())
			return true
		case "ok":
			t.Outcome = Pass
		case "failed":
			t.Outcome, t.Reason = Fail, e.Message
			if e.Reason == "time limit exceeded" { // nextest's slow-timeout killed it
				t.Outcome, t.Reason = Timeout, e.Reason
			}
		case "ignored":
			t.Outcome, t.Reason = Ignored, e.Message
		default:
			return true
		}
		p.add(t)
	}
	return true
}

// splitNextestName splits nextest's "crate::binary$test" into its binary and test.
func splitNextestName(s string) (binary, name string) {
	if b, n, ok := strings.Cut(s, "$"); ok {
		return b, n
	}
	return "", s
}

func listOutcome(header string) Outcome {
	if header == "successes:" {
		return Pass
	}
	return Fail
}
