//! Chats and bots: `imbot.*` (classic), the core of `imbot.v2.*`, and `im.*` messages.
//!
//! Bot events happen as on a portal:
//! - a user's message to a bot's private dialog, or one that mentions the bot
//!   (`[USER=<id>]...[/USER]`) in a group chat, is `ONIMBOTMESSAGEADD` — `ONIMCOMMANDADD` when
//!   it starts with a `/command` the bot registered (in a group, no mention needed);
//! - a bot added to a chat (`im.chat.add`, `imbot.chat.add`, `imbot.chat.user.add`) gets
//!   `ONIMBOTJOINCHAT`; so does a bot whose private dialog a user opens for the first time
//!   ([`super::Sandbox::open_dialog`]: no REST method does that, the user's browser does);
//! - `imbot.unregister` sends the bot its `ONIMBOTDELETE`;
//! - classic events are POSTed form-encoded to the URLs the bot registered; `imbot.v2` bots get
//!   the `ONIMBOTV2*` twins, POSTed to their `webhookUrl` or queued for `imbot.v2.Event.get`
//!   (`eventMode: fetch`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::Shared;
use super::data::{Bot, Chat, Command, Portal, StoredMessage, user_record};
use super::events::{self, AuthShape, PendingEvent, UserShape};
use super::params::{ApiErr, Outcome, Params, Reply};
use super::server::{Ctx, Handler, Via};

pub(crate) const METHODS: &[(&str, &str, Handler)] = &[
    ("imbot.register", "imbot", register),
    ("imbot.unregister", "imbot", unregister),
    ("imbot.update", "imbot", update),
    ("imbot.bot.list", "imbot", bot_list),
    ("imbot.message.add", "imbot", bot_message_add),
    ("imbot.message.update", "imbot", message_update),
    ("imbot.message.delete", "imbot", message_delete),
    ("imbot.message.like", "imbot", message_like),
    ("imbot.chat.add", "imbot", chat_add),
    ("imbot.chat.get", "imbot", chat_get),
    ("imbot.chat.leave", "imbot", chat_leave),
    ("imbot.chat.updatetitle", "imbot", chat_update_title),
    ("imbot.chat.user.add", "imbot", chat_user_add),
    ("imbot.chat.user.delete", "imbot", chat_user_delete),
    ("imbot.chat.user.list", "imbot", chat_user_list),
    ("imbot.chat.sendtyping", "imbot", ack_bool),
    ("imbot.command.register", "imbot", command_register),
    ("imbot.command.unregister", "imbot", command_unregister),
    ("imbot.command.answer", "imbot", command_answer),
    ("imbot.v2.bot.register", "imbot", v2_register),
    ("imbot.v2.event.get", "imbot", v2_event_get),
    ("imbot.v2.command.register", "imbot", v2_command_register),
    ("imbot.v2.command.answer", "imbot", v2_command_answer),
    ("imbot.v2.bot.get", "imbot", v2_get),
    ("imbot.v2.bot.list", "imbot", v2_list),
    ("imbot.v2.bot.unregister", "imbot", v2_unregister),
    ("imbot.v2.chat.message.send", "imbot", v2_send),
    ("imbot.v2.chat.message.update", "imbot", v2_update),
    ("imbot.v2.chat.message.delete", "imbot", v2_delete),
    ("im.message.add", "im", user_message_add),
    ("im.message.update", "im", message_update),
    ("im.message.delete", "im", message_delete),
    ("im.chat.add", "im", chat_add),
    ("im.chat.user.list", "im", chat_user_list),
];

/// Classic bot methods need an application: a webhook gets `WRONG_AUTH_TYPE`.
fn app_only(ctx: &Ctx) -> Result<(), ApiErr> {
    if ctx.via == Via::Webhook {
        return Err(ApiErr::new(
            401,
            "WRONG_AUTH_TYPE",
            "Access for this method not allowed by webhook authorization",
        ));
    }
    Ok(())
}

fn ack_bool(_: &mut Portal, _: &mut Ctx, _: &Params) -> Outcome {
    Ok(Reply::of(true))
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

// ------------------------------------------------------------------ bots

fn register(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    app_only(ctx)?;
    let code = params
        .str("CODE")
        .ok_or_else(|| ApiErr::bad("CODE_ERROR", "Bot code isn't specified"))?;
    if let Some(bot) = portal.bots.values().find(|b| b.code == code) {
        return Ok(Reply::of(bot.id));
    }
    let common = params.str("EVENT_HANDLER");
    let handler = |key: &str| params.str(key).or_else(|| common.clone());
    let mut handlers = BTreeMap::new();
    for (param, event, code) in [
        (
            "EVENT_MESSAGE_ADD",
            "ONIMBOTMESSAGEADD",
            "EVENT_MESSAGE_ADD_ERROR",
        ),
        (
            "EVENT_WELCOME_MESSAGE",
            "ONIMBOTJOINCHAT",
            "EVENT_WELCOME_MESSAGE_ERROR",
        ),
        (
            "EVENT_BOT_DELETE",
            "ONIMBOTDELETE",
            "EVENT_BOT_DELETE_ERROR",
        ),
    ] {
        match handler(param) {
            Some(url) if is_url(&url) => {
                handlers.insert(event.to_owned(), url);
            }
            _ => {
                return Err(ApiErr::bad(
                    code,
                    format!("Event handler {param} is not a valid URL"),
                ));
            }
        }
    }
    let properties = params.nested("PROPERTIES");
    let name = properties
        .str("NAME")
        .ok_or_else(|| ApiErr::bad("NAME_ERROR", "Bot name isn't specified"))?;
    let id = new_bot_user(
        portal,
        &name,
        &properties.str("LAST_NAME").unwrap_or_default(),
    );
    portal.bots.insert(
        id,
        Bot {
            id,
            code,
            name,
            kind: params.str("TYPE").unwrap_or_else(|| "B".to_owned()),
            openline: params.flag("OPENLINE").unwrap_or(false),
            handlers,
            v2: false,
            webhook: None,
        },
    );
    Ok(Reply::of(id))
}

/// Bots are portal users; their ids come from the user sequence.
fn new_bot_user(portal: &mut Portal, name: &str, last_name: &str) -> i64 {
    let id = portal
        .users
        .keys()
        .next_back()
        .copied()
        .unwrap_or(0)
        .max(100)
        + 1;
    portal
        .users
        .insert(id, user_record(id, name, last_name, "", true));
    id
}

fn bot_of(portal: &Portal, params: &Params) -> Result<i64, ApiErr> {
    match params.int("BOT_ID")? {
        Some(id) if portal.bots.contains_key(&id) => Ok(id),
        Some(_) => Err(ApiErr::bad("BOT_ID_ERROR", "Bot not found")),
        // Without BOT_ID, an application with exactly one bot means that one.
        None => match portal.bots.keys().collect::<Vec<_>>().as_slice() {
            [only] => Ok(**only),
            _ => Err(ApiErr::bad("BOT_ID_ERROR", "Bot not found")),
        },
    }
}

fn unregister(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    app_only(ctx)?;
    let id = bot_of(portal, params)?;
    remove_bot(portal, ctx, id);
    Ok(Reply::of(true))
}

/// Deletes a bot and sends it its last event: `ONIMBOTDELETE` to a classic bot's handler,
/// `ONIMBOTV2DELETE` to a v2 bot's webhook (a fetch-mode bot's queue goes with it).
fn remove_bot(portal: &mut Portal, ctx: &mut Ctx, id: i64) {
    let Some(bot) = portal.bots.remove(&id) else {
        return;
    };
    portal.commands.retain(|_, c| c.bot_id != id);
    portal.queues.remove(&id);
    let user = ctx.user_id;
    if bot.v2 {
        if let Some(url) = bot.webhook.clone() {
            let body = events::build_v2_webhook(
                portal,
                ctx.shared,
                "ONIMBOTV2DELETE",
                &bot,
                user,
                json!({}),
            );
            ctx.events.push(PendingEvent { url, body });
        }
        return;
    }
    if let Some(url) = bot.handlers.get("ONIMBOTDELETE").cloned() {
        let data = json!({"BOT_ID": bot.id, "BOT_CODE": bot.code});
        let body = events::build(
            portal,
            ctx.shared,
            "ONIMBOTDELETE",
            0,
            user,
            data,
            AuthShape::NoRefresh,
        );
        ctx.events.push(PendingEvent { url, body });
    }
}

fn update(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    app_only(ctx)?;
    let id = bot_of(portal, params)?;
    let fields = params.nested("FIELDS");
    let properties = fields.nested("PROPERTIES");
    let bot = portal
        .bots
        .get_mut(&id)
        .ok_or_else(|| ApiErr::bad("BOT_ID_ERROR", "Bot not found"))?;
    if let Some(url) = fields.str("EVENT_MESSAGE_ADD") {
        bot.handlers.insert("ONIMBOTMESSAGEADD".into(), url);
    }
    if let Some(name) = properties.str("NAME") {
        bot.name = name;
    }
    Ok(Reply::of(true))
}

fn bot_list(portal: &mut Portal, _: &mut Ctx, _: &Params) -> Outcome {
    let bots: Map<String, Value> = portal
        .bots
        .values()
        .filter(|b| !b.v2)
        .map(|b| {
            let openline = if b.openline { "Y" } else { "N" };
            (
                b.id.to_string(),
                json!({"ID": b.id, "NAME": b.name, "CODE": b.code, "OPENLINE": openline}),
            )
        })
        .collect();
    Ok(Reply::of(Value::Object(bots)))
}

// ------------------------------------------------------------------ messages

/// Where a dialog id points from `author`'s side: the chat, and the id a reply should use.
fn resolve_dialog(portal: &mut Portal, author: i64, dialog: &str) -> Result<i64, ApiErr> {
    if let Some(chat) = dialog.strip_prefix("chat") {
        let id: i64 = chat
            .parse()
            .map_err(|_| ApiErr::bad("DIALOG_ID_EMPTY", "Dialog ID can't be empty"))?;
        return match portal.chats.get(&id) {
            Some(chat) if chat.members.contains(&author) => Ok(id),
            Some(_) => Err(ApiErr::new(
                403,
                "ACCESS_ERROR",
                "You do not have access to the specified dialog",
            )),
            None => Err(ApiErr::bad("CHAT_ID", "Chat not found")),
        };
    }
    let user: i64 = dialog
        .parse()
        .map_err(|_| ApiErr::bad("DIALOG_ID_EMPTY", "Dialog ID can't be empty"))?;
    if !portal.users.contains_key(&user) {
        return Err(ApiErr::bad("USER_ID", "User not found"));
    }
    Ok(portal.private_chat(author, user))
}

fn message_text(params: &Params) -> Result<String, ApiErr> {
    match params.str("MESSAGE") {
        Some(text) if !text.trim().is_empty() => Ok(text),
        _ if params.get("ATTACH").is_some() => Ok(String::new()),
        _ => Err(ApiErr::bad("MESSAGE_EMPTY", "Message can't be empty")),
    }
}

fn bot_message_add(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    app_only(ctx)?;
    let bot = bot_of(portal, params)?;
    let dialog = params
        .str("DIALOG_ID")
        .ok_or_else(|| ApiErr::bad("DIALOG_ID_EMPTY", "Dialog ID can't be empty"))?;
    let text = message_text(params)?;
    let chat = resolve_dialog(portal, bot, &dialog)?;
    Ok(Reply::of(portal.add_message(dialog, chat, bot, text)))
}

/// The live message whose id is under `key`; a missing id or message is a `code` error.
fn message<'p>(
    portal: &'p mut Portal,
    params: &Params,
    key: &str,
    code: &str,
) -> Result<&'p mut StoredMessage, ApiErr> {
    let id = params.req_int(key, code)?;
    portal
        .message_mut(id)
        .ok_or_else(|| ApiErr::bad(code, "Message not found"))
}

fn message_update(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let message = message(portal, params, "MESSAGE_ID", "MESSAGE_ID_ERROR")?;
    message.text = params.str("MESSAGE").unwrap_or_default();
    Ok(Reply::of(true))
}

fn message_delete(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    message(portal, params, "MESSAGE_ID", "MESSAGE_ID_ERROR")?.deleted = true;
    Ok(Reply::of(true))
}

fn message_like(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    message(portal, params, "MESSAGE_ID", "MESSAGE_ID_ERROR")?;
    Ok(Reply::of(true))
}

/// A person's message: stored, then delivered to every bot of the chat it is addressed to.
fn user_message_add(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    let dialog = params
        .str("DIALOG_ID")
        .ok_or_else(|| ApiErr::bad("DIALOG_ID_EMPTY", "Dialog ID can't be empty"))?;
    let text = message_text(params)?;
    let author = ctx.user_id;
    let chat_id = resolve_dialog(portal, author, &dialog)?;
    let previous = portal
        .messages
        .iter()
        .rev()
        .find(|m| m.chat_id == chat_id)
        .map_or(0, |m| m.id);
    let message_id = portal.add_message(dialog, chat_id, author, text.clone());
    let Some(chat) = portal.chats.get(&chat_id).cloned() else {
        return Ok(Reply::of(message_id));
    };
    let mentioned = mentions(&text);
    let bots: Vec<Bot> = chat
        .members
        .iter()
        .filter(|m| **m != author)
        .filter_map(|m| portal.bots.get(m).cloned())
        .collect();
    for bot in bots {
        let command = text.strip_prefix('/').and_then(|rest| {
            let name = rest.split_whitespace().next().unwrap_or_default();
            portal
                .commands
                .values()
                .find(|c| c.bot_id == bot.id && c.command.eq_ignore_ascii_case(name))
                .cloned()
        });
        // In a group a bot sees what mentions it (a supervisor bot sees everything).
        let addressed = chat.kind == "P" || mentioned.contains(&bot.id) || bot.kind == "S";
        if command.is_none() && !addressed {
            continue;
        }
        let message = Said {
            id: message_id,
            previous,
            author,
            original: &text,
            text: if chat.kind == "P" {
                text.clone()
            } else {
                strip_mention(&text, bot.id)
            },
            mentioned: mentioned.contains(&bot.id),
        };
        if bot.v2 {
            let mut data = json!({
                "message": events::v2_message(message_id, chat_id, author, &text),
                "chat": events::v2_chat(&chat, bot.id),
                "user": events::v2_user_full(portal, author),
                "language": "en",
            });
            let kind = match &command {
                Some(command) => {
                    data["command"] = json!({
                        "id": command.id,
                        "command": format!("/{}", command.command),
                        "params": command_params(&text),
                        "context": "textarea",
                    });
                    "ONIMBOTV2COMMANDADD"
                }
                None => "ONIMBOTV2MESSAGEADD",
            };
            emit_v2(
                portal,
                ctx.shared,
                &bot,
                kind,
                author,
                data,
                &mut ctx.events,
            );
            continue;
        }
        let (event, url, mut data) = match command {
            Some(command) => {
                let block = events::command_block(
                    portal,
                    ctx.shared,
                    &bot,
                    &command,
                    command_params(&text),
                    message_id,
                );
                let data = json!({
                    "COMMAND": block,
                    "PARAMS": message_params(portal, &chat, &bot, &message, true),
                    "USER": events::user_block(portal, author, UserShape::Command),
                });
                ("ONIMCOMMANDADD", Some(command.handler), data)
            }
            None => {
                let url = bot.handlers.get("ONIMBOTMESSAGEADD").cloned();
                let data = json!({
                    "BOT": events::bot_block(portal, ctx.shared, &bot),
                    "PARAMS": message_params(portal, &chat, &bot, &message, false),
                    "USER": events::user_block(portal, author, UserShape::Message),
                });
                ("ONIMBOTMESSAGEADD", url, data)
            }
        };
        let Some(url) = url else { continue };
        if data["PARAMS"].is_null() {
            data["PARAMS"] = json!({});
        }
        let body = events::build(portal, ctx.shared, event, 0, author, data, AuthShape::Full);
        ctx.events.push(PendingEvent { url, body });
    }
    Ok(Reply::of(message_id))
}

/// A message as one bot sees it.
struct Said<'a> {
    id: i64,
    /// The chat's message before it (0: none).
    previous: i64,
    author: i64,
    /// The text as written.
    original: &'a str,
    /// The text without the bot's mention.
    text: String,
    mentioned: bool,
}

/// What follows a `/command`.
fn command_params(text: &str) -> &str {
    text.trim_start_matches('/')
        .split_once(' ')
        .map_or("", |(_, p)| p.trim())
}

/// User ids mentioned with `[USER=<id>]...[/USER]`.
fn mentions(text: &str) -> BTreeSet<i64> {
    text.match_indices("[USER=")
        .filter_map(|(at, tag)| {
            let rest = &text[at + tag.len()..];
            rest[..rest.find(']')?].trim().parse().ok()
        })
        .collect()
}

/// `text` without `bot_id`'s mention tags and the space after each, as `MESSAGE` carries it
/// (`MESSAGE_ORIGINAL` keeps them).
fn strip_mention(text: &str, bot_id: i64) -> String {
    let open = format!("[USER={bot_id}]");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&open) {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        match after.find("[/USER]") {
            Some(end) => {
                let tail = &after[end + "[/USER]".len()..];
                rest = tail.strip_prefix(' ').unwrap_or(tail);
            }
            None => {
                out.push_str(after);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// `data[PARAMS]` of a classic message (or command) event, with the members the documented
/// examples have for a private dialog or a group chat.
fn message_params(
    portal: &mut Portal,
    chat: &Chat,
    bot: &Bot,
    said: &Said,
    command: bool,
) -> Value {
    let template = {
        let t = portal.token(16);
        format!(
            "{}-{}-{}-{}-{}",
            &t[..8],
            &t[8..12],
            &t[12..16],
            &t[16..20],
            &t[20..]
        )
    };
    let flags_n = [
        "PUSH_IMPORTANT",
        "RECENT_SKIP_AUTHOR",
        "CONVERT",
        "SKIP_COMMAND",
        "SKIP_COUNTER_INCREMENTS",
        "SILENT_CONNECTOR",
        "SKIP_CONNECTOR",
        "IMPORTANT_CONNECTOR",
        "NO_SESSION_OL",
        "SKIP_URL_INDEX",
    ];
    let mut p = Map::new();
    let mut put = |k: &str, v: Value| {
        p.insert(k.to_owned(), v);
    };
    put("MESSAGE", json!(said.text));
    put("TEMPLATE_ID", json!(template));
    put("MESSAGE_TYPE", json!(chat.kind));
    put("FROM_USER_ID", json!(said.author));
    put("TO_CHAT_ID", json!(chat.id));
    put("AUTHOR_ID", json!(said.author));
    put("SYSTEM", json!("N"));
    put("PUSH", json!("Y"));
    for flag in flags_n {
        put(flag, json!("N"));
    }
    put("FAKE_RELATION", json!("0"));
    put("MESSAGE_ID", json!(said.id));
    put("CHAT_TYPE", json!(chat.kind));
    put("LANGUAGE", json!("en"));
    if chat.kind == "P" {
        put("DIALOG_ID", json!(said.author));
        put("TO_USER_ID", json!(bot.id));
        if command {
            put("SKIP_USER_CHECK", json!("Y"));
            put("RECENT_ADD", json!("Y"));
        } else {
            put("COMMAND_CONTEXT", json!("TEXTAREA"));
            put("CHAT_USER_COUNT", json!(chat.members.len()));
            put("PLATFORM_CONTEXT", json!("web"));
        }
        return Value::Object(p);
    }
    put("DIALOG_ID", json!(format!("chat{}", chat.id)));
    put("CHAT_ID", json!(chat.id));
    put("CHAT_TITLE", json!(chat.title));
    put(
        "CHAT_AUTHOR_ID",
        json!(chat.members.first().copied().unwrap_or(0)),
    );
    put("CHAT_AVATAR", json!("0"));
    put("CHAT_COLOR", json!("BROWN"));
    for key in [
        "CHAT_ENTITY_TYPE",
        "CHAT_ENTITY_ID",
        "CHAT_ENTITY_DATA_1",
        "CHAT_ENTITY_DATA_2",
        "CHAT_ENTITY_DATA_3",
    ] {
        put(key, json!(""));
    }
    put("CHAT_EXTRANET", json!("N"));
    put("CHAT_PREV_MESSAGE_ID", json!(said.previous));
    put("CHAT_CAN_POST", json!("MEMBER"));
    put("RID", json!(said.author));
    put("IS_MANAGER", json!("N"));
    put("COMMAND_CONTEXT", json!("TEXTAREA"));
    put("CHAT_USER_COUNT", json!(chat.members.len()));
    put("PLATFORM_CONTEXT", json!("web"));
    put("TO_USER_ID", json!(if said.mentioned { bot.id } else { 0 }));
    if said.mentioned {
        put("MENTIONED_LIST", json!({ bot.id.to_string(): bot.id }));
        put("MESSAGE_ORIGINAL", json!(said.original));
    }
    Value::Object(p)
}

/// Sends a v2 event: POSTed to the bot's webhook, or queued for `imbot.v2.Event.get` with the
/// bot's full description.
fn emit_v2(
    portal: &mut Portal,
    shared: &Shared,
    bot: &Bot,
    kind: &str,
    user_id: i64,
    mut data: Value,
    out: &mut Vec<PendingEvent>,
) {
    match &bot.webhook {
        Some(url) => {
            let body = events::build_v2_webhook(portal, shared, kind, bot, user_id, data);
            out.push(PendingEvent {
                url: url.clone(),
                body,
            });
        }
        None => {
            data["bot"] = events::v2_bot(bot);
            portal.queue_event(bot.id, kind, data);
        }
    }
}

/// `bot` joined `chat` (added by `user_id`, or `user_id` opened its private dialog): its
/// `ONIMBOTJOINCHAT` (`ONIMBOTV2JOINCHAT`).
pub(crate) fn joined(
    portal: &mut Portal,
    shared: &Shared,
    bot: &Bot,
    chat: &Chat,
    user_id: i64,
    out: &mut Vec<PendingEvent>,
) {
    if bot.v2 {
        let chat_value = events::v2_chat(chat, bot.id);
        let data = json!({
            "dialogId": chat_value["dialogId"],
            "chat": chat_value,
            "user": events::v2_user_full(portal, user_id),
            "language": "en",
        });
        emit_v2(portal, shared, bot, "ONIMBOTV2JOINCHAT", user_id, data, out);
        return;
    }
    let Some(url) = bot.handlers.get("ONIMBOTJOINCHAT").cloned() else {
        return;
    };
    let params = if chat.kind == "P" {
        json!({
            "CHAT_TYPE": "P",
            "MESSAGE_TYPE": "P",
            "BOT_ID": bot.id,
            "USER_ID": user_id,
            "TO_USER_ID": user_id,
            "FROM_USER_ID": bot.id,
            "DIALOG_ID": user_id,
            "LANGUAGE": "en",
        })
    } else {
        json!({
            "CHAT_TYPE": chat.kind,
            "MESSAGE_TYPE": chat.kind,
            "BOT_ID": bot.id,
            "USER_ID": user_id,
            "CHAT_ID": chat.id,
            "CHAT_AUTHOR_ID": chat.members.first().copied().unwrap_or(0),
            "CHAT_ENTITY_TYPE": "",
            "CHAT_ENTITY_ID": "",
            "ACCESS_HISTORY": "1",
            "DIALOG_ID": format!("chat{}", chat.id),
            "LANGUAGE": "en",
        })
    };
    let data = json!({
        "BOT": events::bot_block(portal, shared, bot),
        "PARAMS": params,
        "USER": events::user_block(portal, user_id, UserShape::Join),
    });
    let body = events::build(
        portal,
        shared,
        "ONIMBOTJOINCHAT",
        0,
        user_id,
        data,
        AuthShape::NoRefresh,
    );
    out.push(PendingEvent { url, body });
}

/// Join events for the bots among `added` that are now members of `chat_id`.
fn bots_joined(portal: &mut Portal, ctx: &mut Ctx, chat_id: i64, added: &[i64]) {
    let Some(chat) = portal.chats.get(&chat_id).cloned() else {
        return;
    };
    let bots: Vec<Bot> = added
        .iter()
        .filter(|id| **id != ctx.user_id)
        .filter_map(|id| portal.bots.get(id).cloned())
        .collect();
    for bot in bots {
        joined(
            portal,
            ctx.shared,
            &bot,
            &chat,
            ctx.user_id,
            &mut ctx.events,
        );
    }
}

// ------------------------------------------------------------------ chats

fn chat_add(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    let owner = if ctx.via == Via::OAuth {
        bot_of(portal, params).unwrap_or(ctx.user_id)
    } else {
        ctx.user_id
    };
    let mut members = vec![owner];
    for user in params.list("USERS") {
        match super::params::int(&user) {
            Some(id) if portal.users.contains_key(&id) => members.push(id),
            _ => return Err(ApiErr::bad("USERS_ERROR", "User list is not valid")),
        }
    }
    let title = params.str("TITLE").unwrap_or_else(|| "New chat".into());
    let added = members[1..].to_vec();
    let id = portal.new_chat(title, "C", members);
    bots_joined(portal, ctx, id, &added);
    Ok(Reply::of(id))
}

fn chat_of(portal: &Portal, params: &Params) -> Result<i64, ApiErr> {
    let id = params.req_int("CHAT_ID", "CHAT_ID_EMPTY")?;
    portal
        .chats
        .contains_key(&id)
        .then_some(id)
        .ok_or_else(|| ApiErr::bad("CHAT_ID_EMPTY", "Chat not found"))
}

fn chat_get(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let id = chat_of(portal, params)?;
    Ok(Reply::of(json!({"ID": id})))
}

fn chat_leave(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let id = chat_of(portal, params)?;
    let bot = bot_of(portal, params)?;
    if let Some(chat) = portal.chats.get_mut(&id) {
        chat.members.retain(|m| *m != bot);
    }
    Ok(Reply::of(true))
}

fn chat_update_title(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let id = chat_of(portal, params)?;
    let title = params
        .str("TITLE")
        .ok_or_else(|| ApiErr::bad("TITLE_EMPTY", "Title can't be empty"))?;
    if let Some(chat) = portal.chats.get_mut(&id) {
        chat.title = title;
    }
    Ok(Reply::of(true))
}

fn chat_user_add(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    let id = chat_of(portal, params)?;
    let users: Vec<i64> = params
        .list("USERS")
        .iter()
        .filter_map(super::params::int)
        .collect();
    if users.is_empty() || users.iter().any(|u| !portal.users.contains_key(u)) {
        return Err(ApiErr::bad("WRONG_REQUEST", "User list is not valid"));
    }
    let mut added = Vec::new();
    if let Some(chat) = portal.chats.get_mut(&id) {
        for user in users {
            if !chat.members.contains(&user) {
                chat.members.push(user);
                added.push(user);
            }
        }
    }
    bots_joined(portal, ctx, id, &added);
    Ok(Reply::of(true))
}

fn chat_user_delete(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let id = chat_of(portal, params)?;
    let user = params.req_int("USER_ID", "USER_ID_EMPTY")?;
    if let Some(chat) = portal.chats.get_mut(&id) {
        chat.members.retain(|m| *m != user);
    }
    Ok(Reply::of(true))
}

fn chat_user_list(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let id = chat_of(portal, params)?;
    Ok(Reply::of(json!(
        portal
            .chats
            .get(&id)
            .map(|c| c.members.clone())
            .unwrap_or_default()
    )))
}

// ------------------------------------------------------------------ commands

fn command_register(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    app_only(ctx)?;
    let bot_id = bot_of(portal, params)?;
    let command = params
        .str("COMMAND")
        .ok_or_else(|| ApiErr::bad("COMMAND_ERROR", "Command isn't specified"))?;
    let handler = params
        .str("EVENT_COMMAND_ADD")
        .filter(|u| is_url(u))
        .ok_or_else(|| ApiErr::bad("EVENT_COMMAND_ADD", "Event handler is not a valid URL"))?;
    let command = command.trim_start_matches('/').to_owned();
    // The same command of the same bot again (a reinstall) keeps its id.
    if let Some(existing) = portal
        .commands
        .values_mut()
        .find(|c| c.bot_id == bot_id && c.command.eq_ignore_ascii_case(&command))
    {
        existing.handler = handler;
        return Ok(Reply::of(existing.id));
    }
    let id = portal.next_command_id;
    portal.next_command_id += 1;
    portal.commands.insert(
        id,
        Command {
            id,
            bot_id,
            command,
            handler,
        },
    );
    Ok(Reply::of(id))
}

fn command_unregister(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    app_only(ctx)?;
    let id = params.req_int("COMMAND_ID", "COMMAND_ID_ERROR")?;
    portal
        .commands
        .remove(&id)
        .ok_or_else(|| ApiErr::bad("COMMAND_ID_ERROR", "Command not found"))?;
    Ok(Reply::of(true))
}

fn command_answer(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    app_only(ctx)?;
    let command_id = params.req_int("COMMAND_ID", "COMMAND_ID_ERROR")?;
    let command = portal
        .commands
        .get(&command_id)
        .cloned()
        .ok_or_else(|| ApiErr::bad("COMMAND_ID_ERROR", "Command not found"))?;
    let origin = message(portal, params, "MESSAGE_ID", "MESSAGE_ID_ERROR")?;
    let (chat, author) = (origin.chat_id, origin.author_id);
    let text = message_text(params)?;
    let dialog = if portal.chats.get(&chat).is_some_and(|c| c.kind == "P") {
        author.to_string()
    } else {
        format!("chat{chat}")
    };
    Ok(Reply::of(portal.add_message(
        dialog,
        chat,
        command.bot_id,
        text,
    )))
}

// ------------------------------------------------------------------ imbot.v2

fn v2_user(portal: &Portal, id: i64) -> Value {
    let user = portal.users.get(&id).cloned().unwrap_or_default();
    let name = |k: &str| user.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    json!({"id": id, "name": format!("{} {}", name("NAME"), name("LAST_NAME")).trim(), "firstName": name("NAME"), "lastName": name("LAST_NAME"), "bot": true, "type": "bot"})
}

fn v2_bot_result(portal: &Portal, id: i64) -> Result<Reply, ApiErr> {
    let bot = portal
        .bots
        .get(&id)
        .ok_or_else(|| ApiErr::bad("BOT_NOT_FOUND", "Bot not found"))?;
    Ok(Reply::of(
        json!({"bot": events::v2_bot(bot), "users": [v2_user(portal, id)]}),
    ))
}

fn v2_register(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let fields = params.nested("fields");
    let code = fields
        .str("code")
        .ok_or_else(|| ApiErr::bad("BOT_CODE_REQUIRED", "Bot code is required"))?;
    if let Some(id) = portal.bots.values().find(|b| b.code == code).map(|b| b.id) {
        return v2_bot_result(portal, id);
    }
    let properties = fields.nested("properties");
    let name = properties
        .str("name")
        .ok_or_else(|| ApiErr::bad("BOT_PROPERTIES_REQUIRED", "Bot name is required"))?;
    let last_name = properties.str("lastName").unwrap_or_default();
    let webhook = match fields.str("eventMode").as_deref() {
        None | Some("fetch") => None,
        Some("webhook") => Some(fields.str("webhookUrl").filter(|u| is_url(u)).ok_or_else(
            || {
                ApiErr::bad(
                    "BOT_WEBHOOK_URL_REQUIRED",
                    "webhookUrl is required in webhook mode",
                )
            },
        )?),
        Some(_) => {
            return Err(ApiErr::bad(
                "BOT_INVALID_EVENT_MODE",
                "eventMode must be fetch or webhook",
            ));
        }
    };
    let id = new_bot_user(portal, &name, &last_name);
    let openline = fields.flag("isSupportOpenline").unwrap_or(false);
    portal.bots.insert(
        id,
        Bot {
            id,
            code,
            name,
            kind: fields.str("type").unwrap_or_else(|| "bot".to_owned()),
            openline,
            handlers: BTreeMap::new(),
            v2: true,
            webhook,
        },
    );
    v2_bot_result(portal, id)
}

fn v2_bot_id(portal: &Portal, params: &Params) -> Result<i64, ApiErr> {
    if let Some(id) = params.int("botId")? {
        return portal
            .bots
            .contains_key(&id)
            .then_some(id)
            .ok_or_else(|| ApiErr::bad("BOT_NOT_FOUND", "Bot not found"));
    }
    let code = params
        .str("code")
        .ok_or_else(|| ApiErr::bad("BOT_ID_REQUIRED", "Bot id is required"))?;
    portal
        .bots
        .values()
        .find(|b| b.code == code)
        .map(|b| b.id)
        .ok_or_else(|| ApiErr::bad("BOT_NOT_FOUND", "Bot not found"))
}

fn v2_get(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let id = v2_bot_id(portal, params)?;
    v2_bot_result(portal, id)
}

fn v2_list(portal: &mut Portal, _: &mut Ctx, _: &Params) -> Outcome {
    let bots: Vec<Value> = portal.bots.values().map(events::v2_bot).collect();
    let users: Vec<Value> = portal.bots.keys().map(|id| v2_user(portal, *id)).collect();
    Ok(Reply::of(
        json!({"bots": bots, "users": users, "hasNextPage": false}),
    ))
}

fn v2_unregister(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    let id = v2_bot_id(portal, params)?;
    remove_bot(portal, ctx, id);
    Ok(Reply::of(json!({"result": true})))
}

/// The queue of a fetch-mode bot: confirms (drops) events below `offset`, returns up to
/// `limit` of the rest.
fn v2_event_get(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let bot = match params.int("botId")? {
        Some(id) => id,
        None => return Err(ApiErr::bad("BOT_ID_REQUIRED", "Bot id is required")),
    };
    if !portal.bots.get(&bot).is_some_and(|b| b.v2) {
        return Err(ApiErr::bad("BOT_NOT_FOUND", "Bot not found"));
    }
    let offset = params.int("offset")?;
    let limit = params.int("limit")?.unwrap_or(100).clamp(1, 1000) as usize;
    let next_id = portal.next_event_id;
    let queue = portal.queues.entry(bot).or_default();
    if let Some(offset) = offset {
        while queue.front().is_some_and(|e| e.id < offset) {
            queue.pop_front();
        }
    }
    let events: Vec<Value> = queue
        .iter()
        .take(limit)
        .map(|e| json!({"eventId": e.id, "type": e.kind, "date": e.date, "data": e.data}))
        .collect();
    let next_offset = queue
        .get(limit.min(queue.len()).wrapping_sub(1))
        .map_or(offset.unwrap_or(next_id), |e| e.id + 1);
    Ok(Reply::of(json!({
        "events": events,
        "nextOffset": next_offset,
        "hasMore": queue.len() > limit,
    })))
}

fn v2_command_register(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let bot_id = v2_bot_id(portal, params)?;
    let fields = params.nested("fields");
    let command = fields
        .str("command")
        .map(|c| c.trim().trim_start_matches('/').to_owned())
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiErr::bad("COMMAND_REQUIRED", "Command is required"))?;
    let existing = portal
        .commands
        .values()
        .find(|c| c.bot_id == bot_id && c.command.eq_ignore_ascii_case(&command))
        .map(|c| c.id);
    let id = existing.unwrap_or_else(|| {
        let id = portal.next_command_id;
        portal.next_command_id += 1;
        portal.commands.insert(
            id,
            Command {
                id,
                bot_id,
                command: command.clone(),
                handler: String::new(),
            },
        );
        id
    });
    Ok(Reply::of(json!({"command": {
        "id": id,
        "botId": bot_id,
        "command": format!("/{command}"),
        "common": fields.flag("common").unwrap_or(false),
        "hidden": fields.flag("hidden").unwrap_or(false),
        "extranetSupport": fields.flag("extranetSupport").unwrap_or(false),
    }})))
}

fn v2_command_answer(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let bot = v2_bot_id(portal, params)?;
    let command_id = params.req_int("commandId", "COMMAND_ANSWER_FAILED")?;
    if portal
        .commands
        .get(&command_id)
        .is_none_or(|c| c.bot_id != bot)
    {
        return Err(ApiErr::bad("COMMAND_ANSWER_FAILED", "Command not found"));
    }
    message(portal, params, "messageId", "COMMAND_ANSWER_FAILED")?;
    let dialog = params
        .str("dialogId")
        .ok_or_else(|| ApiErr::bad("DIALOG_ID_EMPTY", "Dialog id is required"))?;
    let text = params
        .nested("fields")
        .str("message")
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| ApiErr::bad("EMPTY_MESSAGE", "Message can't be empty"))?;
    let chat = resolve_dialog(portal, bot, &dialog)?;
    portal.add_message(dialog, chat, bot, text);
    Ok(Reply::of(json!({"result": true})))
}

fn v2_send(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let bot = v2_bot_id(portal, params)?;
    let dialog = params
        .str("dialogId")
        .ok_or_else(|| ApiErr::bad("DIALOG_ID_EMPTY", "Dialog id is required"))?;
    let fields = params.nested("fields");
    let text = fields.str("message").filter(|m| !m.trim().is_empty());
    let text = match text {
        Some(text) => text,
        None if fields.get("attach").is_some() => String::new(),
        None => return Err(ApiErr::bad("EMPTY_MESSAGE", "Message can't be empty")),
    };
    let chat = resolve_dialog(portal, bot, &dialog)?;
    let id = portal.add_message(dialog, chat, bot, text);
    Ok(Reply::of(json!({"id": id, "uuidMap": []})))
}

fn v2_update(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    v2_bot_id(portal, params)?;
    let message = message(portal, params, "messageId", "MESSAGE_NOT_FOUND")?;
    message.text = params.nested("fields").str("message").unwrap_or_default();
    Ok(Reply::of(json!({"result": true})))
}

fn v2_delete(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    v2_bot_id(portal, params)?;
    message(portal, params, "messageId", "MESSAGE_NOT_FOUND")?.deleted = true;
    Ok(Reply::of(json!({"result": true})))
}
