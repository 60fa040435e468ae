package pinned

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	toml "github.com/pelletier/go-toml/v2"
)

// probeManifest is the repository's probes/rust/Cargo.toml.
func probeManifest(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../probes/rust/Cargo.toml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeTOML(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := toml.Unmarshal(b, &m); err != nil {
		t.Fatalf("not TOML: %v\n%s", err, b)
	}
	return m
}

// The rewritten probe manifest links the awa asked for, pins the parts asked for, renames the
// [[bin]], and keeps everything else cargo reads: the other dependencies, the features, the
// profile (shared build output is reused only under the same profile) and the [workspace].
func TestRewriteManifest(t *testing.T) {
	const binName = "awa-probe-0123456789ab"
	for _, tc := range []struct {
		name     string
		dep      awaDep
		pins     []string
		wantAwa  any
		wantPins map[string]any
	}{
		{"release", awaDep{Version: "0.5.7"}, nil, "=0.5.7", nil},
		{"pre-release with pins", awaDep{Version: "0.6.0-rc.4"}, []string{"awa-macros", "awa-model"}, "=0.6.0-rc.4",
			map[string]any{"awa-macros": "=0.6.0-rc.4", "awa-model": "=0.6.0-rc.4"}},
		{"checkout", awaDep{Path: `/src/my "awa" \ checkout/awa`}, nil, map[string]any{"path": `/src/my "awa" \ checkout/awa`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := probeManifest(t)
			out, err := rewriteManifest(src, tc.dep, tc.pins, binName)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(out), manifestHeader) {
				t.Errorf("no header saying where the manifest came from:\n%s", out)
			}
			got, was := decodeTOML(t, out), decodeTOML(t, src)
			deps := got["dependencies"].(map[string]any)
			if !reflect.DeepEqual(deps["awa"], tc.wantAwa) {
				t.Errorf("awa = %#v; want %#v", deps["awa"], tc.wantAwa)
			}
			for name, want := range tc.wantPins {
				if deps[name] != want {
					t.Errorf("%s = %#v; want %#v", name, deps[name], want)
				}
			}
			bins := got["bin"].([]any)
			if len(bins) != 1 || bins[0].(map[string]any)["name"] != binName || bins[0].(map[string]any)["path"] != "src/main.rs" {
				t.Errorf("[[bin]] = %#v", bins)
			}
			if got["package"].(map[string]any)["name"] != "awa-probe" {
				t.Errorf("[package] = %#v", got["package"])
			}
			// Everything else reads exactly as the source does.
			delete(deps, "awa")
			for name := range tc.wantPins {
				delete(deps, name)
			}
			delete(was["dependencies"].(map[string]any), "awa")
			bins[0].(map[string]any)["name"] = "awa-probe"
			if !reflect.DeepEqual(got, was) {
				t.Errorf("the rest of the manifest changed:\n got %#v\nwant %#v", got, was)
			}
			for _, key := range []string{"workspace", "features", "profile"} {
				if _, ok := got[key]; !ok {
					t.Errorf("[%s] is gone", key)
				}
			}
		})
	}
}

// Cargo itself reads the rewritten manifest as meant: the bin target's name, the awa
// requirement (or path), the pins and the features (cargo metadata --no-deps, offline).
func TestRewrittenManifestReadsInCargo(t *testing.T) {
	if _, err := exec.LookPath("cargo"); err != nil {
		t.Skip("cargo not on PATH")
	}
	checkout := t.TempDir()
	os.MkdirAll(filepath.Join(checkout, "awa", "src"), 0o755)
	os.WriteFile(filepath.Join(checkout, "awa", "Cargo.toml"), []byte("[package]\nname = \"awa\"\nversion = \"0.7.0-alpha.1\"\nedition = \"2021\"\n"), 0o644)
	os.WriteFile(filepath.Join(checkout, "awa", "src", "lib.rs"), nil, 0o644)
	for _, tc := range []struct {
		name string
		dep  awaDep
		pins []string
		want map[string]string // dependency -> req, or path for a path dependency
	}{
		{"release with pins", awaDep{Version: "0.6.0"}, []string{"awa-model", "awa-worker"},
			map[string]string{"awa": "=0.6.0", "awa-model": "=0.6.0", "awa-worker": "=0.6.0", "serde_json": "^1"}},
		{"checkout", awaDep{Path: filepath.Join(checkout, "awa")}, nil,
			map[string]string{"awa": filepath.Join(checkout, "awa"), "serde_json": "^1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := rewriteManifest(probeManifest(t), tc.dep, tc.pins, "awa-probe-0123456789ab")
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			os.MkdirAll(filepath.Join(dir, "src"), 0o755)
			os.WriteFile(filepath.Join(dir, "Cargo.toml"), out, 0o644)
			os.WriteFile(filepath.Join(dir, "build.rs"), []byte("fn main() {}\n"), 0o644)
			os.WriteFile(filepath.Join(dir, "src", "main.rs"), []byte("fn main() {}\n"), 0o644)
			cmd := exec.Command("cargo", "metadata", "--no-deps", "--format-version", "1", "--offline")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "CARGO_TARGET_DIR="+filepath.Join(dir, "target"))
			raw, err := cmd.Output()
			if err != nil {
				t.Fatalf("cargo metadata: %v\n%s\n%s", err, out, stderrOf(err))
			}
			var meta struct {
				WorkspaceRoot string `json:"workspace_root"`
				Packages      []struct {
					Name         string
					Dependencies []struct{ Name, Req, Path string }
					Targets      []struct {
						Name string
						Kind []string
					}
					Features map[string][]string
				}
			}
			if err := json.Unmarshal(raw, &meta); err != nil {
				t.Fatal(err)
			}
			if len(meta.Packages) != 1 || meta.WorkspaceRoot != dir {
				t.Fatalf("the copy is not its own workspace: root %s, packages %d", meta.WorkspaceRoot, len(meta.Packages))
			}
			p := meta.Packages[0]
			got := map[string]string{}
			for _, d := range p.Dependencies {
				if _, ok := tc.want[d.Name]; ok {
					got[d.Name] = d.Req
					if d.Path != "" {
						got[d.Name] = d.Path
					}
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("dependencies %v; want %v", got, tc.want)
			}
			var bins []string
			for _, tg := range p.Targets {
				if len(tg.Kind) == 1 && tg.Kind[0] == "bin" {
					bins = append(bins, tg.Name)
				}
			}
			if p.Name != "awa-probe" || len(bins) != 1 || bins[0] != "awa-probe-0123456789ab" {
				t.Errorf("package %s, bin targets %v", p.Name, bins)
			}
			if _, ok := p.Features["awa05"]; !ok || len(p.Features) != 2 {
				t.Errorf("features %v", p.Features)
			}
		})
	}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// A manifest awacompat cannot rewrite faithfully is refused with what is wrong, never guessed at.
func TestRewriteManifestRefuses(t *testing.T) {
	const good = `[package]
name = "awa-probe"
version = "0.1.0"

[[bin]]
name = "awa-probe"
path = "src/main.rs"

[dependencies]
awa = { version = "=0.6.9" }
serde = "1"

[workspace]
`
	release := awaDep{Version: "0.6.9"}
	if _, err := rewriteManifest([]byte(good), release, []string{"awa-model"}, "b"); err != nil {
		t.Fatalf("the base manifest (inline-table awa) is refused: %v", err)
	}
	for _, tc := range []struct {
		name, manifest string
		dep            awaDep
		pins           []string
		want           string
	}{
		{"not TOML", good + "awa = [\n", release, nil, "probes/rust/Cargo.toml"},
		{"awa twice", strings.Replace(good, `serde = "1"`, `awa = "1"`, 1), release, nil, "already defined"},
		{"no awa", strings.Replace(good, `awa = { version = "=0.6.9" }`, "", 1), release, nil, "no awa in [dependencies]"},
		{"awa elsewhere only", strings.Replace(good, "[dependencies]\nawa", "[dev-dependencies]\nawa", 1), release, nil, "no awa in [dependencies]"},
		{"another package", strings.Replace(good, `name = "awa-probe"`+"\nversion", `name = "probe"`+"\nversion", 1), release, nil, `[package] named "awa-probe"`},
		{"no bin", strings.Replace(good, "[[bin]]\nname = \"awa-probe\"\npath = \"src/main.rs\"\n", "", 1), release, nil, "exactly one [[bin]], found 0"},
		{"two bins", good + "\n[[bin]]\nname = \"other\"\npath = \"src/other.rs\"\n", release, nil, "exactly one [[bin]], found 2"},
		{"bin of another name", strings.Replace(good, "[[bin]]\nname = \"awa-probe\"", "[[bin]]\nname = \"probe\"", 1), release, nil, `[[bin]] named "awa-probe"`},
		{"no workspace", strings.Replace(good, "[workspace]\n", "", 1), release, nil, "[workspace]"},
		{"a pin already there", strings.Replace(good, `serde = "1"`, `awa-model = "0.6"`, 1), release, []string{"awa-model"}, "already has a dependency awa-model"},
		{"pins on a checkout", good, awaDep{Path: "/src/awa/awa"}, []string{"awa-model"}, "path dependency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rewriteManifest([]byte(tc.manifest), tc.dep, tc.pins, "b")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v; want one containing %q", err, tc.want)
			}
		})
	}
}

// The cache key hashes the dependency as the manifest line earlier awacompat releases wrote,
// so their cached builds are found again.
func TestAwaDepKeyLine(t *testing.T) {
	if got := (awaDep{Version: "0.6.0-rc.4"}).keyLine(); got != `awa = "=0.6.0-rc.4"` {
		t.Errorf("release: %s", got)
	}
	if got := (awaDep{Path: "/src/awa/awa"}).keyLine(); got != `awa = { path = "/src/awa/awa" }` {
		t.Errorf("checkout: %s", got)
	}
}

const registry = `source = "registry+https://github.com/rust-lang/crates.io-index"`

// lock060 is the graph `awa = "=0.6.0"` resolves to without pins: the facade at 0.6.0, its
// parts (caret ranges) at 0.6.9.
const lock060 = `# This file is automatically @generated by Cargo.
version = 4

[[package]]
name = "awa"
version = "0.6.0"
` + registry + `
checksum = "00"
dependencies = [
 "awa-macros",
 "awa-model",
 "awa-worker",
]

[[package]]
name = "awa-metrics"
version = "0.6.9"
` + registry + `

[[package]]
name = "awa-model"
version = "0.6.9"
` + registry + `
dependencies = ["awa-macros", "serde 1.0.0"]

[[package]]
name = "awa-macros"
version = "0.6.9"
` + registry + `

[[package]]
name = "awa-worker"
version = "0.6.9"
` + registry + `
dependencies = [
 "awa-metrics",
 "awa-model",
]

[[package]]
name = "awa-probe"
version = "0.1.0"
dependencies = [
 "awa",
]
`

// lockTwoModels is a lock in which the graph holds two releases of one awa part: the facade and
// the worker are at 0.6.0, and the worker links awa-model 0.6.9 besides the facade's 0.6.0 (a
// lock then names the version in each dependency).
const lockTwoModels = `version = 3

[[package]]
name = "awa"
version = "0.6.0"
` + registry + `
dependencies = [
 "awa-model 0.6.0",
 "awa-worker",
]

[[package]]
name = "awa-model"
version = "0.6.0"
` + registry + `

[[package]]
name = "awa-model"
version = "0.6.9"
` + registry + `

[[package]]
name = "awa-worker"
version = "0.6.0"
` + registry + `
dependencies = [
 "awa-model 0.6.9 (registry+https://github.com/rust-lang/crates.io-index)",
]
`

// lockV1 is the oldest lock format: dependencies with version and source, checksums in a
// [metadata] table.
const lockV1 = `[[package]]
name = "awa"
version = "0.5.7"
source = "registry+https://github.com/rust-lang/crates.io-index"
dependencies = [
 "awa-model 0.5.7 (registry+https://github.com/rust-lang/crates.io-index)",
]

[[package]]
name = "awa-model"
version = "0.5.7"
source = "registry+https://github.com/rust-lang/crates.io-index"

[metadata]
"checksum awa 0.5.7 (registry+https://github.com/rust-lang/crates.io-index)" = "00"
`

func TestReadCargoLock(t *testing.T) {
	reg := "registry+https://github.com/rust-lang/crates.io-index"
	for _, tc := range []struct {
		name, lock string
		want       []lockPkg
		err        string
	}{
		{"v4, one-line and multi-line dependencies, a path package", lock060, []lockPkg{
			{"awa", "0.6.0", reg, []string{"awa-macros", "awa-model", "awa-worker"}},
			{"awa-metrics", "0.6.9", reg, nil},
			{"awa-model", "0.6.9", reg, []string{"awa-macros", "serde"}},
			{"awa-macros", "0.6.9", reg, nil},
			{"awa-worker", "0.6.9", reg, []string{"awa-metrics", "awa-model"}},
			{"awa-probe", "0.1.0", "", []string{"awa"}},
		}, ""},
		{"a part linking another release", lockTwoModels, []lockPkg{
			{"awa", "0.6.0", reg, []string{"awa-model", "awa-worker"}},
			{"awa-model", "0.6.0", reg, nil},
			{"awa-model", "0.6.9", reg, nil},
			{"awa-worker", "0.6.0", reg, []string{"awa-model"}},
		}, ""},
		{"v1 with [metadata]", lockV1, []lockPkg{
			{"awa", "0.5.7", reg, []string{"awa-model"}},
			{"awa-model", "0.5.7", reg, nil},
		}, ""},
		{"empty", "version = 4\n", []lockPkg{}, ""},
		{"not TOML", "[[package]]\nname = \"awa\n", nil, "read Cargo.lock"},
		{"a package twice in one table", "[[package]]\nname = \"awa\"\nname = \"awa\"\n", nil, "already defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readCargoLock([]byte(tc.lock))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v; want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// The repository's own development lock links awa 0.6.9 and its four parts, all at 0.6.9.
func TestLockPinsOfTheProbeLock(t *testing.T) {
	b, err := os.ReadFile("../probes/rust/Cargo.lock")
	if err != nil {
		t.Fatal(err)
	}
	pins, err := lockPins(b, "0.6.9")
	if err != nil || strings.Join(pins, ",") != "awa-macros,awa-metrics,awa-model,awa-worker" {
		t.Errorf("lockPins = %v, %v", pins, err)
	}
}

func TestLockPins(t *testing.T) {
	for _, tc := range []struct {
		name, lock, ver string
		want            string // pins joined by ","
		err             string
	}{
		{"every part at the release", strings.ReplaceAll(lock060, `"0.6.9"`, `"0.6.0"`), "0.6.0", "awa-macros,awa-metrics,awa-model,awa-worker", ""},
		{"parts of a newer release", lock060, "0.6.0", "", "lock file for awa 0.6.0 links awa-metrics 0.6.9, awa-model 0.6.9, awa-macros 0.6.9, awa-worker 0.6.9"},
		{"a part linking another release", lockTwoModels, "0.6.0", "", "lock file for awa 0.6.0 links awa-model 0.6.9"},
		{"the facade of another release", lock060, "0.6.9", "", "links awa 0.6.0"},
		{"no awa", "version = 4\n", "0.6.9", "", "lock file has no awa 0.6.9"},
		{"a v1 lock", lockV1, "0.5.7", "awa-model", ""},
		{"not TOML", "[[package]\n", "0.6.9", "", "read Cargo.lock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pins, err := lockPins([]byte(tc.lock), tc.ver)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("pins %v, error %v; want an error containing %q", pins, err, tc.err)
				}
				return
			}
			if err != nil || strings.Join(pins, ",") != tc.want {
				t.Errorf("pins %v, %v; want %s", pins, err, tc.want)
			}
		})
	}
}

// morePins pins, round by round, only the parts a part already at the release asks for.
func TestMorePins(t *testing.T) {
	read := func(lock string) []lockPkg {
		pkgs, err := readCargoLock([]byte(lock))
		if err != nil {
			t.Fatal(err)
		}
		return pkgs
	}
	for _, tc := range []struct {
		name, lock, ver string
		pinned          []string
		more, stray     string
	}{
		// Only the facade is at 0.6.0, so its direct parts are pinned; awa-metrics (pulled in
		// by the 0.6.9 worker) waits until a 0.6.0 crate asks for it.
		{"round 1", lock060, "0.6.0", nil, "awa-macros,awa-model,awa-worker", "awa-metrics 0.6.9,awa-model 0.6.9,awa-macros 0.6.9,awa-worker 0.6.9"},
		{"round 2", strings.Replace(strings.Replace(lock060,
			"name = \"awa-worker\"\nversion = \"0.6.9\"", "name = \"awa-worker\"\nversion = \"0.6.0\"", 1),
			"name = \"awa-model\"\nversion = \"0.6.9\"", "name = \"awa-model\"\nversion = \"0.6.0\"", 1),
			"0.6.0", []string{"awa-macros", "awa-model", "awa-worker"}, "awa-metrics", "awa-metrics 0.6.9,awa-macros 0.6.9"},
		{"already pinned, still stray: nothing more to pin", lock060, "0.6.0", []string{"awa-macros", "awa-model", "awa-worker"}, "",
			"awa-metrics 0.6.9,awa-model 0.6.9,awa-macros 0.6.9,awa-worker 0.6.9"},
		{"a part linking another release", lockTwoModels, "0.6.0", nil, "awa-model", "awa-model 0.6.9"},
		{"the facade of another release is never pinned", lock060, "0.6.9", nil, "", "awa 0.6.0"},
		{"nothing stray", lockV1, "0.5.7", nil, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			more, stray := morePins(read(tc.lock), tc.ver, tc.pinned)
			if strings.Join(more, ",") != tc.more || strings.Join(stray, ",") != tc.stray {
				t.Errorf("more %v stray %v; want %s / %s", more, stray, tc.more, tc.stray)
			}
		})
	}
}
