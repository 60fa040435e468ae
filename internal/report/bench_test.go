package report

import (
	"fmt"
	"testing"
	"time"

	"github.com/awacompat/awacompat/internal/results"
)

// syntheticResults is a run the size of the shipped matrix's (524 cells) and larger, with the
// mix of verdicts a real run has, for timing the report step.
func syntheticResults(n int) *results.Results {
	r := &results.Results{Schema: results.SchemaVersion, Matrix: "matrix.yaml", Shards: []string{""},
		StartedAt: time.Date(2026, 11, 25, 23, 0, 0, 0, time.UTC), FinishedAt: time.Date(2026, 11, 25, 23, 10, 0, 0, time.UTC),
		Target: results.Target{Awa: "0.6.9", SchemaVersion: 40}}
	versions := []string{"0.5.7", "0.6.0", "0.6.9"}
	scenarios := []string{"lifecycle", "fidelity", "retry", "cancel", "admin_reads", "unique_dedupe"}
	for i := 0; i < n; i++ {
		p, w := versions[i%3], versions[(i/3)%3]
		kind := []string{"python", "rust"}[(i/9)%2]
		eng := []string{"canonical", "queue_storage"}[(i/18)%2]
		sc := scenarios[(i/36)%len(scenarios)]
		c := results.Cell{
			ID:     fmt.Sprintf("%s.fresh.%s.producer=%s-%s.worker=%s-%s.n%d", eng, sc, kind, p, kind, w, i),
			Engine: eng, SchemaPath: "fresh", Scenario: sc,
			Roles:    map[string]results.Role{"producer": {Artifact: kind + "-" + p, Kind: kind, Version: p}, "worker": {Artifact: kind + "-" + w, Kind: kind, Version: w}},
			Expected: "pass", Actual: "pass", OK: true, DurationMS: 1200, Detail: "3 jobs enqueued, each completed once",
			Findings: []string{"engine unchanged: state=canonical current=canonical"}, Logs: "cells/x", Repro: "awacompat run matrix.yaml --only id=x", Attempts: 1,
		}
		if i%17 == 0 {
			c.Actual, c.OK, c.Detail, c.StderrTail = "fail", false, "jobs ended in states 1=available", "--- worker\nTraceback ..."
		}
		r.Cells = append(r.Cells, c)
	}
	r.Summarize()
	return r
}

// BenchmarkWriteFiles times the report step a run ends with (junit.xml, summary.md,
// report.html). Run: go test ./internal/report -bench WriteFiles -benchmem
func BenchmarkWriteFiles(b *testing.B) {
	for _, n := range []int{524, 5000} {
		r := syntheticResults(n)
		b.Run(fmt.Sprintf("cells=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			for b.Loop() {
				if err := WriteFiles(dir, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
