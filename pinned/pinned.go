// Package pinned resolves, installs and caches the awa artifacts a matrix names: PyPI wheels in
// their own virtualenvs, the awa crate compiled into our Rust probe, and the awa CLI binary.
//
// Everything heavy lives under one cache root outside the repository (default
// $XDG_CACHE_HOME/awacompat, else ~/.cache/awacompat), one directory per artifact, keyed by what
// determines it. A directory is only used once its "ok" marker exists, so an interrupted install
// is redone, never half-used.
package pinned

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/awacompat/awacompat/internal/proc"
	"github.com/awacompat/awacompat/internal/version"
)

// Kind is the form an artifact takes.
type Kind string

const (
	Python Kind = "python" // PyPI wheel awa-pg==X in its own virtualenv
	Rust   Kind = "rust"   // our probe crate compiled against awa = "=X"
	CLI    Kind = "cli"    // the awa binary, from PyPI awa-cli==X (or cargo)
)

// Spec says which artifact to install.
type Spec struct {
	Kind Kind
	// Version is the exact release or pre-release: pip gets its PEP 440 spelling
	// (awa-pg==0.6.0rc4), cargo its semver one (awa = "=0.6.0-rc.4").
	Version version.Version
	// Source is empty for the registry, or a local awa source checkout (directory), or a
	// prebuilt file (a wheel for python, a binary for cli).
	Source string
	// Via selects the installer for cli artifacts: "pypi" (default) or "cargo".
	Via string
}

func (s Spec) String() string {
	if s.Source != "" {
		return fmt.Sprintf("%s %s (%s)", s.Kind, s.Version, s.Source)
	}
	return fmt.Sprintf("%s %s", s.Kind, s.Version)
}

// Installed is a ready-to-run artifact.
type Installed struct {
	Spec Spec
	// Probe is the argv prefix that runs our probe with this artifact; the spec file path is
	// appended. Empty for cli artifacts.
	Probe []string
	// AwaBin is the awa CLI binary (cli artifacts, and python artifacts that also carry one).
	AwaBin string
	// Origin says exactly what ran: "pypi:awa-pg==0.5.7", "crates.io:awa=0.5.7", a path.
	Origin string
	// Checksum is the sha256 of the installed wheel or binary, when there is one file to hash.
	Checksum string
	// Dir is the artifact's cache directory.
	Dir string
	// Reused is true when the cache already held it.
	Reused bool
}

// InstallError is a failed install: the command that failed and the tail of its output.
type InstallError struct {
	Spec Spec
	Cmd  string
	Tail string
	Err  error
}

func (e *InstallError) Error() string {
	msg := fmt.Sprintf("install %s: %s: %v", e.Spec, e.Cmd, e.Err)
	if e.Tail != "" {
		msg += "\n" + e.Tail
	}
	return msg
}

func (e *InstallError) Unwrap() error { return e.Err }

// Cache installs artifacts under Root. It is safe for concurrent use; each artifact is
// installed at most once per process.
type Cache struct {
	// Root is the cache directory (see DefaultRoot).
	Root string
	// ProbesDir is the repository's probes directory (holds python/awaprobe.py and rust/).
	ProbesDir string
	// Python is the interpreter used to create virtualenvs (default "python3").
	Python string
	// CargoTargetDir is the CARGO_TARGET_DIR every Rust probe build shares, so the dependency
	// crates common to all awa releases compile once. It holds build output only: each probe
	// binary is copied out of it into Root. Default: <Root>/rust/target.
	CargoTargetDir string
	// Log receives progress; nil discards.
	Log *slog.Logger

	keys KeyLocks
}

// DefaultRoot is $AWACOMPAT_CACHE, else $XDG_CACHE_HOME/awacompat, else ~/.cache/awacompat.
func DefaultRoot() string {
	if d := os.Getenv("AWACOMPAT_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "awacompat")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "awacompat-cache")
	}
	return filepath.Join(home, ".cache", "awacompat")
}

func (c *Cache) cargoTargetDir() string {
	if c.CargoTargetDir != "" {
		return c.CargoTargetDir
	}
	return filepath.Join(c.Root, "rust", "target")
}

func (c *Cache) log() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c.Log
}

// lock serialises work on one cache key (see KeyLocks).
func (c *Cache) lock(key string) func() { return c.keys.Lock(key) }

// Install returns the artifact, installing it first unless the cache holds it.
func (c *Cache) Install(ctx context.Context, s Spec) (*Installed, error) {
	switch s.Kind {
	case Python:
		return c.installPython(ctx, s)
	case CLI:
		return c.installCLI(ctx, s)
	case Rust:
		return c.installRust(ctx, s)
	}
	return nil, fmt.Errorf("install %s: unknown artifact kind %q", s, s.Kind)
}

// Deadlines of the installers' commands: generous for a cold build on a small, busy machine
// (awa main's CLI took 14 minutes from cold on 2 shared cores), short for queries. A command
// past its deadline is killed with its process group and reported with its command line.
const (
	pipDeadline   = 30 * time.Minute // venv (ensurepip installs pip) and pip install, which may build a checkout with maturin
	cargoDeadline = 60 * time.Minute // cargo build / install
	queryDeadline = 30 * time.Second // --version, python -c, rustc --version, git
)

// runLogged runs a command (in its own process group, under deadline), writing its combined
// output to logPath, and returns an InstallError with the command and the output's tail when
// it fails.
func runLogged(ctx context.Context, s Spec, logPath string, deadline time.Duration, dir string, env []string, name string, args ...string) error {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	cmd := proc.Command(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	fmt.Fprintf(f, "$ %s\n", strings.Join(cmd.Args, " "))
	cmd.Stdout = f
	cmd.Stderr = f
	if err := cmd.Run(); err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("killed after its %s deadline (%v)", deadline, err)
		} else if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return &InstallError{Spec: s, Cmd: strings.Join(cmd.Args, " "), Tail: proc.TailFile(logPath, 30), Err: err}
	}
	return nil
}

func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// markOK records that dir is complete.
func markOK(dir string, content string) error {
	return os.WriteFile(filepath.Join(dir, "ok"), []byte(content), 0o644)
}

var errNoSource = errors.New("source not found")
