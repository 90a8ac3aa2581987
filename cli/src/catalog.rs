//! The method catalog: the schema the SDK is generated from, embedded in the binary by
//! build.rs and read with `bitrix24-codegen`'s loader (one parser and one IR for the SDK and
//! this tool); `b24 methods` and `b24 describe` print it, `b24 call` and `b24 list` check
//! parameters against it.

use std::io::Write;
use std::ops::Deref;
use std::sync::OnceLock;

use bitrix24_codegen::{Method, Paging, Schema, Source, Ty};
use serde_json::{Value, json};

use crate::util::{Failure, Outcome, closest, did_you_mean};

/// The schema files: `(path, text)`.
const SOURCES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/schema_sources.rs"));

/// The embedded schema, loaded and validated on first use (build.rs validated the same files,
/// so an error here means a broken build, reported rather than panicking).
fn schema() -> Outcome<&'static Schema> {
    static SCHEMA: OnceLock<Result<Schema, String>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let sources: Vec<Source> = SOURCES
                .iter()
                .map(|(path, text)| Source {
                    path: (*path).to_owned(),
                    text: (*text).to_owned(),
                })
                .collect();
            bitrix24_codegen::load_sources(&sources).map_err(|d| d.to_string())
        })
        .as_ref()
        .map_err(|e| Failure::other(format!("the embedded method schema is invalid:\n{e}")))
}

/// One method of the catalog, with the scope of the schema file that declares it.
#[derive(Clone, Copy)]
pub struct MethodInfo {
    pub scope: &'static str,
    method: &'static Method,
}

impl Deref for MethodInfo {
    type Target = Method;

    fn deref(&self) -> &Method {
        self.method
    }
}

impl MethodInfo {
    /// The replacement the docs name, when the method is deprecated.
    pub fn replacement(&self) -> Option<&'static str> {
        self.method.deprecated.as_ref()?.replacement.as_deref()
    }

    /// `none`, `start` or `keyset`, as the schema spells it.
    pub fn paging_name(&self) -> &'static str {
        match self.method.paging {
            Paging::None => "none",
            Paging::Start => "start",
            Paging::Keyset => "keyset",
        }
    }
}

/// Every method, in schema order.
fn catalog() -> Outcome<impl Iterator<Item = MethodInfo>> {
    Ok(schema()?.files.iter().flat_map(|file| {
        file.methods.iter().map(|method| MethodInfo {
            scope: &file.scope,
            method,
        })
    }))
}

/// A method by wire name (the classic one when a REST 3.0 twin exists too).
pub fn find(name: &str) -> Outcome<Option<MethodInfo>> {
    let mut twins = catalog()?.filter(|m| m.name == name);
    let first = twins.next();
    Ok(match first {
        Some(m) if m.rest_v3 => twins.find(|m| !m.rest_v3).or(first),
        other => other,
    })
}

/// A method by wire name, in any letter case, or a usage error with the closest names.
pub fn lookup(name: &str) -> Outcome<MethodInfo> {
    if let Some(found) = find(name)? {
        return Ok(found);
    }
    if let Some(found) = catalog()?.find(|m| m.name.eq_ignore_ascii_case(name)) {
        return Ok(found);
    }
    Err(Failure::usage(format!(
        "{name} is not in the method catalog{} (b24 methods --search WORD lists methods; \
         b24 call works for any method)",
        did_you_mean(&suggest_methods(name)?)
    )))
}

/// Method names close to `name`.
pub fn suggest_methods(name: &str) -> Outcome<Vec<&'static str>> {
    Ok(closest(name, catalog()?.map(|m| m.method.name.as_str()), 3))
}

pub fn methods(scope: Option<&str>, search: &[String], json_out: bool) -> Outcome {
    if let Some(scope) = scope
        && !catalog()?.any(|m| m.scope == scope)
    {
        let mut scopes: Vec<&str> = catalog()?.map(|m| m.scope).collect();
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
    let mut found: Vec<MethodInfo> = catalog()?
        .filter(|m| scope.is_none_or(|s| m.scope == s))
        .filter(|m| {
            let text = format!("{} {}", m.name, m.description).to_lowercase();
            words.iter().all(|w| text.contains(w.as_str()))
        })
        .collect();
    found.sort_by(|a, b| (&a.name, a.rest_v3).cmp(&(&b.name, b.rest_v3)));
    let mut out = std::io::stdout().lock();
    if json_out {
        let list: Vec<Value> = found.iter().map(summary_json).collect();
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
        let deprecated = match (m.deprecated.is_some(), m.replacement()) {
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
        m.name.clone()
    }
}

fn summary_json(m: &MethodInfo) -> Value {
    json!({
        "name": m.name,
        "scope": m.scope,
        "description": m.description,
        "deprecated": m.deprecated.is_some(),
        "replacement": m.replacement(),
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
            .map(|p| {
                json!({"name": p.name, "type": p.ty.to_string(), "required": p.required, "doc": p.doc})
            })
            .collect();
        let value = json!({
            "name": m.name,
            "scope": m.scope,
            "description": m.description,
            "doc_url": m.doc_url,
            "params": params,
            "result": m.result.to_string(),
            "paging": m.paging_name(),
            "idempotent": m.idempotent,
            "batchable": m.batchable,
            "deprecated": m.deprecated.is_some(),
            "replacement": m.replacement(),
            "rest_v3": m.rest_v3,
            "positional": m.positional,
            "rust": m.rust,
        });
        writeln!(out, "{}", pretty(&value)).map_err(io)?;
        return Ok(());
    }
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let mut text = String::new();
    text.push_str(&format!("{} - {}\n\n", label(&m), m.description));
    if m.deprecated.is_some() {
        match m.replacement() {
            Some(r) => text.push_str(&format!("  DEPRECATED   use {r} instead\n")),
            None => text.push_str("  DEPRECATED   the docs name no replacement\n"),
        }
    }
    let paging = match m.paging {
        Paging::Keyset => {
            "keyset (by id: order ID asc + filter >ID + start=-1; b24 list reads it fastest)"
        }
        Paging::Start => "start (offset pages of 50 with next/total; b24 list reads it)",
        Paging::None => "none (one answer)",
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
        let types: Vec<String> = m.params.iter().map(|p| p.ty.to_string()).collect();
        let name_width = m
            .params
            .iter()
            .map(|p| p.name.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let ty_width = types.iter().map(String::len).max().unwrap_or(4).max(4);
        text.push_str(&format!(
            "  {:name_width$}  {:ty_width$}  REQUIRED  DESCRIPTION\n",
            "PARAM", "TYPE"
        ));
        for (p, ty) in m.params.iter().zip(&types) {
            let line = format!(
                "  {:name_width$}  {:ty_width$}  {:8}  {}",
                p.name,
                ty,
                yes_no(p.required),
                p.doc.as_deref().unwrap_or("")
            );
            text.push_str(line.trim_end());
            text.push('\n');
        }
    }
    let example = example_call(&m);
    text.push_str(&format!("\nExample:\n  {example}\n"));
    out.write_all(text.as_bytes()).map_err(io)?;
    Ok(())
}

/// `b24 call crm.deal.get ID=...` with the required params filled with placeholders.
fn example_call(m: &MethodInfo) -> String {
    let mut line = if m.paging == Paging::None {
        format!("b24 call {}", m.name)
    } else {
        format!("b24 list {} --out rows.ndjson", m.name)
    };
    for p in m.params.iter().filter(|p| p.required) {
        let placeholder = match p.ty {
            Ty::Int | Ty::IntStr => format!("{}=1", p.name),
            Ty::Map(_) | Ty::Named { .. } => format!("'{}[KEY]=VALUE'", p.name),
            Ty::List(_) => format!("'{}[]=VALUE'", p.name),
            Ty::DialogId => format!("{}=chat1", p.name),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn method(name: &str) -> MethodInfo {
        find(name)
            .unwrap()
            .unwrap_or_else(|| panic!("{name} is in the schema"))
    }

    #[test]
    fn the_catalog_describes_the_schema_methods() {
        let add = method("imbot.message.add");
        assert_eq!(add.scope, "imbot");
        assert_eq!(add.rust, "imbot_message_add");
        assert!(!add.idempotent && add.batchable);
        assert_eq!(add.replacement(), Some("imbot.v2.Chat.Message.send"));
        let dialog = &add.params[0];
        assert_eq!(
            (dialog.name.as_str(), dialog.ty.to_string(), dialog.required),
            ("DIALOG_ID", "dialog_id".to_owned(), true)
        );

        let list = method("crm.deal.list");
        assert_eq!(
            (list.paging_name(), list.result.to_string()),
            ("keyset", "list<Deal>".to_owned())
        );

        // The REST 3.0 twin of a classic name is listed separately; the classic one is found.
        let twins: Vec<_> = catalog()
            .unwrap()
            .filter(|m| m.name == "tasks.task.get")
            .collect();
        assert_eq!(twins.len(), 2);
        assert!(
            twins
                .iter()
                .any(|m| m.rest_v3 && m.rust == "tasks_task_get_v3")
        );
        assert!(!method("tasks.task.get").rest_v3);

        let positional = method("task.commentitem.add");
        assert!(positional.positional);
        assert_eq!(positional.params[0].name, "TASKID");
    }

    #[test]
    fn every_embedded_schema_file_is_in_the_catalog() {
        let scopes: std::collections::BTreeSet<&str> =
            catalog().unwrap().map(|m| m.scope).collect();
        // common.toml holds shared types only; every other file is a scope with methods.
        assert_eq!(scopes.len(), SOURCES.len() - 1, "{scopes:?}");
        assert!(lookup("CRM.DEAL.GET").is_ok(), "any letter case");
        let e = lookup("crm.deal.gett").err().unwrap().to_string();
        assert!(e.contains("did you mean one of crm.deal.get,"), "{e}");
    }
}
