package pinned

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The cache lock excludes other processes, not only goroutines: a child process holding it
// makes us wait until it lets go.
func TestLockExcludesOtherProcesses(t *testing.T) {
	if os.Getenv("AWACOMPAT_LOCK_CHILD") != "" {
		release := lockFile(os.Getenv("AWACOMPAT_LOCK_CHILD"))
		os.Stdout.WriteString("locked\n")
		time.Sleep(700 * time.Millisecond)
		release()
		return
	}
	key := filepath.Join(t.TempDir(), "artifact")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestLockExcludesOtherProcesses$")
	cmd.Env = append(os.Environ(), "AWACOMPAT_LOCK_CHILD="+key+".lock")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	if !strings.Contains(string(buf[:n]), "locked") {
		t.Fatalf("child did not take the lock: %q", buf[:n])
	}
	start := time.Now()
	c := &Cache{}
	unlock := c.lock(key)
	waited := time.Since(start)
	unlock()
	cmd.Wait()
	if waited < 300*time.Millisecond {
		t.Fatalf("took the lock after %s while another process held it", waited)
	}
}
