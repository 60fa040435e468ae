package matrix

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		{"bad version", strings.Replace(base, `"0.5.7"`, `"0.5.x"`, 1), "m.yaml:4:31: artifacts.py.version: \"0.5.x\" is not an exact release version"},
		{"range as version", strings.Replace(base, `"0.5.7"`, `">=0.5"`, 1), "m.yaml:4:31: artifacts.py.version: \">=0.5\" is not an exact release version"},
		{"unknown engine", base + "engines: [canonical, queue_storag]\n", "m.yaml:7:22: engines: unknown engine \"queue_storag\" (did you mean \"queue_storage\"?)"},
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
