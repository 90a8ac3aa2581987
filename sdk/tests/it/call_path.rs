//! The one call path, exercised over real HTTP against the sandbox portal: typed calls in both
//! auth modes and both encodings, every error shape, and OAuth renewal.
#![cfg(feature = "full")]
#![allow(deprecated)] // The classic methods are deprecated upstream but still the common case.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::log_capture::Captured;
use bitrix24::auth::{MemoryTokenStore, StoreError};
use bitrix24::crm::DealFields;
use bitrix24::{
    Client, ClientBuilder, Encoding, Error, ErrorCode, FileTokenStore, RateLimit, RetryPolicy,
    TokenStore, Tokens, TransportKind,
};
use bitrix24_sandbox::{Fault, Sandbox, SandboxConfig};
use futures::StreamExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};

/// These tests are about the call path, not the rate limit: give the client room.
fn fast(builder: ClientBuilder) -> ClientBuilder {
    builder.rate_limit(RateLimit::new(10_000, 10_000.0))
}

/// An OAuth client for the sandbox's application.
fn oauth(portal: &Sandbox) -> ClientBuilder {
    fast(
        Client::builder()
            .portal(portal.url().as_str())
            .oauth(portal.oauth_app(), portal.issue_tokens()),
    )
}

/// The administrator's webhook client.
fn webhook(portal: &Sandbox) -> ClientBuilder {
    fast(Client::builder().webhook(&portal.webhook_url()))
}

fn api_error(result: Result<impl std::fmt::Debug, Error>) -> bitrix24::ApiError {
    match result {
        Err(Error::Api(e)) => e,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn typed_calls_work_with_a_webhook() {
    let portal = Sandbox::start().await.unwrap();
    let client = webhook(&portal).build().unwrap();
    let me = client.user_current().await.unwrap();
    assert_eq!(me.id, Some(1));
    assert_eq!(me.name.as_deref(), Some("Anna"));
    assert_eq!(me.active, Some(true));
    let profile = client.profile().await.unwrap();
    assert_eq!(profile.id, 1);
    assert_eq!(profile.admin, Some(true));
    let time: Value = client.call("server.time", &()).await.unwrap();
    assert!(time.as_str().is_some_and(|t| t.contains('T')), "{time}");
}

#[tokio::test]
async fn deals_round_trip_with_typed_fields() {
    let portal = Sandbox::start().await.unwrap();
    let client = oauth(&portal).build().unwrap();
    let fields = DealFields::new()
        .title("Roof repair")
        .opportunity(1500.5)
        .opened(true);
    let id = client.crm_deal_add().fields(fields).await.unwrap();
    let deal = client.crm_deal_get(id).await.unwrap();
    assert_eq!(deal.id, Some(id));
    assert_eq!(deal.title.as_deref(), Some("Roof repair"));
    assert_eq!(deal.opportunity, Some(1500.5));
    assert_eq!(deal.opened, Some(true));
    assert!(deal.date_create.is_some(), "datetime with offset decodes");
    // The classic API stores every scalar as a string; the codec reads it back typed.
    assert_eq!(portal.deal(id).unwrap()["OPPORTUNITY"], "1500.5");

    assert!(
        client
            .crm_deal_update(id)
            .fields(DealFields::new().title("Roof"))
            .await
            .unwrap()
    );
    for n in 0..3 {
        client
            .crm_deal_add()
            .fields(DealFields::new().title(format!("d{n}")).opportunity(10.0))
            .await
            .unwrap();
    }
    let big = client
        .crm_deal_list()
        .filter(">OPPORTUNITY", 1000)
        .select(["ID", "TITLE"])
        .await
        .unwrap();
    assert_eq!(big.len(), 1);
    assert_eq!(big[0].title.as_deref(), Some("Roof"));
    assert_eq!(big[0].opportunity, None, "not selected");
    assert!(client.crm_deal_delete(id).await.unwrap());
    assert_eq!(portal.deal_count(), 3);
}

#[tokio::test]
async fn universal_items_see_deals_in_camel_case() {
    let portal = Sandbox::start().await.unwrap();
    let client = oauth(&portal).build().unwrap();
    let data = bitrix24::crm::CrmItemData::new()
        .title("Via items")
        .opportunity(42.0);
    let created = client.crm_item_add(2, data).await.unwrap().item;
    let id = created.id.unwrap();
    assert_eq!(created.entity_type_id, Some(2));
    let classic = client.crm_deal_get(id).await.unwrap();
    assert_eq!(classic.title.as_deref(), Some("Via items"));
    let page = client
        .crm_item_list(2)
        .filter("=title", "Via items")
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].opportunity, Some(42.0));
}

#[tokio::test]
async fn form_encoding_gives_the_same_results_as_json() {
    let portal = Sandbox::start().await.unwrap();
    let form = Client::builder()
        .webhook(&portal.webhook_url())
        .encoding(Encoding::Form)
        .build()
        .unwrap();
    let json = webhook(&portal).build().unwrap();
    let fields = DealFields::new()
        .title("Ä & b=c [x] +1")
        .opportunity(7.25)
        .contact_ids([3, 4]);
    let id = form.crm_deal_add().fields(fields).await.unwrap();
    let via_json = json.crm_deal_get(id).await.unwrap();
    let via_form = form.crm_deal_get(id).await.unwrap();
    assert_eq!(via_form, via_json);
    assert_eq!(via_form.title.as_deref(), Some("Ä & b=c [x] +1"));
    let listed = form.crm_deal_list().filter("%TITLE", "b=c").await.unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn every_error_shape_maps_to_a_typed_error() {
    let portal = Sandbox::start().await.unwrap();
    // Retries and freezes would hide the injected errors; they have tests of their own.
    let policy = RetryPolicy::none().max_freeze_wait(Duration::ZERO);
    let client = oauth(&portal).retry_policy(policy).build().unwrap();

    // A method's own code, with its description and status.
    let bot = client
        .imbot_register("echo", bitrix24::imbot::BotProperties::new().name("Echo"))
        .event_handler("http://127.0.0.1:9/handler")
        .await
        .unwrap();
    let e = api_error(client.imbot_message_add("1", " ").bot_id(bot).await);
    assert_eq!(
        (e.code.clone(), e.status),
        (ErrorCode::Other("MESSAGE_EMPTY".into()), 400)
    );
    assert_eq!(
        e.to_string(),
        "imbot.message.add: MESSAGE_EMPTY (400): Message can't be empty"
    );

    // An empty code: only the description says what happened.
    let e = api_error(client.crm_deal_get(999).await);
    assert_eq!((e.code, e.status), (ErrorCode::Unspecified, 400));

    let e = api_error(client.call::<Value>("no.such.method", &()).await);
    assert_eq!((e.code, e.status), (ErrorCode::MethodNotFound, 404));

    // Webhooks may not register bots.
    let e = api_error(
        portal
            .webhook_client()
            .unwrap()
            .imbot_register("x", bitrix24::imbot::BotProperties::new().name("X"))
            .event_handler("http://127.0.0.1:9/h")
            .await,
    );
    assert_eq!(
        (e.code, e.status),
        (ErrorCode::Other("WRONG_AUTH_TYPE".into()), 401)
    );

    // System codes, injected as a portal would send them.
    for (status, code, want) in [
        (503, "QUERY_LIMIT_EXCEEDED", ErrorCode::QueryLimitExceeded),
        (401, "OVERLOAD_LIMIT", ErrorCode::OverloadLimit),
        (500, "INTERNAL_SERVER_ERROR", ErrorCode::InternalServerError),
        (
            500,
            "ERROR_UNEXPECTED_ANSWER",
            ErrorCode::ErrorUnexpectedAnswer,
        ),
        (401, "ACCESS_DENIED", ErrorCode::AccessDenied),
        (401, "INVALID_REQUEST", ErrorCode::InvalidRequest),
        (401, "user_access_error", ErrorCode::UserAccessError),
        (403, "PORTAL_DELETED", ErrorCode::PortalDeleted),
        // Last: it freezes the method, so later calls would not be sent.
        (429, "OPERATION_TIME_LIMIT", ErrorCode::OperationTimeLimit),
    ] {
        portal.inject(Some("profile"), Fault::error(status, code, "injected"));
        let e = api_error(client.profile().await);
        assert_eq!(
            (e.code, e.status, e.method.as_str()),
            (want, status, "profile"),
            "{code}"
        );
    }

    // REST 3.0's error object.
    portal.inject(
        None,
        Fault::Body {
            status: 400,
            content_type: "application/json".into(),
            body: include_str!("../fixtures/examples/response.rest-v3.error.json").into(),
        },
    );
    let e = api_error(client.user_current().await);
    assert!(
        e.code.as_str().starts_with("BITRIX_REST_V3_EXCEPTION"),
        "{e}"
    );
    assert!(e.description.contains("Required field `id`"), "{e}");
}

#[tokio::test]
async fn scopes_and_credentials_are_enforced() {
    let portal = Sandbox::start_with(SandboxConfig::default().scopes(["user"]))
        .await
        .unwrap();
    let client = webhook(&portal).build().unwrap();
    client.user_current().await.unwrap();
    let e = api_error(client.crm_deal_list().await);
    assert_eq!((e.code, e.status), (ErrorCode::InsufficientScope, 401));

    let forged = portal.webhook_url().replace("/rest/1/", "/rest/2/");
    let e = api_error(Client::webhook(&forged).unwrap().user_current().await);
    assert_eq!(
        (e.code.clone(), e.status),
        (ErrorCode::InvalidCredentials, 401)
    );
    assert!(
        !e.to_string().contains(forged.split('/').nth(5).unwrap()),
        "no webhook code in errors"
    );
}

#[tokio::test]
async fn malformed_answers_are_typed_errors() {
    let portal = Sandbox::start().await.unwrap();
    let client = webhook(&portal)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();

    portal.inject(None, Fault::html(502));
    match client.profile().await {
        Err(Error::Http {
            status: 502,
            body_start,
            method,
        }) => {
            assert_eq!(method, "profile");
            assert!(body_start.contains("<html>"));
        }
        other => panic!("{other:?}"),
    }
    for body in [
        "",
        "{\"result\": {\"ID\": \"1\"",
        "not json at all",
        "{\"time\": {}}",
        "[]",
    ] {
        portal.inject(None, Fault::body(body));
        match client.profile().await {
            Err(Error::Decode {
                method,
                status: 200,
                ..
            }) => assert_eq!(method, "profile"),
            other => panic!("{body:?}: {other:?}"),
        }
    }
    // A result of another shape than the schema says names the method and the problem.
    portal.inject(None, Fault::body(r#"{"result": {"ID": "not a number"}}"#));
    let e = client.profile().await.unwrap_err();
    assert!(matches!(e, Error::Decode { .. }), "{e:?}");
    assert!(
        e.to_string().starts_with("profile: cannot decode response"),
        "{e}"
    );

    let small = Client::builder()
        .webhook(&portal.webhook_url())
        .max_response_bytes(64)
        .build()
        .unwrap();
    let e = small.user_current().await.unwrap_err();
    assert!(matches!(e, Error::TooLarge { limit: 64, .. }), "{e:?}");

    let closed = Client::builder()
        .webhook("http://127.0.0.1:9/rest/1/code/")
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    match closed.profile().await {
        Err(Error::Transport {
            kind: TransportKind::Connect,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn expired_token_is_renewed_once_and_the_call_retried() {
    let portal = Sandbox::start().await.unwrap();
    let client = oauth(&portal).build().unwrap();
    client.profile().await.unwrap();
    portal.expire_access_tokens();
    let me = client.user_current().await.unwrap();
    assert_eq!(me.id, Some(1));
    assert_eq!(portal.stats().refreshes, 1);
    client.user_current().await.unwrap();
    assert_eq!(portal.stats().refreshes, 1, "the renewed token is reused");
}

#[tokio::test]
async fn expired_token_refreshes_once_for_fifty_concurrent_calls() {
    let portal = Sandbox::start().await.unwrap();
    let client = oauth(&portal).build().unwrap();
    client.profile().await.unwrap();
    portal.expire_access_tokens();
    let before = portal.stats().requests;
    let calls: Vec<_> = (0..50)
        .map(|_| tokio::spawn(client.user_current().into_future()))
        .collect();
    let mut ok = 0;
    for call in calls {
        call.await.unwrap().unwrap();
        ok += 1;
    }
    assert_eq!(ok, 50);
    assert_eq!(portal.stats().refreshes, 1);
    assert_eq!(portal.stats().refresh_failures, 0);
    // Each call was sent at most twice: once expired, once renewed.
    assert!(portal.stats().requests - before <= 100);
}

#[tokio::test]
async fn a_rotated_refresh_token_cannot_be_reused() {
    let portal = Sandbox::start().await.unwrap();
    let tokens = portal.issue_tokens();
    let first = Client::builder()
        .portal(portal.url().as_str())
        .oauth(portal.oauth_app(), tokens.clone())
        .build()
        .unwrap();
    portal.expire_access_tokens();
    first.profile().await.unwrap();
    // A second client still holding the old pair: its renewal is refused, cleanly.
    let stale = Client::builder()
        .portal(portal.url().as_str())
        .oauth(portal.oauth_app(), tokens.clone())
        .build()
        .unwrap();
    match stale.profile().await {
        Err(Error::Refresh(e)) => {
            assert_eq!((e.code.clone(), e.status), (ErrorCode::InvalidGrant, 400));
            let text = format!("{e} {e:?}");
            assert!(!text.contains(tokens.refresh_token.expose()), "{text}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(portal.stats().refresh_failures, 1);
}

#[tokio::test]
async fn renewal_never_loops() {
    // Tokens that expire at once: every renewal brings a token the portal refuses again. A
    // call renews at most once per token it was refused with, the first renewal free and the
    // others out of its retry budget, then returns the refusal (before issue 12: one renewal,
    // then the refusal).
    let portal = Sandbox::start_with(SandboxConfig::default().access_token_ttl(Duration::ZERO))
        .await
        .unwrap();
    let client = oauth(&portal)
        .retry_policy(RetryPolicy::default().max_retries(2))
        .build()
        .unwrap();
    let e = api_error(client.profile().await);
    assert_eq!(e.code, ErrorCode::ExpiredToken);
    // The pair's `expires` is already past: renewed once before sending (that token arrives
    // expired too, so it is not renewed early again), then once per refusal: the first renewal
    // free, two from the budget of 2 retries.
    assert_eq!(portal.stats().refreshes, 4);
    assert_eq!(portal.stats().requests, 4);
    assert_eq!(portal.stats().refresh_failures, 0);
}

#[tokio::test]
async fn a_known_expiry_is_renewed_before_sending() {
    let portal = Sandbox::start().await.unwrap();
    let mut tokens = portal.issue_tokens();
    tokens.expires_at = Some(unix_now() - 10);
    portal.expire_access_tokens();
    let client = oauth_with(&portal, tokens);
    let calls: Vec<_> = (0..50)
        .map(|_| tokio::spawn(client.user_current().into_future()))
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(portal.stats().refreshes, 1, "one renewal for all");
    assert_eq!(portal.stats().requests, 50, "no call was refused first");
    // The renewed pair's `expires` is an hour away: no early renewal until then.
    client.user_current().await.unwrap();
    assert_eq!(portal.stats().refreshes, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_expiring_every_two_calls_do_not_stop_an_oauth_export() {
    let config = SandboxConfig::default()
        .seed_deals(10_000)
        .access_token_calls(Some(2));
    let portal = Sandbox::start_with(config).await.unwrap();
    let client = oauth(&portal).build().unwrap();
    let mut rows = 0;
    let mut deals = client.crm_deal_list().stream();
    while let Some(deal) = deals.next().await {
        deal.expect("every page arrives");
        rows += 1;
    }
    assert_eq!(rows, 10_000);
    let stats = portal.stats();
    assert!(stats.refreshes > 1, "{stats:?}");
    assert_eq!(stats.refresh_failures, 0);
}

#[tokio::test]
async fn a_cancelled_call_does_not_lose_the_rotated_pair() {
    // The OAuth server rotates, then answers 2 s later; the caller gives up after 0.5 s.
    let config = SandboxConfig::default().oauth_delay(Duration::from_secs(2));
    let portal = Sandbox::start_with(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let initial = portal.issue_tokens();
    let client = oauth_with_store(&portal, initial.clone(), FileTokenStore::new(&path));
    portal.expire_access_tokens();
    let gave_up = tokio::time::timeout(Duration::from_millis(500), client.profile()).await;
    assert!(gave_up.is_err(), "the call was cancelled mid-renewal");
    // Nobody waits for it now; the renewal finishes and is saved all the same.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let stored: Tokens = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_ne!(stored.refresh_token, initial.refresh_token);
    client
        .profile()
        .await
        .expect("works without re-authorising");
    assert_eq!(portal.stats().refreshes, 1);
    assert_eq!(portal.stats().refresh_failures, 0);
}

/// A token store whose first `failures` saves fail.
#[derive(Debug)]
struct FlakyStore {
    tokens: MemoryTokenStore,
    failures: AtomicU32,
}

impl TokenStore for FlakyStore {
    fn load(&self) -> BoxFuture<'_, Result<Option<Tokens>, StoreError>> {
        self.tokens.load()
    }

    fn save<'a>(&'a self, tokens: &'a Tokens) -> BoxFuture<'a, Result<(), StoreError>> {
        let fail = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            return Box::pin(async { Err(StoreError("disk full".to_owned())) });
        }
        self.tokens.save(tokens)
    }
}

#[tokio::test]
async fn a_failed_save_keeps_the_renewed_pair_and_retries() {
    let portal = Sandbox::start().await.unwrap();
    let store = Arc::new(FlakyStore {
        tokens: MemoryTokenStore::new(),
        failures: AtomicU32::new(2),
    });
    let reported = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = reported.clone();
    let client = oauth(&portal)
        .token_store(store.clone())
        .on_store_error(move |e| seen.lock().unwrap().push(e.to_string()))
        .build()
        .unwrap();
    portal.expire_access_tokens();
    client
        .profile()
        .await
        .expect("the renewed pair is used though the store refused it");
    assert_eq!(*reported.lock().unwrap(), ["disk full"]);
    assert_eq!(store.tokens.load().await.unwrap(), None, "not saved yet");
    // Asked to save now: the store refuses again, and the caller sees it, typed.
    match client.save_tokens().await {
        Err(Error::Store(e)) => assert_eq!(e.to_string(), "disk full"),
        other => panic!("{other:?}"),
    }
    // The pair is still in memory: calls go on without renewing.
    client.profile().await.unwrap();
    assert_eq!(portal.stats().refreshes, 1);
    // A later use saves it, once the backoff has passed.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    client.profile().await.unwrap();
    client.save_tokens().await.expect("nothing left to save");
    let stored = store.tokens.load().await.unwrap().expect("saved");
    let restarted = Client::builder()
        .portal(portal.url().as_str())
        .oauth_from_store(portal.oauth_app(), store.clone())
        .build()
        .unwrap();
    restarted.profile().await.expect("the saved pair works");
    assert_ne!(stored.access_token.expose(), "");
    assert_eq!(portal.stats().refreshes, 1);
    assert_eq!(portal.stats().refresh_failures, 0);
    assert_eq!(reported.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn renewed_tokens_are_stored_before_the_retry() {
    let portal = Sandbox::start().await.unwrap();
    let dir = std::env::temp_dir().join(format!("b24-call-path-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tokens.json");
    let initial = portal.issue_tokens();
    let client = Client::builder()
        .portal(portal.url().as_str())
        .oauth(portal.oauth_app(), initial.clone())
        .token_store(FileTokenStore::new(&path))
        .build()
        .unwrap();
    portal.expire_access_tokens();
    client.profile().await.unwrap();
    let stored: Tokens = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_ne!(stored.refresh_token, initial.refresh_token);

    // A new process starting from the store continues where the first left off.
    let restarted = Client::builder()
        .portal(portal.url().as_str())
        .oauth_from_store(portal.oauth_app(), FileTokenStore::new(&path))
        .build()
        .unwrap();
    restarted.profile().await.unwrap();
    assert_eq!(portal.stats().refreshes, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn webhooks_never_refresh() {
    let portal = Sandbox::start().await.unwrap();
    let client = webhook(&portal).build().unwrap();
    portal.inject(
        None,
        Fault::error(
            401,
            "expired_token",
            "The access token provided has expired.",
        ),
    );
    let e = api_error(client.profile().await);
    assert_eq!(e.code, ErrorCode::ExpiredToken);
    assert_eq!(portal.stats().refreshes, 0);
}

#[tokio::test]
async fn requests_are_plain_data_and_can_be_sent_later() {
    let portal = Sandbox::start().await.unwrap();
    let client = webhook(&portal).build().unwrap();
    let request = client.crm_deal_list().filter("=TITLE", "nothing");
    assert_eq!(
        request.params().filter.as_ref().unwrap().get("=TITLE"),
        Some(&bitrix24::FilterValue::from("nothing"))
    );
    let list = bitrix24::crm::CrmDealList::new().order("ID", "DESC");
    let spawned = tokio::spawn(client.request(list).into_future());
    assert!(spawned.await.unwrap().unwrap().is_empty());
    let shared = Arc::new(client);
    assert!(format!("{shared:?}").contains("webhook"));
}

#[tokio::test]
async fn authorization_codes_are_exchanged_once_outside_any_client() {
    let portal = Sandbox::start().await.unwrap();
    let app = portal.oauth_app();
    let code = portal.issue_auth_code(2);
    let grant = app.exchange_code(&code).await.unwrap();
    assert_eq!(
        grant.client_endpoint.as_deref(),
        Some(format!("{}rest/", portal.url()).as_str())
    );
    let client = oauth_with(&portal, grant.tokens.clone());
    assert_eq!(
        client.user_current().await.unwrap().id,
        Some(2),
        "the pair acts for user 2"
    );
    let e = app.exchange_code(&code).await.unwrap_err();
    assert!(
        matches!(&e, Error::Refresh(r) if r.code == ErrorCode::InvalidGrant),
        "{e:?}"
    );
    let renewed = app
        .refresh_tokens(&grant.tokens.refresh_token)
        .await
        .unwrap();
    assert_ne!(renewed.tokens.refresh_token, grant.tokens.refresh_token);
    assert!(
        app.refresh_tokens(&grant.tokens.refresh_token)
            .await
            .is_err(),
        "rotated"
    );
}

/// Requests as `(path, User-Agent)`, in the order they came.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A scripted server on 127.0.0.1 in the roles of a portal and an OAuth server, recording the
/// `User-Agent` of every request: webhook calls succeed, an upload method answers an upload
/// URL on the server itself, OAuth calls are refused as expired and the renewal is refused.
async fn user_agent_recorder() -> (String, Seen) {
    let seen = Seen::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let upload_url = format!("{base}upload/1");
    let recorder = seen.clone();
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let agent = headers
                .get(axum::http::header::USER_AGENT)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let path = uri.path().to_owned();
            recorder.lock().unwrap().push((path.clone(), agent));
            let (status, answer) = if path.starts_with("/oauth/token/") {
                (
                    400,
                    json!({"error": "invalid_grant", "error_description": "refused"}),
                )
            } else if path.ends_with("disk.folder.uploadFile") {
                (
                    200,
                    json!({"result": {"field": "file", "uploadUrl": upload_url}}),
                )
            } else if path.starts_with("/upload/") {
                (200, json!({"result": {"ID": 3, "NAME": "a.txt"}}))
            } else if String::from_utf8_lossy(&body).contains("\"auth\"") {
                (
                    401,
                    json!({"error": "expired_token", "error_description": "expired"}),
                )
            } else {
                (200, json!({"result": {"ID": 1}}))
            };
            let status = axum::http::StatusCode::from_u16(status).unwrap();
            async move { (status, answer.to_string()) }
        },
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

#[tokio::test]
async fn every_request_names_the_sdk_in_its_user_agent() {
    let (base, seen) = user_agent_recorder().await;
    // A call and an upload in two steps.
    let webhook = Client::webhook(&format!("{base}rest/1/k7xq2m9w/")).unwrap();
    webhook.profile().await.unwrap();
    let file = bitrix24::File::new("a.txt", b"hello".to_vec());
    let stored = webhook
        .disk_upload(bitrix24::disk::DiskFolderUploadFile::new(8), file)
        .await
        .unwrap();
    assert_eq!(stored.id, 3);
    // An OAuth call refused as expired renews its token; a renewal outside any client.
    let app = bitrix24::OAuthApp::new("id", "secret")
        .with_token_url(format!("{base}oauth/token/").parse().unwrap());
    let oauth = Client::builder()
        .portal(&base)
        .oauth(app.clone(), Tokens::new("access-token", "refresh-token"))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let e = oauth.profile().await.unwrap_err();
    assert!(matches!(e, Error::Refresh(_)), "{e:?}");
    let refresh = bitrix24::Secret::new("refresh-token");
    assert!(app.refresh_tokens(&refresh).await.is_err());

    let seen = seen.lock().unwrap().clone();
    let paths: Vec<&str> = seen.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/rest/1/k7xq2m9w/profile",
            "/rest/1/k7xq2m9w/disk.folder.uploadFile",
            "/upload/1",
            "/rest/profile",
            "/oauth/token/",
            "/oauth/token/",
        ]
    );
    let expected = concat!("bitrix24-rs/", env!("CARGO_PKG_VERSION"));
    assert_eq!(bitrix24::USER_AGENT, expected);
    for (path, agent) in &seen {
        assert_eq!(agent, expected, "{path}");
    }
}

#[tokio::test]
async fn each_call_is_one_span_with_its_portal_attempts_status_and_outcome() {
    let captured = Captured::default();
    let writer = captured.clone();
    // As the README shows it, at the level that prints one line per call.
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("bitrix24=info"))
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let portal = Sandbox::start().await.unwrap();
    // Another test's first call, on another thread without a subscriber, may have cached the
    // span's callsite as never wanted while this subscriber was being set: ask again.
    tracing::callsite::rebuild_interest_cache();
    let client = webhook(&portal)
        .retry_policy(RetryPolicy::default().base_delay(Duration::from_millis(1)))
        .build()
        .unwrap();
    // A gateway error first, then the answer: one call, two attempts.
    portal.inject(Some("profile"), Fault::html(502));
    client.profile().await.unwrap();
    let missing = client.crm_deal_get(999_999).await.unwrap_err();

    let logs = captured.text();
    let calls: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(" call{") && l.contains(": close "))
        .collect();
    assert_eq!(calls.len(), 2, "one closed span per call:\n{logs}");
    let host = format!("portal={}:{}", "127.0.0.1", portal.addr().port());
    for (line, wanted) in calls.iter().zip([
        vec![
            "method=\"profile\"",
            &host,
            "attempt=1 status=502 attempt=2 status=200",
            "outcome=\"ok\"",
        ],
        vec![
            "method=\"crm.deal.get\"",
            &host,
            "attempt=1 status=400",
            "outcome=\"error\"",
        ],
    ]) {
        for field in wanted {
            assert!(line.contains(field), "{field} in {line}");
        }
    }
    assert!(
        calls[1].contains(&format!("error={missing}")),
        "{}",
        calls[1]
    );
    // The webhook's code is in the request path, never in a span.
    let code = portal.webhook_url();
    let code = code.trim_end_matches('/').rsplit('/').next().unwrap();
    assert!(!logs.contains(code), "{logs}");
}

fn oauth_with(portal: &Sandbox, tokens: Tokens) -> Client {
    fast(
        Client::builder()
            .portal(portal.url().as_str())
            .oauth(portal.oauth_app(), tokens),
    )
    .build()
    .unwrap()
}

fn oauth_with_store(portal: &Sandbox, tokens: Tokens, store: impl TokenStore + 'static) -> Client {
    fast(
        Client::builder()
            .portal(portal.url().as_str())
            .oauth(portal.oauth_app(), tokens)
            .token_store(store),
    )
    .build()
    .unwrap()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
