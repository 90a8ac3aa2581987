//! Lenient decoding is visible: a field of another shape than the schema says is a logged
//! fallback (method, field path, expected and found) on a default client and an error naming
//! the path on a strict one. The answer comes over real HTTP from a small axum server on
//! 127.0.0.1 that answers as a portal whose data does not fit the docs.
#![cfg(feature = "crm")]
#![allow(deprecated)] // crm.contact.get is the classic method.

use crate::log_capture::Captured;
use axum::Router;
use axum::routing::post;
use bitrix24::{Client, Error};
use serde_json::json;

/// A contact whose `PHONE` is one string instead of a list of multifields, and whose first
/// email's `VALUE_TYPE` is an object instead of a string.
fn contact() -> String {
    json!({
        "result": {
            "ID": "42",
            "NAME": "Anna",
            "PHONE": "+49 30 1234567",
            "EMAIL": [{ "ID": "7", "VALUE": "anna@example.com", "VALUE_TYPE": { "code": "WORK" } }],
        },
        "time": { "start": 1.0, "finish": 1.1 },
    })
    .to_string()
}

/// The same contact as the only command (`c0`) of a `batch` answer.
fn batch_of_one() -> String {
    let contact: serde_json::Value = serde_json::from_str(&contact()).unwrap();
    json!({
        "result": {
            "result": { "c0": contact["result"] },
            "result_error": [],
            "result_total": [],
            "result_next": [],
            "result_time": [],
        },
        "time": { "start": 1.0, "finish": 1.1 },
    })
    .to_string()
}

/// Serves `contact()` for `crm.contact.get` and `batch_of_one()` for `batch` under webhook
/// `/rest/1/code/`; returns the webhook URL.
async fn portal() -> String {
    let json =
        |body: fn() -> String| async move { ([("content-type", "application/json")], body()) };
    let app = Router::new()
        .route("/rest/1/code/crm.contact.get", post(move || json(contact)))
        .route("/rest/1/code/batch", post(move || json(batch_of_one)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/rest/1/code/")
}

#[tokio::test]
async fn a_mistyped_field_is_a_warning_with_its_path_and_the_value_stays_in_extra() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // The test runs on one thread, and decoding is synchronous: the subscriber sees it.
    let _guard = tracing::subscriber::set_default(subscriber);

    let client = Client::webhook(&portal().await).unwrap();
    let contact = client
        .crm_contact_get(42)
        .await
        .expect("a misfit does not fail the answer");
    assert_eq!(contact.id, Some(42));
    assert_eq!(contact.phone, None);
    assert_eq!(contact.extra.get("PHONE"), Some(&json!("+49 30 1234567")));
    let email = &contact.email.as_ref().unwrap()[0];
    assert_eq!(email.value.as_deref(), Some("anna@example.com"));
    assert_eq!(email.value_type, None);
    assert_eq!(
        email.extra.get("VALUE_TYPE"),
        Some(&json!({ "code": "WORK" }))
    );

    let logs = logs.text();
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines.len(), 2, "{logs}");
    for line in &lines {
        assert!(
            line.contains("WARN") && line.contains("method=\"crm.contact.get\""),
            "{line}"
        );
    }
    assert!(
        lines[0].contains("field=result.PHONE")
            && lines[0].contains("expected a list, found string \"+49 30 1234567\""),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("field=result.EMAIL.0.VALUE_TYPE")
            && lines[1].contains("expected a string, found object"),
        "{}",
        lines[1]
    );
}

#[tokio::test]
async fn a_strict_client_fails_on_the_first_misfit_naming_its_path() {
    let client = Client::builder()
        .webhook(&portal().await)
        .strict_decoding(true)
        .build()
        .unwrap();
    match client.crm_contact_get(42).await {
        Err(Error::Decode {
            method,
            message,
            body_start,
            ..
        }) => {
            assert_eq!(method, "crm.contact.get");
            assert_eq!(
                message,
                "result.PHONE: expected a list, found string \"+49 30 1234567\""
            );
            // The start of the body as it came, not of `result`.
            assert!(body_start.starts_with("{\"result\":{"), "{body_start}");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[tokio::test]
async fn batch_results_follow_the_clients_decoding() {
    let webhook = portal().await;
    for strict in [false, true] {
        let client = Client::builder()
            .webhook(&webhook)
            .strict_decoding(strict)
            .build()
            .unwrap();
        let mut batch = client.batch();
        let handle = batch.add(bitrix24::crm::CrmContactGet::new(42));
        let results = batch.send().await.unwrap();
        match (strict, results.get(&handle)) {
            (false, Ok(contact)) => {
                assert_eq!(contact.extra.get("PHONE"), Some(&json!("+49 30 1234567")))
            }
            (true, Err(Error::Decode { message, .. })) => assert_eq!(
                message,
                "result.PHONE: expected a list, found string \"+49 30 1234567\""
            ),
            (_, other) => panic!("strict {strict}: {other:?}"),
        }
    }
}
