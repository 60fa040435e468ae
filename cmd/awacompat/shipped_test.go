package main

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/awacompat/awacompat/internal/results"
	"github.com/awacompat/awacompat/matrix"
)

// TestShippedMatrix runs the whole shipped matrix.yaml, awa's support statement, on the
// embedded server with the real artifacts: every cell must match its expectation. This is the
// README's main job, so CI proves it on every change.
func TestShippedMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole shipped matrix (about 10 minutes with a warm cache)")
	}
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "run", "../../matrix.yaml", "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr (tail):\n%s", code, stdout, tailLines(stderr, 40))
	}
	r, cells := cellsByID(t, out)
	m, plan, _ := loadPlan(io.Discard, []string{"../../matrix.yaml"}, selection{})
	if len(cells) != len(plan.Cells) || r.Summary.OK != len(plan.Cells) {
		t.Fatalf("%d cells, %d OK; the plan has %d", len(cells), r.Summary.OK, len(plan.Cells))
	}
	// Every scenario of the matrix that binds roles ran under both engines for python and rust
	// (where the plan binds roles at all: upgrade_backlog under queue storage is role-less, the
	// template's staged transition does its work).
	type key struct{ scenario, engine, kind string }
	seen := map[key]bool{}
	for _, c := range cells {
		for _, role := range c.Roles {
			seen[key{c.Scenario, c.Engine, role.Kind}] = true
		}
	}
	bindsRoles := map[[2]string]bool{}
	for _, c := range plan.Cells {
		if len(c.Roles) > 0 {
			bindsRoles[[2]string{c.Scenario, c.Engine.Base()}] = true
		}
	}
	for _, sc := range m.Scenarios {
		if s, _ := matrix.LookupScenario(sc); len(s.Roles) == 0 {
			continue // target_migrate: the template's own steps, no client
		}
		for _, eng := range matrix.BaseEngines {
			if !bindsRoles[[2]string{sc, eng}] {
				continue
			}
			for _, kind := range []string{"python", "rust"} {
				if !seen[key{sc, eng, kind}] {
					t.Errorf("no %s cell of %s under %s", kind, sc, eng)
				}
			}
		}
	}
	for _, reportFile := range []string{"junit.xml", "summary.md", "report.html"} {
		if _, err := os.Stat(filepath.Join(out, reportFile)); err != nil {
			t.Errorf("report %s: %v", reportFile, err)
		}
	}
}

// A sharded run merged into one report equals an unsharded run of the same matrix, cell for
// cell.
func TestShardsMergeToUnsharded(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real awa wheels against PostgreSQL")
	}
	only := "scenario=lifecycle,schema_path=fresh,producer=py-*,worker=py-*"
	whole := t.TempDir()
	if code, stdout, stderr := runCLI(t, "run", "../../matrix.yaml", "--out", whole, "--only", only, "--skip", "artifact=py-0.6.0"); code != exitOK {
		t.Fatalf("unsharded: exit %d\n%s\n%s", code, stdout, tailLines(stderr, 30))
	}
	var shards []string
	for _, s := range []string{"1/2", "2/2"} {
		dir := t.TempDir()
		shards = append(shards, dir)
		if code, stdout, stderr := runCLI(t, "run", "../../matrix.yaml", "--out", dir, "--only", only, "--skip", "artifact=py-0.6.0", "--shard", s); code != exitOK {
			t.Fatalf("shard %s: exit %d\n%s\n%s", s, code, stdout, tailLines(stderr, 30))
		}
	}
	merged := filepath.Join(t.TempDir(), "merged")
	if code, stdout, stderr := runCLI(t, append([]string{"report", "merge", "--out", merged}, shards...)...); code != exitOK {
		t.Fatalf("merge: exit %d\n%s\n%s", code, stdout, stderr)
	}
	type verdict struct {
		ID, Expected, Actual string
		OK                   bool
		Roles                map[string]results.Role
	}
	summarize := func(dir string) []verdict {
		r, _ := cellsByID(t, dir)
		var v []verdict
		for _, c := range r.Cells {
			v = append(v, verdict{c.ID, c.Expected, c.Actual, c.OK, c.Roles})
		}
		sort.Slice(v, func(i, j int) bool { return v[i].ID < v[j].ID })
		return v
	}
	a, b := summarize(whole), summarize(merged)
	if len(a) != 8 || !reflect.DeepEqual(a, b) {
		t.Fatalf("merged shards differ from the unsharded run:\nunsharded %+v\nmerged    %+v", a, b)
	}
	if code, _, _ := runCLI(t, "report", "--check", "--format", "json", "--out", filepath.Join(t.TempDir(), "x.json"), merged); code != exitOK {
		t.Errorf("report --check on the merged run: exit %d", code)
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
