//! REST 3.0 at `/rest/api/{method}` (OAuth: `auth` in the JSON body) and
//! `/rest/api/{user}/{code}/{method}` (webhook).
//!
//! What differs from the classic address:
//! - the body must be JSON (an empty body is no parameters); anything else gets
//!   `400 BITRIX_REST_V3_EXCEPTION_INVALIDJSONEXCEPTION`, and the query string is not read;
//! - errors are `{"error": {"code", "message", "validation"?}}`, with the same HTTP statuses
//!   (system errors such as `expired_token` or `QUERY_LIMIT_EXCEEDED` keep their codes);
//! - only the methods migrated to REST 3.0 exist here (`tasks.task.*`,
//!   `rest.documentation.openapi`); any other name is `404 ERROR_METHOD_NOT_FOUND`;
//! - `Idempotency-Key` on a write (`add`, `update`, `delete`, ...): the first successful
//!   answer is stored for 24 hours per key, method and caller (webhook or application, and
//!   user). The same key with the same parameters (compared as JSON, without `auth`, so a
//!   retry after a token renewal still matches) gets the stored answer with
//!   `Idempotent-Replayed: true` and does not execute; with other parameters it gets
//!   `422 BITRIX_REST_V3_EXCEPTION_IDEMPOTENCYKEYREUSEDEXCEPTION`. A key that is not 1 to 255
//!   printable ASCII characters gets `400 BITRIX_REST_V3_EXCEPTION_INVALIDIDEMPOTENCYKEYEXCEPTION`.
//!   Errors are not stored. Both answers echo the `Idempotency-Key` header. Reads ignore the
//!   header;
//! - `batch` takes a JSON array of `{"method", "query"}` and answers `result` as an array in
//!   the same order; a failed command's slot holds its `{"error": {...}}` object (the docs do
//!   not show failures; this is the sandbox's choice). The classic `{"cmd": ...}` form gets
//!   `400 BITRIX_REST_V3_EXCEPTION_INVALIDSELECTEXCEPTION`. As the body is an array, an
//!   application passes its token in an `Authorization: Bearer` header or an `auth` query
//!   parameter (undocumented; the sandbox accepts both for `batch` only).

use std::collections::HashMap;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::Shared;
use super::data::Portal;
use super::events;
use super::limits::is_write;
use super::params::{ApiErr, Outcome, Params, Reply, text};
use super::server::{
    Api, Ctx, Handler, Incoming, Target, Via, envelope_body, execute, identify, is_json,
    json_bytes, json_response, lookup, time_block,
};
use super::tasks;

pub(crate) const METHODS: &[(&str, &str, Handler)] = &[
    ("batch", "basic", batch),
    ("rest.documentation.openapi", "basic", openapi),
    ("documentation", "basic", openapi),
    ("tasks.task.add", "tasks", tasks::add),
    ("tasks.task.get", "tasks", tasks::get),
    ("tasks.task.update", "tasks", tasks::update),
    ("tasks.task.delete", "tasks", tasks::delete),
    ("tasks.task.list", "tasks", tasks::list),
];

/// How long a stored idempotent answer is replayed.
const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

const V3: &str = "BITRIX_REST_V3_EXCEPTION_";

/// A REST 3.0 error with its documented code suffix.
pub(crate) fn err(status: u16, suffix: &str, message: impl Into<String>) -> ApiErr {
    ApiErr::new(status, &format!("{V3}{suffix}"), message)
}

/// A request validation error naming one field.
pub(crate) fn invalid(field: &str, message: impl Into<String>) -> ApiErr {
    let mut e = err(
        400,
        "VALIDATION_REQUESTVALIDATIONEXCEPTION",
        "Error validating request object",
    );
    e.validation = Some(Box::new(
        json!([{"message": message.into(), "field": field}]),
    ));
    e
}

/// Who an idempotency key belongs to, and for which method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct IdempotencyKey {
    oauth: bool,
    user_id: i64,
    method: String,
    key: String,
}

/// A stored first answer.
#[derive(Debug)]
pub(crate) struct Stored {
    params: Map<String, Value>,
    body: Vec<u8>,
    at: Instant,
}

/// Answers stored by idempotency key.
#[derive(Debug, Default)]
pub(crate) struct Idempotency(HashMap<IdempotencyKey, Stored>);

impl Idempotency {
    fn get(&mut self, key: &IdempotencyKey, now: Instant) -> Option<&Stored> {
        self.0.retain(|_, s| s.at + IDEMPOTENCY_TTL > now);
        self.0.get(key)
    }
}

fn valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

pub(crate) fn envelope_error(e: &ApiErr) -> Response {
    json_response(e.http_status(), &e.v3_body())
}

fn with_key(mut response: Response, key: Option<&HeaderValue>, replayed: bool) -> Response {
    if let Some(key) = key {
        response
            .headers_mut()
            .insert("idempotency-key", key.clone());
        if replayed {
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
    }
    response
}

/// Handles one REST 3.0 request (already admitted by the rate limit).
pub(crate) async fn call(
    shared: &Shared,
    target: &Target,
    request: &Incoming,
    started: Instant,
) -> Response {
    let body = match read_body(&request.headers, &request.body) {
        Ok(body) => body,
        Err(e) => return envelope_error(&e),
    };
    let is_batch = target.method.eq_ignore_ascii_case("batch");
    let (params, auth) = match body {
        Value::Object(mut map) if !is_batch => {
            let auth = map.remove("auth");
            (map, auth)
        }
        Value::Array(commands) if is_batch => {
            let auth = bearer(&request.headers).or_else(|| query_auth(request.query.as_deref()));
            let mut map = Map::new();
            map.insert("commands".into(), Value::Array(commands));
            (map, auth)
        }
        Value::Object(map) if is_batch && map.contains_key("cmd") => {
            return envelope_error(&err(
                400,
                "INVALIDSELECTEXCEPTION",
                "The classic batch format is not supported in REST 3.0: send a JSON array of {\"method\", \"query\"}",
            ));
        }
        _ if is_batch => {
            return envelope_error(&invalid(
                "batch",
                "The body must be a JSON array of {\"method\", \"query\"} objects",
            ));
        }
        _ => {
            return envelope_error(&err(
                400,
                "INVALIDJSONEXCEPTION",
                "The request body must be a JSON object",
            ));
        }
    };
    let method = target.method.clone();
    let key_header = request.headers.get("idempotency-key");
    let idempotent = !is_batch && is_write(&method) && lookup(Api::V3, &method).is_some();
    let (outcome, key, pending) = {
        let mut portal = shared.portal();
        let (user_id, via) = match identify(&mut portal, target, auth.as_ref()) {
            Ok(who) => who,
            Err(e) => return envelope_error(&e),
        };
        let key = match key_header.filter(|_| idempotent) {
            None => None,
            Some(value) => match value.to_str().ok().filter(|k| valid_key(k)) {
                None => {
                    return envelope_error(&err(
                        400,
                        "INVALIDIDEMPOTENCYKEYEXCEPTION",
                        "The Idempotency-Key header must be 1 to 255 printable ASCII characters",
                    ));
                }
                Some(k) => Some(IdempotencyKey {
                    oauth: via == Via::OAuth,
                    user_id,
                    method: method.to_ascii_lowercase(),
                    key: k.to_owned(),
                }),
            },
        };
        if let Some(key) = &key {
            let mut stored = shared.idempotency();
            match stored.get(key, Instant::now()) {
                Some(s) if s.params == params => {
                    let response = json_bytes(StatusCode::OK, s.body.clone());
                    return with_key(response, key_header, true);
                }
                Some(_) => {
                    let e = err(
                        422,
                        "IDEMPOTENCYKEYREUSEDEXCEPTION",
                        "The idempotency key was already used with a different request body",
                    );
                    return with_key(envelope_error(&e), key_header, false);
                }
                None => {}
            }
        }
        let mut ctx = Ctx::new(shared, Api::V3, user_id, via);
        let outcome = execute(&mut portal, &mut ctx, &method, &Params(params.clone()));
        (outcome, key, ctx.events)
    };
    events::deliver(shared, pending).await;
    let reply = match outcome {
        Ok(reply) => reply,
        Err(e) => return with_key(envelope_error(&e), key_header, false),
    };
    // REST 3.0 envelopes have no `next` or `total`.
    let reply = Reply {
        total: None,
        next: None,
        ..reply
    };
    let body = envelope_body(reply, time_block(shared, &method, started));
    if let Some(key) = key {
        shared.idempotency().0.insert(
            key,
            Stored {
                params,
                body: body.clone(),
                at: Instant::now(),
            },
        );
    }
    with_key(json_bytes(StatusCode::OK, body), key_header, false)
}

/// The JSON body; empty means no parameters.
fn read_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiErr> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    if !is_json(headers) {
        return Err(err(
            400,
            "INVALIDJSONEXCEPTION",
            "REST 3.0 accepts JSON bodies only (Content-Type: application/json)",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| err(400, "INVALIDJSONEXCEPTION", format!("Invalid JSON: {e}")))
}

fn bearer(headers: &HeaderMap) -> Option<Value> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?;
    Some(Value::String(token.trim().to_owned()))
}

fn query_auth(query: Option<&str>) -> Option<Value> {
    let Ok(Value::Object(mut map)) = bitrix24::wire::php::decode(query?) else {
        return None;
    };
    map.remove("auth")
}

/// REST 3.0 `batch`: commands in order, each result (or error object) at its position.
fn batch(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    let commands = match params.0.get("commands") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    let mut results = Vec::with_capacity(commands.len());
    for (index, command) in commands.iter().enumerate() {
        if index >= super::batch::MAX_COMMANDS {
            results.push(super::batch::length_exceeded().v3_body());
            continue;
        }
        let method = command.get("method").and_then(text).unwrap_or_default();
        let query = match command.get("query") {
            Some(Value::Object(map)) => map.clone(),
            None | Some(Value::Null) => Map::new(),
            Some(_) => {
                results.push(invalid("query", "`query` must be an object").v3_body());
                continue;
            }
        };
        if method.eq_ignore_ascii_case("batch") {
            results.push(super::batch::method_not_allowed().v3_body());
            continue;
        }
        match execute(portal, ctx, &method, &Params(query)) {
            Ok(reply) => results.push(reply.result.to_value()),
            Err(e) => results.push(e.v3_body()),
        }
    }
    Ok(Reply::of(Value::Array(results)))
}

/// `rest.documentation.openapi`: the methods this address serves, as OpenAPI paths.
fn openapi(_: &mut Portal, _: &mut Ctx, _: &Params) -> Outcome {
    let paths: Map<String, Value> = METHODS
        .iter()
        .filter(|(name, _, _)| *name != "batch")
        .map(|(name, scope, _)| {
            let operation = json!({"post": {"tags": [scope], "operationId": name}});
            (format!("/{name}"), operation)
        })
        .collect();
    Ok(Reply::of(json!({
        "openapi": "3.0.0",
        "info": {"title": "Bitrix24 REST V3 API", "version": "1.0.0"},
        "tags": [{"name": "tasks", "description": "tasks module methods"}],
        "paths": paths,
    })))
}
