package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/awacompat/awacompat/internal/poll"
)

// An interrupted benchmark asks its run to stop as a Ctrl-C would (awacompat then drops its
// databases and stops its server), and never reads an earlier benchmark's record as the run's.
// The stand-in for awacompat is a script: what is tested is the benchmark's handling of it.
func TestInterruptStopsTheRunGracefully(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "got-sigint")
	script := filepath.Join(dir, "awacompat")
	os.WriteFile(script, []byte("#!/bin/sh\ntrap 'touch "+marker+"; exit 130' INT\necho started >&2\nwhile :; do sleep 0.05; done\n"), 0o755)
	stale := filepath.Join(dir, "runs", "run-1", "results.json")
	os.MkdirAll(filepath.Dir(stale), 0o755)
	os.WriteFile(stale, []byte(`{"cells":[{"id":"x","actual":"pass","ok":true}]}`), 0o644)

	ctx, cancel := context.WithCancel(context.Background())
	log := &syncWriter{}
	go func() {
		_ = poll.Until(ctx, time.Minute, 10*time.Millisecond, nil, func() (bool, error) { return log.has("started"), nil })
		cancel()
	}()
	rep, err := Measure(ctx, Config{Awacompat: script, Matrix: "m.yaml", Runs: 2, Dir: filepath.Join(dir, "runs"), Log: log})
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("err %v, want the run reported as interrupted", err)
	}
	if _, serr := os.Stat(marker); serr != nil {
		t.Error("the run was not sent an interrupt (killed instead: it could not clean up)")
	}
	if len(rep.Runs) != 0 || rep.IdenticalVerdicts {
		t.Errorf("%d runs measured, identical verdicts %v; want none and false", len(rep.Runs), rep.IdenticalVerdicts)
	}
	if _, serr := os.Stat(stale); !os.IsNotExist(serr) {
		t.Error("the earlier benchmark's results.json was left where the interrupted run's would be")
	}
}

type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) has(s string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Contains(w.b.String(), s)
}

// A run's CPU splits into the server's, from its record (results.json's server_cpu_ms), and the
// client's, the rest of what the run and its children used.
func TestServerAndClientCPU(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "awacompat")
	// The stand-in burns some CPU of its own, then writes a record of two cells whose server
	// used 300 ms.
	os.WriteFile(script, []byte(`#!/bin/sh
out=$4
i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done
mkdir -p "$out"
printf '{"schema":1,"server_cpu_ms":300,"cells":[{"id":"a","actual":"pass","ok":true},{"id":"b","actual":"pass","ok":true}]}' > "$out/results.json"
`), 0o755)
	rep, err := Measure(t.Context(), Config{Awacompat: script, Matrix: "m.yaml", Dir: filepath.Join(dir, "runs")})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Runs[0]
	if r.ServerCPUMS != 300 || r.ServerCPUPerCellS != 0.15 {
		t.Errorf("server %d ms, %.3f s a cell; want 300 and 0.150", r.ServerCPUMS, r.ServerCPUPerCellS)
	}
	if r.CPUMS <= 0 {
		t.Fatalf("the run's CPU was not measured (%d ms)", r.CPUMS)
	}
	if want := float64(r.CPUMS-300) / 1000 / 2; r.ClientCPUPerCellS != want {
		t.Errorf("client %.3f s a cell; want the run's %d ms less the server's, a cell: %.3f", r.ClientCPUPerCellS, r.CPUMS, want)
	}
}
