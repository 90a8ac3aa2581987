//! The sandbox's HTTP side: routes, body decoding, authentication, dispatch, envelopes.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Map, Value, json};

use super::events::{self, PendingEvent};
use super::params::{ApiErr, Outcome, Params, Reply};
use super::{Fault, Shared, batch, crm, im, oauth, system};
use crate::sandbox::data::Portal;

/// Largest request body the sandbox reads, like a portal's `post_max_size`.
const MAX_BODY: usize = 32 * 1024 * 1024;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/rest/{*path}", any(rest))
        .route("/oauth/token/", any(oauth::token))
        .route("/oauth/token", any(oauth::token))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    Webhook,
    OAuth,
}

/// What a handler knows about the call besides its parameters.
pub(crate) struct Ctx<'a> {
    pub(crate) user_id: i64,
    pub(crate) via: Via,
    pub(crate) shared: &'a Shared,
    /// Events to POST once the portal lock is released.
    pub(crate) events: Vec<PendingEvent>,
}

pub(crate) type Handler = fn(&mut Portal, &mut Ctx, &Params) -> Outcome;

/// The methods the sandbox implements, with their scopes (names compared case-insensitively,
/// as a portal does).
pub(crate) fn lookup(method: &str) -> Option<(&'static str, Handler)> {
    if method.eq_ignore_ascii_case("batch") {
        return Some(("basic", batch::batch as Handler));
    }
    system::METHODS
        .iter()
        .chain(crm::METHODS)
        .chain(im::METHODS)
        .find(|(name, _, _)| name.eq_ignore_ascii_case(method))
        .map(|(_, scope, handler)| (*scope, *handler))
}

/// Runs one method against the locked portal: scope check, then the handler.
pub(crate) fn execute(
    portal: &mut Portal,
    ctx: &mut Ctx,
    method: &str,
    params: &Params,
) -> Outcome {
    let Some((scope, handler)) = lookup(method) else {
        return Err(ApiErr::new(
            404,
            "ERROR_METHOD_NOT_FOUND",
            "Method not found!",
        ));
    };
    if scope != "basic" && !ctx.shared.config.scopes.iter().any(|s| s == scope) {
        let holder = if ctx.via == Via::Webhook {
            "webhook"
        } else {
            "access"
        };
        return Err(ApiErr::new(
            401,
            "insufficient_scope",
            format!("The request requires higher privileges than provided by the {holder} token"),
        ));
    }
    handler(portal, ctx, params)
}

async fn rest(
    State(shared): State<Arc<Shared>>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = SystemTime::now();
    let clock = Instant::now();
    shared.counters.requests.fetch_add(1, Ordering::Relaxed);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (webhook, method) = match segments.as_slice() {
        [method] => (None, *method),
        [user, code, method] => (Some((*user, *code)), *method),
        _ => {
            return envelope_error(&ApiErr::new(
                404,
                "ERROR_METHOD_NOT_FOUND",
                "Method not found!",
            ));
        }
    };
    // `profile.json` and `profile` are the same call.
    let method = method.strip_suffix(".json").unwrap_or(method).to_owned();
    if let Some(fault) = shared.take_fault(&method) {
        return fault_response(fault);
    }
    let mut params = match read_params(query.as_deref(), &headers, &body) {
        Ok(params) => params,
        Err(e) => return envelope_error(&e),
    };
    let auth = params.0.remove("auth");
    let (outcome, pending) = {
        let mut portal = shared.portal();
        let identity = match webhook {
            Some((user, code)) => webhook_user(&portal, user, code).map(|u| (u, Via::Webhook)),
            None => token_user(&portal, auth.as_ref()).map(|u| (u, Via::OAuth)),
        };
        match identity {
            Err(e) => (Err(e), Vec::new()),
            Ok((user_id, via)) => {
                let mut ctx = Ctx {
                    user_id,
                    via,
                    shared: &shared,
                    events: Vec::new(),
                };
                let outcome = execute(&mut portal, &mut ctx, &method, &params);
                (outcome, ctx.events)
            }
        }
    };
    // Like a portal's event queue, deliveries happen outside the data lock; the sandbox waits
    // for them before answering so tests see their effects without polling.
    events::deliver(&shared, pending).await;
    match outcome {
        Ok(reply) => envelope_ok(reply, started, clock),
        Err(e) => envelope_error(&e),
    }
}

fn webhook_user(portal: &Portal, user: &str, code: &str) -> Result<i64, ApiErr> {
    let invalid = || ApiErr::new(401, "INVALID_CREDENTIALS", "Invalid request credentials");
    let user_id: i64 = user.parse().map_err(|_| invalid())?;
    match portal.webhooks.get(&user_id) {
        Some(expected) if expected.ct_eq(code) => Ok(user_id),
        _ => Err(invalid()),
    }
}

fn token_user(portal: &Portal, auth: Option<&Value>) -> Result<i64, ApiErr> {
    let Some(token) = auth.and_then(Value::as_str).filter(|t| !t.is_empty()) else {
        return Err(ApiErr::new(
            401,
            "NO_AUTH_FOUND",
            "Wrong authorization data",
        ));
    };
    match portal.access.get(token) {
        None => Err(ApiErr::new(
            401,
            "invalid_token",
            "The access token provided is invalid.",
        )),
        Some(grant) if grant.expires_at <= Instant::now() => Err(ApiErr::new(
            401,
            "expired_token",
            "The access token provided has expired.",
        )),
        Some(grant) => Ok(grant.user_id),
    }
}

/// Merges query parameters and the body (JSON or PHP form), as PHP's `$_REQUEST` would.
fn read_params(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Result<Params, ApiErr> {
    let mut params = Map::new();
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        merge(
            &mut params,
            crate::wire::php::decode(query).map_err(form_error)?,
        );
    }
    if !body.is_empty() {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let value = if content_type.starts_with("application/json") {
            serde_json::from_slice(body).map_err(|e| {
                ApiErr::bad(
                    "INVALID_REQUEST",
                    format!("request body is not valid JSON: {e}"),
                )
            })?
        } else {
            let body = std::str::from_utf8(body)
                .map_err(|_| ApiErr::bad("INVALID_REQUEST", "request body is not UTF-8"))?;
            crate::wire::php::decode(body).map_err(form_error)?
        };
        merge(&mut params, value);
    }
    Ok(Params(params))
}

fn form_error(e: crate::wire::php::FormError) -> ApiErr {
    ApiErr::bad("INVALID_REQUEST", format!("cannot parse the request: {e}"))
}

fn merge(into: &mut Map<String, Value>, value: Value) {
    match value {
        Value::Object(map) => into.extend(map),
        // A top-level PHP list has keys 0..n.
        Value::Array(items) => {
            into.extend(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (i.to_string(), v)),
            );
        }
        _ => {}
    }
}

/// The `time` block of a response.
pub(crate) fn time_block(started: SystemTime, clock: Instant) -> Value {
    let start = started
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let elapsed = clock.elapsed().as_secs_f64();
    let date = super::data::iso_now();
    json!({
        "start": start,
        "finish": start + elapsed,
        "duration": elapsed,
        "processing": elapsed,
        "date_start": date,
        "date_finish": date,
        "operating_reset_at": start as i64 + 600,
        "operating": 0,
    })
}

fn envelope_ok(reply: Reply, started: SystemTime, clock: Instant) -> Response {
    let mut body = Map::new();
    body.insert("result".into(), reply.result);
    if let Some(next) = reply.next {
        body.insert("next".into(), next.into());
    }
    if let Some(total) = reply.total {
        body.insert("total".into(), total.into());
    }
    body.insert("time".into(), time_block(started, clock));
    json_response(StatusCode::OK, &Value::Object(body))
}

pub(crate) fn envelope_error(e: &ApiErr) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    json_response(
        status,
        &json!({"error": e.code, "error_description": e.description}),
    )
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn fault_response(fault: Fault) -> Response {
    match fault {
        Fault::Error {
            status,
            code,
            description,
        } => envelope_error(&ApiErr {
            status,
            code,
            description,
        }),
        Fault::Body {
            status,
            content_type,
            body,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
        }
    }
}
