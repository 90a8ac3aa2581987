//! Reliability report: `cargo bench -p bitrix24 --bench reliability`.
//!
//! For each fault mix, N writes (`crm.deal.add`, each with a unique title) and N reads go through
//! the SDK against a sandbox that injects the faults at random (seeded). Then the sandbox's own
//! records are compared with what the client was told:
//!
//! - **duplicates**: a title stored more than once — a write executed twice (must be 0);
//! - **lost writes**: a call that returned an id whose deal is not stored (must be 0);
//! - **unknown** outcomes are writes the client could not confirm and did not repeat
//!   (`Error::OutcomeUnknown`); the table shows how many of them did execute.

#![allow(deprecated)] // crm.deal.* are the classic methods the faults are aimed at.

use std::collections::HashMap;
use std::time::Duration;

use bitrix24::crm::DealFields;
use bitrix24::{Client, Error, RateLimit, RetryPolicy};
use bitrix24_sandbox::{Fault, Injection, Sandbox, SandboxConfig};
use futures::StreamExt;

const N: usize = 1_000;

fn mixes() -> Vec<(&'static str, Vec<Injection>)> {
    let write = |fault: Fault, p: f64, seed: u64| {
        Injection::new(fault)
            .method("crm.deal.add")
            .probability(p, seed)
    };
    let read = |fault: Fault, p: f64, seed: u64| {
        Injection::new(fault)
            .method("crm.deal.get")
            .probability(p, seed)
    };
    vec![
        ("none", vec![]),
        (
            "500 INTERNAL_SERVER_ERROR 10%",
            vec![
                write(Fault::internal_error(), 0.1, 1),
                read(Fault::internal_error(), 0.1, 2),
            ],
        ),
        (
            "HTML 502/504 10%",
            vec![
                write(Fault::html(502), 0.05, 3),
                write(Fault::html(504), 0.05, 4),
                read(Fault::html(502), 0.1, 5),
            ],
        ),
        (
            "truncated / malformed / empty 10%",
            vec![
                write(Fault::truncated_json(), 0.04, 6).after_execution(),
                write(Fault::malformed_json(), 0.03, 7),
                write(Fault::empty_body(), 0.03, 8).after_execution(),
                read(Fault::truncated_json(), 0.1, 9),
            ],
        ),
        (
            "reset before execution 10%",
            vec![
                write(Fault::reset(), 0.1, 10),
                read(Fault::reset(), 0.1, 11),
            ],
        ),
        (
            "reset after execution 10%",
            vec![
                write(Fault::reset(), 0.1, 12).after_execution(),
                read(Fault::reset(), 0.1, 13).after_execution(),
            ],
        ),
        (
            "slow beyond the timeout 3%",
            vec![
                write(Fault::slow(Duration::from_secs(2)), 0.03, 14).after_execution(),
                read(Fault::slow(Duration::from_secs(2)), 0.03, 15),
            ],
        ),
        (
            "QUERY_LIMIT_EXCEEDED 20%",
            vec![
                write(
                    Fault::error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests"),
                    0.2,
                    16,
                ),
                read(
                    Fault::error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests"),
                    0.2,
                    17,
                ),
            ],
        ),
        (
            "OVERLOAD_LIMIT 5%",
            vec![
                write(Fault::overload(), 0.05, 18),
                read(Fault::overload(), 0.05, 19),
            ],
        ),
        (
            "all of the above, 2% each",
            vec![
                write(Fault::internal_error(), 0.02, 20),
                write(Fault::html(502), 0.02, 21),
                write(Fault::truncated_json(), 0.02, 22).after_execution(),
                write(Fault::reset(), 0.02, 23),
                write(Fault::reset(), 0.02, 24).after_execution(),
                write(Fault::slow(Duration::from_secs(2)), 0.02, 25).after_execution(),
                write(
                    Fault::error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests"),
                    0.02,
                    26,
                ),
                read(Fault::reset(), 0.05, 27).after_execution(),
                read(Fault::html(504), 0.05, 28),
            ],
        ),
    ]
}

#[derive(Default)]
struct Tally {
    ok: usize,
    unknown: usize,
    api: usize,
    other: usize,
}

impl Tally {
    fn count(&mut self, error: &Error) {
        match error {
            Error::OutcomeUnknown { .. } => self.unknown += 1,
            Error::Api(_) => self.api += 1,
            _ => self.other += 1,
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!("## Reliability: {N} writes (`crm.deal.add`) and {N} reads (`crm.deal.get`) per fault mix\n");
        println!("| fault mix | writes ok | writes unknown (executed) | writes failed (typed) | duplicates | lost writes | reads ok | reads failed (typed) |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        for (name, injections) in mixes() {
            let portal = Sandbox::start_with(SandboxConfig::default().seed_deals(100)).await.expect("sandbox");
            for injection in injections {
                portal.inject_with(injection);
            }
            let client = Client::builder()
                .webhook(&portal.webhook_url())
                .rate_limit(RateLimit::new(100_000, 100_000.0))
                .timeout(Duration::from_millis(500))
                .retry_policy(RetryPolicy::default().base_delay(Duration::from_millis(2)))
                .build()
                .expect("client");
            let results: Vec<(String, Result<i64, Error>)> = futures::stream::iter(0..N)
                .map(|i| {
                    let client = client.clone();
                    async move {
                        let title = format!("reliability-{i}");
                        let result = client.crm_deal_add().fields(DealFields::new().title(&title)).await;
                        (title, result)
                    }
                })
                .buffer_unordered(16)
                .collect()
                .await;
            let mut writes = Tally::default();
            let mut claimed: Vec<(String, i64)> = Vec::new();
            let mut unknown_titles = Vec::new();
            for (title, result) in results {
                match result {
                    Ok(id) => {
                        writes.ok += 1;
                        claimed.push((title, id));
                    }
                    Err(e) => {
                        if matches!(e, Error::OutcomeUnknown { .. }) {
                            unknown_titles.push(title);
                        }
                        writes.count(&e);
                    }
                }
            }
            // What the portal actually stored, by title.
            let mut stored: HashMap<String, usize> = HashMap::new();
            for id in 1..=portal_max_id(&portal) {
                if let Some(deal) = portal.deal(id)
                    && let Some(title) = deal.get("TITLE").and_then(|t| t.as_str())
                {
                    *stored.entry(title.to_owned()).or_default() += 1;
                }
            }
            let duplicates = stored.iter().filter(|(t, n)| t.starts_with("reliability-") && **n > 1).count();
            let lost = claimed.iter().filter(|(_, id)| portal.deal(*id).is_none()).count();
            let unknown_executed = unknown_titles.iter().filter(|t| stored.contains_key(*t)).count();

            let reads: Vec<Result<_, Error>> = futures::stream::iter(0..N)
                .map(|i| {
                    let client = client.clone();
                    async move { client.crm_deal_get(1 + (i as i64 % 100)).await }
                })
                .buffer_unordered(16)
                .collect()
                .await;
            let mut read_tally = Tally::default();
            for r in &reads {
                match r {
                    Ok(_) => read_tally.ok += 1,
                    Err(e) => read_tally.count(e),
                }
            }
            println!(
                "| {name} | {} | {} ({unknown_executed}) | {} | {duplicates} | {lost} | {} | {} |",
                writes.ok,
                writes.unknown,
                writes.api + writes.other,
                read_tally.ok,
                read_tally.api + read_tally.other + read_tally.unknown,
            );
            assert_eq!(duplicates, 0, "{name}: a write executed twice");
            assert_eq!(lost, 0, "{name}: a confirmed write is missing");
        }
        println!();
    });
}

/// The highest deal id the sandbox may have assigned.
fn portal_max_id(portal: &Sandbox) -> i64 {
    (portal.deal_count() as i64 + 2 * N as i64 + 100).max(1)
}
