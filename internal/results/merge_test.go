package results

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fixtureDir is the report package's fixture: an unsharded run with every verdict, and the log
// folders of some of its cells.
const fixtureDir = "../report/testdata"

func readFixture(t *testing.T) *Results {
	t.Helper()
	r, err := Read(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// split deals the fixture's cells into n shard records, as n `--shard i/n` runs would write.
func split(t *testing.T, full *Results, n int) []*Results {
	t.Helper()
	parts := make([]*Results, n)
	for i := range parts {
		p := *full
		p.Shards = []string{shardName(i+1, n)}
		p.Cells = nil
		p.Artifacts = append([]Artifact(nil), full.Artifacts...)
		p.Templates = append([]Template(nil), full.Templates...)
		p.StartedAt = full.StartedAt.Add(time.Duration(i) * time.Second)
		p.FinishedAt = full.FinishedAt.Add(-time.Duration(n-1-i) * time.Second)
		p.Interrupted = full.Interrupted && i == n-1
		parts[i] = &p
	}
	for i, c := range full.Cells {
		parts[i%n].Cells = append(parts[i%n].Cells, c)
	}
	for _, p := range parts {
		p.Summarize()
	}
	return parts
}

func shardName(i, n int) string { return fmt.Sprintf("%d/%d", i, n) }

// writeShard writes a shard's results.json with copies of its cells' log folders.
func writeShard(t *testing.T, p *Results) string {
	t.Helper()
	dir := t.TempDir()
	for _, c := range p.Cells {
		src := filepath.Join(fixtureDir, c.Logs)
		if c.Logs == "" {
			continue
		}
		if _, err := os.Stat(src); err != nil {
			continue
		}
		if err := copyTree(src, filepath.Join(dir, c.Logs)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "templates.log"), []byte("migrate "+p.Shards[0]+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, p); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestMergeShardsEqualsUnsharded(t *testing.T) {
	full := readFixture(t)
	parts := split(t, full, 2)
	parts[0].ServerCPUMS, parts[1].ServerCPUMS = 1200, 800
	out := filepath.Join(t.TempDir(), "merged")
	// Shard order on the command line does not matter.
	merged, err := MergeDirs(out, []string{writeShard(t, parts[1]), writeShard(t, parts[0])})
	if err != nil {
		t.Fatal(err)
	}
	if len(merged.Cells) != len(full.Cells) {
		t.Fatalf("merged %d cells, want %d", len(merged.Cells), len(full.Cells))
	}
	for i := range full.Cells {
		if !reflect.DeepEqual(merged.Cells[i], full.Cells[i]) {
			t.Errorf("cell %d:\n got  %+v\n want %+v", i, merged.Cells[i], full.Cells[i])
		}
	}
	if !reflect.DeepEqual(merged.Summary, full.Summary) {
		t.Errorf("summary %+v, want %+v", merged.Summary, full.Summary)
	}
	if want := []string{"1/2", "2/2"}; !reflect.DeepEqual(merged.Shards, want) {
		t.Errorf("shards %q, want %q", merged.Shards, want)
	}
	if !merged.StartedAt.Equal(full.StartedAt) || !merged.FinishedAt.Equal(full.FinishedAt) {
		t.Errorf("merged ran %s..%s, want %s..%s", merged.StartedAt, merged.FinishedAt, full.StartedAt, full.FinishedAt)
	}
	if !merged.Interrupted || merged.Error != "" {
		t.Errorf("interrupted=%v error=%q, want true and none", merged.Interrupted, merged.Error)
	}
	if merged.ServerCPUMS != 2000 {
		t.Errorf("server CPU %d ms, want the shards' 1200 + 800", merged.ServerCPUMS)
	}
	if !reflect.DeepEqual(merged.Target, full.Target) || !reflect.DeepEqual(merged.Artifacts, full.Artifacts) || !reflect.DeepEqual(merged.Templates, full.Templates) {
		t.Errorf("target, artifacts or templates changed in the merge")
	}

	// The merged folder holds results.json and every log the shards had, at the cells' Logs paths.
	back, err := Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, merged) {
		t.Errorf("results.json in %s differs from the returned record", out)
	}
	logs := 0
	for _, c := range full.Cells {
		if c.Logs == "" {
			continue
		}
		want, err := os.ReadDir(filepath.Join(fixtureDir, c.Logs))
		if err != nil {
			continue
		}
		for _, e := range want {
			a, _ := os.ReadFile(filepath.Join(fixtureDir, c.Logs, e.Name()))
			b, err := os.ReadFile(filepath.Join(out, c.Logs, e.Name()))
			if err != nil || string(a) != string(b) {
				t.Errorf("%s/%s not carried into the merged folder (%v)", c.Logs, e.Name(), err)
			}
			logs++
		}
	}
	if logs == 0 {
		t.Fatal("the fixture has no log files to carry")
	}
	for _, name := range []string{"templates.1-of-2.log", "templates.2-of-2.log"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
}

func TestMergeRejectsDuplicateCells(t *testing.T) {
	full := readFixture(t)
	parts := split(t, full, 2)
	parts[1].Cells = append(parts[1].Cells, parts[0].Cells[0])
	_, err := Merge(parts...)
	if err == nil || !strings.Contains(err.Error(), parts[0].Cells[0].ID) || !strings.Contains(err.Error(), "1/2") {
		t.Errorf("merge with a duplicate cell: %v", err)
	}
}

func TestMergeRejectsMismatchedTargets(t *testing.T) {
	for name, change := range map[string]func(*Results){
		"awa":             func(r *Results) { r.Target.Awa = "0.7.0" },
		"schema version":  func(r *Results) { r.Target.SchemaVersion = 41 },
		"expected schema": func(r *Results) { r.Target.ExpectedSchemaVersion = 41 },
		"results schema":  func(r *Results) { r.Schema = SchemaVersion + 1 },
	} {
		t.Run(name, func(t *testing.T) {
			parts := split(t, readFixture(t), 2)
			change(parts[1])
			if _, err := Merge(parts...); err == nil {
				t.Errorf("merge accepted shards whose %s differs", name)
			}
		})
	}
}

// A shard that never migrated (its run failed first) has schema version 0; it does not block
// the merge, and its error is kept.
func TestMergeKeepsShardErrors(t *testing.T) {
	parts := split(t, readFixture(t), 2)
	parts[0].Target.SchemaVersion = 0
	parts[0].Error = "provision postgres: connection refused"
	parts[0].Artifacts[2].Error = "cargo build: exit status 101"
	m, err := Merge(parts...)
	if err != nil {
		t.Fatal(err)
	}
	if m.Target.SchemaVersion != 40 {
		t.Errorf("schema version %d, want 40", m.Target.SchemaVersion)
	}
	if m.Error != "shard 1/2: provision postgres: connection refused" {
		t.Errorf("error %q", m.Error)
	}
	if m.Artifacts[2].Error == "" {
		t.Errorf("the failed install of %s was hidden by the shard where it worked", m.Artifacts[2].Name)
	}
}

func TestMergeMissingShards(t *testing.T) {
	parts := split(t, readFixture(t), 3)
	m, err := Merge(parts[0], parts[2])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Error, "2/3") {
		t.Errorf("a merge without shard 2/3 has error %q", m.Error)
	}
	other := split(t, readFixture(t), 2)
	if _, err := Merge(parts[0], other[1]); err == nil {
		t.Error("merge accepted shards of different partitions")
	}
	if _, err := Merge(parts[0], parts[0]); err == nil {
		t.Error("merge accepted one shard twice")
	}
}

func TestMergeDirsRefusesShardAsOutput(t *testing.T) {
	parts := split(t, readFixture(t), 2)
	a, b := writeShard(t, parts[0]), writeShard(t, parts[1])
	if _, err := MergeDirs(a, []string{a, b}); err == nil {
		t.Error("merge wrote into one of its shard folders")
	}
}

// Logs paths come from a file; one that climbs out of the results folder is refused.
func TestMergeDirsRefusesEscapingLogs(t *testing.T) {
	parts := split(t, readFixture(t), 2)
	parts[0].Cells[0].Logs = "../../etc"
	a, b := writeShard(t, parts[0]), writeShard(t, parts[1])
	if _, err := MergeDirs(filepath.Join(t.TempDir(), "m"), []string{a, b}); err == nil {
		t.Error("merge followed a logs path out of the results folder")
	}
}
