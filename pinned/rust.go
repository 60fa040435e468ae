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
	src, err := filepath.Abs(filepath.Join(c.ProbesDir, "rust"))
	if err != nil {
		return nil, err
	}
	if !exists(filepath.Join(src, "Cargo.toml")) {
		return nil, &InstallError{Spec: s, Cmd: "read " + src, Err: fmt.Errorf("%w: no Cargo.toml in %s", errNoSource, src)}
	}
	feature := rustFeature(s.Version)
	cargoVer := s.Version.Cargo()
	rustc, err := rustcVersion(ctx, src)
	if err != nil {
		return nil, &InstallError{Spec: s, Cmd: "rustc --version", Err: err}
	}

	// What awa to link, and the lock file to start from.
	var dep awaDep
	var awaKey, origin, seedLock string
	locked := false
	if s.Source == "" {
		dep = awaDep{Version: cargoVer}
		awaKey = cargoVer
		origin = "crates.io:awa=" + cargoVer
		if l := filepath.Join(src, "locks", "awa-"+cargoVer+".lock"); exists(l) {
			seedLock, locked = l, true
		}
	} else {
		checkout, err := filepath.Abs(s.Source)
		if err != nil {
			return nil, err
		}
		crate := filepath.Join(checkout, "awa")
		if !exists(filepath.Join(crate, "Cargo.toml")) {
			return nil, &InstallError{Spec: s, Cmd: "read " + crate, Err: fmt.Errorf("%w: %s is not an awa checkout (no awa/Cargo.toml)", errNoSource, checkout)}
		}
		rev, err := checkoutRevision(checkout)
		if err != nil {
			return nil, &InstallError{Spec: s, Cmd: "fingerprint " + checkout, Err: err}
		}
		dep = awaDep{Path: crate}
		awaKey = cargoVer + "-path-" + rev
		origin = "path:" + crate
		if l := filepath.Join(checkout, "Cargo.lock"); exists(l) {
			seedLock = l
		}
	}

	files, err := probeFiles(src)
	if err != nil {
		return nil, &InstallError{Spec: s, Cmd: "read " + src, Err: err}
	}
	var lockBytes []byte
	if seedLock != "" {
		if lockBytes, err = os.ReadFile(seedLock); err != nil {
			return nil, &InstallError{Spec: s, Cmd: "read " + seedLock, Err: err}
		}
	}
	srcHash, err := hashFiles(src, files, lockBytes, []byte(dep.keyLine()))
	if err != nil {
		return nil, &InstallError{Spec: s, Cmd: "hash " + src, Err: err}
	}

	key := awaKey + "-" + rustc + "-" + srcHash
	root := filepath.Join(c.Root, "rust")
	dir := filepath.Join(root, "src-"+key)
	bin := filepath.Join(root, "bin", "awa-probe-"+key)
	defer c.lock(dir)()

	in := &Installed{Spec: s, Probe: []string{bin}, Origin: origin, Dir: dir}
	if exists(filepath.Join(dir, "ok")) && exists(bin) {
		sum, err := sha256File(bin)
		if err != nil {
			return nil, &InstallError{Spec: s, Cmd: "read " + bin, Err: err}
		}
		in.Checksum, in.Reused = sum, true
		return in, nil
	}

	// Fresh build directory.
	_ = os.RemoveAll(dir)
	logPath := dir + ".log"
	_ = os.Remove(logPath)
	c.log().Info("installing", "artifact", s.String(), "dir", dir, "feature", feature, "locked", locked)
	fail := func(cmd string, err error) (*Installed, error) {
		_ = os.RemoveAll(dir)
		return nil, &InstallError{Spec: s, Cmd: cmd, Err: err}
	}
	for _, rel := range files {
		info, err := os.Stat(filepath.Join(src, rel))
		if err != nil {
			return fail("copy "+src, err)
		}
		if err := copyFile(filepath.Join(src, rel), filepath.Join(dir, rel), info.Mode().Perm()); err != nil {
			return fail("copy "+src, err)
		}
	}
	manifest, err := os.ReadFile(filepath.Join(dir, "Cargo.toml"))
	if err != nil {
		return fail("read Cargo.toml", err)
	}
	binName := "awa-probe-" + srcHashOf(key)
	writeManifest := func(pins []string) error {
		rewritten, err := rewriteManifest(manifest, dep, pins, binName)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "Cargo.toml"), rewritten, 0o644)
	}
	if lockBytes != nil {
		if err := os.WriteFile(filepath.Join(dir, "Cargo.lock"), lockBytes, 0o644); err != nil {
			return fail("write Cargo.lock", err)
		}
	}

	target := c.cargoTargetDir()
	cargoEnv := append(os.Environ(),
		"CARGO_TARGET_DIR="+target,
		// build.rs prefers the version in Cargo.lock; this is its fallback.
		"AWA_PROBE_AWA_VERSION="+cargoVer,
		"CARGO_TERM_COLOR=never",
	)
	cargo := func(args ...string) error {
		return runLogged(ctx, s, logPath, cargoDeadline, dir, cargoEnv, "cargo", args...)
	}

	// The awa facade requires its parts (awa-model, awa-worker, ...) with caret ranges, so
	// `awa = "=0.6.0"` alone links awa-model 0.6.9. A registry build pins every awa crate of
	// the graph to the release under test: from the lock file when there is one, else by
	// resolving until no awa crate of another version is left.
	var pins []string
	buildArgs := []string{"build", "--release", "--features", feature}
	switch {
	case s.Source != "":
		if err := writeManifest(nil); err != nil {
			return fail("rewrite Cargo.toml", err)
		}
	case locked:
		pins, err = lockPins(lockBytes, cargoVer)
		if err != nil {
			return fail("check "+seedLock, err)
		}
		if err := writeManifest(pins); err != nil {
			return fail("rewrite Cargo.toml", err)
		}
		buildArgs = append(buildArgs, "--locked")
	default:
		for round := 0; ; round++ {
			if err := writeManifest(pins); err != nil {
				return fail("rewrite Cargo.toml", err)
			}
			if err := cargo("generate-lockfile"); err != nil {
				_ = os.RemoveAll(dir)
				return nil, err
			}
			b, err := os.ReadFile(filepath.Join(dir, "Cargo.lock"))
			if err != nil {
				return fail("read Cargo.lock", err)
			}
			pkgs, err := readCargoLock(b)
			if err != nil {
				return fail("read Cargo.lock", err)
			}
			more, stray := morePins(pkgs, cargoVer, pins)
			if len(stray) == 0 {
				break
			}
			if len(more) == 0 || round == 5 {
				return fail("pin awa crates", fmt.Errorf("awa %s resolves to other releases of its parts: %s", cargoVer, strings.Join(stray, ", ")))
			}
			pins = append(pins, more...)
			sort.Strings(pins)
		}
		buildArgs = append(buildArgs, "--locked")
	}
	if err := cargo(buildArgs...); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}

	built := filepath.Join(target, "release", binName)
	tmp := bin + ".tmp"
	if err := copyFile(built, tmp, 0o755); err != nil {
		return fail("copy "+built, err)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return fail("install "+bin, err)
	}
	sum, err := sha256File(bin)
	if err != nil {
		return fail("read "+bin, err)
	}
	if err := markOK(dir, fmt.Sprintf("%s\nfeature=%s lockfile=%s pinned=%s\nbinary=%s\nsha256=%s\n", origin, feature, seedLock, strings.Join(pins, ","), bin, sum)); err != nil {
		return nil, err
	}
	in.Checksum = sum
	return in, nil
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
	var dir, origin string
	var args []string
	if s.Source == "" {
		dir = filepath.Join(c.Root, "cli", "cargo-"+s.Version.Cargo()+"-"+rustc)
		origin = "crates.io:awa-cli=" + s.Version.Cargo()
		args = []string{"install", "awa-cli", "--version", "=" + s.Version.Cargo(), "--locked"}
	} else {
		checkout, err := filepath.Abs(s.Source)
		if err != nil {
			return nil, err
		}
		crate := filepath.Join(checkout, "awa-cli")
		if !exists(filepath.Join(crate, "Cargo.toml")) {
			return nil, &InstallError{Spec: s, Cmd: "read " + crate, Err: fmt.Errorf("%w: %s is not an awa checkout (no awa-cli/Cargo.toml)", errNoSource, checkout)}
		}
		rev, err := checkoutRevision(checkout)
		if err != nil {
			return nil, &InstallError{Spec: s, Cmd: "fingerprint " + checkout, Err: err}
		}
		dir = filepath.Join(c.Root, "cli", "cargo-"+s.Version.Cargo()+"-path-"+rev+"-"+rustc)
		origin = "path:" + crate
		args = []string{"install", "--path", crate, "--locked"}
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
	logPath := dir + ".log"
	_ = os.Remove(logPath)
	c.log().Info("installing", "artifact", s.String(), "dir", dir)
	args = append(args, "--root", dir, "--no-track")
	env := append(os.Environ(),
		// Shared by every CLI build so common dependencies compile once.
		"CARGO_TARGET_DIR="+filepath.Join(c.Root, "cli", "cargo-target"),
		"CARGO_TERM_COLOR=never",
	)
	if err := runLogged(ctx, s, logPath, cargoDeadline, wd, env, "cargo", args...); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	sum, err := sha256File(bin)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, &InstallError{Spec: s, Cmd: "read " + bin, Err: err}
	}
	if err := markOK(dir, fmt.Sprintf("%s\nsha256=%s\n", origin, sum)); err != nil {
		return nil, err
	}
	in.Checksum = sum
	return in, nil
}
