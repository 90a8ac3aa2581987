//! Method parameters from the command line: `KEY=VALUE` (a string), `KEY:=JSON` (any JSON
//! value, or `KEY:=@file.json` to read it from a file), with PHP bracket keys that nest
//! (`FIELDS[TITLE]=x` gives `{"FIELDS":{"TITLE":"x"}}`) and `[]` that appends
//! (`select[]=ID select[]=TITLE` gives `{"select":["ID","TITLE"]}`).
//!
//! Keys may start with Bitrix24's filter operators (`>=ID=5` under `--filter`,
//! `filter[>=ID]=5` anywhere): the `=` that separates the value is the first one after the
//! name, outside brackets.

use serde_json::{Map, Value};

use crate::util::{Failure, Outcome};

/// Characters a filter key may start with: `>`, `>=`, `!@`, `%`, ...
const OPERATOR_CHARS: &[char] = &['!', '<', '>', '=', '%', '@', '*', '?'];

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// `name` or `[name]`.
    Key(String),
    /// `[]`: the next element.
    Append,
}

/// A parsed `KEY=VALUE` argument.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub path: Vec<Segment>,
    pub value: Value,
}

/// Parses one argument.
pub fn parse_assignment(arg: &str) -> Outcome<Assignment> {
    let shape = || {
        Failure::usage(format!(
            "{arg:?}: expected KEY=VALUE, KEY:=JSON or KEY[SUB]=VALUE"
        ))
    };
    // The top-level name: operator characters, then anything up to `[`, `=` or `:=`.
    let name_start = arg
        .find(|c| !OPERATOR_CHARS.contains(&c))
        .ok_or_else(shape)?;
    let rest = &arg[name_start..];
    let name_len = rest
        .char_indices()
        .find(|&(i, c)| c == '[' || c == '=' || (c == ':' && rest[i + 1..].starts_with('=')))
        .map(|(i, _)| i)
        .ok_or_else(shape)?;
    let name = &arg[..name_start + name_len];
    if name_len == 0 {
        return Err(shape());
    }
    let mut path = vec![Segment::Key(name.to_owned())];
    let mut rest = &rest[name_len..];
    while let Some(inner) = rest.strip_prefix('[') {
        let close = inner
            .find(']')
            .ok_or_else(|| Failure::usage(format!("{arg:?}: a `[` without its `]` in the key")))?;
        let key = &inner[..close];
        path.push(if key.is_empty() {
            Segment::Append
        } else {
            Segment::Key(key.to_owned())
        });
        rest = &inner[close + 1..];
    }
    let value = if let Some(raw) = rest.strip_prefix(":=") {
        parse_json(arg, raw)?
    } else if let Some(text) = rest.strip_prefix('=') {
        Value::String(text.to_owned())
    } else {
        return Err(shape());
    };
    Ok(Assignment { path, value })
}

fn parse_json(arg: &str, raw: &str) -> Outcome<Value> {
    let (text, source) = match raw.strip_prefix('@') {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::usage(format!("{arg:?}: cannot read {path}: {e}")))?;
            (text, format!("the JSON in {path}"))
        }
        None => (raw.to_owned(), "the JSON after :=".to_owned()),
    };
    serde_json::from_str(&text).map_err(|e| {
        Failure::usage(format!(
            "{arg:?}: {source} does not parse: {e} (strings need quotes: KEY:='\"text\"', or use KEY=text)"
        ))
    })
}

/// Builds the parameter object from assignments, in order.
pub fn build(args: &[String]) -> Outcome<Map<String, Value>> {
    build_prefixed(args.iter().map(|arg| (None, arg.as_str())))
}

/// [`build`] where some assignments go under a top-level key: `(Some("filter"), ">ID=5")`
/// is `filter[>ID]=5`.
pub fn build_prefixed<'a>(
    args: impl IntoIterator<Item = (Option<&'a str>, &'a str)>,
) -> Outcome<Map<String, Value>> {
    let mut root = Value::Object(Map::new());
    for (prefix, arg) in args {
        let mut assignment = parse_assignment(arg)?;
        if let Some(prefix) = prefix {
            assignment.path.insert(0, Segment::Key(prefix.to_owned()));
        }
        insert(&mut root, &assignment.path, assignment.value, arg)?;
    }
    match normalize(root) {
        Value::Object(map) => Ok(map),
        // `insert` never replaces the root, and an object with keys `0`, `1`, ... stays one
        // at the top: parameters are named.
        _ => Err(Failure::usage(
            "parameters must have names, not only [] or numbers",
        )),
    }
}

/// Puts `value` at `path` under `root`, creating objects and arrays on the way.
pub fn insert(root: &mut Value, path: &[Segment], value: Value, arg: &str) -> Outcome {
    let conflict = |what: &str| Failure::usage(format!("{arg:?}: {} {what}", describe_path(path)));
    let mut node = root;
    for (depth, segment) in path.iter().enumerate() {
        let last = depth + 1 == path.len();
        // Containers are created on the way down; a scalar in the way is a conflict.
        if node.is_null() {
            *node = match segment {
                Segment::Append => Value::Array(Vec::new()),
                Segment::Key(_) => Value::Object(Map::new()),
            };
        }
        let slot: &mut Value = match (segment, node) {
            (Segment::Key(key), Value::Object(map)) => {
                if last && map.contains_key(key) && !map[key].is_null() {
                    let hint = if path.len() == 1 {
                        format!(" (for a list use {key}[]=A {key}[]=B)")
                    } else {
                        String::new()
                    };
                    return Err(conflict(&format!("is given twice{hint}")));
                }
                map.entry(key.clone()).or_insert(Value::Null)
            }
            (Segment::Key(key), Value::Array(items)) => {
                // `x[]=a x[1]=b`: an index into the list, or the next one.
                match key.parse::<usize>() {
                    Ok(index) if index < items.len() => &mut items[index],
                    Ok(index) if index == items.len() => {
                        items.push(Value::Null);
                        &mut items[index]
                    }
                    _ => return Err(conflict("mixes [] with named keys")),
                }
            }
            (Segment::Append, Value::Array(items)) => {
                items.push(Value::Null);
                let end = items.len() - 1;
                &mut items[end]
            }
            (Segment::Append, Value::Object(map)) => {
                // PHP appends after the largest integer key.
                let next = map
                    .keys()
                    .filter_map(|k| k.parse::<usize>().ok())
                    .max()
                    .map_or(0, |m| m + 1);
                map.entry(next.to_string()).or_insert(Value::Null)
            }
            (_, _) => return Err(conflict("is set both as a value and as a list or map")),
        };
        if last {
            if !slot.is_null() {
                return Err(conflict("is given twice"));
            }
            *slot = value;
            return Ok(());
        }
        node = slot;
    }
    Ok(())
}

/// `FIELDS[TITLE]` for messages.
fn describe_path(path: &[Segment]) -> String {
    let mut out = String::new();
    for (i, segment) in path.iter().enumerate() {
        match segment {
            Segment::Key(key) if i == 0 => out.push_str(key),
            Segment::Key(key) => {
                out.push('[');
                out.push_str(key);
                out.push(']');
            }
            Segment::Append => out.push_str("[]"),
        }
    }
    out
}

/// Objects whose keys are exactly `0`, `1`, ... in order become arrays, as PHP's
/// `json_encode` would send them.
fn normalize(value: Value) -> Value {
    normalize_at(value, true)
}

fn normalize_at(value: Value, top: bool) -> Value {
    match value {
        Value::Object(map) => {
            let sequential = !top
                && !map.is_empty()
                && map
                    .keys()
                    .enumerate()
                    .all(|(i, k)| k.parse::<usize>().ok() == Some(i));
            let map: Map<String, Value> = map
                .into_iter()
                .map(|(k, v)| (k, normalize_at(v, false)))
                .collect();
            if sequential {
                Value::Array(map.into_iter().map(|(_, v)| v).collect())
            } else {
                Value::Object(map)
            }
        }
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| normalize_at(v, false)).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(args: &[&str]) -> Value {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        Value::Object(build(&args).unwrap())
    }

    #[test]
    fn brackets_nest_and_append() {
        assert_eq!(
            params(&["FIELDS[TITLE]=x", "FIELDS[OPPORTUNITY]:=100", "ID=7"]),
            json!({"FIELDS": {"TITLE": "x", "OPPORTUNITY": 100}, "ID": "7"})
        );
        assert_eq!(
            params(&["select[]=ID", "select[]=TITLE"]),
            json!({"select": ["ID", "TITLE"]})
        );
        assert_eq!(
            params(&[
                "FIELDS[PHONE][0][VALUE]=1",
                "FIELDS[PHONE][0][VALUE_TYPE]=WORK"
            ]),
            json!({"FIELDS": {"PHONE": [{"VALUE": "1", "VALUE_TYPE": "WORK"}]}})
        );
        assert_eq!(
            params(&["filter[>=ID]=5", "filter[!STAGE_ID]=WON"]),
            json!({"filter": {">=ID": "5", "!STAGE_ID": "WON"}})
        );
        assert_eq!(
            params(&["x:=[1,2]", "y:=null", "z:=\"s\""]),
            json!({"x": [1, 2], "y": null, "z": "s"})
        );
        assert_eq!(params(&["a=b=c"]), json!({"a": "b=c"}));
        assert_eq!(params(&[">=ID=5"]), json!({">=ID": "5"}));
    }

    #[test]
    fn conflicts_and_bad_shapes_are_usage_errors() {
        for bad in [
            vec!["novalue"],
            vec!["=x"],
            vec!["a[b=1"],
            vec!["a=1", "a=2"],
            vec!["a=1", "a[b]=2"],
            vec!["a[b]=1", "a=2"],
            vec!["x:={"],
        ] {
            let args: Vec<String> = bad.iter().map(|s| (*s).to_owned()).collect();
            assert!(
                matches!(build(&args), Err(Failure::Usage(_))),
                "{bad:?} should be refused"
            );
        }
    }
}
