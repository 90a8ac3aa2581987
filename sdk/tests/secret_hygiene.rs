//! No secret in logs, error messages or `Debug` output: a whole scenario runs with tracing at
//! TRACE (ours and every dependency's, with each call's span and its fields) into a buffer,
//! every error and client is formatted, and none of the text may contain a token, the client
//! secret, an application token or a webhook code.
#![cfg(feature = "full")]
#![allow(deprecated)]

mod log_capture;

use bitrix24::crm::DealFields;
use bitrix24::{Client, FileTokenStore, OAuthApp, RetryPolicy, TokenStore, Tokens};
use bitrix24_sandbox::{Fault, Sandbox};
use log_capture::Captured;

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_logs_errors_or_debug_output() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        // Each call's span as it closes, with the fields recorded on the way (its error).
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let portal = Sandbox::start().await.unwrap();
    let mut text: Vec<String> = Vec::new();
    let mut secrets: Vec<String> = Vec::new();

    // Webhook calls, good and forged.
    let webhook_url = portal.webhook_url();
    secrets.push(
        webhook_url
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned(),
    );
    let webhook = Client::webhook(&webhook_url).unwrap();
    text.push(format!("{webhook:?}"));
    webhook
        .crm_deal_add()
        .fields(DealFields::new().title("secret-free"))
        .await
        .unwrap();
    let forged = webhook_url.replace("/rest/1/", "/rest/2/");
    let e = Client::webhook(&forged)
        .unwrap()
        .user_current()
        .await
        .unwrap_err();
    text.push(format!("{e} {e:?}"));
    let e = Client::webhook("https://example.invalid/rest/1/").unwrap_err();
    text.push(format!("{e} {e:?}"));

    // OAuth: a renewal saved to a file, a refused renewal, injected failures.
    let app = portal.oauth_app();
    secrets.push(app.client_secret.expose().to_owned());
    secrets.push(portal.application_token().expose().to_owned());
    text.push(format!("{app:?} {:?}", portal.application_token()));
    let tokens = portal.issue_tokens();
    secrets.extend([
        tokens.access_token.expose().to_owned(),
        tokens.refresh_token.expose().to_owned(),
    ]);
    text.push(format!("{tokens:?}"));
    let dir = std::env::temp_dir().join(format!("b24-hygiene-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = FileTokenStore::new(dir.join("tokens.json"));
    let client = Client::builder()
        .portal(portal.url().as_str())
        .oauth(app.clone(), tokens.clone())
        .token_store(store.clone())
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    client.profile().await.unwrap();
    portal.expire_access_tokens();
    client.profile().await.unwrap();
    let renewed: Tokens = store.load().await.unwrap().unwrap();
    secrets.extend([
        renewed.access_token.expose().to_owned(),
        renewed.refresh_token.expose().to_owned(),
    ]);
    for fault in [
        Fault::html(502),
        Fault::body("{\"result\": "),
        Fault::error(500, "INTERNAL_SERVER_ERROR", "x"),
    ] {
        portal.inject(None, fault);
        let e = client.user_current().await.unwrap_err();
        text.push(format!("{e} {e:?}"));
    }
    // A stale client renews with a used refresh token: refused.
    let stale = Client::builder()
        .portal(portal.url().as_str())
        .oauth(app, tokens)
        .build()
        .unwrap();
    portal.expire_access_tokens();
    let e = stale.profile().await.unwrap_err();
    text.push(format!("{e} {e:?}"));
    // An application with a wrong secret: the OAuth server refuses it.
    secrets.push("wrong-secret-value".to_owned());
    let bad_app =
        OAuthApp::new("id", "wrong-secret-value").with_token_url(portal.oauth_app().token_url);
    let bad = Client::builder()
        .portal(portal.url().as_str())
        .oauth(bad_app, portal.issue_tokens())
        .build()
        .unwrap();
    portal.expire_access_tokens();
    let e = bad.profile().await.unwrap_err();
    text.push(format!("{e} {e:?} {bad:?}"));
    text.push(format!("{client:?}"));
    std::fs::remove_dir_all(&dir).unwrap();

    let logs = captured.text();
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "the subscriber captured the run"
    );
    assert!(
        logs.contains("OAuth token renewed"),
        "our own events are in the capture"
    );
    assert!(
        logs.contains("call{method=\"user.current\"") && logs.contains("outcome=\"error\""),
        "the calls' spans, failed ones too, are in the capture"
    );
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret leaked into the logs"
        );
        for t in &text {
            assert!(!t.contains(secret.as_str()), "a secret leaked into {t}");
        }
    }
}

/// A proxy that answers every request with an error page quoting the request line and body, as
/// some gateways do: `filler` bytes first, to move where the page is cut.
async fn echoing_proxy(filler: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let page = axum::Router::new().fallback(
        move |uri: axum::http::Uri, body: axum::body::Bytes| async move {
            (
                axum::http::StatusCode::BAD_GATEWAY,
                format!(
                    "<html>{}<p>upstream failed for POST {uri}</p><pre>{}</pre></html>",
                    "-".repeat(filler),
                    String::from_utf8_lossy(&body)
                ),
            )
        },
    );
    tokio::spawn(async move { axum::serve(listener, page).await });
    format!("http://{addr}/")
}

#[tokio::test]
async fn error_pages_echoing_the_request_keep_no_credential() {
    let code = "k7xq2m9w4zt8v3nb";
    let token = "s6p6eclrvim6da22ft9ch94ekreb52lv";
    // Filler lengths put the cut at the 200-byte mark before, inside and after the secret.
    for filler in [0, 120, 160, 170, 180, 190] {
        let proxy = echoing_proxy(filler).await;
        let webhook = Client::builder()
            .webhook(&format!("{proxy}rest/1/{code}/"))
            .retry_policy(RetryPolicy::none())
            .build()
            .unwrap();
        let e = webhook.profile().await.unwrap_err();
        assert!(matches!(e, bitrix24::Error::Http { .. }), "{e:?}");
        let shown = format!("{e} {e:?}");
        for n in 4..=code.len() {
            assert!(!shown.contains(&code[..n]), "filler {filler}: {shown}");
        }

        let oauth = Client::builder()
            .portal(&proxy)
            .oauth(OAuthApp::new("id", "secret"), Tokens::new(token, "refresh"))
            .retry_policy(RetryPolicy::none())
            .build()
            .unwrap();
        let e = oauth.profile().await.unwrap_err();
        let shown = format!("{e} {e:?}");
        for n in 4..=token.len() {
            assert!(!shown.contains(&token[..n]), "filler {filler}: {shown}");
        }
    }
}

#[test]
fn requests_with_credential_params_print_them_masked() {
    let request = bitrix24::imbot::ImbotV2EventGet::new(7).bot_token("b0t-t0ken-value-1234");
    assert!(!format!("{request:?}").contains("b0t-t0ken"), "{request:?}");
    let sip = bitrix24::telephony::VoximplantSipAdd::new("sip.example.com", "login")
        .password("sip-password-5678");
    assert!(!format!("{sip:?}").contains("sip-password"), "{sip:?}");
}
