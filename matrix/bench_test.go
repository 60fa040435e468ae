package matrix

import "testing"

// BenchmarkPlanShipped times loading and planning the shipped matrix (524 cells); planning is
// pure, so this is the whole cost of `awacompat plan`. Run: go test ./matrix -bench Plan -benchmem
func BenchmarkPlanShipped(b *testing.B) {
	for b.Loop() {
		m, err := Load("../matrix.yaml")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := NewPlan(m, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
