//! REST 3.0 at `/rest/api/`, over real HTTP: the envelopes, JSON-only bodies, the tasks
//! methods with their documented errors, `Idempotency-Key` replay and reuse, and the array
//! batch.

use bitrix24_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

struct V3 {
    http: reqwest::Client,
    base: String,
}

struct Answer {
    status: u16,
    body: Value,
    headers: reqwest::header::HeaderMap,
}

impl V3 {
    /// Calls through the admin webhook at the REST 3.0 address.
    fn webhook(portal: &Sandbox) -> Self {
        let base = portal.webhook_url().replace("/rest/", "/rest/api/");
        Self {
            http: bitrix24::http_client_builder().unwrap().build().unwrap(),
            base,
        }
    }

    async fn send(&self, method: &str, body: Value, key: Option<&str>) -> Answer {
        let mut request = self
            .http
            .post(format!("{}{method}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        answer(request.send().await.unwrap()).await
    }

    async fn call(&self, method: &str, body: Value) -> Answer {
        self.send(method, body, None).await
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        body,
        headers,
    }
}

fn task(title: &str) -> Value {
    json!({"fields": {"title": title, "creatorId": 1, "responsibleId": 2}})
}

fn error_code(answer: &Answer) -> &str {
    answer.body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn a_task_round_trips_in_the_unified_envelope() {
    let portal = Sandbox::start().await.unwrap();
    let api = V3::webhook(&portal);
    let added = api.call("tasks.task.add", task("Prepare report")).await;
    assert_eq!(added.status, 200, "{}", added.body);
    let item = &added.body["result"]["item"];
    assert_eq!(item["id"], 1);
    assert_eq!(item["title"], "Prepare report");
    assert_eq!(item["responsibleId"], 2);
    assert_eq!(item["status"], "pending");
    let time = &added.body["time"];
    assert!(time["operating"].as_f64().unwrap() > 0.0);
    assert!(time["operating_reset_at"].is_i64());

    let got = api
        .call(
            "tasks.task.get",
            json!({"id": 1, "select": ["id", "title", "responsible.name", "responsible.email"]}),
        )
        .await;
    assert_eq!(
        got.body["result"]["item"],
        json!({"id": 1, "title": "Prepare report", "responsible": {"name": "Boris", "email": "boris@sandbox.test"}})
    );

    let updated = api
        .call(
            "tasks.task.update",
            json!({"id": 1, "fields": {"title": "Report", "status": "completed"}}),
        )
        .await;
    assert_eq!(updated.body["result"], json!({"result": true}));
    let stored = portal.task(1).unwrap();
    assert_eq!(stored["title"], "Report");
    assert!(stored["closed"].is_string(), "completing closes the task");

    let deleted = api.call("tasks.task.delete", json!({"id": 1})).await;
    assert_eq!(deleted.body["result"], json!({"result": true}));
    assert_eq!(portal.task_count(), 0);
    assert_eq!(portal.writes().get("tasks.task.add"), 1);
    assert_eq!(portal.writes().get("tasks.task.update"), 1);
    assert_eq!(portal.writes().get("tasks.task.delete"), 1);
}

#[tokio::test]
async fn errors_use_the_v3_shape_with_documented_codes_and_statuses() {
    let portal = Sandbox::start().await.unwrap();
    let api = V3::webhook(&portal);
    api.call("tasks.task.add", task("t")).await;

    let missing = api
        .call(
            "tasks.task.add",
            json!({"fields": {"creatorId": 1, "responsibleId": 1}}),
        )
        .await;
    assert_eq!(missing.status, 400);
    assert_eq!(
        missing.body,
        json!({"error": {
            "code": "BITRIX_REST_V3_EXCEPTION_VALIDATION_REQUESTVALIDATIONEXCEPTION",
            "message": "Error validating request object",
            "validation": [{"message": "Required field `title` is missing", "field": "title"}],
        }})
    );

    let cases = [
        (
            "tasks.task.get",
            json!({"id": "1"}),
            400,
            "VALIDATION_REQUESTVALIDATIONEXCEPTION",
        ),
        (
            "tasks.task.get",
            json!({}),
            400,
            "VALIDATION_REQUESTVALIDATIONEXCEPTION",
        ),
        (
            "tasks.task.get",
            json!({"id": 2}),
            400,
            "ENTITYNOTFOUNDEXCEPTION",
        ),
        (
            "tasks.task.get",
            json!({"id": 1, "select": ["responsible.stageId"]}),
            400,
            "UNKNOWNDTOPROPERTYEXCEPTION",
        ),
        (
            "tasks.task.update",
            json!({"id": 1, "fields": {"creatorId": 2}}),
            400,
            "VALIDATION_REQUESTVALIDATIONEXCEPTION",
        ),
        (
            "tasks.task.update",
            json!({"id": 1, "fields": {"responsibleId": 999}}),
            400,
            "VALIDATION_REQUESTVALIDATIONEXCEPTION",
        ),
        (
            "tasks.task.update",
            json!({"id": 1, "fields": {"deadline": "tomorrow"}}),
            400,
            "VALIDATION_REQUESTVALIDATIONEXCEPTION",
        ),
        (
            "tasks.task.update",
            json!({"id": 9, "fields": {"title": "x"}}),
            403,
            "ACCESSDENIEDEXCEPTION",
        ),
        (
            "tasks.task.delete",
            json!({"id": 9}),
            403,
            "ACCESSDENIEDEXCEPTION",
        ),
        (
            "tasks.task.list",
            json!({"filter": [["title", "=", "t"]]}),
            400,
            "VALIDATION_REQUESTVALIDATIONEXCEPTION",
        ),
        (
            "tasks.task.list",
            json!({"filter": [["stageId", "=", 1]]}),
            400,
            "UNKNOWNDTOPROPERTYEXCEPTION",
        ),
        (
            "tasks.task.list",
            json!({"filter": [["id", "like", 1]]}),
            400,
            "UNKNOWNFILTEROPERATOREXCEPTION",
        ),
        (
            "tasks.task.list",
            json!({"order": {"id": "UP"}}),
            400,
            "INVALIDORDEREXCEPTION",
        ),
        (
            "tasks.task.list",
            json!({"pagination": {"limit": "abc"}}),
            400,
            "INVALIDPAGINATIONEXCEPTION",
        ),
        (
            "tasks.task.list",
            json!({"pagination": {"limit": 0}}),
            400,
            "INVALIDPAGINATIONEXCEPTION",
        ),
    ];
    for (method, body, status, suffix) in cases {
        let answer = api.call(method, body.clone()).await;
        assert_eq!(answer.status, status, "{method} {body}: {}", answer.body);
        assert_eq!(
            error_code(&answer),
            format!("BITRIX_REST_V3_EXCEPTION_{suffix}"),
            "{method} {body}"
        );
        assert!(answer.body["error"]["message"].is_string());
        assert!(answer.body.get("result").is_none());
    }
    assert_eq!(
        portal.task(1).unwrap()["title"],
        "t",
        "no failed update changed it"
    );
}

#[tokio::test]
async fn only_json_bodies_and_only_v3_methods() {
    let portal = Sandbox::start().await.unwrap();
    let api = V3::webhook(&portal);
    let form = api
        .http
        .post(format!("{}tasks.task.add", api.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("fields[title]=x&fields[creatorId]=1&fields[responsibleId]=1")
        .send()
        .await
        .unwrap();
    let form = answer(form).await;
    assert_eq!(form.status, 400);
    assert_eq!(
        error_code(&form),
        "BITRIX_REST_V3_EXCEPTION_INVALIDJSONEXCEPTION"
    );

    let broken = api
        .http
        .post(format!("{}tasks.task.add", api.base))
        .header("content-type", "application/json")
        .body("{\"fields\": {")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(&answer(broken).await),
        "BITRIX_REST_V3_EXCEPTION_INVALIDJSONEXCEPTION"
    );

    // The query string is not read: the required id is missing.
    let query = api
        .http
        .get(format!("{}tasks.task.get?id=1", api.base))
        .send()
        .await
        .unwrap();
    let query = answer(query).await;
    assert_eq!(query.body["error"]["validation"][0]["field"], "id");
    assert_eq!(portal.writes().total(), 0);

    // Classic methods do not exist at the new address, nor the new methods at the old one.
    let classic = api.call("crm.deal.list", json!({})).await;
    assert_eq!(
        (classic.status, error_code(&classic)),
        (404, "ERROR_METHOD_NOT_FOUND")
    );
    let old = bitrix24::http_client_builder()
        .unwrap()
        .build()
        .unwrap()
        .post(format!("{}tasks.task.add", portal.webhook_url()))
        .header("content-type", "application/json")
        .body(task("x").to_string())
        .send()
        .await
        .unwrap();
    let old = answer(old).await;
    assert_eq!(
        (old.status, &old.body["error"]),
        (404, &json!("ERROR_METHOD_NOT_FOUND"))
    );

    // Without parameters, GET works; the OpenAPI document lists the methods.
    let docs = api
        .http
        .get(format!("{}rest.documentation.openapi", api.base))
        .send()
        .await
        .unwrap();
    let docs = answer(docs).await;
    assert!(docs.body["result"]["paths"]["/tasks.task.list"].is_object());
    assert!(docs.body["result"]["paths"].get("/crm.deal.list").is_none());
}

#[tokio::test]
async fn applications_authenticate_in_the_body_and_need_the_scope() {
    let portal = Sandbox::start().await.unwrap();
    let tokens = portal.issue_tokens();
    let url = format!("{}rest/api/tasks.task.add", portal.url());
    let http = bitrix24::http_client_builder().unwrap().build().unwrap();
    let mut body = task("Via OAuth");
    body["auth"] = json!(tokens.access_token.expose());
    let ok = answer(
        http.post(&url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);

    portal.expire_access_tokens();
    let expired = answer(
        http.post(&url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (expired.status, error_code(&expired)),
        (401, "expired_token")
    );
    let anonymous = answer(
        http.post(&url)
            .header("content-type", "application/json")
            .body(task("x").to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (anonymous.status, error_code(&anonymous)),
        (401, "NO_AUTH_FOUND")
    );

    let no_tasks = Sandbox::start_with(SandboxConfig::default().scopes(["user"]))
        .await
        .unwrap();
    let denied = V3::webhook(&no_tasks)
        .call("tasks.task.add", task("x"))
        .await;
    assert_eq!(denied.status, 403);
    assert_eq!(
        error_code(&denied),
        "BITRIX_REST_V3_EXCEPTION_INSUFFICIENTSCOPEEXCEPTION"
    );
}

#[tokio::test]
async fn lists_filter_order_and_paginate() {
    let portal = Sandbox::start().await.unwrap();
    let api = V3::webhook(&portal);
    for n in 1..=30 {
        api.call("tasks.task.add", task(&format!("task {n:02}")))
            .await;
    }
    let ids = |answer: &Answer| -> Vec<i64> {
        answer.body["result"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect()
    };
    // Without select, items carry only the id.
    let all = api.call("tasks.task.list", json!({})).await;
    assert_eq!(all.body["result"]["items"][0], json!({"id": 1}));
    assert_eq!(ids(&all).len(), 30);

    let filtered = api
        .call(
            "tasks.task.list",
            json!({
                "select": ["id", "title"],
                "filter": [["id", ">", 10], {"logic": "or", "conditions": [["id", [11, 12]], ["id", "between", [20, 22]]]}],
                "order": {"id": "DESC"},
            }),
        )
        .await;
    assert_eq!(ids(&filtered), [22, 21, 20, 12, 11]);
    assert_eq!(filtered.body["result"]["items"][0]["title"], "task 22");

    let page = api
        .call(
            "tasks.task.list",
            json!({"order": {"title": "ASC"}, "pagination": {"page": 3, "limit": 7}}),
        )
        .await;
    assert_eq!(ids(&page), [15, 16, 17, 18, 19, 20, 21]);
    let offset = api
        .call("tasks.task.list", json!({"pagination": {"offset": 28}}))
        .await;
    assert_eq!(ids(&offset), [29, 30]);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer() {
    let portal = Sandbox::start().await.unwrap();
    let api = V3::webhook(&portal);
    let key = "9f1c1a7e-5f1b-4a1e-9a2c-2f5f2b6c7d80";
    let first = api.send("tasks.task.add", task("Once"), Some(key)).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.headers["idempotency-key"], key);
    assert!(first.headers.get("idempotent-replayed").is_none());

    let again = api.send("tasks.task.add", task("Once"), Some(key)).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.headers["idempotency-key"], key);
    assert_eq!(
        again.body, first.body,
        "the stored answer, time block included"
    );
    assert_eq!(portal.writes().get("tasks.task.add"), 1);
    assert_eq!(portal.task_count(), 1);

    let reused = api.send("tasks.task.add", task("Other"), Some(key)).await;
    assert_eq!(reused.status, 422);
    assert_eq!(
        error_code(&reused),
        "BITRIX_REST_V3_EXCEPTION_IDEMPOTENCYKEYREUSEDEXCEPTION"
    );
    assert_eq!(portal.task_count(), 1);

    // The key is per method: the same key on another method is another call.
    let update = api
        .send(
            "tasks.task.update",
            json!({"id": 1, "fields": {"title": "Twice"}}),
            Some(key),
        )
        .await;
    assert_eq!(update.status, 200);
    assert!(update.headers.get("idempotent-replayed").is_none());

    // And per caller: another user's webhook with the same key runs its own call.
    let colleague = V3 {
        http: bitrix24::http_client_builder().unwrap().build().unwrap(),
        base: portal.user_webhook_url(2).replace("/rest/", "/rest/api/"),
    };
    let theirs = colleague
        .send("tasks.task.add", task("Once"), Some(key))
        .await;
    assert!(theirs.headers.get("idempotent-replayed").is_none());
    assert_eq!(portal.task_count(), 2);

    for bad in ["", &"x".repeat(256), "a\tb"] {
        let invalid = api.send("tasks.task.add", task("Bad key"), Some(bad)).await;
        assert_eq!(invalid.status, 400, "{bad:?}");
        assert_eq!(
            error_code(&invalid),
            "BITRIX_REST_V3_EXCEPTION_INVALIDIDEMPOTENCYKEYEXCEPTION"
        );
    }
    assert_eq!(portal.task_count(), 2);

    // Reads ignore the header altogether.
    let read = api.send("tasks.task.get", json!({"id": 1}), Some("")).await;
    assert_eq!(read.status, 200);
}

#[tokio::test]
async fn errors_are_not_stored_under_a_key() {
    let portal = Sandbox::start().await.unwrap();
    let api = V3::webhook(&portal);
    let update = json!({"id": 1, "fields": {"title": "Later"}});
    let failed = api
        .send("tasks.task.update", update.clone(), Some("k1"))
        .await;
    assert_eq!(failed.status, 403);
    api.call("tasks.task.add", task("Now")).await;
    let retried = api.send("tasks.task.update", update, Some("k1")).await;
    assert_eq!(retried.status, 200, "ran again: the error was not stored");
    assert!(retried.headers.get("idempotent-replayed").is_none());
    assert_eq!(portal.task(1).unwrap()["title"], "Later");
}

#[tokio::test]
async fn a_replay_matches_without_the_rotated_token() {
    let portal = Sandbox::start().await.unwrap();
    let url = format!("{}rest/api/tasks.task.add", portal.url());
    let http = bitrix24::http_client_builder().unwrap().build().unwrap();
    let mut replayed = Vec::new();
    for _ in 0..2 {
        // A fresh token each time, as after a renewal between a call and its retry.
        let mut body = task("Renewed");
        body["auth"] = json!(portal.issue_tokens().access_token.expose());
        let answer = answer(
            http.post(&url)
                .header("content-type", "application/json")
                .header("idempotency-key", "retry-1")
                .body(body.to_string())
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(answer.status, 200);
        replayed.push(answer.headers.contains_key("idempotent-replayed"));
    }
    assert_eq!(replayed, [false, true]);
    assert_eq!(portal.task_count(), 1);
}

#[tokio::test]
async fn the_v3_batch_is_an_array_in_order() {
    let portal = Sandbox::start().await.unwrap();
    let api = V3::webhook(&portal);
    let batch = api
        .call(
            "batch",
            json!([
                {"method": "tasks.task.add", "query": task("First")},
                {"method": "tasks.task.add", "query": task("Second")},
                {"method": "tasks.task.get", "query": {"id": 2, "select": ["id", "title"]}},
                {"method": "tasks.task.get", "query": {"id": 99}},
                {"method": "crm.deal.list", "query": {}},
            ]),
        )
        .await;
    assert_eq!(batch.status, 200, "{}", batch.body);
    let result = batch.body["result"].as_array().unwrap();
    assert_eq!(result.len(), 5);
    assert_eq!(result[0]["item"]["title"], "First");
    assert_eq!(result[1]["item"]["id"], 2);
    assert_eq!(result[2], json!({"item": {"id": 2, "title": "Second"}}));
    assert_eq!(
        result[3]["error"]["code"],
        "BITRIX_REST_V3_EXCEPTION_ENTITYNOTFOUNDEXCEPTION"
    );
    assert_eq!(result[4]["error"]["code"], "ERROR_METHOD_NOT_FOUND");
    assert!(batch.body["time"]["operating"].as_f64().unwrap() > 0.0);
    assert_eq!(portal.writes().get("tasks.task.add"), 2);

    let classic = api
        .call("batch", json!({"cmd": {"a": "tasks.task.get?id=1"}}))
        .await;
    assert_eq!(classic.status, 400);
    assert_eq!(
        error_code(&classic),
        "BITRIX_REST_V3_EXCEPTION_INVALIDSELECTEXCEPTION"
    );

    // An application's token goes in the Authorization header, the body being an array.
    let token = portal.issue_tokens().access_token;
    let oauth = bitrix24::http_client_builder()
        .unwrap()
        .build()
        .unwrap()
        .post(format!("{}rest/api/batch", portal.url()))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", token.expose()))
        .body(json!([{"method": "tasks.task.get", "query": {"id": 1}}]).to_string())
        .send()
        .await
        .unwrap();
    let oauth = answer(oauth).await;
    assert_eq!(oauth.body["result"][0]["item"]["title"], "First");
}
