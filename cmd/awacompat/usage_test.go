package main

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Every usage error exits 2 before anything is created: no cache, no output folder, no
// server. None of these cases starts PostgreSQL, so a wrong order would show as a created
// folder (or, for the zero-cell case, as a 0).
func TestUsageErrorsBeforeSideEffects(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "a-file")
	os.WriteFile(file, nil, 0o644)
	// A matrix whose only fleet binds no scenario's roles plans no cell at all.
	noCells := filepath.Join(tmp, "no-cells.yaml")
	os.WriteFile(noCells, []byte("version: 1\ntarget: {awa: \"0.6.9\"}\nartifacts: {py: {kind: python, version: \"0.6.9\"}}\nscenarios: [lifecycle]\nfleets: [{admin: py}]\n"), 0o644)
	// A rule an earlier one shadows is a warning, an error with --strict.
	shadowed := filepath.Join(tmp, "shadowed.yaml")
	os.WriteFile(shadowed, []byte("version: 1\ntarget: {awa: \"0.6.9\"}\nartifacts: {py: {kind: python, version: \"0.6.9\"}}\nscenarios: [lifecycle]\ncross: {producer: [py], worker: [py]}\nexpect:\n  - {when: {engine: canonical}, verdict: pass, because: a}\n  - {when: {engine: canonical}, verdict: fail, because: b}\n"), 0o644)
	cache := filepath.Join(tmp, "cache")
	t.Setenv("AWACOMPAT_CACHE", cache)
	out := filepath.Join(tmp, "out")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"--out is a file", []string{"run", "../../matrix.yaml", "--out", file}, "--out " + file + ": not a directory"},
		{"--cache is a file", []string{"run", "../../matrix.yaml", "--out", out, "--cache", file}, "--cache " + file + ": not a directory"},
		{"fetch --cache is a file", []string{"fetch", "../../matrix.yaml", "--cache", file}, "--cache " + file + ": not a directory"},
		{"keyword DSN", []string{"run", "../../matrix.yaml", "--out", out, "--pg-url", "host=localhost password=hunter2"}, "--pg-url: want a URL like postgres://USER@HOST:PORT/DB"},
		{"bad --unexpected-pass", []string{"run", "../../matrix.yaml", "--out", out, "--unexpected-pass", "maybe"}, "--unexpected-pass \"maybe\""},
		{"negative --parallel", []string{"run", "../../matrix.yaml", "--out", out, "--parallel", "-1"}, `--parallel "-1": want a positive number or auto`},
		{"selection of zero cells", []string{"run", "../../matrix.yaml", "--out", out, "--only", "scenario=lifecycle,engine=queue_storage,worker=cli-*"}, "matches none of the " + strconv.Itoa(shippedCells(t)) + " cells"},
		{"typo in a selector", []string{"run", "../../matrix.yaml", "--out", out, "--only", "scenario=lifecyle"}, "unknown scenario \"lifecyle\" (did you mean \"lifecycle\"?)"},
		{"empty shard", []string{"fetch", "testdata/bad-artifact.yaml", "--only", "id=nothing-*"}, "matches none of the 4 cells"},
		{"no such matrix", []string{"run", filepath.Join(tmp, "missing.yaml"), "--out", out}, "no such file"},
		{"a directory as the matrix", []string{"plan", tmp}, "not a regular file"},
		{"a matrix that plans no cell", []string{"run", noCells, "--out", out, "--allow-empty"}, "the matrix plans no cells"},
		{"--pg-url with postgres.versions", []string{"run", "../../matrices/pg-versions.yaml", "--out", out, "--pg-url", "postgres://u:hunter2@h/db"}, "--pg-url: ../../matrices/pg-versions.yaml starts its own servers"},
		{"a major below the floor", []string{"plan", "testdata/pg13.yaml"}, "testdata/pg13.yaml:3:27: postgres.versions: PostgreSQL 13 is below awa's floor of 14"},
		{"an unknown major", []string{"run", "testdata/pg19.yaml", "--out", out}, "testdata/pg19.yaml:3:27: postgres.versions: unknown PostgreSQL major 19"},
		{"a shadowed rule with --strict", []string{"run", shadowed, "--out", out, "--strict"}, "expect[2] never applies: every cell it matches is claimed by an earlier rule (expect[1])"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitUsage, stdout, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr)
			}
			if strings.Contains(stdout+stderr, "hunter2") {
				t.Errorf("the password was printed")
			}
			for _, dir := range []string{cache, out} {
				if _, err := os.Stat(dir); err == nil {
					t.Fatalf("%s was created before the usage error", dir)
				}
			}
		})
	}
	// The same empty selection is fine when asked for (a generated shard may be empty).
	code, _, stderr := runCLI(t, "run", "../../matrix.yaml", "--out", out, "--allow-empty", "--only", "scenario=lifecycle,engine=queue_storage,worker=cli-*")
	if code != exitOK || !strings.Contains(stderr, "nothing to do (--allow-empty)") {
		t.Fatalf("--allow-empty: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("an empty run created its output folder")
	}
}

// shippedCells is how many cells the shipped matrix plans.
func shippedCells(t *testing.T) int {
	t.Helper()
	_, plan, code := loadPlan(io.Discard, []string{"../../matrix.yaml"}, selection{})
	if plan == nil {
		t.Fatalf("the shipped matrix does not plan: exit %d", code)
	}
	return len(plan.Cells)
}
