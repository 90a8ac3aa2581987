//! Embeds the schema (`schema/*.toml`; `schema` is a symlink to the workspace's `schema/`, so the
//! packaged crate carries it) in the binary: `b24` reads its method catalog from these files at
//! run time with `bitrix24-codegen`'s loader, the same one that generates the SDK. The schema is
//! validated here too, so a broken schema stops the build with its diagnostics instead of
//! failing at run time.

use std::path::PathBuf;
use std::process::exit;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dir = manifest_dir.join("schema");
    println!("cargo:rerun-if-changed={}", dir.display());
    let files = bitrix24_codegen::schema_files(&dir).unwrap_or_else(|d| fail(&d.to_string()));
    if let Err(diagnostics) = bitrix24_codegen::load_dir(&dir) {
        fail(&diagnostics.to_string());
    }
    // `&[(path, text)]`, the paths as diagnostics should name them (`schema/crm.toml`).
    let mut out = String::from("&[\n");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        out.push_str(&format!(
            "    ({:?}, include_str!({:?})),\n",
            format!("schema/{name}"),
            file.display().to_string()
        ));
    }
    out.push_str("]\n");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let path = out_dir.join("schema_sources.rs");
    if let Err(e) = std::fs::write(&path, out) {
        fail(&format!("cannot write {}: {e}", path.display()));
    }
}

/// Shows every line as a cargo warning (visible without `-vv`) and stops the build.
fn fail(message: &str) -> ! {
    for line in message.lines() {
        println!("cargo:warning={line}");
    }
    eprintln!("b24: the method schema is invalid:\n{message}");
    exit(1)
}
