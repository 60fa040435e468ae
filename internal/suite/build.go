// Package suite builds awa's own test suites (the `kind: suite` artifacts of a matrix) once
// per checkout revision, into a cache outside the checkout, and runs them in a suite cell's
// database: DATABASE_URL and AWA_TEST_ENGINE set for the cell, the runner in its own process
// group under the suite's deadline, every test's outcome read from the runner's output
// (package testparse) and held to its expectation.
//
// `cargo test ...` is built with `cargo test ... --no-run` and each test binary it makes is
// copied into the cache, then run by itself in every cell with libtest's JSON events
// (RUSTC_BOOTSTRAP=1 for the test binary only: the JSON format is unstable, and the variable
// unlocks it on a stable toolchain), so each test has a duration, and asked for its list of
// tests first, so a test that never reported (the deadline passed, the binary crashed) is
// still a result. `cargo nextest run ...` is built with `cargo nextest list`; pytest and any
// other command run under sh -c after an optional build command.
package suite

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/awacompat/awacompat/internal/proc"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/pinned"
)

// buildDeadline bounds a suite's build: awa's integration test binary compiles for many
// minutes from cold on two shared cores.
const buildDeadline = 60 * time.Minute

// Cache builds suites under Root/suite. It is safe for concurrent use.
type Cache struct {
	// Root is the cache root (pinned.DefaultRoot); suites go under Root/suite.
	Root string
	// Log receives progress; nil discards.
	Log *slog.Logger

	keys pinned.KeyLocks
}

// Built is a suite ready to run in cells.
type Built struct {
	// Artifact is the suite's matrix artifact.
	Artifact matrix.Artifact
	// Dir is the build's cache folder; Checkout the absolute checkout it ran in.
	Dir, Checkout string
	// Origin is "path:CHECKOUT@REVISION".
	Origin string
	// Reused is true when the cache already held this build.
	Reused bool
	// Binaries are the test binaries of a cargo test suite.
	Binaries []Binary `json:"binaries"`
}

// Binary is one test binary a `cargo test` build made, copied into the cache.
type Binary struct {
	// Target is its cargo target name (integration_test).
	Target string `json:"target"`
	// Path is the copy in the cache.
	Path string `json:"path"`
	// PackageDir is its package's folder: cargo runs a test binary there.
	PackageDir string `json:"package_dir"`
}

// BuildError is a suite that could not be built: the command and the tail of its output.
type BuildError struct {
	Suite, Cmd, Tail string
	Err              error
}

func (e *BuildError) Error() string {
	msg := fmt.Sprintf("build suite %s: %s: %v", e.Suite, e.Cmd, e.Err)
	if e.Tail != "" {
		msg += "\n" + e.Tail
	}
	return msg
}

func (e *BuildError) Unwrap() error { return e.Err }

func (c *Cache) log() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c.Log
}

// CargoTargetDir is the CARGO_TARGET_DIR every cargo suite build shares, so successive
// commits of a checkout compile only what changed.
func (c *Cache) CargoTargetDir() string { return filepath.Join(c.Root, "suite", "cargo-target") }

// Build builds the suite a, or finds the build of the same checkout revision, command and
// toolchain in the cache.
func (c *Cache) Build(ctx context.Context, a matrix.Artifact) (*Built, error) {
	s := a.Suite
	if s == nil {
		return nil, fmt.Errorf("build suite %s: not a suite artifact", a.Name)
	}
	checkout, err := filepath.Abs(a.Source)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(checkout); err != nil || !st.IsDir() {
		return nil, &BuildError{Suite: a.Name, Cmd: "stat " + a.Source, Err: fmt.Errorf("a suite's source is a checkout directory: %v", err)}
	}
	rev, err := pinned.CheckoutRevision(checkout)
	if err != nil {
		return nil, &BuildError{Suite: a.Name, Cmd: "fingerprint " + checkout, Err: err}
	}
	key := []string{s.Format, s.Command, s.Build}
	for _, e := range s.Env {
		key = append(key, e.Name+"="+e.Value)
	}
	if cargo(s) {
		out, err := proc.Output(ctx, time.Minute, "rustc", "--version")
		if err != nil {
			return nil, &BuildError{Suite: a.Name, Cmd: "rustc --version", Err: err}
		}
		key = append(key, strings.TrimSpace(string(out)))
	}
	h := sha256.Sum256([]byte(strings.Join(key, "\x00")))
	dir := filepath.Join(c.Root, "suite", a.Name+"-"+rev+"-"+hex.EncodeToString(h[:])[:10])
	defer c.keys.Lock(dir)()
	b := &Built{Artifact: a, Dir: dir, Checkout: checkout, Origin: "path:" + checkout + "@" + rev}
	if rec, err := os.ReadFile(filepath.Join(dir, "ok")); err == nil {
		if err := json.Unmarshal(rec, &b.Binaries); err == nil {
			b.Reused = true
			return b, nil
		}
	}
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	c.log().Info("building suite", "suite", a.Name, "command", s.Command, "revision", rev, "log", dir+".log")
	switch {
	case s.Format == matrix.FormatLibtest:
		err = c.buildCargoTest(ctx, b)
	case s.Format == matrix.FormatNextest:
		words := strings.Fields(s.Command)
		args := append([]string{"nextest", "list"}, cargoArgs(words[3:])...)
		_, err = c.run(ctx, b, "cargo", args...)
	case s.Build != "":
		_, err = c.run(ctx, b, "sh", "-c", s.Build)
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	rec, _ := json.Marshal(b.Binaries)
	return b, os.WriteFile(filepath.Join(dir, "ok"), rec, 0o644)
}

func cargo(s *matrix.Suite) bool {
	return s.Format == matrix.FormatLibtest || s.Format == matrix.FormatNextest
}

// cargoArgs are the cargo arguments of a command's words after the subcommand: up to "--".
func cargoArgs(words []string) []string {
	for i, w := range words {
		if w == "--" {
			return words[:i]
		}
	}
	return words
}

// testArgs are the arguments after "--", for the test binaries.
func testArgs(words []string) []string {
	for i, w := range words {
		if w == "--" {
			return words[i+1:]
		}
	}
	return nil
}

// buildCargoTest runs `cargo test ARGS --no-run --message-format json-render-diagnostics`
// and copies every test executable it reports into the build's folder.
func (c *Cache) buildCargoTest(ctx context.Context, b *Built) error {
	words := strings.Fields(b.Artifact.Suite.Command)
	args := append([]string{"test"}, cargoArgs(words[2:])...)
	args = append(args, "--no-run", "--message-format", "json-render-diagnostics")
	out, err := c.run(ctx, b, "cargo", args...)
	if err != nil {
		return err
	}
	type artifact struct {
		Reason     string  `json:"reason"`
		Executable *string `json:"executable"`
		Manifest   string  `json:"manifest_path"`
		Target     struct {
			Name string   `json:"name"`
			Kind []string `json:"kind"`
		} `json:"target"`
		Profile struct {
			Test bool `json:"test"`
		} `json:"profile"`
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	seen := map[string]bool{}
	for sc.Scan() {
		var a artifact
		if json.Unmarshal(sc.Bytes(), &a) != nil || a.Reason != "compiler-artifact" || !a.Profile.Test || a.Executable == nil {
			continue
		}
		name := a.Target.Name
		for i := 2; seen[name]; i++ { // a lib and a test target may share a name
			name = fmt.Sprintf("%s-%d", a.Target.Name, i)
		}
		seen[name] = true
		dst := filepath.Join(b.Dir, "bin", name)
		if err := copyExecutable(*a.Executable, dst); err != nil {
			return &BuildError{Suite: b.Artifact.Name, Cmd: "copy " + *a.Executable, Err: err}
		}
		b.Binaries = append(b.Binaries, Binary{Target: name, Path: dst, PackageDir: filepath.Dir(a.Manifest)})
	}
	if len(b.Binaries) == 0 {
		return &BuildError{Suite: b.Artifact.Name, Cmd: "cargo " + strings.Join(args, " "), Err: fmt.Errorf("it built no test binary (does the command select a test target?)")}
	}
	return nil
}

// run runs a build command in the checkout, its stderr (and stdout, unless it is returned)
// appended to the build's log; it returns stdout.
func (c *Cache) run(ctx context.Context, b *Built, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, buildDeadline)
	defer cancel()
	logPath := b.Dir + ".log"
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := proc.Command(ctx, name, args...)
	cmd.Dir = b.Checkout
	cmd.Env = append(os.Environ(), "CARGO_TARGET_DIR="+c.CargoTargetDir(), "CARGO_TERM_COLOR=never",
		"AWACOMPAT_SUITE_BUILD="+filepath.Join(b.Dir, "build"), "PYTHONDONTWRITEBYTECODE=1")
	for _, e := range b.Artifact.Suite.Env {
		cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
	}
	fmt.Fprintf(f, "$ %s\n", strings.Join(cmd.Args, " "))
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, f
	if name == "sh" {
		cmd.Stdout = f
	}
	if err := cmd.Run(); err != nil {
		_ = f.Sync()
		return nil, &BuildError{Suite: b.Artifact.Name, Cmd: strings.Join(cmd.Args, " "), Tail: proc.TailFile(logPath, 30), Err: proc.Failed(ctx, buildDeadline, cmd.Args, err, "")}
	}
	return stdout.Bytes(), nil
}

func copyExecutable(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}
