//! The sandbox delivers bot events with the members of the documented examples: each scenario
//! is played against a sandbox whose handlers are a recording server, and what arrives is
//! compared key by key with `tests/fixtures/examples` (exactly for the classic events, whose
//! examples are complete; as a superset for `imbot.v2`, whose webhook example is abridged).
#![cfg(feature = "full")]
#![allow(deprecated)] // The classic imbot methods are what these events belong to.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use bitrix24::Client;
use bitrix24::wire::php;
use bitrix24_sandbox::Sandbox;
use serde_json::{Value, json};

/// A handler that records every body POSTed to it.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Value>>>);

impl Recorder {
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(|State(r): State<Recorder>, body: Bytes| async move {
                let text = String::from_utf8(body.to_vec()).unwrap();
                r.0.lock().unwrap().push(php::decode(&text).unwrap());
                "OK"
            })
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/events")
    }

    /// Takes the one event recorded since the last call.
    fn take_one(&self) -> Value {
        let mut seen = self.0.lock().unwrap();
        assert_eq!(seen.len(), 1, "{seen:#?}");
        seen.remove(0)
    }
}

/// Every leaf path of `value`; map keys that are ids become `{id}`.
fn paths(value: &Value) -> BTreeSet<String> {
    fn walk(value: &Value, at: String, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (key, v) in map {
                    let key = if key.parse::<i64>().is_ok() {
                        "{id}"
                    } else {
                        key
                    };
                    walk(v, format!("{at}.{key}"), out);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for v in items {
                    walk(v, format!("{at}[]"), out);
                }
            }
            _ => {
                out.insert(at);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(value, String::new(), &mut out);
    out
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/examples/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn assert_same_members(delivered: &Value, documented: &str) {
    let (got, want) = (paths(delivered), paths(&fixture(documented)));
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{documented}: missing {missing:?}, undocumented {extra:?}"
    );
}

/// Every documented member is there (an empty map or list in the example — an abridged one —
/// asks only for the member itself).
fn assert_documented_members_present(delivered: &Value, documented: &str) {
    let (got, want) = (paths(delivered), paths(&fixture(documented)));
    let missing: Vec<_> = want
        .iter()
        .filter(|p| {
            !got.iter().any(|g| {
                g == *p || g.starts_with(&format!("{p}.")) || g.starts_with(&format!("{p}["))
            })
        })
        .collect();
    assert!(missing.is_empty(), "{documented}: missing {missing:?}");
}

#[tokio::test]
async fn classic_bot_events_have_the_documented_members() {
    let portal = Sandbox::start().await.unwrap();
    let recorder = Recorder::default();
    let url = recorder.start().await;
    let app = portal.oauth_client().unwrap();
    let boris = Client::webhook(&portal.user_webhook_url(2)).unwrap();

    assert_eq!(portal.install_app(&url).await.unwrap(), 200);
    assert_same_members(&recorder.take_one(), "event.ONAPPINSTALL.json");

    let bot = app
        .imbot_register("echo", bitrix24::imbot::BotProperties::new().name("Echo"))
        .event_handler(&url)
        .await
        .unwrap();
    app.call::<Value>(
        "imbot.command.register",
        &json!({"BOT_ID": bot, "COMMAND": "echo", "EVENT_COMMAND_ADD": url,
                "LANG": [{"LANGUAGE_ID": "en", "TITLE": "Echo"}]}),
    )
    .await
    .unwrap();

    portal.open_dialog(2, bot).await.unwrap();
    let join = recorder.take_one();
    assert_same_members(&join, "event.ONIMBOTJOINCHAT.personal.json");
    assert_eq!(join["data"]["PARAMS"]["DIALOG_ID"], "2");
    portal.open_dialog(2, bot).await.unwrap();
    assert!(
        recorder.0.lock().unwrap().is_empty(),
        "only the first opening"
    );

    boris.im_message_add(bot, "Hello").await.unwrap();
    let message = recorder.take_one();
    assert_same_members(&message, "event.ONIMBOTMESSAGEADD.personal.json");
    assert_eq!(message["data"]["PARAMS"]["MESSAGE"], "Hello");

    boris.im_message_add(bot, "/echo test").await.unwrap();
    let command = recorder.take_one();
    assert_same_members(&command, "event.ONIMCOMMANDADD.personal.json");
    let block = command["data"]["COMMAND"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap();
    assert_eq!(
        (&block["COMMAND"], &block["COMMAND_PARAMS"]),
        (&json!("echo"), &json!("test"))
    );

    let chat: i64 = boris
        .call("im.chat.add", &json!({"TITLE": "Roofs", "USERS": [3, bot]}))
        .await
        .unwrap();
    assert_same_members(&recorder.take_one(), "event.ONIMBOTJOINCHAT.group.json");

    // In a group the bot hears only what mentions it.
    boris
        .im_message_add(format!("chat{chat}"), "nobody asked the bot")
        .await
        .unwrap();
    assert!(recorder.0.lock().unwrap().is_empty());
    let said = format!("[USER={bot}]Echo[/USER] how to set up the left menu");
    boris
        .im_message_add(format!("chat{chat}"), said.as_str())
        .await
        .unwrap();
    let group = recorder.take_one();
    assert_same_members(&group, "event.ONIMBOTMESSAGEADD.group.json");
    assert_eq!(
        group["data"]["PARAMS"]["MESSAGE"],
        "how to set up the left menu"
    );
    assert_eq!(group["data"]["PARAMS"]["MESSAGE_ORIGINAL"], said.as_str());

    // Events of other modules go to the handlers bound with event.bind.
    app.call::<Value>(
        "event.bind",
        &json!({"event": "ONCRMDEALADD", "handler": url}),
    )
    .await
    .unwrap();
    let deal: i64 = app
        .call("crm.deal.add", &json!({"fields": {"TITLE": "Roof"}}))
        .await
        .unwrap();
    let added = recorder.take_one();
    assert_same_members(&added, "event.ONCRMDEALADD.app.json");
    assert_eq!(added["data"]["FIELDS"]["ID"], deal.to_string());

    app.imbot_unregister(bot).await.unwrap();
    let delete = recorder.take_one();
    assert_same_members(&delete, "event.ONIMBOTDELETE.json");
    assert_eq!(delete["data"]["BOT_ID"], bot.to_string());
}

#[tokio::test]
async fn v2_events_have_the_documented_members_posted_or_fetched() {
    let portal = Sandbox::start().await.unwrap();
    let recorder = Recorder::default();
    let url = recorder.start().await;
    let app = portal.oauth_client().unwrap();
    let boris = Client::webhook(&portal.user_webhook_url(2)).unwrap();

    let register = |code: &str, mode: Value| {
        let mut fields = json!({"code": code, "properties": {"name": code}});
        fields
            .as_object_mut()
            .unwrap()
            .extend(mode.as_object().unwrap().clone());
        let app = app.clone();
        async move {
            let result: Value = app
                .call("imbot.v2.Bot.register", &json!({"fields": fields}))
                .await
                .unwrap();
            result["bot"]["id"].as_i64().unwrap()
        }
    };
    let posted = register("posted", json!({"eventMode": "webhook", "webhookUrl": url})).await;
    boris.im_message_add(posted, "Hello bot!").await.unwrap();
    let event = recorder.take_one();
    assert_documented_members_present(&event, "event.ONIMBOTV2MESSAGEADD.webhook.json");
    assert_eq!(event["data"]["message"]["text"], "Hello bot!");
    assert_eq!(event["auth"]["member_id"], portal.member_id().as_str());

    let fetched = register("fetched", json!({"eventMode": "fetch"})).await;
    app.call::<Value>(
        "imbot.v2.Command.register",
        &json!({"botId": fetched, "fields": {"command": "help", "title": {"en": "Help"}}}),
    )
    .await
    .unwrap();
    boris.im_message_add(fetched, "Hello bot!").await.unwrap();
    boris.im_message_add(fetched, "/help topic").await.unwrap();
    assert!(
        recorder.0.lock().unwrap().is_empty(),
        "fetch mode posts nothing"
    );
    let got: Value = app
        .call("imbot.v2.Event.get", &json!({"botId": fetched}))
        .await
        .unwrap();
    let events = got["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{got}");
    assert_eq!(events[0]["type"], "ONIMBOTV2MESSAGEADD");
    assert_documented_members_present(&events[0]["data"], "event.ONIMBOTV2MESSAGEADD.data.json");
    assert_eq!(events[1]["type"], "ONIMBOTV2COMMANDADD");
    assert_documented_members_present(&events[1]["data"], "event.ONIMBOTV2COMMANDADD.data.json");
    assert_eq!(events[1]["data"]["command"]["command"], "/help");
    assert_documented_members_present(
        &json!({"result": got, "time": {"start": 0, "finish": 0, "duration": 0, "processing": 0, "date_start": "", "date_finish": ""}}),
        "response.imbot.v2.Event.get.json",
    );
}

#[tokio::test]
async fn the_v2_queue_confirms_below_the_offset_and_pages_by_limit() {
    let portal = Sandbox::start().await.unwrap();
    let app = portal.oauth_client().unwrap();
    let boris = Client::webhook(&portal.user_webhook_url(2)).unwrap();
    let result: Value = app
        .call(
            "imbot.v2.Bot.register",
            &json!({"fields": {"code": "q", "properties": {"name": "Q"}}}),
        )
        .await
        .unwrap();
    let bot = result["bot"]["id"].as_i64().unwrap();
    assert_eq!(result["bot"]["eventMode"], "fetch");
    for text in ["one", "two", "three"] {
        boris.im_message_add(bot, text).await.unwrap();
    }
    let get = |params: Value| {
        let app = app.clone();
        async move {
            app.call::<Value>("imbot.v2.Event.get", &params)
                .await
                .unwrap()
        }
    };
    let first = get(json!({"botId": bot, "limit": 2})).await;
    assert_eq!(first["events"].as_array().unwrap().len(), 2);
    assert_eq!(first["hasMore"], true);
    // Not confirmed yet: asked again, the same events come.
    let again = get(json!({"botId": bot, "limit": 2})).await;
    assert_eq!(again["events"], first["events"]);
    let second = get(json!({"botId": bot, "limit": 2, "offset": first["nextOffset"]})).await;
    let texts: Vec<_> = second["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["message"]["text"].clone())
        .collect();
    assert_eq!(texts, [json!("three")]);
    assert_eq!(second["hasMore"], false);
    assert_eq!(portal.queued_events(bot), 1);
    let last = get(json!({"botId": bot, "offset": second["nextOffset"]})).await;
    assert_eq!(last["events"], json!([]));
    assert_eq!(last["nextOffset"], second["nextOffset"]);
    assert_eq!(portal.queued_events(bot), 0);
}
