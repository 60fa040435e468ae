package container

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"time"

	"github.com/awacompat/awacompat/internal/poll"
	"github.com/awacompat/awacompat/internal/proc"
	"github.com/jackc/pgx/v5"
	mcontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// postgresReady bounds how long StartPostgres waits for the server to accept connections
// (the official image runs initdb first).
const postgresReady = 90 * time.Second

// Postgres is a PostgreSQL server in a container, reached on a port of 127.0.0.1 mapped to the
// container's 5432. Its superuser is postgres with a random password (never printed).
type Postgres struct {
	e        *Engine
	c        testcontainers.Container
	image    string
	port     string
	password string
}

// StartPostgres starts image the way the official postgres images are started (environment
// POSTGRES_PASSWORD, the server on 5432) and waits until it answers SQL. On error nothing is
// left: the container is removed.
func (e *Engine) StartPostgres(ctx context.Context, image string) (*Postgres, error) {
	if err := e.ensureImage(ctx, image); err != nil {
		return nil, fmt.Errorf("start postgres in a container: %w", err)
	}
	pw := make([]byte, 16)
	_, _ = rand.Read(pw)
	p := &Postgres{e: e, image: image, password: hex.EncodeToString(pw)}
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        image,
			Env:          map[string]string{"POSTGRES_PASSWORD": p.password},
			ExposedPorts: []string{"5432/tcp"},
			// Reachable from this machine only.
			HostConfigModifier: func(hc *mcontainer.HostConfig) {
				hc.PortBindings = network.PortMap{network.MustParsePort("5432/tcp"): {{HostIP: netip.MustParseAddr("127.0.0.1")}}}
			},
			Labels: e.labels(""),
			// Durability off, as for the embedded server: the databases are throwaway.
			Cmd: []string{"postgres", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200"},
		},
		Started: true,
		Logger:  tclog.NewNoopLogger(),
	})
	if c != nil {
		p.c = c
	}
	if err != nil {
		p.Stop(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("start postgres in a container of %s: %v", image, oneLine(err.Error()))
	}
	port, err := c.MappedPort(ctx, "5432/tcp")
	if err != nil {
		p.Stop(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("start postgres in a container of %s: mapped port: %w", image, err)
	}
	p.port = port.Port()
	if err := p.waitReady(ctx); err != nil {
		logs := proc.Tail(readAll(context.WithoutCancel(ctx), c), 15)
		p.Stop(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("postgres in a container of %s: %w\ncontainer log:\n%s", image, err, logs)
	}
	e.log.Info("postgres container ready", "image", image, "port", p.port, "container", c.GetContainerID()[:12])
	return p, nil
}

func (p *Postgres) waitReady(ctx context.Context) error {
	var last error
	err := poll.Until(ctx, postgresReady, 200*time.Millisecond, nil, func() (bool, error) {
		if st, err := p.c.State(ctx); err == nil && !st.Running {
			return false, fmt.Errorf("the container exited (code %d) before the server was ready", st.ExitCode)
		}
		last = p.Alive(ctx)
		return last == nil, nil
	})
	if errors.Is(err, poll.ErrDeadline) {
		return fmt.Errorf("not ready after %s: %v", postgresReady, last)
	}
	return err
}

// URL is database db as the superuser over the mapped port.
func (p *Postgres) URL(db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword("postgres", p.password),
		Host: net.JoinHostPort("127.0.0.1", p.port), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// Image is the image the server runs from.
func (p *Postgres) Image() string { return p.image }

// Alive connects once (within 10 s).
func (p *Postgres) Alive(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		return fmt.Errorf("postgres container of %s does not answer: %w", p.image, err)
	}
	return conn.Close(ctx)
}

// Stop removes the container (and its anonymous volumes: the official image declares one for
// its data). Safe to call twice.
func (p *Postgres) Stop(ctx context.Context) error {
	if p == nil || p.c == nil {
		return nil
	}
	err := p.c.Terminate(ctx, testcontainers.StopContext(ctx), testcontainers.StopTimeout(5*time.Second))
	p.c = nil
	if err != nil {
		return fmt.Errorf("remove the postgres container: %w", err)
	}
	return nil
}
