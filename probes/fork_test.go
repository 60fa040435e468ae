package probes

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/awacompat/awacompat/internal/poll"
	"github.com/awacompat/awacompat/internal/proc"
)

// The fork server's own mechanics, with the real awaprobe.py and a stand-in awa package (the
// probe imports it and runs only sleep steps here, which call nothing of awa's). The
// conformance test in internal/scenario runs every scenario through a fork server of the real
// awa-pg.
func serveStandIn(t *testing.T) *Forks {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3")
	}
	pkg := filepath.Join(t.TempDir(), "site", "awa")
	os.MkdirAll(pkg, 0o755)
	os.WriteFile(filepath.Join(pkg, "__init__.py"), []byte("__version__ = \"9.9.9\"\nclass AwaError(Exception):\n    pass\n"), 0o644)
	t.Setenv("PYTHONPATH", filepath.Dir(pkg))
	probe, _ := filepath.Abs(filepath.Join("python", "awaprobe.py"))
	s, err := ServeForks([]string{"python3", "-u", probe}, filepath.Join(t.TempDir(), "forks.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if s.Version != "9.9.9" || s.PID <= 0 {
		t.Fatalf("serving %q as %d", s.Version, s.PID)
	}
	return s
}

func startPID(t *testing.T, p *Proc) int {
	t.Helper()
	for ev := range p.Events() {
		if ev.Event == EventStart {
			var pid struct {
				PID int `json:"pid"`
			}
			if err := json.Unmarshal(ev.Raw, &pid); err != nil || pid.PID <= 0 {
				t.Fatalf("start event %s", ev.Raw)
			}
			return pid.PID
		}
	}
	t.Fatalf("no start event; stderr: %s", p.Stderr())
	return 0
}

// dying reports whether pid is gone, a zombie, exiting, or has SIGKILL pending.
func dying(pid int) bool {
	if gone(pid) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(stat)[strings.LastIndexByte(string(stat), ')')+1:])
	if flags, err := strconv.ParseUint(f[6], 10, 64); err == nil && flags&0x4 != 0 { // PF_EXITING
		return true
	}
	status, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, line := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "SigPnd" || k == "ShdPnd" {
			if mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err == nil && mask&(1<<(syscall.SIGKILL-1)) != 0 {
				return true
			}
		}
	}
	return false
}

func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	// A zombie has exited; only its parent's wait is missing.
	return err != nil || strings.Contains(string(b), ") Z ")
}

// A forked probe is a process of its own: its own pid and process group, the real URL from
// its environment and the redacted one on disk, its events, and its exit status.
func TestForkedProbeIsItsOwnProcess(t *testing.T) {
	s := serveStandIn(t)
	dir := t.TempDir()
	url := "postgres://u:s3cret@127.0.0.1:5/db"
	p, err := s.Start(context.Background(), Spec{DatabaseURL: url, Kind: "k", Steps: []Step{{Op: OpSleep, MS: 1}}, Exit: ExitNormal}, dir, "w")
	if err != nil {
		t.Fatal(err)
	}
	pid := startPID(t, p)
	if pid == s.PID || pid == os.Getpid() {
		t.Fatalf("probe pid %d: the server is %d", pid, s.PID)
	}
	if pgid, err := syscall.Getpgid(pid); err == nil && pgid != pid {
		t.Errorf("probe %d is in process group %d, not its own", pid, pgid)
	}
	evs, err := p.Wait(context.Background())
	if err != nil {
		t.Fatalf("wait: %v; stderr: %s", err, p.Stderr())
	}
	if last := evs[len(evs)-1]; last.Event != EventDone {
		t.Fatalf("events %+v", evs)
	}
	spec, _ := os.ReadFile(filepath.Join(dir, "w.spec.json"))
	if strings.Contains(string(spec), "s3cret") {
		t.Errorf("the spec on disk holds the password:\n%s", spec)
	}

	// A broken spec: the probe's fatal event and its exit status 2 come back.
	p, err = s.Start(context.Background(), Spec{Kind: "k", Steps: []Step{{Op: "nonsense"}}}, dir, "bad")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Finish(context.Background(), p, dir)
	var ee *ExitError
	if _, werr := p.Wait(context.Background()); !errors.As(werr, &ee) || ee.Code != 2 {
		t.Fatalf("exit %v, want status 2", werr)
	}
	if err == nil || !strings.Contains(err.Error(), "fatal") {
		t.Fatalf("Finish: %v", err)
	}
}

// Kill, a cancelled context and the server's Close each end a running forked probe.
func TestForkedProbeKilled(t *testing.T) {
	s := serveStandIn(t)
	long := Spec{DatabaseURL: "postgres://x@127.0.0.1:1/db", Kind: "k", Steps: []Step{{Op: OpSleep, MS: 600_000}}}

	p, err := s.Start(context.Background(), long, t.TempDir(), "killed")
	if err != nil {
		t.Fatal(err)
	}
	pid := startPID(t, p)
	p.Kill()
	if !dying(pid) {
		t.Fatalf("probe %d neither gone nor dying when Kill returned: the kill must be sent before it returns (a probe killed mid-job must not run on)", pid)
	}
	ended(t, p, "its Kill")
	var ee *ExitError
	if _, err := p.Wait(context.Background()); !errors.As(err, &ee) || ee.Code != -int(syscall.SIGKILL) || err.Error() != "signal: killed" {
		t.Fatalf("Kill: wait %v, want signal: killed", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	p, err = s.Start(ctx, long, t.TempDir(), "cancelled")
	if err != nil {
		t.Fatal(err)
	}
	startPID(t, p)
	cancel()
	ended(t, p, "its context was cancelled")

	p, err = s.Start(context.Background(), long, t.TempDir(), "orphan")
	if err != nil {
		t.Fatal(err)
	}
	pid = startPID(t, p)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := poll.Until(context.Background(), 30*time.Second, 20*time.Millisecond, nil, func() (bool, error) { return gone(pid), nil }); err != nil {
		t.Fatalf("probe %d outlived its fork server's Close", pid)
	}
	ended(t, p, "the server's Close")
}

func ended(t *testing.T, p *Proc, after string) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second): // only a fault takes this long
		t.Fatalf("probe %s still running 30 s after %s", p.Name, after)
	}
}

// A socket folder whose owner is gone (an awacompat SIGKILLed with its server) goes when the
// next server starts; a live owner's stays.
func TestServeForksSweepsAbandonedFolders(t *testing.T) {
	host, _ := os.Hostname()
	self, err := proc.Self()
	if err != nil {
		t.Fatal(err)
	}
	dead := proc.Owner{Host: host, PID: self.PID, Start: self.Start + "0"} // this pid, another start: gone
	mk := func(o proc.Owner) string {
		dir, err := os.MkdirTemp("", forksPattern)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		os.WriteFile(filepath.Join(dir, "owner"), []byte(o.String()+"\n"), 0o600)
		return dir
	}
	abandoned, live := mk(dead), mk(self)
	serveStandIn(t)
	if _, err := os.Stat(abandoned); !os.IsNotExist(err) {
		t.Errorf("the abandoned folder %s is still there (%v)", abandoned, err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("the live owner's folder went: %v", err)
	}
}

// A bad request gets an error and leaves the server serving.
func TestForkServerSurvivesABadRequest(t *testing.T) {
	s := serveStandIn(t)
	conn, err := net.Dial("unix", s.sock)
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("{\"argv\": 1}\n"))
	reply, _ := io.ReadAll(conn)
	conn.Close()
	if !strings.Contains(string(reply), `"error"`) {
		t.Errorf("reply %q, want an error", reply)
	}
	dir := t.TempDir()
	p, err := s.Start(context.Background(), Spec{DatabaseURL: "postgres://x@127.0.0.1:1/db", Kind: "k", Steps: []Step{{Op: OpSleep, MS: 1}}}, dir, "after")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Finish(context.Background(), p, dir); err != nil {
		t.Fatalf("the probe after a bad request: %v", err)
	}
}
