//! The sandbox's limits over real HTTP: the request-rate leaky bucket and per-method operating
//! time, driven by tokio's paused clock.
//!
//! These tests talk to the sandbox with a bare `reqwest` client without timeouts or pool
//! timers: with the clock paused, any pending timer would let tokio jump time forward while a
//! request is in flight, and the bucket would drain behind the test's back.

use std::time::Duration;

use bitrix24_sandbox::{CostModel, Plan, RateLimit, Sandbox, SandboxConfig};
use serde_json::{Value, json};
use tokio::time::{Instant, advance};

fn http() -> reqwest::Client {
    bitrix24::http_client_builder()
        .unwrap()
        .pool_idle_timeout(None)
        .build()
        .unwrap()
}

/// POSTs JSON to `method` with the admin webhook; returns status and body.
async fn post(http: &reqwest::Client, portal: &Sandbox, method: &str, body: Value) -> (u16, Value) {
    let response = http
        .post(format!("{}{method}", portal.webhook_url()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn add_deal(http: &reqwest::Client, portal: &Sandbox) -> (u16, Value) {
    post(
        http,
        portal,
        "crm.deal.add",
        json!({"fields": {"TITLE": "x"}}),
    )
    .await
}

#[tokio::test(start_paused = true)]
async fn a_full_bucket_answers_503_and_does_not_execute() {
    let portal = Sandbox::start_with(SandboxConfig::default().plan(Plan::Standard))
        .await
        .unwrap();
    let http = http();
    let started = Instant::now();
    for n in 0..50 {
        let (status, body) = add_deal(&http, &portal).await;
        assert_eq!(status, 200, "request {n}: {body}");
    }
    let (status, body) = add_deal(&http, &portal).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"], "QUERY_LIMIT_EXCEEDED");
    assert_eq!(
        portal.writes().get("crm.deal.add"),
        50,
        "the 51st was not executed"
    );
    assert_eq!(portal.deal_count(), 50);
    // Reads are refused alike: the bucket is per portal, not per method.
    let (status, _) = post(&http, &portal, "profile", json!({})).await;
    assert_eq!(status, 503);
    assert_eq!(
        Instant::now(),
        started,
        "the paused clock did not move by itself"
    );
}

#[tokio::test(start_paused = true)]
async fn the_bucket_drains_at_the_plan_rate() {
    let portal =
        Sandbox::start_with(SandboxConfig::default().rate_limit(Some(RateLimit::new(10, 2.0))))
            .await
            .unwrap();
    let http = http();
    for _ in 0..10 {
        assert_eq!(add_deal(&http, &portal).await.0, 200);
    }
    assert_eq!(add_deal(&http, &portal).await.0, 503);

    // Half a second drains one request at 2 per second.
    advance(Duration::from_millis(500)).await;
    assert_eq!(add_deal(&http, &portal).await.0, 200);
    assert_eq!(add_deal(&http, &portal).await.0, 503);

    // Two seconds drain four.
    advance(Duration::from_secs(2)).await;
    for _ in 0..4 {
        assert_eq!(add_deal(&http, &portal).await.0, 200);
    }
    assert_eq!(add_deal(&http, &portal).await.0, 503);

    // A long pause empties the bucket, but it never holds more than its capacity.
    advance(Duration::from_secs(3600)).await;
    assert_eq!(portal.bucket_level(), 0.0);
    for _ in 0..10 {
        assert_eq!(add_deal(&http, &portal).await.0, 200);
    }
    assert_eq!(add_deal(&http, &portal).await.0, 503);
    assert_eq!(portal.writes().get("crm.deal.add"), 25);
}

#[tokio::test(start_paused = true)]
async fn the_enterprise_plan_holds_250() {
    let portal = Sandbox::start_with(SandboxConfig::default().plan(Plan::Enterprise))
        .await
        .unwrap();
    let http = http();
    for _ in 0..250 {
        assert_eq!(post(&http, &portal, "profile", json!({})).await.0, 200);
    }
    assert_eq!(post(&http, &portal, "profile", json!({})).await.0, 503);
    advance(Duration::from_secs(1)).await;
    for _ in 0..5 {
        assert_eq!(post(&http, &portal, "profile", json!({})).await.0, 200);
    }
    assert_eq!(post(&http, &portal, "profile", json!({})).await.0, 503);
}

#[tokio::test(start_paused = true)]
async fn a_batch_counts_once_in_the_bucket() {
    let portal = Sandbox::start_with(SandboxConfig::default().plan(Plan::Standard))
        .await
        .unwrap();
    let http = http();
    for _ in 0..49 {
        assert_eq!(add_deal(&http, &portal).await.0, 200);
    }
    let cmd: serde_json::Map<String, Value> = (0..50)
        .map(|i| {
            (
                format!("d{i}"),
                json!(format!("crm.deal.add?fields[TITLE]=b{i}")),
            )
        })
        .collect();
    let (status, body) = post(&http, &portal, "batch", json!({"cmd": cmd})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["result_error"], json!([]));
    assert_eq!(portal.writes().get("crm.deal.add"), 99);
    assert_eq!(
        add_deal(&http, &portal).await.0,
        503,
        "the bucket is full now"
    );
}

/// A sandbox whose operating limit is reached quickly: 1 s per method, calls at 100 ms.
async fn tight_portal() -> Sandbox {
    let mut cost = CostModel::default();
    cost.call = Duration::from_millis(100);
    cost.write = Duration::from_millis(100);
    cost.per_row = Duration::ZERO;
    Sandbox::start_with(
        SandboxConfig::default()
            .operating_limit(Some(Duration::from_secs(1)))
            .cost(cost),
    )
    .await
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn operating_time_blocks_only_the_method_over_its_limit_until_the_window_moves_on() {
    let portal = tight_portal().await;
    let http = http();
    let first = portal.operating_time("crm.deal.add").reset_at;
    // 11 calls of 100 ms exceed 1 s; each answer reports the running sum.
    for n in 1..=11 {
        let (status, body) = add_deal(&http, &portal).await;
        assert_eq!(status, 200);
        let operating = body["time"]["operating"].as_f64().unwrap();
        assert!((operating - 0.1 * n as f64).abs() < 1e-9, "{operating}");
        assert_eq!(
            body["time"]["operating_reset_at"],
            json!(first),
            "the oldest cost is the first"
        );
        advance(Duration::from_secs(10)).await;
    }
    let (status, body) = add_deal(&http, &portal).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"], "OPERATION_TIME_LIMIT");
    assert_eq!(
        portal.writes().get("crm.deal.add"),
        11,
        "the blocked call did not run"
    );
    assert!(portal.operating_time("crm.deal.add").blocked);

    // Other methods keep working, and report their own (small) sums.
    let (status, body) = post(&http, &portal, "crm.deal.list", json!({"start": -1})).await;
    assert_eq!(status, 200);
    assert!((body["time"]["operating"].as_f64().unwrap() - 0.1).abs() < 1e-9);

    // The first cost leaves the 10-minute window at `first`: then the sum is 1.0 s, not over.
    let now = portal.operating_time("crm.deal.add");
    let wait = now.reset_at - first;
    assert_eq!(wait, 0, "reset_at still names the first cost");
    advance(Duration::from_secs(600 - 110)).await;
    let after = portal.operating_time("crm.deal.add");
    assert!(!after.blocked, "{after:?}");
    assert!((after.seconds - 1.0).abs() < 1e-9);
    assert_eq!(
        after.reset_at,
        first + 10,
        "the next oldest cost is 10 s younger"
    );
    assert_eq!(add_deal(&http, &portal).await.0, 200);
    assert_eq!(portal.writes().get("crm.deal.add"), 12);
}

#[tokio::test(start_paused = true)]
async fn a_blocked_method_is_refused_inside_a_batch_too() {
    let portal = tight_portal().await;
    let http = http();
    for _ in 0..11 {
        assert_eq!(add_deal(&http, &portal).await.0, 200);
    }
    let (status, body) = post(
        &http,
        &portal,
        "batch",
        json!({"cmd": {"a": "crm.deal.add?fields[TITLE]=x", "me": "profile"}}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["result"]["result_error"]["a"]["error"],
        "OPERATION_TIME_LIMIT"
    );
    assert_eq!(body["result"]["result"]["me"]["ID"], "1");
    assert_eq!(portal.writes().get("crm.deal.add"), 11);
}

#[tokio::test(start_paused = true)]
async fn a_batch_costs_the_sum_of_its_commands() {
    let portal = tight_portal().await;
    let http = http();
    let cmd: serde_json::Map<String, Value> = (0..5)
        .map(|i| (format!("p{i}"), json!("profile")))
        .collect();
    let (status, body) = post(&http, &portal, "batch", json!({"cmd": cmd})).await;
    assert_eq!(status, 200);
    assert!(
        (body["time"]["operating"].as_f64().unwrap() - 0.5).abs() < 1e-9,
        "{body}"
    );
    let per_command = &body["result"]["result_time"]["p4"];
    assert!(
        (per_command["operating"].as_f64().unwrap() - 0.5).abs() < 1e-9,
        "{per_command}"
    );
    assert!((portal.operating_time("profile").seconds - 0.5).abs() < 1e-9);
    assert!((portal.operating_time("batch").seconds - 0.5).abs() < 1e-9);
}

#[tokio::test(start_paused = true)]
async fn counted_offset_pages_cost_more_than_keyset_pages() {
    let portal = Sandbox::start_with(SandboxConfig::default().seed_deals(20_000))
        .await
        .unwrap();
    let http = http();
    let (status, keyset) = post(
        &http,
        &portal,
        "crm.deal.list",
        json!({"order": {"ID": "ASC"}, "filter": {">ID": 15_000}, "start": -1, "select": ["ID"]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(keyset["result"][0]["ID"], "15001");
    assert!(keyset.get("total").is_none());
    let keyset_cost = keyset["time"]["operating"].as_f64().unwrap();

    let (status, offset) = post(
        &http,
        &portal,
        "crm.deal.list",
        json!({"order": {"ID": "ASC"}, "start": 15_000, "select": ["ID"]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(offset["result"][0]["ID"], "15001");
    assert_eq!(offset["total"], 20_000);
    let offset_cost = offset["time"]["operating"].as_f64().unwrap() - keyset_cost;

    // Default model: 5 ms a call, 20 µs a row looked at.
    assert!(
        (keyset_cost - (0.005 + 50.0 * 0.000_02)).abs() < 1e-9,
        "{keyset_cost}"
    );
    assert!(
        (offset_cost - (0.005 + 20_000.0 * 0.000_02)).abs() < 1e-9,
        "{offset_cost}"
    );
    assert!(offset_cost > 50.0 * keyset_cost);
}
