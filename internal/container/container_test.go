package container_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/awacompat/awacompat/internal/container"
	"github.com/awacompat/awacompat/internal/pgbin"
	"github.com/awacompat/awacompat/internal/proc"
	"github.com/awacompat/awacompat/internal/testimages"
	"github.com/jackc/pgx/v5"
)

// engine connects to the Docker engine, or skips the test saying why (never silently).
func engine(t *testing.T) *container.Engine {
	t.Helper()
	e, err := container.Connect(t.Context(), slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Skipf("container tests skipped: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return e
}

func cacheRoot() string {
	if d := os.Getenv("AWACOMPAT_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "awacompat")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "awacompat")
}

// leftovers lists containers and volumes (docker CLI, a view independent of the engine
// client under test).
func leftovers(t *testing.T, label string) (containers, volumes string) {
	t.Helper()
	c, err := exec.Command("docker", "ps", "-aq", "--filter", "label="+label).Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	v, err := exec.Command("docker", "volume", "ls", "-q").Output()
	if err != nil {
		t.Fatalf("docker volume ls: %v", err)
	}
	return strings.TrimSpace(string(c)), strings.TrimSpace(string(v))
}

// TestPostgresContainer starts PostgreSQL 17 from a locally built image (the portable build,
// FROM scratch), checks the major and that a password is required, and that stopping it
// leaves no container or volume.
func TestPostgresContainer(t *testing.T) {
	e := engine(t)
	ctx := t.Context()
	bin, err := pgbin.Find(ctx, 17, pgbin.Config{Cache: cacheRoot(), SkipInstalled: true})
	if err != nil {
		t.Fatal(err)
	}
	image, err := testimages.Postgres(ctx, e, bin.BinDir)
	if err != nil {
		t.Fatal(err)
	}
	_, volsBefore := leftovers(t, container.LabelRun+"="+e.Run())
	p, err := e.StartPostgres(ctx, image)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		p.Stop(context.Background())
		t.Fatal(err)
	}
	var num int
	err = conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&num)
	conn.Close(ctx)
	if err != nil || num/10000 != 17 {
		t.Errorf("server_version_num %d (%v); want 17xxxx", num, err)
	}
	u, _ := url.Parse(p.URL("postgres"))
	u.User = url.User("postgres")
	if c, err := pgx.Connect(ctx, u.String()); err == nil {
		c.Close(ctx)
		t.Error("connected without the password")
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	cs, vols := leftovers(t, container.LabelRun+"="+e.Run())
	if cs != "" || vols != volsBefore {
		t.Errorf("left behind: containers %q, volumes %q (before %q)", cs, vols, volsBefore)
	}
}

// TestMissingImage: an image that is neither local nor pullable is a clear error naming it.
func TestMissingImage(t *testing.T) {
	e := engine(t)
	const image = "awacompat-test/no-such-image:missing"
	_, err := e.StartPostgres(t.Context(), image)
	if err == nil || !strings.Contains(err.Error(), image) || !strings.Contains(err.Error(), "not present on the Docker engine") {
		t.Errorf("StartPostgres: %v; want an error naming the missing image", err)
	}
	_, err = e.Version(t.Context(), image, container.ClientPython)
	if err == nil || !strings.Contains(err.Error(), "not present on the Docker engine") {
		t.Errorf("Version: %v; want an error naming the missing image", err)
	}
	if cs, _ := leftovers(t, container.LabelRun+"="+e.Run()); cs != "" {
		t.Errorf("left behind: %s", cs)
	}
}

// TestRemoveCellKillsOrphans: a probe container whose docker CLI was SIGKILLed (a deadline, or
// Ctrl-C) keeps running when its program does not end with its stdin (here a server); the
// cell's cleanup removes it.
func TestRemoveCellKillsOrphans(t *testing.T) {
	e := engine(t)
	ctx := t.Context()
	bin, err := pgbin.Find(ctx, 17, pgbin.Config{Cache: cacheRoot(), SkipInstalled: true})
	if err != nil {
		t.Fatal(err)
	}
	image, err := testimages.Postgres(ctx, e, bin.BinDir)
	if err != nil {
		t.Fatal(err)
	}
	argv := append(e.RunArgv("cell-1", "POSTGRES_PASSWORD"), image, "postgres", "-p", "5499")
	cmd := proc.Command(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "POSTGRES_PASSWORD=x")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	label := container.LabelCell + "=" + e.Run() + "/cell-1"
	running := func() string {
		out, _ := exec.Command("docker", "ps", "-q", "--filter", "label="+label).Output()
		return strings.TrimSpace(string(out))
	}
	deadline := time.Now().Add(60 * time.Second)
	for running() == "" {
		if time.Now().After(deadline) {
			proc.KillGroup(cmd)
			t.Fatal("the container did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	proc.KillGroup(cmd)
	cmd.Wait()
	// The CLI is gone; the container is not.
	if running() == "" {
		t.Fatal("the container ended with its CLI: nothing to prove")
	}
	if err := e.RemoveCell(context.Background(), "cell-1"); err != nil {
		t.Fatal(err)
	}
	if c, _ := leftovers(t, label); c != "" {
		t.Errorf("left behind: %s", c)
	}
}

// TestSweepDeadOwners: a container left by an awacompat that was SIGKILLed (its owner gone)
// is removed by the next Connect; one whose owner lives is left alone.
func TestSweepDeadOwners(t *testing.T) {
	e := engine(t)
	ctx := t.Context()
	bin, err := pgbin.Find(ctx, 17, pgbin.Config{Cache: cacheRoot(), SkipInstalled: true})
	if err != nil {
		t.Fatal(err)
	}
	image, err := testimages.Postgres(ctx, e, bin.BinDir)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	self, _ := proc.Self()
	start := func(owner string) string {
		out, err := exec.Command("docker", "run", "-d", "--label", container.LabelOwner+"="+owner,
			"-e", "POSTGRES_PASSWORD=x", image, "postgres", "-p", "5498").Output()
		if err != nil {
			t.Fatalf("docker run: %v", err)
		}
		id := strings.TrimSpace(string(out))
		t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
		return id[:12]
	}
	dead := start(fmt.Sprintf("awacompat owner host=%s pid=%d start=1", host, self.PID))
	live := start(self.String())
	e2, err := container.Connect(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close(context.Background())
	out, _ := exec.Command("docker", "ps", "-aq").Output()
	if strings.Contains(string(out), dead) {
		t.Errorf("the dead owner's container %s is still there", dead)
	}
	if !strings.Contains(string(out), live) {
		t.Errorf("the live owner's container %s was removed", live)
	}
}
