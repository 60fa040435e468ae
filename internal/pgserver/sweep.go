package pgserver

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// staleAfter is how old a leftover directory must be before a sweep considers it: far longer
// than any Start takes, so a directory another process is still initialising is never touched.
const staleAfter = time.Hour

// sweepStale removes the directories of servers whose owner was killed without stopping them
// (pdeathsig took the postmaster down, but nothing removed its files; on tmpfs they hold
// memory). A directory goes only when it is older than staleAfter and no live process holds
// its postmaster.pid. It returns the directories it removed.
func sweepStale(parent string, log *slog.Logger) []string {
	matches, _ := filepath.Glob(filepath.Join(parent, tempPattern))
	var removed []string
	for _, dir := range matches {
		st, err := os.Stat(dir)
		if err != nil || !st.IsDir() || time.Since(st.ModTime()) < staleAfter {
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
