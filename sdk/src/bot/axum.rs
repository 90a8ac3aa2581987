//! Serving a [`BotService`] with axum (feature `axum`).
//!
//! The handler reads the POST body (refusing more than [`BotService::max_body`] bytes with
//! 413 without reading on, and a body slower than [`BotService::read_timeout`] with 408),
//! verifies it with its `Content-Type` ([`App::receive`](crate::app::App::receive)), hands the
//! event to [`BotService::handle`], and answers:
//!
//! - `200 OK` once the event is handled (or, in [background](BotService::background) mode, as
//!   soon as it is verified);
//! - `400` for a malformed body, `401` for an event without an application token, `403` for a
//!   forged, stale or not-allowed one, `408` for a body too slow, `413` for a body too large —
//!   in each case before any call to a portal;
//! - `503` when [`BotService::max_concurrent`] requests are being read and verified already
//!   (anyone can send requests; unverified work is bounded, handlers of verified events are not
//!   counted), or when install verifications are over their budget;
//! - `500` when registering the bot or a handler failed (details go to the log, not to the
//!   sender).
//!
//! ```no_run
//! # async fn run(service: bitrix24::bot::BotService) -> std::io::Result<()> {
//! let app = axum::Router::new().route("/bot", bitrix24::bot::axum::post(service));
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

use super::{BotError, BotService};

/// A POST route serving `service`, to mount at the handler URL's path.
pub fn post(service: BotService) -> MethodRouter {
    axum::routing::post(receive).with_state(service)
}

/// A router serving `service` at `path`.
pub fn router(path: &str, service: BotService) -> axum::Router {
    axum::Router::new().route(path, post(service))
}

/// The handler behind [`post`], for routers that need it as a function.
pub async fn receive(
    State(service): State<BotService>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(admitted) = service.admit() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many requests at once").into_response();
    };
    let limit = service.body_limit();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return too_large();
    }
    let body = match tokio::time::timeout(service.body_timeout(), axum::body::to_bytes(body, limit))
        .await
    {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => return too_large(),
        Err(_) => return (StatusCode::REQUEST_TIMEOUT, "event body too slow").into_response(),
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let delivery = match service.app().receive(&body, content_type).await {
        Ok(delivery) => delivery,
        Err(e) => return refuse(&BotError::Event(e)),
    };
    // Verified: the handler runs outside the limit on unverified work.
    drop(admitted);
    match service.handle(delivery).await {
        Ok(handled) => {
            tracing::debug!(
                event = handled.event,
                member_id = handled.member_id,
                "event handled"
            );
            (StatusCode::OK, "OK").into_response()
        }
        Err(e) => refuse(&e),
    }
}

fn too_large() -> Response {
    (StatusCode::PAYLOAD_TOO_LARGE, "event body too large").into_response()
}

fn refuse(e: &BotError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::warn!("bot event failed: {e}");
        (status, "the event could not be handled").into_response()
    } else {
        // Verification errors name fields, never values: safe to tell the sender.
        tracing::info!(status = status.as_u16(), "bot event refused: {e}");
        (status, e.to_string()).into_response()
    }
}
