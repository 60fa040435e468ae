package testparse

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// NextestText reads nextest's human output (its stderr, --color never): a status line per
// test ("PASS [   0.004s] ( 1/12) crate::binary test_name"), SLOW notices, and, with
// --success-output/--failure-output immediate, each test's captured output indented below
// its status line under "stdout ───" and "stderr ───" headers.
func NextestText(stderr []byte) Result {
	var r Result
	index := map[string]int{}
	cur := -1 // the test whose output block is being read
	var buf strings.Builder
	flush := func() {
		if cur >= 0 {
			r.Tests[cur].Output = strings.TrimRight(buf.String(), "\n")
		}
		cur = -1
		buf.Reset()
	}
	slow := map[string]bool{}
	for _, line := range strings.Split(string(stderr), "\n") {
		line = strings.TrimRight(line, "\r")
		if m := nextestStatusRE.FindStringSubmatch(line); m != nil {
			flush()
			status, binary, name := m[1], m[3], m[4]
			t := Test{Binary: binary, Name: name}
			switch status {
			case "SLOW", "TERMINATING":
				slow[t.FullName()] = true
				continue
			case "PASS":
				t.Outcome = Pass
			case "FAIL", "SIGSEGV", "SIGABRT", "SIGKILL", "ABORT", "LEAK-FAIL":
				t.Outcome, t.Reason = Fail, strings.ToLower(status)
			case "TIMEOUT":
				t.Outcome, t.Reason = Timeout, "nextest slow-timeout"
			case "SKIP", "IGNORED":
				t.Outcome = Ignored
			case "FLAKY":
				t.Outcome, t.Reason = Pass, "flaky: passed on a retry"
			default: // TRY n FAIL, RETRY, and statuses a newer nextest adds: not a final result
				continue
			}
			if d, err := strconv.ParseFloat(m[2], 64); err == nil {
				t.Duration, t.Timed = time.Duration(d*float64(time.Second)), true
			}
			t.Slow = slow[t.FullName()]
			if i, ok := index[t.FullName()]; ok {
				if r.Finished {
					continue // the summary's list of failures repeats their status lines
				}
				r.Tests[i] = t // a retry's result replaces the try before
				cur = i
			} else {
				index[t.FullName()] = len(r.Tests)
				r.Tests = append(r.Tests, t)
				cur = len(r.Tests) - 1
			}
			continue
		}
		if m := nextestStartRE.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			r.Declared += n
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "Summary [") {
			flush()
			r.Finished = true
			continue
		}
		if cur < 0 {
			continue
		}
		if strings.HasPrefix(line, "────") || strings.HasPrefix(line, "  Cancelling") {
			flush()
			continue
		}
		if h := strings.TrimSpace(line); h == "stdout ───" || h == "stderr ───" {
			continue
		}
		buf.WriteString(strings.TrimPrefix(line, "    "))
		buf.WriteString("\n")
	}
	flush()
	markSkips(r.Tests)
	return r
}

var (
	// "        PASS [   0.008s] ( 2/12) standin::suite ignored_by_author"; older nextest has
	// no "( n/m)" counter.
	nextestStatusRE = regexp.MustCompile(`^\s*([A-Z][A-Z-]*(?: \d+/\d+)?) \[[ >]*([0-9.]+)s\]\s*(?:\([^)]*\)\s*)?(\S+) (\S+)$`)
	nextestStartRE  = regexp.MustCompile(`^\s*Starting (\d+) tests? across`)
)
