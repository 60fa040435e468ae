package container_test

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/awacompat/awacompat/internal/container"
	"github.com/awacompat/awacompat/internal/pgbin"
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
