package probes

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeProbe is a shell script standing in for a probe program, to test the driver alone:
// it echoes the URL it was given, one garbage line, then events until stdin says stop.
const fakeProbe = `#!/bin/sh
echo '{"event":"start","probe":"fake","awa_version":"9.9.9"}'
echo "{\"event\":\"note\",\"message\":\"url=$AWACOMPAT_DATABASE_URL\"}"
echo 'not json'
sleep 30 &
echo "{\"event\":\"ready\",\"message\":\"child=$!\"}"
read line
echo "{\"event\":\"stopped\",\"reason\":\"$line\"}"
kill $! 2>/dev/null
echo '{"event":"done"}'
`

func writeFake(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "probe.sh")
	if err := os.WriteFile(p, []byte(fakeProbe), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStartEventsStopAndRedaction(t *testing.T) {
	dir := t.TempDir()
	url := "postgres://u:s3cret@127.0.0.1:5/db"
	p, err := Start(context.Background(), []string{writeFake(t)}, Spec{DatabaseURL: url, Kind: "k", Steps: []Step{{Op: "sleep", MS: 1}}}, dir, "w")
	if err != nil {
		t.Fatal(err)
	}
	for ev := range p.Events() {
		if ev.Event == "ready" {
			break
		}
	}
	p.Stop()
	evs, err := p.Wait(context.Background())
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, string(e.Event))
	}
	if got := strings.Join(kinds, ","); got != "start,note,garbage,ready,stopped,done" {
		t.Fatalf("events %s", got)
	}
	if evs[1].Message != "url="+url {
		t.Errorf("probe got %q, want the real URL through %s", evs[1].Message, URLEnv)
	}
	if evs[4].Reason != "stop" || evs[0].Version != "9.9.9" {
		t.Errorf("stopped=%+v start=%+v", evs[4], evs[0])
	}
	spec, _ := os.ReadFile(filepath.Join(dir, "w.spec.json"))
	out, _ := os.ReadFile(filepath.Join(dir, "w.stdout.jsonl"))
	for name, b := range map[string][]byte{"spec": spec, "stdout": out} {
		if strings.Contains(string(b), "s3cret") {
			t.Errorf("%s file holds the password:\n%s", name, b)
		}
	}
	if !strings.Contains(string(spec), `"database_url": "postgres://u:xxxxx@127.0.0.1:5/db"`) {
		t.Errorf("spec on disk:\n%s", spec)
	}
}

// A cancelled context kills the probe's whole process group, children included.
func TestCancelKillsProcessGroup(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Start(ctx, []string{writeFake(t)}, Spec{DatabaseURL: "postgres://x@h/db", Kind: "k"}, t.TempDir(), "w")
	if err != nil {
		t.Fatal(err)
	}
	var child int
	for ev := range p.Events() {
		if ev.Event == "ready" {
			child = atoiAfter(ev.Message, "child=")
			break
		}
	}
	cancel()
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second): // generous: only a fault, not a loaded machine, takes this long
		t.Fatal("probe still running 30s after its context was cancelled")
	}
	if child <= 0 {
		t.Fatalf("no child pid reported")
	}
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(child, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the probe's child %d outlived the cancelled probe", child)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func atoiAfter(s, prefix string) int {
	n := 0
	_, rest, ok := strings.Cut(s, prefix)
	if !ok {
		return 0
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// ActiveAt is when the probe last reported something other than a health check.
func TestActiveAtIgnoresHealth(t *testing.T) {
	script := filepath.Join(t.TempDir(), "probe.sh")
	body := "#!/bin/sh\necho '{\"event\":\"ready\"}'\nsleep 0.05\necho '{\"event\":\"health\",\"poll_loop_alive\":true}'\necho '{\"event\":\"health\",\"poll_loop_alive\":true}'\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := Start(context.Background(), []string{script}, Spec{Kind: "k"}, t.TempDir(), "w")
	if err != nil {
		t.Fatal(err)
	}
	evs, err := p.Wait(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[0].Event != EventReady || evs[2].Event != EventHealth {
		t.Fatalf("events %+v", evs)
	}
	if got := p.ActiveAt(); !got.Equal(evs[0].At) || !got.Before(evs[2].At) {
		t.Errorf("ActiveAt %v; want the ready event's %v, not the last health report's %v", got, evs[0].At, evs[2].At)
	}
}
