//! The generated code for a fixture schema that uses every construct of `schema/README.md`,
//! pinned by snapshots: every change to generated code shows up in review.

use std::collections::BTreeSet;
use std::path::Path;

use bitrix24_codegen::{EmitOptions, Schema, emit, generate, load_dir};

fn fixture_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ok")
}

fn fixture() -> Schema {
    load_dir(&fixture_dir()).unwrap_or_else(|d| panic!("the fixture must load:\n{d}"))
}

/// Generated code must always be valid Rust.
fn assert_parses(code: &str) {
    if let Err(e) = syn::parse_file(code) {
        panic!("generated code does not parse: {e}\n{code}");
    }
}

#[test]
fn fixture_covers_the_format() {
    let schema = fixture();
    assert_eq!(
        (
            schema.method_count(),
            schema.event_count(),
            schema.type_count(),
            schema.files.len()
        ),
        (15, 4, 9, 3)
    );
    let scopes: Vec<&str> = schema.scopes().collect();
    assert_eq!(
        scopes,
        ["common", "alpha", "sign.b2e"],
        "common.toml comes first"
    );
}

#[test]
fn sdk_code() {
    let code = emit(&fixture(), &EmitOptions::sdk(None));
    assert_parses(&code);
    insta::assert_snapshot!("sdk", code);
}

#[test]
fn user_build_script_code() {
    let code = emit(&fixture(), &EmitOptions::default());
    assert_parses(&code);
    assert!(
        !code.contains("impl ::bitrix24::Client"),
        "no client methods outside the SDK"
    );
    let through_runtime = |krate: &str| {
        code.matches(&format!("::{krate}::")).count()
            == code.matches(&format!("::__private::{krate}::")).count()
    };
    assert!(through_runtime("serde") && through_runtime("serde_json") && through_runtime("chrono"));
    insta::assert_snapshot!("user", code);
}

#[test]
fn only_the_selected_scopes_and_common() {
    let scopes = BTreeSet::from(["sign.b2e".to_owned()]);
    let code = emit(&fixture(), &EmitOptions::sdk(Some(scopes)));
    assert_parses(&code);
    assert!(code.contains("pub mod common {"));
    assert!(code.contains("pub mod sign_b2e {"));
    assert!(!code.contains("pub mod alpha {"));

    let none = emit(&fixture(), &EmitOptions::sdk(Some(BTreeSet::new())));
    assert!(none.contains("pub mod common {") && !none.contains("pub mod sign_b2e {"));
}

#[test]
fn a_runtime_that_is_not_a_path_becomes_a_compile_error() {
    let opts = EmitOptions {
        runtime: "not a path".to_owned(),
        ..EmitOptions::default()
    };
    let code = emit(&fixture(), &opts);
    assert_parses(&code);
    assert!(
        code.contains(
            "compile_error!(\"bitrix24-codegen: runtime \\\"not a path\\\" is not a Rust path"
        ),
        "{code}"
    );
}

#[test]
fn generate_lists_the_files_it_read() {
    let generated = generate(&fixture_dir(), &EmitOptions::default()).expect("fixture loads");
    let names: Vec<String> = generated
        .files
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["alpha.toml", "common.toml", "sign.b2e.toml"]);
    assert_eq!(generated.code, emit(&fixture(), &EmitOptions::default()));
}

/// The schema the SDK ships must always pass `check`, and its code must parse.
#[test]
fn the_sdk_schema_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema");
    let schema = load_dir(&dir).unwrap_or_else(|d| panic!("schema/ has errors:\n{d}"));
    assert_parses(&emit(&schema, &EmitOptions::sdk(None)));
}
