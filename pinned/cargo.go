package pinned

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	toml "github.com/pelletier/go-toml/v2"
)

// The probe's Cargo.toml is rewritten and Cargo.lock files are read through a TOML library,
// not line by line: a manifest or lock laid out differently (inline tables, one-line arrays,
// reordered keys) means the same to cargo and must mean the same here.

// awaDep is the probe's awa dependency: an exact registry release or a local checkout's crate.
type awaDep struct {
	// Version is the release in cargo's (semver) spelling, without "="; set for a registry build.
	Version string
	// Path is a local checkout's awa crate directory; set instead of Version.
	Path string
}

// value is the dependency as the manifest's [dependencies] table holds it.
func (d awaDep) value() any {
	if d.Path != "" {
		return map[string]any{"path": d.Path}
	}
	return "=" + d.Version
}

// keyLine is the dependency as the cache key hashes it. It is the manifest line the builds of
// earlier awacompat releases wrote, spelled the same way, so their cached builds keep their keys.
func (d awaDep) keyLine() string {
	if d.Path != "" {
		return fmt.Sprintf("awa = { path = %q }", d.Path)
	}
	return fmt.Sprintf("awa = %q", "="+d.Version)
}

// manifestHeader opens every rewritten manifest: its comments are gone, so it says where it
// came from.
const manifestHeader = "# Written by awacompat (pinned/rust.go) from probes/rust/Cargo.toml: the awa dependency\n" +
	"# points at the release under test, each awa-* part awa requires with a caret range is pinned\n" +
	"# to that release, and [[bin]] has a name of its own for this build.\n\n"

// rewriteManifest returns the probe's manifest (probes/rust/Cargo.toml) for one build: the awa
// dependency replaced by dep, each crate of pins required at exactly dep's release (registry
// builds only), and the one [[bin]] renamed to binName. Builds share one target directory, and
// a name of their own keeps two builds from overwriting each other's target/release/<bin>
// before it is copied out. Everything else ([package], [features], the other dependencies, the
// profile, the [workspace] that keeps the copy its own workspace) passes through unchanged in
// meaning; comments are dropped.
func rewriteManifest(manifest []byte, dep awaDep, pins []string, binName string) ([]byte, error) {
	var m map[string]any
	if err := toml.Unmarshal(manifest, &m); err != nil {
		return nil, fmt.Errorf("probes/rust/Cargo.toml: %w", err)
	}
	if pkg, _ := m["package"].(map[string]any); pkg == nil || pkg["name"] != "awa-probe" {
		return nil, fmt.Errorf("probes/rust/Cargo.toml: want a [package] named \"awa-probe\"")
	}
	if _, ok := m["workspace"].(map[string]any); !ok {
		// Without it, a copy below another Cargo workspace would be taken for its member.
		return nil, fmt.Errorf("probes/rust/Cargo.toml: want a [workspace] table (the copy must be its own workspace)")
	}
	deps, _ := m["dependencies"].(map[string]any)
	if _, ok := deps["awa"]; !ok {
		return nil, fmt.Errorf("probes/rust/Cargo.toml: no awa in [dependencies]")
	}
	deps["awa"] = dep.value()
	if len(pins) > 0 && dep.Path != "" {
		return nil, fmt.Errorf("pins %v for a path dependency: a checkout's parts are its own", pins)
	}
	for _, p := range pins {
		if _, ok := deps[p]; ok {
			return nil, fmt.Errorf("probes/rust/Cargo.toml: already has a dependency %s, which awacompat pins", p)
		}
		deps[p] = "=" + dep.Version
	}
	bins, _ := m["bin"].([]any)
	if len(bins) != 1 {
		return nil, fmt.Errorf("probes/rust/Cargo.toml: want exactly one [[bin]], found %d", len(bins))
	}
	bin, _ := bins[0].(map[string]any)
	if bin == nil || bin["name"] != "awa-probe" {
		return nil, fmt.Errorf("probes/rust/Cargo.toml: want the [[bin]] named \"awa-probe\"")
	}
	bin["name"] = binName
	var out bytes.Buffer
	out.WriteString(manifestHeader)
	if err := toml.NewEncoder(&out).Encode(m); err != nil {
		return nil, fmt.Errorf("write Cargo.toml: %w", err)
	}
	return out.Bytes(), nil
}

// lockPkg is one [[package]] of a Cargo.lock.
type lockPkg struct {
	Name    string
	Version string
	// Source is "registry+..." or "git+..."; empty for a path package (our own awa-probe, a
	// checkout's crates).
	Source string
	// Deps are the names of its dependencies (a lock writes "name", or "name version" when the
	// graph holds two versions of that crate, or "name version (source)").
	Deps []string
}

// readCargoLock reads the packages of a Cargo.lock (every format cargo has written: v1's
// [metadata] table and v2-v4's per-package checksums are ignored).
func readCargoLock(b []byte) ([]lockPkg, error) {
	var lock struct {
		Package []struct {
			Name         string   `toml:"name"`
			Version      string   `toml:"version"`
			Source       string   `toml:"source"`
			Dependencies []string `toml:"dependencies"`
		} `toml:"package"`
	}
	if err := toml.Unmarshal(b, &lock); err != nil {
		return nil, fmt.Errorf("read Cargo.lock: %w", err)
	}
	pkgs := make([]lockPkg, 0, len(lock.Package))
	for _, p := range lock.Package {
		lp := lockPkg{Name: p.Name, Version: p.Version, Source: p.Source}
		for _, d := range p.Dependencies {
			if name, _, _ := strings.Cut(strings.TrimSpace(d), " "); name != "" {
				lp.Deps = append(lp.Deps, name)
			}
		}
		pkgs = append(pkgs, lp)
	}
	return pkgs, nil
}

// isAwaCrate reports whether a lock package is part of the awa release (registry crates
// named awa or awa-*; our own awa-probe is a path package).
func isAwaCrate(p lockPkg) bool {
	return p.Source != "" && (p.Name == "awa" || strings.HasPrefix(p.Name, "awa-"))
}

// morePins returns the awa crates of another release than ver ("name version", stray) and,
// of those, the ones to pin next: those an awa crate already at ver depends on (a part that
// only a wrong-release part pulls in may vanish once that part is pinned).
func morePins(pkgs []lockPkg, ver string, pinned []string) (more, stray []string) {
	have := map[string]bool{}
	for _, p := range pinned {
		have[p] = true
	}
	wanted := map[string]bool{}
	for _, p := range pkgs {
		if isAwaCrate(p) && p.Version == ver {
			for _, d := range p.Deps {
				wanted[d] = true
			}
		}
	}
	for _, p := range pkgs {
		if !isAwaCrate(p) || p.Version == ver {
			continue
		}
		stray = append(stray, p.Name+" "+p.Version)
		if wanted[p.Name] && !have[p.Name] && p.Name != "awa" {
			more = append(more, p.Name)
			have[p.Name] = true
		}
	}
	sort.Strings(more)
	return more, stray
}

// lockPins checks that a stored lock file links only release ver of the awa crates and
// returns the parts to pin (the manifest must match the lock for --locked).
func lockPins(lock []byte, ver string) ([]string, error) {
	pkgs, err := readCargoLock(lock)
	if err != nil {
		return nil, err
	}
	var pins, stray []string
	found := false
	for _, p := range pkgs {
		if !isAwaCrate(p) {
			continue
		}
		if p.Version != ver {
			stray = append(stray, p.Name+" "+p.Version)
		} else if p.Name == "awa" {
			found = true
		} else {
			pins = append(pins, p.Name)
		}
	}
	if len(stray) > 0 {
		return nil, fmt.Errorf("lock file for awa %s links %s", ver, strings.Join(stray, ", "))
	}
	if !found {
		return nil, fmt.Errorf("lock file has no awa %s", ver)
	}
	sort.Strings(pins)
	return pins, nil
}
