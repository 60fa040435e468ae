package main

// End-to-end tests of the PostgreSQL version axis and of containers: real servers of several
// majors (the installed package and portable builds), real images built here (no registry),
// real awa wheels and CLIs. Nothing is mocked.

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/awacompat/awacompat/internal/container"
	"github.com/awacompat/awacompat/internal/pgbin"
	"github.com/awacompat/awacompat/internal/proc"
	"github.com/awacompat/awacompat/internal/testimages"
	"github.com/awacompat/awacompat/internal/version"
	"github.com/awacompat/awacompat/pinned"
)

func writeMatrix(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "matrix.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunPostgresMajors runs the lifecycle under both engines on PostgreSQL 14 and 17 (portable
// builds from Maven Central, fetched into the cache and verified) and on the installed 15: every
// cell passes, its ID and record carry its major, and each server is recorded and gone after.
func TestRunPostgresMajors(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real awa wheels against PostgreSQL")
	}
	m := writeMatrix(t, `version: 1
target: {awa: "0.6.9", schema_version: 40}
postgres: {versions: [14, 15, 17]}
artifacts:
  py-0.6.9: {kind: python, version: "0.6.9"}
scenarios: [lifecycle]
fleets: [{producer: py-0.6.9, worker: py-0.6.9}]
`)
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "run", m, "--out", out, "--parallel", "2")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	r, cells := cellsByID(t, out)
	if len(cells) != 6 {
		t.Errorf("%d cells, want 6", len(cells))
	}
	for _, major := range []int{14, 15, 17} {
		for _, eng := range []string{"canonical", "queue_storage"} {
			id := fmt.Sprintf("pg%d.%s.fresh.lifecycle.producer=py-0.6.9.worker=py-0.6.9", major, eng)
			c, ok := cells[id]
			if !ok {
				t.Errorf("missing cell %s", id)
				continue
			}
			if c.Actual != "pass" || !c.OK || c.Postgres != major {
				t.Errorf("%s: %s ok=%v postgres=%d; detail %s", id, c.Actual, c.OK, c.Postgres, c.Detail)
			}
		}
	}
	if len(r.Servers) != 3 {
		t.Fatalf("servers %+v; want three", r.Servers)
	}
	for i, major := range []int{14, 15, 17} {
		s := r.Servers[i]
		if s.Major != major || !strings.HasPrefix(s.Version, fmt.Sprint(major)+".") {
			t.Errorf("server %d: %+v; want PostgreSQL %d", i, s, major)
		}
		portable := strings.HasPrefix(s.Origin, "maven io.zonky.test.postgres:")
		if _, installed := pgbin.Installed(major); portable == installed {
			t.Errorf("server %d origin %q: want the installed package when its major is installed, else the portable build", major, s.Origin)
		}
	}
	for _, tpl := range r.Templates {
		if !strings.HasPrefix(tpl.Name, fmt.Sprintf("pg%d.", tpl.Postgres)) || tpl.Outcome != "built" {
			t.Errorf("template %s (postgres %d): %s", tpl.Name, tpl.Postgres, tpl.Outcome)
		}
	}
	if !strings.Contains(stdout, "pg14 canonical") && !strings.Contains(stdout, "pg14") {
		t.Errorf("the verdict table does not show the major:\n%s", stdout)
	}
	for _, m := range serverDirRE.FindAllStringSubmatch(stderr, -1) {
		assertGone(t, m[1])
	}
}

// containerEngine connects, or skips saying why (never silently).
func containerEngine(t *testing.T) *container.Engine {
	t.Helper()
	e, err := container.Connect(t.Context(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Skipf("container tests skipped: %v", err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

// testImages builds (or finds, by content) the three test images: PostgreSQL 17 from the
// portable build, awa-pg 0.6.9 from the python artifact's virtualenv, the awa 0.6.9 CLI.
func testImages(t *testing.T, e *container.Engine) (pg, py, cli string) {
	t.Helper()
	ctx := t.Context()
	cache, err := newCache("", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	bin, err := pgbin.Find(ctx, 17, pgbin.Config{Cache: cache.Root})
	if err != nil {
		t.Fatal(err)
	}
	if pg, err = testimages.Postgres(ctx, e, bin.BinDir); err != nil {
		t.Fatal(err)
	}
	v := version.MustParse("0.6.9")
	in, err := cache.Install(ctx, pinned.Spec{Kind: pinned.Python, Version: v})
	if err != nil {
		t.Fatal(err)
	}
	venv := filepath.Dir(filepath.Dir(in.Probe[0]))
	if py, err = testimages.Python(ctx, e, venv); err != nil {
		t.Fatal(err)
	}
	in, err = cache.Install(ctx, pinned.Spec{Kind: pinned.CLI, Version: v})
	if err != nil {
		t.Fatal(err)
	}
	if cli, err = testimages.CLI(ctx, e, in.AwaBin); err != nil {
		t.Fatal(err)
	}
	return pg, py, cli
}

func containerMatrix(pg, py, cli, pyVersion string) string {
	return fmt.Sprintf(`version: 1
target: {awa: "0.6.9", schema_version: 40}
postgres: {image: %q}
artifacts:
  py-0.6.9: {kind: python, version: "0.6.9"}
  py-image: {kind: container, image: %q, client: python, version: %q}
  cli-image: {kind: container, image: %q, client: cli, version: "0.6.9"}
scenarios: [lifecycle, cancel]
fleets:
  - {producer: py-0.6.9, worker: py-image, admin: cli-image}
  - {producer: py-0.6.9, worker: py-0.6.9, admin: py-image}
`, pg, py, pyVersion, cli)
}

// dockerState lists the containers whose owner label names pid, and every volume and network.
func dockerState(t *testing.T, pid int) (containers []string, volumes, networks string) {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-a", "--filter", "label="+container.LabelOwner, "--format", `{{.ID}} {{.Label "awacompat.owner"}}`).Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		id, owner, _ := strings.Cut(line, " ")
		if o, ok := proc.ParseOwner(owner); ok && o.PID == pid {
			containers = append(containers, id)
		}
	}
	v, _ := exec.Command("docker", "volume", "ls", "-q").Output()
	n, _ := exec.Command("docker", "network", "ls", "-q").Output()
	return containers, strings.TrimSpace(string(v)), strings.TrimSpace(string(n))
}

// TestRunContainers: a server from an image, a Python image running the probe as worker and
// admin, and a CLI image as admin, beside the same release from a virtualenv; every cell
// passes and nothing (container, volume, network) is left. An image whose awa is not the
// matrix's version fails its cells with a clear error; a missing server image is exit 3.
func TestRunContainers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real images")
	}
	e := containerEngine(t)
	pg, py, cli := testImages(t, e)
	_, vols, nets := dockerState(t, os.Getpid())

	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "run", writeMatrix(t, containerMatrix(pg, py, cli, "0.6.9")), "--out", out, "--parallel", "2")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	r, cells := cellsByID(t, out)
	if len(cells) != 8 || r.Postgres.Mode != "container" || !strings.HasPrefix(r.Postgres.Version, "17.") {
		t.Errorf("%d cells on %+v; want 8 on a PostgreSQL 17 container", len(cells), r.Postgres)
	}
	var viaImage, viaVenv []int64
	for id, c := range cells {
		if c.Actual != "pass" || !c.OK {
			t.Errorf("%s: %s; %s", id, c.Actual, c.Detail)
		}
		if c.Scenario == "lifecycle" {
			if c.Roles["worker"].Artifact == "py-image" {
				viaImage = append(viaImage, c.DurationMS)
			} else {
				viaVenv = append(viaVenv, c.DurationMS)
			}
		}
	}
	t.Logf("lifecycle cell time, worker from the image: %v ms; from the virtualenv: %v ms", viaImage, viaVenv)
	if strings.Contains(stdout+stderr, "POSTGRES_PASSWORD") || strings.Contains(stderr, "password=") {
		t.Errorf("a password reached the output")
	}
	left, vols2, nets2 := dockerState(t, os.Getpid())
	if len(left) > 0 || vols2 != vols || nets2 != nets {
		t.Errorf("left behind: containers %v, volumes %q (before %q), networks %q (before %q)", left, vols2, vols, nets2, nets)
	}

	// The image holds awa-pg 0.6.9; a matrix that says 0.6.8 gets an error on its cells.
	out = t.TempDir()
	code, stdout, stderr = runCLI(t, "run", writeMatrix(t, containerMatrix(pg, py, cli, "0.6.8")), "--out", out,
		"--only", "scenario=lifecycle,worker=py-image")
	if code != exitMismatch {
		t.Errorf("version mismatch: exit %d, want %d\n%s\n%s", code, exitMismatch, stdout, stderr)
	}
	_, cells = cellsByID(t, out)
	for id, c := range cells {
		if c.Actual != "error" || !strings.Contains(c.Detail, "holds awa-pg 0.6.9, but the matrix says py-image is 0.6.8") {
			t.Errorf("%s: %s: %s; want an error naming both versions", id, c.Actual, c.Detail)
		}
	}

	// A server image that does not exist: exit 3 with the image named.
	code, _, stderr = runCLI(t, "run", writeMatrix(t, containerMatrix("awacompat-test/no-such-postgres:1", py, cli, "0.6.9")), "--out", t.TempDir())
	if code != exitInfra || !strings.Contains(stderr, "image awacompat-test/no-such-postgres:1: not present on the Docker engine") {
		t.Errorf("missing image: exit %d, stderr:\n%s", code, stderr)
	}
	if left, _, _ := dockerState(t, os.Getpid()); len(left) > 0 {
		t.Errorf("left behind after the failed runs: %v", left)
	}
}

// TestRunContainersInterrupted: SIGINT while a container probe runs; the run exits 130 and
// leaves no container.
func TestRunContainersInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real images")
	}
	e := containerEngine(t)
	pg, py, cli := testImages(t, e)
	_, vols, nets := dockerState(t, os.Getpid())
	bin := filepath.Join(t.TempDir(), "awacompat")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	out := t.TempDir()
	cmd := exec.Command(bin, "run", writeMatrix(t, containerMatrix(pg, py, cli, "0.6.9")), "--out", out, "--parallel", "1")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	rest := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
		}
		close(rest)
	}()
	waitForSecondCell(t, out)
	// Interrupt while one of its probe containers runs: there is something to clean up.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if running, _, _ := dockerState(t, cmd.Process.Pid); len(running) > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no probe container of the run within 60s; log:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-rest:
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("awacompat did not stop within 90s of SIGINT")
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
		t.Errorf("exit %d, want %d; log:\n%s", code, exitInterrupted, log.String())
	}
	left, vols2, nets2 := dockerState(t, cmd.Process.Pid)
	if len(left) > 0 || vols2 != vols || nets2 != nets {
		t.Errorf("left behind after SIGINT: containers %v, volumes %q (before %q), networks %q (before %q)\n%s", left, vols2, vols, nets2, nets, log.String())
	}
}
