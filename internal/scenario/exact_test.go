package scenario

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/probes"
)

// Every args comparison is exact: a row whose args lost 2^53+1 to a float64 round trip (it
// reads back as 2^53) is a finding in lifecycle, as it is in fidelity.
func TestLifecycleCatchesFloat64Corruption(t *testing.T) {
	sent := lifecycleArgs("cell", 1)
	corrupted := map[string]any{}
	for k, v := range sent {
		corrupted[k] = v
	}
	corrupted["big"] = int64(1) << 53
	row := oracle.Job{ID: 7, Kind: probes.JobKind, State: "completed", Attempt: 1, Location: "canonical", Args: mustJSON(corrupted)}
	// A float64 decode cannot tell the two apart: the check must not go through one.
	var a, b any
	json.Unmarshal(row.Args, &a)
	json.Unmarshal(mustJSON(sent), &b)
	if a.(map[string]any)["big"] != b.(map[string]any)["big"] {
		t.Fatal("premise: 2^53 and 2^53+1 should be equal as float64")
	}

	var out Outcome
	judgeJobs(&out, []oracle.Job{row}, []int64{7}, map[string]map[string]any{"j1": sent}, map[string]int64{"j1": 7}, "canonical")
	if len(out.Findings) != 1 || !strings.Contains(out.Findings[0], "$.big: 9007199254740992 vs 9007199254740993") {
		t.Fatalf("findings %q, want one naming $.big", out.Findings)
	}
	out = Outcome{}
	row.Args = mustJSON(sent)
	judgeJobs(&out, []oracle.Job{row}, []int64{7}, map[string]map[string]any{"j1": sent}, map[string]int64{"j1": 7}, "canonical")
	if len(out.Findings) != 0 {
		t.Fatalf("intact args: %q", out.Findings)
	}
}
