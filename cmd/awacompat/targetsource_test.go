package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A matrix names the candidate's checkout once (source: target); --target-source or
// AWACOMPAT_TARGET_SOURCE supplies it, so one file serves every machine. The checkout here
// is a stand-in directory: planning does not build anything.
func TestTargetSource(t *testing.T) {
	checkout := t.TempDir()
	m := filepath.Join(t.TempDir(), "m.yaml")
	os.WriteFile(m, []byte(`version: 1
target: {awa: "0.7.0-alpha.1"}
artifacts:
  py-next: {kind: python, version: "0.7.0a1", source: target}
  rs-next: {kind: rust, version: "0.7.0-alpha.1", source: target}
scenarios: [lifecycle]
cross: {producer: [py-next], worker: [rs-next]}
`), 0o644)

	code, _, stderr := runCLI(t, "plan", m)
	if code != exitUsage || !strings.Contains(stderr, "artifact py-next is built from the target's checkout (source: target), but the target has no source: give --target-source PATH") {
		t.Fatalf("without a source: exit %d\n%s", code, stderr)
	}

	code, stdout, stderr := runCLI(t, "plan", m, "--target-source", checkout)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"target: awa 0.7.0-alpha.1 from " + checkout, "py-next: python 0.7.0-alpha.1 from " + checkout, "rs-next: rust 0.7.0-alpha.1 from " + checkout} {
		if !strings.Contains(stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, stdout)
		}
	}

	t.Setenv(targetSourceEnv, checkout)
	code, stdout, stderr = runCLI(t, "plan", m, "--format", "json")
	if code != exitOK {
		t.Fatalf("with %s: exit %d\n%s", targetSourceEnv, code, stderr)
	}
	var p struct {
		Target    struct{ Source string }
		Artifacts []struct{ Name, Version, Source string }
	}
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatal(err)
	}
	if p.Target.Source != checkout || len(p.Artifacts) != 2 || p.Artifacts[0].Source != checkout || p.Artifacts[0].Version != "0.7.0-alpha.1" {
		t.Errorf("the environment's checkout did not reach the plan: %+v", p)
	}

	// The flag wins over the environment.
	other := t.TempDir()
	_, stdout, _ = runCLI(t, "plan", m, "--target-source", other)
	if !strings.Contains(stdout, "from "+other) || strings.Contains(stdout, "from "+checkout) {
		t.Errorf("--target-source did not override %s:\n%s", targetSourceEnv, stdout)
	}
}
