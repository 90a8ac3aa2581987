//! `batch` as the docs describe it, over real HTTP: at most 50 commands run, `halt`,
//! `$result[key][field]` references, the five result maps with empty ones as `[]`, no nesting.

use bitrix24_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Map, Value, json};

async fn batch(portal: &Sandbox, body: Value) -> (u16, Value) {
    let response = bitrix24::http_client_builder()
        .unwrap()
        .build()
        .unwrap()
        .post(format!("{}batch", portal.webhook_url()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn adds(n: usize) -> Map<String, Value> {
    (0..n)
        .map(|i| {
            (
                format!("c{i}"),
                json!(format!("crm.deal.add?fields[TITLE]=t{i}")),
            )
        })
        .collect()
}

#[tokio::test]
async fn only_the_first_fifty_commands_run() {
    let portal = Sandbox::start().await.unwrap();
    let (status, body) = batch(&portal, json!({"cmd": adds(60)})).await;
    assert_eq!(status, 200);
    let result = &body["result"];
    assert_eq!(result["result"].as_object().unwrap().len(), 50);
    assert_eq!(result["result"]["c49"], 50);
    let errors = result["result_error"].as_object().unwrap();
    assert_eq!(errors.len(), 10);
    for i in 50..60 {
        assert_eq!(
            errors[&format!("c{i}")]["error"],
            "ERROR_BATCH_LENGTH_EXCEEDED"
        );
    }
    assert_eq!(portal.writes().get("crm.deal.add"), 50);
    assert_eq!(portal.deal_count(), 50);
}

#[tokio::test]
async fn halt_stops_at_the_first_error() {
    let portal = Sandbox::start().await.unwrap();
    let cmd = json!({
        "a": "crm.deal.add?fields[TITLE]=a",
        "bad": "crm.deal.get?id=999",
        "b": "crm.deal.add?fields[TITLE]=b",
    });
    let (_, body) = batch(&portal, json!({"cmd": cmd, "halt": 1})).await;
    let result = &body["result"];
    assert_eq!(result["result"], json!({"a": 1}));
    assert_eq!(result["result_error"]["bad"]["error"], "");
    assert!(result["result_error"].get("b").is_none());
    assert_eq!(portal.writes().get("crm.deal.add"), 1, "b did not run");

    let (_, body) = batch(&portal, json!({"cmd": cmd, "halt": 0})).await;
    assert_eq!(body["result"]["result"], json!({"a": 2, "b": 3}));
    assert_eq!(portal.writes().get("crm.deal.add"), 3);
}

#[tokio::test]
async fn results_feed_later_commands() {
    let portal = Sandbox::start_with(SandboxConfig::default().seed_deals(120))
        .await
        .unwrap();
    let cmd = json!({
        "new": "crm.deal.add?fields[TITLE]=Chained",
        "read": "crm.deal.get?id=$result[new]",
        "copy": "crm.deal.add?fields[TITLE]=Copy of $result[read][TITLE]",
        // A keyset walk chained inside one batch: each page starts after the last id of the
        // page before.
        "p0": "crm.deal.list?order[ID]=ASC&filter[>ID]=0&start=-1&select[]=ID",
        "p1": "crm.deal.list?order[ID]=ASC&filter[>ID]=$result[p0][49][ID]&start=-1&select[]=ID",
        "p2": "crm.deal.list?order[ID]=ASC&filter[>ID]=$result[p1][49][ID]&start=-1&select[]=ID",
        "counted": "crm.deal.list?start=50&select[]=ID",
    });
    let (_, body) = batch(&portal, json!({"cmd": cmd})).await;
    let result = &body["result"];
    assert_eq!(result["result_error"], json!([]), "empty maps are []");
    assert_eq!(result["result"]["new"], 121);
    assert_eq!(result["result"]["read"]["TITLE"], "Chained");
    assert_eq!(portal.deal(122).unwrap()["TITLE"], "Copy of Chained");
    assert_eq!(result["result"]["p1"][0]["ID"], "51");
    assert_eq!(result["result"]["p2"][0]["ID"], "101");
    assert_eq!(result["result"]["p2"].as_array().unwrap().len(), 22);
    // Counted pages report totals and next offsets; keyset pages report neither.
    assert_eq!(result["result_total"], json!({"counted": 122}));
    assert_eq!(result["result_next"], json!({"counted": 100}));
    let times = result["result_time"].as_object().unwrap();
    assert_eq!(times.len(), 7);
    for time in times.values() {
        assert!(time["operating"].is_number() && time["operating_reset_at"].is_i64());
    }
    assert!(body["time"]["operating"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn batches_do_not_nest_and_an_empty_batch_is_all_empty_maps() {
    let portal = Sandbox::start().await.unwrap();
    let (_, body) = batch(&portal, json!({"cmd": {"inner": "batch?cmd[x]=profile"}})).await;
    assert_eq!(
        body["result"]["result_error"]["inner"]["error"],
        "ERROR_BATCH_METHOD_NOT_ALLOWED"
    );
    let (status, body) = batch(&portal, json!({})).await;
    assert_eq!(status, 200);
    for key in [
        "result",
        "result_error",
        "result_total",
        "result_next",
        "result_time",
    ] {
        assert_eq!(body["result"][key], json!([]), "{key}");
    }
}

#[tokio::test]
async fn form_encoded_batches_work_like_json_ones() {
    let portal = Sandbox::start().await.unwrap();
    let body = "halt=0&cmd[me]=profile&cmd[deal]=crm.deal.add%3Ffields%5BTITLE%5D%3DForm";
    let response = bitrix24::http_client_builder()
        .unwrap()
        .build()
        .unwrap()
        .post(format!("{}batch", portal.webhook_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let value: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(value["result"]["result"]["me"]["ID"], "1");
    assert_eq!(portal.deal(1).unwrap()["TITLE"], "Form");
}
