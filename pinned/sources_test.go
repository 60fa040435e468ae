package pinned

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/awacompat/awacompat/internal/version"
)

// testCache is a cache of the test's own (t.TempDir), never the user's, whose Rust builds
// share testCargoTarget.
func testCache(t *testing.T) *Cache {
	t.Helper()
	probes, err := filepath.Abs("../probes")
	if err != nil {
		t.Fatal(err)
	}
	return &Cache{Root: t.TempDir(), ProbesDir: probes, CargoTargetDir: testCargoTarget()}
}

// testCargoTarget is the CARGO_TARGET_DIR the tests' Rust probe builds share: not the user's
// artifact cache, and stable across runs, so awa's dependency crates compile once per machine
// rather than once per test. $AWACOMPAT_TEST_CARGO_TARGET, else a folder in os.TempDir().
func testCargoTarget() string {
	if d := os.Getenv("AWACOMPAT_TEST_CARGO_TARGET"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "awacompat-test-cargo-target")
}

// DefaultRoot is the one place a test names the user's cache, and it only computes the path.
func TestDefaultRoot(t *testing.T) {
	t.Setenv("HOME", "/home/someone")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("AWACOMPAT_CACHE", "")
	if got := DefaultRoot(); got != "/home/someone/.cache/awacompat" {
		t.Errorf("with HOME only: %q", got)
	}
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if got := DefaultRoot(); got != "/xdg/awacompat" {
		t.Errorf("with XDG_CACHE_HOME: %q", got)
	}
	t.Setenv("AWACOMPAT_CACHE", "/explicit")
	if got := DefaultRoot(); got != "/explicit" {
		t.Errorf("with AWACOMPAT_CACHE: %q", got)
	}
}

// A prebuilt wheel file is installed as it is, recorded by path, and run by the probe; a wheel
// of another release than the matrix says is refused.
func TestInstallWheelFile(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads a wheel from PyPI")
	}
	wheel := downloadWheel(t)
	c := testCache(t)
	ctx := context.Background()
	in, err := c.Install(ctx, Spec{Kind: Python, Version: version.MustParse("0.6.9"), Source: wheel})
	if err != nil {
		t.Fatal(err)
	}
	if in.Origin != "file:"+wheel || !strings.HasPrefix(in.Checksum, "record:") {
		t.Errorf("origin %q checksum %q", in.Origin, in.Checksum)
	}
	probeReports(t, in, "0.6.9")
	_, err = c.Install(ctx, Spec{Kind: Python, Version: version.MustParse("0.6.8"), Source: wheel})
	if err == nil || !strings.Contains(err.Error(), "awa-pg is 0.6.9, but the matrix says 0.6.8") {
		t.Fatalf("a mislabelled wheel: %v", err)
	}
}

// downloadWheel fetches awa-pg 0.6.9's wheel from PyPI into a folder of the test's.
func downloadWheel(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("python3", "-m", "pip", "download", "--no-deps", "--quiet", "-d", dir, "awa-pg==0.6.9").CombinedOutput(); err != nil {
		t.Fatalf("pip download: %v\n%s", err, out)
	}
	wheels, _ := filepath.Glob(filepath.Join(dir, "awa_pg-0.6.9-*.whl"))
	if len(wheels) != 1 {
		t.Fatalf("downloaded %v", wheels)
	}
	return wheels[0]
}

// probeReports runs the installed probe on a spec without steps and wants its start event to
// name awa version want.
func probeReports(t *testing.T, in *Installed, want string) {
	t.Helper()
	spec := filepath.Join(t.TempDir(), "spec.json")
	os.WriteFile(spec, []byte(`{"protocol":1,"database_url":"postgres://nobody@127.0.0.1:1/none","kind":"k","steps":[]}`), 0o644)
	out, err := exec.Command(in.Probe[0], append(in.Probe[1:], spec)...).Output()
	if err != nil || !strings.Contains(string(out), `"awa_version": "`+want+`"`) && !strings.Contains(string(out), `"awa_version":"`+want+`"`) {
		t.Fatalf("the probe of %s: %v\n%s", in.Dir, err, out)
	}
}

// A prebuilt awa binary is used in place, with its checksum, and its --version must match.
func TestInstallCLIBinaryFile(t *testing.T) {
	if testing.Short() {
		t.Skip("installs awa-cli from PyPI")
	}
	c := testCache(t)
	ctx := context.Background()
	reg, err := c.Install(ctx, Spec{Kind: CLI, Version: version.MustParse("0.6.9")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(reg.AwaBin)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "awa")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := c.Install(ctx, Spec{Kind: CLI, Version: version.MustParse("0.6.9"), Source: bin})
	if err != nil {
		t.Fatal(err)
	}
	if in.AwaBin != bin || in.Origin != "file:"+bin || in.Checksum != reg.Checksum || in.Checksum == "" {
		t.Errorf("installed %+v, registry checksum %s", in, reg.Checksum)
	}
	if _, err := c.Install(ctx, Spec{Kind: CLI, Version: version.MustParse("0.5.7"), Source: bin}); err == nil || !strings.Contains(err.Error(), "the awa binary is 0.6.9, but the matrix says 0.5.7") {
		t.Fatalf("a mislabelled binary: %v", err)
	}
}

// A local checkout is keyed by its git commit and uncommitted changes: unchanged it is reused,
// edited it is rebuilt. (The package here is a stand-in with awa-python's layout; building the
// real awa from source is the release gate's job, not a unit test's.)
func TestCheckoutKey(t *testing.T) {
	repo := t.TempDir()
	pkg := filepath.Join(repo, "awa-python")
	os.MkdirAll(pkg, 0o755)
	os.WriteFile(filepath.Join(pkg, "pyproject.toml"), []byte("[project]\nname = \"x\"\n"), 0o644)
	git := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.email=t@t", "-c", "user.name=t"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	git("add", ".")
	git("commit", "-qm", "x")
	_, key1, origin, err := pipRequirement(Spec{Kind: Python, Version: version.MustParse("0.7.0"), Source: repo}, "awa-pg")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(origin, "path:"+pkg+"@") || strings.Contains(key1, "dirty") {
		t.Fatalf("origin %q key %q", origin, key1)
	}
	_, key2, _, _ := pipRequirement(Spec{Kind: Python, Version: version.MustParse("0.7.0"), Source: repo}, "awa-pg")
	os.WriteFile(filepath.Join(pkg, "pyproject.toml"), []byte("[project]\nname = \"y\"\n"), 0o644)
	_, key3, _, _ := pipRequirement(Spec{Kind: Python, Version: version.MustParse("0.7.0"), Source: repo}, "awa-pg")
	if key1 != key2 || key3 == key1 || !strings.Contains(key3, "-dirty-") {
		t.Fatalf("keys: unchanged %q %q, edited %q", key1, key2, key3)
	}
	// A change outside the package directory counts too (awa-python builds awa-model through
	// a path dependency), and so does a new untracked file.
	git("checkout", "-q", "--", ".")
	os.MkdirAll(filepath.Join(repo, "awa-model"), 0o755)
	os.WriteFile(filepath.Join(repo, "awa-model", "lib.rs"), []byte("// new\n"), 0o644)
	_, key4, _, _ := pipRequirement(Spec{Kind: Python, Version: version.MustParse("0.7.0"), Source: repo}, "awa-pg")
	os.WriteFile(filepath.Join(repo, "awa-model", "lib.rs"), []byte("// changed\n"), 0o644)
	_, key5, _, _ := pipRequirement(Spec{Kind: Python, Version: version.MustParse("0.7.0"), Source: repo}, "awa-pg")
	if key4 == key1 || key5 == key4 || !strings.Contains(key4, "-dirty-") {
		t.Fatalf("keys: clean %q, untracked file outside the package %q, then edited %q", key1, key4, key5)
	}
	if _, _, _, err := pipRequirement(Spec{Kind: Python, Version: version.MustParse("0.7.0"), Source: t.TempDir()}, "awa-pg"); err == nil || !strings.Contains(err.Error(), "no pyproject.toml") {
		t.Fatalf("a directory without a package: %v", err)
	}
}
