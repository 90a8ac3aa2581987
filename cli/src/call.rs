//! `b24 call METHOD [KEY=VALUE | KEY:=JSON]...`: one call, validated against the catalog when
//! the method is in it, printed as JSON.

use std::io::Write;

use bitrix24::{CallOptions, Client, Error, ErrorCode, RawResponse};
use serde_json::{Map, Value};

use crate::catalog::{self, MethodInfo, io};
use crate::params;
use crate::util::{Failure, Outcome, did_you_mean};
use crate::validate;

pub struct CallArgs<'a> {
    pub method: &'a str,
    pub prepared: Prepared,
    pub raw: bool,
    pub quiet: bool,
}

/// Parameters ready to send and how to send them.
pub struct Prepared {
    pub params: Map<String, Value>,
    pub options: CallOptions,
    /// The method's catalog entry, when it is in the catalog.
    pub info: Option<MethodInfo>,
}

/// Builds and validates the parameters of `method` from `KEY=VALUE` arguments.
pub fn prepare(
    method: &str,
    args: &[String],
    no_validate: bool,
    rest_v3: bool,
) -> Outcome<Prepared> {
    let params = params::build(args)?;
    let Some(info) = catalog::find(method)? else {
        return Ok(Prepared {
            params,
            options: CallOptions::default().rest_v3(rest_v3),
            info: None,
        });
    };
    let options = CallOptions::default()
        .idempotent(info.idempotent)
        .rest_v3(info.rest_v3 || rest_v3);
    let params = if no_validate {
        params
    } else {
        validated(&info, params)?
    };
    Ok(Prepared {
        params,
        options,
        info: Some(info),
    })
}

/// Says on stderr that the method is deprecated (and what replaces it), unless `quiet`.
pub fn warn_deprecated(info: &MethodInfo, quiet: bool) {
    if info.deprecated.is_some() && !quiet {
        match info.replacement() {
            Some(r) => eprintln!("warning: {} is deprecated; use {r}", info.name),
            None => eprintln!("warning: {} is deprecated", info.name),
        }
    }
}

/// `params` checked against the catalog entry; the problems, as a usage error, otherwise.
pub fn validated(info: &MethodInfo, params: Map<String, Value>) -> Outcome<Map<String, Value>> {
    validate::check(info, params).map_err(|problems| {
        Failure::usage(format!(
            "{}\n(`b24 describe {}` lists its parameters; --no-validate sends them unchecked)",
            problems.0.join("\n"),
            info.name
        ))
    })
}

pub async fn run(client: &Client, args: CallArgs<'_>) -> Outcome {
    let prepared = args.prepared;
    if let Some(info) = &prepared.info {
        warn_deprecated(info, args.quiet);
    }
    let body = serde_json::to_vec(&prepared.params)
        .map_err(|e| Failure::other(format!("cannot encode the parameters: {e}")))?;
    let response = match client.call_raw(args.method, &body, prepared.options).await {
        Ok(response) => response,
        Err(e) => {
            if prepared.info.is_none()
                && matches!(e.code(), Some(ErrorCode::MethodNotFound))
                && let suggestions = catalog::suggest_methods(args.method)?
                && !suggestions.is_empty()
            {
                return Err(Failure::other(format!("{e}{}", did_you_mean(&suggestions))));
            }
            return Err(Failure::Api(e));
        }
    };
    let value = if args.raw {
        envelope(args.method, &response)?
    } else {
        result(args.method, &response)?
    };
    let mut out = std::io::stdout().lock();
    let text = serde_json::to_string_pretty(&value)
        .map_err(|e| Failure::other(format!("cannot print the result: {e}")))?;
    writeln!(out, "{text}").map_err(io)?;
    out.flush().map_err(io)
}

fn result(method: &str, response: &RawResponse) -> Outcome<Value> {
    serde_json::from_str(response.result_json()).map_err(|e| {
        Failure::Api(Error::Decode {
            method: method.to_owned(),
            status: response.status(),
            message: e.to_string(),
            body_start: response.result_json().chars().take(200).collect(),
        })
    })
}

/// `{"result": .., "time": {..}, "total": .., "next": ..}` as the portal sent them.
fn envelope(method: &str, response: &RawResponse) -> Outcome<Value> {
    let mut out = Map::new();
    out.insert("result".to_owned(), result(method, response)?);
    if let Some(time) = response.time() {
        let mut t = Map::new();
        let mut put = |k: &str, v: Option<f64>| {
            if let Some(v) = v.and_then(serde_json::Number::from_f64) {
                t.insert(k.to_owned(), Value::Number(v));
            }
        };
        put("start", time.start);
        put("finish", time.finish);
        put("duration", time.duration);
        put("processing", time.processing);
        put("operating", time.operating);
        if let Some(reset) = time.operating_reset_at {
            t.insert("operating_reset_at".to_owned(), Value::from(reset));
        }
        out.insert("time".to_owned(), Value::Object(t));
    }
    if let Some(total) = response.total() {
        out.insert("total".to_owned(), Value::from(total));
    }
    if let Some(next) = response.next() {
        out.insert("next".to_owned(), Value::from(next));
    }
    Ok(Value::Object(out))
}
