package runner

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/awacompat/awacompat/internal/pgserver"
	"github.com/awacompat/awacompat/internal/redact"
	"github.com/jackc/pgx/v5"
)

// Server is a PostgreSQL server the run creates its databases on.
type Server interface {
	// URL returns a connection string for database db.
	URL(db string) string
	// Mode is "embedded" or "url".
	Mode() string
	// Close stops what Provision started (an embedded server); it never drops anything it
	// did not create.
	Close(ctx context.Context) error
	// Alive reports an error once the server is gone (its postmaster exited, or it no
	// longer accepts connections): from then on the run's cells say nothing about awa.
	Alive(ctx context.Context) error
	// BinDir is a folder with pg_dump and pg_restore fit for the server ("" when none is
	// known: templates are then always built, never restored).
	BinDir() string
}

// Provisioner yields the server a run creates its databases on. Postgres is the one
// implementation (the embedded server, or an existing one by URL); the interface keeps the
// runner's scheduling and reporting apart from how the server came to be.
type Provisioner interface {
	Provision(ctx context.Context) (Server, error)
}

// Postgres provisions the embedded local server, or uses URL when set.
type Postgres struct {
	// URL of an existing server; empty starts the embedded one.
	URL string
	Log *slog.Logger
}

// Provision implements Provisioner.
func (p Postgres) Provision(ctx context.Context) (Server, error) {
	if p.URL != "" {
		u, err := url.Parse(p.URL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return nil, fmt.Errorf("postgres url: want a URL like postgres://USER@HOST:PORT/DB")
		}
		s := &urlServer{base: u}
		conn, err := pgx.Connect(ctx, p.URL)
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", redact.URL(p.URL), err)
		}
		conn.Close(ctx)
		return s, nil
	}
	srv, err := pgserver.Start(ctx, pgserver.Config{Log: p.Log})
	if err != nil {
		return nil, fmt.Errorf("start embedded postgres: %w", err)
	}
	return &embedded{srv: srv}, nil
}

type embedded struct {
	srv  *pgserver.Server
	once sync.Once
}

func (e *embedded) URL(db string) string        { return e.srv.URL(db) }
func (e *embedded) Mode() string                { return "embedded" }
func (e *embedded) Alive(context.Context) error { return e.srv.Alive() }
func (e *embedded) BinDir() string              { return e.srv.BinDir() }
func (e *embedded) Close(ctx context.Context) error {
	var err error
	e.once.Do(func() { err = e.srv.Stop(ctx) })
	return err
}

type urlServer struct{ base *url.URL }

func (s *urlServer) URL(db string) string {
	u := *s.base
	u.Path = "/" + db
	return u.String()
}
func (s *urlServer) Mode() string                    { return "url" }
func (s *urlServer) Close(ctx context.Context) error { return nil }

// BinDir is the newest installed server release's, which restores into older servers too; a
// server newer than it is left to build its templates.
func (s *urlServer) BinDir() string {
	dir, _, err := pgserver.Discover()
	if err != nil {
		return ""
	}
	return dir
}

func (s *urlServer) Alive(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL(adminDB(s)))
	if err != nil {
		return fmt.Errorf("the server at %s stopped answering: %w", redact.URL(s.base.String()), err)
	}
	return conn.Close(ctx)
}

// adminDB is the database the runner connects to for CREATE/DROP DATABASE.
func adminDB(s Server) string {
	if u, ok := s.(*urlServer); ok {
		if db := strings.TrimPrefix(u.base.Path, "/"); db != "" {
			return db
		}
	}
	return "postgres"
}

// serverVersion reads SHOW server_version.
func serverVersion(ctx context.Context, s Server) (string, error) {
	conn, err := pgx.Connect(ctx, s.URL(adminDB(s)))
	if err != nil {
		return "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var v string
	err = conn.QueryRow(ctx, "SHOW server_version").Scan(&v)
	return v, err
}
