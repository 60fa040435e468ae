package pinned

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/awacompat/awacompat/internal/version"
)

func TestRustFeature(t *testing.T) {
	for ver, want := range map[string]string{
		"0.5.7": "awa05", "0.5.0": "awa05", "0.4.1": "awa05",
		"0.6.0": "awa06", "0.6.0-rc.3": "awa06", "0.6.9": "awa06", "0.7.0-alpha.1": "awa06", "1.0.0": "awa06",
	} {
		if got := rustFeature(version.MustParse(ver)); got != want {
			t.Errorf("rustFeature(%q) = %q; want %q", ver, got, want)
		}
	}
}

// TestInstallRustProbe builds the probe against awa 0.6.9 into a cache of its own (the cargo
// target directory is shared between test runs, so only a machine's first run is slow), checks
// that a second Install is a cache hit that runs no cargo, and that the binary speaks the
// protocol without touching the database.
func TestInstallRustProbe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the Rust probe with cargo")
	}
	if _, err := exec.LookPath("cargo"); err != nil {
		t.Skip("cargo not on PATH")
	}
	rustc, err := exec.LookPath("rustc")
	if err != nil {
		t.Skip("rustc not on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	s := Spec{Kind: Rust, Version: version.MustParse("0.6.9")}

	c := testCache(t)
	first, err := c.Install(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first install: reused=%v origin=%s bin=%s sha256=%s", first.Reused, first.Origin, first.Probe[0], first.Checksum)
	if first.Reused || first.Origin != "crates.io:awa=0.6.9" || len(first.Probe) != 1 || first.Checksum == "" {
		t.Fatalf("unexpected install into an empty cache: %+v", first)
	}
	// What runs lives in the test's cache, not in the shared build output.
	if !strings.HasPrefix(first.Probe[0], c.Root+string(filepath.Separator)) || strings.HasPrefix(first.Probe[0], c.CargoTargetDir) {
		t.Errorf("probe binary %s is not in the cache root %s", first.Probe[0], c.Root)
	}
	buildLog := first.Dir + ".log"
	logBefore, err := os.ReadFile(buildLog)
	if err != nil || !bytes.Contains(logBefore, []byte("$ cargo build")) {
		t.Fatalf("the first install left no cargo build log at %s: %v", buildLog, err)
	}

	// Second install through a fresh Cache (no in-process memo) on the same root, with a PATH
	// holding only rustc and a cargo that records that it ran and fails: a cache hit must not
	// run cargo, nor touch the build log.
	shim := t.TempDir()
	marker := filepath.Join(shim, "cargo-was-run")
	if err := os.Symlink(rustc, filepath.Join(shim, "rustc")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shim, "cargo"), []byte("#!/bin/sh\necho \"$@\" >> '"+marker+"'\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", shim)
	second, err := (&Cache{Root: c.Root, ProbesDir: c.ProbesDir, CargoTargetDir: c.CargoTargetDir}).Install(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second install: reused=%v", second.Reused)
	if !second.Reused {
		t.Error("second install was not a cache hit")
	}
	if ran, err := os.ReadFile(marker); err == nil {
		t.Errorf("the cache hit ran cargo: %s", ran)
	}
	if logAfter, err := os.ReadFile(buildLog); err != nil || !bytes.Equal(logAfter, logBefore) {
		t.Errorf("the cache hit changed the build log %s (%v)", buildLog, err)
	}
	if second.Probe[0] != first.Probe[0] || second.Checksum != first.Checksum {
		t.Errorf("cache hit returned another artifact: %+v vs %+v", second, first)
	}

	// A spec with no database step: the probe must not connect (nothing listens on port 1).
	spec := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(spec, []byte(`{"protocol":1,"database_url":"postgres://nobody@127.0.0.1:1/none",`+
		`"kind":"awacompat_probe","steps":[{"op":"sleep","ms":1}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, second.Probe[0], spec)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("probe: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	var events []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("stdout line is not a JSON event: %q", sc.Text())
		}
		events = append(events, ev)
	}
	if len(events) != 2 {
		t.Fatalf("want start and done, got %v", events)
	}
	if ev := events[0]; ev["event"] != "start" || ev["probe"] != "rust" || ev["awa_version"] != "0.6.9" || ev["pid"] == nil {
		t.Errorf("bad start event: %v", ev)
	}
	if ev := events[1]; ev["event"] != "done" {
		t.Errorf("bad last event: %v", ev)
	}
}
