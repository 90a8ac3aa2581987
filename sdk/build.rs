//! Generates the typed API from `schema/` into `$OUT_DIR/generated.rs` (included by
//! `src/generated.rs`), for the scopes whose cargo features are enabled.
//!
//! Generating at build time keeps the schema the single source of truth: editing a schema file
//! and running `cargo build` regenerates the SDK, and a user who enables only `imbot` compiles
//! only imbot's methods. The schema is read from `schema/` next to this file (a symlink to the
//! workspace's `schema/`), so the published package builds on its own.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::exit;

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env("OUT_DIR"));
    let dir = manifest_dir.join("schema");
    // A directory entry makes cargo rerun this script when a file is added, changed or removed.
    println!("cargo:rerun-if-changed={}", dir.display());

    let schema = match bitrix24_codegen::load_dir(&dir) {
        Ok(schema) => schema,
        Err(diagnostics) => fail(&diagnostics.to_string()),
    };
    for file in &schema.files {
        println!("cargo:rerun-if-changed={}", file.path);
    }

    let scopes: BTreeSet<String> = schema
        .scopes()
        .filter(|scope| feature_enabled(scope))
        .map(str::to_owned)
        .collect();
    let opts = bitrix24_codegen::EmitOptions {
        // The hidden `__roundtrip` feature: requests readable from JSON, for the schema tests.
        deserialize_requests: std::env::var_os("CARGO_FEATURE___ROUNDTRIP").is_some(),
        ..bitrix24_codegen::EmitOptions::sdk(Some(scopes))
    };
    write(
        &out_dir.join("generated.rs"),
        &bitrix24_codegen::emit(&schema, &opts),
    );
    // The method listing the schema tests (`tests/schema_examples.rs`, `tests/it/schema_sandbox.rs`)
    // include: test-only, so it is written only under the hidden `__roundtrip` feature those
    // tests require, never in a user's build.
    if opts.deserialize_requests {
        write(
            &out_dir.join("schema_index.rs"),
            &bitrix24_codegen::emit_index(&schema, &opts),
        );
    }
}

fn write(path: &std::path::Path, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        fail(&format!("cannot write {}: {e}", path.display()));
    }
}

/// Feature names are the scope names; cargo upper-cases them and turns `-` into `_`.
fn feature_enabled(scope: &str) -> bool {
    let var = format!("CARGO_FEATURE_{}", scope.to_uppercase().replace('-', "_"));
    std::env::var_os(var).is_some()
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| fail(&format!("{name} is not set; run under cargo")))
}

/// Shows every line as a cargo warning (visible without `-vv`) and stops the build.
fn fail(message: &str) -> ! {
    for line in message.lines() {
        println!("cargo:warning={line}");
    }
    eprintln!("bitrix24: the method schema is invalid:\n{message}");
    exit(1)
}
