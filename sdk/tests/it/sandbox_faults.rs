//! Injected faults reach the SDK's client as the right kind of failure, and the sandbox's
//! executed-writes counters tell a call that ran from one that did not.
//!
//! The client here never retries (`RetryPolicy::none()`), so each test sees the first failure
//! as it is; the last tests let the default policy work and check that no write is duplicated
//! or lost.
#![cfg(feature = "full")]
#![allow(deprecated)] // The classic deal methods are deprecated upstream but still the common case.

use std::time::Duration;

use bitrix24::crm::DealFields;
use bitrix24::{CallOptions, Client, Error, ErrorCode, RetryPolicy, TransportKind};
use bitrix24_sandbox::{Fault, Injection, Sandbox};
use serde_json::{Value, json};

fn client(portal: &Sandbox) -> Client {
    Client::builder()
        .webhook(&portal.webhook_url())
        .retry_policy(RetryPolicy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// Adds a deal. A failure that may have happened after the portal ran the call comes back
/// from the client wrapped as "outcome unknown"; the tests look at what is inside.
async fn add(client: &Client) -> Result<i64, Error> {
    client
        .crm_deal_add()
        .fields(DealFields::new().title("Fault test"))
        .await
        .map_err(underlying)
}

fn underlying(e: Error) -> Error {
    match e {
        Error::OutcomeUnknown { source, .. } => *source,
        other => other,
    }
}

fn added(portal: &Sandbox) -> u64 {
    portal.writes().get("crm.deal.add")
}

#[tokio::test]
async fn error_envelopes_are_api_errors_and_say_nothing_ran() {
    let portal = Sandbox::start().await.unwrap();
    let client = client(&portal);
    for (fault, code, status) in [
        (Fault::internal_error(), ErrorCode::InternalServerError, 500),
        (Fault::overload(), ErrorCode::OverloadLimit, 401),
        (
            Fault::error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests"),
            ErrorCode::QueryLimitExceeded,
            503,
        ),
    ] {
        portal.inject(Some("crm.deal.add"), fault);
        match add(&client).await {
            Err(Error::Api(e)) => assert_eq!((e.code, e.status), (code, status)),
            other => panic!("expected an API error, got {other:?}"),
        }
    }
    assert_eq!(added(&portal), 0);
    assert_eq!(portal.deal_count(), 0);
}

#[tokio::test]
async fn an_error_after_execution_hides_a_write_that_happened() {
    let portal = Sandbox::start().await.unwrap();
    let client = client(&portal);
    portal.inject_with(
        Injection::new(Fault::internal_error())
            .method("crm.deal.add")
            .after_execution(),
    );
    let e = add(&client).await.unwrap_err();
    assert_eq!(e.code(), Some(&ErrorCode::InternalServerError));
    assert_eq!(added(&portal), 1, "the portal did create the deal");
    assert_eq!(portal.deal_count(), 1);
}

#[tokio::test]
async fn proxy_pages_are_http_errors() {
    let portal = Sandbox::start().await.unwrap();
    let client = client(&portal);
    for status in [502, 504] {
        portal.inject(None, Fault::html(status));
        match add(&client).await {
            Err(Error::Http {
                status: got,
                body_start,
                ..
            }) => {
                assert_eq!(got, status);
                assert!(body_start.contains("<html>"), "{body_start}");
            }
            other => panic!("expected an HTTP error, got {other:?}"),
        }
    }
    assert_eq!(added(&portal), 0);
}

#[tokio::test]
async fn broken_bodies_are_decode_errors_whether_or_not_the_call_ran() {
    let portal = Sandbox::start().await.unwrap();
    let client = client(&portal);
    for fault in [
        Fault::truncated_json(),
        Fault::malformed_json(),
        Fault::empty_body(),
    ] {
        portal.inject(Some("crm.deal.add"), fault.clone());
        assert!(
            matches!(add(&client).await, Err(Error::Decode { status: 200, .. })),
            "{fault:?}"
        );
        portal.inject_with(
            Injection::new(fault.clone())
                .method("crm.deal.add")
                .after_execution(),
        );
        assert!(
            matches!(add(&client).await, Err(Error::Decode { status: 200, .. })),
            "{fault:?}"
        );
    }
    assert_eq!(
        added(&portal),
        3,
        "only the after-execution faults ran the call"
    );
}

fn transport_kind<T: std::fmt::Debug>(result: Result<T, Error>) -> TransportKind {
    match result {
        Err(Error::Transport { kind, .. }) => kind,
        other => panic!("expected a transport error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_reset_before_execution_breaks_the_connection_and_runs_nothing() {
    let portal = Sandbox::start().await.unwrap();
    let client = client(&portal);
    portal.inject_with(Injection::new(Fault::reset()).method("crm.deal.add"));
    assert_eq!(transport_kind(add(&client).await), TransportKind::Broken);
    assert_eq!(added(&portal), 0);
    // The client recovers on a fresh connection.
    assert_eq!(add(&client).await.unwrap(), 1);
}

#[tokio::test]
async fn a_reset_after_execution_breaks_the_connection_after_the_write() {
    let portal = Sandbox::start().await.unwrap();
    let client = client(&portal);
    portal.inject_with(
        Injection::new(Fault::reset())
            .method("crm.deal.add")
            .after_execution(),
    );
    assert_eq!(transport_kind(add(&client).await), TransportKind::Broken);
    assert_eq!(added(&portal), 1);
    assert_eq!(portal.deal(1).unwrap()["TITLE"], "Fault test");
}

fn impatient(portal: &Sandbox) -> Client {
    Client::builder()
        .webhook(&portal.webhook_url())
        .retry_policy(RetryPolicy::none())
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap()
}

// With the clock paused, the client's 1 s timeout and the sandbox's 60 s delay fire in
// virtual time, in that order, and nothing waits for real.
#[tokio::test(start_paused = true)]
async fn a_slow_answer_without_execution_times_out_and_never_runs() {
    let portal = Sandbox::start().await.unwrap();
    portal.inject_with(Injection::new(Fault::slow(Duration::from_secs(60))).method("crm.deal.add"));
    assert_eq!(
        transport_kind(add(&impatient(&portal)).await),
        TransportKind::Timeout
    );
    assert_eq!(added(&portal), 0);
    // Even once the delay has passed, the call does not run: the sandbox answers 504.
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(added(&portal), 0);

    // A patient client gets the gateway's 504 page instead.
    portal.inject_with(Injection::new(Fault::slow(Duration::from_secs(2))).method("crm.deal.add"));
    let patient = client(&portal);
    assert!(matches!(
        add(&patient).await,
        Err(Error::Http { status: 504, .. })
    ));
    assert_eq!(added(&portal), 0);
}

#[tokio::test(start_paused = true)]
async fn a_slow_answer_after_execution_times_out_after_the_write() {
    let portal = Sandbox::start().await.unwrap();
    portal.inject_with(
        Injection::new(Fault::slow(Duration::from_secs(60)))
            .method("crm.deal.add")
            .after_execution(),
    );
    assert_eq!(
        transport_kind(add(&impatient(&portal)).await),
        TransportKind::Timeout
    );
    assert_eq!(added(&portal), 1);

    // A patient client gets the real answer, late.
    portal.inject_with(
        Injection::new(Fault::slow(Duration::from_secs(2)))
            .method("crm.deal.add")
            .after_execution(),
    );
    let started = tokio::time::Instant::now();
    assert_eq!(add(&client(&portal)).await.unwrap(), 2);
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[tokio::test]
async fn a_renamed_portal_redirects_and_serves_at_its_new_address() {
    let portal = Sandbox::start().await.unwrap();
    portal.inject_with(Injection::new(Fault::redirect()).always());

    // On the wire: 302 with the same call at the new address (another port), not executed.
    let response = bitrix24::http_client_builder()
        .unwrap()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}crm.deal.add", portal.webhook_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let moved = portal
        .webhook_url()
        .replace(portal.url().as_str(), portal.renamed_url().as_str());
    assert_ne!(portal.renamed_url(), portal.url());
    assert_eq!(location, format!("{moved}crm.deal.add"));
    assert_eq!(added(&portal), 0);

    // The SDK's client follows the rename: the call runs once, at the new address, and the
    // client stays there.
    let client = client(&portal);
    assert_eq!(add(&client).await.unwrap(), 1);
    assert_eq!(added(&portal), 1);
    assert_eq!(client.portal().as_str(), portal.renamed_url().as_str());
    assert_eq!(add(&client).await.unwrap(), 2);

    // A client configured with the new address never sees a redirect.
    let renamed = Client::builder()
        .webhook(&moved)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let me: Value = renamed.call("profile", &()).await.unwrap();
    assert_eq!(me["ID"], "1");

    portal.clear_faults();
    let old = Client::webhook(&portal.webhook_url()).unwrap();
    assert_eq!(add(&old).await.unwrap(), 3, "the old address works again");
}

// Paused: the client's own rate limiter paces the 84 calls at 2 per second after a burst of 50.
#[tokio::test(start_paused = true)]
async fn faults_fire_n_times_or_with_a_seeded_probability() {
    let portal = Sandbox::start().await.unwrap();
    let client = client(&portal);
    portal.inject_with(
        Injection::new(Fault::html(502))
            .method("crm.deal.add")
            .times(3),
    );
    for _ in 0..3 {
        assert!(add(&client).await.is_err());
    }
    assert_eq!(add(&client).await.unwrap(), 1);

    // The same seed gives the same failures on the same sequence of calls.
    let mut runs = Vec::new();
    for _ in 0..2 {
        portal.clear_faults();
        portal.inject_with(Injection::new(Fault::html(502)).probability(0.5, 42));
        let mut outcomes = Vec::new();
        for _ in 0..40 {
            outcomes.push(client.call::<Value>("profile", &()).await.is_ok());
        }
        runs.push(outcomes);
    }
    assert_eq!(runs[0], runs[1]);
    let failures = runs[0].iter().filter(|ok| !**ok).count();
    assert!((8..=32).contains(&failures), "{failures} of 40");
}

/// With the default retry policy a classic write is not sent twice: a reset after it ran
/// surfaces as an error, and the portal ran it once.
#[tokio::test(start_paused = true)]
async fn default_retries_do_not_duplicate_a_classic_write() {
    let portal = Sandbox::start().await.unwrap();
    let client = portal.webhook_client().unwrap();
    portal.inject_with(
        Injection::new(Fault::reset())
            .method("crm.deal.add")
            .after_execution(),
    );
    assert_eq!(transport_kind(add(&client).await), TransportKind::Broken);
    assert_eq!(added(&portal), 1, "run once, not retried");
}

/// A REST 3.0 write carries an `Idempotency-Key`, so the client may retry it after a reset:
/// the retry gets the stored answer and the task exists once.
#[tokio::test(start_paused = true)]
async fn an_idempotency_key_makes_a_retried_write_run_once() {
    let portal = Sandbox::start().await.unwrap();
    let client = portal.webhook_client().unwrap();
    portal.inject_with(
        Injection::new(Fault::reset())
            .method("tasks.task.add")
            .after_execution()
            .times(2),
    );
    let fields = json!({"fields": {"title": "Once", "creatorId": 1, "responsibleId": 1}});
    let options = CallOptions::default().rest_v3(true);
    let result: Value = client
        .call_with("tasks.task.add", &fields, options)
        .await
        .unwrap();
    assert_eq!(result["item"]["id"], 1);
    assert_eq!(result["item"]["title"], "Once");
    assert_eq!(portal.writes().get("tasks.task.add"), 1);
    assert_eq!(portal.task_count(), 1);
}
