//! Any schema file: the loader reports diagnostics or loads, and the emitter then produces code
//! without panicking.
#![no_main]

use bitrix24_codegen::{EmitOptions, Source, emit, load_sources};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let sources = [Source { path: "schema/fuzz.toml".to_owned(), text: text.to_owned() }];
    if let Ok(schema) = load_sources(&sources) {
        let _ = emit(&schema, &EmitOptions::default());
    }
});
