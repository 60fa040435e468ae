package probes

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/awacompat/awacompat/internal/proc"
)

// Run starts a probe, waits for it, and returns its events; the error is non-nil when the
// probe did not finish its steps (fatal, crashed, killed). An awa error event is a result,
// not an error here.
func Run(ctx context.Context, argv []string, spec Spec, dir, name string) ([]Event, error) {
	p, err := Start(ctx, argv, spec, dir, name)
	if err != nil {
		return nil, err
	}
	return Finish(ctx, p, dir)
}

// Finish is Run's end for a started probe p whose files are in dir: it waits for p and
// returns its events, with an error when p did not finish its steps.
func Finish(ctx context.Context, p *Proc, dir string) ([]Event, error) {
	evs, waitErr := p.Wait(ctx)
	for _, e := range evs {
		if e.Event == EventFatal {
			return evs, fmt.Errorf("probe %s: fatal: %s", p.Name, e.Message)
		}
	}
	if len(evs) == 0 || evs[len(evs)-1].Event != EventDone {
		return evs, fmt.Errorf("probe %s exited (%v) without finishing its steps; stderr: %s", p.Name, waitErr, StderrTail(dir, p.Name, 8))
	}
	return evs, nil
}

// WaitReady waits for a work step's "ready" event and returns when it arrived. An error or
// fatal event first, the probe exiting, or ctx ending is an error.
func (p *Proc) WaitReady(ctx context.Context) (time.Time, error) {
	for {
		select {
		case ev, ok := <-p.Events():
			if !ok {
				return time.Time{}, fmt.Errorf("exited before it was ready")
			}
			switch ev.Event {
			case EventReady:
				return ev.At, nil
			case EventError, EventFatal:
				return time.Time{}, fmt.Errorf("%s before ready: %s %s", ev.Event, ev.Class, ev.Message)
			}
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// StderrTail returns the last n lines of probe name's stderr log in dir.
func StderrTail(dir, name string, n int) string {
	return proc.TailFile(filepath.Join(dir, name+".stderr.log"), n)
}
