//! Chats and bots: `imbot.*` (classic), the core of `imbot.v2.*`, and `im.*` messages. A user's
//! message to a bot's dialog makes the sandbox POST `ONIMBOTMESSAGEADD` (or `ONIMCOMMANDADD`
//! for a registered `/command`) to the bot's handler, like a portal.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::data::{Bot, Command, Portal, user_record};
use super::events::{self, PendingEvent};
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
            openline: params.flag("OPENLINE").unwrap_or(false),
            handlers,
            v2: false,
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
    portal.bots.remove(&id);
    portal.commands.retain(|_, c| c.bot_id != id);
    Ok(Reply::of(true))
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

fn message_update(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let id = params.req_int("MESSAGE_ID", "MESSAGE_ID_ERROR")?;
    let text = params.str("MESSAGE").unwrap_or_default();
    let message = portal
        .message_mut(id)
        .ok_or_else(|| ApiErr::bad("MESSAGE_ID_ERROR", "Message not found"))?;
    message.text = text;
    Ok(Reply::of(true))
}

fn message_delete(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let id = params.req_int("MESSAGE_ID", "MESSAGE_ID_ERROR")?;
    let message = portal
        .message_mut(id)
        .ok_or_else(|| ApiErr::bad("MESSAGE_ID_ERROR", "Message not found"))?;
    message.deleted = true;
    Ok(Reply::of(true))
}

fn message_like(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let id = params.req_int("MESSAGE_ID", "MESSAGE_ID_ERROR")?;
    portal
        .message_mut(id)
        .ok_or_else(|| ApiErr::bad("MESSAGE_ID_ERROR", "Message not found"))?;
    Ok(Reply::of(true))
}

/// A person's message: stored, then delivered to every bot in the chat with a handler.
fn user_message_add(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    let dialog = params
        .str("DIALOG_ID")
        .ok_or_else(|| ApiErr::bad("DIALOG_ID_EMPTY", "Dialog ID can't be empty"))?;
    let text = message_text(params)?;
    let author = ctx.user_id;
    let chat_id = resolve_dialog(portal, author, &dialog)?;
    let message_id = portal.add_message(dialog, chat_id, author, text.clone());
    let Some(chat) = portal.chats.get(&chat_id).cloned() else {
        return Ok(Reply::of(message_id));
    };
    let bots: Vec<Bot> = chat
        .members
        .iter()
        .filter(|m| **m != author)
        .filter_map(|m| portal.bots.get(m).cloned())
        .collect();
    for bot in bots {
        // From the bot's side a private dialog is the author's user id; a group is `chatN`.
        let bot_dialog = if chat.kind == "P" {
            author.to_string()
        } else {
            format!("chat{chat_id}")
        };
        let command = text.strip_prefix('/').and_then(|rest| {
            let name = rest.split_whitespace().next().unwrap_or_default();
            portal
                .commands
                .values()
                .find(|c| c.bot_id == bot.id && c.command.eq_ignore_ascii_case(name))
                .cloned()
        });
        let message = json!({
            "MESSAGE": text,
            "MESSAGE_ID": message_id,
            "MESSAGE_TYPE": chat.kind,
            "CHAT_TYPE": chat.kind,
            "DIALOG_ID": bot_dialog,
            "FROM_USER_ID": author,
            "TO_USER_ID": if chat.kind == "P" { bot.id } else { 0 },
            "TO_CHAT_ID": chat_id,
            "AUTHOR_ID": author,
            "SYSTEM": "N",
            "LANGUAGE": "en",
            "CHAT_USER_COUNT": chat.members.len(),
            "PLATFORM_CONTEXT": "web",
        });
        let user = events::user_block(portal, author);
        let (event, url, bot_block) = match command {
            Some(command) => {
                let params = text
                    .trim_start_matches('/')
                    .split_once(' ')
                    .map(|(_, p)| p)
                    .unwrap_or("");
                let block = json!({ command.id.to_string(): {
                    "AUTH": {}, "BOT_ID": bot.id, "BOT_CODE": bot.code, "COMMAND": command.command,
                    "COMMAND_ID": command.id, "COMMAND_PARAMS": params, "COMMAND_CONTEXT": "TEXTAREA",
                    "MESSAGE_ID": message_id,
                }});
                (
                    "ONIMCOMMANDADD",
                    Some(command.handler),
                    json!({"COMMAND": block}),
                )
            }
            None => {
                let url = bot.handlers.get("ONIMBOTMESSAGEADD").cloned();
                let block = json!({ bot.id.to_string(): {"BOT_ID": bot.id, "BOT_CODE": bot.code}});
                ("ONIMBOTMESSAGEADD", url, json!({"BOT": block}))
            }
        };
        let Some(url) = url else { continue };
        let mut data = bot_block;
        data["PARAMS"] = message;
        data["USER"] = user;
        let body = events::build(portal, ctx.shared, event, 0, author, data);
        ctx.events.push(PendingEvent { url, body });
    }
    Ok(Reply::of(message_id))
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
    Ok(Reply::of(portal.new_chat(title, "C", members)))
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

fn chat_user_add(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let id = chat_of(portal, params)?;
    let users: Vec<i64> = params
        .list("USERS")
        .iter()
        .filter_map(super::params::int)
        .collect();
    if users.is_empty() || users.iter().any(|u| !portal.users.contains_key(u)) {
        return Err(ApiErr::bad("WRONG_REQUEST", "User list is not valid"));
    }
    if let Some(chat) = portal.chats.get_mut(&id) {
        for user in users {
            if !chat.members.contains(&user) {
                chat.members.push(user);
            }
        }
    }
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
    let origin = params.req_int("MESSAGE_ID", "MESSAGE_ID_ERROR")?;
    let origin = portal
        .message_mut(origin)
        .map(|m| (m.dialog_id.clone(), m.chat_id, m.author_id));
    let (_, chat, author) =
        origin.ok_or_else(|| ApiErr::bad("MESSAGE_ID_ERROR", "Message not found"))?;
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

fn v2_bot(bot: &Bot) -> Value {
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
        "eventMode": if bot.handlers.is_empty() { "fetch" } else { "webhook" },
        "countMessage": 0,
        "countCommand": 0,
        "countChat": 0,
        "countUser": 0,
    })
}

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
        json!({"bot": v2_bot(bot), "users": [v2_user(portal, id)]}),
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
        .ok_or_else(|| ApiErr::bad("BOT_NAME_REQUIRED", "Bot name is required"))?;
    let last_name = properties.str("lastName").unwrap_or_default();
    let mut handlers = BTreeMap::new();
    if let Some(url) = fields.str("webhookUrl").filter(|u| is_url(u)) {
        handlers.insert("ONIMBOTV2MESSAGEADD".to_owned(), url);
    }
    let id = new_bot_user(portal, &name, &last_name);
    let openline = fields.flag("isSupportOpenline").unwrap_or(false);
    portal.bots.insert(
        id,
        Bot {
            id,
            code,
            name,
            openline,
            handlers,
            v2: true,
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
    let bots: Vec<Value> = portal.bots.values().map(v2_bot).collect();
    let users: Vec<Value> = portal.bots.keys().map(|id| v2_user(portal, *id)).collect();
    Ok(Reply::of(
        json!({"bots": bots, "users": users, "hasNextPage": false}),
    ))
}

fn v2_unregister(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let id = v2_bot_id(portal, params)?;
    portal.bots.remove(&id);
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
    let id = params.req_int("messageId", "MESSAGE_NOT_FOUND")?;
    let text = params.nested("fields").str("message").unwrap_or_default();
    let message = portal
        .message_mut(id)
        .ok_or_else(|| ApiErr::bad("MESSAGE_NOT_FOUND", "Message not found"))?;
    message.text = text;
    Ok(Reply::of(json!({"result": true})))
}

fn v2_delete(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    v2_bot_id(portal, params)?;
    let id = params.req_int("messageId", "MESSAGE_NOT_FOUND")?;
    let message = portal
        .message_mut(id)
        .ok_or_else(|| ApiErr::bad("MESSAGE_NOT_FOUND", "Message not found"))?;
    message.deleted = true;
    Ok(Reply::of(json!({"result": true})))
}
