package runner

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/awacompat/awacompat/internal/pgbin"
	"github.com/awacompat/awacompat/internal/pgserver"
	"github.com/awacompat/awacompat/internal/redact"
	"github.com/awacompat/awacompat/internal/results"
	"github.com/jackc/pgx/v5"
)

// Server is a PostgreSQL server the run creates its databases on.
type Server interface {
	// URL returns a connection string for database db.
	URL(db string) string
	// Mode is "embedded", "url" or "container".
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

// Provisioner yields the servers a run creates its databases on. Postgres is the one
// implementation (an embedded server per major, a container, or an existing one by URL); the
// interface keeps the runner's scheduling and reporting apart from how a server came to be.
type Provisioner interface {
	// Provision starts (or connects to) the server of a PostgreSQL major; 0 is the run's one
	// server when the matrix names no versions.
	Provision(ctx context.Context, major int) (Server, error)
}

// Postgres provisions embedded local servers, containers of Image, or uses URL when set.
type Postgres struct {
	// URL of an existing server; empty starts one per major.
	URL string
	// Image starts each server in a container of this image ({major} replaced by the major)
	// instead of an embedded one.
	Image string
	// Bin finds (and fetches into its Cache) the binaries of a major for embedded servers.
	Bin pgbin.Config
	// Containers starts container servers (required with Image).
	Containers ContainerServers
	Log        *slog.Logger
}

// ContainerServers start PostgreSQL in a container; internal/container implements it.
type ContainerServers interface {
	StartPostgres(ctx context.Context, image string) (ContainerServer, error)
}

// ContainerServer is a PostgreSQL server in a container.
type ContainerServer interface {
	URL(db string) string
	Alive(ctx context.Context) error
	Stop(ctx context.Context) error
	Image() string
}

// Provision implements Provisioner.
func (p Postgres) Provision(ctx context.Context, major int) (Server, error) {
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
	if p.Image != "" {
		image := strings.ReplaceAll(p.Image, "{major}", strconv.Itoa(major))
		if p.Containers == nil {
			return nil, fmt.Errorf("start postgres in a container of %s: no container engine configured", image)
		}
		cs, err := p.Containers.StartPostgres(ctx, image)
		if err != nil {
			return nil, err
		}
		return &containerServer{cs: cs}, nil
	}
	srv, err := pgserver.Start(ctx, pgserver.Config{Major: major, Bin: p.Bin, Log: p.Log})
	if err != nil {
		if major != 0 {
			return nil, fmt.Errorf("start embedded PostgreSQL %d: %w", major, err)
		}
		return nil, fmt.Errorf("start embedded postgres: %w", err)
	}
	return &embedded{srv: srv}, nil
}

// Origin says where a server came from, for results.json.
func Origin(s Server) string {
	switch s := s.(type) {
	case *embedded:
		return s.srv.Origin()
	case *containerServer:
		return "image " + s.cs.Image()
	}
	return ""
}

// serverCPU is the CPU a server used, for results.json: known for an embedded server once it
// has stopped, zero for one awacompat did not start (a URL, a container).
func serverCPU(s Server) time.Duration {
	if e, ok := s.(*embedded); ok {
		return e.srv.CPU()
	}
	return 0
}

type containerServer struct {
	cs   ContainerServer
	once sync.Once
}

func (c *containerServer) URL(db string) string            { return c.cs.URL(db) }
func (c *containerServer) Mode() string                    { return "container" }
func (c *containerServer) Alive(ctx context.Context) error { return c.cs.Alive(ctx) }
func (c *containerServer) BinDir() string                  { return "" }
func (c *containerServer) Close(ctx context.Context) error {
	var err error
	c.once.Do(func() { err = c.cs.Stop(ctx) })
	return err
}

type embedded struct {
	srv  *pgserver.Server
	once sync.Once
}

func (e *embedded) URL(db string) string        { return e.srv.URL(db) }
func (e *embedded) Mode() string                { return "embedded" }
func (e *embedded) Alive(context.Context) error { return e.srv.Alive() }

// BinDir is the server's own folder when it has pg_dump (an installed package), else the
// installed tools when they are as new as the server (pg_dump reads older servers), else ""
// (a portable build has no pg_dump: its templates are built, never restored).
func (e *embedded) BinDir() string {
	if hasDumpTools(e.srv.BinDir()) {
		return e.srv.BinDir()
	}
	if dir, v, err := pgserver.Discover(); err == nil && v >= e.srv.Version() && hasDumpTools(dir) {
		return dir
	}
	return ""
}

func hasDumpTools(dir string) bool {
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := os.Stat(filepath.Join(dir, tool)); err != nil {
			return false
		}
	}
	return true
}
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

// server is one provisioned server of the run and the databases made on it.
type server struct {
	srv     Server
	dbs     *databases
	major   int
	version string // SHOW server_version
}

// server returns the server of a PostgreSQL major (provisioned before anything uses it).
func (r *run) server(major int) *server { return r.servers[major] }

// provision starts (or connects to) one server per major the plan's cells run on, in order,
// and records each; the first failure stops it (what was started is closed by Run).
func (r *run) provision(ctx context.Context) error {
	if len(r.cfg.Plan.Majors) == 0 {
		r.cfg.Plan.Majors = []int{0}
	}
	for _, major := range r.cfg.Plan.Majors {
		start := time.Now()
		r.cfg.Log.Info("provisioning postgres", "major", major)
		srv, err := r.cfg.Provisioner.Provision(ctx, major)
		if err != nil {
			return err
		}
		sv := &server{srv: srv, dbs: newDatabases(srv), major: major}
		r.servers[major] = sv
		if srv.Mode() == "url" {
			dropped, err := sv.dbs.sweepAbandoned(ctx)
			if err != nil {
				r.cfg.Log.Warn("sweeping abandoned databases", "err", err)
			}
			for _, name := range dropped {
				r.cfg.Log.Info("dropped the database of a run that died without cleaning up", "database", name)
			}
		}
		rec := results.Postgres{Mode: srv.Mode(), URL: redact.URL(srv.URL(adminDB(srv))), Major: major, Origin: Origin(srv)}
		if v, err := serverVersion(ctx, srv); err == nil {
			rec.Version, sv.version = v, v
		}
		rec.StartMS = time.Since(start).Milliseconds()
		r.cfg.Log.Info("server ready", "major", major, "version", rec.Version, "origin", rec.Origin, "took", time.Since(start).Round(time.Millisecond))
		if major == 0 {
			r.res.Postgres = rec
			continue
		}
		if len(r.res.Servers) == 0 {
			r.res.Postgres = rec
		}
		r.res.Servers = append(r.res.Servers, rec)
	}
	return nil
}
