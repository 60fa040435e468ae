package pinned

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/awacompat/awacompat/internal/version"
)

// An artifact's virtualenv works made either way: without a pip of its own, installed into by
// the interpreter's pip (pip --python), and, when the interpreter has no pip that can do that
// (here a virtualenv's interpreter made without pip), with its own pip as before.
func TestVirtualenvWithAndWithoutTheInterpretersPip(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads a wheel from PyPI")
	}
	dir := t.TempDir()
	if out, err := exec.Command("python3", "-m", "pip", "download", "--no-deps", "--quiet", "-d", dir, "awa-pg==0.6.9").CombinedOutput(); err != nil {
		t.Fatalf("pip download: %v\n%s", err, out)
	}
	wheels, _ := filepath.Glob(filepath.Join(dir, "awa_pg-0.6.9-*.whl"))
	if len(wheels) != 1 {
		t.Fatalf("downloaded %v", wheels)
	}
	nopip := filepath.Join(dir, "nopip")
	if out, err := exec.Command("python3", "-m", "venv", "--without-pip", nopip).CombinedOutput(); err != nil {
		t.Fatalf("venv: %v\n%s", err, out)
	}
	spec := filepath.Join(dir, "spec.json")
	os.WriteFile(spec, []byte(`{"protocol":1,"database_url":"postgres://nobody@127.0.0.1:1/none","kind":"k","steps":[]}`), 0o644)
	ctx := context.Background()
	for _, tc := range []struct {
		python string
		outer  bool
	}{
		{"", true}, // this machine's python3 has pip 22.3 or later
		{filepath.Join(nopip, "bin", "python"), false},
	} {
		c := testCache(t)
		c.Python = tc.python
		if got := c.pipInstallsInto(ctx); got != tc.outer {
			t.Fatalf("interpreter %q: pip installs into a virtualenv: %v, want %v", c.pythonExe(), got, tc.outer)
		}
		in, err := c.Install(ctx, Spec{Kind: Python, Version: version.MustParse("0.6.9"), Source: wheels[0]})
		if err != nil {
			t.Fatalf("interpreter %q: %v", c.pythonExe(), err)
		}
		_, err = os.Stat(filepath.Join(in.Dir, "bin", "pip"))
		if hasPip := err == nil; hasPip == tc.outer {
			t.Errorf("interpreter %q: the virtualenv has a pip of its own: %v", c.pythonExe(), hasPip)
		}
		out, err := exec.Command(in.Probe[0], append(in.Probe[1:], spec)...).Output()
		if err != nil || !strings.Contains(string(out), `"awa_version": "0.6.9"`) && !strings.Contains(string(out), `"awa_version":"0.6.9"`) {
			t.Fatalf("interpreter %q: the probe: %v\n%s", c.pythonExe(), err, out)
		}
	}
}
