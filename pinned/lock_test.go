package pinned

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The cache lock excludes other processes, not only goroutines. A child process takes the lock
// and says so; we ask for it, and only once the kernel lists us as blocked on it (/proc/locks)
// does the child let go, writing a marker before it unlocks. Finding the marker when we get the
// lock proves we got it after the child's release; a lock that did not exclude would be taken
// at once, with no marker, and we would never be seen blocked. No step waits on a clock.
func TestLockExcludesOtherProcesses(t *testing.T) {
	if path := os.Getenv("AWACOMPAT_LOCK_CHILD"); path != "" {
		release := lockFile(path)
		os.Stdout.WriteString("locked\n")
		io.Copy(io.Discard, os.Stdin) // hold it until the test closes our stdin (or dies)
		os.WriteFile(path+".released", nil, 0o644)
		release()
		return
	}
	if _, err := os.Stat("/proc/locks"); err != nil {
		t.Skip("needs /proc/locks (Linux) to see a process blocked on a lock")
	}
	key := filepath.Join(t.TempDir(), "artifact")
	lockPath := key + ".lock"
	released := lockPath + ".released"

	cmd := exec.Command(os.Args[0], "-test.run=^TestLockExcludesOtherProcesses$", "-test.count=1")
	cmd.Env = append(os.Environ(), "AWACOMPAT_LOCK_CHILD="+lockPath)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if cmd.ProcessState == nil {
			cmd.Wait()
		}
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); line != "locked\n" {
		t.Fatalf("child did not take the lock: %q, %v", line, err)
	}
	fi, err := os.Stat(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	ino := fi.Sys().(*syscall.Stat_t).Ino

	afterRelease := make(chan bool, 1) // whether the child's release marker existed when we got the lock
	go func() {
		unlock := (&Cache{}).lock(key)
		afterRelease <- exists(released)
		unlock()
	}()

	const settle = 30 * time.Second // generous: only a fault, not a loaded machine, takes this long
	deadline := time.After(settle)
	for !blockedOnLock(t, os.Getpid(), ino) {
		select {
		case after := <-afterRelease:
			t.Fatalf("took the lock while the child held it (release marker present: %v)", after)
		case <-deadline:
			t.Fatalf("not blocked on %s after %v while the child held it", lockPath, settle)
		case <-time.After(2 * time.Millisecond):
		}
	}
	if exists(released) {
		t.Fatal("the child released the lock before it was told to")
	}
	stdin.Close() // the child writes its marker, then unlocks
	select {
	case after := <-afterRelease:
		if !after {
			t.Fatal("took the lock before the child released it")
		}
	case <-time.After(settle):
		t.Fatalf("still waiting for the lock %v after the child was told to release it", settle)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("child: %v", err)
	}
}

// blockedOnLock reports whether /proc/locks lists process pid as waiting for a flock on the
// file with inode ino. A waiter's line reads "1: -> FLOCK ADVISORY WRITE <pid> <maj:min:inode> 0 EOF".
func blockedOnLock(t *testing.T, pid int, ino uint64) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/locks")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 7 || f[1] != "->" || f[2] != "FLOCK" || f[5] != strconv.Itoa(pid) {
			continue
		}
		if i := strings.LastIndexByte(f[6], ':'); i >= 0 && f[6][i+1:] == strconv.FormatUint(ino, 10) {
			return true
		}
	}
	return false
}
