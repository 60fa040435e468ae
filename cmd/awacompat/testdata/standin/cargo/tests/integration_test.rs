//! Reads DATABASE_URL and AWA_TEST_ENGINE as awa's own harness does (awa-testing's setup).

use std::process::Command;

fn engine() -> String {
    std::env::var("AWA_TEST_ENGINE").expect("AWA_TEST_ENGINE is set for the cell")
}

fn psql(sql: &str) -> String {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for the cell");
    let out = Command::new("psql")
        .args([url.as_str(), "-XtAc", sql])
        .output()
        .expect("run psql");
    assert!(out.status.success(), "psql failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn reads_the_cells_database() {
    // The cell's own clone of a migrated template.
    assert!(psql("select current_database()").starts_with("awacompat_"));
    let version: i32 = psql("select max(version) from awa.schema_version").parse().unwrap();
    assert!(version >= 40, "schema version {version}");
}

#[test]
fn engine_is_one_of_awas() {
    assert!(["canonical", "queue_storage"].contains(&engine().as_str()));
}

#[test]
fn fails_under_queue_storage() {
    assert_eq!(engine(), "canonical", "a defect only queue storage shows");
}

#[test]
fn skipped_needs_a_chaos_proxy() {
    eprintln!("[skip] skipped_needs_a_chaos_proxy: no chaos proxy on this machine");
}

#[test]
#[ignore = "benchmark"]
fn ignored_benchmark() {}
