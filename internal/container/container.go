// Package container is awacompat's use of a Docker engine, through testcontainers-go: a
// PostgreSQL server in a container (postgres.image), and artifacts of kind container (an image
// that holds awa: a Python image with awa-pg, or one with the awa CLI).
//
// Nothing outlives a run. testcontainers' reaper (Ryuk) is an image from a registry, so it is
// disabled and cleanup is explicit: every container awacompat creates carries the labels
// awacompat.owner (the process, proc.Owner) and awacompat.run; a cell's probe containers also
// awacompat.cell. A cell's containers are removed when the cell ends (its deadline included),
// the run's when it ends (an error and Ctrl-C included), and a later Connect removes those of
// a run that was SIGKILLed (its owner provably gone). Probe containers use the host network
// and no volumes of their own (bind mounts only), so there are no networks or volumes to leak.
//
// Probes run through the docker CLI (`docker run -i`): the probe protocol is a process's
// stdin and stdout, which the CLI streams exactly; everything else goes through the engine's
// API. The package never prints; it logs through its logger.
package container

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/awacompat/awacompat/internal/proc"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// Labels awacompat puts on its containers.
const (
	LabelOwner = "awacompat.owner"
	LabelRun   = "awacompat.run"
	LabelCell  = "awacompat.cell"
)

// PingTimeout bounds how long Connect waits for the engine to answer.
const PingTimeout = 5 * time.Second

// Engine is a connection to a Docker engine for one run.
type Engine struct {
	cli    *testcontainers.DockerClient
	docker string // the docker CLI, for probe containers
	owner  string
	run    string
	log    *slog.Logger
}

// ErrNoEngine wraps every reason Connect could not reach an engine.
var ErrNoEngine = errors.New("no container engine")

// Connect pings the Docker engine (DOCKER_HOST, else the local socket) within PingTimeout,
// removes the containers of runs that died without cleaning up, and returns the engine. The
// error says why when none answers.
func Connect(ctx context.Context, log *slog.Logger) (*Engine, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Ryuk comes from a registry, and cleanup is ours (see the package comment). The
	// library's own log goes nowhere: awacompat logs what matters itself.
	os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	tclog.SetDefault(tclog.NewNoopLogger())
	pctx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(pctx)
	if err != nil {
		return nil, fmt.Errorf("%w: a Docker engine did not answer within %s (%v); start dockerd (make setup does) or set DOCKER_HOST", ErrNoEngine, PingTimeout, err)
	}
	if _, err := cli.Ping(pctx, client.PingOptions{}); err != nil {
		return nil, fmt.Errorf("%w: the Docker engine did not answer a ping within %s (%v); start dockerd (make setup does) or set DOCKER_HOST", ErrNoEngine, PingTimeout, err)
	}
	e := &Engine{cli: cli, log: log}
	if self, err := proc.Self(); err == nil {
		e.owner = self.String()
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	e.run = hex.EncodeToString(b)
	if d, err := exec.LookPath("docker"); err == nil {
		e.docker = d
	}
	e.sweep(ctx)
	return e, nil
}

// Run is this run's label value.
func (e *Engine) Run() string { return e.run }

func (e *Engine) labels(cell string) map[string]string {
	l := map[string]string{LabelOwner: e.owner, LabelRun: e.run}
	if cell != "" {
		l[LabelCell] = cell
	}
	return l
}

// Remove force-removes every container with label key=value (and its anonymous volumes).
func (e *Engine) Remove(ctx context.Context, key, value string) error {
	list, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", key+"="+value)})
	if err != nil {
		return fmt.Errorf("list containers %s=%s: %w", key, value, err)
	}
	var errs []error
	for _, c := range list.Items {
		if _, err := e.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !strings.Contains(err.Error(), "No such container") && !strings.Contains(err.Error(), "is already in progress") {
			errs = append(errs, fmt.Errorf("remove container %.12s: %w", c.ID, err))
		}
	}
	return errors.Join(errs...)
}

// RemoveCell removes a cell's probe containers (a cell that ended, or timed out).
func (e *Engine) RemoveCell(ctx context.Context, cell string) error {
	return e.Remove(ctx, LabelCell, e.run+"/"+cell)
}

// Close removes every container of this run.
func (e *Engine) Close(ctx context.Context) error {
	if e == nil {
		return nil
	}
	return e.Remove(ctx, LabelRun, e.run)
}

// sweep removes the containers of awacompat runs whose owner is provably gone.
func (e *Engine) sweep(ctx context.Context) {
	list, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", LabelOwner)})
	if err != nil {
		return
	}
	for _, c := range list.Items {
		o, ok := proc.ParseOwner(c.Labels[LabelOwner])
		if !ok || !o.Gone() {
			continue
		}
		if _, err := e.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err == nil {
			e.log.Info("removed the container of a run that died without cleaning up", "container", c.ID[:12], "image", c.Image)
		}
	}
}

// HasImage reports whether the engine holds image locally.
func (e *Engine) HasImage(ctx context.Context, image string) bool {
	_, err := e.cli.ImageInspect(ctx, image)
	return err == nil
}

// pullDeadline bounds pulling an image that is not present locally.
const pullDeadline = 5 * time.Minute

// ensureImage makes image present: local, else pulled. The error says which.
func (e *Engine) ensureImage(ctx context.Context, image string) error {
	if e.HasImage(ctx, image) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, pullDeadline)
	defer cancel()
	resp, err := e.cli.ImagePull(ctx, image, client.ImagePullOptions{})
	if err == nil {
		err = resp.Wait(ctx)
		resp.Close()
	}
	if err != nil {
		return fmt.Errorf("image %s: not present on the Docker engine, and pulling it failed: %v", image, oneLine(err.Error()))
	}
	return nil
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// readAll reads a container's logs (stdout and stderr demultiplexed by testcontainers).
func readAll(ctx context.Context, c testcontainers.Container) string {
	rc, err := c.Logs(ctx)
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 1<<20))
	return string(b)
}

// BuildImage builds tag from a build context (a tar stream holding a Dockerfile) with the
// engine's classic builder, and returns the builder's error when the build failed.
func (e *Engine) BuildImage(ctx context.Context, tag string, buildContext io.Reader) error {
	resp, err := e.cli.ImageBuild(ctx, buildContext, client.ImageBuildOptions{
		Tags: []string{tag}, Remove: true, ForceRemove: true, Version: build.BuilderV1,
		Labels: map[string]string{"awacompat.built": "test image"},
	})
	if err != nil {
		return fmt.Errorf("build %s: %w", tag, err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	var last string
	for {
		var msg struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("build %s: %w", tag, err)
		}
		if msg.Error != "" {
			return fmt.Errorf("build %s: %s", tag, oneLine(msg.Error))
		}
		if s := strings.TrimSpace(msg.Stream); s != "" {
			last = s
		}
	}
	if !e.HasImage(ctx, tag) {
		return fmt.Errorf("build %s: no image after the build (%s)", tag, last)
	}
	return nil
}
