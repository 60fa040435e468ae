package pgserver

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	procs "github.com/awacompat/awacompat/internal/proc"
)

// staleAfter is how old a leftover directory without an owner record must be before a sweep
// considers it: far longer than any Start takes, so a directory another process is still
// initialising is never touched.
const staleAfter = time.Hour

// ownerName is the file in a server directory that names the process that owns it
// (proc.Owner: host, pid and start time, so a recycled pid is not mistaken for the owner).
const ownerName = "owner"

// writeOwner records this process as the owner of dir.
func writeOwner(dir string) error {
	self, err := procs.Self()
	if err != nil {
		return fmt.Errorf("record owner: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, ownerName), []byte(self.String()+"\n"), 0o644)
}

// ownerGone reports whether dir's owner record names a process that is gone. No record (a
// directory of an older awacompat): unknown, false.
func ownerGone(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, ownerName))
	if err != nil {
		return false
	}
	o, ok := procs.ParseOwner(string(b))
	return ok && o.Gone()
}

// sweepStale removes the directories of servers whose owner was killed without stopping them
// (pdeathsig took the postmaster down, but nothing removed its files; on tmpfs they hold
// memory). A directory goes when no live process holds its postmaster.pid and either its
// owner record names a process that is gone (at once) or, without a record, it is older
// than staleAfter. It returns the directories it removed.
func sweepStale(parent string, log *slog.Logger) []string {
	matches, _ := filepath.Glob(filepath.Join(parent, tempPattern))
	var removed []string
	for _, dir := range matches {
		st, err := os.Stat(dir)
		if err != nil || !st.IsDir() {
			continue
		}
		if !ownerGone(dir) && time.Since(st.ModTime()) < staleAfter {
			continue
		}
		if postmasterAlive(filepath.Join(dir, dataName, "postmaster.pid")) {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			log.Warn("sweep: could not remove a stale server directory", "dir", dir, "err", err)
			continue
		}
		log.Info("sweep: removed a stale server directory", "dir", dir)
		removed = append(removed, dir)
	}
	return removed
}

// postmasterAlive reads the pid on the first line of postmaster.pid and checks the process
// exists and is not a zombie (a killed postmaster whose new parent has not reaped it yet).
// No file means no server.
func postmasterAlive(pidFile string) bool {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && err != syscall.EPERM {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no /proc: trust kill
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || !strings.HasPrefix(strings.TrimSpace(string(stat)[i+1:]), "Z")
}
