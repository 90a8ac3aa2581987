//! Bulk work through the sandbox: typed batches, streaming exports, and the rate limiter under
//! load.
#![cfg(feature = "full")]
#![allow(deprecated)] // crm.deal.* are the classic methods most exports use.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use bitrix24::crm::{CrmDealAdd, CrmDealGet, CrmDealList, DealFields};
use bitrix24::user::UserCurrent;
use bitrix24::{Client, Error, ErrorCode, ListOptions, Progress, RateLimit, RetryPolicy};
use bitrix24_sandbox::{Sandbox, SandboxConfig};
use futures::TryStreamExt;

fn client(portal: &Sandbox) -> Client {
    Client::builder()
        .webhook(&portal.webhook_url())
        .rate_limit(RateLimit::new(100_000, 100_000.0))
        .build()
        .unwrap()
}

async fn seeded(deals: usize) -> Sandbox {
    Sandbox::start_with(SandboxConfig::default().seed_deals(deals))
        .await
        .unwrap()
}

fn ids(deals: &[bitrix24::crm::Deal]) -> Vec<i64> {
    deals
        .iter()
        .map(|d| d.id.expect("id is always selected"))
        .collect()
}

#[tokio::test]
async fn a_batch_of_120_commands_takes_3_calls_with_results_and_errors_per_command() {
    let portal = seeded(100).await;
    let client = client(&portal);
    let mut batch = client.batch();
    let handles: Vec<_> = (1..=120).map(|id| batch.add(CrmDealGet::new(id))).collect();
    let before = portal.stats().requests;
    let results = batch.send().await.unwrap();
    assert_eq!(portal.stats().requests - before, 3);
    for (i, handle) in handles.iter().enumerate() {
        let id = i as i64 + 1;
        match results.get(handle) {
            Ok(deal) if id <= 100 => assert_eq!(deal.id, Some(id)),
            Err(Error::Api(e)) if id > 100 => {
                assert_eq!(
                    (e.method.as_str(), e.code.clone()),
                    ("crm.deal.get", ErrorCode::Unspecified)
                );
                assert!(e.description.contains("not found"), "{e}");
            }
            other => panic!("deal {id}: {other:?}"),
        }
    }
    assert_eq!(results.error_count(), 20);
}

#[tokio::test]
async fn references_resolve_inside_one_call() {
    let portal = seeded(0).await;
    let client = client(&portal);
    let mut batch = client.batch();
    // 49 unrelated commands first: the chain below must still stay together.
    for _ in 0..49 {
        batch.add(UserCurrent::new());
    }
    let add = batch.add(CrmDealAdd::new().fields(DealFields::new().title("Linked")));
    let get = batch.add(CrmDealGet::new(0));
    batch.link(&get, "id", add.result()).unwrap();
    let before = portal.stats().requests;
    let results = batch.send().await.unwrap();
    assert_eq!(portal.stats().requests - before, 2);
    let id = results.get(&add).unwrap();
    let deal = results.get(&get).unwrap();
    assert_eq!((deal.id, deal.title.as_deref()), (Some(id), Some("Linked")));
    assert!(
        client.batch().link(&get, "id", get.result()).is_err(),
        "only earlier commands"
    );
}

#[tokio::test]
async fn halt_stops_at_the_first_error() {
    let portal = seeded(3).await;
    let client = client(&portal);
    let mut batch = client.batch().halt(true);
    let ok = batch.add(CrmDealGet::new(1));
    let missing = batch.add(CrmDealGet::new(999));
    let after = batch.add(CrmDealGet::new(2));
    let results = batch.send().await.unwrap();
    assert!(results.get(&ok).is_ok());
    assert!(matches!(results.get(&missing), Err(Error::Api(_))));
    assert!(matches!(
        results.get(&after),
        Err(Error::NotExecuted { .. })
    ));
    let (me, deal) = client
        .batch2(UserCurrent::new(), CrmDealGet::new(3))
        .await
        .unwrap();
    assert_eq!((me.id, deal.id), (Some(1), Some(3)));
}

#[tokio::test]
async fn keyset_export_reads_every_deal_once_in_few_requests() {
    let portal = seeded(5_000).await;
    let client = client(&portal);
    let progress: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let seen = progress.clone();
    let options = ListOptions::default().on_progress(move |p| seen.lock().unwrap().push(*p));
    let before = portal.stats().requests;
    let deals: Vec<_> = client
        .crm_deal_list()
        .stream_with(options)
        .try_collect()
        .await
        .unwrap();
    let requests = portal.stats().requests - before;
    assert_eq!(
        ids(&deals),
        (1..=5_000).collect::<Vec<_>>(),
        "all, once, in id order"
    );
    // One probe plus 2,500 rows per batch call.
    assert_eq!(requests, 1 + 2);
    let last = *progress.lock().unwrap().last().unwrap();
    assert_eq!(
        (last.items, last.total, last.requests),
        (5_000, Some(5_000), 3)
    );
}

#[tokio::test]
async fn sparse_ids_and_filters_are_walked_completely() {
    let portal = seeded(3_000).await;
    let client = client(&portal);
    // Delete two of every three deals: ids become sparse.
    let mut batch = client.batch();
    for id in (1..=3_000).filter(|id| id % 3 != 0) {
        batch.add(bitrix24::crm::CrmDealDelete::new(id));
    }
    assert_eq!(batch.send().await.unwrap().error_count(), 0);
    let deals: Vec<_> = client.crm_deal_list().stream().try_collect().await.unwrap();
    assert_eq!(ids(&deals), (1..=1_000).map(|i| i * 3).collect::<Vec<_>>());

    let expensive: Vec<_> = client
        .crm_deal_list()
        .filter(">OPPORTUNITY", 5_000)
        .stream()
        .try_collect()
        .await
        .unwrap();
    let want: Vec<i64> = (1..=1_000)
        .map(|i| i * 3)
        .filter(|id| {
            portal.deal(*id).unwrap()["OPPORTUNITY"]
                .as_str()
                .unwrap()
                .parse::<f64>()
                .unwrap()
                > 5_000.0
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(ids(&expensive), want);
}

#[tokio::test]
async fn offset_paging_gives_the_same_rows() {
    let portal = seeded(1_234).await;
    let client = client(&portal);
    let before = portal.stats().requests;
    let deals: Vec<_> = client
        .crm_deal_list()
        .order("ID", "ASC")
        .stream_with(ListOptions::default().keyset(false))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&deals), (1..=1_234).collect::<Vec<_>>());
    // First page alone, then the other 24 pages in one batch call.
    assert_eq!(portal.stats().requests - before, 2);
    // A custom order cannot be walked by id: offset paging keeps it.
    let newest: Vec<_> = client
        .crm_deal_list()
        .order("ID", "DESC")
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&newest), (1..=1_234).rev().collect::<Vec<_>>());
}

#[tokio::test]
async fn pages_and_camel_case_items() {
    let portal = seeded(120).await;
    let client = client(&portal);
    let pages: Vec<_> = client.crm_deal_list().pages().try_collect().await.unwrap();
    assert_eq!(
        pages.iter().map(|p| p.items.len()).collect::<Vec<_>>(),
        vec![50, 50, 20]
    );
    let items: Vec<_> = client
        .crm_item_list(2)
        .stream()
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<i64> = items.iter().map(|i| i.id.unwrap()).collect();
    assert_eq!(ids, (1..=120).collect::<Vec<_>>());
    let users: Vec<_> = client.user_get().stream().try_collect().await.unwrap();
    assert!(users.len() >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_under_concurrent_inserts_and_deletes_returns_every_surviving_row_once() {
    const N: i64 = 100_000;
    let portal = seeded(N as usize).await;
    let client = client(&portal);
    let writer = client.clone();
    // While the export runs: delete every 7th deal, and add new ones.
    let churn = tokio::spawn(async move {
        let mut deleted = BTreeSet::new();
        for chunk in (7..=N).step_by(7).collect::<Vec<_>>().chunks(50) {
            let mut batch = writer.batch();
            for &id in chunk {
                batch.add(bitrix24::crm::CrmDealDelete::new(id));
                deleted.insert(id);
            }
            batch.add(CrmDealAdd::new().fields(DealFields::new().title("new")));
            batch.send().await.unwrap();
        }
        deleted
    });
    let inserted = (7..=N).step_by(7).count().div_ceil(50) as i64;
    let exported: Vec<_> = client
        .request(CrmDealList::new().select(["ID"]))
        .stream_with(ListOptions::default().concurrency(2))
        .try_collect()
        .await
        .unwrap();
    let deleted = churn.await.unwrap();
    let exported = ids(&exported);
    let unique: BTreeSet<i64> = exported.iter().copied().collect();
    assert_eq!(unique.len(), exported.len(), "no row twice");
    assert!(exported.windows(2).all(|w| w[0] < w[1]), "in id order");
    for id in 1..=N {
        if !deleted.contains(&id) {
            assert!(unique.contains(&id), "surviving deal {id} missing");
        }
    }
    // Rows created before the export's probe may be in it; nothing else.
    assert!(unique.iter().all(|id| *id <= N + inserted));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls_from_clones_never_overfill_the_portal_bucket() {
    // A scaled-up plan keeps the test short: a bucket of 50 draining 250/s on both sides.
    let limit = RateLimit::new(50, 250.0);
    let portal = Sandbox::start_with(SandboxConfig::default().rate_limit(Some(limit)))
        .await
        .unwrap();
    // No retries: a single QUERY_LIMIT_EXCEEDED would fail its call.
    let client = Client::builder()
        .webhook(&portal.webhook_url())
        .rate_limit(limit)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let calls: Vec<_> = (0..1_000)
        .map(|_| {
            let clone = client.clone();
            tokio::spawn(async move { clone.user_current().await })
        })
        .collect();
    for call in calls {
        call.await
            .unwrap()
            .expect("the portal never refuses a call");
    }
    assert!(
        client.rate_limiter().waits().0 > 900,
        "the limiter held calls back"
    );
}

#[tokio::test]
async fn untyped_lists_read_the_same_rows_and_resume_where_they_stopped() {
    use bitrix24::{ListSpec, Paging, Resume};
    let portal = seeded(1_234).await;
    let client = client(&portal);
    let keyset = ListSpec::new("crm.deal.list", serde_json::Map::new()).paging(Paging::Keyset);
    let all: Vec<_> = client
        .list_json(keyset.clone(), ListOptions::default())
        .try_collect()
        .await
        .unwrap();
    let ids_of = |pages: &[bitrix24::Page<serde_json::Value>]| -> Vec<i64> {
        pages
            .iter()
            .flat_map(|p| &p.items)
            .map(|r| r["ID"].as_str().unwrap().parse().unwrap())
            .collect()
    };
    assert_eq!(ids_of(&all), (1..=1_234).collect::<Vec<_>>());
    // Resuming a keyset read after id 1,000 reads exactly the rest, and counts only the rest.
    let rest: Vec<_> = client
        .list_json(
            keyset,
            ListOptions::default().resume(Resume::AfterId(1_000)),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids_of(&rest), (1_001..=1_234).collect::<Vec<_>>());
    // Offset paging resumes at a row count.
    let offset = ListSpec::new("crm.deal.list", serde_json::Map::new());
    let tail: Vec<_> = client
        .list_json(
            offset,
            ListOptions::default().resume(Resume::AtOffset(1_200)),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids_of(&tail), (1_201..=1_234).collect::<Vec<_>>());
    assert_eq!(tail[0].total, Some(1_234));
    // Rows wrapped in an object (crm.item.list) are found without being told where.
    let items = ListSpec::new(
        "crm.item.list",
        serde_json::json!({"entityTypeId": 2})
            .as_object()
            .unwrap()
            .clone(),
    );
    let pages: Vec<_> = client
        .list_json(items, ListOptions::default())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.iter().map(|p| p.items.len()).sum::<usize>(), 1_234);
}
