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
