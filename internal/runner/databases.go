package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
)

// DBPrefix starts the name of every database awacompat creates; it drops nothing else.
const DBPrefix = "awacompat_"

// databases creates and drops the run's databases, and remembers them so that cleanup after a
// failure or Ctrl-C drops exactly what this run created.
type databases struct {
	srv    Server
	prefix string // DBPrefix + run id + "_"

	mu      sync.Mutex
	created map[string]bool
	// cloneMu serialises CREATE DATABASE ... TEMPLATE: PostgreSQL refuses to copy a template
	// while another session is connected to it, including another copy in progress.
	cloneMu sync.Mutex
}

func newDatabases(srv Server) *databases {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &databases{srv: srv, prefix: DBPrefix + hex.EncodeToString(b) + "_", created: map[string]bool{}}
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
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
		d.cloneMu.Lock()
		defer d.cloneMu.Unlock()
	}
	d.mu.Lock()
	d.created[name] = true // before the CREATE: a cancelled CREATE may still have committed
	d.mu.Unlock()
	if _, err := conn.Exec(ctx, sql); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return name, nil
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

// forget keeps a database (--keep-failed): cleanup will not drop it.
func (d *databases) forget(name string) {
	d.mu.Lock()
	delete(d.created, name)
	d.mu.Unlock()
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
