package scenario

import (
	"context"
	"errors"
	"testing"
	"time"
)

// waitFor ends on the first of: check done or failing, the budget, stop, ctx; and calls check
// first, before any wait.
func TestWaitFor(t *testing.T) {
	boom := errors.New("boom")
	closed := make(chan struct{})
	close(closed)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	never := func() (bool, error) { return false, nil }
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		stop  <-chan struct{}
		check func() (bool, error)
		want  error
	}{
		{"done at once", context.Background(), nil, func() (bool, error) { return true, nil }, nil},
		{"check fails", context.Background(), nil, func() (bool, error) { return false, boom }, boom},
		{"budget ends", context.Background(), nil, never, errWatchDeadline},
		{"stopped", context.Background(), closed, never, nil},
		{"ctx ended", cancelled, nil, never, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := waitFor(tc.ctx, 50*time.Millisecond, 5*time.Millisecond, tc.stop, func() (bool, error) {
				calls++
				return tc.check()
			})
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if calls == 0 {
				t.Fatal("check was never called")
			}
		})
	}
}

// A wait leaves stopMargin of the cell's deadline, and never less than a second.
func TestWatchBudget(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if b := watchBudget(ctx, time.Hour); b > time.Minute-stopMargin || b < time.Minute-stopMargin-5*time.Second {
		t.Errorf("budget %s with a minute left", b)
	}
	if b := watchBudget(ctx, 5*time.Second); b != 5*time.Second {
		t.Errorf("budget %s, want the 5s asked for", b)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	if b := watchBudget(short, time.Hour); b != time.Second {
		t.Errorf("budget %s near the deadline, want 1s", b)
	}
	if b := watchBudget(context.Background(), time.Hour); b != time.Hour {
		t.Errorf("budget %s without a deadline", b)
	}
}

type activeAt time.Time

func (a *activeAt) ActiveAt() time.Time { return time.Time(*a) }

// A watch reads the database on its first tick, on every tick while a probe it follows has
// reported something within quietEvery, when the caller's evidence asks for it, and otherwise
// once every quietEvery.
func TestReadGate(t *testing.T) {
	t0 := time.Now()
	proc := activeAt{}
	g := readGate{procs: []active{&proc}}
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for _, step := range []struct {
		name   string
		now    time.Duration
		active time.Duration // the probe's last event, from t0; negative: none yet
		urgent bool
		want   bool
	}{
		{"first tick", 0, -1, false, true},
		{"quiet, next tick", pollEvery, -1, false, false},
		{"quiet, just short of quietEvery", quietEvery - time.Millisecond, -1, false, false},
		{"quiet, quietEvery since the last read", quietEvery, -1, false, true},
		{"the probe reported something", quietEvery + pollEvery, quietEvery + pollEvery/2, false, true},
		{"and a tick later", quietEvery + 2*pollEvery, quietEvery + pollEvery/2, false, true},
		{"quietEvery after its event", 2*quietEvery + pollEvery, quietEvery + pollEvery/2, false, false},
		{"evidence asks for a read", 2*quietEvery + 2*pollEvery, quietEvery + pollEvery/2, true, true},
		{"quiet again", 2*quietEvery + 3*pollEvery, quietEvery + pollEvery/2, false, false},
	} {
		proc = activeAt{}
		if step.active >= 0 {
			proc = activeAt(at(step.active))
		}
		if got := g.due(at(step.now), step.urgent); got != step.want {
			t.Errorf("%s: due = %v, want %v", step.name, got, step.want)
		}
	}
}

// Before notBefore only the caller's evidence makes a read, however active the probe.
func TestReadGateNotBefore(t *testing.T) {
	t0 := time.Now()
	proc := activeAt(t0)
	g := readGate{procs: []active{&proc}, notBefore: t0.Add(3 * time.Second)}
	if g.due(t0, false) || g.due(t0.Add(2*time.Second), false) {
		t.Error("read before notBefore")
	}
	if !g.due(t0.Add(2*time.Second+pollEvery), true) {
		t.Error("the evidence's read was held back")
	}
	if !g.due(t0.Add(3*time.Second+pollEvery), false) {
		t.Error("no read once notBefore passed")
	}
}
