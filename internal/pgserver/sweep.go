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
)

// staleAfter is how old a leftover directory without an owner record must be before a sweep
// considers it: far longer than any Start takes, so a directory another process is still
// initialising is never touched.
const staleAfter = time.Hour

// ownerName is the file in a server directory that names the process that owns it: its pid and
// that process's start time (so a recycled pid is not mistaken for the owner).
const ownerName = "owner"

// writeOwner records this process as the owner of dir.
func writeOwner(dir string) error {
	start, err := processStart(os.Getpid())
	if err != nil {
		return fmt.Errorf("record owner: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, ownerName), []byte(fmt.Sprintf("%d %s\n", os.Getpid(), start)), 0o644)
}

// ownerGone reports whether dir's owner record names a process that is gone (no such pid, or
// a pid now used by a process that started at another time). No record: unknown, false.
func ownerGone(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, ownerName))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return false
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return false
	}
	start, err := processStart(pid)
	return err != nil || start != f[1]
}

// processStart is the start time of pid in clock ticks since boot (field 22 of
// /proc/PID/stat), which with the pid names one process for the machine's uptime.
func processStart(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	// The command name (field 2) is in parentheses and may hold spaces; count after it.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return "", fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b)[i+1:])
	if len(f) < 20 {
		return "", fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return f[19], nil
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
// exists. No file means no server.
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
	err = syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
