//! Retries through the sandbox: what is sent again, what never is, and what a caller is told when
//! nobody can know whether the portal executed a call.
#![cfg(feature = "full")]
#![allow(deprecated)] // crm.deal.* are the classic methods most integrations use.

use std::time::Duration;

use bitrix24::crm::DealFields;
use bitrix24::{Client, Error, ErrorCode, RateLimit, RetryPolicy};
use bitrix24_sandbox::{Fault, Sandbox};

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
    use bitrix24_sandbox::SandboxConfig;
    // A budget used up by one list, in a one-second window: the block lifts quickly.
    let config = SandboxConfig::default()
        .operating_limit(Some(Duration::from_millis(1)))
        .operating_window(Duration::from_secs(1));
    let portal = Sandbox::start_with(config).await.unwrap();
    let client = client(
        &portal,
        RetryPolicy::default().max_freeze_wait(Duration::from_secs(5)),
    );
    client.crm_deal_list().await.unwrap();
    let list = tokio::spawn(client.crm_deal_list().into_future());
    // While crm.deal.list waits out its freeze, other methods go through at once.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    client.user_current().await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(250));
    assert!(!list.is_finished(), "the frozen method is still waiting");
    assert!(
        list.await.unwrap().unwrap().is_empty(),
        "retried once the budget reset"
    );
}

#[tokio::test]
async fn a_freeze_longer_than_the_policy_allows_fails_fast() {
    use bitrix24_sandbox::SandboxConfig;
    // A tiny operating-time budget: the first list uses it up for the 10-minute window.
    let config = SandboxConfig::default().operating_limit(Some(Duration::from_millis(1)));
    let portal = Sandbox::start_with(config).await.unwrap();
    let client = client(
        &portal,
        RetryPolicy::default().max_freeze_wait(Duration::from_secs(60)),
    );
    client.crm_deal_list().await.unwrap();
    let started = std::time::Instant::now();
    let e = client.crm_deal_list().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the reset is minutes away: no waiting"
    );
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

#[tokio::test]
async fn connection_resets_before_and_after_execution() {
    use bitrix24_sandbox::Injection;
    let portal = Sandbox::start().await.unwrap();
    let client = client(&portal, RetryPolicy::default());
    // Before execution: nothing ran, but the client cannot know that; a write is not re-sent.
    portal.inject_with(Injection::new(Fault::reset()).method("crm.deal.add"));
    let e = client
        .crm_deal_add()
        .fields(DealFields::new().title("a"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::OutcomeUnknown { .. }), "{e:?}");
    assert_eq!(portal.writes().get("crm.deal.add"), 0);
    // After execution: the deal exists; still exactly once.
    portal.inject_with(
        Injection::new(Fault::reset())
            .method("crm.deal.add")
            .after_execution(),
    );
    let e = client
        .crm_deal_add()
        .fields(DealFields::new().title("b"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::OutcomeUnknown { .. }), "{e:?}");
    assert_eq!(
        portal.writes().get("crm.deal.add"),
        1,
        "executed once, never duplicated"
    );
    // Reads are retried through resets.
    portal.inject_with(
        Injection::new(Fault::reset())
            .method("user.current")
            .times(2),
    );
    assert_eq!(client.user_current().await.unwrap().id, Some(1));
}

#[tokio::test]
async fn slow_answers_time_out_with_the_right_verdict() {
    use bitrix24_sandbox::Injection;
    let portal = Sandbox::start().await.unwrap();
    let client = Client::builder()
        .webhook(&portal.webhook_url())
        .timeout(Duration::from_millis(200))
        .retry_policy(RetryPolicy::default().base_delay(Duration::from_millis(5)))
        .build()
        .unwrap();
    portal.inject_with(
        Injection::new(Fault::slow(Duration::from_secs(2)))
            .method("crm.deal.add")
            .after_execution(),
    );
    match client
        .crm_deal_add()
        .fields(DealFields::new().title("slow"))
        .await
    {
        Err(Error::OutcomeUnknown { source, .. }) => {
            assert!(
                matches!(
                    *source,
                    Error::Transport {
                        kind: bitrix24::TransportKind::Timeout,
                        ..
                    }
                ),
                "{source:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(portal.writes().get("crm.deal.add"), 1);
    portal.inject_with(Injection::new(Fault::slow(Duration::from_secs(2))).method("user.current"));
    assert_eq!(
        client.user_current().await.unwrap().id,
        Some(1),
        "a read is retried after its timeout"
    );
}

#[tokio::test]
async fn a_renamed_portal_is_followed_and_remembered() {
    use bitrix24_sandbox::Injection;
    let portal = Sandbox::start().await.unwrap();
    let client = client(&portal, RetryPolicy::none());
    portal.inject_with(Injection::new(Fault::redirect()).always());
    let id = client
        .crm_deal_add()
        .fields(DealFields::new().title("moved"))
        .await
        .unwrap();
    assert_eq!(
        portal.writes().get("crm.deal.add"),
        1,
        "the re-sent POST ran once"
    );
    assert_eq!(
        client.portal().as_str(),
        portal.renamed_url().as_str(),
        "the client reports the new address"
    );
    let before = portal.stats().requests;
    assert_eq!(
        client.crm_deal_get(id).await.unwrap().title.as_deref(),
        Some("moved")
    );
    assert_eq!(
        portal.stats().requests - before,
        1,
        "later calls go straight to the new address"
    );
}

#[tokio::test]
async fn rest_v3_writes_are_retried_with_the_same_idempotency_key() {
    use bitrix24::CallOptions;
    use bitrix24_sandbox::Injection;
    let portal = Sandbox::start().await.unwrap();
    let client = client(&portal, RetryPolicy::default());
    portal.inject_with(
        Injection::new(Fault::reset())
            .method("tasks.task.add")
            .after_execution(),
    );
    let options = CallOptions::default().rest_v3(true);
    let created: serde_json::Value = client
        .call_with(
            "tasks.task.add",
            &serde_json::json!({"fields": {"title": "once", "responsibleId": 1, "creatorId": 1}}),
            options,
        )
        .await
        .unwrap();
    assert!(created["item"]["id"].is_number(), "{created}");
    assert_eq!(
        portal.writes().get("tasks.task.add"),
        1,
        "the retry was replayed, not executed again"
    );
    assert_eq!(portal.task_count(), 1);
}
