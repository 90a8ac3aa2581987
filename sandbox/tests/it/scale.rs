//! The deal store at export scale: a keyset walk over 100,000 seeded deals, in batches of 50
//! chained pages, visits every id once, and each page looks at one page of rows (the
//! operating-time cost says so).

use bitrix24_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Map, Value, json};

const DEALS: i64 = 100_000;

#[tokio::test]
async fn a_keyset_walk_visits_every_seeded_deal_once() {
    let portal = Sandbox::start_with(SandboxConfig::default().seed_deals(DEALS as usize))
        .await
        .unwrap();
    assert_eq!(portal.deal_count(), DEALS as usize);
    let http = bitrix24::http_client_builder().unwrap().build().unwrap();
    let url = format!("{}batch", portal.webhook_url());
    let page = |after: &str| {
        format!(
            "crm.deal.list?order[ID]=ASC&filter[>ID]={after}&start=-1&select[]=ID&select[]=TITLE"
        )
    };
    let mut last = 0_i64;
    let mut seen = 0_i64;
    let mut batches = 0_u64;
    'walk: loop {
        let mut cmd = Map::new();
        cmd.insert("p0".into(), json!(page(&last.to_string())));
        for i in 1..50 {
            cmd.insert(
                format!("p{i}"),
                json!(page(&format!("$result[p{}][49][ID]", i - 1))),
            );
        }
        let response = http
            .post(&url)
            .header("content-type", "application/json")
            .body(json!({"cmd": cmd, "halt": 1}).to_string())
            .send()
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        batches += 1;
        assert_eq!(
            body["result"]["result_error"],
            json!([]),
            "{}",
            body["result"]["result_error"]
        );
        for i in 0..50 {
            let rows = body["result"]["result"][format!("p{i}")]
                .as_array()
                .unwrap();
            for row in rows {
                let id: i64 = row["ID"].as_str().unwrap().parse().unwrap();
                assert_eq!(id, last + 1, "ids come in order, each once");
                assert_eq!(row["TITLE"], format!("Deal #{id}"));
                last = id;
                seen += 1;
            }
            // A short page is the end; later pages of this batch referred to a missing row.
            if rows.len() < 50 {
                break 'walk;
            }
        }
    }
    assert_eq!((seen, last), (DEALS, DEALS));
    // Every page the portal ran (the last batch runs all 50, the ones after the end start over
    // from the first id, as `>ID` with an empty value matches everything) looked at one page
    // of rows at most: 5 ms + 50 x 20 µs each.
    let pages = batches * 50;
    let operating = portal.operating_time("crm.deal.list").seconds;
    let most = pages as f64 * (0.005 + 50.0 * 0.000_02);
    assert!(operating <= most + 1e-6, "{operating} > {most}");
    assert!(
        operating >= (pages - 1) as f64 * 0.006 - 1e-6,
        "{operating}"
    );
}
