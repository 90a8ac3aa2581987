//! Retries through the sandbox: what is sent again, what never is, and what a caller is told when
//! nobody can know whether the portal executed a call.
#![cfg(all(feature = "sandbox", feature = "full"))]
#![allow(deprecated)] // crm.deal.* are the classic methods most integrations use.

use std::time::Duration;

use bitrix24::crm::DealFields;
use bitrix24::sandbox::{Fault, Sandbox};
use bitrix24::{Client, Error, ErrorCode, RateLimit, RetryPolicy};

fn client(portal: &Sandbox, policy: RetryPolicy) -> Client {
    Client::builder()
        .webhook(&portal.webhook_url())
        .rate_limit(RateLimit::new(10_000, 10_000.0))
        .retry_policy(policy.base_delay(Duration::from_millis(5)))
        .build()
        .unwrap()
}

#[tokio::test]
async fn query_limit_exceeded_is_retried_even_for_writes() {
    let portal = Sandbox::start().await.unwrap();
    let client = client(&portal, RetryPolicy::default());
    portal.inject(
        Some("crm.deal.add"),
        Fault::error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests"),
    );
    let id = client
        .crm_deal_add()
        .fields(DealFields::new().title("once"))
        .await
        .unwrap();
    assert_eq!(
        portal.deal_count(),
        1,
        "refused at the door, then executed once"
    );
    assert_eq!(
        client.crm_deal_get(id).await.unwrap().title.as_deref(),
        Some("once")
    );
}

#[tokio::test]
async fn idempotent_calls_survive_gateway_errors_and_cut_answers() {
    let portal = Sandbox::start().await.unwrap();
    let client = client(&portal, RetryPolicy::default());
    portal.inject(Some("user.current"), Fault::html(502));
    portal.inject(
        Some("user.current"),
        Fault::body("{\"result\": {\"ID\": \"1\", \"NA"),
    );
    portal.inject(
        Some("user.current"),
        Fault::error(500, "INTERNAL_SERVER_ERROR", "boom"),
    );
    let before = portal.stats().requests;
    let me = client.user_current().await.unwrap();
    assert_eq!(me.id, Some(1));
    assert_eq!(portal.stats().requests - before, 4);
}

#[tokio::test]
async fn writes_are_not_resent_when_their_outcome_is_unknown() {
    let portal = Sandbox::start().await.unwrap();
    let client = client(&portal, RetryPolicy::default());
    for fault in [Fault::html(504), Fault::body("{\"result\": 4")] {
        portal.inject(Some("crm.deal.add"), fault);
        let before = portal.stats().requests;
        match client
            .crm_deal_add()
            .fields(DealFields::new().title("x"))
            .await
        {
            Err(Error::OutcomeUnknown { method, source }) => {
                assert_eq!(method, "crm.deal.add");
                assert!(
                    matches!(*source, Error::Http { .. } | Error::Decode { .. }),
                    "{source:?}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(portal.stats().requests - before, 1, "sent exactly once");
    }
    // An explicit error answer is not "unknown": it is the portal's verdict.
    portal.inject(
        Some("crm.deal.add"),
        Fault::error(500, "INTERNAL_SERVER_ERROR", "boom"),
    );
    let e = client.crm_deal_add().await.unwrap_err();
    assert_eq!(e.code(), Some(&ErrorCode::InternalServerError));
}

#[tokio::test]
async fn blocks_and_validation_errors_are_final() {
    let portal = Sandbox::start().await.unwrap();
    let client = client(&portal, RetryPolicy::default());
    for (status, code) in [
        (401, "OVERLOAD_LIMIT"),
        (401, "insufficient_scope"),
        (403, "ACCESS_DENIED"),
    ] {
        portal.inject(Some("user.current"), Fault::error(status, code, "no"));
        let before = portal.stats().requests;
        let e = client.user_current().await.unwrap_err();
        assert_eq!(e.code().map(|c| c.as_str()), Some(code));
        assert_eq!(portal.stats().requests - before, 1, "{code} was sent once");
    }
}

#[tokio::test]
async fn retries_stop_at_the_policy_limit() {
    let portal = Sandbox::start().await.unwrap();
    let client = client(&portal, RetryPolicy::default().max_retries(2));
    for _ in 0..5 {
        portal.inject(
            Some("user.current"),
            Fault::error(503, "QUERY_LIMIT_EXCEEDED", "busy"),
        );
    }
    let before = portal.stats().requests;
    let e = client.user_current().await.unwrap_err();
    assert_eq!(e.code(), Some(&ErrorCode::QueryLimitExceeded));
    assert_eq!(portal.stats().requests - before, 3);
}

#[tokio::test]
async fn operation_time_limit_freezes_only_that_method() {
    let portal = Sandbox::start().await.unwrap();
    let policy = RetryPolicy::default().max_freeze_wait(Duration::from_millis(300));
    let client = client(&portal, policy);
    portal.inject(
        Some("crm.deal.list"),
        Fault::error(429, "OPERATION_TIME_LIMIT", "blocked"),
    );
    let list = tokio::spawn(client.crm_deal_list().into_future());
    // While crm.deal.list waits out its freeze, other methods go through at once.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    client.user_current().await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(250));
    assert!(!list.is_finished(), "the frozen method is still waiting");
    assert!(
        list.await.unwrap().unwrap().is_empty(),
        "retried after the freeze"
    );
}

#[tokio::test]
async fn a_freeze_longer_than_the_policy_allows_fails_fast() {
    let portal = Sandbox::start().await.unwrap();
    let client = client(
        &portal,
        RetryPolicy::default().max_freeze_wait(Duration::from_secs(60)),
    );
    // A successful answer tells the client when crm.deal.list's budget resets (in 10 minutes).
    client.crm_deal_list().await.unwrap();
    portal.inject(
        Some("crm.deal.list"),
        Fault::error(429, "OPERATION_TIME_LIMIT", "blocked"),
    );
    let e = client.crm_deal_list().await.unwrap_err();
    assert_eq!(e.code(), Some(&ErrorCode::OperationTimeLimit));
    let before = portal.stats().requests;
    let e = client.crm_deal_list().await.unwrap_err();
    assert_eq!(e.code(), Some(&ErrorCode::OperationTimeLimit));
    assert_eq!(
        portal.stats().requests,
        before,
        "not even sent while frozen"
    );
    client.crm_deal_get(1).await.unwrap_err(); // another method still reaches the portal
    assert_eq!(portal.stats().requests, before + 1);
}
