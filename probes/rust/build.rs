//! Bakes the exact awa version this probe is compiled against into the binary
//! (`AWA_PROBE_AWA_VERSION`, read with `env!` in main.rs), and refuses to build when the
//! API-line feature does not match that version.
//!
//! The version comes from Cargo.lock, which cargo writes during resolution, before any build
//! script runs, so it names the `awa` package that is really linked. When there is no lock
//! entry (unusual), `AWA_PROBE_AWA_VERSION` from the build environment is used instead.

use std::env;
use std::fs;
use std::path::Path;

fn main() {
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let lock = Path::new(&manifest_dir).join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-env-changed=AWA_PROBE_AWA_VERSION");

    let lock_text = fs::read_to_string(&lock).ok();
    let from_lock = lock_text.as_deref().and_then(|text| locked_version(text, "awa"));
    // The facade requires its parts (awa-model, awa-worker, ...) with caret ranges: make sure
    // the lock links every registry awa crate at the facade's exact version.
    if let (Some(text), Some(v)) = (lock_text.as_deref(), from_lock.as_deref()) {
        let stray: Vec<String> = registry_awa_crates(text)
            .into_iter()
            .filter(|(_, ver)| ver != v)
            .map(|(name, ver)| format!("{name} {ver}"))
            .collect();
        if !stray.is_empty() {
            panic!(
                "awa {v} is linked with parts of other releases: {} (pin them with `awa-x = \"={v}\"`)",
                stray.join(", ")
            );
        }
    }
    let version = match (from_lock, env::var("AWA_PROBE_AWA_VERSION").ok()) {
        (Some(v), _) => v,
        (None, Some(v)) if !v.is_empty() => v,
        _ => panic!("cannot tell which awa version is linked: no `awa` entry in Cargo.lock and AWA_PROBE_AWA_VERSION is unset"),
    };

    let awa05 = env::var_os("CARGO_FEATURE_AWA05").is_some();
    let awa06 = env::var_os("CARGO_FEATURE_AWA06").is_some();
    if awa05 == awa06 {
        panic!("enable exactly one of the features awa05 / awa06 (awa {version} is linked)");
    }
    let (major, minor) = major_minor(&version)
        .unwrap_or_else(|| panic!("unparseable awa version {version:?}"));
    let pre06 = major == 0 && minor < 6;
    if pre06 && awa06 {
        panic!("feature awa06 selected but awa {version} is linked (use awa05)");
    }
    if !pre06 && awa05 {
        panic!("feature awa05 selected but awa {version} is linked (use awa06)");
    }

    println!("cargo:rustc-env=AWA_PROBE_AWA_VERSION={version}");
}

/// Returns the version of the `[[package]]` named `name` in a Cargo.lock text.
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let want = format!("name = \"{name}\"");
    let mut in_pkg = false;
    for line in lock.lines() {
        let line = line.trim();
        if line == "[[package]]" {
            in_pkg = false;
            continue;
        }
        if line == want {
            in_pkg = true;
            continue;
        }
        if in_pkg {
            if let Some(rest) = line.strip_prefix("version = \"") {
                return rest.strip_suffix('"').map(str::to_string);
            }
        }
    }
    None
}

/// (name, version) of every registry package named `awa` or `awa-*` in a Cargo.lock text.
fn registry_awa_crates(lock: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for block in lock.split("[[package]]").skip(1) {
        let field = |key: &str| {
            block.lines().find_map(|l| {
                l.trim()
                    .strip_prefix(key)
                    .and_then(|r| r.trim_start().strip_prefix('='))
                    .map(|r| r.trim().trim_matches('"').to_string())
            })
        };
        let (Some(name), Some(version)) = (field("name"), field("version")) else { continue };
        let from_registry = field("source").is_some_and(|s| s.starts_with("registry+") || s.starts_with("sparse+"));
        if from_registry && (name == "awa" || name.starts_with("awa-")) {
            out.push((name, version));
        }
    }
    out
}

fn major_minor(version: &str) -> Option<(u64, u64)> {
    let mut parts = version.split(|c| c == '.' || c == '-' || c == '+');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}
