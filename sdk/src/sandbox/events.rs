//! Outbound events: the sandbox POSTs them to handler URLs the way a portal does, as
//! `application/x-www-form-urlencoded` with PHP bracket keys and every scalar a string.

use std::sync::atomic::Ordering;

use serde_json::{Map, Value, json};

use super::Shared;
use super::data::{Portal, unix_now};

/// An event to POST once the portal lock is released.
#[derive(Debug)]
pub(crate) struct PendingEvent {
    pub(crate) url: String,
    pub(crate) body: String,
}

/// Builds an event body: `event`, `event_handler_id`, `data`, `ts` and `auth` for the app,
/// with a fresh token pair acting for `user_id` as a real portal sends.
pub(crate) fn build(
    portal: &mut Portal,
    shared: &Shared,
    event: &str,
    handler_id: i64,
    user_id: i64,
    data: Value,
) -> String {
    let ttl = shared.config.access_token_ttl;
    let tokens = portal.grant(user_id, ttl);
    let domain = match (shared.base.host_str(), shared.base.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        _ => String::new(),
    };
    let rest = format!("{}rest/", shared.base);
    let body = json!({
        "event": event,
        "event_handler_id": handler_id,
        "data": data,
        "ts": unix_now(),
        "auth": {
            "access_token": tokens.access_token.expose(),
            "expires": tokens.expires_at.unwrap_or_default(),
            "expires_in": ttl.as_secs(),
            "scope": shared.config.scopes.join(","),
            "domain": domain,
            "server_endpoint": rest,
            "status": "L",
            "client_endpoint": rest,
            "member_id": portal.app.member_id,
            "user_id": user_id,
            "refresh_token": tokens.refresh_token.expose(),
            "application_token": portal.app.application_token.expose(),
        }
    });
    crate::wire::php::encode(&body)
}

/// POSTs events one after another; a handler that fails or times out is logged and skipped,
/// as a portal drops an undeliverable event.
pub(crate) async fn deliver(shared: &Shared, events: Vec<PendingEvent>) {
    for event in events {
        let sent = shared
            .http
            .post(&event.url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(event.body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                shared
                    .counters
                    .events_delivered
                    .fetch_add(1, Ordering::Relaxed);
            }
            Ok(response) => tracing::warn!(
                status = response.status().as_u16(),
                "event handler refused an event"
            ),
            Err(e) => tracing::warn!("event handler unreachable: {}", e.without_url()),
        }
    }
}

/// `data[USER]` as message events describe the author.
pub(crate) fn user_block(portal: &Portal, user_id: i64) -> Value {
    let user = portal.users.get(&user_id).cloned().unwrap_or_else(Map::new);
    let field = |k: &str| user.get(k).cloned().unwrap_or(Value::String(String::new()));
    let is_bot = portal.bots.contains_key(&user_id);
    json!({
        "ID": user_id,
        "NAME": format!("{} {}", field("NAME").as_str().unwrap_or(""), field("LAST_NAME").as_str().unwrap_or("")).trim(),
        "FIRST_NAME": field("NAME"),
        "LAST_NAME": field("LAST_NAME"),
        "WORK_POSITION": field("WORK_POSITION"),
        "GENDER": "M",
        "IS_BOT": if is_bot { "Y" } else { "N" },
        "IS_CONNECTOR": "N",
        "IS_NETWORK": "N",
        "IS_EXTRANET": "N",
    })
}
