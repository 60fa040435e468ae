package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"testing"
	"time"

	"github.com/awacompat/awacompat/internal/pgserver"
	"github.com/jackc/pgx/v5"
)

// awacompat itself SIGKILLed (nothing of it can clean up): its probes die with it, and the next
// run removes what it left, the databases on a shared server (--pg-url) and an embedded
// server's directory, and nothing else.
func TestSIGKILLedRunIsCleanedUp(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real awa wheels against PostgreSQL")
	}
	ctx := context.Background()
	bin := filepath.Join(t.TempDir(), "awacompat")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	srv, err := pgserver.Start(ctx, pgserver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	admin, err := pgx.Connect(ctx, srv.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE bystander"); err != nil {
		t.Fatal(err)
	}
	// A database named like ours but with no owner record (another tool, an older run) must
	// survive every sweep.
	if _, err := admin.Exec(ctx, "CREATE DATABASE awacompat_unowned"); err != nil {
		t.Fatal(err)
	}
	// A database an earlier run kept for inspection (--keep-failed) is the user's now.
	for _, sql := range []string{"CREATE DATABASE awacompat_kept", "COMMENT ON DATABASE awacompat_kept IS 'awacompat: kept for inspection (--keep-failed), cell x'"} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	ours := func() []string {
		rows, _ := admin.Query(ctx, `SELECT datname FROM pg_database WHERE starts_with(datname, 'awacompat_') ORDER BY 1`)
		names, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		return names
	}

	only := []string{"--only", "scenario=lifecycle,schema_path=fresh,producer=py-*,worker=py-*", "--skip", "artifact=py-0.6.0"}
	out := t.TempDir()
	cmd := exec.Command(bin, append([]string{"run", "../../matrix.yaml", "--out", out, "--parallel", "1", "--pg-url", srv.URL("postgres")}, only...)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.Contains(sc.Text(), "[1/8]") {
	}
	waitForSecondCell(t, out)
	cmd.Process.Kill()
	cmd.Wait()
	// The probes die with their parent (parent-death signal), at once rather than when their
	// stdin closes and their worker's shutdown ends.
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := processesMentioning(out)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("probes still running 5s after awacompat was killed: %v", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
	left := ours()
	if len(left) < 4 {
		t.Fatalf("the killed run left %v; want its template and cell databases besides awacompat_kept and awacompat_unowned", left)
	}

	// The next run against the same server drops exactly the dead run's databases.
	code, stdout, errOut := runCLI(t, "run", "../../matrix.yaml", "--out", t.TempDir(), "--pg-url", srv.URL("postgres"), "--only", "id=canonical.fresh.lifecycle.producer=py-0.6.9.worker=py-0.6.9")
	if code != exitOK {
		t.Fatalf("second run: exit %d\n%s\n%s", code, stdout, errOut)
	}
	if got := ours(); strings.Join(got, ",") != "awacompat_kept,awacompat_unowned" {
		t.Errorf("awacompat databases after the sweep: %v, want only awacompat_kept and awacompat_unowned", got)
	}
	var n int
	admin.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = 'bystander'").Scan(&n)
	if n != 1 {
		t.Error("the bystander database was dropped")
	}

	// An embedded run killed after its server started leaves the server's directory; the next
	// embedded start removes it at once (its owner is gone), not an hour later.
	cmd = exec.Command(bin, append([]string{"run", "../../matrix.yaml", "--out", t.TempDir()}, only...)...)
	stderr, _ = cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc = bufio.NewScanner(stderr)
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "postgres ready") {
			break
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	dir := serverDir(t, log.String())
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the killed run's server directory is already gone (%v): the test proves nothing", err)
	}
	// Its postmaster dies of the parent-death signal; the next start comes after that, as a
	// next run would.
	waitProcessGone(t, filepath.Join(dir, "data", "postmaster.pid"))
	next, err := pgserver.Start(ctx, pgserver.Config{})
	if err != nil {
		t.Fatal(err)
	}
	next.Stop(ctx)
	assertGone(t, dir)
}

// waitProcessGone waits until the process named on the first line of pidFile has exited.
func waitProcessGone(t *testing.T, pidFile string) {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	line, _, _ := strings.Cut(string(b), "\n")
	needle := []byte(strings.TrimSpace(line))
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		stat, err := os.ReadFile("/proc/" + string(needle) + "/stat")
		if err != nil || bytes.Contains(stat, []byte(") Z ")) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("postmaster %s still running 30s after its owner was killed", needle)
}

// processesMentioning lists the command lines that contain s.
func processesMentioning(s string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(s)) {
			out = append(out, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}
