package probes

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/awacompat/awacompat/internal/proc"
	"golang.org/x/sys/unix"
)

// serveDeadline bounds a fork server's start (an interpreter importing awa) and its answer to
// one request.
const serveDeadline = 60 * time.Second

// Forks is a fork server of the Python probe (PROTOCOL.md, Fork server): one interpreter of an
// installed awa-pg release that has imported awa once and forks a child for each probe. A
// child is a probe process of its own (its own pid and process group, stdin, stdout, stderr
// and database connections), so a cell's probes stay apart from other cells' as they do when
// each is started from scratch; a child only skips the interpreter's start and the imports,
// about 0.1 CPU-s a process.
type Forks struct {
	argv   []string // the probe's command, as Start takes it
	cmd    *exec.Cmd
	cancel context.CancelFunc
	stdin  io.WriteCloser
	dir    string // holds the socket
	sock   string
	log    string
	// Version and PID are the server's answer when it started serving.
	Version string
	PID     int
}

// ServeForks starts argv (the Python probe's command: interpreter and awaprobe.py) as a fork
// server, its stderr to logPath, and returns once it serves. The server and every probe it
// forked end with Close, or with awacompat.
func ServeForks(argv []string, logPath string) (*Forks, error) {
	if len(argv) == 0 {
		return nil, errors.New("fork server: empty command")
	}
	// A short folder (a Unix socket's path has at most 107 bytes), only this user's (0700),
	// with an owner record: the folder of a server whose awacompat was SIGKILLed goes with the
	// next server's start.
	sweepForks()
	dir, err := os.MkdirTemp("", forksPattern)
	if err != nil {
		return nil, fmt.Errorf("fork server: %w", err)
	}
	s := &Forks{argv: argv, dir: dir, sock: filepath.Join(dir, "s"), log: logPath}
	if self, err := proc.Self(); err == nil {
		os.WriteFile(filepath.Join(dir, "owner"), []byte(self.String()+"\n"), 0o600)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	fail := func(err error) (*Forks, error) {
		cancel()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("fork server %s: %w", strings.Join(argv, " "), err)
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return fail(err)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return fail(err)
	}
	defer logf.Close()
	cmd := proc.Command(ctx, argv[0], append(argv[1:], "--serve", s.sock)...)
	cmd.Env = append(os.Environ(), probeEnv...)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fail(err)
	}
	if s.stdin, err = cmd.StdinPipe(); err != nil {
		return fail(err)
	}
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	s.cmd = cmd
	serving := make(chan error, 1)
	go func() {
		r := bufio.NewReader(out)
		line, err := r.ReadBytes('\n')
		var hello struct {
			Event   string `json:"event"`
			Version string `json:"awa_version"`
			PID     int    `json:"pid"`
		}
		if err == nil {
			if err = json.Unmarshal(line, &hello); err == nil && hello.Event != "serving" {
				err = fmt.Errorf("said %q instead of serving", strings.TrimSpace(string(line)))
			}
		}
		s.Version, s.PID = hello.Version, hello.PID
		serving <- err
		io.Copy(io.Discard, r)
	}()
	select {
	case err = <-serving:
	case <-time.After(serveDeadline):
		err = fmt.Errorf("not serving after %s", serveDeadline)
	}
	if err != nil {
		cancel()
		cmd.Wait()
		return fail(fmt.Errorf("%w; stderr: %s", err, proc.TailFile(logPath, 8)))
	}
	return s, nil
}

// forksPattern names a fork server's socket folder in the temporary folder.
const forksPattern = "awacompat-forks-"

// sweepForks removes the socket folders whose owner record names a process that is gone.
func sweepForks() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), forksPattern+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner"))
		if o, ok := proc.ParseOwner(string(b)); err == nil && ok && o.Gone() {
			os.RemoveAll(dir)
		}
	}
}

// Close ends the server: it kills any probe it forked that is still running, and exits.
func (s *Forks) Close() error {
	s.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		s.cancel()
		err = fmt.Errorf("fork server %d did not leave when asked: %w", s.PID, <-done)
	}
	s.cancel()
	os.RemoveAll(s.dir)
	return err
}

// Start is the package's Start for the server's probe: the spec and output files are the
// same, and the probe is a child forked by the server, in its own process group, killed (the
// group) when ctx ends.
func (s *Forks) Start(ctx context.Context, spec Spec, dir, name string) (*Proc, error) {
	f, err := prepare(spec, dir, name)
	if err != nil {
		return nil, fmt.Errorf("start probe %s: %w", name, err)
	}
	fail := func(err error) (*Proc, error) {
		f.stderr.Close()
		f.stdout.Close()
		return nil, fmt.Errorf("start probe %s through the fork server of %s: %w; its log: %s", name, strings.Join(s.argv, " "), err, proc.TailFile(s.log, 8))
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: s.sock, Net: "unix"})
	if err != nil {
		return fail(err)
	}
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		conn.Close()
		return fail(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		conn.Close()
		stdinR.Close()
		stdinW.Close()
		return fail(err)
	}
	// The child inherits the server's environment (probeEnv included) and adds its URL.
	req, _ := json.Marshal(map[string]any{"argv": []string{s.argv[len(s.argv)-1], f.specPath}, "env": map[string]string{URLEnv: f.realURL}})
	rights := syscall.UnixRights(int(stdinR.Fd()), int(outW.Fd()), int(f.stderr.Fd()))
	_, _, err = conn.WriteMsgUnix(append(req, '\n'), rights, nil)
	// The server holds its own copies now (or none, on an error).
	stdinR.Close()
	outW.Close()
	var started struct {
		PID   int    `json:"pid"`
		Error string `json:"error"`
	}
	pidfd, rest := -1, []byte(nil)
	if err == nil {
		conn.SetReadDeadline(time.Now().Add(serveDeadline))
		pidfd, rest, err = readStarted(conn, &started)
		conn.SetReadDeadline(time.Time{})
	}
	if err == nil && (started.PID <= 0 || pidfd < 0) {
		err = fmt.Errorf("the server did not fork: %s", started.Error)
	}
	if err != nil {
		if pidfd >= 0 {
			syscall.Close(pidfd)
		}
		conn.Close()
		stdinW.Close()
		outR.Close()
		return fail(err)
	}
	r := bufio.NewReader(io.MultiReader(bytes.NewReader(rest), conn))
	var mu sync.Mutex
	kill := func() {
		// Through the child's pidfd: the signal is sent before Kill returns (the probe runs
		// no further instruction, as when killed by its process group), and a pidfd never
		// names another process, even after the child was reaped.
		mu.Lock()
		defer mu.Unlock()
		if pidfd >= 0 {
			unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		}
	}
	wait := func() error {
		defer func() {
			mu.Lock()
			syscall.Close(pidfd)
			pidfd = -1
			mu.Unlock()
		}()
		defer conn.Close()
		var exit struct {
			Exit *int `json:"exit"`
		}
		if err := readJSONLine(r, &exit); err != nil || exit.Exit == nil {
			return fmt.Errorf("the fork server did not report the exit of probe %d: %v; its log: %s", started.PID, err, proc.TailFile(s.log, 8))
		}
		if *exit.Exit != 0 {
			return &ExitError{Code: *exit.Exit}
		}
		return nil
	}
	p := follow(name, f, stdinW, outR, kill, wait)
	go func() {
		select {
		case <-ctx.Done():
			p.Kill()
		case <-p.done:
		}
	}()
	return p, nil
}

// readStarted reads the server's first answer to a request: a line of JSON into v and, with a
// fork, the child's pidfd (-1 without one); rest is what came after the line.
func readStarted(conn *net.UnixConn, v any) (pidfd int, rest []byte, err error) {
	pidfd = -1
	var line []byte
	buf, oob := make([]byte, 4096), make([]byte, syscall.CmsgSpace(4))
	for !bytes.Contains(line, []byte("\n")) {
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if oobn > 0 {
			if msgs, perr := syscall.ParseSocketControlMessage(oob[:oobn]); perr == nil {
				for _, m := range msgs {
					fds, _ := syscall.ParseUnixRights(&m)
					for _, fd := range fds {
						if pidfd < 0 {
							pidfd = fd
						} else {
							syscall.Close(fd) // one pidfd is expected; never leak another
						}
					}
				}
			}
		}
		line = append(line, buf[:n]...)
		if err != nil {
			return pidfd, nil, err
		}
		if n == 0 {
			return pidfd, nil, io.ErrUnexpectedEOF
		}
	}
	i := bytes.IndexByte(line, '\n')
	return pidfd, line[i+1:], json.Unmarshal(line[:i], v)
}

func readJSONLine(r *bufio.Reader, v any) error {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return err
	}
	return json.Unmarshal(line, v)
}
