//! Methods every application has: profile, app.info, scope, methods, server.time, events and
//! event handlers, and the `user` scope.

use serde_json::{Value, json};

use super::data::{Portal, iso_now};
use super::params::{ApiErr, Outcome, Params, Reply, Res};
use super::server::{Ctx, Handler, Via, classic_methods};

pub(crate) const METHODS: &[(&str, &str, Handler)] = &[
    ("profile", "basic", profile),
    ("app.info", "basic", app_info),
    ("scope", "basic", scope),
    ("methods", "basic", methods),
    ("method.get", "basic", method_get),
    ("server.time", "basic", server_time),
    ("events", "basic", events),
    ("event.bind", "basic", event_bind),
    ("event.unbind", "basic", event_unbind),
    ("event.get", "basic", event_get),
    ("event.offline.get", "basic", offline_get),
    ("event.offline.list", "basic", offline_list),
    ("event.offline.clear", "basic", offline_clear),
    ("event.offline.error", "basic", offline_error),
    ("user.current", "user", user_current),
    ("user.get", "user", user_get),
];

/// Events the sandbox knows and can deliver.
const EVENTS: &[&str] = &[
    "ONAPPINSTALL",
    "ONAPPUNINSTALL",
    "ONCRMDEALADD",
    "ONCRMDEALUPDATE",
    "ONCRMDEALDELETE",
    "ONIMBOTMESSAGEADD",
    "ONIMBOTJOINCHAT",
    "ONIMBOTDELETE",
    "ONIMCOMMANDADD",
];

fn profile(portal: &mut Portal, ctx: &mut Ctx, _: &Params) -> Outcome {
    let user = portal.users.get(&ctx.user_id).cloned().unwrap_or_default();
    let field = |k: &str| user.get(k).cloned().unwrap_or(Value::String(String::new()));
    Ok(Reply::of(json!({
        "ID": ctx.user_id.to_string(),
        "ADMIN": ctx.user_id == 1,
        "NAME": field("NAME"),
        "LAST_NAME": field("LAST_NAME"),
        "PERSONAL_GENDER": "",
        "PERSONAL_PHOTO": "",
        "TIME_ZONE": "",
        "TIME_ZONE_OFFSET": 0,
    })))
}

fn app_info(_: &mut Portal, ctx: &mut Ctx, _: &Params) -> Outcome {
    if ctx.via == Via::Webhook {
        return Err(ApiErr::new(
            401,
            "WRONG_AUTH_TYPE",
            "Current authorization type is denied for this method",
        ));
    }
    Ok(Reply::of(json!({
        "ID": 7,
        "CODE": "local.sandbox",
        "VERSION": 1,
        "STATUS": "L",
        "INSTALLED": true,
        "PAYMENT_EXPIRED": "N",
        "DAYS": 0,
        "LANGUAGE_ID": "en",
        "LICENSE": "en_ent250",
        "LICENSE_TYPE": "ent250",
        "LICENSE_FAMILY": "ent",
    })))
}

fn scope(_: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    let _ = params.flag("full");
    Ok(Reply::of(json!(ctx.shared.config.scopes)))
}

fn methods(_: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    let only = params.str("scope");
    let full = params.flag("full").unwrap_or(false);
    let names: Vec<&str> = classic_methods()
        .filter(|(_, scope, _)| only.as_deref().is_none_or(|s| s == *scope))
        .filter(|(_, scope, _)| full || ctx.shared.grants(scope))
        .map(|(name, _, _)| name)
        .collect();
    Ok(Reply::of(json!(names)))
}

fn method_get(_: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    let name = params.str("name").unwrap_or_default().to_ascii_lowercase();
    let found = classic_methods().find(|(n, _, _)| n.eq_ignore_ascii_case(&name));
    let available = found.is_some_and(|(_, scope, _)| ctx.shared.grants(scope));
    Ok(Reply::of(
        json!({"isExisting": found.is_some(), "isAvailable": available}),
    ))
}

fn server_time(_: &mut Portal, _: &mut Ctx, _: &Params) -> Outcome {
    Ok(Reply::of(iso_now()))
}

fn events(_: &mut Portal, _: &mut Ctx, _: &Params) -> Outcome {
    Ok(Reply::of(json!(EVENTS)))
}

fn event_bind(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    if ctx.via == Via::Webhook {
        return Err(ApiErr::new(
            401,
            "WRONG_AUTH_TYPE",
            "Current authorization type is denied for this method",
        ));
    }
    let event = params.str("event").unwrap_or_default().to_ascii_uppercase();
    let handler = params.str("handler").unwrap_or_default();
    let offline = params.str("event_type").as_deref() == Some("offline");
    if !EVENTS.contains(&event.as_str()) {
        return Err(ApiErr::bad("ERROR_EVENT_NOT_FOUND", "Event not found"));
    }
    if !offline && !handler.starts_with("http://") && !handler.starts_with("https://") {
        return Err(ApiErr::bad("ERROR_ARGUMENT", "Handler URL is not valid"));
    }
    if portal
        .handlers
        .iter()
        .any(|h| h.event == event && h.handler == handler && h.offline == offline)
    {
        return Err(ApiErr::bad(
            "ERROR_HANDLER_ALREADY_EXIST",
            "Handler already exists!",
        ));
    }
    let user_id = params.int("auth_type")?.unwrap_or(0);
    portal.handlers.push(super::data::EventHandler {
        event,
        handler,
        user_id,
        offline,
    });
    Ok(Reply::of(true))
}

fn event_unbind(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let event = params.str("event").unwrap_or_default().to_ascii_uppercase();
    let handler = params.str("handler").unwrap_or_default();
    let before = portal.handlers.len();
    portal
        .handlers
        .retain(|h| !(h.event == event && h.handler == handler));
    Ok(Reply::of(json!({"count": before - portal.handlers.len()})))
}

fn event_get(portal: &mut Portal, _: &mut Ctx, _: &Params) -> Outcome {
    let handlers: Vec<Value> = portal
        .handlers
        .iter()
        .map(|h| json!({"event": h.event, "handler": h.handler, "auth_type": h.user_id.to_string(), "offline": u8::from(h.offline)}))
        .collect();
    Ok(Reply::of(json!(handlers)))
}

/// The record as `event.offline.get` (`full`: `event.offline.list`) shows it.
fn offline_record(r: &super::data::OfflineRecord, full: bool) -> Value {
    let mut row = json!({
        "ID": r.id.to_string(),
        "TIMESTAMP_X": r.changed,
        "EVENT_NAME": r.event,
        "EVENT_DATA": r.data,
        "EVENT_ADDITIONAL": false,
        "MESSAGE_ID": r.message_id,
    });
    if full {
        row["PROCESS_ID"] = json!(r.process_id);
        row["ERROR"] = json!(if r.error { "1" } else { "0" });
    }
    row
}

/// Takes records: with `clear=0` they are reserved for a process (the given `process_id`, whose
/// unsettled records come again, or a new one) until `event.offline.clear`/`error`; by default
/// they are removed at once.
fn offline_get(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let limit = usize::try_from(params.int("limit")?.unwrap_or(50).clamp(1, 1000)).unwrap_or(50);
    let clear = params.flag("clear").unwrap_or(true);
    let with_errors = params.flag("error").unwrap_or(false);
    let process_id = params.str("process_id").unwrap_or_else(|| portal.token(16));
    let held = portal
        .offline
        .iter()
        .filter(|r| r.process_id == process_id)
        .count();
    let mut room = limit.saturating_sub(held);
    for r in portal.offline.iter_mut() {
        if room == 0 {
            break;
        }
        if r.process_id.is_empty() && (with_errors || !r.error) {
            r.process_id.clone_from(&process_id);
            room -= 1;
        }
    }
    let events: Vec<Value> = portal
        .offline
        .iter()
        .filter(|r| r.process_id == process_id)
        .take(limit)
        .map(|r| offline_record(r, false))
        .collect();
    if clear {
        portal.offline.retain(|r| r.process_id != process_id);
        return Ok(Reply::of(json!({"process_id": null, "events": events})));
    }
    Ok(Reply::of(
        json!({"process_id": process_id, "events": events}),
    ))
}

fn offline_list(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let start = params.int("start")?.unwrap_or(0);
    let (rows, total, next) = super::query::cut(start, portal.offline.iter());
    Ok(Reply {
        result: Res::Value(Value::Array(
            rows.into_iter().map(|r| offline_record(r, true)).collect(),
        )),
        total,
        next,
    })
}

/// The ids (`key`) a settling call names, as text; empty: all of the process.
fn named(params: &Params, key: &str) -> Vec<String> {
    params
        .list(key)
        .iter()
        .filter_map(super::params::text)
        .collect()
}

fn offline_clear(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let process_id = params
        .str("process_id")
        .ok_or_else(|| ApiErr::bad("ERROR_ARGUMENT", "process_id is required"))?;
    let (ids, messages) = (named(params, "id"), named(params, "message_id"));
    portal.offline.retain(|r| {
        let named = if !ids.is_empty() {
            ids.contains(&r.id.to_string())
        } else {
            messages.is_empty() || messages.contains(&r.message_id)
        };
        !(r.process_id == process_id && named)
    });
    Ok(Reply::of(true))
}

fn offline_error(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let process_id = params
        .str("process_id")
        .ok_or_else(|| ApiErr::bad("ERROR_ARGUMENT", "process_id is required"))?;
    let messages = named(params, "message_id");
    for r in portal.offline.iter_mut() {
        if r.process_id == process_id && messages.contains(&r.message_id) {
            r.process_id.clear();
            r.error = true;
        }
    }
    Ok(Reply::of(true))
}

fn user_current(portal: &mut Portal, ctx: &mut Ctx, _: &Params) -> Outcome {
    let user = portal
        .users
        .get(&ctx.user_id)
        .cloned()
        .ok_or_else(|| ApiErr::not_found("User"))?;
    Ok(Reply::of(Value::Object(user)))
}

fn user_get(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let filter = params.nested("FILTER");
    let matches = |user: &serde_json::Map<String, Value>| {
        filter.0.iter().all(|(key, want)| {
            let key = key.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
            let have = user
                .get(key)
                .and_then(super::params::text)
                .unwrap_or_default();
            super::params::text(want).is_some_and(|w| w == have)
        })
    };
    let start = params.int("start")?.unwrap_or(0);
    let rows = portal.users.values().filter(|u| matches(u));
    let (rows, total, next) = super::query::cut(start, rows);
    Ok(Reply {
        result: Res::Value(Value::Array(
            rows.into_iter().cloned().map(Value::Object).collect(),
        )),
        total,
        next,
    })
}
