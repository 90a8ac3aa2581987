//! Schema fidelity against the docs' own examples (`schema/facts/examples/`, read from the
//! official docs by `bitrix24-codegen examples`), through the generated code of every enabled
//! scope (`--all-features` covers all of them):
//!
//! - every documented answer decodes strictly through its method's `Output`: no documented
//!   field is dropped into `extra` because its shape differs from the schema's;
//! - every documented request body deserializes into the generated request and serializes back
//!   with the same keys and shapes (key order and scalar spelling aside: `"42"` and `42`,
//!   `"Y"` and `true` are the same);
//! - every event payload, as JSON and as the form body a portal posts, parses into its typed
//!   event, and the schema names the event the way the payload's `event` does.
//!
//! Disagreements inside the docs (a table against its own example) are allowlisted in
//! `schema/facts/allowlist.toml`, each with its reason. Everything else fails the test; the
//! failures, classified by what is wrong and grouped by scope, are in `schema/facts/FAILURES.md`
//! (rewritten, with `schema/facts/roundtrip.json`, when `B24_WRITE_FAILURES=1`).
#![allow(deprecated)] // Outdated methods are generated too; their examples are data all the same.

#[path = "schema_examples/classify.rs"]
mod classify;
#[path = "schema_examples/compare.rs"]
mod compare;
#[path = "schema_examples/report.rs"]
mod report;

use std::collections::BTreeMap;
use std::path::Path;

use bitrix24::events::Event;
use bitrix24::{Decoding, Method, RawResponse};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use classify::{Class, Schema};
use report::{Failure, Kind, Report};

const FACTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/facts");

/// Strict decoding: an optional field whose value has another shape than its type fails instead
/// of going to `extra`. Answers and events both use it.
const STRICT: Decoding = Decoding::Strict;

/// Decodes an answer (`{"result": ..}`, with `total`/`next` when shown) the way a call does.
fn decode<M: Method>(body: &str) -> Result<(), String> {
    let response =
        RawResponse::from_body(M::NAME, 200, body.to_owned()).map_err(|e| e.to_string())?;
    match response
        .with_decoding(STRICT)
        .decode_as::<M::Output, M::OutputCodec>()
    {
        Ok(_) => Ok(()),
        Err(bitrix24::Error::Decode { message, .. }) => Err(message),
        Err(other) => Err(other.to_string()),
    }
}

/// Reads request params into the generated request and writes them back.
fn round_trip<M: Method + DeserializeOwned + Serialize>(params: Value) -> Result<Value, String> {
    let request: M = serde_json::from_value(params).map_err(|e| e.to_string())?;
    serde_json::to_value(&request).map_err(|e| format!("serializing back: {e}"))
}

struct Checks {
    decode: fn(&str) -> Result<(), String>,
    round_trip: fn(Value) -> Result<Value, String>,
}

macro_rules! schema_methods {
    ($(($scope:literal, $name:literal, $v3:literal, $module:ident :: $ty:ident, $args:tt)),* $(,)?) => {
        /// `(wire name, REST 3.0) -> checks` for every generated method.
        fn checks() -> BTreeMap<(&'static str, bool), Checks> {
            BTreeMap::from([$((
                ($name, $v3),
                Checks {
                    decode: decode::<bitrix24::$module::$ty>,
                    round_trip: round_trip::<bitrix24::$module::$ty>,
                },
            )),*])
        }

        /// The scopes this build generates.
        fn enabled_scopes() -> std::collections::BTreeSet<&'static str> {
            [$($scope),*].into_iter().collect()
        }
    };
}
include!(concat!(env!("OUT_DIR"), "/schema_index.rs"));

/// One record of `schema/facts/examples/*.jsonl`.
struct Example {
    kind: Kind,
    scope: String,
    name: String,
    rest_v3: bool,
    doc: String,
    line: u64,
    body: Value,
    placeholders: Vec<String>,
    any_case: bool,
    data_only: bool,
}

fn examples() -> Vec<Example> {
    let dir = Path::new(FACTS).join("examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            let r: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let kind = match r["kind"].as_str() {
                Some("request") => Kind::Request,
                Some("response") => Kind::Response,
                Some("event") => Kind::Event,
                _ => continue,
            };
            let text = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            let flag = |k: &str| r[k].as_bool().unwrap_or(false);
            out.push(Example {
                kind,
                scope: text("scope"),
                name: text("name"),
                rest_v3: flag("rest_v3"),
                doc: text("doc"),
                line: r["line"].as_u64().unwrap_or(0),
                body: r["body"].clone(),
                placeholders: r["placeholders"]
                    .as_array()
                    .map(|p| {
                        p.iter()
                            .filter_map(|p| p.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                any_case: flag("any_case"),
                data_only: flag("data_only"),
            });
        }
    }
    out
}

#[test]
fn documented_examples_round_trip_through_the_generated_types() {
    let schema = Schema::load(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("schema")
            .as_path(),
    );
    let checks = checks();
    let enabled = enabled_scopes();
    let event_names: std::collections::BTreeSet<&str> =
        bitrix24::event_types::NAMES.iter().copied().collect();
    let mut report = Report::load(Path::new(FACTS));
    for e in examples() {
        let outcome = match e.kind {
            Kind::Response => {
                let Some(c) = checks.get(&(e.name.as_str(), e.rest_v3)) else {
                    continue; // scope not enabled, or not in the schema (excluded)
                };
                check_response(&schema, &e, c)
            }
            Kind::Request => {
                let Some(c) = checks.get(&(e.name.as_str(), e.rest_v3)) else {
                    continue;
                };
                check_request(&schema, &e, c)
            }
            Kind::Event => {
                let sent = e.body["event"].as_str().unwrap_or(&e.name);
                let declared = schema.has_event(&e.name) || schema.has_event(sent);
                if !declared || !enabled.contains(e.scope.as_str()) {
                    continue; // excluded (widget placements, ...), or scope not enabled
                }
                check_event(&schema, &e, &event_names)
            }
        };
        report.record(
            &e.scope,
            e.kind,
            outcome.err().map(|(class, detail)| Failure {
                scope: e.scope.clone(),
                kind: e.kind,
                name: e.name.clone(),
                doc: e.doc.clone(),
                line: e.line,
                class,
                detail,
            }),
        );
    }
    report.finish();
}

type Outcome = Result<(), (Class, String)>;

/// The example's data, with placeholders filled in (see [`Schema::fill_placeholders`]).
fn data_of(schema: &Schema, e: &Example) -> Value {
    schema.fill_placeholders(
        e.kind,
        &e.name,
        e.rest_v3,
        e.body.clone(),
        &e.placeholders,
        e.any_case,
    )
}

fn check_response(schema: &Schema, e: &Example, c: &Checks) -> Outcome {
    let body = data_of(schema, e);
    match (c.decode)(&body.to_string()) {
        Ok(()) => Ok(()),
        Err(message) => Err(schema.classify_response(&e.name, e.rest_v3, &body, &message)),
    }
}

fn check_request(schema: &Schema, e: &Example, c: &Checks) -> Outcome {
    let sent = schema.to_wire(&e.name, e.rest_v3, data_of(schema, e), e.any_case);
    let back = match (c.round_trip)(sent.clone()) {
        Ok(back) => back,
        Err(message) => {
            return Err(schema.classify_request_error(&e.name, e.rest_v3, &sent, &message));
        }
    };
    let differences = compare::differences(&sent, &back);
    match differences.first() {
        None => Ok(()),
        Some(_) => {
            Err(schema.classify_differences(&e.name, e.rest_v3, &sent, &differences, e.any_case))
        }
    }
}

fn check_event(schema: &Schema, e: &Example, known: &std::collections::BTreeSet<&str>) -> Outcome {
    let mut body = data_of(schema, e);
    let sent_name = body["event"].as_str().map(str::to_owned);
    if e.data_only || sent_name.is_none() {
        // The page shows `data` alone: the event is the page's.
        if let Value::Object(map) = &mut body {
            map.insert("event".to_owned(), Value::String(e.name.clone()));
        }
    }
    let sent_name = sent_name
        .unwrap_or_else(|| e.name.clone())
        .to_ascii_uppercase();
    let page_name = e.name.to_ascii_uppercase();
    let schema_name = [&sent_name, &page_name]
        .into_iter()
        .find(|n| known.contains(n.as_str()))
        .cloned();
    let Some(schema_name) = schema_name else {
        return Err((
            Class::EventNotTyped,
            format!("no typed event named {sent_name} or {page_name}"),
        ));
    };
    if schema_name != sent_name {
        return Err((
            Class::EventName,
            format!(
                "the schema names it {} (as the page heading does); the payload's `event` is {sent_name}",
                schema.event_spelling(&schema_name)
            ),
        ));
    }
    let json = serde_json::to_vec(&body).unwrap();
    let form = bitrix24::wire::php::encode(&body);
    for (what, event) in [
        ("JSON", Event::parse(&json, Some("application/json"))),
        ("form", Event::parse(form.as_bytes(), None)),
    ] {
        let typed = event
            .map_err(|err| err.to_string())
            .and_then(|event| event.typed_with(STRICT).map_err(|err| err.to_string()));
        match typed {
            Ok(typed) if typed.name() == schema_name => {}
            Ok(typed) => {
                return Err((
                    Class::EventName,
                    format!("{what}: parsed as {}", typed.name()),
                ));
            }
            Err(message) => {
                let data = body
                    .get("data")
                    .cloned()
                    .unwrap_or(Value::Object(Map::new()));
                return Err(schema.classify_event(
                    &schema_name,
                    &data,
                    &format!("{what}: {message}"),
                ));
            }
        }
    }
    Ok(())
}
