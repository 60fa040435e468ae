// Package probes holds the probe programs (python/, rust/) and the Go side that runs them: it
// writes a probe's JSON spec, starts the process in its own process group under a deadline,
// and turns its stdout into Events. PROTOCOL.md is the contract between the two sides.
package probes

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/awacompat/awacompat/internal/proc"
	"github.com/awacompat/awacompat/internal/redact"
)

// URLEnv is the environment variable that carries the database URL to a probe; it overrides
// the spec's database_url, which on disk has its password removed.
const URLEnv = "AWACOMPAT_DATABASE_URL"

// Spec is a probe's input (PROTOCOL.md, Invocation).
type Spec struct {
	Protocol    int    `json:"protocol"`
	DatabaseURL string `json:"database_url"`
	Kind        string `json:"kind"`
	Steps       []Step `json:"steps"`
	// Exit is how the probe leaves after its last step: "" (at once: Python's os._exit, so
	// nothing at interpreter shutdown can hold it up) or ExitNormal.
	Exit string `json:"exit,omitempty"`
}

// ExitNormal asks the probe to leave the way an application does (Python: the interpreter's
// normal shutdown), so a crash at exit shows in its exit status.
const ExitNormal = "normal"

// Step is one operation. Fields not used by an op are omitted.
type Step struct {
	Op          Op             `json:"op"`
	Ref         string         `json:"ref,omitempty"`
	Queue       string         `json:"queue,omitempty"`
	Args        map[string]any `json:"args,omitempty"`
	Priority    int            `json:"priority,omitempty"`
	MaxAttempts int            `json:"max_attempts,omitempty"`
	Tags        []string       `json:"tags,omitempty"`
	Metadata    map[string]any `json:"metadata,omitempty"`
	RunAt       string         `json:"run_at,omitempty"`
	Unique      *Unique        `json:"unique,omitempty"`
	MaxWorkers  int            `json:"max_workers,omitempty"`
	Behavior    Behavior       `json:"behavior,omitempty"`
	Handled     int            `json:"handled,omitempty"`
	TimeoutMS   int64          `json:"timeout_ms,omitempty"`
	StorageRole StorageRole    `json:"storage_role,omitempty"`
	// PollMS sets the work step's poll interval; HealthMS asks for a health event that often.
	PollMS   int `json:"poll_ms,omitempty"`
	HealthMS int `json:"health_ms,omitempty"`
	// HandleMS is how long a work step's complete handler takes before it returns.
	HandleMS int `json:"handle_ms,omitempty"`
	// A work step's maintenance knobs, by the SDK's own names (PROTOCOL.md, work): how often
	// its client heartbeats running jobs, how stale a heartbeat must be for its maintenance
	// leader to rescue the job, how often the leader looks, how often a follower tries to lead.
	HeartbeatIntervalMS       int    `json:"heartbeat_interval_ms,omitempty"`
	HeartbeatStalenessMS      int    `json:"heartbeat_staleness_ms,omitempty"`
	HeartbeatRescueIntervalMS int    `json:"heartbeat_rescue_interval_ms,omitempty"`
	LeaderElectionIntervalMS  int    `json:"leader_election_interval_ms,omitempty"`
	JobID                     int64  `json:"job_id,omitempty"`
	State                     string `json:"state,omitempty"`
	Limit                     int    `json:"limit,omitempty"`
	PeriodBucket              *int64 `json:"period_bucket,omitempty"`
	MS                        int    `json:"ms,omitempty"`
}

// Unique are the unique options of an enqueue.
type Unique struct {
	ByArgs  bool `json:"by_args"`
	ByQueue bool `json:"by_queue"`
	// States is awa's unique_states bit mask (bit n = the state in awa's JobState order:
	// scheduled, available, running, completed, retryable, failed, cancelled,
	// waiting_external); 0 means the SDK default.
	States uint8 `json:"states,omitempty"`
}

// Event is one line of probe output. Raw keeps the whole object.
type Event struct {
	Event    EventName       `json:"event"`
	Ref      string          `json:"ref,omitempty"`
	Op       Op              `json:"op,omitempty"`
	JobID    *int64          `json:"job_id,omitempty"`
	State    string          `json:"state,omitempty"`
	Attempt  int             `json:"attempt,omitempty"`
	Args     json.RawMessage `json:"args,omitempty"`
	Result   HandlerResult   `json:"result,omitempty"`
	Class    string          `json:"class,omitempty"`
	Message  string          `json:"message,omitempty"`
	SQLState string          `json:"sqlstate,omitempty"`
	Handled  int             `json:"handled,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	Version  string          `json:"awa_version,omitempty"`
	Probe    string          `json:"probe,omitempty"`
	Job      json.RawMessage `json:"job,omitempty"`
	Jobs     json.RawMessage `json:"jobs,omitempty"`
	Stats    json.RawMessage `json:"stats,omitempty"`
	// Health events: the client's health check.
	PollLoopAlive     bool            `json:"poll_loop_alive,omitempty"`
	HeartbeatAlive    bool            `json:"heartbeat_alive,omitempty"`
	PostgresConnected bool            `json:"postgres_connected,omitempty"`
	ShuttingDown      bool            `json:"shutting_down,omitempty"`
	Leader            bool            `json:"leader,omitempty"`
	Available         *int64          `json:"available,omitempty"`
	Raw               json.RawMessage `json:"-"`
	At                time.Time       `json:"-"`
}

// Proc is a running probe.
type Proc struct {
	Name string
	// kill SIGKILLs the probe's process group; wait waits for its exit after its stdout ended.
	kill func()
	wait func() error
	// stderrPath is where the probe's stderr goes (awa's own log lines land there).
	stderrPath string
	stdin      io.WriteCloser
	events     chan Event
	done       chan struct{}

	mu          sync.Mutex
	all         []Event
	activeAt    time.Time
	waitErr     error
	stdinClosed bool
}

// ExitError is how a probe that did not exit with status 0 ended.
type ExitError struct {
	// Code is the exit status, or minus the signal that ended the process.
	Code int
}

func (e *ExitError) Error() string {
	if e.Code < 0 {
		return "signal: " + syscall.Signal(-e.Code).String()
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

// exitError turns an exec wait error into an *ExitError where it is one.
func exitError(err error) error {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return err
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return &ExitError{Code: -int(ws.Signal())}
	}
	return &ExitError{Code: ee.ExitCode()}
}

// files are what a starting probe writes: its spec (without the password) and the files its
// stdout copy and stderr go to.
type files struct {
	specPath, stderrPath, realURL string
	stderr, stdout                *os.File
}

// prepare writes spec to dir/NAME.spec.json and creates dir/NAME.stdout.jsonl and
// dir/NAME.stderr.log.
func prepare(spec Spec, dir, name string) (files, error) {
	var f files
	if spec.Protocol == 0 {
		spec.Protocol = 1
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return f, err
	}
	f.specPath = filepath.Join(dir, name+".spec.json")
	// The spec on disk is kept with the cell's logs, so it carries the connection string
	// without its password; the probe gets the real one from its environment.
	f.realURL = spec.DatabaseURL
	spec.DatabaseURL = redact.URL(spec.DatabaseURL)
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return f, err
	}
	if err := os.WriteFile(f.specPath, b, 0o644); err != nil {
		return f, err
	}
	f.stderrPath = filepath.Join(dir, name+".stderr.log")
	if f.stderr, err = os.Create(f.stderrPath); err != nil {
		return f, err
	}
	if f.stdout, err = os.Create(filepath.Join(dir, name+".stdout.jsonl")); err != nil {
		f.stderr.Close()
		return f, err
	}
	return f, nil
}

// Start writes spec to dir/NAME.spec.json and starts argv + that path, with stdout to
// dir/NAME.stdout.jsonl (and parsed into events) and stderr to dir/NAME.stderr.log. The whole
// process group is killed when ctx ends.
func Start(ctx context.Context, argv []string, spec Spec, dir, name string) (*Proc, error) {
	if len(argv) == 0 {
		return nil, errors.New("start probe: empty command")
	}
	f, err := prepare(spec, dir, name)
	if err != nil {
		return nil, fmt.Errorf("start probe %s: %w", name, err)
	}
	// Its own process group, killed as a group with ctx, and by the kernel if awacompat dies.
	cmd := proc.Command(ctx, argv[0], append(argv[1:], f.specPath)...)
	cmd.Env = append(append(os.Environ(), probeEnv...), URLEnv+"="+f.realURL)
	cmd.Stderr = f.stderr
	fail := func(err error) (*Proc, error) {
		f.stderr.Close()
		f.stdout.Close()
		return nil, fmt.Errorf("start probe %s: %w", name, err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fail(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fail(err)
	}
	if err := cmd.Start(); err != nil {
		return fail(fmt.Errorf("%s: %w", strings.Join(argv, " "), err))
	}
	kill := func() { _ = proc.KillGroup(cmd) }
	wait := func() error { return exitError(cmd.Wait()) }
	return follow(name, f, stdin, out, kill, wait), nil
}

// probeEnv is what a probe (and a fork server, whose children inherit it) finds in its
// environment besides awacompat's own and the database URL in URLEnv.
var probeEnv = []string{"PYTHONUNBUFFERED=1", "NO_COLOR=1"}

// follow reads a started probe's stdout into events and f's stdout copy until it ends, then
// waits for the process.
func follow(name string, f files, stdin io.WriteCloser, out io.Reader, kill func(), wait func() error) *Proc {
	p := &Proc{Name: name, kill: kill, wait: wait, stderrPath: f.stderrPath, stdin: stdin, events: make(chan Event, 1024), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer f.stderr.Close()
		defer f.stdout.Close()
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			line := sc.Bytes()
			f.stdout.Write([]byte(redact.Text(string(line)) + "\n"))
			var ev Event
			if err := json.Unmarshal(line, &ev); err != nil || ev.Event == "" {
				ev = Event{Event: EventGarbage, Message: string(line)}
			}
			ev.Raw = append(json.RawMessage(nil), line...)
			ev.At = time.Now()
			p.mu.Lock()
			p.all = append(p.all, ev)
			if ev.Event != EventHealth {
				p.activeAt = ev.At
			}
			p.mu.Unlock()
			select {
			case p.events <- ev:
			default: // nobody is listening live; the event is still in All()
			}
		}
		err := p.wait()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(p.events)
	}()
	return p
}

// Events delivers events as they arrive; it is closed when the process has exited.
func (p *Proc) Events() <-chan Event { return p.events }

// Done is closed when the process has exited and its output is read.
func (p *Proc) Done() <-chan struct{} { return p.done }

// ActiveAt is when the probe last reported something other than a health check (zero: never).
func (p *Proc) ActiveAt() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.activeAt
}

// Stop asks a worker step to end (a "stop" line, then end of file on stdin).
func (p *Proc) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stdinClosed {
		return
	}
	p.stdinClosed = true
	io.WriteString(p.stdin, "stop\n")
	p.stdin.Close()
}

// Kill ends the whole process group now.
func (p *Proc) Kill() { p.kill() }

// Wait waits for exit (or ctx) and returns every event and the exit error.
func (p *Proc) Wait(ctx context.Context) ([]Event, error) {
	select {
	case <-p.done:
	case <-ctx.Done():
		p.Kill()
		<-p.done
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Event(nil), p.all...), p.waitErr
}

// Stderr returns what the probe has written to stderr so far (awa's log lines among it).
func (p *Proc) Stderr() string {
	b, _ := os.ReadFile(p.stderrPath)
	return string(b)
}

// All returns the events so far.
func (p *Proc) All() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Event(nil), p.all...)
}
