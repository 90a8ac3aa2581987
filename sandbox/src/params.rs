//! Request parameters as a handler sees them, and what a handler answers.
//!
//! Parameters arrive as JSON (typed) or PHP form (every leaf a string); handlers read them
//! leniently, and classic methods find keys case-insensitively, as Bitrix24 does for them.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

/// An error envelope the sandbox answers with.
#[derive(Debug, Clone)]
pub(crate) struct ApiErr {
    pub(crate) status: u16,
    pub(crate) code: String,
    pub(crate) description: String,
    /// REST 3.0 only: per-field details of a validation error.
    pub(crate) validation: Option<Box<Value>>,
}

impl ApiErr {
    pub(crate) fn new(status: u16, code: &str, description: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            description: description.into(),
            validation: None,
        }
    }
    /// A method's validation error: 400 with a code.
    pub(crate) fn bad(code: &str, description: impl Into<String>) -> Self {
        Self::new(400, code, description)
    }
    /// Not found, the way classic CRM reports it: empty code, 400.
    pub(crate) fn not_found(what: &str) -> Self {
        Self::new(400, "", format!("{what} is not found"))
    }

    /// The HTTP status of the answer (400 if `status` is not one).
    pub(crate) fn http_status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST)
    }

    /// The classic body: `{"error", "error_description"}`.
    pub(crate) fn classic_body(&self) -> Value {
        json!({"error": self.code, "error_description": self.description})
    }

    /// The REST 3.0 body: `{"error": {"code", "message", "validation"?}}`.
    pub(crate) fn v3_body(&self) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), json!(self.code));
        error.insert("message".into(), json!(self.description));
        if let Some(validation) = &self.validation {
            error.insert("validation".into(), Value::clone(validation));
        }
        json!({ "error": error })
    }
}

/// A method's `result`: a JSON value, or JSON text the handler wrote itself (list pages, so
/// that a page of deals is not built as a tree of maps only to be serialized).
#[derive(Debug, Clone)]
pub(crate) enum Res {
    Value(Value),
    /// Valid JSON, written by the sandbox.
    Raw(String),
}

impl Res {
    /// Appends the JSON text.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::Value(v) => {
                // Writing a `Value` into a `Vec` cannot fail.
                let _ = serde_json::to_writer(&mut *out, v);
            }
            Self::Raw(text) => out.extend_from_slice(text.as_bytes()),
        }
    }

    /// As a value (raw text is parsed).
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Self::Value(v) => v.clone(),
            Self::Raw(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        }
    }
}

/// A successful answer: `result` plus the list members of the envelope.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) result: Res,
    pub(crate) total: Option<i64>,
    pub(crate) next: Option<i64>,
}

impl Reply {
    pub(crate) fn of(result: impl Into<Value>) -> Self {
        Self {
            result: Res::Value(result.into()),
            total: None,
            next: None,
        }
    }
}

/// Appends `text` as a JSON string.
pub(crate) fn write_str(out: &mut Vec<u8>, text: &str) {
    // Writing a string into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

pub(crate) type Outcome = Result<Reply, ApiErr>;

/// A handler's view of the parameters.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params(pub(crate) Map<String, Value>);

impl Params {
    /// The value under `key`, matched exactly first, then ignoring case.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.0
            .get(key)
            .or_else(|| {
                self.0
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v)
            })
            .filter(|v| !v.is_null())
    }

    pub(crate) fn str(&self, key: &str) -> Option<String> {
        self.get(key).and_then(text).filter(|s| !s.is_empty())
    }

    pub(crate) fn int(&self, key: &str) -> Result<Option<i64>, ApiErr> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => int(v).map(Some).ok_or_else(|| {
                ApiErr::bad("INVALID_ARG_VALUE", format!("{key}: expected an integer"))
            }),
        }
    }

    pub(crate) fn req_int(&self, key: &str, code: &str) -> Result<i64, ApiErr> {
        self.int(key)?
            .ok_or_else(|| ApiErr::bad(code, format!("{key} is required")))
    }

    pub(crate) fn flag(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(|v| match v {
            Value::Bool(b) => Some(*b),
            other => match text(other)?.as_str() {
                "Y" | "y" | "1" | "true" => Some(true),
                "N" | "n" | "0" | "false" | "" => Some(false),
                _ => None,
            },
        })
    }

    pub(crate) fn obj(&self, key: &str) -> Option<&Map<String, Value>> {
        self.get(key).and_then(Value::as_object)
    }

    /// A list, also when it arrived as a PHP array with numeric keys.
    pub(crate) fn list(&self, key: &str) -> Vec<Value> {
        match self.get(key) {
            Some(Value::Array(items)) => items.clone(),
            Some(Value::Object(map)) => map.values().cloned().collect(),
            Some(Value::String(s)) if !s.is_empty() => vec![Value::String(s.clone())],
            _ => Vec::new(),
        }
    }

    /// Parameters nested under `key` (e.g. `fields`), empty when absent.
    pub(crate) fn nested(&self, key: &str) -> Params {
        Params(self.obj(key).cloned().unwrap_or_default())
    }
}

/// A scalar as text: strings as they are, numbers and booleans spelled out.
pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "Y" } else { "N" }.to_owned()),
        _ => None,
    }
}

/// A scalar as an integer: numbers and numeric strings.
pub(crate) fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A scalar as a float: numbers and numeric strings.
pub(crate) fn float(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
