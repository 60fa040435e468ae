// Command awacompat-bench times whole awacompat runs of a matrix and writes where the time and
// the CPU went as JSON (see internal/bench). `make bench` runs it on the shipped matrix.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/awacompat/awacompat/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs := flag.NewFlagSet("awacompat-bench", flag.ExitOnError)
	bin := fs.String("awacompat", "./awacompat", "the awacompat `binary` to time")
	runs := fs.Int("runs", 1, "how many `N` runs (verdicts must be identical across them)")
	dir := fs.String("dir", "bench-out", "results folders of the runs go under `DIR`")
	out := fs.String("out", "bench.json", "write the report to `FILE` (- for stdout)")
	args := fs.String("args", "", "extra `FLAGS` for awacompat run, e.g. \"--parallel 6\"")
	fs.Parse(os.Args[1:])
	if fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: awacompat-bench [flags] MATRIX")
		os.Exit(2)
	}
	rep, err := bench.Measure(ctx, bench.Config{Awacompat: *bin, Matrix: fs.Arg(0), Args: strings.Fields(*args), Runs: *runs, Dir: *dir, Log: os.Stderr})
	if rep != nil {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if *out == "-" {
			os.Stdout.Write(append(b, '\n'))
		} else if werr := os.WriteFile(*out, append(b, '\n'), 0o644); werr != nil {
			fmt.Fprintln(os.Stderr, werr)
			os.Exit(3)
		}
		for i, r := range rep.Runs {
			fmt.Fprintf(os.Stderr, "run %d: %d cells (%d as expected) in %.1fs, %.1f cells/min, %.2f CPU-s/cell (server %.2f, client %.2f), %d inert (evidence at most %.2fs), exit %d\n",
				i+1, r.Cells, r.OK, float64(r.WallMS)/1000, r.CellsPerMin, r.CPUPerCellS, r.ServerCPUPerCellS, r.ClientCPUPerCellS,
				r.Inert.Cells, float64(r.Inert.MaxEvidenceMS)/1000, r.ExitCode)
		}
		fmt.Fprintf(os.Stderr, "identical verdicts across runs: %v\n", rep.IdenticalVerdicts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "awacompat-bench:", err)
		os.Exit(3)
	}
}
