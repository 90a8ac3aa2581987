//! The typed API: one module per enabled scope (`imbot`, `crm`, ...) plus `common`, generated from
//! `schema/` by `build.rs` with `bitrix24-codegen`.
//!
//! The code is written to `$OUT_DIR` at build time rather than checked in, so it always matches
//! the schema and the enabled features. To read it without building, run
//! `cargo run -p bitrix24-codegen -- emit schema`.

include!(concat!(env!("OUT_DIR"), "/generated.rs"));
