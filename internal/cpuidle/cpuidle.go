// Package cpuidle measures how idle the machine's CPUs are (Linux /proc/stat), so that work
// can be admitted by the CPU it leaves free rather than by a count of running tasks: a cell
// mostly waits on awa, and a count would keep the CPUs idle while it does.
package cpuidle

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Meter reports the idle fraction of all CPUs between two of its calls.
type Meter struct {
	mu          sync.Mutex
	idle, total uint64
}

// New starts a meter: its first Idle covers the time since New.
func New() (*Meter, error) {
	m := &Meter{}
	if _, err := m.Idle(); err != nil {
		return nil, err
	}
	return m, nil
}

// Idle is the fraction (0 to 1) of CPU time all CPUs spent idle (idle and iowait) since the
// previous call; 1 when no time passed that the kernel counted.
func (m *Meter) Idle() (float64, error) {
	idle, total, err := read()
	if err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	di, dt := idle-m.idle, total-m.total
	m.idle, m.total = idle, total
	if dt == 0 || idle < di {
		return 1, nil
	}
	return float64(di) / float64(dt), nil
}

// read returns the idle and total jiffies of the "cpu" line of /proc/stat.
func read() (idle, total uint64, err error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("cpu idle: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[0] != "cpu" {
			continue
		}
		return parse(fields[1:])
	}
	return 0, 0, errors.New("cpu idle: no cpu line in /proc/stat")
}

// parse sums the jiffies of a /proc/stat cpu line (user nice system idle iowait irq softirq
// steal ...; guest time is already inside user and nice, so it is not added twice).
func parse(fields []string) (idle, total uint64, err error) {
	for i, f := range fields {
		if i >= 8 {
			break
		}
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("cpu idle: /proc/stat field %d %q: %w", i+1, f, err)
		}
		total += v
		if i == 3 || i == 4 {
			idle += v
		}
	}
	return idle, total, nil
}
