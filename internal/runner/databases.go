package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"github.com/awacompat/awacompat/internal/proc"
	"github.com/jackc/pgx/v5"
)

// DBPrefix starts the name of every database awacompat creates; it drops nothing else.
const DBPrefix = "awacompat_"

// databases creates and drops the run's databases, and remembers them so that cleanup after a
// failure or Ctrl-C drops exactly what this run created.
type databases struct {
	srv    Server
	prefix string // DBPrefix + run id + "_"
	// owner is recorded on every database as its comment, so a later run can drop the
	// databases of a run that was SIGKILLed (and only those).
	owner string

	mu      sync.Mutex
	created map[string]bool
	// cloneMu serialises the copies of one template (CREATE DATABASE ... TEMPLATE): PostgreSQL
	// refuses to copy a template while another session is connected to it, including another
	// copy in progress. Copies of different templates run at once.
	cloneMu map[string]*sync.Mutex
	// fileCopy is whether the server takes CREATE DATABASE ... STRATEGY (PostgreSQL 15 and
	// later), read once.
	fileCopy     bool
	fileCopyOnce sync.Once
}

func newDatabases(srv Server) *databases {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	d := &databases{srv: srv, prefix: DBPrefix + hex.EncodeToString(b) + "_", created: map[string]bool{}, cloneMu: map[string]*sync.Mutex{}}
	if self, err := proc.Self(); err == nil {
		d.owner = self.String()
	}
	return d
}

func (d *databases) admin(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, d.srv.URL(adminDB(d.srv)))
	if err != nil {
		return nil, fmt.Errorf("connect to the server: %w", err)
	}
	return conn, nil
}

// create makes database prefix+suffix, empty or as a copy of template (a name this run
// created), and returns its name.
func (d *databases) create(ctx context.Context, suffix, template string) (string, error) {
	name := d.prefix + suffix
	conn, err := d.admin(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	d.mu.Lock()
	d.created[name] = true // before the CREATE: a cancelled CREATE may still have committed
	mu := d.cloneMu[template]
	if mu == nil && template != "" {
		mu = &sync.Mutex{}
		d.cloneMu[template] = mu
	}
	d.mu.Unlock()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
		// A template holds every relation of awa's schema (some 1,600 with queue storage's
		// partitions). PostgreSQL 15's default copy (WAL_LOG) writes each page through the
		// WAL: 1.57 s a clone on an ext4 data directory, against 0.15 s for FILE_COPY (files
		// copied after a checkpoint). On the embedded server's tmpfs both take about 0.2 s.
		d.fileCopyOnce.Do(func() {
			var v int
			if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&v); err == nil {
				d.fileCopy = v >= 150000
			}
		})
		if d.fileCopy {
			sql += " STRATEGY FILE_COPY"
		}
		mu.Lock()
		defer mu.Unlock()
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	if d.owner != "" {
		if _, err := conn.Exec(ctx, "COMMENT ON DATABASE "+pgx.Identifier{name}.Sanitize()+" IS "+quoteLiteral(d.owner)); err != nil {
			return name, fmt.Errorf("record the owner of database %s: %w", name, err)
		}
	}
	return name, nil
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// sweepAbandoned drops the awacompat databases of runs that provably died without cleaning
// up: their comment names an owner process on this host that is gone (proc.Owner.Gone).
// Databases without such a record, of another host, or of a live run are never touched.
// It returns the names it dropped.
func (d *databases) sweepAbandoned(ctx context.Context) ([]string, error) {
	conn, err := d.admin(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT datname, COALESCE(shobj_description(oid, 'pg_database'), '')
		FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname`, DBPrefix)
	if err != nil {
		return nil, fmt.Errorf("list awacompat databases: %w", err)
	}
	type db struct{ name, comment string }
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (db, error) {
		var x db
		return x, r.Scan(&x.name, &x.comment)
	})
	if err != nil {
		return nil, fmt.Errorf("list awacompat databases: %w", err)
	}
	var dropped []string
	for _, x := range found {
		o, ok := proc.ParseOwner(x.comment)
		if !ok || !o.Gone() {
			continue
		}
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{x.name}.Sanitize()+" WITH (FORCE)"); err != nil {
			return dropped, fmt.Errorf("drop abandoned database %s: %w", x.name, err)
		}
		dropped = append(dropped, x.name)
	}
	return dropped, nil
}

// drop removes one database this run created, disconnecting its sessions first.
func (d *databases) drop(ctx context.Context, name string) error {
	d.mu.Lock()
	ours := d.created[name]
	d.mu.Unlock()
	if !ours {
		return fmt.Errorf("drop database %s: not created by this run", name)
	}
	conn, err := d.admin(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	d.mu.Lock()
	delete(d.created, name)
	d.mu.Unlock()
	return nil
}

// keep hands a database over to the user (--keep-failed): cleanup will not drop it, and its
// owner record is replaced by a note, so no later run's sweep takes it for abandoned.
func (d *databases) keep(ctx context.Context, name, cell string) error {
	d.mu.Lock()
	delete(d.created, name)
	d.mu.Unlock()
	conn, err := d.admin(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, "COMMENT ON DATABASE "+pgx.Identifier{name}.Sanitize()+" IS "+quoteLiteral("awacompat: kept for inspection (--keep-failed), cell "+cell))
	return err
}

// dropAll drops every database this run created and has not dropped or kept.
func (d *databases) dropAll(ctx context.Context) error {
	d.mu.Lock()
	var names []string
	for n := range d.created {
		names = append(names, n)
	}
	d.mu.Unlock()
	var first error
	for _, n := range names {
		if err := d.drop(ctx, n); err != nil && first == nil {
			first = err
		}
	}
	return first
}
