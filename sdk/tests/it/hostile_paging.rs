//! A portal that lies about its list: the numbers a list walk plans from (`total`, the first
//! and last id) come from the network, so a wrong or hostile answer must cost a few requests,
//! never unbounded memory, an overflow or a walk without end (issue 13 item 7).
//!
//! The lies are injected with the sandbox's faults: the planning answer is replaced by a
//! crafted body, every other call is served honestly.
#![cfg(feature = "crm")]
#![allow(deprecated)] // crm.deal.list is the classic list.

use bitrix24::{Client, ListOptions, RateLimit};
use bitrix24_sandbox::{Fault, Injection, Sandbox, SandboxConfig};
use futures::TryStreamExt;
use serde_json::{Value, json};

const LYING_TOTAL: i64 = 1_000_000_000_000_000;

async fn portal(deals: usize) -> (Sandbox, Client) {
    let portal = Sandbox::start_with(SandboxConfig::default().seed_deals(deals))
        .await
        .unwrap();
    let client = Client::builder()
        .webhook(&portal.webhook_url())
        .rate_limit(RateLimit::new(100_000, 100_000.0))
        .build()
        .unwrap();
    (portal, client)
}

/// The ids of every deal a walk with `options` reads.
async fn walk(client: &Client, order: bool, options: ListOptions) -> Vec<i64> {
    let list = client.crm_deal_list();
    let list = if order { list.order("ID", "ASC") } else { list };
    let deals: Vec<_> = list.stream_with(options).try_collect().await.unwrap();
    deals.iter().map(|d| d.id.expect("id")).collect()
}

#[tokio::test]
async fn a_lying_total_does_not_plan_every_offset_it_names() {
    let (portal, client) = portal(120).await;
    // The first page as the portal would send it, but claiming 10^15 rows.
    let body = bitrix24::http_client_builder()
        .unwrap()
        .build()
        .unwrap()
        .post(format!("{}crm.deal.list", portal.webhook_url()))
        .header("content-type", "application/json")
        .body(json!({"order": {"ID": "ASC"}, "start": 0}).to_string())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut first: Value = serde_json::from_slice(&body).unwrap();
    first["total"] = json!(LYING_TOTAL);
    portal.inject_with(Injection::new(Fault::body(&first.to_string())).method("crm.deal.list"));
    let before = portal.stats().requests;
    let ids = walk(&client, true, ListOptions::default().keyset(false)).await;
    assert_eq!(ids, (1..=120).collect::<Vec<_>>());
    // The first page, then batches until one comes back short: the ones in flight at most.
    let requests = portal.stats().requests - before;
    assert!(requests <= 1 + 4, "{requests} requests");
}

#[tokio::test]
async fn lying_id_bounds_neither_overflow_nor_plan_trillions_of_ranges() {
    let (portal, client) = portal(120).await;
    // The keyset probe (a batch: the first row with a count, the last row) answered with the
    // widest ids there are and a count of 10^15.
    let probe = json!({
        "result": {
            "result": {"p0": [{"ID": i64::MIN.to_string()}], "p1": [{"ID": i64::MAX.to_string()}]},
            "result_error": [],
            "result_total": {"p0": LYING_TOTAL},
            "result_next": [],
            "result_time": [],
        },
    });
    portal.inject_with(Injection::new(Fault::body(&probe.to_string())).method("batch"));
    let before = portal.stats().requests;
    let ids = walk(&client, false, ListOptions::default()).await;
    assert_eq!(ids, (1..=120).collect::<Vec<_>>(), "every deal once");
    let requests = portal.stats().requests - before;
    assert!(requests <= 16, "{requests} requests");
}

#[tokio::test]
async fn a_lying_count_with_true_bounds_still_reads_dense_ids_in_few_requests() {
    let (portal, client) = portal(5_000).await;
    // Honest bounds, but a count of one: the planner would expect one row in the whole span.
    let probe = json!({
        "result": {
            "result": {"p0": [{"ID": "1"}], "p1": [{"ID": "5000"}]},
            "result_total": {"p0": 1},
        },
    });
    portal.inject_with(Injection::new(Fault::body(&probe.to_string())).method("batch"));
    let before = portal.stats().requests;
    let ids = walk(&client, false, ListOptions::default()).await;
    assert_eq!(ids, (1..=5_000).collect::<Vec<_>>());
    // 100 pages of 50: a full range is split by the density its first page shows, so the
    // walk takes a few rounds of up to 50 pages, not 100 calls one after another.
    let requests = portal.stats().requests - before;
    assert!(requests <= 8, "{requests} requests");
}
