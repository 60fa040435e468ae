package matrix

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files (refused when CI is set)")

// refuseUpdateInCI fails the test when -update is asked for under CI: a golden file rewritten
// from the output under test makes the comparison pass by construction.
func refuseUpdateInCI(t *testing.T) {
	t.Helper()
	if ci := os.Getenv("CI"); ci != "" {
		t.Fatalf("-update rewrites golden files; refused because CI=%q is set (accept changes locally and commit the files)", ci)
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		refuseUpdateInCI(t)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test ./matrix -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file; got:\n%s", name, got)
	}
}

func mustPlan(t *testing.T, path string, opts Options) *Plan {
	t.Helper()
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPlanGolden(t *testing.T) {
	for _, tc := range []struct {
		file, golden string
		opts         Options
	}{
		{"testdata/small.yaml", "small.plan", Options{}},
		{"../matrix.yaml", "shipped.plan", Options{}},
		{"testdata/small.yaml", "small-only-qs.plan", Options{Only: []string{"engine=queue_storage"}, Skip: []string{"producer=py-new"}}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := mustPlan(t, tc.file, tc.opts).Print(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, b.Bytes())
		})
	}
}

func TestPlanDeterministic(t *testing.T) {
	var first string
	for i := 0; i < 20; i++ {
		var b bytes.Buffer
		mustPlan(t, "../matrix.yaml", Options{}).Print(&b)
		if i == 0 {
			first = b.String()
		} else if b.String() != first {
			t.Fatalf("plan %d differs from plan 0:\n%s\n---\n%s", i, b.String(), first)
		}
	}
}

func TestPlanDedupesAndExpects(t *testing.T) {
	p := mustPlan(t, "testdata/small.yaml", Options{})
	if len(p.Cells) != 8 {
		t.Fatalf("got %d cells, want 8 (4 fleets x 2 engines, duplicate dropped)", len(p.Cells))
	}
	byID := map[string]Cell{}
	for _, c := range p.Cells {
		byID[c.ID] = c
	}
	for id, want := range map[string]struct {
		v    Verdict
		rule int
	}{
		"queue_storage.fresh.lifecycle.producer=py-new.worker=py-old": {Inert, 1},
		"queue_storage.fresh.lifecycle.producer=py-old.worker=py-old": {Inert, 1},
		"queue_storage.fresh.lifecycle.producer=py-old.worker=py-new": {Pass, 0},
		"canonical.fresh.lifecycle.producer=py-new.worker=py-new":     {Pass, 2},
		"canonical.fresh.lifecycle.producer=py-old.worker=py-new":     {Pass, 0},
	} {
		c, ok := byID[id]
		if !ok {
			t.Fatalf("no cell %s", id)
		}
		if c.Expect.Verdict != want.v || c.Expect.Rule != want.rule {
			t.Errorf("%s: expect %s (rule %d), want %s (rule %d)", id, c.Expect.Verdict, c.Expect.Rule, want.v, want.rule)
		}
	}
}

func TestShardsPartition(t *testing.T) {
	all := mustPlan(t, "../matrix.yaml", Options{})
	seen := map[string]int{}
	for i := 1; i <= 3; i++ {
		p := mustPlan(t, "../matrix.yaml", Options{Shard: strings.Join([]string{string(rune('0' + i)), "3"}, "/")})
		for _, c := range p.Cells {
			seen[c.ID]++
		}
	}
	if len(seen) != len(all.Cells) {
		t.Fatalf("shards cover %d cells, plan has %d", len(seen), len(all.Cells))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("cell %s in %d shards", id, n)
		}
	}
}

func TestSelectors(t *testing.T) {
	p := mustPlan(t, "testdata/small.yaml", Options{Only: []string{"worker=0.5.*,engine=canonical", "id=*producer=py-new.worker=py-new"}})
	var ids []string
	for _, c := range p.Cells {
		ids = append(ids, c.ID)
	}
	want := []string{
		"canonical.fresh.lifecycle.producer=py-old.worker=py-old",
		"canonical.fresh.lifecycle.producer=py-new.worker=py-old",
		"canonical.fresh.lifecycle.producer=py-new.worker=py-new",
		"queue_storage.fresh.lifecycle.producer=py-new.worker=py-new",
	}
	if strings.Join(ids, "\n") != strings.Join(want, "\n") {
		t.Fatalf("selected:\n%s\nwant:\n%s", strings.Join(ids, "\n"), strings.Join(want, "\n"))
	}
	for _, bad := range []string{"engine", "colour=red", "engine=[", ""} {
		if _, err := ParseSelector(bad); err == nil {
			t.Errorf("ParseSelector(%q) accepted", bad)
		}
	}
	if _, err := NewPlan(&Matrix{}, Options{Shard: "4/3"}); err == nil {
		t.Error("shard 4/3 accepted")
	}
}

func TestLoadErrors(t *testing.T) {
	base := `version: 1
target: {awa: "0.6.9"}
artifacts:
  py: {kind: python, version: "0.5.7"}
scenarios: [lifecycle]
cross: {producer: [py], worker: [py]}
`
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown top key", base + "colour: red\n", "m.yaml:7:1: matrix: unknown key \"colour\""},
		{"unknown artifact key", strings.Replace(base, `version: "0.5.7"}`, `version: "0.5.7", flavour: x}`, 1), "m.yaml:4:40: artifacts.py: unknown key \"flavour\""},
		{"bad version", strings.Replace(base, `"0.5.7"`, `"0.5.x"`, 1), "m.yaml:4:31: artifacts.py.version: \"0.5.x\" is not an exact release like 0.6.9 or a pre-release like 0.6.0-rc.4 (0.6.0rc4)"},
		{"range as version", strings.Replace(base, `"0.5.7"`, `">=0.5"`, 1), "m.yaml:4:31: artifacts.py.version: \">=0.5\" is not an exact release"},
		{"partial version", strings.Replace(base, `"0.5.7"`, `"0.6"`, 1), "m.yaml:4:31: artifacts.py.version: \"0.6\" is not an exact release"},
		{"unquoted partial version", strings.Replace(base, `"0.5.7"`, `0.6`, 1), "m.yaml:4:31: artifacts.py.version: \"0.6\" is not an exact release"},
		{"v prefix", strings.Replace(base, `"0.5.7"`, `"v0.6.9"`, 1), "artifacts.py.version: \"v0.6.9\" is not an exact release"},
		{"build metadata", strings.Replace(base, `"0.5.7"`, `"0.6.9+local.1"`, 1), "artifacts.py.version: \"0.6.9+local.1\" is not an exact release"},
		{"pre-release target", strings.Replace(base, `awa: "0.6.9"`, `awa: "0.7.0rc"`, 1), "m.yaml:2:15: target.awa: \"0.7.0rc\" is not an exact release"},
		{"authority on a v40 target", base + "engines: [canonical, \"queue_storage:ledger\"]\n", "m.yaml:7:22: engines: queue_storage:ledger asks for a ring authority, but the schema of the target awa 0.6.9 has none"},
		{"fresh in columns", strings.Replace(base, `awa: "0.6.9"`, `awa: "0.7.0-alpha.1"`, 1) + "engines: [canonical, \"queue_storage:columns\"]\n", "schema path fresh with engine queue_storage:columns: a fresh install starts in ring authority ledger"},
		{"unknown when.schema_path", base + "expect:\n  - when: {schema_path: upgraded-from py}\n    verdict: pass\n    because: x\n", "m.yaml:8:25: expect[1].when.schema_path: \"upgraded-from py\" is not a schema path of this matrix (known: fresh)"},
		{"schema path entry without path", base + "schema_paths: [{engines: [canonical]}]\n", "m.yaml:7:16: schema_paths[]: missing key \"path\""},
		{"schema path given twice", base + "schema_paths: [fresh, {path: fresh}]\n", "schema_paths: fresh given twice"},
		{"duplicate key in a fleet", strings.Replace(base, "cross: {producer: [py], worker: [py]}", "fleets: [{producer: py, worker: py, producer: py}]", 1), "m.yaml:6:37: fleets: key \"producer\" given twice"},
		{"duplicate key in a cross block", strings.Replace(base, "worker: [py]}", "worker: [py], worker: [py]}", 1), "m.yaml:6:39: cross: key \"worker\" given twice"},
		{"duplicate key in a when", base + "expect:\n  - when: {engine: canonical, engine: queue_storage}\n    verdict: pass\n    because: x\n", "m.yaml:8:31: expect[1].when: key \"engine\" given twice"},
		{"exclusion of an unknown scenario", base + "exclusions:\n  - {scenario: lifecycel, engine: queue_storage, because: x}\n", "m.yaml:8:16: exclusions[1].scenario: unknown scenario \"lifecycel\" (did you mean \"lifecycle\"?)"},
		{"exclusion of an unknown engine", base + "exclusions:\n  - {scenario: lifecycle, engine: qs, because: x}\n", "exclusions[1].engine: unknown engine \"qs\""},
		{"second document", base + "---\nversion: 1\n", "m.yaml:7:1: a second YAML document"},
		{"empty artifact match", base + "expect:\n  - when: {worker: {}}\n    verdict: inert\n    because: x\n", "expect[1].when.worker: an empty mapping matches every artifact"},
		{"tiny cell timeout", base + "timeouts: {cell: 1ns}\n", "timeouts.cell: 1ns is outside 10s..1h0m0s"},
		{"inert longer than the cell", base + "timeouts: {cell: 30s, inert: 40s}\n", "timeouts: inert (40s) must be shorter than cell (30s)"},
		{"long scalar is cut", strings.Replace(base, `"0.5.7"`, `"`+strings.Repeat("9", 5000)+`"`, 1), "…\" is not an exact release"},
		{"source target without a source", strings.Replace(base, `version: "0.5.7"}`, `version: "0.5.7", source: target}`, 1), "artifact py is built from the target's checkout (source: target), but the target has no source: give --target-source PATH"},
		{"unknown engine", base + "engines: [canonical, queue_storag]\n", "m.yaml:7:22: engines: unknown engine \"queue_storag\" (did you mean \"queue_storage\"?)"},
		{"unknown schema path in cross", strings.Replace(base, "cross: {producer", "cross: {schema_paths: [upgraded-from pyy], producer", 1), "m.yaml:6:24: cross.schema_paths: \"upgraded-from pyy\" is not a schema path of this matrix"},
		{"unknown artifact in cross", strings.Replace(base, "worker: [py]", "worker: [pyy]", 1), "m.yaml:6:34: cross: unknown artifact \"pyy\" (did you mean \"py\"?)"},
		{"unknown artifact kind", strings.Replace(base, "kind: python", "kind: pyton", 1), "m.yaml:4:14: artifacts.py.kind: unknown kind \"pyton\" (did you mean \"python\"?)"},
		{"unknown scenario", strings.Replace(base, "[lifecycle]", "[lifecycel]", 1), "m.yaml:5:13: scenarios: unknown scenario \"lifecycel\" (did you mean \"lifecycle\"?)"},
		{"rule without because", base + "expect:\n  - when: {engine: canonical}\n    verdict: pass\n", "m.yaml:8:5: expect[1]: missing key \"because\""},
		{"bad constraint", base + "expect:\n  - when: {worker: \"<<0.6\"}\n    verdict: inert\n    because: x\n", "m.yaml:8:20: expect[1].when.worker: \"<<0.6\" is not a version constraint"},
		{"unknown verdict", base + "expect:\n  - when: {}\n    verdict: passed\n    because: x\n", "m.yaml:9:14: expect[1].verdict: unknown verdict \"passed\" (did you mean \"pass\"?)"},
		{"missing target", strings.Replace(base, "target: {awa: \"0.6.9\"}\n", "", 1), "m.yaml:1:1: matrix: missing key \"target\""},
		{"yaml syntax", "version: 1\ntarget: [\n", "m.yaml:2:1: did not find expected node content"},
		{"empty file", "", "m.yaml:1:1: empty file"},
		{"comments only", "# nothing yet\n", "m.yaml:1:1: empty file"},
		{"one engine only", base + "engines: [canonical]\n", "contract operations would run under one engine only (lifecycle under queue_storage)"},
		{"major below awa's floor", base + "postgres: {versions: [13, 17]}\n", "m.yaml:7:23: postgres.versions: PostgreSQL 13 is below awa's floor of 14 (awa's migrations use INT8MULTIRANGE and range_agg, new in PostgreSQL 14"},
		{"unknown major", base + "postgres: {versions: [17, 19]}\n", "m.yaml:7:27: postgres.versions: unknown PostgreSQL major 19: awacompat knows 14, 15, 16, 17, 18"},
		{"minor version as a major", base + "postgres: {versions: [\"17.2\"]}\n", "m.yaml:7:23: postgres.versions: \"17.2\" is not a PostgreSQL major like 17"},
		{"major given twice", base + "postgres: {versions: [17, 17]}\n", "m.yaml:7:27: postgres.versions: 17 given twice"},
		{"empty versions", base + "postgres: {versions: []}\n", "m.yaml:7:22: postgres.versions: empty"},
		{"url and versions", base + "postgres: {url: \"postgres://h/db\", versions: [17]}\n", "postgres: url and versions exclude each other"},
		{"one image for several majors", base + "postgres: {versions: [14, 17], image: \"postgres:17\"}\n", "postgres.image: \"postgres:17\" is one server for 2 majors; write the major as {major}"},
		{"placeholder without versions", base + "postgres: {image: \"postgres:{major}\"}\n", "postgres.image: \"postgres:{major}\" names {major}, but postgres.versions lists no major"},
		{"when.pg not a version of the matrix", base + "postgres: {versions: [17]}\nexpect:\n  - when: {pg: 16}\n    verdict: pass\n    because: x\n", "m.yaml:9:16: expect[1].when.pg: 16 is not in postgres.versions (17)"},
		{"container without image", strings.Replace(base, `py: {kind: python, version: "0.5.7"}`, `py: {kind: container, client: python, version: "0.5.7"}`, 1), "m.yaml:4:7: artifacts.py: missing key \"image\""},
		{"container with a bad client", strings.Replace(base, `py: {kind: python, version: "0.5.7"}`, `py: {kind: container, image: x, client: ruby, version: "0.5.7"}`, 1), "artifacts.py.client: \"ruby\" is not python"},
		{"cli container as a worker", strings.Replace(base, `py: {kind: python, version: "0.5.7"}`, `py: {kind: container, image: x, client: cli, version: "0.5.7"}`, 1), "a cli artifact cannot be a producer"},
		{"image on a python artifact", strings.Replace(base, `version: "0.5.7"}`, `version: "0.5.7", image: x}`, 1), "\"image\" and \"client\" apply to kind container only"},
		{"one engine excused", base + "engines: [canonical]\nexclusions:\n  - {scenario: lifecycle, engine: queue_storage, because: test}\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse("m.yaml", []byte(tc.yaml))
			if err == nil {
				_, err = NewPlan(m, Options{})
			}
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tc.want)
			}
		})
	}
}

func TestCLIArtifactCannotWork(t *testing.T) {
	y := `version: 1
target: {awa: "0.6.9"}
artifacts:
  cli: {kind: cli, version: "0.5.7"}
scenarios: [lifecycle]
fleets:
  - {producer: cli, worker: cli}
`
	_, err := Parse("m.yaml", []byte(y))
	if err == nil || !strings.Contains(err.Error(), "m.yaml:7:16: fleets: a cli artifact cannot be a producer") {
		t.Fatalf("got %v", err)
	}
}

func TestPreReleaseSpellings(t *testing.T) {
	m, err := Parse("m.yaml", []byte(`version: 1
target: {awa: "0.7.0a1"}
artifacts:
  py-rc4: {kind: python, version: "0.6.0rc4"}
  rs-rc4: {kind: rust, version: "0.6.0-rc.4"}
  py-057: {kind: python, version: "0.5.7"}
scenarios: [cancel]
cross: {producer: [py-rc4, rs-rc4, py-057], admin: [py-rc4]}
expect:
  - when: {producer: "<0.6.0"}
    verdict: refused
    because: x
  - when: {producer: ">=0.6.0-rc.1, <0.6.0"}
    verdict: fail
    because: y
`))
	if err != nil {
		t.Fatal(err)
	}
	if m.Target.Awa.String() != "0.7.0-alpha.1" || m.Artifacts["py-rc4"].Version != m.Artifacts["rs-rc4"].Version {
		t.Fatalf("target %s, py %s, rs %s: the two spellings must load as one canonical version", m.Target.Awa, m.Artifacts["py-rc4"].Version, m.Artifacts["rs-rc4"].Version)
	}
	p, err := NewPlan(m, Options{Only: []string{"producer=0.6.0rc*"}})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	p.Print(&b)
	for _, want := range []string{"target: awa 0.7.0-alpha.1", "py-rc4: python 0.6.0-rc.4", "producer=python 0.6.0-rc.4", "expect: fail (rule 2"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, b.String())
		}
	}
	for _, c := range p.Cells {
		if c.Roles["producer"].Name == "py-057" || c.Expect.Verdict != Fail {
			t.Errorf("cell %s: expect %s; a 0.6.0 pre-release is neither <0.6.0 nor the 0.5 line", c.ID, c.Expect.Verdict)
		}
	}
	if len(p.Cells) != 4 {
		t.Errorf("%d cells selected by the PEP 440 glob, want 4 (2 producers x 2 engines)", len(p.Cells))
	}
}

func TestEngineStatesAndSchemaPathEntries(t *testing.T) {
	m, err := Parse("m.yaml", []byte(`version: 1
target: {awa: "0.7.0-alpha.1"}
artifacts:
  py-062: {kind: python, version: "0.6.2"}
  py-057: {kind: python, version: "0.5.7"}
  py-next: {kind: python, version: "0.7.0-alpha.1", source: target}
engines: [canonical, queue_storage]
schema_paths:
  - fresh
  - {path: "upgraded-from py-062", engines: [canonical, "queue_storage:columns", "queue_storage:ledger"]}
  - {path: "upgraded-from py-057", engines: [canonical], scenarios: [target_migrate]}
scenarios: [target_migrate, lifecycle]
cross: {producer: [py-062], worker: [py-next]}
expect:
  - when: {engine: queue_storage, scenario: lifecycle}
    verdict: pass
    because: every authority is queue_storage
  - when: {engine: "queue_storage:ledger"}
    verdict: fail
    because: never reached for lifecycle
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewPlan(m, Options{}); err == nil || !strings.Contains(err.Error(), "--target-source") {
		t.Fatalf("source: target with no target source: %v", err)
	}
	m.ResolveTargetSource("/src/awa")
	if a := m.Artifacts["py-next"]; a.Source != "/src/awa" || !a.FromTarget {
		t.Fatalf("py-next after ResolveTargetSource: %+v", a)
	}
	p, err := NewPlan(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range p.Cells {
		ids = append(ids, c.ID)
		if c.Engine.Base() == "queue_storage" && c.Scenario == "lifecycle" && c.Expect.Rule != 1 {
			t.Errorf("%s: rule %d, want 1 (engine: queue_storage matches every authority)", c.ID, c.Expect.Rule)
		}
	}
	want := []string{
		"canonical.fresh.target_migrate",
		"canonical.fresh.lifecycle.producer=py-062.worker=py-next",
		"queue_storage.fresh.target_migrate",
		"queue_storage.fresh.lifecycle.producer=py-062.worker=py-next",
		"canonical.upgraded-from-py-062.target_migrate",
		"canonical.upgraded-from-py-062.lifecycle.producer=py-062.worker=py-next",
		"queue_storage:columns.upgraded-from-py-062.target_migrate",
		"queue_storage:columns.upgraded-from-py-062.lifecycle.producer=py-062.worker=py-next",
		"queue_storage:ledger.upgraded-from-py-062.target_migrate",
		"queue_storage:ledger.upgraded-from-py-062.lifecycle.producer=py-062.worker=py-next",
		"canonical.upgraded-from-py-057.target_migrate",
	}
	if strings.Join(ids, "\n") != strings.Join(want, "\n") {
		t.Fatalf("cells:\n%s\nwant:\n%s", strings.Join(ids, "\n"), strings.Join(want, "\n"))
	}
	steps := map[string][]BuildStep{}
	for _, tpl := range p.Templates {
		steps[tpl.Name()] = tpl.Steps
	}
	for name, want := range map[string][]BuildStep{
		"fresh.queue_storage":                        {{OpMigrate, TargetRelease}, {OpAutoFinalize, TargetRelease}},
		"upgraded-from-py-062.canonical":             {{OpOldRelease, "py-062"}, {OpMigrate, TargetRelease}},
		"upgraded-from-py-062.queue_storage:columns": {{OpOldRelease, "py-062"}, {OpStagedTransition, "py-062"}, {OpMigrate, TargetRelease}},
		"upgraded-from-py-062.queue_storage:ledger":  {{OpOldRelease, "py-062"}, {OpStagedTransition, "py-062"}, {OpMigrate, TargetRelease}, {OpFlipAuthority, TargetRelease}},
		"upgraded-from-py-057.canonical":             {{OpOldRelease, "py-057"}, {OpMigrate, TargetRelease}},
	} {
		if fmt.Sprint(steps[name]) != fmt.Sprint(want) {
			t.Errorf("template %s steps %v, want %v", name, steps[name], want)
		}
	}
	// An upgrade from a release without the staged transition's commands migrates first.
	old := NewTemplate(SchemaPath{From: "py-057"}, QueueStorage, m.Artifacts["py-057"])
	if fmt.Sprint(old.Steps) != fmt.Sprint([]BuildStep{{OpOldRelease, "py-057"}, {OpMigrate, TargetRelease}, {OpStagedTransition, TargetRelease}}) {
		t.Errorf("0.5.7 to queue_storage: %v", old.Steps)
	}
}

func TestLoadLongScalarMessageIsShort(t *testing.T) {
	_, err := Parse("m.yaml", []byte("version: 1\ntarget: {awa: \""+strings.Repeat("x", 50_000)+"\"}\n"))
	if err == nil || len(err.Error()) > 2000 {
		t.Fatalf("error of %d bytes for a 50 kB scalar", len(err.Error()))
	}
}

func TestLoadRefusesNonRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "matrix.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	done := make(chan error, 1)
	go func() { _, err := Load(fifo); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("a FIFO: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Load blocked on a FIFO")
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("a directory: %v", err)
	}
	big := filepath.Join(dir, "big.yaml")
	os.WriteFile(big, make([]byte, MaxFileSize+1), 0o644)
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "more than the") {
		t.Fatalf("a file over the limit: %v", err)
	}
}

func TestPlanSizeIsCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\ntarget: {awa: \"0.6.9\"}\nartifacts:\n")
	var names []string
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&b, "  a%d: {kind: python, version: \"0.6.9\"}\n", i)
		names = append(names, fmt.Sprintf("a%d", i))
	}
	fmt.Fprintf(&b, "scenarios: [lifecycle]\ncross: {producer: [%s], worker: [%s]}\n", strings.Join(names, ", "), strings.Join(names, ", "))
	m, err := Parse("m.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := NewPlan(m, Options{}); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "expands to 8000000 cells, more than the 20000") {
			t.Fatalf("a 2000 x 2000 cross: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("planning a 2000 x 2000 cross was not refused up front")
	}
}

func TestLintRulesThatNeverApply(t *testing.T) {
	m, err := Parse("m.yaml", []byte(`version: 1
target: {awa: "0.6.9"}
artifacts:
  py: {kind: python, version: "0.6.9"}
scenarios: [lifecycle]
cross: {producer: [py], worker: [py]}
expect:
  - when: {engine: canonical}
    verdict: pass
    because: a
  - when: {engine: canonical, worker: ">=0.6.0"}
    verdict: fail
    because: shadowed by rule 1
  - when: {worker: "<0.6.0"}
    verdict: inert
    because: no 0.5 worker here
  - when: {engine: queue_storage}
    verdict: pass
    because: fine
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range Lint(m) {
		got = append(got, w.String())
	}
	want := []string{
		"m.yaml:11:5: expect[2] never applies: every cell it matches is claimed by an earlier rule (expect[1])",
		"m.yaml:14:5: expect[3] matches no cell of this matrix",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if w := Lint(mustLoad(t, "../matrix.yaml")); len(w) != 0 {
		t.Errorf("the shipped matrix has warnings: %v", w)
	}
}

func mustLoad(t *testing.T, path string) *Matrix {
	t.Helper()
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A cross block scoped to schema paths makes cells on those paths only; rolling_upgrade's
// cells clone the path's pending template, and a path whose rest would be a staged transition
// (0.5.x under queue storage) has none.
func TestCrossSchemaPathsAndPendingTemplates(t *testing.T) {
	m, err := Parse("m.yaml", []byte(`version: 1
target: {awa: "0.6.9"}
artifacts:
  py-old: {kind: python, version: "0.5.7"}
  py-mid: {kind: python, version: "0.6.0"}
  py-new: {kind: python, version: "0.6.9"}
engines: [canonical, queue_storage]
schema_paths: [fresh, upgraded-from py-old, upgraded-from py-mid]
scenarios: [lifecycle, rolling_upgrade]
cross:
  - {scenarios: [lifecycle], producer: [py-new], worker: [py-new]}
  - {scenarios: [rolling_upgrade], schema_paths: [upgraded-from py-mid], producer: [py-mid], worker: [py-mid], successor: [py-new]}
  - {scenarios: [rolling_upgrade], schema_paths: ["upgraded-from-py-old"], producer: [py-old], worker: [py-old], successor: [py-new]}
`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var rolling []string
	for _, c := range p.Cells {
		if c.Scenario == "rolling_upgrade" {
			rolling = append(rolling, c.ID+" @ "+c.TemplateName())
		}
	}
	want := []string{
		"canonical.upgraded-from-py-old.rolling_upgrade.producer=py-old.worker=py-old.successor=py-new @ upgraded-from-py-old.canonical.pending",
		"canonical.upgraded-from-py-mid.rolling_upgrade.producer=py-mid.worker=py-mid.successor=py-new @ upgraded-from-py-mid.canonical.pending",
		"queue_storage.upgraded-from-py-mid.rolling_upgrade.producer=py-mid.worker=py-mid.successor=py-new @ upgraded-from-py-mid.queue_storage.pending",
	}
	if strings.Join(rolling, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rolling_upgrade cells:\n%s\nwant:\n%s", strings.Join(rolling, "\n"), strings.Join(want, "\n"))
	}
	for _, tpl := range p.Templates {
		if tpl.Name() != "upgraded-from-py-mid.queue_storage.pending" {
			continue
		}
		if got := fmt.Sprint(tpl.Steps, " | ", tpl.Pending); got != "[{old_release py-mid} {staged_transition py-mid}] | [{migrate target}]" {
			t.Fatalf("pending template steps: %s", got)
		}
		return
	}
	t.Fatalf("no pending template for the queue_storage path: %v", p.Templates)
}

// TestPostgresVersions: postgres.versions multiplies the cells, each ID and template carries
// its major, --only pg=N selects one, and when.pg narrows a rule to a major.
func TestPostgresVersions(t *testing.T) {
	m, err := Parse("m.yaml", []byte(`version: 1
target: {awa: "0.6.9"}
postgres: {versions: [14, 17]}
artifacts:
  py: {kind: python, version: "0.6.9"}
scenarios: [lifecycle]
fleets: [{producer: py, worker: py}]
expect:
  - when: {pg: 14, engine: queue_storage}
    verdict: inert
    because: test
`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ids, tpls []string
	for _, c := range p.Cells {
		ids = append(ids, c.ID+" "+string(c.Expect.Verdict))
	}
	for _, tp := range p.Templates {
		tpls = append(tpls, tp.Name())
	}
	want := []string{
		"pg14.canonical.fresh.lifecycle.producer=py.worker=py pass",
		"pg14.queue_storage.fresh.lifecycle.producer=py.worker=py inert",
		"pg17.canonical.fresh.lifecycle.producer=py.worker=py pass",
		"pg17.queue_storage.fresh.lifecycle.producer=py.worker=py pass",
	}
	if strings.Join(ids, "\n") != strings.Join(want, "\n") {
		t.Errorf("cells:\n%s\nwant:\n%s", strings.Join(ids, "\n"), strings.Join(want, "\n"))
	}
	if got := strings.Join(tpls, " "); got != "pg14.fresh.canonical pg14.fresh.queue_storage pg17.fresh.canonical pg17.fresh.queue_storage" {
		t.Errorf("templates: %s", got)
	}
	if fmt.Sprint(p.Majors) != "[14 17]" {
		t.Errorf("majors %v", p.Majors)
	}
	p, err = NewPlan(m, Options{Only: []string{"pg=17"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Cells) != 2 || p.Cells[0].Postgres != 17 || fmt.Sprint(p.Majors) != "[17]" {
		t.Errorf("--only pg=17: %d cells, majors %v", len(p.Cells), p.Majors)
	}
	var b strings.Builder
	p.Print(&b)
	if !strings.Contains(b.String(), "postgres: PostgreSQL 14, 17 (one server each)\n") {
		t.Errorf("plan does not name the servers:\n%s", b.String())
	}
}

// A container artifact plays any role but one a scenario SIGKILLs as a process (killing its
// docker CLI would not crash the probe in the container); a cli image only the CLI's roles.
func TestContainerRoles(t *testing.T) {
	m, err := Parse("m.yaml", []byte(`version: 1
target: {awa: "0.6.9"}
artifacts:
  py: {kind: python, version: "0.6.9"}
  img: {kind: container, image: "acme/w:1", client: python, version: "0.6.9"}
  cli-img: {kind: container, image: "acme/awa:1", client: cli, version: "0.6.9"}
scenarios: [lifecycle, crash_rescue, cancel]
cross:
  - {producer: [py], worker: [img, py], rescuer: [img, py], admin: [cli-img]}
`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(m, Options{Only: []string{"engine=canonical"}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range p.Cells {
		ids = append(ids, c.ID)
	}
	want := []string{
		"canonical.fresh.lifecycle.producer=py.worker=img",
		"canonical.fresh.lifecycle.producer=py.worker=py",
		"canonical.fresh.crash_rescue.worker=py.rescuer=img",
		"canonical.fresh.crash_rescue.worker=py.rescuer=py",
		"canonical.fresh.cancel.producer=py.admin=cli-img",
	}
	if strings.Join(ids, "\n") != strings.Join(want, "\n") {
		t.Errorf("cells:\n%s\nwant:\n%s", strings.Join(ids, "\n"), strings.Join(want, "\n"))
	}
}
