//! Batches at full speed with full accounting (issue 12 items 1 and 4), over real HTTP against
//! the sandbox: calls sent concurrently, an outcome for every command whatever happens to its
//! call, a stream form for unbounded inputs, and operating-time freezes waited out.
#![cfg(all(feature = "crm", feature = "imbot"))]
#![allow(deprecated)] // crm.deal.* are the classic methods most integrations use.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitrix24::batch::BatchOptions;
use bitrix24::crm::{CrmDealAdd, DealFields};
use bitrix24::imbot::{BotProperties, ImbotMessageAdd};
use bitrix24::{Client, Error, ErrorCode, ListOptions, Progress};
use bitrix24_sandbox::{CostModel, Fault, Injection, Sandbox, SandboxConfig};
use futures::{StreamExt, TryStreamExt};
use tokio::time::Instant;

/// A portal that spends 5 ms of wall time per executed command, like the benchmark.
fn five_ms_a_command() -> SandboxConfig {
    let mut cost = CostModel::default();
    cost.call = Duration::from_millis(5);
    cost.write = Duration::from_millis(5);
    cost.per_row = Duration::ZERO;
    SandboxConfig::default()
        .cost(cost)
        .spend_operating_time(true)
}

/// An OAuth client (bots are an application's) and a registered bot.
async fn bot(portal: &Sandbox) -> (Client, i64) {
    let client = portal.oauth_client().unwrap();
    let bot = client
        .imbot_register("bulk", BotProperties::new().name("Bulk"))
        // Nobody writes to the bot: its handler (a closed local port) gets no events.
        .event_handler("http://127.0.0.1:9/bot")
        .await
        .unwrap();
    (client, bot)
}

fn message(bot: i64, n: u64) -> ImbotMessageAdd {
    ImbotMessageAdd::new("1", format!("message {n}")).bot_id(bot)
}

/// How often the portal stored each text.
fn stored(portal: &Sandbox) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for m in portal.messages() {
        *counts.entry(m.text).or_default() += 1;
    }
    counts
}

#[tokio::test(start_paused = true)]
async fn independent_calls_go_concurrently_and_halt_sends_them_in_turn() {
    let portal = Sandbox::start_with(five_ms_a_command()).await.unwrap();
    let client = portal.webhook_client().unwrap();
    let adds = |client: &Client| {
        let mut batch = client.batch();
        for n in 0..200 {
            batch.add(CrmDealAdd::new().fields(DealFields::new().title(format!("d{n}"))));
        }
        batch
    };
    // Four calls of 50 commands, 250 ms each at the portal.
    let started = Instant::now();
    let results = adds(&client).send().await.unwrap();
    let concurrent = started.elapsed();
    assert_eq!(results.error_count(), 0);
    assert!(concurrent < Duration::from_millis(500), "{concurrent:?}");

    let started = Instant::now();
    adds(&client).halt(true).send().await.unwrap();
    let in_turn = started.elapsed();
    assert!(in_turn >= Duration::from_millis(1_000), "{in_turn:?}");
    assert_eq!(portal.writes().get("crm.deal.add"), 400);
}

#[tokio::test]
async fn every_command_of_a_faulty_batch_gets_its_own_outcome_and_none_runs_twice() {
    let portal = Sandbox::start().await.unwrap();
    let (client, bot) = bot(&portal).await;
    // Four of the ten calls lose their answer: two after the portal ran them, two before.
    for (fault, after) in [
        (Fault::reset(), true),
        (Fault::truncated_json(), true),
        (Fault::html(502), false),
        (Fault::internal_error(), false),
    ] {
        let injection = Injection::new(fault).method("batch");
        portal.inject_with(if after {
            injection.after_execution()
        } else {
            injection
        });
    }
    let mut batch = client.batch();
    let handles: Vec<_> = (0..500).map(|n| batch.add(message(bot, n))).collect();
    let results = batch.send().await.unwrap();
    let (mut ok, mut unknown) = (Vec::new(), 0);
    for (n, handle) in handles.iter().enumerate() {
        match results.get(handle) {
            Ok(id) => ok.push((n, id)),
            Err(Error::OutcomeUnknown { method, .. }) => {
                assert_eq!(method, "imbot.message.add");
                unknown += 1;
            }
            other => panic!("message {n}: {other:?}"),
        }
    }
    assert_eq!((ok.len(), unknown), (300, 200));
    assert_eq!(results.lost_count(), 200);
    let stored = stored(&portal);
    assert!(stored.values().all(|&n| n == 1), "a message ran twice");
    for (n, _) in &ok {
        assert!(stored.contains_key(&format!("message {n}")), "{n} lost");
    }
    // The two calls that ran before their answer was lost.
    assert_eq!(stored.len(), 400);
}

#[tokio::test]
async fn a_stream_of_requests_gets_every_outcome_once() {
    let portal = Sandbox::start().await.unwrap();
    let (client, bot) = bot(&portal).await;
    let progress: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let seen = progress.clone();
    let options = BatchOptions::default()
        .concurrency(4)
        .on_progress(move |p| seen.lock().unwrap().push(*p));
    let requests = futures::stream::iter(0..1_234u64).map(move |n| message(bot, n));
    let before = portal.stats().requests;
    let outcomes: Vec<(u64, Result<i64, Error>)> =
        client.batch_stream(requests, options).collect().await;
    let mut numbers: Vec<u64> = outcomes
        .iter()
        .map(|(n, outcome)| {
            assert!(outcome.is_ok(), "{n}: {outcome:?}");
            *n
        })
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..1_234).collect::<Vec<_>>());
    assert_eq!(portal.stats().requests - before, 25);
    assert_eq!(stored(&portal).len(), 1_234);
    let last = *progress.lock().unwrap().last().unwrap();
    assert_eq!((last.items, last.requests), (1_234, 25));
}

#[tokio::test]
async fn a_caller_the_portal_refuses_fails_the_whole_batch() {
    let portal = Sandbox::start().await.unwrap();
    let wrong = portal.webhook_url().replace("/rest/1/", "/rest/1/x");
    let client = Client::webhook(&wrong).unwrap();
    let mut batch = client.batch();
    for n in 0..120 {
        batch.add(CrmDealAdd::new().fields(DealFields::new().title(format!("d{n}"))));
    }
    match batch.send().await {
        Err(Error::Api(e)) => assert_eq!(e.code, ErrorCode::InvalidCredentials),
        other => panic!("{other:?}"),
    }
    assert_eq!(portal.writes().total(), 0);
}

/// A portal whose method budget is reached after a few dozen calls of 100 ms.
fn tight(limit: Duration) -> SandboxConfig {
    let mut cost = CostModel::default();
    cost.call = Duration::from_millis(100);
    cost.write = Duration::from_millis(100);
    cost.per_row = Duration::ZERO;
    SandboxConfig::default()
        .operating_limit(Some(limit))
        .cost(cost)
}

fn froze(progress: &Mutex<Vec<Progress>>) -> bool {
    progress
        .lock()
        .unwrap()
        .iter()
        .any(|p| p.frozen_until.is_some())
}

#[tokio::test(start_paused = true)]
async fn an_export_waits_out_a_ten_minute_freeze_and_reports_it() {
    let portal = Sandbox::start_with(tight(Duration::from_secs(3)).seed_deals(2_500))
        .await
        .unwrap();
    let client = portal.webhook_client().unwrap();
    let progress: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let seen = progress.clone();
    let options = ListOptions::default().on_progress(move |p| seen.lock().unwrap().push(*p));
    let started = Instant::now();
    let deals: Vec<_> = client
        .crm_deal_list()
        .stream_with(options)
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<i64> = deals.iter().map(|d| d.id.unwrap()).collect();
    assert_eq!(ids, (1..=2_500).collect::<Vec<_>>());
    // 52 list commands of 100 ms against a 3 s budget: the rest waited for the window.
    assert!(
        started.elapsed() >= Duration::from_secs(590),
        "{:?}",
        started.elapsed()
    );
    assert!(froze(&progress), "the wait was reported");
    let last = *progress.lock().unwrap().last().unwrap();
    assert_eq!((last.items, last.frozen_until), (2_500, None));
}

#[tokio::test(start_paused = true)]
async fn a_batch_of_writes_waits_out_a_freeze_and_runs_each_once() {
    let portal = Sandbox::start_with(tight(Duration::from_secs(2)))
        .await
        .unwrap();
    let client = portal.webhook_client().unwrap();
    let progress: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let seen = progress.clone();
    let mut batch = client
        .batch()
        .options(BatchOptions::default().on_progress(move |p| seen.lock().unwrap().push(*p)));
    let handles: Vec<_> = (0..30)
        .map(|n| batch.add(CrmDealAdd::new().fields(DealFields::new().title(format!("d{n}")))))
        .collect();
    let results = batch.send().await.unwrap();
    for handle in &handles {
        results.get(handle).unwrap();
    }
    assert_eq!(portal.writes().get("crm.deal.add"), 30);
    assert_eq!(portal.deal_count(), 30);
    // (A single call keeps its short default, `RetryPolicy::max_freeze_wait`: retries.rs.)
    assert!(froze(&progress));
}
