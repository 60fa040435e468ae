package scenario

// Table tests for the pure judging logic of the contract scenarios: no database, no probes.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/internal/results"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/probes"
)

func TestJSONDiff(t *testing.T) {
	cases := []struct {
		name string
		a, b string
		want string // substring of the difference; "" means equal
	}{
		{"equal objects, other key order", `{"a":1,"b":[1,2]}`, `{"b":[1,2],"a":1}`, ""},
		{"int64 max exact", `{"n":9223372036854775807}`, `{"n":9223372036854775807}`, ""},
		{"beyond 2^53 differs", `{"n":9007199254740993}`, `{"n":9007199254740992}`, "$.n: 9007199254740993 vs 9007199254740992"},
		{"float text forms", `{"x":1e-300,"y":2.5e-7}`, `{"x":0.` + strings.Repeat("0", 299) + `1,"y":0.00000025}`, ""},
		{"huge float as integer digits", `1e300`, `1` + strings.Repeat("0", 300), ""},
		{"1 equals 1.0", `[1]`, `[1.0]`, ""},
		{"null vs missing", `{"a":null}`, `{}`, "$.a: null on the left, missing on the right"},
		{"null vs zero", `{"a":null}`, `{"a":0}`, "$.a: null vs 0"},
		{"nested array length", `{"a":{"b":[1,2]}}`, `{"a":{"b":[1]}}`, "$.a.b: 2 elements vs 1"},
		{"string differs", `{"s":"e\u0301"}`, `{"s":"é"}`, "$.s: strings differ"},
		{"type differs", `{"s":"1"}`, `{"s":1}`, "$.s: string vs number"},
		{"bool differs", `[true]`, `[false]`, "$[0]: true vs false"},
		{"not json", `{`, `{}`, "left side is not JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := jsonDiff([]byte(c.a), []byte(c.b))
			if c.want == "" && got != "" {
				t.Fatalf("want equal, got %q", got)
			}
			if c.want != "" && !strings.Contains(got, c.want) {
				t.Fatalf("want a difference containing %q, got %q", c.want, got)
			}
		})
	}
}

// The fidelity payload is only worth sending if the comparison the scenario judges with
// (jsonDiff) sees what a lossy layer does to it, and sees nothing where a layer kept it exact.
func TestFidelityArgsExposeLossyLayers(t *testing.T) {
	args := fidelityArgs(Env{CellID: "c"}, "n0nce")
	sent := mustJSON(args)
	if !json.Valid(sent) {
		t.Fatal("fidelity args are not valid JSON")
	}
	for _, exact := range []string{`"int64_max":9223372036854775807`, `"int64_min":-9223372036854775808`, `"beyond_2_53":9007199254740993`} {
		if !bytes.Contains(sent, []byte(exact)) {
			t.Errorf("the payload sent lacks %s", exact)
		}
	}
	large := args["large"].(string)
	if len(large) > fidelityPayload || len(large) < fidelityPayload-4 || !utf8.ValidString(large) {
		t.Fatalf("large payload is %d bytes (valid UTF-8: %v), want ~%d", len(large), utf8.ValidString(large), fidelityPayload)
	}

	// Exact: numbers kept as written, keys reordered, whitespace added.
	dec := json.NewDecoder(bytes.NewReader(sent))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	kept, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if d := jsonDiff(sent, kept); d != "" {
		t.Errorf("an exact round trip reported as different: %s", d)
	}

	lossy := map[string]struct {
		change func([]byte) []byte
		want   string
	}{
		"numbers through float64": {func(b []byte) []byte {
			var f any
			if err := json.Unmarshal(b, &f); err != nil {
				t.Fatal(err)
			}
			return mustJSON(f)
		}, "$.numbers.beyond_2_53: 9007199254740993 vs 9007199254740992"},
		"unicode normalised (NFC)": {func(b []byte) []byte {
			return bytes.Replace(b, []byte("e\u0301"), []byte("\u00e9"), 1)
		}, "$.unicode.combining: strings differ"},
		"large string truncated": {func(b []byte) []byte {
			return bytes.Replace(b, []byte(large), []byte(large[:len(large)-1]), 1)
		}, "$.large: strings differ"},
		"null dropped": {func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"null":null,`), nil, 1)
		}, "$.null: null on the left, missing on the right"},
	}
	for name, l := range lossy {
		t.Run(name, func(t *testing.T) {
			changed := l.change(sent)
			if bytes.Equal(changed, sent) {
				t.Fatal("the change changed nothing: the payload lacks what it is meant to carry")
			}
			if d := jsonDiff(sent, changed); !strings.Contains(d, l.want) {
				t.Errorf("jsonDiff = %q, want it to contain %q", d, l.want)
			}
		})
	}
}

const jobList069 = `ID       KIND                      QUEUE      STATE      ATT   MAX  
2        awacompat_probe           awacompat_reads scheduled 0     25   
1        awacompat_probe           awacompat_reads available 0     25   

2 jobs listed.
`

const queueStats069 = `QUEUE           AVAIL      RUNNING    FAILED     COMPLETED/1H    LAG(s)     PAUSED  
awacompat_reads 1          0          0          0               13.9       no      
idle            0          0          0          0               -          no      
`

func TestParseCLI(t *testing.T) {
	jobs, err := parseCLIJobList(jobList069)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[0].ID != 2 || jobs[0].State != "scheduled" || jobs[1].Queue != "awacompat_reads" || *jobs[1].MaxAttempts != 25 || jobs[1].Args != nil {
		t.Fatalf("job list parsed as %+v", jobs)
	}
	if jobs, err := parseCLIJobList("No jobs found.\n"); err != nil || len(jobs) != 0 {
		t.Fatalf("empty list: %v %v", jobs, err)
	}
	if _, err := parseCLIJobList("ID KIND QUEUE STATE ATT MAX\n1 k q available zero 25\n"); err == nil {
		t.Fatal("bad attempt column accepted")
	}
	if _, err := parseCLIJobList("something else\n"); err == nil {
		t.Fatal("output without a header accepted")
	}

	stats, err := parseCLIQueueStats(queueStats069)
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 2 || stats[0].Queue != "awacompat_reads" || *stats[0].Available != 1 || stats[0].Scheduled != nil {
		t.Fatalf("queue stats parsed as %+v", stats)
	}
	if stats, err := parseCLIQueueStats("No queues found.\n"); err != nil || stats == nil || len(stats) != 0 {
		t.Fatalf("no queues: %v %v", stats, err)
	}

	dump := `{
  "job": {"id": 7, "kind": "awacompat_probe", "queue": "q", "args": {"n": 1}, "state": "available",
          "priority": 3, "attempt": 0, "max_attempts": 25, "metadata": {}, "tags": ["a"]},
  "summary": {}, "timeline": []
}`
	j, err := parseCLIJobDump(dump)
	if err != nil {
		t.Fatal(err)
	}
	if j.ID != 7 || *j.Priority != 3 || !j.HasTags || string(j.Args) != `{"n": 1}` {
		t.Fatalf("dump parsed as %+v", j)
	}
	if _, err := parseCLIJobDump("Error: JobNotFound { id: 9 }"); err == nil {
		t.Fatal("error text accepted as a dump")
	}
}

func TestCLIError(t *testing.T) {
	r := cliResult{Err: errors.New("exit status 1"), Code: 1, AwaError: "SchemaNotMigrated { expected: 40, found: 43 }"}
	e := cliError("migrate", r)
	if e.Class != "CLI" || e.Message != "Error: SchemaNotMigrated { expected: 40, found: 43 }" || e.Op != "migrate" {
		t.Fatalf("got %+v", e)
	}
	if !(cliResult{Err: errors.New("signal: killed"), Code: -1}).notFromAwa() {
		t.Fatal("a killed command is not an answer from awa")
	}
	if !(cliResult{Err: errors.New("exit status 1"), Code: 1}).notFromAwa() {
		t.Fatal("exit status 1 without awa's error line is not an answer from awa")
	}
	if r.notFromAwa() {
		t.Fatal("exit status 1 with awa's error line is awa's answer")
	}
}

// runCLI reads an awa that answered with an error as awa's answer, and one that was killed as
// a command that did not run.
func TestRunCLIClassifies(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		failed     bool
		message    string
	}{
		{"answered", `echo 'Error: JobNotFound { id: 9 }' >&2; exit 1`, false, "Error: JobNotFound { id: 9 }"},
		{"answered by 0.7", `echo 'error: job not found: 9' >&2; exit 1`, false, "Error: job not found: 9"},
		{"killed", `kill -9 $$`, true, ""},
		{"garbage and exit 1", `printf '\033[2Jgarbage\n'; exit 1`, true, ""},
		{"crashed", `echo 'thread main panicked' >&2; exit 101`, true, ""},
		{"ok", `echo 'Cancelled job 9'`, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "awa")
			if err := os.WriteFile(bin, []byte("#!/bin/sh\n"+tc.body+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			env := Env{URL: "postgres://u@127.0.0.1:1/db", Dir: t.TempDir(), Probes: map[string]Probe{"admin": {AwaBin: bin, Kind: "cli", Version: "0.6.9"}}}
			r := runCLI(context.Background(), env, "admin", "admin", "job", "cancel", "9")
			if r.notFromAwa() != tc.failed {
				t.Fatalf("notFromAwa %v, want %v (%+v)", r.notFromAwa(), tc.failed, r)
			}
			if tc.failed {
				if err := r.broken("job", "cancel", "9"); strings.ContainsRune(err.Error(), 0x1b) {
					t.Errorf("raw ESC in %q", err)
				}
				return
			}
			if tc.message == "" {
				if r.Err != nil {
					t.Fatalf("error %v", r.Err)
				}
				return
			}
			if e := cliError(probes.OpCancel, r); e.Message != tc.message {
				t.Errorf("message %q, want %q", e.Message, tc.message)
			}
			if _, err := os.Stat(filepath.Join(env.Dir, "admin.cmd")); err != nil {
				t.Error(err)
			}
		})
	}
}

func job(id int64, state oracle.JobState, attempt int) oracle.Job {
	return oracle.Job{ID: id, Kind: probes.JobKind, Queue: "q", State: state, Attempt: attempt, MaxAttempts: 25, Priority: 2,
		Args: json.RawMessage(`{"n":1}`), Metadata: json.RawMessage(`{}`), Tags: []string{}, Location: "canonical"}
}

func TestJudgeCancels(t *testing.T) {
	dbErr := &results.ErrorInfo{Op: "cancel", Class: "DatabaseError", Message: "UPDATE awa.jobs is not supported while queue_storage is active"}
	cases := []struct {
		name     string
		answers  []cancelAnswer
		before   map[int64]oracle.JobState
		after    []oracle.Job
		verdict  matrix.Verdict
		findings []string
	}{
		{"cancelled", []cancelAnswer{{Ref: "c1", JobID: 1, ReturnedID: 1, ReturnedState: "cancelled"}},
			map[int64]oracle.JobState{1: "scheduled"}, []oracle.Job{job(1, "cancelled", 0)}, matrix.Pass, nil},
		{"refused and untouched", []cancelAnswer{{Ref: "c1", JobID: 1, Err: dbErr}},
			map[int64]oracle.JobState{1: "scheduled"}, []oracle.Job{job(1, "scheduled", 0)}, matrix.Refused, nil},
		{"error but cancelled anyway", []cancelAnswer{{Ref: "c1", JobID: 1, Err: dbErr}},
			map[int64]oracle.JobState{1: "scheduled"}, []oracle.Job{job(1, "cancelled", 0)}, matrix.Fail, []string{"yet the job went from scheduled to cancelled"}},
		{"silent none", []cancelAnswer{{Ref: "c1", JobID: 1, Null: true}, {Ref: "c2", JobID: 2, Null: true}},
			map[int64]oracle.JobState{1: "scheduled", 2: "available"}, []oracle.Job{job(1, "scheduled", 0), job(2, "available", 0)}, matrix.Fail,
			[]string{"cancel_by_unique_key returned nothing and the job is still scheduled (job 1)", "returned nothing and the job is still available (job 2)"}},
		{"none but cancelled", []cancelAnswer{{Ref: "c1", JobID: 1, Null: true}},
			map[int64]oracle.JobState{1: "available"}, []oracle.Job{job(1, "cancelled", 0)}, matrix.Fail, []string{"returned nothing, but job 1 was cancelled"}},
		{"claims success, db disagrees", []cancelAnswer{{Ref: "c1", JobID: 1, ReturnedID: 1, ReturnedState: "cancelled"}},
			map[int64]oracle.JobState{1: "running"}, []oracle.Job{job(1, "running", 1)}, matrix.Fail, []string{"reported success, but job 1 is running"}},
		{"wrong job returned", []cancelAnswer{{Ref: "c1", JobID: 1, ReturnedID: 5, ReturnedState: "cancelled"}},
			map[int64]oracle.JobState{1: "available"}, []oracle.Job{job(1, "cancelled", 0)}, matrix.Fail, []string{"returned job 5, but the job meant was 1"}},
		{"stored twice", []cancelAnswer{{Ref: "c1", JobID: 1, ReturnedID: 1}},
			map[int64]oracle.JobState{1: "available"}, []oracle.Job{job(1, "cancelled", 0), job(1, "available", 0)}, matrix.Fail, []string{"stored 2 times"}},
		{"missing row", []cancelAnswer{{Ref: "c1", JobID: 1, ReturnedID: 1}},
			map[int64]oracle.JobState{1: "available"}, nil, matrix.Fail, []string{"job 1 is missing"}},
		{"no answer", []cancelAnswer{{Ref: "c1", JobID: 1, Missing: true}},
			map[int64]oracle.JobState{1: "available"}, []oracle.Job{job(1, "available", 0)}, matrix.Fail, []string{"gave no answer"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, refusal, all := judgeCancels("cancel_by_unique_key", c.answers, c.before, c.after)
			out := cancelVerdict(f, refusal, all, "pass", "states")
			if out.Verdict != c.verdict {
				t.Fatalf("verdict %s, want %s (findings %v)", out.Verdict, c.verdict, out.Findings)
			}
			joined := strings.Join(out.Findings, "\n")
			for _, w := range c.findings {
				if !strings.Contains(joined, w) {
					t.Errorf("findings %q lack %q", joined, w)
				}
			}
			if c.verdict == matrix.Refused && (out.Error == nil || out.Error.Class != "DatabaseError") {
				t.Errorf("refused without its error: %+v", out.Error)
			}
		})
	}
}

func TestUnchangedFindings(t *testing.T) {
	runAt := time.Date(2030, 1, 1, 0, 0, 0, 123_000_000, time.UTC)
	j := job(2, "scheduled", 0)
	j.RunAt = runAt.Add(400 * time.Microsecond) // same millisecond
	args := map[string]any{"n": 1}
	if f := unchangedFindings([]oracle.Job{j}, 2, args, "scheduled", runAt); len(f) != 0 {
		t.Fatalf("unexpected findings %v", f)
	}
	j.RunAt = runAt.Add(time.Millisecond)
	j.State = "cancelled"
	j.Args = json.RawMessage(`{"n":2}`)
	if f := unchangedFindings([]oracle.Job{j}, 2, args, "scheduled", runAt); len(f) != 3 {
		t.Fatalf("want 3 findings (state, args, run_at), got %v", f)
	}
}

func TestJudgeDedupe(t *testing.T) {
	env := Env{Engine: "canonical", Probes: map[string]Probe{"producer": {Kind: "python", Version: "0.5.7"}, "producer2": {Kind: "python", Version: "0.6.9"}}}
	id := func(n int64) *int64 { return &n }
	row := func(id int64, key string) oracle.Job { j := job(id, "scheduled", 0); j.UniqueKey = key; return j }
	cases := []struct {
		name    string
		second  probes.Event
		rows    []oracle.Job
		verdict matrix.Verdict
		finding string
		errCls  string // the class of the error the outcome carries; "" for none
	}{
		{"conflict, one row", probes.Event{Event: "error", Class: "UniqueConflict", Message: "duplicate"}, []oracle.Job{row(1, "ab")}, matrix.Pass, "", ""},
		{"second row with another key", probes.Event{Event: "enqueued", JobID: id(2)}, []oracle.Job{row(1, "ab"), row(2, "cd")}, matrix.Fail,
			"the unique-key derivation differs across the two versions", ""},
		{"succeeded, same id", probes.Event{Event: "enqueued", JobID: id(1)}, []oracle.Job{row(1, "ab")}, matrix.Fail, "succeeded (job 1) without UniqueConflict", ""},
		{"wrong class", probes.Event{Event: "error", Class: "DatabaseError", Message: "duplicate key", SQLState: "23505"}, []oracle.Job{row(1, "ab")}, matrix.Fail, "not UniqueConflict", "DatabaseError"},
		{"conflict but two rows", probes.Event{Event: "error", Class: "UniqueConflict"}, []oracle.Job{row(1, "ab"), row(3, "ab")}, matrix.Fail, "holds 2 rows", "UniqueConflict"},
		{"first missing", probes.Event{Event: "error", Class: "UniqueConflict"}, nil, matrix.Fail, "not among the rows", "UniqueConflict"},
		{"no answer", probes.Event{}, []oracle.Job{row(1, "ab")}, matrix.Fail, "gave no answer", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := judgeDedupe(env, 1, c.second, c.rows)
			if out.Verdict != c.verdict {
				t.Fatalf("verdict %s, want %s: %v", out.Verdict, c.verdict, out.Findings)
			}
			if c.finding != "" && !strings.Contains(strings.Join(out.Findings, "\n"), c.finding) {
				t.Fatalf("findings %v lack %q", out.Findings, c.finding)
			}
			switch {
			case c.errCls == "" && out.Error != nil:
				t.Errorf("outcome carries error %+v, want none", out.Error)
			case c.errCls != "" && (out.Error == nil || out.Error.Class != c.errCls || out.Error.SQLState != c.second.SQLState):
				t.Errorf("outcome error %+v, want class %s with the event's sqlstate %q", out.Error, c.errCls, c.second.SQLState)
			}
		})
	}
}

func TestJudgeRetry(t *testing.T) {
	args := map[string]any{"n": 1}
	call := func(attempt int, result probes.HandlerResult) probes.Event {
		return probes.Event{Event: probes.EventHandled, Attempt: attempt, Result: result}
	}
	cases := []struct {
		name    string
		row     oracle.Job
		calls   []probes.Event
		verdict matrix.Verdict
		finding string
	}{
		{"retried then completed", job(1, "completed", 2), []probes.Event{call(1, "retry"), call(2, "completed")}, matrix.Pass, ""},
		{"completed on attempt 1", job(1, "completed", 1), []probes.Event{call(1, "completed")}, matrix.Fail, "want completed at attempt 2"},
		{"stuck retryable", job(1, "retryable", 1), []probes.Event{call(1, "retry")}, matrix.Fail, "1 handler calls"},
		{"third call", job(1, "completed", 2), []probes.Event{call(1, "retry"), call(2, "completed"), call(2, "completed")}, matrix.Fail, "3 handler calls"},
		{"attempt numbers wrong", job(1, "completed", 2), []probes.Event{call(1, "retry"), call(1, "completed")}, matrix.Fail, "handler call 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := judgeRetry(1, []oracle.Job{c.row}, c.calls, args)
			if out.Verdict != c.verdict {
				t.Fatalf("verdict %s, want %s: %v", out.Verdict, c.verdict, out.Findings)
			}
			if c.finding != "" && !strings.Contains(strings.Join(out.Findings, "\n"), c.finding) {
				t.Fatalf("findings %v lack %q", out.Findings, c.finding)
			}
		})
	}
}

func history(versions ...int) []oracle.SchemaRow {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var out []oracle.SchemaRow
	for _, v := range versions {
		out = append(out, oracle.SchemaRow{Version: v, Description: "v" + string(rune('0'+v%10)), AppliedAt: t0})
	}
	return out
}

func TestJudgeMigrate(t *testing.T) {
	v40 := history(1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 40)
	refusal := &results.ErrorInfo{Op: "migrate", Class: "SchemaNotMigrated", Message: "schema not migrated: expected version 40, found 43"}
	// What 0.5.7 did: keep 1-2, re-apply 3-4 (new applied_at), re-apply 5-11, drop 12 and 40.
	rewritten := history(1, 2, 3, 4, 5, 6, 7, 9, 10, 11)
	for i := 2; i < len(rewritten); i++ {
		rewritten[i].AppliedAt = rewritten[i].AppliedAt.Add(time.Hour)
	}
	cases := []struct {
		name     string
		after    []oracle.SchemaRow
		err      *results.ErrorInfo
		verdict  matrix.Verdict
		findings []string
	}{
		{"no-op", v40, nil, matrix.Pass, nil},
		{"refused, unchanged", v40, refusal, matrix.Refused, nil},
		{"rewritten", rewritten, nil, matrix.Hazard, []string{"versions removed: 12, 40", "versions re-applied (description or applied_at changed): 3-7, 9-11", "schema version (MAX) 40 -> 11; rows 12 -> 10"}},
		{"changed and failed", history(1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 40, 41), refusal, matrix.Hazard, []string{"versions added: 41", "schema version (MAX) 40 -> 41; rows 12 -> 13"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := judgeMigrate("python 0.5.7", v40, c.after, c.err)
			if out.Verdict != c.verdict {
				t.Fatalf("verdict %s, want %s: %v", out.Verdict, c.verdict, out.Findings)
			}
			if len(c.findings) != len(out.Findings) {
				t.Errorf("findings %q, want %q", out.Findings, c.findings)
			}
			for i := range min(len(c.findings), len(out.Findings)) {
				if out.Findings[i] != c.findings[i] {
					t.Errorf("finding %d: %q, want %q", i, out.Findings[i], c.findings[i])
				}
			}
			if c.err != nil && out.Error != c.err {
				t.Errorf("error not kept: %+v", out.Error)
			}
		})
	}
	if got := versionRanges([]int{11, 1, 2, 3, 5, 9, 10}); got != "1-3, 5, 9-11" {
		t.Errorf("versionRanges: %q", got)
	}
}

func TestCompareReads(t *testing.T) {
	i := func(n int) *int { return &n }
	j1 := job(1, "available", 0)
	j1.Priority, j1.Tags, j1.Metadata = 3, []string{"a"}, json.RawMessage(`{"k":"v"}`)
	j2 := job(2, "scheduled", 0)
	good := readJob{ID: 1, Kind: probes.JobKind, Queue: "q", State: "available", Priority: i(3), Attempt: i(0), MaxAttempts: i(25),
		Args: json.RawMessage(`{"n":1}`), Metadata: json.RawMessage(`{"k":"v"}`), Tags: []string{"a"}, HasTags: true}
	if d := compareJob("get", good, j1); len(d) != 0 {
		t.Fatalf("unexpected differences %v", d)
	}
	bad := good
	bad.State, bad.Priority, bad.Args, bad.Tags = "scheduled", i(2), json.RawMessage(`{"n":2}`), nil
	if d := compareJob("get", bad, j1); len(d) != 4 {
		t.Fatalf("want 4 differences (state, priority, args, tags), got %v", d)
	}
	cliRow := readJob{ID: 2, Kind: probes.JobKind, Queue: "q", State: "scheduled", Attempt: i(0), MaxAttempts: i(25)}
	if d := compareList("list", []readJob{good, cliRow}, []oracle.Job{j1, j2}); len(d) != 0 {
		t.Fatalf("unexpected differences %v", d)
	}
	d := compareList("list", []readJob{good, good, {ID: 9, State: "available"}}, []oracle.Job{j1, j2})
	joined := strings.Join(d, "\n")
	for _, w := range []string{"lists job 9", "job 2 (scheduled) is missing", "job 1 listed 2 times"} {
		if !strings.Contains(joined, w) {
			t.Errorf("differences %q lack %q", joined, w)
		}
	}

	n := func(v int64) *int64 { return &v }
	want := countQueue([]oracle.Job{j1, j2})
	if want != (queueCounts{Available: 1, Scheduled: 1}) {
		t.Fatalf("counts %+v", want)
	}
	ok := []readStat{{Queue: "other"}, {Queue: "q", Available: n(1), Scheduled: n(1), Running: n(0), Retryable: n(0), Failed: n(0), TotalQueued: n(2)}}
	if found, d := compareStats("stats", "q", ok, want); !found || len(d) != 0 {
		t.Fatalf("found=%v differences %v", found, d)
	}
	cliStats := []readStat{{Queue: "q", Available: n(1), Running: n(0), Failed: n(0)}}
	if found, d := compareStats("stats", "q", cliStats, want); !found || len(d) != 0 {
		t.Fatalf("CLI stats: found=%v differences %v", found, d)
	}
	if found, d := compareStats("stats", "q", []readStat{{Queue: "q", Available: n(0), TotalQueued: n(1)}}, want); !found || len(d) != 2 {
		t.Fatalf("want 2 differences, got found=%v %v", found, d)
	}
	if found, d := compareStats("stats", "q", []readStat{{Queue: "other"}}, want); found || !strings.Contains(d[0], "queue q is missing (queues shown: other)") {
		t.Fatalf("missing queue: found=%v %v", found, d)
	}
}

// A scenario's error is its verdict when it carries one (also wrapped), else the harness's
// failure: an error, or a timeout once the cell's deadline passed.
func TestOutcomeOf(t *testing.T) {
	refusal := Outcome{Verdict: matrix.Refused, Detail: "producer enqueue refused"}
	if out := outcomeOf(context.Background(), fmt.Errorf("enqueue: %w", stopWith(refusal))); out.Verdict != matrix.Refused || out.Detail != refusal.Detail {
		t.Errorf("carried outcome: %+v", out)
	}
	if out := outcomeOf(context.Background(), errors.New("probe crashed")); out.Verdict != matrix.Error || out.Detail != "probe crashed" {
		t.Errorf("plain error: %+v", out)
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if out := outcomeOf(ctx, ctx.Err()); out.Verdict != matrix.Timeout {
		t.Errorf("after the deadline: %+v", out)
	}
}

// Every scenario of the catalog has a function, and every function a catalog entry; the suite
// scenario's cells run a test suite (package suite), not a scenario function.
func TestScenariosMatchCatalog(t *testing.T) {
	var names []string
	for name := range scenarios {
		names = append(names, name)
	}
	slices.Sort(names)
	want := slices.DeleteFunc(slices.Sorted(slices.Values(matrix.ScenarioNames())), func(n string) bool { return n == matrix.SuiteScenario })
	if !slices.Equal(names, want) {
		t.Fatalf("scenario functions %v, catalog %v", names, want)
	}
}

// Findings come out in the same order every time (map iteration is random).
func TestJudgeJobsOrderIsStable(t *testing.T) {
	ids := map[string]int64{"j1": 1, "j2": 2, "j3": 3, "j4": 4, "j5": 5}
	var first []string
	for range 20 {
		var out Outcome
		judgeJobs(&out, nil, nil, nil, ids, "canonical")
		if first == nil {
			first = out.Findings
			if len(first) != 5 || !strings.Contains(first[0], "(j1)") || !strings.Contains(first[4], "(j5)") {
				t.Fatalf("findings %q", first)
			}
		} else if !slices.Equal(first, out.Findings) {
			t.Fatalf("findings %q then %q", first, out.Findings)
		}
	}
}
