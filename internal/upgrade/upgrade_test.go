package upgrade

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/awacompat/awacompat/internal/results"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden (refused when CI is set)")

// golden compares got with testdata/golden/name; -update rewrites it, except under CI, where
// a golden file rewritten from the output under test would pass by construction.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if ci := os.Getenv("CI"); ci != "" {
			t.Fatalf("-update rewrites golden files; refused because CI=%q is set (accept changes locally and commit the files)", ci)
		}
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
		t.Fatalf("%v (run go test ./internal/upgrade -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./internal/upgrade -update to accept):\n%s", name, firstDiff(string(want), string(got)))
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(wl), len(gl)) {
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

// run is a small synthetic run: releases 1.0.0 (py-1.0.0, rs-1.0.0) and 2.0.0 (the target:
// py-2.0.0, rs-2.0.0), built cell by cell.
type run struct{ r *results.Results }

func newRun() *run {
	return &run{r: &results.Results{Schema: results.SchemaVersion, Matrix: "matrix.yaml", Target: results.Target{Awa: "2.0.0", SchemaVersion: 50}}}
}

var kinds = map[string]string{"py": "python", "rs": "rust", "cli": "cli"}

// cell adds a cell; roles are "role=artifact" pairs (the artifact names say kind and version).
func (rn *run) cell(engine, path, scenario, actual string, roles ...string) *results.Cell {
	c := results.Cell{Engine: engine, SchemaPath: path, Scenario: scenario, Roles: map[string]results.Role{},
		Expected: "pass", Actual: actual, OK: actual == "pass", Because: "default: the caller contract holds", Basis: "documented"}
	id := engine + "." + path + "." + scenario
	for _, rb := range roles {
		role, art, _ := strings.Cut(rb, "=")
		kind, ver, _ := strings.Cut(art, "-")
		c.Roles[role] = results.Role{Artifact: art, Kind: kinds[kind], Version: ver}
		id += "." + rb
	}
	c.ID = id
	c.Repro = "awacompat run matrix.yaml --only id=" + id
	c.Detail = "synthetic " + actual
	rn.r.Cells = append(rn.r.Cells, c)
	return &rn.r.Cells[len(rn.r.Cells)-1]
}

// expect marks the last cell as expected to have verdict v by rule n.
func expect(c *results.Cell, v string, rule int, because string) {
	c.Expected, c.Rule, c.Because, c.OK = v, rule, because, c.Actual == v
	if c.Actual == "pass" && v != "pass" {
		c.Unexpected = "pass"
	}
}

func (rn *run) done() *results.Results {
	rn.r.SortCells()
	rn.r.Summarize()
	return rn.r
}

// lifecycle adds the producer/worker cells of one engine and path, every pairing, with the
// verdict verdict(producer, worker).
func (rn *run) lifecycle(engine, path string, verdict func(p, w string) string) {
	clients := []string{"py-1.0.0", "rs-1.0.0", "py-2.0.0", "rs-2.0.0"}
	for _, p := range clients {
		for _, w := range clients {
			rn.cell(engine, path, "lifecycle", verdict(p, w), "producer="+p, "worker="+w)
		}
	}
}

func allPass(string, string) string { return "pass" }

// safeRun: every pairing passes on canonical, and the old migrator refuses the newer schema.
func safeRun() *results.Results {
	rn := newRun()
	rn.lifecycle("canonical", "fresh", allPass)
	for _, m := range []string{"py-1.0.0", "py-2.0.0"} {
		c := rn.cell("canonical", "fresh", "migrate_refusal", "refused", "migrator="+m)
		if m == "py-1.0.0" {
			expect(c, "refused", 1, "CHANGELOG 1.0.0: a migrate refuses a newer schema")
		} else {
			c.Actual, c.OK = "pass", true
		}
	}
	rn.cell("canonical", "fresh", "target_migrate", "pass")
	return rn.done()
}

// unsafeRun: under queue_storage old workers are inert (as the matrix expects), a mixed
// fidelity cell fails unexpectedly, cancel fails with the new release alone too (a limit of
// 2.0.0), and an old admin's cancel passes where the matrix expected a refusal.
func unsafeRun() *results.Results {
	rn := newRun()
	inert := func(p, w string) string {
		if strings.HasSuffix(w, "1.0.0") {
			return "inert"
		}
		return "pass"
	}
	rn.lifecycle("canonical", "fresh", allPass)
	rn.lifecycle("queue_storage", "fresh", inert)
	for i := range rn.r.Cells {
		c := &rn.r.Cells[i]
		if c.Actual == "inert" {
			expect(c, "inert", 2, "docs/stability.md: 1.x workers claim only from the canonical tables")
		}
	}
	c := rn.cell("queue_storage", "fresh", "fidelity", "fail", "producer=rs-1.0.0", "worker=py-2.0.0")
	c.Detail = "job 2: args differ: {\"n\": 9007199254740993} became {\"n\": 9007199254740992}"
	c.Findings = []string{"job 2 completed with coerced args"}
	rn.cell("queue_storage", "fresh", "fidelity", "pass", "producer=py-2.0.0", "worker=py-2.0.0")
	for _, a := range []string{"py-1.0.0", "py-2.0.0"} {
		c := rn.cell("queue_storage", "fresh", "cancel", "fail", "producer=py-2.0.0", "admin="+a)
		expect(c, "fail", 3, "observed: cancel under queue_storage returns None (a defect of 2.0.0 too)")
	}
	c = rn.cell("canonical", "fresh", "cancel", "pass", "producer=py-2.0.0", "admin=py-1.0.0")
	expect(c, "refused", 4, "observed in 1.0.0: cancel is refused")
	rn.cell("canonical", "fresh", "cancel", "pass", "producer=py-2.0.0", "admin=py-2.0.0")
	return rn.done()
}

// thinRun: nothing fails, but a cell did not run, one hit a harness error, and the matrix has
// no cell of an old worker beside a new producer in unique_dedupe.
func thinRun() *results.Results {
	rn := newRun()
	rn.lifecycle("canonical", "fresh", func(p, w string) string {
		switch {
		case p == "py-1.0.0" && w == "rs-2.0.0":
			return "skipped"
		case p == "rs-2.0.0" && w == "py-1.0.0":
			return "error"
		}
		return "pass"
	})
	for i := range rn.r.Cells {
		c := &rn.r.Cells[i]
		switch c.Actual {
		case "skipped":
			c.Detail = "not run: interrupted"
		case "error":
			c.Detail = "probe worker exited with status 101 before it was ready"
		}
	}
	rn.cell("canonical", "fresh", "unique_dedupe", "pass", "producer=py-2.0.0", "producer2=py-1.0.0")
	rn.cell("canonical", "fresh", "unique_dedupe", "pass", "producer=py-2.0.0", "producer2=py-2.0.0")
	rn.cell("canonical", "fresh", "unique_dedupe", "pass", "producer=py-1.0.0", "producer2=py-1.0.0")
	r := rn.done()
	r.Interrupted = true
	return r
}

func answer(t *testing.T, r *results.Results, q Question) *Answer {
	t.Helper()
	a, err := Evaluate(r, q)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func render(t *testing.T, a *Answer) (text, js []byte) {
	t.Helper()
	var tb, jb bytes.Buffer
	if err := Text(&tb, a); err != nil {
		t.Fatal(err)
	}
	if err := JSON(&jb, a); err != nil {
		t.Fatal(err)
	}
	return tb.Bytes(), jb.Bytes()
}

// The three answers, each as text and JSON golden files.
func TestGoldenAnswers(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *results.Results
		q    Question
		want Verdict
	}{
		{"safe", safeRun(), Question{From: "1.0.0", To: "2.0.0"}, Safe},
		{"not-safe", unsafeRun(), Question{From: "1.0.0", To: "2.0.0"}, NotSafe},
		{"not-enough-evidence", thinRun(), Question{From: "1.0.0", To: "2.0.0"}, NotEnoughEvidence},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := answer(t, tc.r, tc.q)
			if a.Verdict != tc.want || a.ExitCode != tc.want.ExitCode() {
				t.Errorf("verdict %s (exit %d), want %s", a.Verdict, a.ExitCode, tc.want)
			}
			text, js := render(t, a)
			golden(t, tc.name+".txt", text)
			golden(t, tc.name+".json", js)
		})
	}
}

// The shipped matrix's real results answer the two questions maintainers ask most, on each
// engine.
func TestGoldenShipped(t *testing.T) {
	r, err := results.Read("../report/testdata/shipped-519")
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{"0.5.7", "0.6.0"} {
		for _, engine := range []string{"canonical", "queue_storage"} {
			name := "shipped-" + from + "-" + engine
			t.Run(name, func(t *testing.T) {
				a := answer(t, r, Question{From: from, To: "0.6.9", Engine: engine})
				text, _ := render(t, a)
				golden(t, name+".txt", text)
			})
		}
	}
}

func TestVerdicts(t *testing.T) {
	un := unsafeRun()
	for _, tc := range []struct {
		name string
		r    *results.Results
		q    Question
		want Verdict
	}{
		// canonical alone: everything passes, but the old admin's unexpected pass is still a pass.
		{"canonical only", un, Question{From: "1.0.0", To: "2.0.0", Engine: "canonical"}, Safe},
		{"queue_storage", un, Question{From: "1.0.0", To: "2.0.0", Engine: "queue_storage"}, NotSafe},
		// python alone under queue_storage: its worker is inert.
		{"artifact names", un, Question{From: "py-1.0.0", To: "py-2.0.0", Engine: "queue_storage"}, NotSafe},
		// rust producers with the new python worker: the fidelity failure.
		{"rust producer", un, Question{From: "rs-1.0.0", To: "py-2.0.0", Engine: "queue_storage", Roles: []string{"producer"}}, NotSafe},
		// without the old worker (producers and admins only) only the limit remains, but the
		// matrix has no fidelity cell with the old python producer.
		{"python producers and admins", un, Question{From: "py-1.0.0", To: "2.0.0", Engine: "queue_storage", Roles: []string{"producer", "admin"}}, NotEnoughEvidence},
		// rolling to a release other than the target: its schema was not tested.
		{"to is not the target", safeRun(), Question{From: "py-1.0.0", To: "rs-1.0.0"}, NotEnoughEvidence},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := answer(t, tc.r, tc.q)
			if a.Verdict != tc.want {
				text, _ := render(t, a)
				t.Errorf("verdict %s, want %s\n%s", a.Verdict, tc.want, text)
			}
		})
	}
}

// A pre-release answers to both of its spellings.
func TestPrereleaseSpellings(t *testing.T) {
	rn := newRun()
	rn.r.Target.Awa = "2.0.0-rc.4"
	for _, p := range []string{"py-1.0.0", "py-2.0.0-rc.4"} {
		for _, w := range []string{"py-1.0.0", "py-2.0.0-rc.4"} {
			rn.cell("canonical", "fresh", "lifecycle", "pass", "producer="+p, "worker="+w)
		}
	}
	r := rn.done()
	for _, to := range []string{"2.0.0-rc.4", "2.0.0rc4", "py-2.0.0-rc.4"} {
		a := answer(t, r, Question{From: "1.0.0", To: to})
		if a.Verdict != Safe || a.To.Version != "2.0.0-rc.4" || len(a.To.Artifacts) != 1 {
			t.Errorf("--to %s: %s, to %+v", to, a.Verdict, a.To)
		}
	}
}

func TestQuestionErrors(t *testing.T) {
	r := safeRun()
	for _, tc := range []struct {
		q    Question
		want string
	}{
		{Question{From: "1.5.0", To: "2.0.0"}, "no client of awa 1.5.0 ran in this run (releases: 1.0.0, 2.0.0; artifacts: py-1.0.0, py-2.0.0, rs-1.0.0, rs-2.0.0)"},
		{Question{From: "py-9", To: "2.0.0"}, `"py-9" is neither an artifact of this run nor a release`},
		{Question{From: "1.0.0", To: "1.0.0"}, "py-1.0.0 is on both sides"},
		{Question{From: "1.0.0", To: "2.0.0", Engine: "queue_storage"}, "--engine queue_storage: no cell of this run ran under it (engines: canonical)"},
		{Question{From: "1.0.0", To: "2.0.0", SchemaPath: "upgraded-from py-1.0.0"}, "--schema-path upgraded-from-py-1.0.0: no cell of this run is on it (schema paths: fresh)"},
		{Question{From: "1.0.0", To: "2.0.0", Roles: []string{"admin"}}, `--roles: no cell of this run has the role "admin" (roles: producer, worker, migrator)`},
	} {
		_, err := Evaluate(r, tc.q)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.q, err, tc.want)
		}
	}
}

// Text from results.json reaches the terminal without control characters.
func TestTextPrintable(t *testing.T) {
	r := unsafeRun()
	for i := range r.Cells {
		if r.Cells[i].Scenario == "fidelity" && r.Cells[i].Actual == "fail" {
			r.Cells[i].Detail = "args \x1b[31mred\x1b[0m"
		}
	}
	text, _ := render(t, answer(t, r, Question{From: "1.0.0", To: "2.0.0"}))
	if bytes.ContainsRune(text, 0x1b) || !bytes.Contains(text, []byte(`args \x1b[31mred`)) {
		t.Errorf("control characters reach the text answer:\n%s", text)
	}
}
