//! Result typing against documented data: every example answer in the facts snapshot
//! (`schema/facts/methods.json`, `result_example`) decodes through the generated `Output` of its
//! method, for every enabled scope (`--all-features` covers all of them).
#![allow(deprecated)] // Outdated methods are generated too, and their examples are data all the same.

use std::collections::BTreeMap;

use bitrix24::{Decoding, Method, RawResponse};

type Decoder = fn(&str) -> Result<(), String>;

/// Decodes `{"result": <example>}` the way a call's answer is decoded, strictly: every field
/// must fit its type, not only the required ones (answers in the wild keep a misfit in `extra`
/// instead).
fn decode<M: Method>(result: &str) -> Result<(), String> {
    let body = format!("{{\"result\":{result}}}");
    let response = RawResponse::from_body(M::NAME, 200, body).map_err(|e| e.to_string())?;
    response
        .with_decoding(Decoding::Strict)
        .decode_as::<M::Output, M::OutputCodec>()
        .map(drop)
        .map_err(|e| e.to_string())
}

macro_rules! schema_methods {
    ($(($scope:literal, $name:literal, $v3:literal, $module:ident :: $ty:ident, $args:tt)),* $(,)?) => {
        /// `(wire name, REST 3.0) -> decoder` for every generated method.
        fn decoders() -> BTreeMap<(&'static str, bool), Decoder> {
            BTreeMap::from([$((($name, $v3), decode::<bitrix24::$module::$ty> as Decoder)),*])
        }
    };
}
include!(concat!(env!("OUT_DIR"), "/schema_index.rs"));

#[test]
fn documented_examples_decode_through_the_generated_types() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/facts/methods.json");
    let facts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let decoders = decoders();
    let (mut passed, mut failures) = (0, Vec::new());
    for m in facts["methods"].as_array().unwrap() {
        let Some(example) = m.get("result_example") else {
            continue;
        };
        let name = m["name"].as_str().unwrap();
        let v3 = m.get("rest_version").and_then(|v| v.as_i64()) == Some(3);
        let Some(decode) = decoders.get(&(name, v3)) else {
            continue; // scope not enabled, or excluded
        };
        match decode(&example.to_string()) {
            Ok(()) => passed += 1,
            Err(e) => failures.push(format!("{name}: {e}\n    example: {example}")),
        }
    }
    println!("{passed} documented examples decoded");
    assert!(
        failures.is_empty(),
        "{} of {} examples do not decode:\n{}",
        failures.len(),
        passed + failures.len(),
        failures.join("\n")
    );
    if cfg!(feature = "full") {
        assert!(passed > 950, "only {passed} examples were checked");
    }
}
