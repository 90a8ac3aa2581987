//! Generates the typed Bitrix24 REST API from the method schema (`schema/*.toml`; the format is
//! specified in `schema/README.md`): requests for the methods, types for their answers and for
//! the data of inbound events, and inside the SDK the typed event enum.
//!
//! It is a library so that the same generator serves every front end: the `bitrix24` crate's
//! build script runs it at build time over the scopes its features enable, a user's own build
//! script runs it to type portal-specific methods on top of the same `Method` trait and call
//! path, and the `bitrix24-codegen` CLI checks a schema and prints the code for reading.
//!
//! The pipeline is `load -> validate -> emit`: [`load_dir`] reads the TOML files and validates
//! them into a [`Schema`] (or returns every problem as [`Diagnostics`], each naming its file and
//! item), and [`emit`] turns a schema into formatted Rust. Nothing here panics on any input.
//!
//! A user's build script (their crate depends on `bitrix24`; `bitrix24-codegen` is a
//! build-dependency):
//!
//! ```no_run
//! use std::path::{Path, PathBuf};
//!
//! let dir = Path::new("schema");
//! println!("cargo:rerun-if-changed={}", dir.display());
//! match bitrix24_codegen::generate(dir, &bitrix24_codegen::EmitOptions::default()) {
//!     Ok(generated) => {
//!         let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap()).join("portal.rs");
//!         std::fs::write(out, generated.code).unwrap();
//!     }
//!     Err(diagnostics) => {
//!         eprintln!("{diagnostics}");
//!         std::process::exit(1);
//!     }
//! }
//! // and in the crate: `include!(concat!(env!("OUT_DIR"), "/portal.rs"));`
//! ```
#![forbid(unsafe_code)]

mod describe;
mod diag;
mod drift;
mod emit;
mod examples;
mod exclusions;
mod facts;
mod import;
mod ir;
mod json;
mod load;
mod names;
mod rules;
mod stats;
mod validate;

use std::path::{Path, PathBuf};

pub use diag::{Diagnostic, Diagnostics};
pub use drift::{Drift, DriftKind, DriftReport, drift};
pub use emit::{EmitOptions, emit, emit_index};
pub use examples::{
    Example, ExampleKind, Examples, Skipped, extract as extract_examples, reads_keys_in_any_case,
};
pub use exclusions::Exclusions;
pub use facts::{FactEvent, FactMethod, FactParam, Facts};
pub use import::{Imported, import};
pub use ir::{
    Deprecation, EnumValue, Event, Field, Method, Paging, Schema, ScopeFile, Ty, TypeDef, TypeKind,
};
pub use json::Json;
pub use stats::{Checked, RoundTrips, ScopeStats, Stats, stats};

/// One schema file's text, and the path diagnostics should name it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The file's path as it should appear in diagnostics (`schema/imbot.toml`). A file named
    /// `common.toml` holds the shared types.
    pub path: String,
    /// The TOML text.
    pub text: String,
}

/// Loads and validates schema files that are already in memory, in the given order.
pub fn load_sources(sources: &[Source]) -> Result<Schema, Diagnostics> {
    let mut diags = Diagnostics::default();
    let raw: Vec<_> = sources
        .iter()
        .filter_map(|s| load::parse_file(&s.path, &s.text, &mut diags))
        .collect();
    let schema = validate::validate(raw, &mut diags);
    diags.into_result(|| schema)
}

/// The schema files of a directory: every `*.toml` in it (not in subdirectories, not hidden),
/// sorted by name.
pub fn schema_files(dir: &Path) -> Result<Vec<PathBuf>, Diagnostics> {
    let fail = |message: String| {
        let mut diags = Diagnostics::default();
        diags.push(&dir.display().to_string(), "", message);
        diags
    };
    let entries = std::fs::read_dir(dir)
        .map_err(|e| fail(format!("cannot read the schema directory: {e}")))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| fail(format!("cannot read the schema directory: {e}")))?
            .path();
        let is_schema = path.extension().is_some_and(|e| e == "toml")
            && path
                .file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
            && path.is_file();
        if is_schema {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(fail("no schema files (*.toml) in the directory".to_owned()));
    }
    files.sort();
    Ok(files)
}

/// Loads and validates every schema file in `dir` (see [`schema_files`]). Diagnostics name the
/// files as `dir` joined with the file name, so `load_dir("schema")` reports `schema/imbot.toml`.
pub fn load_dir(dir: &Path) -> Result<Schema, Diagnostics> {
    load_files(&schema_files(dir)?)
}

/// Loads and validates the given schema files, in order, named by their paths.
fn load_files(files: &[PathBuf]) -> Result<Schema, Diagnostics> {
    let mut sources = Vec::new();
    let mut diags = Diagnostics::default();
    for path in files {
        let name = path.display().to_string();
        match std::fs::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => sources.push(Source { path: name, text }),
                Err(_) => diags.push(&name, "", "not UTF-8 text"),
            },
            Err(e) => diags.push(&name, "", format!("cannot read: {e}")),
        }
    }
    let schema = load_sources(&sources);
    match schema {
        Ok(schema) if diags.is_empty() => Ok(schema),
        Ok(_) => Err(diags),
        Err(more) => {
            diags.extend(more);
            Err(diags)
        }
    }
}

/// What [`generate`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Generated {
    /// The formatted Rust code.
    pub code: String,
    /// The schema files that were read, for `cargo:rerun-if-changed`.
    pub files: Vec<PathBuf>,
}

/// Loads `dir` and emits code for it: the one call a build script needs.
pub fn generate(dir: &Path, opts: &EmitOptions) -> Result<Generated, Diagnostics> {
    let files = schema_files(dir)?;
    let schema = load_files(&files)?;
    Ok(Generated {
        code: emit(&schema, opts),
        files,
    })
}
