package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/awacompat/awacompat/internal/container"
	"github.com/awacompat/awacompat/internal/runner"
	"github.com/awacompat/awacompat/matrix"
)

// needsContainers says why a plan needs a container engine ("" when it does not): a server
// from an image, or an artifact of kind container.
func needsContainers(m *matrix.Matrix, p *matrix.Plan) string {
	if m.Postgres.Image != "" {
		return "postgres.image " + m.Postgres.Image
	}
	for _, a := range p.Artifacts {
		if a.Kind == "container" {
			return "artifact " + a.Name + " (kind container)"
		}
	}
	return ""
}

// containerSetup connects to the engine when the plan needs one. A server from an image
// cannot start without it (an error: exit 3); container artifacts without it fail their own
// cells with the reason (errArtifacts), as an artifact that did not install does.
func containerSetup(ctx context.Context, m *matrix.Matrix, p *matrix.Plan, log *slog.Logger) (e *container.Engine, errArtifacts, err error) {
	why := needsContainers(m, p)
	if why == "" {
		return nil, nil, nil
	}
	e, cerr := container.Connect(ctx, log)
	if cerr == nil {
		return e, nil, nil
	}
	if m.Postgres.Image != "" {
		return nil, nil, fmt.Errorf("%s needs a container engine: %w", why, cerr)
	}
	return nil, cerr, nil
}

// containerServers adapts the engine to the runner's provisioner (nil without one).
type containerServers struct{ e *container.Engine }

func (c containerServers) StartPostgres(ctx context.Context, image string) (runner.ContainerServer, error) {
	return c.e.StartPostgres(ctx, image)
}
