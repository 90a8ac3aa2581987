//! `batch`: up to 50 commands in one request, each a `method?<PHP query>` string, run in
//! order against the same portal state, with `$result[key][field]` references to earlier
//! results and `halt` to stop at the first error.
//!
//! The answer has the documented five maps (`result`, `result_error`, `result_total`,
//! `result_next`, `result_time`); an empty one is `[]`, as PHP encodes an empty array.
//! Commands past the 50th are not run: each gets `ERROR_BATCH_LENGTH_EXCEEDED` in
//! `result_error` (what a portal does with the overflow; the docs list the code with status
//! 400). A batch is one request for the rate limit; for operating time it costs the sum of its
//! commands, each also charged to its own method (see [`super::limits`]). Only `$result`
//! references are documented, so only they are expanded.

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::data::Portal;
use super::params::{ApiErr, Outcome, Params, Reply, Res, text, write_str};
use super::server::{Ctx, execute, time_block};

/// Commands a batch runs; the rest get `ERROR_BATCH_LENGTH_EXCEEDED`.
pub(crate) const MAX_COMMANDS: usize = 50;

pub(crate) fn batch(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    let halt = params.flag("halt").unwrap_or(false);
    let commands: Vec<(String, String)> = match params.get("cmd") {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| (k.clone(), text(v).unwrap_or_default()))
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), text(v).unwrap_or_default()))
            .collect(),
        _ => Vec::new(),
    };
    let mut results: Vec<(String, Res)> = Vec::new();
    let mut errors = Map::new();
    let mut totals = Map::new();
    let mut nexts = Map::new();
    let mut times = Map::new();
    for (index, (key, command)) in commands.into_iter().enumerate() {
        if index >= MAX_COMMANDS {
            errors.insert(key, length_exceeded().classic_body());
            continue;
        }
        let started = Instant::now();
        let (method, outcome) = run(portal, ctx, &command, &results);
        match outcome {
            Ok(reply) => {
                times.insert(key.clone(), time_block(ctx.shared, &method, started));
                if let Some(total) = reply.total {
                    totals.insert(key.clone(), total.into());
                }
                if let Some(next) = reply.next {
                    nexts.insert(key.clone(), next.into());
                }
                results.push((key, reply.result));
            }
            Err(e) => {
                errors.insert(key, e.classic_body());
                if halt {
                    break;
                }
            }
        }
    }
    // Written by hand: the results may be raw JSON text (list pages).
    let mut out = Vec::new();
    out.extend_from_slice(b"{\"result\":");
    if results.is_empty() {
        out.extend_from_slice(b"[]");
    } else {
        out.push(b'{');
        for (i, (key, result)) in results.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(&mut out, key);
            out.push(b':');
            result.write(&mut out);
        }
        out.push(b'}');
    }
    for (name, map) in [
        ("result_error", errors),
        ("result_total", totals),
        ("result_next", nexts),
        ("result_time", times),
    ] {
        out.push(b',');
        write_str(&mut out, name);
        out.push(b':');
        Res::Value(php_map(map)).write(&mut out);
    }
    out.push(b'}');
    Ok(Reply {
        result: Res::Raw(String::from_utf8_lossy(&out).into_owned()),
        total: None,
        next: None,
    })
}

/// Runs one command; returns its method name with the outcome.
fn run(
    portal: &mut Portal,
    ctx: &mut Ctx,
    command: &str,
    results: &[(String, Res)],
) -> (String, Outcome) {
    let (method, query) = command.split_once('?').unwrap_or((command, ""));
    let method = method.trim().to_owned();
    if method.eq_ignore_ascii_case("batch") {
        return (method, Err(method_not_allowed()));
    }
    let mut params = match bitrix24::wire::php::decode(query) {
        Ok(Value::Object(map)) => map,
        Ok(_) => Map::new(),
        Err(e) => {
            let e = ApiErr::bad("INVALID_REQUEST", format!("cannot parse the command: {e}"));
            return (method, Err(e));
        }
    };
    let resolve = |path: &[&str]| -> Option<Value> {
        let (key, rest) = path.split_first()?;
        let (_, result) = results.iter().find(|(k, _)| k == key)?;
        match result {
            Res::Value(v) => descend(v, rest).cloned(),
            Res::Raw(text) => descend_raw(text, rest),
        }
    };
    for value in params.values_mut() {
        substitute(value, &resolve);
    }
    let outcome = execute(portal, ctx, &method, &Params(params));
    (method, outcome)
}

/// An empty PHP array is `[]` in JSON whatever it holds; Bitrix24 sends empty batch maps so.
fn php_map(map: Map<String, Value>) -> Value {
    if map.is_empty() {
        Value::Array(Vec::new())
    } else {
        Value::Object(map)
    }
}

/// What a command past the [`MAX_COMMANDS`]th gets instead of running.
pub(crate) fn length_exceeded() -> ApiErr {
    ApiErr::bad("ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
}

/// What a `batch` command inside a batch gets.
pub(crate) fn method_not_allowed() -> ApiErr {
    ApiErr::new(
        405,
        "ERROR_BATCH_METHOD_NOT_ALLOWED",
        "Method is not allowed for batch usage",
    )
}

/// Replaces `$result[key][field]...` inside string leaves with the referenced value.
fn substitute(value: &mut Value, resolve: &dyn Fn(&[&str]) -> Option<Value>) {
    match value {
        Value::String(s) if s.contains("$result[") => *s = expand(s, resolve),
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, resolve)),
        Value::Object(map) => map.values_mut().for_each(|v| substitute(v, resolve)),
        _ => {}
    }
}

/// `path` under a value: keys of objects, indexes of arrays.
fn descend<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |target, segment| match target {
        Value::Object(map) => map.get(*segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// [`descend`] in JSON text, parsing only the containers on the way (a reference to the last
/// row of a page does not build the whole page).
fn descend_raw(text: &str, path: &[&str]) -> Option<Value> {
    let mut current: &RawValue = serde_json::from_str(text).ok()?;
    for segment in path {
        let inner = current.get().trim_start();
        current = if inner.starts_with('[') {
            let items: Vec<&RawValue> = serde_json::from_str(inner).ok()?;
            items.get(segment.parse::<usize>().ok()?).copied()?
        } else if inner.starts_with('{') {
            let map: BTreeMap<String, &RawValue> = serde_json::from_str(inner).ok()?;
            map.get(*segment).copied()?
        } else {
            return None;
        };
    }
    serde_json::from_str(current.get()).ok()
}

fn expand(s: &str, resolve: &dyn Fn(&[&str]) -> Option<Value>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("$result[") {
        out.push_str(&rest[..at]);
        let mut cursor = &rest[at + "$result".len()..];
        let mut path = Vec::new();
        while let Some(inner) = cursor.strip_prefix('[') {
            let Some(end) = inner.find(']') else { break };
            path.push(&inner[..end]);
            cursor = &inner[end + 1..];
        }
        let target = resolve(&path);
        out.push_str(&target.as_ref().and_then(text).unwrap_or_default());
        rest = cursor;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_expand_to_earlier_results() {
        let json = r#"{"deal":{"ID":"7","CONTACTS":[11,12]},"n":5}"#;
        let value: Value = serde_json::from_str(json).unwrap();
        let from_value = |path: &[&str]| descend(&value, path).cloned();
        let from_text = |path: &[&str]| descend_raw(json, path);
        for resolve in [&from_value as &dyn Fn(&[&str]) -> Option<Value>, &from_text] {
            assert_eq!(expand("$result[deal][ID]", resolve), "7");
            assert_eq!(expand("x$result[deal][CONTACTS][1]y", resolve), "x12y");
            assert_eq!(expand("$result[n]", resolve), "5");
            assert_eq!(expand("$result[missing][ID]", resolve), "");
            assert_eq!(expand("$result[deal][CONTACTS][9]", resolve), "");
        }
    }
}
