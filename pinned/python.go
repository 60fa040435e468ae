package pinned

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/awacompat/awacompat/internal/proc"
	"github.com/awacompat/awacompat/internal/version"
)

// pythonTag returns the "cp311"-style tag of the interpreter, which keys virtualenvs.
func (c *Cache) pythonTag(ctx context.Context) (string, error) {
	py := c.pythonExe()
	out, err := proc.Output(ctx, queryDeadline, py, "-c", "import sys;print('cp%d%d' % sys.version_info[:2])")
	if err != nil {
		return "", fmt.Errorf("find python interpreter %q: %w", py, err)
	}
	return strings.TrimSpace(string(out)), nil
}

func (c *Cache) pythonExe() string {
	if c.Python != "" {
		return c.Python
	}
	return "python3"
}

// pipInstallsInto is whether the interpreter's own pip can install into a virtualenv that has
// none (pip --python: pip 22.3 and later).
func (c *Cache) pipInstallsInto(ctx context.Context) bool {
	out, err := proc.Output(ctx, queryDeadline, c.pythonExe(), "-c", "import pip;print(pip.__version__)")
	if err != nil {
		return false
	}
	var major, minor int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 22 || major == 22 && minor >= 3
}

// venv creates (or reuses) a virtualenv in dir holding the pip requirements. Virtualenvs are
// not relocatable, so it is built in place; the "ok" marker is written last, and a directory
// without it is removed and rebuilt.
func (c *Cache) venv(ctx context.Context, s Spec, dir string, req ...string) (reused bool, err error) {
	if exists(filepath.Join(dir, "ok")) {
		return true, nil
	}
	_ = os.RemoveAll(dir)
	logPath := dir + ".log"
	_ = os.Remove(logPath)
	c.log().Info("installing", "artifact", s.String(), "dir", dir)
	// A virtualenv's own pip (ensurepip) costs about 6 CPU-s, most of an install: when the
	// interpreter's pip can install into another interpreter (pip --python, 22.3 and later),
	// the virtualenv is made without one and that pip installs into it.
	outer := c.pipInstallsInto(ctx)
	venvArgs := []string{"-m", "venv", dir}
	if outer {
		venvArgs = []string{"-m", "venv", "--without-pip", dir}
	}
	if err := runLogged(ctx, s, logPath, pipDeadline, "", nil, c.pythonExe(), venvArgs...); err != nil {
		_ = os.RemoveAll(dir)
		return false, err
	}
	py := filepath.Join(dir, "bin", "python")
	args := append([]string{"-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--quiet"}, req...)
	if outer {
		args = append([]string{"-m", "pip", "--python", py, "install", "--disable-pip-version-check", "--no-input", "--quiet"}, req...)
		py = c.pythonExe()
	}
	// A checkout is built by its PEP 517 backend (maturin, cargo); builds of successive
	// commits share one cargo target directory, so only what changed is compiled again.
	env := append(os.Environ(), "CARGO_TARGET_DIR="+filepath.Join(c.Root, "python", "cargo-target"), "CARGO_TERM_COLOR=never")
	if err := runLogged(ctx, s, logPath, pipDeadline, "", env, py, args...); err != nil {
		_ = os.RemoveAll(dir)
		return false, err
	}
	return false, markOK(dir, strings.Join(req, " ")+"\n")
}

// installPython installs awa-pg==X (or a wheel file) into its own virtualenv.
func (c *Cache) installPython(ctx context.Context, s Spec) (*Installed, error) {
	tag, err := c.pythonTag(ctx)
	if err != nil {
		return nil, &InstallError{Spec: s, Cmd: c.pythonExe(), Err: err}
	}
	req, key, origin, err := pipRequirement(s, "awa-pg")
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(c.Root, "python", key+"-"+tag)
	defer c.lock(dir)()
	reused, err := c.venv(ctx, s, dir, req)
	if err != nil {
		return nil, err
	}
	probe, err := filepath.Abs(filepath.Join(c.ProbesDir, "python", "awaprobe.py"))
	if err != nil {
		return nil, err
	}
	in := &Installed{
		Spec:   s,
		Probe:  []string{filepath.Join(dir, "bin", "python"), "-u", probe},
		Origin: origin,
		Dir:    dir,
		Reused: reused,
	}
	in.Checksum = c.distChecksum(ctx, dir, "awa-pg", "awa_pg")
	out, err := proc.Output(ctx, queryDeadline, in.Probe[0], "-c", "import importlib.metadata as m; print(m.version('awa-pg'))")
	if err != nil {
		return nil, &InstallError{Spec: s, Cmd: "check the installed version", Err: err}
	}
	if err := checkVersion(s, "awa-pg", strings.TrimSpace(string(out))); err != nil {
		return nil, err
	}
	return in, nil
}

// checkVersion insists that what was installed is the version the matrix names: a wheel file
// or a checkout of another release must not run under a wrong label. The two spellings of a
// release are the same version (pip reports 0.6.0rc4 for the release cargo calls 0.6.0-rc.4).
func checkVersion(s Spec, what, got string) error {
	v, err := version.Parse(got)
	if err != nil || v != s.Version {
		return &InstallError{Spec: s, Cmd: "check the installed version", Err: fmt.Errorf("%s is %s, but the matrix says %s", what, got, s.Version)}
	}
	return nil
}

// cliVersion runs `awa --version` ("awa 0.6.9") and checks it.
func cliVersion(ctx context.Context, s Spec, bin string) error {
	out, err := proc.Output(ctx, queryDeadline, bin, "--version")
	if err != nil {
		return &InstallError{Spec: s, Cmd: bin + " --version", Err: err}
	}
	return checkVersion(s, "the awa binary", strings.TrimPrefix(strings.TrimSpace(string(out)), "awa "))
}

// installCLI installs the awa binary from PyPI awa-cli==X (or a prebuilt binary file).
func (c *Cache) installCLI(ctx context.Context, s Spec) (*Installed, error) {
	if s.Via == "cargo" {
		return c.installCLICargo(ctx, s)
	}
	if s.Source != "" && !strings.HasSuffix(s.Source, ".whl") {
		info, err := os.Stat(s.Source)
		if err != nil {
			return nil, &InstallError{Spec: s, Cmd: "stat " + s.Source, Err: err}
		}
		if info.IsDir() {
			return c.installCLICargo(ctx, s)
		}
		sum, err := sha256File(s.Source)
		if err != nil {
			return nil, &InstallError{Spec: s, Cmd: "read " + s.Source, Err: err}
		}
		abs, _ := filepath.Abs(s.Source)
		if err := cliVersion(ctx, s, abs); err != nil {
			return nil, err
		}
		return &Installed{Spec: s, AwaBin: abs, Origin: "file:" + abs, Checksum: sum, Dir: filepath.Dir(abs), Reused: true}, nil
	}
	tag, err := c.pythonTag(ctx)
	if err != nil {
		return nil, &InstallError{Spec: s, Cmd: c.pythonExe(), Err: err}
	}
	req, key, origin, err := pipRequirement(s, "awa-cli")
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(c.Root, "cli", key+"-"+tag)
	defer c.lock(dir)()
	reused, err := c.venv(ctx, s, dir, req)
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "bin", "awa")
	sum, _ := sha256File(bin)
	if err := cliVersion(ctx, s, bin); err != nil {
		return nil, err
	}
	return &Installed{Spec: s, AwaBin: bin, Origin: origin, Checksum: sum, Dir: dir, Reused: reused}, nil
}

// pipRequirement turns a spec into a pip requirement, a cache key and an origin label.
func pipRequirement(s Spec, dist string) (req, key, origin string, err error) {
	if s.Source == "" {
		pep := s.Version.PEP440()
		return dist + "==" + pep, dist + "-" + s.Version.String(), "pypi:" + dist + "==" + pep, nil
	}
	if strings.HasSuffix(s.Source, ".whl") {
		abs, err := filepath.Abs(s.Source)
		if err != nil {
			return "", "", "", err
		}
		sum, err := sha256File(abs)
		if err != nil {
			return "", "", "", &InstallError{Spec: s, Cmd: "read " + abs, Err: err}
		}
		return abs, dist + "-" + s.Version.String() + "-whl-" + sum[:12], "file:" + abs, nil
	}
	// A local awa checkout: pip builds the package directory through its PEP 517 backend
	// (maturin, for awa-python and awa-cli), which needs the Rust toolchain.
	pkg, err := checkoutPackage(s.Source, dist)
	if err != nil {
		return "", "", "", &InstallError{Spec: s, Cmd: "resolve source", Err: err}
	}
	rev, err := checkoutRevision(pkg)
	if err != nil {
		return "", "", "", &InstallError{Spec: s, Cmd: "resolve source", Err: err}
	}
	return pkg, dist + "-" + s.Version.String() + "-src-" + rev, "path:" + pkg + "@" + rev, nil
}

// checkoutPackage finds the Python package of dist in a local awa checkout: awa-pg lives in
// awa-python/, awa-cli in awa-cli/; a directory that is itself the package is taken as is.
func checkoutPackage(source, dist string) (string, error) {
	abs, err := filepath.Abs(source)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil || !st.IsDir() {
		return "", fmt.Errorf("%s: a python source is a .whl file or a local awa checkout directory", source)
	}
	sub := map[string]string{"awa-pg": "awa-python", "awa-cli": "awa-cli"}[dist]
	for _, dir := range []string{filepath.Join(abs, sub), abs} {
		if exists(filepath.Join(dir, "pyproject.toml")) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%s: no pyproject.toml in %s/ or the directory itself", source, sub)
}

// CheckoutRevision is checkoutRevision, for the other builds from a checkout (the test suites
// of package suite).
func CheckoutRevision(dir string) (string, error) { return checkoutRevision(dir) }

// checkoutRevision keys a build from a local awa checkout: the commit plus a hash of every
// uncommitted change in the whole checkout (tracked edits and untracked files), so an edited
// checkout is rebuilt and an unchanged one reused. The whole checkout counts, not only the
// package directory: awa-python and awa-cli build awa-model and awa-worker through path
// dependencies. Outside git, every file is hashed instead.
func checkoutRevision(dir string) (string, error) {
	top, err := proc.Output(context.Background(), queryDeadline, "git", "-C", dir, "rev-parse", "--show-toplevel")
	if err != nil {
		sum, err := hashCheckout(dir)
		if err != nil {
			return "", fmt.Errorf("fingerprint %s: %w", dir, err)
		}
		return "tree-" + sum[:12], nil
	}
	root := strings.TrimSpace(string(top))
	head, err := proc.Output(context.Background(), queryDeadline, "git", "-C", root, "rev-parse", "HEAD")
	if err != nil {
		return "", fmt.Errorf("git rev-parse HEAD in %s: %w", root, err)
	}
	diff, err := proc.Output(context.Background(), queryDeadline, "git", "-C", root, "diff", "HEAD", "--binary")
	if err != nil {
		return "", fmt.Errorf("git diff in %s: %w", root, err)
	}
	untracked, err := proc.Output(context.Background(), queryDeadline, "git", "-C", root, "ls-files", "--others", "--exclude-standard", "-z")
	if err != nil {
		return "", fmt.Errorf("git ls-files in %s: %w", root, err)
	}
	h := sha256.New()
	h.Write(diff)
	for _, name := range strings.Split(strings.TrimRight(string(untracked), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			continue // a file that vanished meanwhile, or a directory symlink
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		h.Write(b)
	}
	rev := strings.TrimSpace(string(head))[:12]
	if len(diff) > 0 || len(untracked) > 0 {
		rev += "-dirty-" + hex.EncodeToString(h.Sum(nil))[:8]
	}
	return rev, nil
}

// distChecksum returns the sha256 of the distribution's RECORD file, which pins every file the
// wheel installed (wheels are not kept by pip, so the RECORD is the closest stable fingerprint).
func (c *Cache) distChecksum(ctx context.Context, dir, dist, distUnderscore string) string {
	matches, _ := filepath.Glob(filepath.Join(dir, "lib", "python*", "site-packages", distUnderscore+"-*.dist-info", "RECORD"))
	if len(matches) == 0 {
		return ""
	}
	sum, err := sha256File(matches[0])
	if err != nil {
		return ""
	}
	return "record:" + sum
}
