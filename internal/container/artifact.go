package container

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"
)

// What an image of kind container holds.
const (
	ClientPython = "python" // awa-pg, run by the image's python3
	ClientCLI    = "cli"    // the awa CLI on the image's PATH
)

// ProbeMount is where the probe sources are mounted in a Python image.
const ProbeMount = "/awacompat/probes"

// checkDeadline bounds the container that reads an image's awa version.
const checkDeadline = 2 * time.Minute

// Version reads the awa release an image holds: awa-pg's installed version for a Python image
// (importlib.metadata, by the image's python3), `awa --version` for a CLI image. The image is
// pulled when it is not present. The container is removed before it returns.
func (e *Engine) Version(ctx context.Context, image, client string) (string, error) {
	if err := e.ensureImage(ctx, image); err != nil {
		return "", err
	}
	var cmd []string
	switch client {
	case ClientPython:
		cmd = []string{"python3", "-c", "import importlib.metadata as m; print(m.version('awa-pg'))"}
	case ClientCLI:
		cmd = []string{"awa", "--version"}
	default:
		return "", fmt.Errorf("image %s: unknown client %q (python or cli)", image, client)
	}
	ctx, cancel := context.WithTimeout(ctx, checkDeadline)
	defer cancel()
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image: image, Entrypoint: []string{}, Cmd: cmd, Labels: e.labels(""),
			WaitingFor: wait.ForExit().WithExitTimeout(checkDeadline),
		},
		Started: true,
		Logger:  tclog.NewNoopLogger(),
	})
	defer func() {
		if c != nil {
			_ = c.Terminate(context.WithoutCancel(ctx))
		}
	}()
	what := strings.Join(cmd, " ")
	if err != nil {
		return "", fmt.Errorf("image %s: run %s: %v", image, what, oneLine(err.Error()))
	}
	st, err := c.State(ctx)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", image, err)
	}
	out := strings.TrimSpace(readAll(ctx, c))
	if st.ExitCode != 0 {
		return "", fmt.Errorf("image %s: %s exited %d: %s", image, what, st.ExitCode, oneLine(out))
	}
	// `awa --version` prints "awa 0.6.9" (or "awa-cli 0.6.9"); pip metadata the bare version.
	f := strings.Fields(out)
	if len(f) == 0 {
		return "", fmt.Errorf("image %s: %s printed nothing", image, what)
	}
	return f[len(f)-1], nil
}

// ProbeArgv is the command that runs the Python probe in image for one cell: a container on
// the host network (the cell's database is on 127.0.0.1), the probe sources and the cell's log
// folder mounted read-only at their own paths (the spec file is appended as the last
// argument), the database URL passed by name from the environment (never on a command line),
// labelled so the cell's end removes it. --rm removes it when the probe exits; RemoveCell
// removes it when the probe was killed.
func (e *Engine) ProbeArgv(image, probesDir, cellDir, cell string) []string {
	argv := e.RunArgv(cell, "AWACOMPAT_DATABASE_URL", "PYTHONUNBUFFERED", "NO_COLOR")
	cellDir, _ = filepath.Abs(cellDir)
	argv = append(argv, "-v", probesDir+":"+ProbeMount+":ro", "-v", cellDir+":"+cellDir+":ro",
		"--entrypoint", "python3", image, ProbeMount+"/python/awaprobe.py")
	return argv
}

// CLIArgv is the prefix that runs the awa CLI of image for one cell: the CLI's arguments follow
// it. DATABASE_URL comes from the environment, by name.
func (e *Engine) CLIArgv(image, cell string) []string {
	argv := e.RunArgv(cell, "DATABASE_URL", "NO_COLOR", "RUST_LOG")
	return append(argv, "--entrypoint", "awa", image)
}

// RunArgv starts `docker run --rm -i` on the host network for a cell, labelled with the
// owner, the run and the cell, passing the named environment variables through; the image and
// its arguments follow.
func (e *Engine) RunArgv(cell string, env ...string) []string {
	docker := e.docker
	if docker == "" {
		docker = "docker"
	}
	argv := []string{docker, "run", "--rm", "-i", "--network", "host", "--init"}
	labels := e.labels(e.run + "/" + cell)
	for _, k := range []string{LabelOwner, LabelRun, LabelCell} {
		argv = append(argv, "--label", k+"="+labels[k])
	}
	for _, name := range env {
		argv = append(argv, "-e", name)
	}
	return argv
}
