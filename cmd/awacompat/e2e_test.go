package main

// End-to-end tests: real PostgreSQL (the embedded server, or one started here for --pg-url),
// real awa wheels from PyPI in the artifact cache, real probe processes. Nothing is mocked.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/awacompat/awacompat/internal/pgserver"
	"github.com/awacompat/awacompat/internal/results"
	"github.com/jackc/pgx/v5"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func cellsByID(t *testing.T, dir string) (*results.Results, map[string]results.Cell) {
	t.Helper()
	r, err := results.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]results.Cell{}
	for _, c := range r.Cells {
		m[c.ID] = c
	}
	return r, m
}

var serverDirRE = regexp.MustCompile(`msg="postgres ready" dir=(\S+)`)

// serverDir finds the embedded server's data directory in a run's log, so a test can prove
// that exactly this run's server left nothing behind (other tests start servers concurrently).
func serverDir(t *testing.T, log string) string {
	t.Helper()
	m := serverDirRE.FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no \"postgres ready\" line in the log:\n%s", log)
	}
	return m[1]
}

func assertGone(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("embedded server directory left behind: %s", dir)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(dir)) {
			t.Errorf("server process still running: %s", strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}

func TestRunLifecyclePythonFleets(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real awa wheels against PostgreSQL")
	}
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "run", "../../matrix.yaml", "--out", out,
		"--only", "scenario=lifecycle,schema_path=fresh,producer=py-*,worker=py-*", "--skip", "artifact=py-0.6.0")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	r, cells := cellsByID(t, out)
	if r.Target.SchemaVersion != 40 || r.Target.Awa != "0.6.9" {
		t.Errorf("target %+v, want awa 0.6.9 at schema version 40", r.Target)
	}
	want := map[string]string{
		"canonical.fresh.lifecycle.producer=py-0.5.7.worker=py-0.5.7":     "pass",
		"canonical.fresh.lifecycle.producer=py-0.5.7.worker=py-0.6.9":     "pass",
		"canonical.fresh.lifecycle.producer=py-0.6.9.worker=py-0.5.7":     "pass",
		"canonical.fresh.lifecycle.producer=py-0.6.9.worker=py-0.6.9":     "pass",
		"queue_storage.fresh.lifecycle.producer=py-0.5.7.worker=py-0.5.7": "inert",
		"queue_storage.fresh.lifecycle.producer=py-0.5.7.worker=py-0.6.9": "pass",
		"queue_storage.fresh.lifecycle.producer=py-0.6.9.worker=py-0.5.7": "inert",
		"queue_storage.fresh.lifecycle.producer=py-0.6.9.worker=py-0.6.9": "pass",
	}
	if len(cells) != len(want) {
		t.Errorf("got %d cells, want %d", len(cells), len(want))
	}
	for id, verdict := range want {
		c, ok := cells[id]
		if !ok {
			t.Errorf("missing cell %s", id)
			continue
		}
		if c.Actual != verdict || !c.OK {
			t.Errorf("%s: actual %s ok=%v, want %s; detail: %s; findings: %v", id, c.Actual, c.OK, verdict, c.Detail, c.Findings)
		}
		// The verdict rests on the oracle: the engine re-check ran, and an inert worker was
		// proven live by its runtime row, not by a sleep.
		if !strings.Contains(strings.Join(c.Findings, "\n"), "engine unchanged: state=") {
			t.Errorf("%s: no engine re-check among findings %v", id, c.Findings)
		}
		if verdict == "inert" && !strings.Contains(strings.Join(c.Findings, "\n"), "live runtimes: awa 0.5.7") {
			t.Errorf("%s: inert without runtime evidence: %v", id, c.Findings)
		}
		if verdict == "pass" && !strings.Contains(c.Detail, "stored in "+c.Engine) {
			t.Errorf("%s: pass detail %q does not say where the jobs live", id, c.Detail)
		}
		if _, err := os.Stat(filepath.Join(out, c.Logs, "worker.stdout.jsonl")); err != nil {
			t.Errorf("%s: worker log missing: %v", id, err)
		}
	}
	if !strings.Contains(stdout, "8 cells: 8 as expected") {
		t.Errorf("summary line missing from stdout:\n%s", stdout)
	}
	// The embedded server's CPU is on record (the benchmark's server share): eight cells'
	// backends, their databases' copies and the templates are well over a CPU-second.
	if r.ServerCPUMS < 1000 {
		t.Errorf("server_cpu_ms %d, want the embedded server's CPU (over 1000 ms for these cells)", r.ServerCPUMS)
	}
	assertGone(t, serverDir(t, stderr))
}

func TestRunInstallFailureIsCellError(t *testing.T) {
	if testing.Short() {
		t.Skip("installs real wheels")
	}
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "run", "testdata/bad-artifact.yaml", "--out", out)
	if code != exitMismatch {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitMismatch, stdout, stderr)
	}
	_, cells := cellsByID(t, out)
	for id, c := range cells {
		if strings.Contains(id, "py-missing") {
			if c.Actual != "error" || c.OK {
				t.Errorf("%s: actual %s, want error", id, c.Actual)
			}
			// The failing command: the interpreter's pip installing into the artifact's virtualenv.
			for _, s := range []string{"-m pip --python ", " install ", "awa-pg==0.0.1", "No matching distribution"} {
				if !strings.Contains(c.Detail, s) {
					t.Errorf("%s: detail lacks %q:\n%s", id, s, c.Detail)
				}
			}
			if c.Attempts != 1 {
				t.Errorf("%s: an install failure was retried (%d attempts)", id, c.Attempts)
			}
		} else if c.Actual != "pass" || !c.OK {
			t.Errorf("%s: actual %s, want pass (other cells still run)", id, c.Actual)
		}
	}
	if len(cells) != 4 {
		t.Errorf("got %d cells, want 4", len(cells))
	}
}

// A template that cannot be built fails its own cells (with the failing step in the detail)
// and only those: the other templates' cells run, and the exit code says "a cell differs",
// not "infrastructure failed".
func TestRunTemplateFailureIsItsCellsError(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real awa wheels against PostgreSQL")
	}
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "run", "testdata/template-failure.yaml", "--out", out)
	if code != exitMismatch {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitMismatch, stdout, stderr)
	}
	r, cells := cellsByID(t, out)
	if len(cells) != 8 {
		t.Errorf("got %d cells, want 8", len(cells))
	}
	for id, c := range cells {
		switch {
		case strings.Contains(id, "upgraded-from-py-missing"):
			if c.Actual != "error" || c.OK {
				t.Errorf("%s: %s, want error", id, c.Actual)
			}
			for _, s := range []string{"template upgraded-from-py-missing.", "could not be built", "old_release", "py-missing", "awa-pg==0.0.1"} {
				if !strings.Contains(c.Detail, s) {
					t.Errorf("%s: detail lacks %q:\n%s", id, s, c.Detail)
				}
			}
		case c.Actual != "pass" || !c.OK:
			t.Errorf("%s: %s (%s), want pass: the other templates' cells run", id, c.Actual, c.Detail)
		}
	}
	outcomes := map[string]string{}
	for _, tpl := range r.Templates {
		outcomes[tpl.Name] = tpl.Outcome
		if tpl.Outcome == "built" && (len(tpl.Steps) == 0 || tpl.Steps[0].Op != "migrate" || tpl.Steps[0].SchemaVersion != 40) {
			t.Errorf("template %s: steps %+v, want the target's migrate to v40 first", tpl.Name, tpl.Steps)
		}
	}
	want := map[string]string{"fresh.canonical": "built", "fresh.queue_storage": "built", "upgraded-from-py-missing.canonical": "error", "upgraded-from-py-missing.queue_storage": "error"}
	if fmt.Sprint(outcomes) != fmt.Sprint(want) {
		t.Errorf("template outcomes %v, want %v", outcomes, want)
	}
}

// Pre-releases in both spellings install and run: the PEP 440 wheel from PyPI and the semver
// crate from crates.io, as producer and admin under both engines.
func TestRunPreReleases(t *testing.T) {
	if testing.Short() {
		t.Skip("installs a real pre-release wheel and builds the pre-release crate")
	}
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "run", "testdata/prerelease.yaml", "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr (tail):\n%s", code, stdout, tailLines(stderr, 40))
	}
	r, cells := cellsByID(t, out)
	if len(cells) != 16 {
		t.Errorf("got %d cells, want 16", len(cells))
	}
	origins := map[string]string{}
	for _, a := range r.Artifacts {
		origins[a.Name] = a.Origin
		if a.Version != "0.6.0-rc.4" {
			t.Errorf("artifact %s recorded as %s, want the canonical 0.6.0-rc.4", a.Name, a.Version)
		}
	}
	if origins["py-rc4"] != "pypi:awa-pg==0.6.0rc4" || origins["rs-rc4"] != "crates.io:awa=0.6.0-rc.4" {
		t.Errorf("origins %v: pip must get the PEP 440 spelling, cargo the semver one", origins)
	}
	for id, c := range cells {
		for role, a := range c.Roles {
			if a.Version != "0.6.0-rc.4" {
				t.Errorf("%s: %s recorded as %s", id, role, a.Version)
			}
		}
	}
}

func TestRunSchemaVersionAssertion(t *testing.T) {
	if testing.Short() {
		t.Skip("migrates a real database")
	}
	out := t.TempDir()
	code, _, stderr := runCLI(t, "run", "testdata/wrong-schema.yaml", "--out", out)
	if code != exitInfra {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitInfra, stderr)
	}
	if !strings.Contains(stderr, "migrated to schema version 40, but testdata/wrong-schema.yaml asserts target.schema_version 41") {
		t.Errorf("stderr does not explain the failed assertion:\n%s", stderr)
	}
	r, cells := cellsByID(t, out)
	if r.Error == "" || r.Target.SchemaVersion != 40 {
		t.Errorf("results.json error=%q schema=%d", r.Error, r.Target.SchemaVersion)
	}
	for id, c := range cells {
		if c.Actual != "skipped" || c.OK {
			t.Errorf("%s: %s, want skipped and not OK", id, c.Actual)
		}
	}
}

// With --pg-url: only awacompat_* databases are created and dropped, a bystander database is
// untouched, --keep-failed keeps exactly the mismatched cell's database, and the password
// never reaches any output.
func TestRunExistingServerKeepFailedRedacted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real awa wheels against PostgreSQL")
	}
	ctx := context.Background()
	srv, err := pgserver.Start(ctx, pgserver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	const password = "s3cr3t-Pa55word"
	admin, err := pgx.Connect(ctx, srv.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for _, sql := range []string{
		"CREATE ROLE tester LOGIN SUPERUSER PASSWORD '" + password + "'",
		"CREATE DATABASE bystander",
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	url := strings.Replace(srv.URL("postgres"), "postgres://postgres@", "postgres://tester:"+password+"@", 1)
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "run", "testdata/wrong-expectation.yaml", "--out", out, "--pg-url", url, "--keep-failed")
	if code != exitMismatch {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitMismatch, stdout, stderr)
	}
	_, cells := cellsByID(t, out)
	bad := cells["canonical.fresh.lifecycle.producer=py.worker=py"]
	if bad.OK || bad.Actual != "pass" || bad.Unexpected != "pass" || bad.KeptDatabase == "" {
		t.Errorf("mismatched cell: %+v", bad)
	}
	if good := cells["queue_storage.fresh.lifecycle.producer=py.worker=py"]; !good.OK || good.KeptDatabase != "" {
		t.Errorf("matching cell: %+v", good)
	}
	if !strings.Contains(stdout, "database kept: psql '") {
		t.Errorf("stdout does not say how to connect to the kept database:\n%s", stdout)
	}
	rows, err := admin.Query(ctx, "SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	dbs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var ours []string
	for _, d := range dbs {
		if strings.HasPrefix(d, "awacompat_") {
			ours = append(ours, d)
		}
	}
	if len(ours) != 1 || !strings.Contains(bad.KeptDatabase, ours[0]) {
		t.Errorf("awacompat databases left: %v; kept: %s", ours, bad.KeptDatabase)
	}
	if !strings.Contains(strings.Join(dbs, " "), "bystander") {
		t.Errorf("bystander database was dropped: %v", dbs)
	}
	// The gate's view of the same folder: --check fails on the mismatch.
	if code, _, _ := runCLI(t, "report", "--check", "--format", "json", "--out", filepath.Join(t.TempDir(), "r.json"), out); code != exitMismatch {
		t.Errorf("report --check: exit %d, want %d", code, exitMismatch)
	}
	// --unexpected-pass warn: the same unexpected pass is reported but does not fail the run.
	out2 := t.TempDir()
	code, stdout2, stderr2 := runCLI(t, "run", "testdata/wrong-expectation.yaml", "--out", out2, "--pg-url", url,
		"--only", "engine=canonical", "--unexpected-pass", "warn")
	_, cells2 := cellsByID(t, out2)
	if c := cells2["canonical.fresh.lifecycle.producer=py.worker=py"]; code != exitOK || !c.OK || c.Unexpected != "pass" {
		t.Errorf("--unexpected-pass warn: exit %d, cell %+v\n%s\n%s", code, c, stdout2, stderr2)
	}
	stdout += stdout2
	stderr += stderr2
	// No output may hold the password.
	for name, s := range map[string]string{"stdout": stdout, "stderr": stderr} {
		if strings.Contains(s, password) {
			t.Errorf("%s contains the password", name)
		}
	}
	filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte(password)) {
			t.Errorf("%s contains the password", path)
		}
		return nil
	})
}

// Ctrl-C: the run stops, writes results.json marked interrupted with every cell accounted
// for, and leaves no server, probe process or data directory behind.
func TestRunInterruptCleansUp(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real awa wheels against PostgreSQL")
	}
	bin := filepath.Join(t.TempDir(), "awacompat")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	out := t.TempDir()
	cmd := exec.Command(bin, "run", "../../matrix.yaml", "--out", out, "--parallel", "1",
		"--only", "scenario=lifecycle,schema_path=fresh,producer=py-*,worker=py-*", "--skip", "artifact=py-0.6.0")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt while a cell runs: the first cell has finished and the second one's first
	// probe has been started (its spec file is written just before the process starts).
	sc := bufio.NewScanner(stderr)
	var log strings.Builder
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "[1/8]") {
			break
		}
	}
	waitForSecondCell(t, out)
	cmd.Process.Signal(syscall.SIGINT)
	// Read the rest of stderr until the process closes it, then reap it.
	rest := make(chan string, 1)
	go func() {
		var b strings.Builder
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		rest <- b.String()
	}()
	select {
	case tail := <-rest:
		log.WriteString(tail)
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("awacompat did not stop within 60s of SIGINT; log so far:\n%s", log.String())
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
		t.Errorf("exit %d, want %d; log:\n%s", code, exitInterrupted, log.String())
	}
	r, cells := cellsByID(t, out)
	if !r.Interrupted || len(cells) != 8 {
		t.Errorf("interrupted=%v cells=%d, want true and 8", r.Interrupted, len(cells))
	}
	skipped, interrupted := 0, 0
	for _, c := range cells {
		if c.Actual == "timeout" {
			t.Errorf("%s: reported timeout (%s); it was interrupted", c.ID, c.Detail)
		}
		if c.Actual == "skipped" {
			skipped++
			if c.OK {
				t.Errorf("%s: a skipped cell counted as OK", c.ID)
			}
			if strings.HasPrefix(c.Detail, "interrupted while it ran") {
				interrupted++
			}
		}
	}
	if skipped == 0 || interrupted != 1 {
		t.Errorf("%d cells not run, %d of them cut off while running; want some, and exactly the one under way", skipped, interrupted)
	}
	assertGone(t, serverDir(t, log.String()))
	// No process may still hold a file of this run (every probe's spec lives in out).
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(out)) {
			t.Errorf("process still running after interrupt: %s", strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}

// waitForSecondCell waits until a second cell folder holds a probe spec: a cell is under way.
func waitForSecondCell(t *testing.T, out string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		specs, _ := filepath.Glob(filepath.Join(out, "cells", "*", "*.spec.json"))
		dirs := map[string]bool{}
		for _, s := range specs {
			dirs[filepath.Dir(s)] = true
		}
		if len(dirs) >= 2 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no second cell started within 90s")
}

var postmasterPidRE = regexp.MustCompile(`msg="postgres ready".* pid=(\d+)`)

// A server killed mid-run is an infrastructure failure: exit 3, the reason in results.json,
// the cells after it not run (never a pass, never a timeout).
func TestRunServerKilledMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real awa wheels against PostgreSQL")
	}
	bin := filepath.Join(t.TempDir(), "awacompat")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	out := t.TempDir()
	cmd := exec.Command(bin, "run", "../../matrix.yaml", "--out", out, "--parallel", "1",
		"--only", "scenario=lifecycle,schema_path=fresh,producer=py-*,worker=py-*", "--skip", "artifact=py-0.6.0")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var log strings.Builder
	pid := 0
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if m := postmasterPidRE.FindStringSubmatch(sc.Text()); m != nil {
			pid, _ = strconv.Atoi(m[1])
		}
		if strings.Contains(sc.Text(), "[1/8]") {
			break
		}
	}
	if pid == 0 {
		cmd.Process.Kill()
		t.Fatalf("no postmaster pid in the log:\n%s", log.String())
	}
	waitForSecondCell(t, out)
	syscall.Kill(pid, syscall.SIGKILL)
	done := make(chan struct{})
	go func() {
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("awacompat did not finish within 3 minutes of the server's death:\n%s", log.String())
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != exitInfra {
		t.Errorf("exit %d, want %d (the server died); log:\n%s", code, exitInfra, log.String())
	}
	r, cells := cellsByID(t, out)
	if !strings.Contains(r.Error, "exited during the run") {
		t.Errorf("results.json error %q does not name the server's death", r.Error)
	}
	passed := 0
	for _, c := range cells {
		switch c.Actual {
		case "pass", "inert":
			passed++
		case "timeout":
			t.Errorf("%s: timeout after the server died (%s)", c.ID, c.Detail)
		}
	}
	if passed != 1 || len(cells) != 8 {
		t.Errorf("%d of %d cells passed; want exactly the one that finished before the kill", passed, len(cells))
	}
	assertGone(t, serverDir(t, log.String()))
}

func TestPlanCommand(t *testing.T) {
	code, stdout, _ := runCLI(t, "plan", "../../matrix.yaml")
	if code != exitOK || !strings.Contains(stdout, "template fresh.queue_storage") {
		t.Fatalf("plan: exit %d\n%s", code, stdout)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("version: 1\ntarget: {awa: \"0.6.9\"}\nartifacts: {py: {kind: python, version: \"0.6.9\"}}\nscenarios: [lifecycle]\ncross: {producer: [py], worker: [py]}\nengines: [canonical, queue]\n"), 0o644)
	code, _, stderr := runCLI(t, "plan", bad)
	if code != exitUsage || !strings.Contains(stderr, bad+":6:22: engines: unknown engine \"queue\"") {
		t.Fatalf("bad matrix: exit %d, stderr:\n%s", code, stderr)
	}
	code, stdout, _ = runCLI(t, "plan", "--format", "github-matrix", "--shards", "3", "../../matrix.yaml")
	var gm struct {
		Include []struct {
			Shard string
			Cells int
		}
	}
	if err := json.Unmarshal([]byte(stdout), &gm); code != exitOK || err != nil || len(gm.Include) == 0 {
		t.Fatalf("github-matrix: exit %d, %v: %s", code, err, stdout)
	}
	total := 0
	for _, e := range gm.Include {
		total += e.Cells
		if _, _, c := loadPlan(io.Discard, []string{"../../matrix.yaml"}, selection{shard: e.Shard}); c != exitOK || e.Cells == 0 {
			t.Errorf("shard %q: plan exit %d, %d cells", e.Shard, c, e.Cells)
		}
	}
	_, full, _ := loadPlan(io.Discard, []string{"../../matrix.yaml"}, selection{})
	if total != len(full.Cells) {
		t.Errorf("github-matrix shards hold %d cells, the plan %d", total, len(full.Cells))
	}
	if code, _, _ := runCLI(t, "frobnicate"); code != exitUsage {
		t.Errorf("unknown command: exit %d", code)
	}
	if code, _, _ := runCLI(t, "run", "../../matrix.yaml", "--shard", "0/2"); code != exitUsage {
		t.Errorf("bad shard: exit %d", code)
	}
}

// fetch installs what a matrix needs, says what it did per artifact, and runs nothing; a
// second fetch finds everything cached.
func TestFetch(t *testing.T) {
	if testing.Short() {
		t.Skip("installs real artifacts")
	}
	m := filepath.Join(t.TempDir(), "m.yaml")
	os.WriteFile(m, []byte(`version: 1
target: {awa: "0.6.9"}
artifacts:
  py: {kind: python, version: "0.6.9"}
  cli-old: {kind: cli, version: "0.5.7"}
scenarios: [lifecycle, cancel]
cross:
  - {producer: [py], worker: [py]}
  - {producer: [py], admin: [cli-old]}
`), 0o644)
	runCLI(t, "fetch", m) // warm, whatever the cache held
	code, stdout, stderr := runCLI(t, "fetch", m)
	if code != exitOK {
		t.Fatalf("fetch: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"[1/3] cli 0.6.9 ... cached (pypi:awa-cli==0.6.9)",
		"[2/3] cli 0.5.7 ... cached (pypi:awa-cli==0.5.7)",
		"[3/3] python 0.6.9 ... cached (pypi:awa-pg==0.6.9)",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("fetch output lacks %q:\n%s", want, stdout)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("version: 1\ntarget: {awa: \"0.6.9\"}\nartifacts: {py: {kind: python, version: \"0.0.1\"}}\nscenarios: [lifecycle]\ncross: {producer: [py], worker: [py]}\n"), 0o644)
	code, stdout, _ = runCLI(t, "fetch", bad)
	if code != exitInfra || !strings.Contains(stdout, "FAILED") || !strings.Contains(stdout, "awa-pg==0.0.1") {
		t.Errorf("fetch of a missing release: exit %d\n%s", code, stdout)
	}
}

// A cli artifact that crashes with garbage on its output is an error of its cells (with the
// exit status and a printable tail), never a refusal by awa; one whose --version hangs is an
// install error within the install deadline; the other cells run.
func TestRunBrokenCLIArtifacts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real awa wheels against PostgreSQL")
	}
	out := t.TempDir()
	start := time.Now()
	code, stdout, stderr := runCLI(t, "run", "testdata/broken-cli.yaml", "--out", out)
	if code != exitMismatch {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitMismatch, stdout, tailLines(stderr, 30))
	}
	if took := time.Since(start); took > 5*time.Minute {
		t.Errorf("the run took %s: a hung --version must not hold it", took)
	}
	_, cells := cellsByID(t, out)
	if len(cells) != 8 {
		t.Errorf("%d cells, want 8", len(cells))
	}
	for id, c := range cells {
		switch {
		case strings.Contains(id, "cli-hang"):
			if c.Actual != "error" || !strings.Contains(c.Detail, "--version") || !strings.Contains(c.Detail, "deadline") {
				t.Errorf("%s: %s: %s; want an install error naming --version and its deadline", id, c.Actual, c.Detail)
			}
		case strings.Contains(id, "cli-crash"):
			if c.Actual != "error" || c.Error != nil || !strings.Contains(c.Detail, "without an awa error") || !strings.Contains(c.Detail, "134") || !strings.Contains(c.Detail, `garbage\r\a`) {
				t.Errorf("%s: %s (error %+v): %s; want an error with the exit status and the escaped output, not a refusal", id, c.Actual, c.Error, c.Detail)
			}
		case c.Actual != "pass":
			t.Errorf("%s: %s (%s), want pass: unrelated cells run", id, c.Actual, c.Detail)
		}
	}
	for _, f := range []string{"results.json", "summary.md", "junit.xml", "report.html"} {
		b, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.ContainsRune(b, 0x1b) {
			t.Errorf("%s holds a raw ESC byte", f)
		}
	}
	if strings.ContainsRune(stdout, 0x1b) {
		t.Error("the terminal table holds a raw ESC byte")
	}
}
