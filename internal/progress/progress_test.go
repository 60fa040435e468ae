package progress

import (
	"bytes"
	"strings"
	"testing"

	"github.com/awacompat/awacompat/internal/results"
)

func TestPlainLinePerCell(t *testing.T) {
	var b bytes.Buffer
	d := New(&b, 2, false)
	d.Finished(results.Cell{ID: "a", Expected: "pass", Actual: "pass", OK: true, DurationMS: 1200})
	d.Finished(results.Cell{ID: "b", Expected: "pass", Actual: "fail", DurationMS: 300})
	d.Close()
	got := b.String()
	want := "[1/2] ok       a: expected pass, got pass (1.2s)\n[2/2] MISMATCH b: expected pass, got fail (300ms)\n"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if strings.Contains(got, "\r") {
		t.Fatal("plain output contains carriage returns")
	}
}

func TestLiveLine(t *testing.T) {
	var b bytes.Buffer
	d := New(&b, 2, true)
	d.Finished(results.Cell{ID: "a", Expected: "pass", Actual: "pass", OK: true})
	d.Finished(results.Cell{ID: "b", Expected: "pass", Actual: "fail"})
	d.Close()
	got := b.String()
	if !strings.Contains(got, "\r\033[K") || !strings.Contains(got, "2/2 cells, 1 as expected, 1 not") {
		t.Fatalf("live output %q", got)
	}
	if !strings.Contains(got, "MISMATCH b: expected pass, got fail") || strings.Contains(got, "ok       a:") {
		t.Fatalf("live output should print mismatches only, got %q", got)
	}
	if IsTerminal(&b) {
		t.Fatal("a buffer is not a terminal")
	}
}
