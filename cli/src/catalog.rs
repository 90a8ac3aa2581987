//! `b24 methods` and `b24 describe`: the method catalog the SDK was generated from.

use std::io::Write;

use bitrix24::method_catalog::{self, CATALOG, MethodInfo};
use serde_json::{Value, json};

use crate::util::{Failure, Outcome, closest, did_you_mean};

/// A method by wire name, or a usage error with the closest names.
pub fn lookup(name: &str) -> Outcome<&'static MethodInfo> {
    method_catalog::find(name)
        .or_else(|| CATALOG.iter().find(|m| m.name.eq_ignore_ascii_case(name)))
        .ok_or_else(|| {
            Failure::usage(format!(
                "{name} is not in the method catalog{} (b24 methods --search WORD lists methods; \
                 b24 call works for any method)",
                did_you_mean(&suggest_methods(name))
            ))
        })
}

/// Method names close to `name`.
pub fn suggest_methods(name: &str) -> Vec<&'static str> {
    closest(name, CATALOG.iter().map(|m| m.name), 3)
}

pub fn methods(scope: Option<&str>, search: &[String], json_out: bool) -> Outcome {
    if let Some(scope) = scope
        && !CATALOG.iter().any(|m| m.scope == scope)
    {
        let mut scopes: Vec<&str> = CATALOG.iter().map(|m| m.scope).collect();
        scopes.sort_unstable();
        scopes.dedup();
        let suggestions = closest(scope, scopes.iter().copied(), 3);
        return Err(Failure::usage(format!(
            "unknown scope {scope}{}; scopes: {}",
            did_you_mean(&suggestions),
            scopes.join(", ")
        )));
    }
    let words: Vec<String> = search.iter().map(|w| w.to_lowercase()).collect();
    let mut found: Vec<&MethodInfo> = CATALOG
        .iter()
        .filter(|m| scope.is_none_or(|s| m.scope == s))
        .filter(|m| {
            let text = format!("{} {}", m.name, m.description).to_lowercase();
            words.iter().all(|w| text.contains(w.as_str()))
        })
        .collect();
    found.sort_by_key(|m| (m.name, m.rest_v3));
    let mut out = std::io::stdout().lock();
    if json_out {
        let list: Vec<Value> = found.iter().map(|m| summary_json(m)).collect();
        writeln!(out, "{}", pretty(&Value::Array(list))).map_err(io)?;
        return Ok(());
    }
    let name_width = found
        .iter()
        .map(|m| label(m).len())
        .max()
        .unwrap_or(4)
        .max(4);
    let scope_width = found
        .iter()
        .map(|m| m.scope.len())
        .max()
        .unwrap_or(5)
        .max(5);
    writeln!(
        out,
        "{:name_width$}  {:scope_width$}  DESCRIPTION",
        "NAME", "SCOPE"
    )
    .map_err(io)?;
    for m in &found {
        let deprecated = match (m.deprecated, m.replacement) {
            (true, Some(r)) => format!(" [deprecated: use {r}]"),
            (true, None) => " [deprecated]".to_owned(),
            _ => String::new(),
        };
        writeln!(
            out,
            "{:name_width$}  {:scope_width$}  {}{deprecated}",
            label(m),
            m.scope,
            m.description
        )
        .map_err(io)?;
    }
    out.flush().map_err(io)?;
    eprintln!("{} methods", found.len());
    Ok(())
}

/// The name as listed: REST 3.0 twins are marked.
fn label(m: &MethodInfo) -> String {
    if m.rest_v3 {
        format!("{} (v3)", m.name)
    } else {
        m.name.to_owned()
    }
}

fn summary_json(m: &MethodInfo) -> Value {
    json!({
        "name": m.name,
        "scope": m.scope,
        "description": m.description,
        "deprecated": m.deprecated,
        "replacement": m.replacement,
        "rest_v3": m.rest_v3,
    })
}

pub fn describe(name: &str, json_out: bool) -> Outcome {
    let m = lookup(name)?;
    let mut out = std::io::stdout().lock();
    if json_out {
        let params: Vec<Value> = m
            .params
            .iter()
            .map(|p| json!({"name": p.name, "type": p.ty, "required": p.required, "doc": p.doc}))
            .collect();
        let value = json!({
            "name": m.name,
            "scope": m.scope,
            "description": m.description,
            "doc_url": m.doc_url,
            "params": params,
            "result": m.result,
            "paging": m.paging,
            "idempotent": m.idempotent,
            "batchable": m.batchable,
            "deprecated": m.deprecated,
            "replacement": m.replacement,
            "rest_v3": m.rest_v3,
            "positional": m.positional,
            "rust": m.rust,
        });
        writeln!(out, "{}", pretty(&value)).map_err(io)?;
        return Ok(());
    }
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let mut text = String::new();
    text.push_str(&format!("{} - {}\n\n", label(m), m.description));
    if m.deprecated {
        match m.replacement {
            Some(r) => text.push_str(&format!("  DEPRECATED   use {r} instead\n")),
            None => text.push_str("  DEPRECATED   the docs name no replacement\n"),
        }
    }
    let paging = match m.paging {
        "keyset" => {
            "keyset (by id: order ID asc + filter >ID + start=-1; b24 list reads it fastest)"
        }
        "start" => "start (offset pages of 50 with next/total; b24 list reads it)",
        _ => "none (one answer)",
    };
    text.push_str(&format!("  scope        {}\n", m.scope));
    text.push_str(&format!("  result       {}\n", m.result));
    text.push_str(&format!("  paging       {paging}\n"));
    text.push_str(&format!(
        "  idempotent   {}\n",
        if m.idempotent {
            "yes (retried after network failures)"
        } else {
            "no (never re-sent blindly)"
        }
    ));
    text.push_str(&format!("  batchable    {}\n", yes_no(m.batchable)));
    if m.rest_v3 {
        text.push_str("  api          REST 3.0 (/rest/api/)\n");
    }
    if m.positional {
        text.push_str("  positional   params are sent as \"0\", \"1\", ... in the order below\n");
    }
    text.push_str(&format!("  rust         client.{}(..)\n", m.rust));
    text.push_str(&format!("  docs         {}\n", m.doc_url));
    text.push('\n');
    if m.params.is_empty() {
        text.push_str("No parameters.\n");
    } else {
        let name_width = m
            .params
            .iter()
            .map(|p| p.name.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let ty_width = m
            .params
            .iter()
            .map(|p| p.ty.len())
            .max()
            .unwrap_or(4)
            .max(4);
        text.push_str(&format!(
            "  {:name_width$}  {:ty_width$}  REQUIRED  DESCRIPTION\n",
            "PARAM", "TYPE"
        ));
        for p in m.params {
            let line = format!(
                "  {:name_width$}  {:ty_width$}  {:8}  {}",
                p.name,
                p.ty,
                yes_no(p.required),
                p.doc.unwrap_or("")
            );
            text.push_str(line.trim_end());
            text.push('\n');
        }
    }
    let example = example_call(m);
    text.push_str(&format!("\nExample:\n  {example}\n"));
    out.write_all(text.as_bytes()).map_err(io)?;
    Ok(())
}

/// `b24 call crm.deal.get ID=...` with the required params filled with placeholders.
fn example_call(m: &MethodInfo) -> String {
    let mut line = if m.paging != "none" {
        format!("b24 list {} --out rows.ndjson", m.name)
    } else {
        format!("b24 call {}", m.name)
    };
    for p in m.params.iter().filter(|p| p.required) {
        let placeholder = match crate::validate::Ty::parse(p.ty) {
            crate::validate::Ty::Int | crate::validate::Ty::IntStr => format!("{}=1", p.name),
            crate::validate::Ty::Map(_) | crate::validate::Ty::Named(_) => {
                format!("'{}[KEY]=VALUE'", p.name)
            }
            crate::validate::Ty::List(_) => format!("'{}[]=VALUE'", p.name),
            crate::validate::Ty::DialogId => format!("{}=chat1", p.name),
            _ => format!("{}=...", p.name),
        };
        line.push(' ');
        line.push_str(&placeholder);
    }
    line
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

pub fn io(e: std::io::Error) -> Failure {
    // A closed pipe (`b24 methods | head`) is not worth a message.
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    Failure::other(format!("cannot write the output: {e}"))
}
