// Package migrate brings a database to the newest schema with the target release's awa CLI and
// puts it under a storage engine with awa's official commands, then verifies both by reading
// the database.
//
// Engines (awa.md §3.7):
//   - canonical: what `awa migrate` leaves on a fresh database. Nothing to do but verify.
//   - queue_storage: awa.storage_auto_finalize_if_fresh('awa'), the function awa documents for
//     external tooling right after a fresh migrate (docs/queue-storage-substrate.md, "Fresh
//     install"); it is what the first default worker would do, without needing one.
//
// Every awa command runs with DATABASE_URL in its environment, never on its command line, so a
// password never shows in a process list or a log.
package migrate

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/internal/redact"
	"github.com/jackc/pgx/v5"
)

// CLI runs one awa binary.
type CLI struct {
	// Bin is the awa executable.
	Bin string
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
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("%s: %v\n%s", e.Cmd, e.Err, e.Output)
}

// Run runs `awa ARGS...` against url and returns its stdout. Output (stdout and stderr) is also
// appended to LogPath.
func (c CLI) Run(ctx context.Context, url string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.Bin, args...)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+url, "NO_COLOR=1", "RUST_LOG=warn")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr strings.Builder
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	shown := "awa " + strings.Join(args, " ") + "  (awa " + c.Version + ", DATABASE_URL=" + redact.URL(url) + ")"
	if c.LogPath != "" {
		if f, ferr := os.OpenFile(c.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); ferr == nil {
			fmt.Fprintf(f, "$ %s\n%s%s", shown, redact.Text(stdout.String()), redact.Text(stderr.String()))
			if err != nil {
				fmt.Fprintf(f, "(exit: %v)\n", err)
			}
			f.Close()
		}
	}
	if err != nil {
		return stdout.String(), &CommandError{Cmd: shown, Err: err, Output: tail(redact.Text(stderr.String()+stdout.String()), 15)}
	}
	return stdout.String(), nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Migrate runs `awa migrate`.
func (c CLI) Migrate(ctx context.Context, url string) error {
	_, err := c.Run(ctx, url, "migrate")
	if err != nil {
		return fmt.Errorf("migrate with awa %s: %w", c.Version, err)
	}
	return nil
}

// Status runs `awa storage status` and decodes its JSON.
func (c CLI) Status(ctx context.Context, url string) (map[string]any, error) {
	out, err := c.Run(ctx, url, "storage", "status")
	if err != nil {
		return nil, fmt.Errorf("storage status with awa %s: %w", c.Version, err)
	}
	var st map[string]any
	start := strings.Index(out, "{")
	if start < 0 {
		return nil, fmt.Errorf("storage status with awa %s: no JSON in output %q", c.Version, tail(out, 5))
	}
	if err := json.Unmarshal([]byte(out[start:]), &st); err != nil {
		return nil, fmt.Errorf("storage status with awa %s: %w", c.Version, err)
	}
	return st, nil
}

// Result is what a template database ended up as.
type Result struct {
	SchemaVersion int           `json:"schema_version"`
	Engine        oracle.Engine `json:"engine"`
}

// SetEngine puts a freshly migrated database under engine and verifies it.
func SetEngine(ctx context.Context, c CLI, url, engine string) (Result, error) {
	switch engine {
	case "canonical":
		// awa migrate leaves a fresh database canonical; nothing to change.
	case "queue_storage":
		if err := autoFinalize(ctx, url); err != nil {
			return Result{}, err
		}
	default:
		return Result{}, fmt.Errorf("set engine: unknown engine %q", engine)
	}
	return Verify(ctx, c, url, engine)
}

// autoFinalize calls awa.storage_auto_finalize_if_fresh('awa'), awa's own function for a fresh
// install, and insists it returned true.
func autoFinalize(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("set engine queue_storage: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT awa.storage_auto_finalize_if_fresh('awa')`).Scan(&ok); err != nil {
		return fmt.Errorf("set engine queue_storage: awa.storage_auto_finalize_if_fresh: %w", err)
	}
	if !ok {
		return fmt.Errorf("set engine queue_storage: awa.storage_auto_finalize_if_fresh('awa') returned false: the database is not a fresh canonical install")
	}
	return nil
}

// Verify checks, with `awa storage status` and by reading the database, that url is under
// engine, and returns the schema version.
func Verify(ctx context.Context, c CLI, url, engine string) (Result, error) {
	o, err := oracle.Open(ctx, url)
	if err != nil {
		return Result{}, err
	}
	defer o.Close(context.WithoutCancel(ctx))
	var r Result
	if r.SchemaVersion, err = o.SchemaVersion(ctx); err != nil {
		return r, err
	}
	if r.Engine, err = o.Engine(ctx); err != nil {
		return r, err
	}
	want := map[string]string{"canonical": "canonical", "queue_storage": "active"}[engine]
	if r.Engine.State != want || r.Engine.Active() != engine {
		return r, fmt.Errorf("verify engine %s: database is %s", engine, r.Engine)
	}
	st, err := c.Status(ctx, url)
	if err != nil {
		return r, err
	}
	if st["state"] != want {
		return r, fmt.Errorf("verify engine %s: awa storage status says state=%v", engine, st["state"])
	}
	return r, nil
}
