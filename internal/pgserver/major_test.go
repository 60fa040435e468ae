package pgserver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/awacompat/awacompat/internal/pgbin"
	"github.com/jackc/pgx/v5"
)

// binCache is where the tests keep portable builds: awacompat's own cache (AWACOMPAT_CACHE,
// XDG_CACHE_HOME or ~/.cache/awacompat), so a run and the tests download each build once.
func binCache() string {
	if d := os.Getenv("AWACOMPAT_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "awacompat")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "awacompat")
}

// TestMajors starts a server of majors other than the installed one from their portable
// builds (downloaded and verified on first use), and checks each is the major asked for.
func TestMajors(t *testing.T) {
	requireServer(t)
	for _, major := range []int{14, 17} {
		t.Run(fmt.Sprint(major), func(t *testing.T) {
			ctx := t.Context()
			s, err := Start(ctx, Config{Major: major, Bin: pgbin.Config{Cache: binCache(), SkipInstalled: true}, Log: testLog(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Stop(context.Background())
			if s.Version() != major {
				t.Errorf("Version() = %d; want %d", s.Version(), major)
			}
			if !strings.HasPrefix(s.Origin(), "maven io.zonky.test.postgres:") {
				t.Errorf("Origin() = %q; want the portable build", s.Origin())
			}
			conn, err := pgx.Connect(ctx, s.URL("postgres"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			var num int
			if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&num); err != nil {
				t.Fatal(err)
			}
			if num/10000 != major {
				t.Errorf("server_version_num %d; want major %d", num, major)
			}
			dir := s.dir
			if err := s.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("%s still there after Stop (%v)", dir, err)
			}
		})
	}
}
