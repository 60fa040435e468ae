// Package proc runs the foreign programs awacompat depends on (pip, cargo, awa, the probes):
// each in its own process group, killed as a group when its context ends, its deadline passes
// or awacompat itself dies, and reaped promptly, so nothing outlives a run.
package proc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// waitDelay bounds how long Wait waits for a killed program's output pipes to close (a
// grandchild may hold them).
const waitDelay = 2 * time.Second

// Command is exec.CommandContext for a foreign program: its own process group, the whole group
// SIGKILLed when ctx ends, and SIGKILLed by the kernel if awacompat dies first (parent-death
// signal; Go never ends the thread that forked it, see pgserver's spawn for the one place
// that locks threads).
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return KillGroup(cmd) }
	cmd.WaitDelay = waitDelay
	return cmd
}

// KillGroup SIGKILLs cmd's process group (cmd must have been started by Command).
func KillGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		return err
	}
	return nil
}

// Output runs a short command (a version check, a git query) under its own deadline and
// returns its stdout. The error names the command, and says when the deadline was the cause.
func Output(ctx context.Context, timeout time.Duration, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := Command(ctx, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, Failed(ctx, timeout, cmd.Args, err, Tail(stderr.String(), 5))
	}
	return out, nil
}

// Failed describes a failed command: what ran, how it ended (its deadline named when that was
// the cause), and the tail of what it printed.
func Failed(ctx context.Context, timeout time.Duration, argv []string, err error, tail string) error {
	how := err.Error()
	if ctx.Err() == context.DeadlineExceeded {
		how = fmt.Sprintf("killed after its %s deadline", timeout)
	}
	msg := fmt.Sprintf("%s: %s", strings.Join(argv, " "), how)
	if tail != "" {
		msg += "\n" + tail
	}
	return fmt.Errorf("%s", msg)
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TailFile returns the last n lines of the file at path ("" when it cannot be read).
func TailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return Tail(string(b), n)
}
