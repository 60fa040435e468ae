package scenario

// The awa CLI as an admin or migrator: scenarios run the pinned `awa` binary of a cli artifact
// and parse what it prints. DATABASE_URL travels in the environment, never on the command
// line. Output formats (checked against awa-cli 0.5.7 and 0.6.9, which print the same):
//
//	awa job list [--queue Q] [--state S]   fixed-width table ID KIND QUEUE STATE ATT MAX, then
//	                                       "N jobs listed."; "No jobs found." when empty
//	awa job dump ID                        pretty JSON {"job": {...JobRow}, "summary", "timeline"}
//	awa job cancel ID                      "Cancelled job ID"
//	awa queue stats                        table QUEUE AVAIL RUNNING FAILED COMPLETED/1H LAG(s)
//	                                       PAUSED; "No queues found." when empty
//	awa storage status                     JSON (state, current_engine, prepared_engine, ...)
//	awa migrate                            "Migrations applied successfully." or similar
//
// Errors go to stderr as "Error: <Debug or Display form>" with exit status 1.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/internal/proc"
	"github.com/awacompat/awacompat/internal/redact"
	"github.com/awacompat/awacompat/internal/results"
	"github.com/awacompat/awacompat/migrate"
	"github.com/awacompat/awacompat/probes"
)

// opStorageStatus is the CLI admin's read of `awa storage status`; no probe has it.
const opStorageStatus probes.Op = "storage_status"

// cliTimeout bounds one awa command.
const cliTimeout = 90 * time.Second

// cliResult is one awa command's outcome.
type cliResult struct {
	Stdout string
	Stderr string
	// Err is non-nil when the command could not run or exited non-zero.
	Err error
	// Code is the exit status; -1 when the command did not exit on its own (not started,
	// killed, timed out).
	Code int
	// AwaError is the error line awa itself printed on exit 1 (migrate.CommandError.AwaError):
	// only that is awa answering with an error.
	AwaError string
}

// runCLI runs `awa ARGS...` of role's cli artifact against the cell's database. Its output is
// kept in the cell folder as NAME.stdout.log / NAME.stderr.log, the command in NAME.cmd.
func runCLI(ctx context.Context, env Env, role, name string, args ...string) cliResult {
	p := env.Probes[role]
	if p.AwaBin == "" {
		return cliResult{Err: fmt.Errorf("role %s (%s %s) has no awa binary", role, p.Kind, p.Version), Code: -1}
	}
	ctx, cancel := context.WithTimeout(ctx, cliTimeout)
	defer cancel()
	stdout, stderr, err := migrate.CLI{Bin: p.AwaBin, Prefix: p.AwaPrefix, Version: p.Version}.RunKept(ctx, clientURL(env.URL, name), env.Dir, name, args...)
	res := cliResult{Stdout: stdout, Stderr: stderr}
	var ce *migrate.CommandError
	switch {
	case err == nil:
	case errors.As(err, &ce):
		res.Err, res.Code, res.AwaError = ce.Err, ce.ExitCode, ce.AwaError
	default:
		res.Err, res.Code = err, -1
	}
	if res.Code >= 0 {
		traceOf(ctx).ranRole(role)
	}
	return res
}

// notFromAwa is true when the command failed without awa answering: it did not run, was
// killed, crashed, or exited with something other than awa's own error line (a crash's exit
// status, garbage on its output). That is an error of the cell, never a refusal by awa.
func (r cliResult) notFromAwa() bool { return r.Err != nil && r.AwaError == "" }

// broken describes a command that failed without awa answering: the command, how it ended,
// and the tail of what it printed, made printable.
func (r cliResult) broken(args ...string) error {
	return fmt.Errorf("awa %s failed without an awa error (%v); output: %s", strings.Join(args, " "), r.Err,
		redact.Printable(proc.Tail(ansiRE.ReplaceAllString(strings.TrimSpace(r.Stderr+"\n"+r.Stdout), ""), 5)))
}

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// cliError is the error awa answered with: class "CLI", message awa's own error line with its
// "Error: " prefix (the 0.5/0.6 Debug form keeps its variant name, e.g. "Error: JobNotFound {
// id: 9 }").
func cliError(op probes.Op, r cliResult) *results.ErrorInfo {
	return &results.ErrorInfo{Op: string(op), Class: "CLI", Message: redact.Printable("Error: " + r.AwaError)}
}

// parseCLIJobList parses `awa job list` output.
func parseCLIJobList(out string) ([]readJob, error) {
	var jobs []readJob
	header := false
	for _, raw := range strings.Split(ansiRE.ReplaceAllString(out, ""), "\n") {
		line := strings.TrimSpace(raw)
		switch {
		case line == "":
			continue
		case line == "No jobs found.":
			return nil, nil
		case !header:
			f := strings.Fields(line)
			if len(f) >= 6 && f[0] == "ID" && f[1] == "KIND" && f[2] == "QUEUE" && f[3] == "STATE" {
				header = true
			}
			continue
		case strings.HasSuffix(line, "jobs listed.") || strings.HasSuffix(line, "job listed."):
			return jobs, nil
		}
		f := strings.Fields(line)
		if len(f) != 6 {
			return nil, fmt.Errorf("job list: cannot parse row %q", line)
		}
		id, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("job list: bad id in row %q", line)
		}
		att, err1 := strconv.Atoi(f[4])
		maxAtt, err2 := strconv.Atoi(f[5])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("job list: bad attempt columns in row %q", line)
		}
		jobs = append(jobs, readJob{ID: id, Kind: f[1], Queue: f[2], State: oracle.JobState(f[3]), Attempt: &att, MaxAttempts: &maxAtt})
	}
	if !header {
		return nil, fmt.Errorf("job list: no table header in %q", clip(out, 200))
	}
	return nil, fmt.Errorf("job list: no %q trailer in %q", "N jobs listed.", clip(out, 200))
}

// parseCLIJobDump parses `awa job dump ID` output.
func parseCLIJobDump(out string) (readJob, error) {
	start := strings.Index(out, "{")
	if start < 0 {
		return readJob{}, fmt.Errorf("job dump: no JSON in %q", clip(out, 200))
	}
	var d struct {
		Job json.RawMessage `json:"job"`
	}
	if err := json.Unmarshal([]byte(out[start:]), &d); err != nil {
		return readJob{}, fmt.Errorf("job dump: %w", err)
	}
	if len(d.Job) == 0 || string(d.Job) == "null" {
		return readJob{}, fmt.Errorf("job dump: no \"job\" object in %q", clip(out, 200))
	}
	return parseReadJob(d.Job)
}

// parseCLIQueueStats parses `awa queue stats` output.
func parseCLIQueueStats(out string) ([]readStat, error) {
	var stats []readStat
	header := false
	for _, raw := range strings.Split(ansiRE.ReplaceAllString(out, ""), "\n") {
		line := strings.TrimSpace(raw)
		switch {
		case line == "":
			continue
		case line == "No queues found.":
			return []readStat{}, nil
		case !header:
			f := strings.Fields(line)
			if len(f) >= 4 && f[0] == "QUEUE" && f[1] == "AVAIL" && f[2] == "RUNNING" && f[3] == "FAILED" {
				header = true
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) != 7 {
			return nil, fmt.Errorf("queue stats: cannot parse row %q", line)
		}
		var n [4]int64
		for i := range n {
			v, err := strconv.ParseInt(f[1+i], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("queue stats: bad count in row %q", line)
			}
			n[i] = v
		}
		stats = append(stats, readStat{Queue: f[0], Available: &n[0], Running: &n[1], Failed: &n[2], CompletedLastHour: &n[3]})
	}
	if !header {
		return nil, fmt.Errorf("queue stats: no table header in %q", clip(out, 200))
	}
	return stats, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
