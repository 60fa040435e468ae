// Package pgserver launches a throwaway local PostgreSQL server: the embedded server a run
// uses when it is given no --pg-url (and the one the tests start). It runs initdb into a fresh
// temporary directory, starts postgres on a free 127.0.0.1 port with durability turned off
// (fsync, synchronous_commit and full_page_writes off), waits until it accepts connections,
// and on Stop shuts it down and deletes every file it made.
//
// The cluster trusts every local connection; its superuser is "postgres", so URL needs no
// password. When the calling process is root the server runs as an unprivileged user
// (Config.User), because postgres refuses to run as root.
//
// Cleanup: Start removes everything it made when it fails, including on context
// cancellation, so callers only Stop a server Start returned (Stop on a nil *Server is a
// no-op). Call Stop with a context that is not already cancelled on Ctrl-C (e.g.
// context.WithoutCancel) so the fast shutdown gets its chance. The server runs in its own
// process group, so a terminal's Ctrl-C reaches only the caller, which decides when to stop.
// On Linux the postmaster also gets SIGKILL if the caller dies without stopping it (see
// spawn for the limits); the temporary directory is then left behind ("awacompat-pg-*" under
// Config.DataParent) until a later Start sweeps it (sweep.go).
//
// The package never prints; it logs through Config.Log only. It needs a Unix system.
package pgserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/awacompat/awacompat/internal/pgbin"
	"github.com/jackc/pgx/v5"
)

const (
	superuser        = "postgres"       // database superuser name given to initdb -U
	shmDir           = "/dev/shm"       // preferred DataParent: RAM-backed
	shmMinFree       = 1 << 30          // DataParent uses shmDir only with this much free
	defaultTimeout   = 30 * time.Second // Config.StartTimeout default
	stopGrace        = 10 * time.Second // Stop waits this long after SIGINT before SIGKILL
	abortGrace       = 5 * time.Second  // failed Start waits this long after SIGQUIT
	killWait         = 5 * time.Second  // how long a SIGKILLed process may take to be reaped
	portAttempts     = 3                // postgres launches before giving up on port races
	pollInterval     = 25 * time.Millisecond
	maxDialTimeout   = 2 * time.Second
	logTailLines     = 20
	logTailMaxBytes  = 8 << 10
	tempPattern      = "awacompat-pg-*"
	logName          = "postgres.log"
	dataName         = "data"
	sockName         = "sock"
	addrInUseMessage = "Address already in use"
)

// Config says how to start a server. The zero value works.
type Config struct {
	// BinDir holds initdb and postgres. Default: Major's binaries (pgbin.Find), or
	// Discover()'s when Major is 0.
	BinDir string
	// Major asks for a PostgreSQL major version (0: whichever Discover finds).
	Major int
	// Bin configures finding and fetching Major's binaries (its Cache is where a portable
	// build is downloaded to).
	Bin pgbin.Config
	// DataParent is where the temporary directory (data, socket, log) is created.
	// Default: /dev/shm when it exists and has at least 1 GiB free, else os.TempDir().
	// When running as root it must be traversable by User.
	DataParent string
	// User is the OS account that runs initdb and postgres. Default: "postgres" when running
	// as root, else the current user. Only root can name another user than itself.
	User string
	// Log receives progress and diagnostics. Default: discard.
	Log *slog.Logger
	// StartTimeout bounds how long Start waits, per launch, for the server to accept
	// connections after postgres is started (initdb is bounded only by ctx). Default: 30s.
	StartTimeout time.Duration

	// Test hooks.
	pickPort   func() (int, error) // default freePort
	afterSpawn func()              // called right after postgres is launched
}

// Server is a running throwaway PostgreSQL server.
type Server struct {
	version int
	binDir  string
	origin  string // where the binaries came from
	port    int
	dir     string // the temporary directory; everything below it is ours
	dataDir string
	sockDir string
	logPath string
	log     *slog.Logger
	proc    *proc // the postmaster; nil until launched

	mu      sync.Mutex // serialises Stop
	removed bool       // dir has been deleted
}

// URL returns a connection URL for database db as the superuser over TCP, e.g.
// postgres://postgres@127.0.0.1:54321/db?sslmode=disable.
func (s *Server) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(superuser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port is the TCP port the server listens on at 127.0.0.1.
func (s *Server) Port() int { return s.port }

// BinDir is the folder of the server's binaries (pg_dump and pg_restore of the same release
// live there).
func (s *Server) BinDir() string { return s.binDir }

// SocketDir is the directory holding the server's Unix socket (.s.PGSQL.<port>).
func (s *Server) SocketDir() string { return s.sockDir }

// Version is the server's major version, e.g. 15.
func (s *Server) Version() int { return s.version }

// Origin says where the server's binaries came from ("installed DIR", or the portable build).
func (s *Server) Origin() string { return s.origin }

// LogPath is the file receiving initdb's and the server's output. It is deleted by Stop.
func (s *Server) LogPath() string { return s.logPath }

// Start creates a cluster in a new temporary directory and starts a server on it. On error
// nothing is left behind: no process, no directory. Cancelling ctx aborts Start; it does not
// affect a server Start has returned.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	began := time.Now()
	cfg, version, origin, acct, err := resolve(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	log := cfg.Log
	sweepStale(cfg.DataParent, log)

	dir, err := os.MkdirTemp(cfg.DataParent, tempPattern)
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	if err := writeOwner(dir); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s := &Server{
		version: version,
		binDir:  cfg.BinDir,
		origin:  origin,
		dir:     dir,
		dataDir: filepath.Join(dir, dataName),
		sockDir: filepath.Join(dir, sockName),
		logPath: filepath.Join(dir, logName),
		log:     log.With("dir", dir),
	}
	if err := s.start(ctx, cfg, acct); err != nil {
		if cerr := s.abort(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s.log.Info("postgres ready", "version", version, "port", s.port, "pid", s.proc.pid,
		"user", acct.name, "elapsed", time.Since(began).Round(time.Millisecond))
	return s, nil
}

// resolve fills in cfg's defaults, finds the binaries and checks them and the user.
func resolve(ctx context.Context, cfg Config) (Config, int, string, account, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = defaultTimeout
	}
	if cfg.pickPort == nil {
		cfg.pickPort = freePort
	}
	var version int
	var origin string
	var err error
	switch {
	case cfg.BinDir != "":
		version, err = pgbin.ProbeBinDir(cfg.BinDir)
		origin = cfg.BinDir
		if err == nil && cfg.Major != 0 && version != cfg.Major {
			err = fmt.Errorf("bin dir %s holds PostgreSQL %d, not %d", cfg.BinDir, version, cfg.Major)
		}
	case cfg.Major != 0:
		if cfg.Bin.Log == nil {
			cfg.Bin.Log = cfg.Log
		}
		var b pgbin.Binaries
		b, err = pgbin.Find(ctx, cfg.Major, cfg.Bin)
		cfg.BinDir, version, origin = b.BinDir, b.Major, b.Origin
	default:
		cfg.BinDir, version, err = Discover()
		origin = "installed " + cfg.BinDir
	}
	if err != nil {
		return cfg, 0, "", account{}, err
	}
	if cfg.DataParent == "" {
		cfg.DataParent = defaultDataParent()
	}
	if cfg.DataParent, err = filepath.Abs(cfg.DataParent); err != nil {
		return cfg, 0, "", account{}, fmt.Errorf("data parent: %w", err)
	}
	acct, err := lookupAccount(cfg.User)
	if err != nil {
		return cfg, 0, "", account{}, err
	}
	cfg.User = acct.name
	return cfg, version, origin, acct, nil
}

// defaultDataParent prefers RAM-backed /dev/shm when it has room.
func defaultDataParent() string {
	var st syscall.Statfs_t
	if fi, err := os.Stat(shmDir); err == nil && fi.IsDir() && syscall.Statfs(shmDir, &st) == nil &&
		uint64(st.Bavail)*uint64(st.Bsize) >= shmMinFree {
		return shmDir
	}
	return os.TempDir()
}

// account is the OS user that runs the server.
type account struct {
	name string
	home string
	cred *syscall.Credential // nil: run as ourselves
}

func lookupAccount(name string) (account, error) {
	root := os.Geteuid() == 0
	if name == "" {
		if root {
			name = "postgres"
		} else {
			u, err := user.Current()
			if err != nil {
				return account{}, fmt.Errorf("current user: %w", err)
			}
			name = u.Username
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		hint := ""
		if root {
			hint = " (postgres cannot run as root; create the user, e.g. by installing the postgresql package, or set Config.User)"
		}
		return account{}, fmt.Errorf("look up user %q: %w%s", name, err, hint)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return account{}, fmt.Errorf("user %q: %w", name, err)
	}
	acct := account{name: name, home: u.HomeDir}
	switch {
	case uid == 0:
		return account{}, fmt.Errorf("user %q is root; postgres refuses to run as root, set Config.User to an unprivileged user", name)
	case int(uid) == os.Geteuid():
		// Already that user: no switch needed.
	case !root:
		return account{}, fmt.Errorf("run as user %q: only root can switch users", name)
	default:
		cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
		if gids, err := u.GroupIds(); err == nil {
			for _, g := range gids {
				if n, err := strconv.ParseUint(g, 10, 32); err == nil {
					cred.Groups = append(cred.Groups, uint32(n))
				}
			}
		}
		acct.cred = cred
	}
	return acct, nil
}

// start does Start's work; on error the caller runs abort.
func (s *Server) start(ctx context.Context, cfg Config, acct account) error {
	if err := os.Mkdir(s.sockDir, 0o700); err != nil {
		return err
	}
	logFile, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() // the children hold their own descriptors
	if acct.cred != nil {
		for _, p := range []string{s.dir, s.sockDir, s.logPath} {
			if err := os.Chown(p, int(acct.cred.Uid), int(acct.cred.Gid)); err != nil {
				return fmt.Errorf("hand temp dir to user %q: %w", acct.name, err)
			}
		}
	}
	env := childEnv(acct)
	if acct.cred != nil && !reachable(cfg.BinDir, acct.cred) {
		// A build in root's cache (under a 0700 home) is out of the server user's reach: it
		// runs from a copy in the server's own folder, which Stop removes with the rest.
		t := time.Now()
		bin, err := copyInstall(cfg.BinDir, filepath.Join(s.dir, "pgbin"))
		if err != nil {
			return fmt.Errorf("copy the server binaries where user %q can run them: %w", acct.name, err)
		}
		cfg.BinDir = bin
		s.log.Debug("binaries copied for the server user", "from", s.binDir, "took", time.Since(t).Round(time.Millisecond))
	}

	// initdb.
	t0 := time.Now()
	initdb := exec.CommandContext(ctx, filepath.Join(cfg.BinDir, "initdb"),
		"-D", s.dataDir, "-A", "trust", "-U", superuser, "-E", "UTF8", "--locale=C", "--no-sync")
	s.prepare(initdb, acct, env, logFile)
	initdb.Cancel = func() error { return syscall.Kill(-initdb.Process.Pid, syscall.SIGKILL) }
	p, err := spawn(initdb)
	if err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	<-p.done
	if p.err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("initdb: %w", ctx.Err())
		}
		return fmt.Errorf("initdb: %w%s", p.err, s.logTail(0))
	}
	s.log.Debug("initdb done", "user", acct.name, "elapsed", time.Since(t0).Round(time.Millisecond))

	// postgres, retried on port races.
	for attempt := 1; ; attempt++ {
		port, err := cfg.pickPort()
		if err != nil {
			return fmt.Errorf("pick port: %w", err)
		}
		err = s.launch(ctx, cfg, acct, env, logFile, port)
		if err == nil {
			return nil
		}
		if !errors.Is(err, errPortInUse) || attempt >= portAttempts {
			return err
		}
		s.log.Warn("port taken, retrying with another", "port", port, "attempt", attempt)
	}
}

var errPortInUse = errors.New("port in use")

// launch starts postgres on port and waits until it serves. On error the postmaster has
// exited or is left for abort to stop.
func (s *Server) launch(ctx context.Context, cfg Config, acct account, env []string, logFile *os.File, port int) error {
	off, err := logFile.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(cfg.BinDir, "postgres"),
		"-D", s.dataDir,
		"-p", strconv.Itoa(port),
		"-k", s.sockDir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
		"-c", "shared_buffers=128MB",
		// Dynamic shared memory in the data directory, not /dev/shm: a server that is
		// SIGKILLed then leaves nothing behind once its directory is removed.
		"-c", "dynamic_shared_memory_type=mmap",
	)
	s.prepare(cmd, acct, env, logFile)
	p, err := spawn(cmd)
	if err != nil {
		return fmt.Errorf("launch postgres: %w", err)
	}
	s.proc, s.port = p, port
	s.log.Debug("postgres launched", "pid", p.pid, "port", port)
	if cfg.afterSpawn != nil {
		cfg.afterSpawn()
	}

	// A ping must not outlive the postmaster: if the port was taken, whoever holds it may
	// accept the connection and never answer.
	pingCtx, stopPing := context.WithCancel(ctx)
	defer stopPing()
	go func() {
		select {
		case <-p.done:
			stopPing()
		case <-pingCtx.Done():
		}
	}()

	deadline := time.Now().Add(cfg.StartTimeout)
	var lastErr error
	for {
		select {
		case <-p.done:
			tail := s.logTail(off)
			if strings.Contains(tail, addrInUseMessage) {
				return fmt.Errorf("postgres exited: port %d: %w%s", port, errPortInUse, tail)
			}
			return fmt.Errorf("postgres exited during startup (%v)%s", p.err, tail)
		default:
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("wait for postgres: %w", err)
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return fmt.Errorf("postgres not ready after %v: %v%s", cfg.StartTimeout, lastErr, s.logTail(off))
		}
		lastErr = s.ping(pingCtx, min(remaining, maxDialTimeout))
		if lastErr == nil {
			return nil
		}
		if errors.Is(lastErr, errPortInUse) {
			// Someone else's server answered: ours could not bind and will exit.
			if err := p.halt(context.Background(), syscall.SIGQUIT, abortGrace); err != nil {
				return err
			}
			return fmt.Errorf("port %d: %w", port, lastErr)
		}
		select {
		case <-ctx.Done():
		case <-p.done:
		case <-time.After(pollInterval):
		}
	}
}

// ping connects once and checks that the server answering is ours.
func (s *Server) ping(ctx context.Context, timeout time.Duration) error {
	cc, err := pgx.ParseConfig(s.URL("postgres"))
	if err != nil {
		return err
	}
	cc.ConnectTimeout = timeout
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var dataDir string
	if err := conn.QueryRow(ctx, "SHOW data_directory").Scan(&dataDir); err != nil {
		return err
	}
	if filepath.Clean(dataDir) != filepath.Clean(s.dataDir) {
		return fmt.Errorf("server on port %d serves %s, not ours: %w", s.port, dataDir, errPortInUse)
	}
	return nil
}

// prepare sets what initdb and postgres share: user, process group, parent-death signal,
// environment, working directory and output.
func (s *Server) prepare(cmd *exec.Cmd, acct account, env []string, out *os.File) {
	attr := &syscall.SysProcAttr{Setpgid: true, Credential: acct.cred}
	setPdeathsig(attr)
	cmd.SysProcAttr = attr
	cmd.Env = env
	cmd.Dir = s.dir // the caller's working directory may be closed to acct
	cmd.Stdout = out
	cmd.Stderr = out
}

// childEnv is our environment without PG* and locale variables (they would steer initdb,
// postgres or the log language), with LC_ALL=C and, when switching, the account's identity.
func childEnv(acct account) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "PG"), strings.HasPrefix(k, "LC_"), k == "LANG", k == "LANGUAGE":
			continue
		case acct.cred != nil && (k == "HOME" || k == "USER" || k == "LOGNAME"):
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "LC_ALL=C")
	if acct.cred != nil {
		env = append(env, "HOME="+acct.home, "USER="+acct.name, "LOGNAME="+acct.name)
	}
	return env
}

// Alive reports an error when the server's postmaster is no longer running (killed, crashed),
// with the end of its log; nil while it runs. A run checks it to tell a dead server (an
// infrastructure failure) from cells that failed on their own.
func (s *Server) Alive() error {
	if s == nil || s.proc == nil || !s.proc.exited() {
		return nil
	}
	return fmt.Errorf("postgres (pid %d) exited during the run: %v%s", s.proc.pid, s.proc.err, s.logTail(0))
}

// Stop shuts the server down: SIGINT (fast shutdown) to the postmaster, up to 10s for it to
// exit (less if ctx ends first), then SIGKILL to its process group; then it deletes the
// temporary directory. It is idempotent, safe on a nil *Server, and a later call retries
// whatever an earlier one could not finish.
func (s *Server) Stop(ctx context.Context) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return nil
	}
	t0 := time.Now()
	if s.proc != nil {
		if s.proc.exited() && s.proc.err != nil {
			s.log.Warn("postgres had exited before Stop", "err", s.proc.err)
		}
		if err := s.proc.halt(ctx, syscall.SIGINT, stopGrace); err != nil {
			return fmt.Errorf("stop postgres: %w", err)
		}
	}
	if !s.removed {
		if err := removeAll(s.dir); err != nil {
			return fmt.Errorf("stop postgres: %w", err)
		}
		s.removed = true
		s.log.Info("postgres stopped", "elapsed", time.Since(t0).Round(time.Millisecond))
	}
	return nil
}

// CPU is the user and system time of the server once it has stopped: the postmaster and every
// process it reaped (each connection's backend, the checkpointer, autovacuum...), as the
// kernel reports it for the postmaster's exit. Zero while the server runs, and for a server
// that never started.
func (s *Server) CPU() time.Duration {
	if s == nil || s.proc == nil || !s.proc.exited() || s.proc.cmd.ProcessState == nil {
		return 0
	}
	st := s.proc.cmd.ProcessState
	return st.UserTime() + st.SystemTime()
}

// abort undoes a failed Start: immediate shutdown (SIGQUIT makes the postmaster take its
// children down too), SIGKILL if that stalls, then the directory goes.
func (s *Server) abort() error {
	var errs []error
	if s.proc != nil {
		if err := s.proc.halt(context.Background(), syscall.SIGQUIT, abortGrace); err != nil {
			errs = append(errs, fmt.Errorf("stop postgres: %w", err))
		}
	}
	if len(errs) == 0 {
		if err := removeAll(s.dir); err != nil {
			errs = append(errs, err)
		} else {
			s.removed = true
		}
	}
	return errors.Join(errs...)
}

// removeAll retries briefly: children of a killed postmaster may still be writing.
func removeAll(dir string) error {
	var err error
	for range 20 {
		if err = os.RemoveAll(dir); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("remove temp dir: %w", err)
}

// logTail returns the last lines of the log written since off, formatted for an error.
func (s *Server) logTail(off int64) string {
	f, err := os.Open(s.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size()-off > logTailMaxBytes {
		off = fi.Size() - logTailMaxBytes
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	b = bytes.TrimRight(b, "\n")
	if len(b) == 0 {
		return ""
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return "\nserver log (" + s.logPath + "):\n  " + strings.Join(lines, "\n  ")
}

// freePort asks the kernel for an unused port on 127.0.0.1. Another process may take it
// before postgres binds it; launch detects that and Start retries.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

// proc is a child process whose exit is observed by the goroutine that started it.
type proc struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // cmd.Wait's result; read only after done
}

// spawn starts cmd from a goroutine locked to its own OS thread and keeps that goroutine
// blocked in cmd.Wait until the process exits.
//
// Why: on Linux, Pdeathsig fires when the *thread* that forked the child exits, not the
// process. Go keeps threads alive except one whose goroutine exits while locked with
// runtime.LockOSThread, and any goroutine may run on any unlocked thread, so forking from an
// arbitrary goroutine could get the server SIGKILLed whenever unrelated code ends a locked
// goroutine. A thread locked to this goroutine runs nothing else, and lives until the child
// is gone. The cost is one OS thread per running server. The limit that remains: the signal
// only covers the postmaster; its children notice the postmaster's death and exit on their
// own, and the temporary directory stays behind.
func spawn(cmd *exec.Cmd) (*proc, error) {
	p := &proc{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		p.pid = cmd.Process.Pid
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// halt sends sig to the process, waits up to grace (or until ctx ends), then SIGKILLs its
// process group and waits for it to be reaped.
func (p *proc) halt(ctx context.Context, sig syscall.Signal, grace time.Duration) error {
	if p.exited() {
		return nil
	}
	// os.Process.Signal uses a pidfd on Linux, so it cannot hit a recycled pid.
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal pid %d: %w", p.pid, err)
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	// The leader has not been reaped (done is open), so the group id is still ours.
	if err := syscall.Kill(-p.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process group %d: %w", p.pid, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("pid %d still running after SIGKILL", p.pid)
	}
}
