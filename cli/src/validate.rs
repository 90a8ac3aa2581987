//! Checks parameters against the method catalog before anything is sent: unknown names (with
//! the closest known ones), values of the wrong type (naming the expected type), missing
//! required parameters. Values typed on the command line as text are converted to the type
//! the schema gives (`ID=7` is sent as the number 7 for an `int`), as the SDK's typed setters
//! would.
//!
//! Types are the schema's own ([`bitrix24_codegen::Ty`], parsed by the loader that generates
//! the SDK). Values of named types (`DealFields`, `SortOrder`) are passed as they are.

use bitrix24_codegen::{Field, Ty};
use serde_json::{Map, Value};

use crate::catalog::MethodInfo;
use crate::util::{closest, did_you_mean};

/// What the command line can't fix by itself.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<String>);

/// Validates `params` for `method` and converts text to the declared scalar types. Returns
/// the parameters to send: for positional methods, under `"0"`, `"1"`, ... in schema order.
pub fn check(
    method: &MethodInfo,
    params: Map<String, Value>,
) -> Result<Map<String, Value>, Problems> {
    let mut problems = Vec::new();
    let mut checked = Map::new();
    let mut given = Vec::new();
    // Names suggested for an unknown param: not reported as missing too.
    let mut suggested: Vec<&str> = Vec::new();
    for (name, value) in params {
        let Some(param) = find_param(method, &name) else {
            let names = method.params.iter().map(|p| p.name.as_str());
            let suggestions = closest(&name, names, 3);
            suggested.extend(&suggestions);
            let known = if method.params.is_empty() {
                " (it takes no parameters)".to_owned()
            } else if suggestions.is_empty() && method.params.len() <= 12 {
                format!(
                    " (it takes {})",
                    method
                        .params
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                String::new()
            };
            problems.push(format!(
                "{}: unknown parameter {name}{}{known}",
                method.name,
                did_you_mean(&suggestions)
            ));
            continue;
        };
        given.push(param.name.as_str());
        match coerce(&param.ty, value, &param.name) {
            Ok(value) => {
                checked.insert(param.name.to_owned(), value);
            }
            Err(message) => problems.push(format!("{}: {message}", method.name)),
        }
    }
    for param in method.params.iter().filter(|p| p.required) {
        if !given.contains(&param.name.as_str()) && !suggested.contains(&param.name.as_str()) {
            problems.push(format!(
                "{}: missing required parameter {} ({}){}",
                method.name,
                param.name,
                param.ty,
                param
                    .doc
                    .as_ref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ));
        }
    }
    if !problems.is_empty() {
        return Err(Problems(problems));
    }
    if method.positional {
        return Ok(positional(method, checked));
    }
    Ok(checked)
}

/// A param by wire name; a name given with other letter case is accepted (Bitrix24 reads
/// most names case-insensitively, but the schema's spelling is what gets sent).
fn find_param<'a>(method: &'a MethodInfo, name: &str) -> Option<&'a Field> {
    method.params.iter().find(|p| p.name == name).or_else(|| {
        method
            .params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    })
}

/// `{"TASKDATA": {..}}` -> `{"0": {..}}`; gaps before the last given param are `null`.
fn positional(method: &MethodInfo, mut named: Map<String, Value>) -> Map<String, Value> {
    let last = method
        .params
        .iter()
        .rposition(|p| named.contains_key(&p.name));
    let mut out = Map::new();
    if let Some(last) = last {
        for (i, param) in method.params.iter().enumerate().take(last + 1) {
            out.insert(
                i.to_string(),
                named.remove(&param.name).unwrap_or(Value::Null),
            );
        }
    }
    out
}

/// Checks `value` against `ty`, converting text where the type says what it means.
pub fn coerce(ty: &Ty, value: Value, path: &str) -> Result<Value, String> {
    let wrong = |expected: &str, value: &Value, hint: &str| {
        format!("{path}: expected {expected}, got {}{hint}", describe(value))
    };
    match ty {
        Ty::Any | Ty::Named { .. } => Ok(value),
        // A credential is text on the command line.
        Ty::String | Ty::Secret => match value {
            Value::String(_) => Ok(value),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(_) | Value::Null | Value::Array(_) | Value::Object(_) => {
                Err(wrong(&ty.to_string(), &value, ""))
            }
        },
        Ty::Int => match &value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(value),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| wrong("int", &value, "")),
            _ => Err(wrong("int", &value, "")),
        },
        Ty::IntStr => match &value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Value::String(n.to_string())),
            Value::String(s) if s.trim().parse::<i64>().is_ok() => {
                Ok(Value::String(s.trim().to_owned()))
            }
            _ => Err(wrong("int_str (an integer)", &value, "")),
        },
        Ty::Float => match &value {
            Value::Number(_) => Ok(value),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| wrong("float", &value, "")),
            _ => Err(wrong("float", &value, "")),
        },
        Ty::Bool | Ty::YesNo => {
            let flag = match &value {
                Value::Bool(b) => Some(*b),
                Value::Number(n) => match n.as_i64() {
                    Some(1) => Some(true),
                    Some(0) => Some(false),
                    _ => None,
                },
                Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "y" | "yes" | "true" | "1" => Some(true),
                    "n" | "no" | "false" | "0" => Some(false),
                    _ => None,
                },
                _ => None,
            };
            match (ty, flag) {
                (Ty::Bool, Some(b)) => Ok(Value::Bool(b)),
                (_, Some(b)) => Ok(Value::String(if b { "Y" } else { "N" }.to_owned())),
                (Ty::Bool, None) => Err(wrong("bool", &value, " (true/false, Y/N, 1/0)")),
                (_, None) => Err(wrong("yn", &value, " (Y or N)")),
            }
        }
        Ty::Date => match &value {
            Value::String(s)
                if chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").is_ok()
                    || chrono::DateTime::parse_from_rfc3339(s.trim()).is_ok() =>
            {
                Ok(value)
            }
            _ => Err(wrong("date", &value, " (YYYY-MM-DD)")),
        },
        Ty::DateTime => match &value {
            Value::String(s) if chrono::DateTime::parse_from_rfc3339(s.trim()).is_ok() => Ok(value),
            _ => Err(wrong(
                "datetime",
                &value,
                " (RFC 3339 with an offset: 2024-08-29T10:29:54+03:00)",
            )),
        },
        // A list filter: an object of conditions (classic methods) or a list of them (REST 3.0).
        Ty::Filter => match &value {
            Value::Object(_) | Value::Array(_) => Ok(value),
            _ => Err(wrong(
                "filter",
                &value,
                " (conditions keyed by field: KEY[>ID]=10 or KEY:='{\">ID\": 10}')",
            )),
        },
        Ty::DialogId => match &value {
            Value::String(s) if !s.trim().is_empty() => Ok(value),
            Value::Number(n) if n.is_i64() => Ok(value),
            _ => Err(wrong("dialog_id", &value, " (chat42 or a user id)")),
        },
        Ty::File => match &value {
            value if is_name_and_content(value) => Ok(value.clone()),
            _ => Err(wrong(
                "file",
                &value,
                " ([\"name.png\", \"<base64>\"]: KEY:='[\"a.png\",\"iVBOR...\"]')",
            )),
        },
        Ty::FileData => match &value {
            Value::Object(map)
                if map.len() == 1 && map.get("fileData").is_some_and(is_name_and_content) =>
            {
                Ok(value)
            }
            _ => Err(wrong(
                "file_data",
                &value,
                " ({\"fileData\": [\"name.png\", \"<base64>\"]}: KEY:='{\"fileData\":[\"a.png\",\"iVBOR...\"]}')",
            )),
        },
        Ty::FileNameContent => match &value {
            Value::Object(map)
                if map.len() == 2
                    && map.get("NAME").is_some_and(Value::is_string)
                    && map.get("CONTENT").is_some_and(Value::is_string) =>
            {
                Ok(value)
            }
            _ => Err(wrong(
                "file_name_content",
                &value,
                " ({\"NAME\": \"name.png\", \"CONTENT\": \"<base64>\"}: give KEY[NAME]=.. KEY[CONTENT]=..)",
            )),
        },
        Ty::Base64 => match &value {
            Value::String(_) => Ok(value),
            _ => Err(wrong(
                "base64",
                &value,
                " (the file's content, base64-encoded)",
            )),
        },
        // Result-only types (the schema allows them nowhere else); checked all the same.
        Ty::Null => match value {
            Value::Null => Ok(value),
            _ => Err(wrong("null", &value, "")),
        },
        Ty::Option(inner) => match value {
            Value::Null => Ok(value),
            value => coerce(inner, value, path),
        },
        Ty::List(item) => {
            let items = match value {
                Value::Array(items) => items,
                // A PHP array with gaps (`x[1]=a x[5]=b`) arrives as an object.
                Value::Object(map) if map.keys().all(|k| k.parse::<usize>().is_ok()) => {
                    map.into_iter().map(|(_, v)| v).collect()
                }
                other => {
                    let name = path.split('[').next().unwrap_or(path);
                    return Err(wrong(
                        &format!("list<{item}>"),
                        &other,
                        &format!(" (give {name}[]=A {name}[]=B, or {name}:='[...]')"),
                    ));
                }
            };
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| coerce(item, v, &format!("{path}[{i}]")))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        Ty::Map(item) => match value {
            Value::Object(map) => map
                .into_iter()
                .map(|(k, v)| {
                    let child = format!("{path}[{k}]");
                    coerce(item, v, &child).map(|v| (k, v))
                })
                .collect::<Result<Map<_, _>, _>>()
                .map(Value::Object),
            // PHP sends an empty map as `[]`.
            Value::Array(items) if items.is_empty() => Ok(Value::Object(Map::new())),
            other => {
                let name = path.split('[').next().unwrap_or(path);
                Err(wrong(
                    &format!("map<{item}>"),
                    &other,
                    &format!(" (give {name}[KEY]=VALUE, or {name}:='{{...}}')"),
                ))
            }
        },
    }
}

/// `["name", "<base64>"]`: the shape of a `file` param, also inside `file_data`.
fn is_name_and_content(value: &Value) -> bool {
    matches!(value, Value::Array(parts) if parts.len() == 2 && parts.iter().all(Value::is_string))
}

/// `the string "abc"`, `a list`, ... for messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => {
            let shown: String = s.chars().take(40).collect();
            let more = if s.chars().count() > 40 { "..." } else { "" };
            format!("{:?}", format!("{shown}{more}"))
        }
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a map".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_becomes_the_declared_scalar() {
        assert_eq!(coerce(&Ty::Int, json!("7"), "ID"), Ok(json!(7)));
        assert_eq!(coerce(&Ty::YesNo, json!("true"), "X"), Ok(json!("Y")));
        assert_eq!(coerce(&Ty::Bool, json!("N"), "X"), Ok(json!(false)));
        assert_eq!(coerce(&Ty::IntStr, json!(5), "X"), Ok(json!("5")));
        assert_eq!(
            coerce(&list(Ty::Int), json!(["1", 2]), "x"),
            Ok(json!([1, 2]))
        );
        assert_eq!(coerce(&map(Ty::Any), json!([]), "filter"), Ok(json!({})));
    }

    #[test]
    fn wrong_types_name_the_expected_type() {
        let e = coerce(&Ty::Int, json!("seven"), "ID").unwrap_err();
        assert_eq!(e, "ID: expected int, got \"seven\"");
        let e = coerce(&list(Ty::String), json!("ID"), "select").unwrap_err();
        assert!(
            e.starts_with("select: expected list<string>, got \"ID\""),
            "{e}"
        );
        let e = coerce(&map(Ty::Int), json!({"a": "x"}), "m").unwrap_err();
        assert_eq!(e, "m[a]: expected int, got \"x\"");
        assert!(coerce(&Ty::DateTime, json!("2024-01-01"), "D").is_err());
    }

    #[test]
    fn every_type_of_the_schema_is_checked() {
        // `secret` (the old copy of the type parser did not know it) is text.
        assert_eq!(coerce(&Ty::Secret, json!(42), "TOKEN"), Ok(json!("42")));
        let e = coerce(&Ty::Secret, json!([]), "TOKEN").unwrap_err();
        assert_eq!(e, "TOKEN: expected secret, got a list");
        let file = json!(["a.png", "iVBOR"]);
        assert_eq!(coerce(&Ty::File, file.clone(), "F"), Ok(file.clone()));
        let data = json!({"fileData": file});
        assert_eq!(coerce(&Ty::FileData, data.clone(), "P"), Ok(data));
        assert!(coerce(&Ty::FileData, file.clone(), "P").is_err());
        let named = json!({"NAME": "a.png", "CONTENT": "iVBOR"});
        assert_eq!(coerce(&Ty::FileNameContent, named.clone(), "F"), Ok(named));
        assert!(coerce(&Ty::FileNameContent, file, "F").is_err());
        assert!(coerce(&Ty::Base64, json!({"a": 1}), "C").is_err());
    }

    fn list(item: Ty) -> Ty {
        Ty::List(Box::new(item))
    }

    fn map(item: Ty) -> Ty {
        Ty::Map(Box::new(item))
    }
}
