// Package bench measures whole awacompat runs: it runs `awacompat run` as a child process a
// few times, and from each run's own record (results.json) and the child's resource usage
// (which includes every probe, awa command and the embedded PostgreSQL it waited for) reports
// where the time went, how much CPU a cell costs, and whether every run gave the same
// verdicts. The report is JSON, so two benchmarks (before and after a change) can be compared.
package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/awacompat/awacompat/internal/results"
	"github.com/awacompat/awacompat/matrix"
)

// Config is one benchmark.
type Config struct {
	// Awacompat is the binary to run; Matrix the matrix file; Args extra `run` flags
	// (--parallel N, --only ...).
	Awacompat, Matrix string
	Args              []string
	// Runs is how many times to run it (default 1).
	Runs int
	// Dir receives each run's results folder.
	Dir string
	// Log receives the runs' stderr (progress); nil discards it.
	Log io.Writer
}

// Report is the benchmark's result.
type Report struct {
	Matrix string   `json:"matrix"`
	Args   []string `json:"args,omitempty"`
	Runs   []Run    `json:"runs"`
	// IdenticalVerdicts is true when every run gave every cell the same verdict (the runs that
	// completed, when the benchmark stopped early; false when none did).
	IdenticalVerdicts bool `json:"identical_verdicts"`
	// VerdictChanges lists the cells whose verdict differed between runs.
	VerdictChanges []string `json:"verdict_changes,omitempty"`
}

// Run is one measured run.
type Run struct {
	ExitCode int   `json:"exit_code"`
	WallMS   int64 `json:"wall_ms"`
	// CPUMS is user + system time of awacompat and everything it waited for. ServerCPUMS is
	// the embedded PostgreSQL's part of it (results.json's server_cpu_ms; 0 for a server the
	// run did not start), the rest is the client's: awacompat, the probes, awa's commands.
	CPUMS       int64   `json:"cpu_ms"`
	ServerCPUMS int64   `json:"server_cpu_ms"`
	Cells       int     `json:"cells"`
	OK          int     `json:"ok"`
	CellsPerMin float64 `json:"cells_per_minute"`
	CPUPerCellS float64 `json:"cpu_seconds_per_cell"`
	// ServerCPUPerCellS and ClientCPUPerCellS split CPUPerCellS (server: 0 when not known).
	ServerCPUPerCellS float64        `json:"server_cpu_seconds_per_cell"`
	ClientCPUPerCellS float64        `json:"client_cpu_seconds_per_cell"`
	Phases            results.Phases `json:"phases"`
	// CellMS sums the cells' durations (cell-seconds, more than the wall with parallel
	// cells); WaitMS the part of it spent waiting for awa.
	CellMS     int64                `json:"cell_ms"`
	WaitMS     int64                `json:"wait_ms"`
	ByScenario map[string]Breakdown `json:"by_scenario"`
	ByVerdict  map[string]Breakdown `json:"by_verdict"`
	// Inert counts the inert verdicts and the longest evidence one rested on (a cell's
	// inert_evidence_ms: the idle worker's health reports from when the jobs were due).
	Inert InertEvidence `json:"inert"`
	// Slowest are the ten longest cells.
	Slowest []string `json:"slowest"`
	// Verdicts digests every cell's verdict (equal digests: identical verdicts).
	Verdicts string `json:"verdicts_sha256"`
	verdicts map[string]string
}

// InertEvidence sums up a run's inert verdicts.
type InertEvidence struct {
	Cells         int   `json:"cells"`
	MaxEvidenceMS int64 `json:"max_evidence_ms"`
}

// Breakdown sums cells of one scenario or one verdict.
type Breakdown struct {
	Cells  int   `json:"cells"`
	MS     int64 `json:"ms"`
	WaitMS int64 `json:"wait_ms"`
	MaxMS  int64 `json:"max_ms"`
}

// Measure runs the benchmark.
func Measure(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Runs <= 0 {
		cfg.Runs = 1
	}
	rep := &Report{Matrix: cfg.Matrix, Args: cfg.Args, IdenticalVerdicts: true}
	var err error
	for i := 1; i <= cfg.Runs; i++ {
		run, rerr := measureOne(ctx, cfg, filepath.Join(cfg.Dir, "run-"+strconv.Itoa(i)))
		if rerr != nil {
			err = fmt.Errorf("run %d: %w", i, rerr)
			break
		}
		rep.Runs = append(rep.Runs, run)
	}
	if len(rep.Runs) == 0 {
		rep.IdenticalVerdicts = false
		return rep, err
	}
	first := rep.Runs[0].verdicts
	changed := map[string]bool{}
	for _, r := range rep.Runs[1:] {
		for id, v := range r.verdicts {
			if first[id] != v {
				changed[id] = true
			}
		}
		if len(r.verdicts) != len(first) {
			rep.IdenticalVerdicts = false
		}
	}
	for id := range changed {
		rep.VerdictChanges = append(rep.VerdictChanges, id)
	}
	sort.Strings(rep.VerdictChanges)
	rep.IdenticalVerdicts = rep.IdenticalVerdicts && len(changed) == 0
	return rep, err
}

// stopGrace is how long an interrupted run gets to stop its cells, drop its databases and stop
// its server before it is killed.
const stopGrace = 2 * time.Minute

func measureOne(ctx context.Context, cfg Config, out string) (Run, error) {
	// A run that ends early must not leave the record of an earlier benchmark to be read as its own.
	if err := os.RemoveAll(out); err != nil {
		return Run{}, err
	}
	args := append([]string{"run", cfg.Matrix, "--out", out}, cfg.Args...)
	cmd := exec.CommandContext(ctx, cfg.Awacompat, args...)
	// Interrupted, the run is asked to stop as at a Ctrl-C (it cleans up after itself), not killed.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = stopGrace
	if cfg.Log != nil {
		cmd.Stderr = cfg.Log
	}
	start := time.Now()
	err := cmd.Run()
	run := Run{WallMS: time.Since(start).Milliseconds()}
	if ctx.Err() != nil {
		return run, fmt.Errorf("interrupted: %w", ctx.Err())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		run.ExitCode = ee.ExitCode()
	default:
		return run, fmt.Errorf("%s %s: %w", cfg.Awacompat, strings.Join(args, " "), err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		run.CPUMS = tvMS(ru.Utime) + tvMS(ru.Stime)
	}
	res, err := results.Read(out)
	if err != nil {
		return run, err
	}
	run.Phases, run.ServerCPUMS = res.Phases, res.ServerCPUMS
	run.ByScenario, run.ByVerdict = map[string]Breakdown{}, map[string]Breakdown{}
	run.verdicts = map[string]string{}
	h := sha256.New()
	type dur struct {
		id string
		ms int64
	}
	var durs []dur
	for _, c := range res.Cells {
		run.Cells++
		if c.OK {
			run.OK++
		}
		run.CellMS += c.DurationMS
		run.WaitMS += c.WaitMS
		add(run.ByScenario, c.Scenario, c)
		add(run.ByVerdict, c.Actual, c)
		if c.Actual == string(matrix.Inert) {
			run.Inert.Cells++
			run.Inert.MaxEvidenceMS = max(run.Inert.MaxEvidenceMS, c.InertEvidenceMS)
		}
		run.verdicts[c.ID] = c.Actual
		fmt.Fprintf(h, "%s=%s\n", c.ID, c.Actual)
		durs = append(durs, dur{c.ID, c.DurationMS})
	}
	sort.Slice(durs, func(i, j int) bool { return durs[i].ms > durs[j].ms })
	for _, d := range durs[:min(10, len(durs))] {
		run.Slowest = append(run.Slowest, fmt.Sprintf("%s %.1fs", d.id, float64(d.ms)/1000))
	}
	run.Verdicts = hex.EncodeToString(h.Sum(nil))
	if run.Cells > 0 {
		run.CellsPerMin = float64(run.Cells) / (float64(run.WallMS) / 60000)
		run.CPUPerCellS = float64(run.CPUMS) / 1000 / float64(run.Cells)
		run.ServerCPUPerCellS = float64(run.ServerCPUMS) / 1000 / float64(run.Cells)
		run.ClientCPUPerCellS = float64(run.CPUMS-run.ServerCPUMS) / 1000 / float64(run.Cells)
	}
	return run, nil
}

func add(m map[string]Breakdown, key string, c results.Cell) {
	b := m[key]
	b.Cells++
	b.MS += c.DurationMS
	b.WaitMS += c.WaitMS
	b.MaxMS = max(b.MaxMS, c.DurationMS)
	m[key] = b
}

func tvMS(tv syscall.Timeval) int64 { return tv.Sec*1000 + int64(tv.Usec)/1000 }
