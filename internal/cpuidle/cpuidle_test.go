package cpuidle

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	idle, total, err := parse([]string{"10", "1", "5", "100", "4", "0", "2", "3", "7", "0"})
	if err != nil {
		t.Fatal(err)
	}
	if idle != 104 || total != 125 {
		t.Fatalf("idle %d total %d, want 104 and 125 (guest columns not added)", idle, total)
	}
	if _, _, err := parse([]string{"x"}); err == nil {
		t.Fatal("a bad field parsed")
	}
}

// A meter sees every CPU kept busy as little idle time, and a quiet machine as more.
func TestIdleFallsUnderLoad(t *testing.T) {
	m, err := New()
	if err != nil {
		t.Skip("no /proc/stat:", err)
	}
	var stop atomic.Bool
	var spinning sync.WaitGroup
	for range runtime.NumCPU() {
		spinning.Add(1)
		go func() {
			spinning.Done()
			for !stop.Load() {
			}
		}()
	}
	spinning.Wait()
	m.Idle()
	time.Sleep(500 * time.Millisecond) // the window the meter reads, not a wait for an event
	busy, err := m.Idle()
	stop.Store(true)
	if err != nil {
		t.Fatal(err)
	}
	if busy > 0.3 {
		t.Fatalf("idle %.2f with every CPU spinning, want at most 0.3", busy)
	}
}
