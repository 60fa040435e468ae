package pgserver

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	procs "github.com/awacompat/awacompat/internal/proc"
)

func TestSweepStale(t *testing.T) {
	parent := t.TempDir()
	mk := func(name string, age time.Duration, pid int) string {
		dir := filepath.Join(parent, name)
		os.MkdirAll(filepath.Join(dir, dataName), 0o755)
		if pid != 0 {
			os.WriteFile(filepath.Join(dir, dataName, "postmaster.pid"), []byte(strconv.Itoa(pid)+"\n/data\n"), 0o644)
		}
		old := time.Now().Add(-age)
		os.Chtimes(dir, old, old)
		return dir
	}
	dead := mk("awacompat-pg-dead", 2*time.Hour, 0x7ffffff0)  // a pid no process has
	noPid := mk("awacompat-pg-nopid", 2*time.Hour, 0)         // killed before postgres wrote its pid
	live := mk("awacompat-pg-live", 2*time.Hour, os.Getpid()) // a live process holds it
	young := mk("awacompat-pg-young", time.Minute, 0)         // maybe still initialising
	other := filepath.Join(parent, "someone-else")
	os.MkdirAll(other, 0o755)
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(other, old, old)

	removed := sweepStale(parent, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if len(removed) != 2 {
		t.Errorf("removed %v, want the dead and the pid-less directories", removed)
	}
	for dir, want := range map[string]bool{dead: false, noPid: false, live: true, young: true, other: true} {
		_, err := os.Stat(dir)
		if got := err == nil; got != want {
			t.Errorf("%s exists=%v, want %v", filepath.Base(dir), got, want)
		}
	}
}

// A directory whose owner record names a process that is gone is swept at once, however
// young; one whose owner lives (this test), or whose record names a live pid that started at
// another time (a recycled pid: gone), is judged by the record, not by its age.
func TestSweepByOwner(t *testing.T) {
	parent := t.TempDir()
	mk := func(name, owner string) string {
		dir := filepath.Join(parent, name)
		os.MkdirAll(filepath.Join(dir, dataName), 0o755)
		os.WriteFile(filepath.Join(dir, ownerName), []byte(owner), 0o644)
		return dir
	}
	self, err := procs.Self()
	if err != nil {
		t.Fatal(err)
	}
	gone := mk("awacompat-pg-gone", procs.Owner{Host: self.Host, PID: 2147483000, Start: "12345"}.String())
	mine := mk("awacompat-pg-mine", self.String())
	recycled := mk("awacompat-pg-recycled", procs.Owner{Host: self.Host, PID: self.PID, Start: "1"}.String())
	elsewhere := mk("awacompat-pg-elsewhere", procs.Owner{Host: "another-host", PID: 2147483000, Start: "1"}.String())
	old := time.Now().Add(-time.Minute)
	os.Chtimes(elsewhere, old, old)
	removed := sweepStale(parent, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if len(removed) != 2 {
		t.Errorf("removed %v, want the gone and the recycled owners' directories", removed)
	}
	for dir, want := range map[string]bool{gone: false, recycled: false, mine: true, elsewhere: true} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("%s exists=%v, want %v", filepath.Base(dir), err == nil, want)
		}
	}
}
