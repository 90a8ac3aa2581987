//! The sandbox's HTTP side: routes, the request pipeline (faults, rate limit, authentication,
//! operating time, execution), body decoding and envelopes.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::events::{self, PendingEvent};
use super::limits::is_write;
use super::net::Conn;
use super::params::{ApiErr, Outcome, Params, Reply, Res};
use super::{Fault, Shared, batch, crm, disk, im, oauth, system, v3};
use crate::data::Portal;

/// Largest request body the sandbox reads, like a portal's `post_max_size`.
const MAX_BODY: usize = 32 * 1024 * 1024;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/rest/upload.json",
            axum::routing::post(disk::upload_content),
        )
        .route("/rest/{*path}", any(rest))
        .route("/oauth/token/", any(oauth::token))
        .route("/oauth/token", any(oauth::token))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

/// Which API a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// `/rest/...`
    Classic,
    /// REST 3.0, `/rest/api/...`
    V3,
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
    pub(crate) api: Api,
    pub(crate) shared: &'a Shared,
    /// Events to POST once the portal lock is released.
    pub(crate) events: Vec<PendingEvent>,
    /// Stored rows the running handler looked at (list handlers set it).
    pub(crate) examined: u64,
    /// Operating time charged by the calls run so far within the current one (a batch's
    /// commands).
    pub(crate) cost: Duration,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(shared: &'a Shared, api: Api, user_id: i64, via: Via) -> Self {
        Self {
            user_id,
            via,
            api,
            shared,
            events: Vec::new(),
            examined: 0,
            cost: Duration::ZERO,
        }
    }
}

pub(crate) type Handler = fn(&mut Portal, &mut Ctx, &Params) -> Outcome;

/// The methods of the classic address with their scopes, `batch` last (the order `methods`
/// lists them in).
pub(crate) fn classic_methods() -> impl Iterator<Item = (&'static str, &'static str, Handler)> {
    system::METHODS
        .iter()
        .chain(crm::METHODS)
        .chain(im::METHODS)
        .chain(disk::METHODS)
        .copied()
        .chain([("batch", "basic", batch::batch as Handler)])
}

/// The method the sandbox implements at `api`'s address, with its scope (names compared
/// case-insensitively, as a portal does).
pub(crate) fn lookup(api: Api, method: &str) -> Option<(&'static str, Handler)> {
    let table: Box<dyn Iterator<Item = (&str, &str, Handler)>> = match api {
        Api::Classic => Box::new(classic_methods()),
        Api::V3 => Box::new(v3::METHODS.iter().copied()),
    };
    table
        .into_iter()
        .find(|(name, _, _)| name.eq_ignore_ascii_case(method))
        .map(|(_, scope, handler)| (scope, handler))
}

pub(crate) fn method_not_found() -> ApiErr {
    ApiErr::new(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
}

/// Runs one method against the locked portal: scope, operating-time block, the handler, then
/// its cost and, for a successful write, the executed-writes counter.
pub(crate) fn execute(
    portal: &mut Portal,
    ctx: &mut Ctx,
    method: &str,
    params: &Params,
) -> Outcome {
    let Some((scope, handler)) = lookup(ctx.api, method) else {
        return Err(method_not_found());
    };
    if !ctx.shared.grants(scope) {
        return Err(match ctx.api {
            Api::V3 => ApiErr::new(
                403,
                "BITRIX_REST_V3_EXCEPTION_INSUFFICIENTSCOPEEXCEPTION",
                format!("The method requires the `{scope}` scope"),
            ),
            Api::Classic => {
                let holder = if ctx.via == Via::Webhook {
                    "webhook"
                } else {
                    "access"
                };
                ApiErr::new(
                    401,
                    "insufficient_scope",
                    format!(
                        "The request requires higher privileges than provided by the {holder} token"
                    ),
                )
            }
        });
    }
    let key = method.to_ascii_lowercase();
    let now = Instant::now();
    if ctx.shared.limits().blocked(&key, now) {
        return Err(ApiErr::new(
            429,
            "OPERATION_TIME_LIMIT",
            "Method is blocked due to operation time limit.",
        ));
    }
    let outer_rows = std::mem::take(&mut ctx.examined);
    let outer_cost = std::mem::take(&mut ctx.cost);
    let outcome = handler(portal, ctx, params);
    let cost = if key == "batch" {
        ctx.cost
    } else {
        ctx.shared.limits().cost.cost(&key, ctx.examined)
    };
    ctx.shared.limits().charge(&key, now, cost);
    ctx.examined = outer_rows;
    ctx.cost = outer_cost.saturating_add(cost);
    if outcome.is_ok() && is_write(&key) {
        ctx.shared.count_write(&key);
    }
    outcome
}

async fn rest(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = Incoming {
        path,
        query,
        uri,
        headers,
        body,
    };
    handle(shared, conn, request).await
}

/// A REST request as it arrived.
pub(crate) struct Incoming {
    /// The path after `rest/`.
    path: String,
    pub(crate) query: Option<String>,
    uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// The method and the webhook credentials of a REST path.
pub(crate) struct Target {
    pub(crate) webhook: Option<(String, String)>,
    pub(crate) method: String,
}

impl Target {
    fn parse(path: &str) -> Option<Self> {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let (webhook, method) = match segments.as_slice() {
            [method] => (None, *method),
            [user, code, method] => (Some(((*user).to_owned(), (*code).to_owned())), *method),
            _ => return None,
        };
        // `profile.json` and `profile` are the same call.
        let method = method.strip_suffix(".json").unwrap_or(method).to_owned();
        Some(Self { webhook, method })
    }
}

/// The pipeline every REST request goes through.
async fn handle(shared: Arc<Shared>, conn: Conn, request: Incoming) -> Response {
    let started = Instant::now();
    shared.counters.requests.fetch_add(1, Ordering::Relaxed);
    let (api, path) = match request.path.strip_prefix("api/") {
        Some(rest) => (Api::V3, rest),
        None => (Api::Classic, request.path.as_str()),
    };
    let Some(target) = Target::parse(path) else {
        return error_response(api, &method_not_found());
    };
    let fault = shared.take_fault(&target.method, conn.renamed);
    if let Some((fault, after)) = &fault
        && (!after || matches!(fault, Fault::Redirect))
    {
        return fault_before(&shared, &conn, api, fault.clone(), &request.uri).await;
    }
    if !shared.limits().admit(Instant::now()) {
        return error_response(
            api,
            &ApiErr::new(503, "QUERY_LIMIT_EXCEEDED", "Too many requests"),
        );
    }
    let response = match api {
        Api::Classic => classic(&shared, &target, &request, started).await,
        Api::V3 => v3::call(&shared, &target, &request, started).await,
    };
    match fault {
        Some((fault, true)) => fault_after(&conn, api, fault, response).await,
        _ => response,
    }
}

/// A classic call: PHP-style parameters from the query and the body, then one method (or a
/// batch).
async fn classic(
    shared: &Shared,
    target: &Target,
    request: &Incoming,
    started: Instant,
) -> Response {
    let mut params = match read_params(request.query.as_deref(), &request.headers, &request.body) {
        Ok(params) => params,
        Err(e) => return envelope_error(&e),
    };
    let auth = params.0.remove("auth");
    let (outcome, pending, cost) = {
        let mut portal = shared.portal();
        match identify(&mut portal, target, auth.as_ref()) {
            Err(e) => (Err(e), Vec::new(), Duration::ZERO),
            Ok((user_id, via)) => {
                let mut ctx = Ctx::new(shared, Api::Classic, user_id, via);
                let outcome = execute(&mut portal, &mut ctx, &target.method, &params);
                (outcome, ctx.events, ctx.cost)
            }
        }
    };
    // Like a portal's event queue, deliveries happen outside the data lock; the sandbox waits
    // for them before answering so tests see their effects without polling.
    events::deliver(shared, pending).await;
    // The time the calls took, spent outside the lock: requests in parallel take it in
    // parallel, as a portal's workers do, while a batch's commands add up.
    if shared.config.spend_operating_time {
        tokio::time::sleep(cost).await;
    }
    match outcome {
        Ok(reply) => {
            let time = time_block(shared, &target.method, started);
            envelope_ok(reply, time)
        }
        Err(e) => envelope_error(&e),
    }
}

/// Who is calling: the webhook in the path, or the access token in `auth`.
pub(crate) fn identify(
    portal: &mut Portal,
    target: &Target,
    auth: Option<&Value>,
) -> Result<(i64, Via), ApiErr> {
    match &target.webhook {
        Some((user, code)) => webhook_user(portal, user, code).map(|u| (u, Via::Webhook)),
        None => token_user(portal, auth).map(|u| (u, Via::OAuth)),
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

fn token_user(portal: &mut Portal, auth: Option<&Value>) -> Result<i64, ApiErr> {
    let Some(token) = auth.and_then(Value::as_str).filter(|t| !t.is_empty()) else {
        return Err(ApiErr::new(
            401,
            "NO_AUTH_FOUND",
            "Wrong authorization data",
        ));
    };
    let expired = || {
        ApiErr::new(
            401,
            "expired_token",
            "The access token provided has expired.",
        )
    };
    match portal.access.get_mut(token) {
        None => Err(ApiErr::new(
            401,
            "invalid_token",
            "The access token provided is invalid.",
        )),
        Some(grant) if grant.expires_at <= Instant::now() => Err(expired()),
        Some(grant) => match &mut grant.calls_left {
            Some(0) => Err(expired()),
            Some(left) => {
                *left -= 1;
                Ok(grant.user_id)
            }
            None => Ok(grant.user_id),
        },
    }
}

/// Merges query parameters and the body (JSON or PHP form), as PHP's `$_REQUEST` would.
fn read_params(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Result<Params, ApiErr> {
    let mut params = Map::new();
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        merge(
            &mut params,
            bitrix24::wire::php::decode(query).map_err(form_error)?,
        );
    }
    if !body.is_empty() {
        let value = if is_json(headers) {
            serde_json::from_slice(body).map_err(|e| {
                ApiErr::bad(
                    "INVALID_REQUEST",
                    format!("request body is not valid JSON: {e}"),
                )
            })?
        } else {
            let body = std::str::from_utf8(body)
                .map_err(|_| ApiErr::bad("INVALID_REQUEST", "request body is not UTF-8"))?;
            bitrix24::wire::php::decode(body).map_err(form_error)?
        };
        merge(&mut params, value);
    }
    Ok(Params(params))
}

pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"))
}

fn form_error(e: bitrix24::wire::php::FormError) -> ApiErr {
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

/// The `time` block of a response to `method` that started at `started`, with the method's
/// operating time.
pub(crate) fn time_block(shared: &Shared, method: &str, started: Instant) -> Value {
    let now = Instant::now();
    let operating = shared.limits().operating(&method.to_ascii_lowercase(), now);
    let start = shared.clock.unix(started);
    let finish = shared.clock.unix(now);
    let reset_at = shared.clock.unix(operating.reset_at).ceil() as i64;
    json!({
        "start": start,
        "finish": finish,
        "duration": finish - start,
        "processing": finish - start,
        "date_start": super::store::format_date(start as i64),
        "date_finish": super::store::format_date(finish as i64),
        "operating_reset_at": reset_at,
        "operating": operating.seconds,
    })
}

fn envelope_ok(reply: Reply, time: Value) -> Response {
    json_bytes(StatusCode::OK, envelope_body(reply, time))
}

/// `{"result", "next"?, "total"?, "time"}`.
pub(crate) fn envelope_body(reply: Reply, time: Value) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(b"{\"result\":");
    reply.result.write(&mut body);
    if let Some(next) = reply.next {
        body.extend_from_slice(format!(",\"next\":{next}").as_bytes());
    }
    if let Some(total) = reply.total {
        body.extend_from_slice(format!(",\"total\":{total}").as_bytes());
    }
    body.extend_from_slice(b",\"time\":");
    Res::Value(time).write(&mut body);
    body.push(b'}');
    body
}

/// A JSON response from text already written.
pub(crate) fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

pub(crate) fn envelope_error(e: &ApiErr) -> Response {
    json_response(e.http_status(), &e.classic_body())
}

/// An error in `api`'s envelope.
pub(crate) fn error_response(api: Api, e: &ApiErr) -> Response {
    match api {
        Api::Classic => envelope_error(e),
        Api::V3 => v3::envelope_error(e),
    }
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    json_bytes(status, body.to_string().into_bytes())
}

fn raw_response(status: u16, content_type: String, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// A fault that replaces the call.
async fn fault_before(shared: &Shared, conn: &Conn, api: Api, fault: Fault, uri: &Uri) -> Response {
    match fault {
        Fault::Error {
            status,
            code,
            description,
        } => error_response(api, &ApiErr::new(status, &code, description)),
        Fault::Body {
            status,
            content_type,
            body,
        } => raw_response(status, content_type, body),
        Fault::Reset => {
            conn.reset();
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        Fault::Slow(delay) => {
            tokio::time::sleep(delay).await;
            fault_html(504)
        }
        Fault::Redirect => {
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            let location = format!("{}{}", shared.renamed_base, path.trim_start_matches('/'));
            (
                StatusCode::FOUND,
                [
                    (header::LOCATION, location),
                    (header::CONTENT_TYPE, "text/html".to_owned()),
                ],
                "<html><body>The portal has moved.</body></html>",
            )
                .into_response()
        }
    }
}

fn fault_html(status: u16) -> Response {
    match Fault::html(status) {
        Fault::Body {
            status,
            content_type,
            body,
        } => raw_response(status, content_type, body),
        _ => StatusCode::GATEWAY_TIMEOUT.into_response(),
    }
}

/// A fault that hits after the call executed and produced `response`.
async fn fault_after(conn: &Conn, api: Api, fault: Fault, response: Response) -> Response {
    match fault {
        Fault::Error {
            status,
            code,
            description,
        } => error_response(api, &ApiErr::new(status, &code, description)),
        Fault::Body {
            status,
            content_type,
            body,
        } => raw_response(status, content_type, body),
        Fault::Reset => {
            conn.reset();
            response
        }
        Fault::Slow(delay) => {
            tokio::time::sleep(delay).await;
            response
        }
        // Handled before execution.
        Fault::Redirect => response,
    }
}
