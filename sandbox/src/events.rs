//! Outbound events: the sandbox POSTs them to handler URLs the way a portal does, as
//! `application/x-www-form-urlencoded` with PHP bracket keys and every scalar a string, or
//! queues them for `imbot.v2.Event.get`.
//!
//! Each payload has the members of the documented examples (`sdk/tests/fixtures/examples`),
//! no more and no fewer — `sdk/tests/bot_sandbox.rs` compares them key by key: the top-level
//! `auth` of the application acting for the user who caused the event, and in bot events the
//! `BOT` (or `COMMAND`) map with a token pair acting for the bot itself.

use std::sync::atomic::Ordering;

use serde_json::{Map, Value, json};

use super::Shared;
use super::data::{Bot, Chat, Portal, iso_now, unix_now};

/// An event to POST once the portal lock is released.
#[derive(Debug)]
pub(crate) struct PendingEvent {
    pub(crate) url: String,
    pub(crate) body: String,
}

/// Which members an event's top-level `auth` has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthShape {
    /// Every member, the refresh token included (message and command events).
    Full,
    /// Without `refresh_token` (join and delete events, as documented).
    NoRefresh,
    /// The members of `ONAPPINSTALL`: no `expires`, no `user_id`.
    Install,
    /// Events of other modules (`ONCRMDEALADD`, ...): no `expires`, `user_id` or refresh
    /// token.
    Short,
}

/// `host[:port]`, as events spell `domain`.
pub(crate) fn domain(shared: &Shared) -> String {
    match (shared.base.host_str(), shared.base.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        _ => String::new(),
    }
}

/// The `auth` block for `user_id`, with a fresh token pair.
fn auth(portal: &mut Portal, shared: &Shared, user_id: i64, shape: AuthShape) -> Value {
    let ttl = shared.config.access_token_ttl;
    let tokens = portal.grant(user_id, ttl);
    let rest = format!("{}rest/", shared.base);
    let mut auth = Map::new();
    let mut put = |k: &str, v: Value| {
        auth.insert(k.to_owned(), v);
    };
    match shape {
        AuthShape::Install => {
            put("domain", json!(domain(shared)));
            put("scope", json!(shared.config.scopes.join(",")));
            put("access_token", json!(tokens.access_token.expose()));
            put("refresh_token", json!(tokens.refresh_token.expose()));
            put("expires_in", json!(ttl.as_secs()));
            put("server_endpoint", json!(rest));
            put("status", json!("L"));
            put("client_endpoint", json!(rest));
            put("member_id", json!(portal.app.member_id));
            put(
                "application_token",
                json!(portal.app.application_token.expose()),
            );
        }
        AuthShape::Short => {
            put("access_token", json!(tokens.access_token.expose()));
            put("expires_in", json!(ttl.as_secs()));
            put("scope", json!(shared.config.scopes.join(",")));
            put("domain", json!(domain(shared)));
            put("server_endpoint", json!(rest));
            put("status", json!("L"));
            put("client_endpoint", json!(rest));
            put("member_id", json!(portal.app.member_id));
            put(
                "application_token",
                json!(portal.app.application_token.expose()),
            );
        }
        AuthShape::Full | AuthShape::NoRefresh => {
            put("access_token", json!(tokens.access_token.expose()));
            put("expires", json!(tokens.expires_at.unwrap_or_default()));
            put("expires_in", json!(ttl.as_secs()));
            put("scope", json!(shared.config.scopes.join(",")));
            put("domain", json!(domain(shared)));
            put("server_endpoint", json!(rest));
            put("status", json!("L"));
            put("client_endpoint", json!(rest));
            put("member_id", json!(portal.app.member_id));
            put("user_id", json!(user_id));
            if shape == AuthShape::Full {
                put("refresh_token", json!(tokens.refresh_token.expose()));
            }
            put(
                "application_token",
                json!(portal.app.application_token.expose()),
            );
        }
    }
    Value::Object(auth)
}

/// The token block a bot event carries for the bot itself (`data[BOT][<id>]`,
/// `data[COMMAND][<id>]`): a pair acting for the bot user, and the same again under `AUTH`.
fn bot_tokens(portal: &mut Portal, shared: &Shared, bot_id: i64) -> Map<String, Value> {
    let ttl = shared.config.access_token_ttl;
    let tokens = portal.grant(bot_id, ttl);
    let rest = format!("{}rest/", shared.base);
    let Value::Object(mut block) = json!({
        "access_token": tokens.access_token.expose(),
        "expires": tokens.expires_at.unwrap_or_default(),
        "expires_in": ttl.as_secs(),
        "scope": shared.config.scopes.join(","),
        "domain": domain(shared),
        "server_endpoint": rest,
        "status": "L",
        "client_endpoint": rest,
        "member_id": portal.app.member_id,
        "refresh_token": tokens.refresh_token.expose(),
        "user_id": bot_id,
        "client_id": portal.app.client_id,
        "application_token": portal.app.application_token.expose(),
    }) else {
        unreachable!("json! of an object literal is an object")
    };
    block.insert("AUTH".to_owned(), Value::Object(block.clone()));
    block
}

/// `data[BOT]`: the addressed bot with its tokens.
pub(crate) fn bot_block(portal: &mut Portal, shared: &Shared, bot: &Bot) -> Value {
    let mut block = bot_tokens(portal, shared, bot.id);
    block.insert("BOT_ID".into(), json!(bot.id));
    block.insert("BOT_CODE".into(), json!(bot.code));
    json!({ bot.id.to_string(): block })
}

/// `data[COMMAND]`: the invoked command with its bot's tokens.
pub(crate) fn command_block(
    portal: &mut Portal,
    shared: &Shared,
    bot: &Bot,
    command: &super::data::Command,
    params: &str,
    message_id: i64,
) -> Value {
    let mut block = bot_tokens(portal, shared, bot.id);
    for (k, v) in [
        ("BOT_ID", json!(bot.id)),
        ("BOT_CODE", json!(bot.code)),
        ("COMMAND", json!(command.command)),
        ("COMMAND_ID", json!(command.id)),
        ("COMMAND_PARAMS", json!(params)),
        ("COMMAND_CONTEXT", json!("TEXTAREA")),
        ("MESSAGE_ID", json!(message_id)),
    ] {
        block.insert(k.to_owned(), v);
    }
    json!({ command.id.to_string(): block })
}

/// Builds a classic event body: `event`, `event_handler_id`, `data`, `ts` and `auth` for the
/// app acting for `user_id`.
pub(crate) fn build(
    portal: &mut Portal,
    shared: &Shared,
    event: &str,
    handler_id: i64,
    user_id: i64,
    data: Value,
    shape: AuthShape,
) -> String {
    let auth = auth(portal, shared, user_id, shape);
    let body = json!({
        "event": event,
        "event_handler_id": handler_id,
        "data": data,
        "ts": unix_now(),
        "auth": auth,
    });
    bitrix24::wire::php::encode(&body)
}

/// `event` for every handler bound to it with `event.bind`, acting for `user_id`.
pub(crate) fn bound(
    portal: &mut Portal,
    shared: &Shared,
    event: &str,
    user_id: i64,
    data: &Value,
    out: &mut Vec<PendingEvent>,
) {
    if portal
        .handlers
        .iter()
        .any(|h| h.event == event && h.offline)
    {
        queue_offline(portal, event, data);
    }
    let urls: Vec<(usize, String)> = portal
        .handlers
        .iter()
        .enumerate()
        .filter(|(_, h)| h.event == event && !h.offline)
        .map(|(i, h)| (i, h.handler.clone()))
        .collect();
    for (i, url) in urls {
        let handler_id = i64::try_from(i).unwrap_or(0) + 1;
        let body = build(
            portal,
            shared,
            event,
            handler_id,
            user_id,
            data.clone(),
            AuthShape::Short,
        );
        out.push(PendingEvent { url, body });
    }
}

/// Queues `event` for the offline handlers: the queue keeps one record per object, so a change
/// of an object already waiting (not taken by a process) only moves its time.
fn queue_offline(portal: &mut Portal, event: &str, data: &Value) {
    let changed = super::data::iso_now();
    if let Some(waiting) = portal
        .offline
        .iter_mut()
        .find(|r| r.event == event && r.data == *data && r.process_id.is_empty() && !r.error)
    {
        waiting.changed = changed;
        return;
    }
    let id = portal.next_offline_id;
    portal.next_offline_id += 1;
    portal.offline.push(super::data::OfflineRecord {
        id,
        changed,
        event: event.to_owned(),
        data: data.clone(),
        message_id: id.to_string(),
        process_id: String::new(),
        error: false,
    });
}

/// `ONAPPINSTALL` as a portal sends it when an administrator installs the application.
pub(crate) fn install(portal: &mut Portal, shared: &Shared) -> String {
    let auth = auth(portal, shared, 1, AuthShape::Install);
    let body = json!({
        "event": "ONAPPINSTALL",
        "data": {"VERSION": "1", "ACTIVE": "Y", "INSTALLED": "Y", "LANGUAGE_ID": "en"},
        "ts": unix_now(),
        "auth": auth,
    });
    bitrix24::wire::php::encode(&body)
}

/// A v2 event POSTed to a bot's webhook: `data[bot]` is `{id, code, auth}`, the rest as
/// fetched.
pub(crate) fn build_v2_webhook(
    portal: &mut Portal,
    shared: &Shared,
    event: &str,
    bot: &Bot,
    user_id: i64,
    mut data: Value,
) -> String {
    let mut bot_auth = bot_tokens(portal, shared, bot.id);
    bot_auth.remove("AUTH");
    data["bot"] = json!({"id": bot.id, "code": bot.code, "auth": bot_auth});
    let auth = auth(portal, shared, user_id, AuthShape::Full);
    let body = json!({"event": event, "data": data, "ts": unix_now(), "auth": auth});
    bitrix24::wire::php::encode(&body)
}

/// Which members a classic `data[USER]` block has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UserShape {
    /// Message events: with the `IS_*` flags.
    Message,
    /// Join events: without the flags.
    Join,
    /// Command events: no work position either.
    Command,
}

/// `data[USER]` as classic events describe the author.
pub(crate) fn user_block(portal: &Portal, user_id: i64, shape: UserShape) -> Value {
    let user = portal.users.get(&user_id).cloned().unwrap_or_else(Map::new);
    let field = |k: &str| {
        user.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let gender = Some(field("PERSONAL_GENDER"))
        .filter(|g| !g.is_empty())
        .unwrap_or_else(|| "M".to_owned());
    let mut block = Map::new();
    block.insert("ID".into(), json!(user_id));
    block.insert(
        "NAME".into(),
        json!(format!("{} {}", field("NAME"), field("LAST_NAME")).trim()),
    );
    block.insert("FIRST_NAME".into(), json!(field("NAME")));
    block.insert("LAST_NAME".into(), json!(field("LAST_NAME")));
    if shape != UserShape::Command {
        block.insert("WORK_POSITION".into(), json!(field("WORK_POSITION")));
    }
    block.insert("GENDER".into(), json!(gender));
    if shape == UserShape::Message {
        let is_bot = portal.bots.contains_key(&user_id);
        block.insert("IS_BOT".into(), json!(if is_bot { "Y" } else { "N" }));
        for flag in ["IS_CONNECTOR", "IS_NETWORK", "IS_EXTRANET"] {
            block.insert(flag.into(), json!("N"));
        }
    }
    Value::Object(block)
}

// ------------------------------------------------------------------ imbot.v2 objects

/// A bot as `imbot.v2.Bot.get` and fetched events describe it (the owner's extended format).
pub(crate) fn v2_bot(bot: &Bot) -> Value {
    json!({
        "id": bot.id,
        "code": bot.code,
        "type": "bot",
        "isHidden": false,
        "isSupportOpenline": bot.openline,
        "isReactionsEnabled": true,
        "backgroundId": null,
        "language": "en",
        "moduleId": "rest",
        "eventMode": if bot.webhook.is_some() { "webhook" } else { "fetch" },
        "countMessage": 0,
        "countCommand": 0,
        "countChat": 0,
        "countUser": 0,
    })
}

/// A user as v2 events describe one.
pub(crate) fn v2_user_full(portal: &Portal, id: i64) -> Value {
    let user = portal.users.get(&id).cloned().unwrap_or_default();
    let field = |k: &str| user.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let is_bot = portal.bots.contains_key(&id);
    json!({
        "id": id,
        "active": true,
        "name": format!("{} {}", field("NAME"), field("LAST_NAME")).trim(),
        "firstName": field("NAME"),
        "lastName": field("LAST_NAME"),
        "workPosition": field("WORK_POSITION"),
        "color": "#df532d",
        "avatar": "",
        "gender": Some(field("PERSONAL_GENDER")).filter(|g| !g.is_empty()).unwrap_or_else(|| "M".into()),
        "birthday": "",
        "extranet": false,
        "bot": is_bot,
        "connector": false,
        "externalAuthId": if is_bot { "bot" } else { "default" },
        "status": "online",
        "idle": false,
        "lastActivityDate": iso_now(),
        "absent": false,
        "departments": [1],
        "phones": false,
        "type": if is_bot { "bot" } else { "employee" },
    })
}

/// A chat as v2 events describe it, from `viewer`'s side (a private dialog's id is the other
/// member's user id).
pub(crate) fn v2_chat(chat: &Chat, viewer: i64) -> Value {
    let (dialog, kind) = if chat.kind == "P" {
        let other = chat
            .members
            .iter()
            .find(|m| **m != viewer)
            .copied()
            .unwrap_or(viewer);
        (other.to_string(), "private")
    } else {
        (format!("chat{}", chat.id), "chat")
    };
    json!({
        "id": chat.id,
        "dialogId": dialog,
        "type": kind,
        "messageType": chat.kind,
        "name": chat.title,
        "entityType": "",
        "owner": chat.members.first().copied().unwrap_or(0),
        "avatar": "",
        "color": "#ab7761",
    })
}

/// A message as v2 events describe it.
pub(crate) fn v2_message(id: i64, chat_id: i64, author: i64, text: &str) -> Value {
    json!({
        "id": id,
        "chatId": chat_id,
        "authorId": author,
        "date": iso_now(),
        "text": text,
        "isSystem": false,
        "uuid": "",
        "forward": null,
        "params": {},
        "viewedByOthers": false,
    })
}

// ------------------------------------------------------------------ delivery

/// POSTs one event body; the handler's HTTP status, or why it could not be reached.
pub(crate) async fn post(shared: &Shared, url: &str, body: String) -> Result<u16, reqwest::Error> {
    let response = shared
        .http
        .post(url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
        .send()
        .await?;
    let status = response.status();
    if status.is_success() {
        shared
            .counters
            .events_delivered
            .fetch_add(1, Ordering::Relaxed);
    }
    Ok(status.as_u16())
}

/// POSTs events one after another; a handler that fails or times out is logged and skipped,
/// as a portal drops an undeliverable event.
pub(crate) async fn deliver(shared: &Shared, events: Vec<PendingEvent>) {
    for event in events {
        match post(shared, &event.url, event.body).await {
            Ok(status) if (200..300).contains(&status) => {}
            Ok(status) => tracing::warn!(status, "event handler refused an event"),
            Err(e) => tracing::warn!("event handler unreachable: {}", e.without_url()),
        }
    }
}
