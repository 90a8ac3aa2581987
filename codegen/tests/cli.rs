//! The `bitrix24-codegen` command line: what a schema author runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bitrix24-codegen"))
        .args(args)
        .output()
        .expect("the CLI runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_counts_a_valid_schema() {
    let out = run(&["check", fixture("ok").to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        "ok: 15 methods, 4 events, 9 types in 3 files\n"
    );
}

#[test]
fn check_lists_every_problem_and_fails() {
    let dir = fixture("broken");
    let out = run(&["check", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 5, "{stderr}");
    assert!(
        stderr.ends_with(&format!("4 errors in {}\n", dir.display())),
        "{stderr}"
    );
}

#[test]
fn emit_writes_the_selected_scopes() {
    let out_file =
        std::env::temp_dir().join(format!("bitrix24-codegen-cli-{}.rs", std::process::id()));
    let out = run(&[
        "emit",
        fixture("ok").to_str().unwrap(),
        "--scopes",
        "sign.b2e",
        "--runtime",
        "::bitrix24",
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let code = std::fs::read_to_string(&out_file).unwrap();
    let _ = std::fs::remove_file(&out_file);
    assert!(code.contains("pub mod sign_b2e {") && !code.contains("pub mod alpha {"));
    assert!(
        !code.contains("impl ::bitrix24::Client"),
        "no client methods outside the SDK"
    );
}

#[test]
fn usage_errors_exit_with_2() {
    let ok = fixture("ok");
    for args in [
        vec![],
        vec!["frobnicate"],
        vec!["emit", ok.to_str().unwrap(), "--scopes", "nope"],
        vec!["emit", ok.to_str().unwrap(), "--out"],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains("usage: bitrix24-codegen"),
            "{args:?}"
        );
    }
}

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema")
}

#[test]
fn drift_against_the_committed_facts_is_clean_and_exits_zero() {
    let dir = schema_dir();
    let facts = dir.join("facts/methods.json");
    let out = run(&["drift", facts.to_str().unwrap(), dir.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.starts_with("unexplained differences: 0\n"),
        "{stdout}"
    );
    assert!(stdout.contains("batch: method added:"), "{stdout}");
}

#[test]
fn drift_fails_on_an_unexplained_difference() {
    // The fixture schema documents nothing the facts know: every fixture method is "removed",
    // every documented one "added".
    let facts = schema_dir().join("facts/methods.json");
    let out = run(&[
        "drift",
        facts.to_str().unwrap(),
        fixture("ok").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains(": method removed"));
}

#[test]
fn stats_prints_a_table_with_a_total() {
    let out = run(&["stats", schema_dir().to_str().unwrap()]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("| scope | methods |"), "{stdout}");
    assert!(
        stdout.contains("| **total** | 1667 | 106 | 58 |"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| scope | events | data typed |")
            && stdout.contains("| **total** | 196 |"),
        "{stdout}"
    );
    // The round-trip counts the SDK's schema_examples test wrote (schema/facts/roundtrip.json).
    assert!(
        stdout.contains("| scope | requests round-tripped | responses decoded | events parsed |"),
        "{stdout}"
    );
}

#[test]
fn import_dry_run_on_the_full_schema_adds_nothing() {
    let dir = schema_dir();
    let facts = dir.join("facts/methods.json");
    let out = run(&[
        "import",
        facts.to_str().unwrap(),
        dir.to_str().unwrap(),
        "--dry-run",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "would add 0 methods, 0 events and 0 types into 0 files\n"
    );
}
