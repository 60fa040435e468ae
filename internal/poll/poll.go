// Package poll is the one poll loop: call a check at an interval until it reports done, a
// budget passes, a stop channel closes, or the context ends. Every wait on awa (a scenario's
// watch on the database, a template step's wait for a drain) goes through Until.
package poll

import (
	"context"
	"errors"
	"time"
)

// ErrDeadline means the wait's own budget ran out.
var ErrDeadline = errors.New("wait deadline passed")

// Until calls check every `every` until check reports done, the budget d passes
// (ErrDeadline), ctx ends (ctx's error), or check fails. stop, when non-nil, also ends the
// wait early (with nil).
func Until(ctx context.Context, d, every time.Duration, stop <-chan struct{}, check func() (bool, error)) error {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		done, err := check()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return ErrDeadline
		case <-stop:
			return nil
		case <-tick.C:
		}
	}
}
