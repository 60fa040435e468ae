package pinned

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
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
	wheel := downloadWheel(t)
	nopip := filepath.Join(t.TempDir(), "nopip")
	if out, err := exec.Command("python3", "-m", "venv", "--without-pip", nopip).CombinedOutput(); err != nil {
		t.Fatalf("venv: %v\n%s", err, out)
	}
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
		in, err := c.Install(ctx, Spec{Kind: Python, Version: version.MustParse("0.6.9"), Source: wheel})
		if err != nil {
			t.Fatalf("interpreter %q: %v", c.pythonExe(), err)
		}
		_, err = os.Stat(filepath.Join(in.Dir, "bin", "pip"))
		if hasPip := err == nil; hasPip == tc.outer {
			t.Errorf("interpreter %q: the virtualenv has a pip of its own: %v", c.pythonExe(), hasPip)
		}
		probeReports(t, in, "0.6.9")
	}
}
