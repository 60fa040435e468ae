package matrix

import (
	"os"
	"testing"
)

// FuzzLoadAndPlan feeds arbitrary bytes to the loader and, when they load, to the planner and
// the linter: neither may panic, and whatever loads must plan or say why not. CI runs it for a
// short while (make fuzz in .ci/run). Minimizing a new input is capped at 1s there: the seeds are
// whole matrix files, and minimizing one of those for the default minute starves the fuzzing.
func FuzzLoadAndPlan(f *testing.F) {
	for _, path := range []string{"../matrix.yaml", "../matrices/next.yaml", "testdata/small.yaml"} {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("version: 1\ntarget: {awa: \"0.7.0a1\"}\nartifacts: {a: {kind: python, version: \"0.6.0rc4\", source: target}}\nengines: [\"queue_storage:ledger\"]\nscenarios: [target_migrate, lifecycle]\nschema_paths: [{path: fresh}]\ncross: {producer: [a], worker: [a]}\nexclusions: [{scenario: lifecycle, engine: canonical, because: x}]\n"))
	f.Add([]byte("version: 1\n---\nversion: 2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		m.ResolveTargetSource("/src")
		Lint(m)
		for _, opts := range []Options{{}, {Only: []string{"engine=queue_storage*"}, Shard: "1/2"}} {
			p, err := NewPlan(m, opts)
			if err != nil {
				continue
			}
			for _, c := range p.Cells {
				if c.ID == "" || c.Expect.Verdict == "" {
					t.Fatalf("cell %+v has no ID or expectation", c)
				}
			}
		}
	})
}
