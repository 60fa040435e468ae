package pinned

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// pythonTag returns the "cp311"-style tag of the interpreter, which keys virtualenvs.
func (c *Cache) pythonTag(ctx context.Context) (string, error) {
	py := c.pythonExe()
	out, err := exec.CommandContext(ctx, py, "-c", "import sys;print('cp%d%d' % sys.version_info[:2])").Output()
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
	if err := runLogged(ctx, s, logPath, exec.CommandContext(ctx, c.pythonExe(), "-m", "venv", dir)); err != nil {
		_ = os.RemoveAll(dir)
		return false, err
	}
	py := filepath.Join(dir, "bin", "python")
	args := append([]string{"-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--quiet"}, req...)
	if err := runLogged(ctx, s, logPath, exec.CommandContext(ctx, py, args...)); err != nil {
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
	return in, nil
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
	return &Installed{Spec: s, AwaBin: bin, Origin: origin, Checksum: sum, Dir: dir, Reused: reused}, nil
}

// pipRequirement turns a spec into a pip requirement, a cache key and an origin label.
func pipRequirement(s Spec, dist string) (req, key, origin string, err error) {
	if s.Source == "" {
		return dist + "==" + s.Version, dist + "-" + s.Version, "pypi:" + dist + "==" + s.Version, nil
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
		return abs, dist + "-" + s.Version + "-whl-" + sum[:12], "file:" + abs, nil
	}
	return "", "", "", &InstallError{Spec: s, Cmd: "resolve source", Err: fmt.Errorf("%s: a python source must be a .whl file (local checkouts are built by the maturin path)", s.Source)}
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
