// Package migrate builds the template databases cells clone: it carries out a template's steps
// (matrix.Template.Steps: an old release's migrate and work, the target's migrate, awa's
// staged transition to queue storage, the fresh-install auto-finalize, the ring-authority
// flip) with awa's official commands, records the state each step left, and verifies the
// engine and ring authority by reading the database.
//
// The target's migrate may be refused by awa (the ADR-037 gate on an unfinalized upgraded
// schema): that is a *RefusedError, the schema path's outcome, checked by the oracle to have
// written nothing.
//
// Every awa command runs with DATABASE_URL in its environment, never on its command line, so a
// password never shows in a process list or a log.
package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/awacompat/awacompat/internal/proc"
	"github.com/awacompat/awacompat/internal/redact"
)

// CLI runs one awa binary.
type CLI struct {
	// Bin is the awa executable.
	Bin string
	// Prefix, when set, goes between Bin and awa's arguments: Bin is then what runs awa (the
	// docker CLI running an image's awa: Prefix is "run ... IMAGE").
	Prefix []string
	// Version is its release, for messages.
	Version string
	// LogPath receives every command's output (appended).
	LogPath string
}

// CommandError is an awa command that failed: what ran, its exit status and output tail.
type CommandError struct {
	Cmd    string
	Err    error
	Output string
	// ExitCode is the command's exit status (-1 when it did not exit normally: killed,
	// timed out, not started).
	ExitCode int
	// AwaError is the error awa itself printed ("Error: ..." in 0.5/0.6, "error: ..." in
	// 0.7) on a normal exit 1, without that prefix; "" when the command failed any other way
	// (a crash, a signal, output that is not awa's). Only such an error is awa refusing.
	AwaError string
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("%s: %v\n%s", e.Cmd, e.Err, e.Output)
}

// awaErrorLine finds the error line awa prints before exiting 1.
func awaErrorLine(stderr string) string {
	for _, line := range strings.Split(stderr, "\n") {
		for _, prefix := range []string{"Error: ", "error: "} {
			if msg, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok && msg != "" {
				return msg
			}
		}
	}
	return ""
}

// Run runs `awa ARGS...` against url and returns its stdout. Output (stdout and stderr) is also
// appended to LogPath.
func (c CLI) Run(ctx context.Context, url string, args ...string) (string, error) {
	stdout, stderr, err := c.exec(ctx, url, args)
	if c.LogPath != "" {
		if f, ferr := os.OpenFile(c.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); ferr == nil {
			fmt.Fprintf(f, "$ %s\n%s%s", c.shown(url, args), redact.Text(stdout), redact.Text(stderr))
			if err != nil {
				fmt.Fprintf(f, "(exit: %v)\n", exitErr(err))
			}
			f.Close()
		}
	}
	return stdout, err
}

// RunKept runs `awa ARGS...` against url like Run, but keeps the command in dir as NAME.cmd
// (with its exit status), NAME.stdout.log and NAME.stderr.log instead of appending to LogPath,
// and returns stdout and stderr apart.
func (c CLI) RunKept(ctx context.Context, url, dir, name string, args ...string) (stdout, stderr string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	stdout, stderr, err = c.exec(ctx, url, args)
	shown := c.shown(url, args) + "\n"
	if err != nil {
		shown += fmt.Sprintf("exit: %v\n", exitErr(err))
	}
	_ = os.WriteFile(filepath.Join(dir, name+".cmd"), []byte(shown), 0o644)
	_ = os.WriteFile(filepath.Join(dir, name+".stdout.log"), []byte(redact.Text(stdout)), 0o644)
	_ = os.WriteFile(filepath.Join(dir, name+".stderr.log"), []byte(redact.Text(stderr)), 0o644)
	return stdout, stderr, err
}

// shown is the command as logs and errors show it: without the password.
func (c CLI) shown(url string, args []string) string {
	return "awa " + strings.Join(args, " ") + "  (awa " + c.Version + ", DATABASE_URL=" + redact.URL(url) + ")"
}

// exec runs the command; a failure is a *CommandError.
func (c CLI) exec(ctx context.Context, url string, args []string) (string, string, error) {
	ctx, cancel := context.WithTimeout(ctx, cliDeadline)
	defer cancel()
	cmd := proc.Command(ctx, c.Bin, append(slices.Clone(c.Prefix), args...)...)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+url, "NO_COLOR=1", "RUST_LOG=warn")
	var stdout, stderr strings.Builder
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err == nil {
		return stdout.String(), stderr.String(), nil
	}
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		err = fmt.Errorf("killed at its deadline (%w)", err)
	case ctx.Err() != nil:
		err = fmt.Errorf("%w (%v)", err, ctx.Err())
	}
	ce := &CommandError{Cmd: c.shown(url, args), Err: err, Output: proc.Tail(redact.Text(stderr.String()+stdout.String()), 15), ExitCode: -1}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ctx.Err() == nil {
		ce.ExitCode = ee.ExitCode()
	}
	if ce.ExitCode == 1 {
		ce.AwaError = redact.Text(awaErrorLine(stderr.String()))
	}
	return stdout.String(), stderr.String(), ce
}

// exitErr is how a command ended, for a log line.
func exitErr(err error) error {
	var ce *CommandError
	if errors.As(err, &ce) {
		return ce.Err
	}
	return err
}

// cliDeadline bounds one awa command; `awa storage finalize --wait` runs under a shorter
// one of its own.
const cliDeadline = 5 * time.Minute

// StorageStatus is what `awa storage status` prints (the fields awacompat reads).
type StorageStatus struct {
	State          string `json:"state"`
	CurrentEngine  string `json:"current_engine"`
	PreparedEngine string `json:"prepared_engine"`
	// CanonicalLiveBacklog is the canonical jobs still to drain (nil: the release does not
	// report it).
	CanonicalLiveBacklog *int64 `json:"canonical_live_backlog"`
}

// ParseStorageStatus reads `awa storage status` output: JSON, possibly after log lines.
func ParseStorageStatus(out string) (StorageStatus, error) {
	var st StorageStatus
	start := strings.Index(out, "{")
	if start < 0 {
		return st, fmt.Errorf("storage status: no JSON in output %q", proc.Tail(out, 5))
	}
	if err := json.Unmarshal([]byte(out[start:]), &st); err != nil {
		return st, fmt.Errorf("storage status: %w", err)
	}
	return st, nil
}

// StorageStatus runs `awa storage status` and decodes it.
func (c CLI) StorageStatus(ctx context.Context, url string) (StorageStatus, error) {
	out, err := c.Run(ctx, url, "storage", "status")
	if err != nil {
		return StorageStatus{}, fmt.Errorf("storage status with awa %s: %w", c.Version, err)
	}
	st, err := ParseStorageStatus(out)
	if err != nil {
		return st, fmt.Errorf("awa %s: %w", c.Version, err)
	}
	return st, nil
}
