package pgserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// requireServer skips when no server binaries are installed, except in CI, where that fails.
func requireServer(t *testing.T) (string, int) {
	t.Helper()
	bin, v, err := Discover()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but no PostgreSQL server: %v", err)
		}
		t.Skipf("no PostgreSQL server: %v", err)
	}
	return bin, v
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// parentDir is a private DataParent that the server's user can traverse (t.TempDir's parent
// is 0700 and root-owned, which would lock out the postgres user).
func parentDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pgserver-test-*")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// processesUnder lists processes whose working directory is below dir (postgres processes
// chdir into the data directory; initdb runs in the temp directory).
func processesUnder(dir string) []string {
	ents, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil {
			continue
		}
		if cwd == dir || strings.HasPrefix(cwd, dir+"/") {
			cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			found = append(found, fmt.Sprintf("%d %s (cwd %s)", pid, strings.ReplaceAll(string(cmdline), "\x00", " "), cwd))
		}
	}
	return found
}

// settle bounds waits for something that is already under way (a SIGKILLed process leaving,
// a child starting): generous, so that only a real fault, not a loaded machine, exceeds it.
const settle = 30 * time.Second

// initdbUnder reports whether an initdb process works below dir.
func initdbUnder(dir string) bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil || !strings.HasPrefix(cwd, dir+"/") {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		argv0, _, _ := strings.Cut(string(cmdline), "\x00")
		if filepath.Base(argv0) == "initdb" {
			return true
		}
	}
	return false
}

// assertNothingLeft checks that parent is empty and no process works below it. Processes
// get time to go: SIGKILLed children of initdb may still be exiting when Start returns.
func assertNothingLeft(t *testing.T, parent string) {
	t.Helper()
	if ents, err := os.ReadDir(parent); err != nil || len(ents) != 0 {
		t.Errorf("DataParent not empty after failed Start: %v %v", ents, err)
	}
	deadline := time.Now().Add(settle)
	for {
		procs := processesUnder(parent)
		if len(procs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left behind:\n%s", strings.Join(procs, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func procUID(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Uid:"); ok {
			uid, err := strconv.Atoi(strings.Fields(rest)[0])
			if err != nil {
				t.Fatal(err)
			}
			return uid
		}
	}
	t.Fatalf("no Uid line for pid %d", pid)
	return -1
}

func TestStartStop(t *testing.T) {
	t.Parallel()
	requireServer(t)
	ctx := t.Context()

	t0 := time.Now()
	s, err := Start(ctx, Config{Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	startTook := time.Since(t0)
	t.Cleanup(func() { s.Stop(context.Background()) })
	pid, dir := s.proc.pid, s.dir

	if want := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/awa?sslmode=disable", s.Port()); s.URL("awa") != want {
		t.Errorf("URL = %q; want %q", s.URL("awa"), want)
	}
	if s.Port() <= 0 {
		t.Errorf("port %d", s.Port())
	}
	if fi, err := os.Stat(s.LogPath()); err != nil || fi.Size() == 0 {
		t.Errorf("log file %s: %v", s.LogPath(), err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal(err)
		}
		if got := strconv.Itoa(procUID(t, pid)); got != u.Uid {
			t.Errorf("postmaster runs as uid %s; want postgres (%s)", got, u.Uid)
		}
	}

	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE awa"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	conn, err = pgx.Connect(ctx, s.URL("awa"))
	if err != nil {
		t.Fatal(err)
	}
	var version string
	var num int
	if err := conn.QueryRow(ctx, "SELECT version(), current_setting('server_version_num')::int").Scan(&version, &num); err != nil {
		t.Fatal(err)
	}
	// Work for a backend to account for: CPU() must count the backends, not the postmaster alone.
	if _, err := conn.Exec(ctx, "SELECT count(*) FROM generate_series(1, 5000000)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if c := s.CPU(); c != 0 {
		t.Errorf("CPU() = %v while the server runs; want 0 (known only once it has exited)", c)
	}
	if num/10000 != s.Version() {
		t.Errorf("server_version_num %d; Version() %d", num, s.Version())
	}
	t.Logf("%s on port %d", version, s.Port())

	// The Unix socket works too.
	sockConn, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%d user=postgres dbname=awa", s.SocketDir(), s.Port()))
	if err != nil {
		t.Fatalf("connect via socket: %v", err)
	}
	sockConn.Close(ctx)

	t1 := time.Now()
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	stopTook := time.Since(t1)
	// The backends' CREATE DATABASE and count take over a CPU-second here; the postmaster's own
	// share is tens of ms.
	if c := s.CPU(); c < 100*time.Millisecond {
		t.Errorf("CPU() = %v after Stop; want the backends' time in it (at least 100ms)", c)
	}
	t.Logf("Start took %v, Stop took %v, the server used %v of CPU", startTook.Round(time.Millisecond), stopTook.Round(time.Millisecond), s.CPU().Round(time.Millisecond))

	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp dir %s still there: %v", dir, err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("postmaster %d still exists: kill 0 = %v", pid, err)
	}
	if procs := processesUnder(dir); len(procs) > 0 {
		t.Errorf("processes left behind:\n%s", strings.Join(procs, "\n"))
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStopNilServer(t *testing.T) {
	var s *Server
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Stop with an already-cancelled context skips the grace period but still cleans up.
func TestStopCancelledContext(t *testing.T) {
	t.Parallel()
	requireServer(t)
	s, err := Start(t.Context(), Config{Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(s.proc.pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("postmaster still exists: %v", err)
	}
	if _, err := os.Stat(s.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp dir still there: %v", err)
	}
}

func TestStartBadBinDir(t *testing.T) {
	t.Parallel()
	parent := parentDir(t)
	for _, bin := range []string{"/nonexistent/pg/bin", parentDir(t)} {
		_, err := Start(t.Context(), Config{BinDir: bin, DataParent: parent})
		if err == nil {
			t.Fatalf("Start with BinDir %s succeeded", bin)
		}
		if msg := err.Error(); !strings.Contains(msg, bin) || !strings.Contains(msg, "initdb") {
			t.Errorf("error does not name the dir and the missing binary: %v", err)
		}
		t.Logf("BinDir %s: %v", bin, err)
	}
	assertNothingLeft(t, parent)
}

func TestStartCancelled(t *testing.T) {
	t.Parallel()
	requireServer(t)

	cases := map[string]struct {
		arrange func(t *testing.T, cancel context.CancelFunc, cfg *Config)
		stage   string // the error names the step that was cancelled
	}{
		"before start": {func(_ *testing.T, cancel context.CancelFunc, _ *Config) { cancel() },
			"start postgres: context canceled"},
		// Cancelled once initdb is seen running below DataParent (initdb takes seconds: it
		// bootstraps a cluster), so the cancellation lands in initdb by observation, not by
		// a timer that a slow or fast machine would move.
		"during initdb": {func(t *testing.T, cancel context.CancelFunc, cfg *Config) {
			go func() {
				for !initdbUnder(cfg.DataParent) {
					select {
					case <-t.Context().Done():
						return
					case <-time.After(2 * time.Millisecond):
					}
				}
				cancel()
			}()
		}, "start postgres: initdb: context canceled"},
		"after postgres launched": {func(_ *testing.T, cancel context.CancelFunc, cfg *Config) {
			cfg.afterSpawn = cancel
		}, "start postgres: wait for postgres: context canceled"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			parent := parentDir(t)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			cfg := Config{DataParent: parent, Log: testLog(t)}
			c.arrange(t, cancel, &cfg)
			s, err := Start(ctx, cfg)
			if err == nil {
				s.Stop(context.Background())
				t.Fatal("Start succeeded despite cancellation")
			}
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error does not wrap context.Canceled: %v", err)
			}
			if !strings.HasPrefix(err.Error(), c.stage) {
				t.Errorf("error %q, want it to start %q (cancelled at another step)", err, c.stage)
			}
			t.Logf("Start: %v", err)
			assertNothingLeft(t, parent)
		})
	}
}

// A port somebody else holds makes postgres exit; Start retries with another port.
func TestStartRetriesTakenPort(t *testing.T) {
	t.Parallel()
	requireServer(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port

	var calls atomic.Int32
	s, err := Start(t.Context(), Config{Log: testLog(t), pickPort: func() (int, error) {
		if calls.Add(1) == 1 {
			return taken, nil
		}
		return freePort()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	if s.Port() == taken || calls.Load() != 2 {
		t.Errorf("port %d after %d picks; held port %d", s.Port(), calls.Load(), taken)
	}
	log, _ := os.ReadFile(s.LogPath())
	if !strings.Contains(string(log), addrInUseMessage) {
		t.Errorf("log lacks the bind failure:\n%s", log)
	}
}

// When the port stays taken, Start gives up with the server log's tail in the error.
func TestStartPortAlwaysTaken(t *testing.T) {
	t.Parallel()
	requireServer(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	parent := parentDir(t)

	_, err = Start(t.Context(), Config{DataParent: parent, Log: testLog(t),
		pickPort: func() (int, error) { return taken, nil }})
	if err == nil {
		t.Fatal("Start succeeded on a taken port")
	}
	if !errors.Is(err, errPortInUse) || !strings.Contains(err.Error(), addrInUseMessage) {
		t.Errorf("error lacks the port-in-use cause and log tail: %v", err)
	}
	t.Logf("Start: %v", err)
	assertNothingLeft(t, parent)
}

func TestStartTimeout(t *testing.T) {
	t.Parallel()
	requireServer(t)
	parent := parentDir(t)
	_, err := Start(t.Context(), Config{DataParent: parent, StartTimeout: time.Nanosecond, Log: testLog(t)})
	if err == nil || !strings.Contains(err.Error(), "not ready after") {
		t.Fatalf("want a readiness timeout, got %v", err)
	}
	assertNothingLeft(t, parent)
}

func TestDefaults(t *testing.T) {
	parent := defaultDataParent()
	if parent != shmDir && parent != os.TempDir() {
		t.Errorf("defaultDataParent = %q", parent)
	}
	acct, err := lookupAccount("")
	if os.Geteuid() == 0 {
		if err != nil {
			t.Skipf("no postgres user: %v", err)
		}
		if acct.name != "postgres" || acct.cred == nil {
			t.Errorf("as root: account %+v; want postgres with credentials", acct)
		}
		if _, err := lookupAccount("root"); err == nil {
			t.Error("lookupAccount(root) accepted root")
		}
	} else if err != nil || acct.cred != nil {
		t.Errorf("as non-root: account %+v, %v; want current user without switch", acct, err)
	}
}

// gone reports whether pid no longer runs (a zombie awaiting its reaper counts as gone).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// Field 3, after "pid (comm)", is the state.
	i := strings.LastIndexByte(string(stat), ')')
	return i > 0 && len(stat) > i+2 && stat[i+2] == 'Z'
}

// TestParentDeathHelper is not a test: TestParentDeathKillsPostmaster runs the test binary
// with PGSERVER_HELPER_PARENT set, and this starts a server there, reports it and waits to
// be killed.
func TestParentDeathHelper(t *testing.T) {
	parent := os.Getenv("PGSERVER_HELPER_PARENT")
	if parent == "" {
		t.Skip("helper process for TestParentDeathKillsPostmaster")
	}
	s, err := Start(context.Background(), Config{DataParent: parent})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("server", s.proc.pid, s.dir)
	time.Sleep(time.Minute)
	os.Exit(2)
}

// A SIGKILLed owner must not leave a postmaster running (Pdeathsig, Linux only).
func TestParentDeathKillsPostmaster(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Pdeathsig is Linux-only")
	}
	t.Parallel()
	requireServer(t)
	parent := parentDir(t)

	helper := exec.Command(os.Args[0], "-test.run=^TestParentDeathHelper$", "-test.count=1")
	helper.Env = append(os.Environ(), "PGSERVER_HELPER_PARENT="+parent)
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer helper.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v (%q)", err, line)
	}
	var pid int
	var dir string
	if _, err := fmt.Sscanf(line, "server %d %s", &pid, &dir); err != nil {
		t.Fatalf("helper said %q", line)
	}
	if gone(pid) {
		t.Fatalf("postmaster %d not running before the kill", pid)
	}

	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	helper.Wait()
	deadline := time.Now().Add(settle)
	for !gone(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("postmaster %d survived its parent", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Its children follow the postmaster; the directory is documented to stay behind.
	for procs := processesUnder(dir); len(procs) > 0; procs = processesUnder(dir) {
		if time.Now().After(deadline) {
			t.Fatalf("postmaster children survived:\n%s", strings.Join(procs, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// halt escalates to SIGKILL on the whole process group when the signal is ignored.
func TestHaltEscalates(t *testing.T) {
	t.Parallel()
	// sh says "ready" once it ignores SIGINT and has forked sleep; the test waits for that
	// line, so the signal cannot arrive before the trap is in place.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command("sh", "-c", `trap "" INT; sleep 60 & echo ready; wait`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout = w
	p, err := spawn(cmd)
	w.Close() // the children hold their own copies
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetReadDeadline(time.Now().Add(settle)); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(r).ReadString('\n'); line != "ready\n" {
		syscall.Kill(-p.pid, syscall.SIGKILL)
		t.Fatalf("sh did not report ready: %q, %v", line, err)
	}
	const grace = 200 * time.Millisecond
	t0 := time.Now()
	if err := p.halt(context.Background(), syscall.SIGINT, grace); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(t0); took < grace {
		t.Errorf("halt returned after %v, before its grace of %v", took, grace)
	}
	// sh ignored SIGINT, so only the escalation can have ended it.
	var ee *exec.ExitError
	if !errors.As(p.err, &ee) {
		t.Fatalf("sh ended with %v, want killed by a signal", p.err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("sh ended with %v, want SIGKILL", ee)
	}
	// The group (sh and its sleep) is gone; the orphaned sleep may briefly be a zombie.
	deadline := time.Now().Add(settle)
	for members := groupMembers(p.pid); len(members) > 0; members = groupMembers(p.pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still has live members %v", p.pid, members)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := p.halt(context.Background(), syscall.SIGINT, time.Second); err != nil {
		t.Errorf("halt on an exited process: %v", err)
	}
}

// groupMembers lists the live (non-zombie) processes in process group pgid.
func groupMembers(pgid int) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:])) // state ppid pgrp ...
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			pids = append(pids, pid)
		}
	}
	return pids
}
