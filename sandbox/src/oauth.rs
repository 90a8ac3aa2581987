//! The sandbox's OAuth server (`/oauth/token/`): renews tokens with rotation, as
//! `oauth.bitrix.info` does. A refresh token works once; reusing it gets `invalid_grant`.
//! Like `oauth.bitrix.info`, it serves every portal of its cluster
//! ([`super::Sandbox::start_peer`]): a token is renewed by the portal that issued it.
//! [`super::SandboxConfig::oauth_delay`] makes it slow to answer after rotating.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::Shared;
use super::params::ApiErr;
use super::server::{envelope_error, json_response};

pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let (response, granted) = answer(&shared, query, &body);
    if granted {
        // The old refresh token is already spent: a client that stops waiting now loses the
        // pair.
        tokio::time::sleep(shared.config.oauth_delay).await;
    }
    response
}

/// The answer to a token request, and whether it granted a pair.
fn answer(shared: &Arc<Shared>, query: Option<String>, body: &[u8]) -> (Response, bool) {
    // Parameters come in the query (as documented) or in a form body.
    let mut params = serde_json::Map::new();
    for source in [
        query.unwrap_or_default(),
        String::from_utf8_lossy(body).into_owned(),
    ] {
        if let Ok(Value::Object(map)) = bitrix24::wire::php::decode(&source) {
            params.extend(map);
        }
    }
    let param = |k: &str| {
        params
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let shared = issuer(shared, &param("refresh_token"), &param("code"));
    let refuse = |status: u16, code: &str, description: &str| {
        shared
            .counters
            .refresh_failures
            .fetch_add(1, Ordering::Relaxed);
        (
            envelope_error(&ApiErr::new(status, code, description)),
            false,
        )
    };
    let mut portal = shared.portal();
    if param("client_id") != portal.app.client_id
        || !portal.app.client_secret.ct_eq(&param("client_secret"))
    {
        return refuse(401, "invalid_client", "Invalid client credentials");
    }
    let user_id = match param("grant_type").as_str() {
        "refresh_token" => match portal.refresh.remove(&param("refresh_token")) {
            Some(user_id) => user_id,
            None => return refuse(400, "invalid_grant", "Invalid grant"),
        },
        "authorization_code" => match portal.auth_codes.remove(&param("code")) {
            Some(user_id) => user_id,
            None => return refuse(400, "invalid_grant", "Invalid grant"),
        },
        _ => {
            return refuse(400, "invalid_request", "Unsupported grant_type");
        }
    };
    let ttl = shared.config.access_token_ttl;
    let tokens = portal.grant(user_id, ttl);
    let rest = format!("{}rest/", shared.base);
    let answer = json!({
        "access_token": tokens.access_token.expose(),
        "client_endpoint": rest,
        "domain": shared.base.host_str().unwrap_or(""),
        "expires": tokens.expires_at,
        "expires_in": ttl.as_secs(),
        "member_id": portal.app.member_id,
        "refresh_token": tokens.refresh_token.expose(),
        "scope": shared.config.scopes.join(","),
        "server_endpoint": rest,
        "status": "L",
        "user_id": user_id,
    });
    drop(portal);
    shared.counters.refreshes.fetch_add(1, Ordering::Relaxed);
    (json_response(StatusCode::OK, &answer), true)
}

/// The portal of the cluster that issued `refresh_token` or `code` (this one if none did).
fn issuer(shared: &Arc<Shared>, refresh_token: &str, code: &str) -> Arc<Shared> {
    shared
        .cluster()
        .into_iter()
        .find(|peer| {
            let portal = peer.portal();
            portal.refresh.contains_key(refresh_token) || portal.auth_codes.contains_key(code)
        })
        .unwrap_or_else(|| shared.clone())
}
