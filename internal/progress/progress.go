// Package progress shows a run's progress: on a terminal, one status line redrawn in place
// (with each mismatch printed above it as it happens); elsewhere (CI logs), one plain line per
// finished cell.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/awacompat/awacompat/internal/report"
	"github.com/awacompat/awacompat/internal/results"
)

// Display tracks finished cells. It is safe for concurrent use.
type Display struct {
	w     io.Writer
	tty   bool
	total int
	start time.Time

	mu            sync.Mutex
	done, ok, bad int
	last          string
	lineShown     bool
}

// IsTerminal reports whether w is a character device (a terminal).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// New returns a display for total cells writing to w; tty selects the live form.
func New(w io.Writer, total int, tty bool) *Display {
	return &Display{w: w, tty: tty, total: total, start: time.Now()}
}

// Finished records one finished cell.
func (d *Display) Finished(c results.Cell) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.done++
	if c.OK {
		d.ok++
	} else {
		d.bad++
	}
	d.last = c.ID
	if !d.tty {
		fmt.Fprintf(d.w, "[%d/%d] %s\n", d.done, d.total, report.Line(c))
		return
	}
	d.clear()
	if !c.OK {
		fmt.Fprintf(d.w, "%s\n", report.Line(c))
	}
	d.draw()
}

// Close ends the live line.
func (d *Display) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tty && d.lineShown {
		fmt.Fprintln(d.w)
		d.lineShown = false
	}
}

func (d *Display) clear() {
	if d.lineShown {
		fmt.Fprint(d.w, "\r\033[K")
		d.lineShown = false
	}
}

func (d *Display) draw() {
	bar := 20
	filled := 0
	if d.total > 0 {
		filled = d.done * bar / d.total
	}
	line := fmt.Sprintf("[%s%s] %d/%d cells, %d as expected, %d not, %s  last: %s",
		strings.Repeat("#", filled), strings.Repeat(".", bar-filled), d.done, d.total, d.ok, d.bad,
		time.Since(d.start).Round(time.Second), d.last)
	fmt.Fprint(d.w, line)
	d.lineShown = true
}
