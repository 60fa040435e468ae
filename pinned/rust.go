package pinned

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/awacompat/awacompat/internal/proc"
	"github.com/awacompat/awacompat/internal/version"
)

// The Rust probe (probes/rust) is compiled once per (awa release, rustc, probe source):
//
//	<Root>/rust/src-<awa>-<rustc>-<hash>/   a copy of probes/rust whose Cargo.toml is
//	                                          rewritten for the build (rewriteManifest, in
//	                                          cargo.go); "ok" is written after a good build
//	<Root>/rust/bin/awa-probe-<awa>-<rustc>-<hash>
//	                                          the binary that runs
//	<Root>/rust/target/                       one CARGO_TARGET_DIR for every build, so the
//	                                          dependency crates common to all releases are
//	                                          compiled once (Cache.CargoTargetDir moves it)
//
// <awa> is the release ("0.6.9"), or "<version>-path-<hash of the checkout>" for a local awa
// checkout. <hash> covers the probe source, the lock file the build starts from and the awa
// dependency (awaDep.keyLine).
//
// Exact release: the awa facade requires its parts (awa-model, awa-worker, awa-macros,
// awa-metrics) with caret ranges, so `awa = "=0.6.0"` alone would link awa-model 0.6.9. The
// copied manifest therefore also pins every awa-* crate of the graph to "=X", and build.rs
// refuses a lock in which any awa crate has another version.
//
// Lock files: probes/rust/locks/awa-<X>.lock, when present, is copied in as Cargo.lock and the
// build runs with --locked, so a release that built once keeps building with the same
// dependency versions. Without one, cargo resolves afresh (generate-lockfile, repeated while
// pins are added) and builds --locked; the resulting lock is left in the cache directory (copy
// it into probes/rust/locks to pin it). A local checkout starts from the checkout's own
// Cargo.lock and needs no pins (its parts are path dependencies).

// rustcVersion returns "1.95.0" for the rustc that cargo uses in dir.
func rustcVersion(ctx context.Context, dir string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, queryDeadline)
	defer cancel()
	cmd := proc.Command(ctx, "rustc", "--version")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", proc.Failed(ctx, queryDeadline, cmd.Args, err, "")
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		return "", fmt.Errorf("rustc --version: unexpected output %q", out)
	}
	return f[1], nil
}

// rustFeature picks the probe's API-line feature for an awa version: awa05 below 0.6, else
// awa06. Pre-releases count by their core version (0.6.0-rc.3 is on the 0.6 line); the
// probe's build.rs applies the same rule and refuses a mismatch.
func rustFeature(v version.Version) string {
	if v.Major == 0 && v.Minor < 6 {
		return "awa05"
	}
	return "awa06"
}

// probeFiles lists the probe's source files (relative, sorted): Cargo.toml, build.rs and src/.
// Nothing else is copied or hashed (not target/, not the development Cargo.lock, not lock files
// under locks/, which are hashed on their own when used), so the repository's probes/rust and
// the copy the awacompat binary extracts from its embedded sources map to the same cache key.
func probeFiles(src string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "." || rel == "src" || strings.HasPrefix(rel, "src/") {
				return nil
			}
			return filepath.SkipDir
		}
		if d.Type().IsRegular() && (rel == "Cargo.toml" || rel == "build.rs" || strings.HasPrefix(rel, "src/")) {
			files = append(files, rel)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// hashFiles hashes names and contents of files under root, plus extra.
func hashFiles(root string, files []string, extra ...[]byte) (string, error) {
	h := sha256.New()
	for _, rel := range files {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", rel, len(b))
		h.Write(b)
	}
	for _, e := range extra {
		fmt.Fprintf(h, "extra\x00%d\x00", len(e))
		h.Write(e)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// hashCheckout fingerprints a local awa checkout: every file cargo could read when building
// the awa crates (build output, VCS data and the non-Rust parts are skipped).
func hashCheckout(dir string) (string, error) {
	skipDirs := map[string]bool{"target": true, ".git": true, "node_modules": true, ".venv": true,
		"__pycache__": true, "docs": true, "awa-python": true, "awa-ui": true}
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != dir && skipDirs[d.Name()] {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	return hashFiles(dir, files)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// installRust builds probes/rust against awa = "=X" (or a local checkout) and returns the
// binary. A cache hit runs no cargo at all.
func (c *Cache) installRust(ctx context.Context, s Spec) (*Installed, error) {
	b, err := c.planRust(ctx, s)
	if err != nil {
		return nil, err
	}
	defer c.lock(b.dir)()
	in := &Installed{Spec: s, Probe: []string{b.bin}, Origin: b.origin, Dir: b.dir}
	if exists(filepath.Join(b.dir, "ok")) && exists(b.bin) {
		sum, err := sha256File(b.bin)
		if err != nil {
			return nil, b.fail("read "+b.bin, err)
		}
		in.Checksum, in.Reused = sum, true
		return in, nil
	}
	// A directory without "ok" is an interrupted or failed build: start it afresh.
	_ = os.RemoveAll(b.dir)
	_ = os.Remove(b.logPath())
	c.log().Info("installing", "artifact", s.String(), "dir", b.dir, "feature", b.feature, "locked", b.stored)
	if in.Checksum, err = b.build(ctx); err != nil {
		_ = os.RemoveAll(b.dir)
		return nil, err
	}
	return in, nil
}

// rustBuild is one build of the probe: what it links, its cache key and where it goes.
// planRust fills it in; the steps of build read it (and pinAwaCrates adds the pins).
type rustBuild struct {
	spec Spec
	// src is probes/rust (absolute) and files its sources (probeFiles).
	src   string
	files []string
	// ver is the release in cargo's spelling; feature the probe's API line for it (rustFeature).
	ver, feature string
	dep          awaDep
	// awaKey names what is linked in the cache key: "0.6.9", or "0.7.0-alpha.1-path-<rev>".
	awaKey string
	origin string
	// seedLock is the Cargo.lock the build starts from ("" for none) and lock its content.
	// stored says it is one of probes/rust/locks: its pins are taken as they are.
	seedLock string
	lock     []byte
	stored   bool
	// key is the cache key (awaKey-rustc-srcHash); dir, bin and binName follow from it.
	key, dir, bin, binName string
	// target is the CARGO_TARGET_DIR every probe build shares.
	target string
	// manifest is probes/rust/Cargo.toml as copied; pins the awa parts pinned to ver.
	manifest []byte
	pins     []string
}

// fail is an install error of this build: the step (or command) that failed and why.
func (b *rustBuild) fail(cmd string, err error) error {
	return &InstallError{Spec: b.spec, Cmd: cmd, Err: err}
}

// logPath is the build's cargo log, next to its directory (kept when the build fails).
func (b *rustBuild) logPath() string { return b.dir + ".log" }

// planRust works out everything a build is before any is done: the probe's sources, what awa to
// link and the lock to start from, and from those the cache key, which decides whether a
// build is needed at all.
func (c *Cache) planRust(ctx context.Context, s Spec) (*rustBuild, error) {
	src, err := filepath.Abs(filepath.Join(c.ProbesDir, "rust"))
	if err != nil {
		return nil, err
	}
	b := &rustBuild{spec: s, src: src, ver: s.Version.Cargo(), feature: rustFeature(s.Version), target: c.cargoTargetDir()}
	if !exists(filepath.Join(src, "Cargo.toml")) {
		return nil, b.fail("read "+src, fmt.Errorf("%w: no Cargo.toml in %s", errNoSource, src))
	}
	rustc, err := rustcVersion(ctx, src)
	if err != nil {
		return nil, b.fail("rustc --version", err)
	}
	if err := b.resolveAwa(); err != nil {
		return nil, err
	}
	if err := b.cacheKey(rustc); err != nil {
		return nil, err
	}
	root := filepath.Join(c.Root, "rust")
	b.dir = filepath.Join(root, "src-"+b.key)
	b.bin = filepath.Join(root, "bin", "awa-probe-"+b.key)
	b.binName = "awa-probe-" + srcHashOf(b.key)
	return b, nil
}

// resolveAwa decides what awa the build links and the lock it starts from: a registry release
// links awa = "=X" and starts from probes/rust/locks/awa-X.lock when there is one (so a release
// that built once keeps building with the same dependency versions); a local checkout links its
// awa crate as a path dependency and starts from the checkout's own Cargo.lock.
func (b *rustBuild) resolveAwa() error {
	s := b.spec
	if s.Source == "" {
		b.dep = awaDep{Version: b.ver}
		b.awaKey = b.ver
		b.origin = "crates.io:awa=" + b.ver
		if l := filepath.Join(b.src, "locks", "awa-"+b.ver+".lock"); exists(l) {
			b.seedLock, b.stored = l, true
		}
	} else {
		checkout, err := filepath.Abs(s.Source)
		if err != nil {
			return err
		}
		crate := filepath.Join(checkout, "awa")
		if !exists(filepath.Join(crate, "Cargo.toml")) {
			return b.fail("read "+crate, fmt.Errorf("%w: %s is not an awa checkout (no awa/Cargo.toml)", errNoSource, checkout))
		}
		rev, err := checkoutRevision(checkout)
		if err != nil {
			return b.fail("fingerprint "+checkout, err)
		}
		b.dep = awaDep{Path: crate}
		b.awaKey = b.ver + "-path-" + rev
		b.origin = "path:" + crate
		if l := filepath.Join(checkout, "Cargo.lock"); exists(l) {
			b.seedLock = l
		}
	}
	if b.seedLock != "" {
		var err error
		if b.lock, err = os.ReadFile(b.seedLock); err != nil {
			return b.fail("read "+b.seedLock, err)
		}
	}
	return nil
}

// cacheKey names the build by everything that decides its binary: the awa linked, the rustc,
// and a hash of the probe's sources, the seed lock and the awa dependency line.
func (b *rustBuild) cacheKey(rustc string) error {
	var err error
	if b.files, err = probeFiles(b.src); err != nil {
		return b.fail("read "+b.src, err)
	}
	srcHash, err := hashFiles(b.src, b.files, b.lock, []byte(b.dep.keyLine()))
	if err != nil {
		return b.fail("hash "+b.src, err)
	}
	b.key = b.awaKey + "-" + rustc + "-" + srcHash
	return nil
}

// build compiles the probe in the build's fresh directory and installs the binary; it returns
// the binary's sha256. The caller removes the directory when it fails.
func (b *rustBuild) build(ctx context.Context) (string, error) {
	if err := b.copyProbe(); err != nil {
		return "", err
	}
	if err := b.pinAwaCrates(ctx); err != nil {
		return "", err
	}
	args := []string{"build", "--release", "--features", b.feature}
	if b.dep.Path == "" {
		// The lock was checked for awa crates of other releases; build exactly it.
		args = append(args, "--locked")
	}
	if err := b.cargo(ctx, args...); err != nil {
		return "", err
	}
	return b.installBinary()
}

// copyProbe copies the probe's sources into the build directory, and the seed lock as its
// Cargo.lock: cargo builds the copy, so the repository's probes/rust is never written to.
func (b *rustBuild) copyProbe() error {
	for _, rel := range b.files {
		info, err := os.Stat(filepath.Join(b.src, rel))
		if err != nil {
			return b.fail("copy "+b.src, err)
		}
		if err := copyFile(filepath.Join(b.src, rel), filepath.Join(b.dir, rel), info.Mode().Perm()); err != nil {
			return b.fail("copy "+b.src, err)
		}
	}
	var err error
	if b.manifest, err = os.ReadFile(filepath.Join(b.dir, "Cargo.toml")); err != nil {
		return b.fail("read Cargo.toml", err)
	}
	if b.lock != nil {
		if err := os.WriteFile(filepath.Join(b.dir, "Cargo.lock"), b.lock, 0o644); err != nil {
			return b.fail("write Cargo.lock", err)
		}
	}
	return nil
}

// writeManifest writes the copy's Cargo.toml for this build (rewriteManifest) with the pins
// found so far.
func (b *rustBuild) writeManifest() error {
	out, err := rewriteManifest(b.manifest, b.dep, b.pins, b.binName)
	if err == nil {
		err = os.WriteFile(filepath.Join(b.dir, "Cargo.toml"), out, 0o644)
	}
	if err != nil {
		return b.fail("rewrite Cargo.toml", err)
	}
	return nil
}

// pinAwaCrates writes the manifest with every awa part of the graph pinned to the release under
// test. The awa facade requires its parts (awa-model, awa-worker, ...) with caret ranges, so
// `awa = "=0.6.0"` alone links awa-model 0.6.9. A stored lock names the parts (the manifest
// must match it for --locked, and a lock linking another release is refused); without one,
// resolvePins finds them. A checkout's parts are path dependencies and need no pins.
func (b *rustBuild) pinAwaCrates(ctx context.Context) error {
	switch {
	case b.dep.Path != "":
	case b.stored:
		var err error
		if b.pins, err = lockPins(b.lock, b.ver); err != nil {
			return b.fail("check "+b.seedLock, err)
		}
	default:
		return b.resolvePins(ctx)
	}
	return b.writeManifest()
}

// resolvePins resolves the graph afresh (cargo generate-lockfile) and pins, round after round,
// the parts that a part already at the release asks for, until no awa crate of another release
// is left. Only those: a part that only a wrong-release part pulls in may vanish once that part
// is pinned. The resulting Cargo.lock stays in the build directory (copy it into
// probes/rust/locks to pin the release's dependencies).
func (b *rustBuild) resolvePins(ctx context.Context) error {
	for round := 0; ; round++ {
		if err := b.writeManifest(); err != nil {
			return err
		}
		if err := b.cargo(ctx, "generate-lockfile"); err != nil {
			return err
		}
		lock, err := os.ReadFile(filepath.Join(b.dir, "Cargo.lock"))
		if err != nil {
			return b.fail("read Cargo.lock", err)
		}
		pkgs, err := readCargoLock(lock)
		if err != nil {
			return b.fail("read Cargo.lock", err)
		}
		more, stray := morePins(pkgs, b.ver, b.pins)
		if len(stray) == 0 {
			return nil
		}
		if len(more) == 0 || round == 5 {
			return b.fail("pin awa crates", fmt.Errorf("awa %s resolves to other releases of its parts: %s", b.ver, strings.Join(stray, ", ")))
		}
		b.pins = append(b.pins, more...)
		sort.Strings(b.pins)
	}
}

// cargo runs one cargo command in the build directory, its output appended to the build log.
func (b *rustBuild) cargo(ctx context.Context, args ...string) error {
	env := append(os.Environ(),
		"CARGO_TARGET_DIR="+b.target,
		// build.rs prefers the version in Cargo.lock; this is its fallback.
		"AWA_PROBE_AWA_VERSION="+b.ver,
		"CARGO_TERM_COLOR=never",
	)
	return runLogged(ctx, b.spec, b.logPath(), cargoDeadline, b.dir, env, "cargo", args...)
}

// installBinary copies the built binary out of the shared target directory (the next build
// of another release may overwrite it there), under a temporary name then renamed, so a
// half-copied binary is never found; then it marks the build complete with "ok", which
// records what was built from what.
func (b *rustBuild) installBinary() (string, error) {
	built := filepath.Join(b.target, "release", b.binName)
	tmp := b.bin + ".tmp"
	if err := copyFile(built, tmp, 0o755); err != nil {
		return "", b.fail("copy "+built, err)
	}
	if err := os.Rename(tmp, b.bin); err != nil {
		return "", b.fail("install "+b.bin, err)
	}
	sum, err := sha256File(b.bin)
	if err != nil {
		return "", b.fail("read "+b.bin, err)
	}
	record := fmt.Sprintf("%s\nfeature=%s lockfile=%s pinned=%s\nbinary=%s\nsha256=%s\n",
		b.origin, b.feature, b.seedLock, strings.Join(b.pins, ","), b.bin, sum)
	return sum, markOK(b.dir, record)
}

// srcHashOf shortens a cache key to a name cargo accepts for a binary target.
func srcHashOf(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])[:12]
}

// installCLICargo builds the awa CLI with `cargo install`: awa-cli X from crates.io (with the
// crate's own Cargo.lock, --locked), or the awa-cli crate of a local checkout.
func (c *Cache) installCLICargo(ctx context.Context, s Spec) (*Installed, error) {
	wd := c.ProbesDir
	if wd == "" || !exists(wd) {
		wd = "."
	}
	rustc, err := rustcVersion(ctx, wd)
	if err != nil {
		return nil, &InstallError{Spec: s, Cmd: "rustc --version", Err: err}
	}
	dir, origin, args, err := c.cliCargoSource(s, rustc)
	if err != nil {
		return nil, err
	}
	defer c.lock(dir)()
	bin := filepath.Join(dir, "bin", "awa")
	in := &Installed{Spec: s, AwaBin: bin, Origin: origin, Dir: dir}
	if exists(filepath.Join(dir, "ok")) && exists(bin) {
		in.Checksum, _ = sha256File(bin)
		in.Reused = true
		return in, nil
	}
	_ = os.RemoveAll(dir)
	_ = os.Remove(dir + ".log")
	c.log().Info("installing", "artifact", s.String(), "dir", dir)
	if in.Checksum, err = c.cargoInstall(ctx, s, dir, wd, origin, args); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return in, nil
}

// cliCargoSource says where a cargo-built CLI goes (its cache directory, keyed by the release,
// a checkout's revision and the rustc), where it comes from, and the `cargo install` arguments
// that build it.
func (c *Cache) cliCargoSource(s Spec, rustc string) (dir, origin string, args []string, err error) {
	ver := s.Version.Cargo()
	if s.Source == "" {
		dir = filepath.Join(c.Root, "cli", "cargo-"+ver+"-"+rustc)
		return dir, "crates.io:awa-cli=" + ver, []string{"install", "awa-cli", "--version", "=" + ver, "--locked"}, nil
	}
	checkout, err := filepath.Abs(s.Source)
	if err != nil {
		return "", "", nil, err
	}
	crate := filepath.Join(checkout, "awa-cli")
	if !exists(filepath.Join(crate, "Cargo.toml")) {
		return "", "", nil, &InstallError{Spec: s, Cmd: "read " + crate, Err: fmt.Errorf("%w: %s is not an awa checkout (no awa-cli/Cargo.toml)", errNoSource, checkout)}
	}
	rev, err := checkoutRevision(checkout)
	if err != nil {
		return "", "", nil, &InstallError{Spec: s, Cmd: "fingerprint " + checkout, Err: err}
	}
	dir = filepath.Join(c.Root, "cli", "cargo-"+ver+"-path-"+rev+"-"+rustc)
	return dir, "path:" + crate, []string{"install", "--path", crate, "--locked"}, nil
}

// cargoInstall runs `cargo install ARGS` into dir, in wd, and marks dir complete; it returns
// the binary's sha256. Every CLI build shares one target directory, so the dependencies common
// to all releases compile once.
func (c *Cache) cargoInstall(ctx context.Context, s Spec, dir, wd, origin string, args []string) (string, error) {
	args = append(args, "--root", dir, "--no-track")
	env := append(os.Environ(),
		"CARGO_TARGET_DIR="+filepath.Join(c.Root, "cli", "cargo-target"),
		"CARGO_TERM_COLOR=never",
	)
	if err := runLogged(ctx, s, dir+".log", cargoDeadline, wd, env, "cargo", args...); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "bin", "awa")
	sum, err := sha256File(bin)
	if err != nil {
		return "", &InstallError{Spec: s, Cmd: "read " + bin, Err: err}
	}
	return sum, markOK(dir, fmt.Sprintf("%s\nsha256=%s\n", origin, sum))
}
