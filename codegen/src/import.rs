//! Scaffolding schema entries from the facts: `bitrix24-codegen import <facts.json> <dir>` adds
//! every documented method the schema does not have yet (and is not excluded) to its scope's
//! file, typed as far as the facts allow. The output is a draft for review, written in the same
//! format and order a person would write: the method, then the named types it introduced.
//!
//! Typing rules (the same ones `drift` compares with, see [`crate::rules::kind_of_doc`]):
//! documented `integer` -> `int`, `double` -> `float`, `Y`/`N` values -> `yn`, other short value
//! lists -> an enum, `date`/`datetime`/`file` as such, objects with documented fields -> a named
//! struct (open, so user fields still fit), a `filter` param -> `filter`, other objects ->
//! `map<any>`, arrays -> `list<T>`,
//! unions and undocumented types -> `any`. Results get a struct from the documented fields, or
//! one inferred from the documented example; every result type is checked against the example
//! and loosened where the example disagrees.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::describe::{Shape, describe};
use crate::exclusions::Exclusions;
use crate::facts::{FactEvent, FactMethod, FactParam, Facts};
use crate::ir::{Schema, Ty};
use crate::json::Json;
use crate::names::{is_keyword, pascal_case, snake_case};
use crate::rules::{CRM_ID_TYPES, documented_params, is_wire_name, is_yes_no};

/// What [`import`] would write.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Imported {
    /// Files and their new full text (existing files keep their text, with entries appended).
    pub files: Vec<(PathBuf, String)>,
    /// `(scope, wire name)` of every method added.
    pub methods: Vec<(String, String)>,
    /// `(scope, name)` of every event added.
    pub events: Vec<(String, String)>,
    /// Named types added.
    pub types: usize,
    /// Scopes that got a new file (each needs a cargo feature in the SDK).
    pub new_scopes: Vec<String>,
}

impl Imported {
    /// Writes the files.
    pub fn write(&self) -> Result<(), String> {
        for (path, text) in &self.files {
            std::fs::write(path, text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok(())
    }
}

/// Scaffolds entries for every method in `facts` that `schema` (loaded from `dir`) lacks and
/// `exclusions` does not list. `schema` is `None` for an empty directory.
pub fn import(
    facts: &Facts,
    dir: &Path,
    schema: Option<&Schema>,
    exclusions: &Exclusions,
) -> Result<Imported, String> {
    let mut have: BTreeSet<(String, bool)> = BTreeSet::new();
    let mut have_events: BTreeSet<String> = BTreeSet::new();
    let mut taken_types: BTreeSet<String> = BTreeSet::new();
    let mut taken_rust: BTreeSet<String> = BTreeSet::new();
    let mut taken_variants: BTreeSet<String> = BTreeSet::new();
    let mut scope_files: BTreeMap<String, PathBuf> = BTreeMap::new();
    if let Some(schema) = schema {
        for file in &schema.files {
            scope_files.insert(file.scope.clone(), PathBuf::from(&file.path));
            for m in &file.methods {
                have.insert((m.name.clone(), m.rest_v3));
                taken_types.insert(m.type_name.clone());
                taken_rust.insert(m.rust.clone());
            }
            for e in &file.events {
                have_events.insert(e.wire_name());
                taken_variants.insert(e.rust.clone());
            }
            taken_types.extend(file.types.iter().map(|t| t.name.clone()));
        }
    }
    // Every request type name is reserved up front, so a type of an earlier method can't take
    // the request type name of a later one.
    let missing: Vec<&FactMethod> = facts
        .methods
        .iter()
        .filter(|m| !have.contains(&(m.name.clone(), m.rest_v3)))
        .filter(|m| !exclusions.contains(&m.name))
        .collect();
    let mut plans: Vec<(String, String)> = Vec::new();
    for m in &missing {
        let rust = method_rust_name(m, facts, &taken_rust);
        taken_rust.insert(rust.clone());
        taken_types.insert(pascal_case(&rust));
        plans.push((m.name.clone(), rust));
    }

    let entity_fields: BTreeMap<String, Vec<FactParam>> = facts
        .methods
        .iter()
        .filter(|m| {
            let verb = m.name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
            is_fields_verb(&verb) && m.result_fields.len() > 3 && m.result_example.is_none()
        })
        .filter_map(|m| {
            let (prefix, _) = m.name.rsplit_once('.')?;
            Some((prefix.to_owned(), m.result_fields.clone()))
        })
        .collect();
    let crm_field_type = schema.is_some_and(|s| {
        s.files
            .iter()
            .any(|f| f.scope == "crm" && f.types.iter().any(|t| t.name == "CrmField"))
    });
    // Hand-written types standing for documented data types, visible per scope: a scope's
    // own and common's.
    let mut doc_types: BTreeMap<(String, String), String> = BTreeMap::new();
    if let Some(schema) = schema {
        let scopes: BTreeSet<&str> = facts.methods.iter().map(|m| m.scope.as_str()).collect();
        for f in &schema.files {
            for t in &f.types {
                let Some(doc_type) = &t.doc_type else {
                    continue;
                };
                let visible: Vec<&str> = if f.scope == "common" {
                    scopes.iter().copied().collect()
                } else {
                    vec![f.scope.as_str()]
                };
                for scope in visible {
                    let key = (scope.to_owned(), doc_type.to_ascii_lowercase());
                    doc_types.entry(key).or_insert_with(|| t.name.clone());
                }
            }
        }
    }
    let mut by_scope: BTreeMap<String, ScopeDraft> = BTreeMap::new();
    let mut added = Vec::new();
    for (m, (_, rust)) in missing.iter().zip(&plans) {
        let draft = by_scope.entry(m.scope.clone()).or_default();
        let mut ctx = Ctx {
            taken: &mut taken_types,
            entity_fields: &entity_fields,
            crm_field_type,
            doc_types: &doc_types,
            draft_scope: m.scope.clone(),
            draft,
            method: m.name.clone(),
        };
        let text = ctx.method(m, facts, rust);
        ctx.draft.text.push_str(&text);
        added.push((m.scope.clone(), m.name.clone()));
    }
    let mut added_events = Vec::new();
    for e in &facts.events {
        let known = [e.name.as_str(), e.wire_name()]
            .iter()
            .any(|n| have_events.contains(&n.to_ascii_uppercase()));
        if known || exclusions.contains_event(&e.name) {
            continue;
        }
        have_events.insert(e.wire_name().to_ascii_uppercase());
        let rust = event_variant_name(e, &taken_variants);
        taken_variants.insert(rust.clone());
        let draft = by_scope.entry(e.scope.clone()).or_default();
        let mut ctx = Ctx {
            taken: &mut taken_types,
            entity_fields: &entity_fields,
            crm_field_type,
            doc_types: &doc_types,
            draft_scope: e.scope.clone(),
            draft,
            method: e.name.clone(),
        };
        let text = ctx.event(e, &rust);
        ctx.draft.text.push_str(&text);
        added_events.push((e.scope.clone(), e.wire_name().to_owned()));
    }

    let mut files = Vec::new();
    let mut types = 0;
    let mut new_scopes = Vec::new();
    for (scope, draft) in by_scope {
        types += draft.type_count;
        let (path, mut text) = match scope_files.get(&scope) {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                (path.clone(), text)
            }
            None => {
                new_scopes.push(scope.clone());
                let path = dir.join(format!("{scope}.toml"));
                let text = format!(
                    "scope = {}\ndescription = {}\n",
                    toml_str(&scope),
                    toml_str(&scope_description(&scope))
                );
                (path, text)
            }
        };
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&draft.text);
        if !draft.types.is_empty() {
            text.push_str("\n# ---------------------------------------------------------------- types (imported)\n");
            text.push_str(&draft.types);
        }
        files.push((path, text));
    }
    Ok(Imported {
        files,
        methods: added,
        events: added_events,
        types,
        new_scopes,
    })
}

/// The variant name of an event: derived from its name when that has words, else from the
/// page's file name (`on-imbot-message-add.md` for `ONIMBOTMESSAGEADD`), with a counter where
/// two events meet in one name.
fn event_variant_name(e: &FactEvent, taken: &BTreeSet<String>) -> String {
    let from_page = || {
        let stem = e.doc.rsplit('/').next()?.strip_suffix(".md")?;
        let snake = snake_case(stem)?;
        // The page must be named after the event, not `events.md`.
        (snake.replace('_', "") == e.wire_name().to_ascii_lowercase()).then(|| pascal_case(&snake))
    };
    let base = crate::names::event_rust_name(e.wire_name())
        .or_else(from_page)
        .unwrap_or_else(|| {
            let lower = e.wire_name().to_ascii_lowercase().replace(['.', '_'], "");
            pascal_case(&lower)
        });
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) || name == "Unknown" {
        name = format!("{base}{n}");
        n += 1;
    }
    name
}

/// A one-line description of an event from its words: `onCrmDealAdd` -> "Sent when a CRM deal
/// is added." A draft for review, like method descriptions.
fn describe_event(rust: &str) -> String {
    let words: Vec<String> = crate::describe::words(rust)
        .into_iter()
        .filter(|w| w != "on")
        .collect();
    let (before, words) = match words.iter().position(|w| w == "before") {
        Some(i) => {
            let mut w = words.clone();
            w.remove(i);
            (true, w)
        }
        None => (false, words),
    };
    let Some((last, subject)) = words.split_last() else {
        return "An event.".to_owned();
    };
    const VERBS: &[(&str, &str)] = &[
        ("add", "added"),
        ("update", "updated"),
        ("delete", "deleted"),
        ("deleted", "deleted"),
        ("saved", "saved"),
        ("start", "started"),
        ("finish", "finished"),
        ("end", "ended"),
        ("init", "initialized"),
        ("changed", "changed"),
        ("install", "installed"),
        ("uninstall", "uninstalled"),
        ("register", "registered"),
        ("unregister", "unregistered"),
        ("expose", "issued"),
        ("signed", "signed"),
        ("confirm", "confirmed"),
    ];
    let subject: Vec<String> = subject
        .iter()
        .map(|w| match w.as_str() {
            "crm" => "CRM".to_owned(),
            "im" => "IM".to_owned(),
            "b2e" => "B2E".to_owned(),
            "hcm" => "HCM".to_owned(),
            w => w.to_owned(),
        })
        .collect();
    let subject = subject.join(" ");
    match VERBS.iter().find(|(verb, _)| verb == last) {
        Some((_, done)) if !subject.is_empty() => {
            let article = if subject.starts_with(['a', 'e', 'i', 'o', 'A', 'E', 'I', 'O']) {
                "an"
            } else {
                "a"
            };
            let when = if before { "before" } else { "when" };
            format!("Sent {when} {article} {subject} is {done}.")
        }
        _ => {
            let mut all = words.join(" ");
            if let Some(first) = all.get(..1) {
                all = first.to_ascii_uppercase() + &all[1..];
            }
            format!("{all}.")
        }
    }
}

/// The client method name: the wire name's snake_case, with `_v3` for the REST 3.0 twin of a
/// classic method, and a counter where two wire names meet in one Rust name.
fn method_rust_name(m: &FactMethod, facts: &Facts, taken: &BTreeSet<String>) -> String {
    let mut base = snake_case(&m.name).unwrap_or_else(|| "method".to_owned());
    if m.rest_v3 && facts.in_both_versions(&m.name) {
        base.push_str("_v3");
    }
    if RESERVED_CLIENT_NAMES.contains(&base.as_str()) {
        base.push_str("_method");
    }
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}

const RESERVED_CLIENT_NAMES: &[&str] = &[
    "new",
    "builder",
    "webhook",
    "from_env",
    "from_vars",
    "portal",
    "request",
    "send",
    "call",
    "call_with",
    "call_raw",
    "batch",
    "batch2",
    "batch3",
];

/// Param names the request's own methods use, and what to call such a param instead.
const RESERVED_PARAMS: &[(&str, &str)] = &[
    ("new", "new_value"),
    ("map", "map_value"),
    ("params", "options"),
    ("into_params", "into_params_value"),
    ("send", "send_value"),
    ("stream", "stream_value"),
    ("stream_with", "stream_with_value"),
    ("pages", "pages_value"),
    ("pages_with", "pages_with_value"),
    ("into_future", "into_future_value"),
];

/// One line for a new scope file.
fn scope_description(scope: &str) -> String {
    const KNOWN: &[(&str, &str)] = &[
        (
            "ai_admin",
            "AI engines an application registers for the portal's AI features.",
        ),
        (
            "biconnector",
            "BI connector: data sources and datasets for BI tools.",
        ),
        (
            "bizproc",
            "Business processes and automation: activities, robots, workflows, tasks.",
        ),
        (
            "booking",
            "Online booking: resources, bookings, clients and the waitlist.",
        ),
        ("calendar", "Calendars, their sections and events."),
        (
            "call",
            "Telephony calls of the messenger: follow-ups and transcripts.",
        ),
        ("cashbox", "Online cash registers and their receipts."),
        (
            "catalog",
            "Trade catalog: products, prices, stores, inventory documents.",
        ),
        ("delivery", "Delivery services and their requests."),
        ("department", "Company structure departments."),
        (
            "disk",
            "Drive: storages, folders, files and their versions.",
        ),
        (
            "documentgenerator",
            "Document generator: templates, numerators, documents.",
        ),
        (
            "entity",
            "Application data storage: entities, sections, items.",
        ),
        (
            "humanresources",
            "Company structure: nodes, employees and their membership (REST 3.0).",
        ),
        (
            "humanresources.hcmlink",
            "HCM link: employee mapping with external HR systems.",
        ),
        (
            "imconnector",
            "Open channel connectors to external messengers.",
        ),
        (
            "imopenlines",
            "Open channels: lines, sessions, operators and bots.",
        ),
        (
            "landing",
            "Sites and landing pages: sites, pages, blocks, templates.",
        ),
        (
            "lists",
            "Universal lists: lists, sections, elements and fields.",
        ),
        ("log", "Activity stream (news feed) posts and comments."),
        ("mail", "Mailboxes and messages (REST 3.0)."),
        (
            "mailservice",
            "Mail services available to portal mailboxes.",
        ),
        ("main", "Portal event log (REST 3.0)."),
        ("messageservice", "SMS providers and message delivery."),
        (
            "note",
            "Notes: collections, documents and files (REST 3.0).",
        ),
        ("pay_system", "Payment systems and their handlers."),
        (
            "placement",
            "Application embedding points in the portal interface.",
        ),
        (
            "pull",
            "Push and pull: real-time messages to application pages.",
        ),
        (
            "rpa",
            "Robotic process automation: processes, stages, items.",
        ),
        (
            "sale",
            "Online store: orders, payments, shipments, baskets, properties.",
        ),
        (
            "salescenter",
            "Sales center: payments and orders sent from chats and CRM.",
        ),
        ("sign.b2e", "Electronic signature of HR documents."),
        ("socialnetwork", "Workgroups and projects."),
        ("sonet", "Workgroups and projects of the social network."),
        (
            "task",
            "Tasks through the classic methods: tasks, checklists, comments, time, stages.",
        ),
        ("tasks", "Tasks through REST 3.0."),
        (
            "telephony",
            "Telephony: external calls, lines and statistics.",
        ),
        (
            "timeman",
            "Working time: the work day, schedules, time tracking.",
        ),
        ("userconsent", "User consent agreements and their records."),
        (
            "userfieldconfig",
            "User field configuration for CRM and other modules.",
        ),
        ("user.userfield", "User fields of user profiles."),
        ("vote", "Votes attached to posts and messages."),
    ];
    KNOWN.iter().find(|(s, _)| *s == scope).map_or_else(
        || format!("Methods of the `{scope}` scope."),
        |(_, d)| (*d).to_owned(),
    )
}

/// The drafts of one scope: method entries, and the named types they introduced.
#[derive(Default)]
struct ScopeDraft {
    text: String,
    types: String,
    type_count: usize,
    /// Enums already drafted in this file, by (param name, values), for reuse.
    enums: BTreeMap<(String, Vec<String>), String>,
    enum_names: BTreeSet<String>,
    /// Drafted structs and the wire names of their `list<..>` fields.
    struct_lists: BTreeMap<String, Vec<String>>,
    /// Entity structs drafted from `*.fields` pages, by method prefix (`crm.company`).
    entities: BTreeMap<String, String>,
    /// Event data structs drafted so far, by their field entries, for reuse.
    shapes: BTreeMap<Vec<String>, String>,
}

struct Ctx<'a> {
    taken: &'a mut BTreeSet<String>,
    draft: &'a mut ScopeDraft,
    /// Entity fields documented by `*.fields` pages, by method prefix.
    entity_fields: &'a BTreeMap<String, Vec<FactParam>>,
    /// Whether the schema has crm's `CrmField` (the answer of classic `crm.*.fields`).
    crm_field_type: bool,
    /// `(scope, documented data type) -> type` for the hand-written types that declare a
    /// `doc_type` and that the scope can use (its own and common's).
    doc_types: &'a BTreeMap<(String, String), String>,
    /// The scope being drafted.
    draft_scope: String,
    /// Wire name of the method being drafted, for type descriptions.
    method: String,
}

/// Whether a param or field is sent (a request) or read (a result): results never get enums
/// from sending-only knowledge, and are checked against examples.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Param,
    Result,
    /// The data of an inbound event: read like a result; every scalar of a form-encoded event
    /// is a string, which the lenient codecs read.
    Event,
}

impl Ctx<'_> {
    fn fresh_type_name(&mut self, base: &str) -> String {
        let base = if base.is_empty() { "Value" } else { base };
        let mut name = base.to_owned();
        let mut n = 2;
        while self.taken.contains(&name) || crate::names::check_pascal(&name).is_err() {
            name = format!("{base}{n}");
            n += 1;
        }
        self.taken.insert(name.clone());
        name
    }

    /// An `[[event]]` entry, with a named type for its data when the page documents fields.
    fn event(&mut self, e: &FactEvent, rust: &str) -> String {
        let fields = e.data_fields();
        let data_doc = e.data_type().unwrap_or("object").to_ascii_lowercase();
        let data = if fields.is_empty() {
            match data_doc.as_str() {
                "integer" => "int".to_owned(),
                "string" => "string".to_owned(),
                _ => "any".to_owned(),
            }
        } else {
            let description = format!(
                "What `{}` sends in `data`.",
                e.wire_name().to_ascii_uppercase()
            );
            self.struct_type(
                &fields,
                &format!("{rust}Data"),
                Side::Event,
                None,
                &description,
            )
        };
        let mut out = String::new();
        out.push_str("\n[[event]]\n");
        // Named as portals send it (the payload examples' `event`), not as the heading says.
        let _ = writeln!(out, "name = {}", toml_str(e.wire_name()));
        if crate::names::event_rust_name(e.wire_name()).as_deref() != Some(rust) {
            let _ = writeln!(out, "rust = {}", toml_str(rust));
        }
        let _ = writeln!(out, "description = {}", toml_str(&describe_event(rust)));
        let _ = writeln!(out, "doc = {}", toml_str(&e.doc));
        let _ = writeln!(out, "data = {}", toml_str(&data));
        if e.deprecated {
            out.push_str("deprecated = true\n");
        }
        out
    }

    fn method(&mut self, m: &FactMethod, facts: &Facts, rust: &str) -> String {
        let type_base = pascal_case(rust);
        let documented = documented_params(m);
        let positional = is_positional(&m.name);
        let mut params_text = Vec::new();
        let mut rust_names: BTreeSet<String> = BTreeSet::new();
        for p in &documented {
            if !is_wire_name(&p.name) || p.name == "auth" {
                continue;
            }
            let mut p = p.clone();
            if p.fields.is_empty() {
                p.fields = section_fields(m, &p.name).unwrap_or_default();
            }
            let ty = self.ty(
                &p,
                &format!("{type_base}{}", pascal(&p.name)),
                Side::Param,
                None,
            );
            let rust = field_rust(&p.name, &mut rust_names, RESERVED_PARAMS);
            let mut entry = format!("{{ name = {}", toml_str(&p.name));
            if let Some(rust) = rust {
                let _ = write!(entry, ", rust = {}", toml_str(&rust));
            }
            let _ = write!(entry, ", type = {}", toml_str(&ty));
            if p.required {
                entry.push_str(", required = true");
            }
            if let Some(default) = p.default.as_deref().filter(|d| is_short_text(d)) {
                let doc = format!("Defaults to `{}`.", default.replace('`', "'"));
                let _ = write!(entry, ", doc = {}", toml_str(&doc));
            }
            entry.push_str(" }");
            params_text.push(entry);
        }

        let result = self.result_type(m, &format!("{type_base}Result"));
        let has_start = documented
            .iter()
            .any(|p| p.name.eq_ignore_ascii_case("start"));
        let (paging, items) = paging_of(m, has_start, &result, self);
        let idempotent = is_read(&m.name);
        let description = describe(&Shape {
            name: &m.name,
            has_id_param: documented
                .iter()
                .any(|p| p.name.eq_ignore_ascii_case("id") || p.name.ends_with("Id") && p.required),
            has_filter: documented
                .iter()
                .any(|p| p.name.eq_ignore_ascii_case("filter")),
            paged: paging.is_some(),
            result: &result,
            rest_v3: m.rest_v3 && facts.in_both_versions(&m.name),
        });

        let mut out = String::new();
        out.push_str("\n[[method]]\n");
        let _ = writeln!(out, "name = {}", toml_str(&m.name));
        if snake_case(&m.name).as_deref() != Some(rust) {
            let _ = writeln!(out, "rust = {}", toml_str(rust));
        }
        let _ = writeln!(out, "description = {}", toml_str(&description));
        let _ = writeln!(out, "doc = {}", toml_str(&m.doc));
        let _ = writeln!(out, "result = {}", toml_str(&result));
        if idempotent {
            out.push_str("idempotent = true\n");
        }
        if let Some(paging) = paging {
            let _ = writeln!(out, "paging = {}", toml_str(paging));
        }
        if let Some(items) = items {
            let _ = writeln!(out, "items = {}", toml_str(&items));
        }
        if m.rest_v3 {
            out.push_str("rest_v3 = true\n");
        }
        if positional {
            out.push_str("positional = true\n");
        }
        if m.deprecated {
            match m.use_instead.as_deref().filter(|u| *u != m.name) {
                Some(replacement) => {
                    let _ = writeln!(out, "deprecated = {}", toml_str(replacement));
                }
                None => out.push_str("deprecated = true\n"),
            }
        }
        if !params_text.is_empty() {
            out.push_str("params = [\n");
            for p in params_text {
                let _ = writeln!(out, "  {p},");
            }
            out.push_str("]\n");
        }
        out
    }

    /// The type expression of a param or result field, drafting named types as needed.
    fn ty(&mut self, p: &FactParam, type_name: &str, side: Side, example: Option<&Json>) -> String {
        let doc_ty = p.ty.as_deref().unwrap_or("").trim();
        let lower = doc_ty.to_ascii_lowercase();
        if is_yes_no(&p.values)
            && matches!(lower.as_str(), "char" | "string" | "boolean" | "bool" | "")
        {
            return "yn".to_owned();
        }
        // An object keyed by ids (`{BOT_ID}` in the docs) is a map of what each key holds.
        if !p.fields.is_empty() && p.fields.iter().all(|f| is_placeholder(&f.name)) {
            let inner = self.ty(&p.fields[0], type_name, side, None);
            return format!("map<{inner}>");
        }
        if side == Side::Event {
            let lower_name = p.name.to_ascii_lowercase();
            if matches!(
                lower_name.as_str(),
                "access_token" | "refresh_token" | "application_token"
            ) {
                return "secret".to_owned();
            }
            let values: BTreeSet<&str> = p.values.iter().map(String::as_str).collect();
            // `Y`, `N` and `undefined` (not checked): a flag that may be unknown.
            if values.contains("Y") && values.contains("N") && values.len() <= 3 {
                return "yn".to_owned();
            }
            if values == BTreeSet::from(["0", "1"]) {
                return "bool".to_owned();
            }
            match lower.as_str() {
                "timestamp" => return "int".to_owned(),
                "undefined|object" if !p.fields.is_empty() => {
                    let description = self.describe_type(p, side);
                    return self.struct_type(&p.fields, type_name, side, None, &description);
                }
                _ => {}
            }
        }
        let ty = match lower.as_str() {
            "string" | "text" | "char" | "string|null" | "varchar" => match side {
                _ if enum_worthy(&p.values) => self.enum_type(&p.name, &p.values, type_name),
                _ => "string".to_owned(),
            },
            "integer" | "int" | "integer|null" | "number" | "long" => "int".to_owned(),
            "double" | "float" | "decimal" | "double|null" | "numeric" => "float".to_owned(),
            "boolean" | "bool" | "boolean|null" => "bool".to_owned(),
            "date" => "date".to_owned(),
            "datetime" | "datetime|null" => "datetime".to_owned(),
            // A file in an answer is a description (`id`, `showUrl`, ...), not `[name, base64]`.
            "file" if side != Side::Param => "any".to_owned(),
            "file" => "file".to_owned(),
            "object" | "object|null" | "array|object" | "object|array" if !p.fields.is_empty() => {
                let sub = example.filter(|e| matches!(e, Json::Object(_)));
                let description = self.describe_type(p, side);
                self.struct_type(&p.fields, type_name, side, sub, &description)
            }
            "object" | "object|null" | "array" | "array|null"
                if side == Side::Param && p.name.eq_ignore_ascii_case("filter") =>
            {
                "filter".to_owned()
            }
            "object" | "object|null" => match side {
                Side::Param if p.name.eq_ignore_ascii_case("order") => "map<SortOrder>".to_owned(),
                _ => "map<any>".to_owned(),
            },
            "array" | "array|null" | "object[]" if !p.fields.is_empty() => {
                let row = example
                    .and_then(|e| e.items().first())
                    .filter(|e| matches!(e, Json::Object(_)));
                let description = self.describe_type(p, side);
                let inner = self.struct_type(&p.fields, type_name, side, row, &description);
                format!("list<{inner}>")
            }
            "array" | "array|null" if p.name.eq_ignore_ascii_case("select") => {
                "list<string>".to_owned()
            }
            "array" | "array|null" | "object[]" | "[]" => "list<any>".to_owned(),
            "string|lang_map" => "any".to_owned(),
            // `{ "en": "...", "de": "..." }` (crm/data-types.md).
            "lang_map" => "map<string>".to_owned(),
            t if t.ends_with("[]") && !t.contains('|') => {
                let inner = FactParam {
                    ty: Some(doc_ty[..doc_ty.len() - 2].to_owned()),
                    values: Vec::new(),
                    ..p.clone()
                };
                let inner = self.ty(&inner, type_name, side, None);
                format!("list<{inner}>")
            }
            t if t == "user" || t.ends_with(".id") || t.contains(".id|") => "int".to_owned(),
            t if CRM_ID_TYPES.contains(&t) => "int".to_owned(),
            "crm_status" => "string".to_owned(),
            // A documented data type a hand-written type stands for (`doc_type`), in this scope's
            // file or common.toml.
            t if self
                .doc_types
                .contains_key(&(self.draft_scope.clone(), t.to_owned())) =>
            {
                self.doc_types[&(self.draft_scope.clone(), t.to_owned())].clone()
            }
            t if t.ends_with(".code") || t.ends_with(".currency") || t.ends_with(".xml_id") => {
                "string".to_owned()
            }
            _ if !p.fields.is_empty() => {
                let sub = example.filter(|e| matches!(e, Json::Object(_)));
                let description = self.describe_type(p, side);
                self.struct_type(&p.fields, type_name, side, sub, &description)
            }
            _ => "any".to_owned(),
        };
        // A documented example wins over a documented type it contradicts.
        match example {
            Some(e) if side == Side::Result && !fits(&ty, e, &self.draft.types_index()) => {
                self.infer(e, type_name, &p.name)
            }
            _ => ty,
        }
    }

    fn describe_type(&self, p: &FactParam, side: Side) -> String {
        match side {
            Side::Param => format!("The `{}` argument of `{}`.", p.name, self.method),
            Side::Result => format!("The `{}` part of what `{}` returns.", p.name, self.method),
            Side::Event => format!(
                "The `{}` part of what `{}` sends in `data`.",
                p.name,
                self.method.to_ascii_uppercase()
            ),
        }
    }

    fn enum_type(&mut self, param: &str, values: &[String], type_name: &str) -> String {
        let key = (param.to_owned(), values.to_vec());
        if let Some(name) = self.draft.enums.get(&key) {
            return name.clone();
        }
        let name = self.fresh_type_name(type_name);
        let mut seen = BTreeSet::new();
        let mut entries = Vec::new();
        for value in values {
            if value.is_empty() || !seen.insert(value.clone()) {
                continue;
            }
            let mut variant = pascal(value);
            if variant.is_empty() || !variant.starts_with(|c: char| c.is_ascii_uppercase()) {
                variant = format!("V{variant}");
            }
            if variant == "Unknown" || crate::names::check_pascal(&variant).is_err() {
                variant = format!("{variant}Value");
            }
            let mut unique = variant.clone();
            let mut n = 2;
            while entries.iter().any(|(_, v): &(String, String)| *v == unique) {
                unique = format!("{variant}{n}");
                n += 1;
            }
            entries.push((value.clone(), unique));
        }
        let mut text = format!(
            "\n[[type]]\nname = {}\ndescription = {}\nvalues = [\n",
            toml_str(&name),
            toml_str(&format!("Values of `{param}` in `{}`.", self.method))
        );
        for (value, variant) in entries {
            let _ = writeln!(
                text,
                "  {{ value = {}, name = {} }},",
                toml_str(&value),
                toml_str(&variant)
            );
        }
        text.push_str("]\n");
        self.draft.types.push_str(&text);
        self.draft.type_count += 1;
        self.draft.enums.insert(key, name.clone());
        self.draft.enum_names.insert(name.clone());
        name
    }

    /// A struct of documented fields; fields the example contradicts are loosened.
    fn struct_type(
        &mut self,
        fields: &[FactParam],
        type_name: &str,
        side: Side,
        example: Option<&Json>,
        description: &str,
    ) -> String {
        let name = self.fresh_type_name(type_name);
        let mut rust_names = BTreeSet::new();
        let mut lines = Vec::new();
        for f in fields {
            if !is_wire_name(&f.name) {
                continue;
            }
            if lines
                .iter()
                .any(|(wire, _): &(String, String)| *wire == f.name)
            {
                continue;
            }
            let value = example.and_then(|e| e.get(&f.name));
            let ty = self.ty(f, &format!("{name}{}", pascal(&f.name)), side, value);
            let rust = field_rust(
                &f.name,
                &mut rust_names,
                &[("new", "new_value"), ("extra", "extra_value")],
            );
            let mut entry = format!("{{ name = {}", toml_str(&f.name));
            if let Some(rust) = rust {
                let _ = write!(entry, ", rust = {}", toml_str(&rust));
            }
            let _ = write!(entry, ", type = {}", toml_str(&ty));
            // Results are read leniently: a documented-required field may still be absent.
            if f.required && side == Side::Param {
                entry.push_str(", required = true");
            }
            entry.push_str(" }");
            lines.push((f.name.clone(), entry));
        }
        if side == Side::Event {
            // Events of one kind share their shapes (every CRM event sends `FIELDS[ID]`): an
            // identical struct drafted before is reused.
            let key: Vec<String> = lines.iter().map(|(_, e)| e.clone()).collect();
            if let Some(existing) = self.draft.shapes.get(&key) {
                let existing = existing.clone();
                self.taken.remove(&name);
                return existing;
            }
            self.draft.shapes.insert(key, name.clone());
        }
        self.push_struct(&name, description, lines);
        name
    }

    /// Drafts a struct from `(wire name, entry text)` pairs.
    fn push_struct(&mut self, name: &str, description: &str, fields: Vec<(String, String)>) {
        let lists = fields
            .iter()
            .filter(|(_, entry)| entry.contains("type = \"list<"))
            .map(|(wire, _)| wire.clone())
            .collect();
        self.draft.struct_lists.insert(name.to_owned(), lists);
        let mut text = format!(
            "\n[[type]]\nname = {}\ndescription = {}\nopen = true\nfields = [\n",
            toml_str(name),
            toml_str(description)
        );
        for (_, f) in fields {
            let _ = writeln!(text, "  {f},");
        }
        text.push_str("]\n");
        self.draft.types.push_str(&text);
        self.draft.type_count += 1;
    }

    /// The type of `result`.
    fn result_type(&mut self, m: &FactMethod, type_name: &str) -> String {
        let doc = m
            .result
            .as_deref()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let example = m.result_example.as_ref();
        let fields = &m.result_fields;
        let verb = m.name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
        // A `*.fields` page documents the fields of the entity, but the answer describes each
        // field (type, required, title, ...) under its name.
        if is_fields_verb(&verb) && fields.len() > 3 && example.is_none() {
            return if m.scope == "crm" && self.crm_field_type {
                "map<CrmField>".to_owned()
            } else {
                "map<any>".to_owned()
            };
        }
        // A get or list page that documents nothing may borrow the entity its `*.fields` page
        // documents.
        if fields.is_empty() && example.is_none() && !is_scalar_doc(&doc) {
            let prefix = m.name.rsplit_once('.').map_or("", |(p, _)| p);
            let entity = match verb.as_str() {
                "get" | "getbyid" | "list" | "getlist" => self.entity(prefix),
                _ => None,
            };
            if let Some(entity) = entity {
                return if verb.contains("list") {
                    format!("list<{entity}>")
                } else {
                    entity
                };
            }
        }
        let from_doc = match doc.as_str() {
            "boolean" | "true" | "boolean|null" | "bool" => Some("bool".to_owned()),
            "integer" | "integer|null" | "int" => Some("int".to_owned()),
            "string" | "string|null" => Some("string".to_owned()),
            "integer[]" => Some("list<int>".to_owned()),
            "string[]" => Some("list<string>".to_owned()),
            _ if !fields.is_empty() => {
                let is_list = doc.ends_with("[]") || doc == "array";
                Some(self.result_struct(m, type_name, is_list))
            }
            _ => None,
        };
        match (from_doc, example) {
            (Some(ty), Some(e)) if !fits(&ty, e, &self.draft.types_index()) => {
                self.infer(e, type_name, "")
            }
            (Some(ty), _) => ty,
            (None, Some(e)) => self.infer(e, type_name, ""),
            (None, None) if doc.ends_with("[]") || doc == "array" => "list<any>".to_owned(),
            (None, None) => "any".to_owned(),
        }
    }

    /// The struct of the entity a `{prefix}.fields` page documents, drafted once per scope.
    fn entity(&mut self, prefix: &str) -> Option<String> {
        if let Some(name) = self.draft.entities.get(prefix) {
            return Some(name.clone());
        }
        let fields = self.entity_fields.get(prefix)?.clone();
        let base = pascal(prefix);
        let description = format!("An entity as `{prefix}.fields` documents its fields.");
        let name = self.struct_type(&fields, &base, Side::Result, None, &description);
        self.draft.entities.insert(prefix.to_owned(), name.clone());
        Some(name)
    }

    /// A result with documented fields: one struct, a list of them, or a map of them (when the
    /// example is keyed by something other than the fields, like ids or codes).
    fn result_struct(&mut self, m: &FactMethod, type_name: &str, is_list: bool) -> String {
        let example = m.result_example.as_ref();
        let names: BTreeSet<&str> = m.result_fields.iter().map(|f| f.name.as_str()).collect();
        let description = format!("What `{}` returns.", m.name);
        match example {
            Some(Json::Array(rows)) => {
                let row = rows.first().filter(|r| matches!(r, Json::Object(_)));
                let row_type = self.struct_type(&m.result_fields, type_name, Side::Result, row, &format!("One entry of what `{}` returns.", m.name));
                format!("list<{row_type}>")
            }
            Some(Json::Object(entries))
                if !entries.is_empty()
                    && entries.iter().all(|(k, v)| {
                        !names.contains(k.as_str())
                            && matches!(v, Json::Object(inner) if inner.iter().any(|(ik, _)| names.contains(ik.as_str())))
                    }) =>
            {
                let row = entries.first().map(|(_, v)| v);
                let row_type = self.struct_type(&m.result_fields, type_name, Side::Result, row, &format!("One entry of what `{}` returns.", m.name));
                format!("map<{row_type}>")
            }
            _ if is_list => {
                let row_type = self.struct_type(&m.result_fields, type_name, Side::Result, None, &format!("One entry of what `{}` returns.", m.name));
                format!("list<{row_type}>")
            }
            _ => self.struct_type(&m.result_fields, type_name, Side::Result, example, &description),
        }
    }

    /// A type read off an example value.
    fn infer(&mut self, e: &Json, type_name: &str, key: &str) -> String {
        match e {
            Json::Null => "any".to_owned(),
            Json::Bool(_) => "bool".to_owned(),
            Json::Number(n) => {
                if n.contains(['.', 'e', 'E']) || money_like(key) {
                    "float".to_owned()
                } else {
                    "int".to_owned()
                }
            }
            Json::String(_) => "string".to_owned(),
            Json::Array(items) => {
                if items.is_empty() {
                    return "list<any>".to_owned();
                }
                if items
                    .iter()
                    .all(|i| matches!(i, Json::Object(o) if !o.is_empty() && !numeric_keys(o)))
                {
                    let merged = merge_objects(items.iter());
                    let row = self.infer_struct(&merged, type_name, items);
                    return format!("list<{row}>");
                }
                let first = self.infer(&items[0], type_name, key);
                let index = self.draft.types_index();
                if !first.contains("Result") && items.iter().all(|i| fits(&first, i, &index)) {
                    format!("list<{first}>")
                } else {
                    "list<any>".to_owned()
                }
            }
            Json::Object(entries) if entries.is_empty() => "any".to_owned(),
            Json::Object(entries) if numeric_keys(entries) || entries.len() > 40 => {
                let values: Vec<Json> = entries.iter().map(|(_, v)| v.clone()).collect();
                let inner = self.infer(&Json::Array(values), type_name, key);
                match inner
                    .strip_prefix("list<")
                    .and_then(|i| i.strip_suffix('>'))
                {
                    Some(inner) => format!("map<{inner}>"),
                    None => "map<any>".to_owned(),
                }
            }
            Json::Object(entries) => {
                let one = [e.clone()];
                self.infer_struct(entries, type_name, &one)
            }
        }
    }

    /// A struct from the keys seen in `rows` (each an object).
    fn infer_struct(&mut self, keys: &[(String, Json)], type_name: &str, rows: &[Json]) -> String {
        let name = self.fresh_type_name(type_name);
        let mut rust_names = BTreeSet::new();
        let mut fields = Vec::new();
        for (key, first) in keys {
            if !is_wire_name(key) || snake_case(key).is_none() {
                continue;
            }
            let values: Vec<&Json> = rows.iter().filter_map(|r| r.get(key)).collect();
            let sample = values
                .iter()
                .copied()
                .find(|v| !is_empty_json(v))
                .unwrap_or(first);
            let mut ty = self.infer(sample, &format!("{name}{}", pascal(key)), key);
            let index = self.draft.types_index();
            if !values.iter().all(|v| fits(&ty, v, &index)) {
                ty = "any".to_owned();
            }
            let rust = field_rust(
                key,
                &mut rust_names,
                &[("new", "new_value"), ("extra", "extra_value")],
            );
            let mut entry = format!("{{ name = {}", toml_str(key));
            if let Some(rust) = rust {
                let _ = write!(entry, ", rust = {}", toml_str(&rust));
            }
            let _ = write!(entry, ", type = {} }}", toml_str(&ty));
            fields.push((key.clone(), entry));
        }
        let description = format!(
            "Part of what `{}` returns, as its documented example shows it.",
            self.method
        );
        self.push_struct(&name, &description, fields);
        name
    }
}

impl ScopeDraft {
    fn types_index(&self) -> TypesIndex {
        TypesIndex {
            enums: self.enum_names.clone(),
        }
    }
}

/// Which drafted names are structs and which are enums, for [`fits`].
pub(crate) struct TypesIndex {
    enums: BTreeSet<String>,
}

fn merge_objects<'a>(rows: impl Iterator<Item = &'a Json>) -> Vec<(String, Json)> {
    let mut merged: Vec<(String, Json)> = Vec::new();
    for row in rows {
        if let Json::Object(entries) = row {
            for (k, v) in entries {
                match merged.iter_mut().find(|(mk, _)| mk == k) {
                    Some((_, mv)) if is_empty_json(mv) => *mv = v.clone(),
                    Some(_) => {}
                    None => merged.push((k.clone(), v.clone())),
                }
            }
        }
    }
    merged
}

fn numeric_keys(entries: &[(String, Json)]) -> bool {
    !entries.is_empty()
        && entries
            .iter()
            .all(|(k, _)| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
}

fn is_empty_json(v: &Json) -> bool {
    match v {
        Json::Null | Json::Bool(false) => true,
        Json::String(s) => s.is_empty(),
        Json::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn money_like(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "price",
        "sum",
        "amount",
        "opportunity",
        "quantity",
        "rate",
        "discount",
        "tax",
        "vat",
        "weight",
        "width",
        "height",
        "length",
        "cost",
        "coef",
        "ratio",
        "percent",
        "duration",
        "balance",
    ]
    .iter()
    .any(|w| k.contains(w))
}

/// Whether `json` decodes as `ty` under the runtime's lenient codecs (see `sdk/src/codec.rs`):
/// empty spellings are absent values, numbers may come as strings, `Y`/`N` as booleans.
pub(crate) fn fits(ty: &str, json: &Json, index: &TypesIndex) -> bool {
    let Ok(ty) = Ty::parse(ty) else { return false };
    fits_ty(&ty, json, index, true)
}

fn fits_ty(ty: &Ty, json: &Json, index: &TypesIndex, top: bool) -> bool {
    // Inside structs every field is optional, so empty spellings fit anything.
    if !top && is_empty_json(json) && !matches!(ty, Ty::Bool | Ty::YesNo) {
        return true;
    }
    let number_text = |s: &str| s.trim().parse::<f64>().is_ok();
    match ty {
        Ty::Any => true,
        Ty::String | Ty::DialogId | Ty::Secret => {
            matches!(json, Json::String(_) | Json::Number(_) | Json::Bool(_))
        }
        Ty::Int | Ty::IntStr => match json {
            Json::Number(n) => n.parse::<f64>().is_ok_and(|f| f.fract() == 0.0),
            Json::String(s) => s.trim().parse::<i64>().is_ok(),
            _ => false,
        },
        Ty::Float => match json {
            Json::Number(_) => true,
            Json::String(s) => number_text(s),
            _ => false,
        },
        Ty::Bool | Ty::YesNo => match json {
            Json::Bool(_) => true,
            Json::Number(n) => n == "0" || n == "1",
            Json::String(s) => matches!(
                s.as_str(),
                "Y" | "y"
                    | "N"
                    | "n"
                    | "1"
                    | "0"
                    | "true"
                    | "false"
                    | "TRUE"
                    | "FALSE"
                    | "True"
                    | "False"
            ),
            Json::Null => !top,
            Json::Array(a) => a.is_empty() && !top,
            _ => false,
        },
        Ty::Date => {
            matches!(json, Json::String(s) if s.len() >= 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-')
        }
        Ty::DateTime => matches!(json, Json::String(s) if is_rfc3339(s)),
        Ty::File | Ty::FileData | Ty::FileNameContent | Ty::Base64 | Ty::Filter => false,
        Ty::Null => matches!(json, Json::Null),
        Ty::Option(inner) => matches!(json, Json::Null) || fits_ty(inner, json, index, top),
        Ty::List(inner) => match json {
            Json::Array(items) => items.iter().all(|i| fits_ty(inner, i, index, false)),
            Json::Object(entries) => {
                numeric_keys(entries)
                    && entries.iter().all(|(_, v)| fits_ty(inner, v, index, false))
            }
            _ => is_empty_json(json),
        },
        Ty::Map(inner) => match json {
            Json::Object(entries) => entries.iter().all(|(_, v)| fits_ty(inner, v, index, false)),
            Json::Array(items) => items.is_empty(),
            _ => false,
        },
        Ty::Named { name, .. } if name == "SortOrder" || index.enums.contains(name) => {
            matches!(json, Json::String(_) | Json::Number(_) | Json::Bool(_))
        }
        // Drafted structs were built from (or checked against) this very example.
        Ty::Named { .. } => matches!(json, Json::Object(_)) || (!top && is_empty_json(json)),
    }
}

fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return false;
    }
    let tail = &s[19..];
    let tail = tail
        .strip_prefix('.')
        .map_or(tail, |t| t.trim_start_matches(|c: char| c.is_ascii_digit()));
    tail == "Z"
        || tail == "z"
        || (tail.len() == 6
            && (tail.starts_with('+') || tail.starts_with('-'))
            && tail.as_bytes()[3] == b':')
}

/// Paging of an imported method: offset paging when it takes `start` and returns a list (or a
/// struct with one list field, which then holds the rows).
fn paging_of(
    m: &FactMethod,
    has_start: bool,
    result: &str,
    ctx: &Ctx<'_>,
) -> (Option<&'static str>, Option<String>) {
    if !has_start || m.rest_v3 {
        return (None, None);
    }
    if result.starts_with("list<") {
        let keyset = KEYSET_LISTS.contains(&m.name.as_str());
        return (Some(if keyset { "keyset" } else { "start" }), None);
    }
    // A struct drafted for this method with exactly one list field.
    match ctx.draft.struct_lists.get(result).map(Vec::as_slice) {
        Some([one]) => (Some("start"), Some(one.clone())),
        _ => (None, None),
    }
}

/// Classic list methods known to accept `order[ID]`, `filter[>ID]` and `start=-1`.
const KEYSET_LISTS: &[&str] = &[
    "crm.lead.list",
    "crm.contact.list",
    "crm.company.list",
    "crm.quote.list",
    "crm.activity.list",
    "crm.requisite.list",
    "crm.product.list",
];

/// The old task methods (`CTaskItem` and friends behind `task.item.*`, `task.commentitem.*`,
/// ...) map their arguments by position and ignore the names.
pub(crate) fn is_positional(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "task.item.",
        "task.items.",
        "task.commentitem.",
        "task.checklistitem.",
        "task.elapseditem.",
        "task.logitem.",
        "task.planner.",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p))
}

fn is_fields_verb(verb: &str) -> bool {
    verb == "fields" || verb == "getfields"
}

/// A documented result type that is a plain scalar (no entity to borrow).
fn is_scalar_doc(doc: &str) -> bool {
    matches!(
        doc,
        "boolean"
            | "true"
            | "boolean|null"
            | "bool"
            | "integer"
            | "integer|null"
            | "int"
            | "string"
            | "string|null"
    )
}

/// Reads: safe to repeat.
pub(crate) fn is_read(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name).to_ascii_lowercase();
    const READ_PREFIXES: &[&str] = &[
        "get", "list", "fields", "count", "search", "find", "is", "can", "check",
    ];
    const READ_WORDS: &[&str] = &[
        "info",
        "types",
        "mode",
        "countries",
        "items",
        "current",
        "tail",
        "children",
        "subordinates",
        "thread",
        "senders",
        "all",
        "messages",
        "nearest",
        "profile",
        "methods",
        "scope",
        "time",
        "status",
        "statuslist",
        "activitydirection",
        "activitynotifytype",
        "activitypriority",
        "activitystatus",
        "activitytype",
        "addresstype",
        "contenttype",
        "ownertype",
        "settings",
        "access",
        "rights",
        "listcontacts",
        "listemployees",
        "availabletoadd",
        "events",
        "name",
        "getorderownertypes",
        "enabled",
        "multidepartment",
        "text",
    ];
    READ_PREFIXES.iter().any(|p| last.starts_with(p)) || READ_WORDS.contains(&last.as_str())
}

/// Fields documented in a separate table named after the param (`FIELDS Parameter`).
fn section_fields(m: &FactMethod, param: &str) -> Option<Vec<FactParam>> {
    m.param_objects
        .iter()
        .find(|(section, fields)| {
            !fields.is_empty()
                && section
                    .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                    .any(|w| w == param)
        })
        .map(|(_, fields)| fields.clone())
}

/// The `rust` a param or field needs, if its derived name doesn't do.
fn field_rust(
    wire: &str,
    taken: &mut BTreeSet<String>,
    reserved: &[(&str, &str)],
) -> Option<String> {
    let derived = snake_case(wire);
    let mut name = derived.clone().unwrap_or_else(|| {
        let cleaned: String = wire
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let cleaned = cleaned.trim_matches('_').to_owned();
        let cleaned = cleaned
            .split('_')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("_");
        format!("f_{cleaned}")
    });
    if let Some((_, instead)) = reserved.iter().find(|(r, _)| *r == name) {
        name = (*instead).to_owned();
    }
    if is_keyword(&name) {
        name.push('_');
    }
    let base = name.clone();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    taken.insert(name.clone());
    (Some(&name) != derived.as_ref()).then_some(name)
}

/// A key the docs write as a placeholder for ids: `{BOT_ID}`.
fn is_placeholder(name: &str) -> bool {
    name.len() > 2 && name.starts_with('{') && name.ends_with('}')
}

/// Values that make a useful enum: a few short codes, no placeholders or prose.
fn enum_worthy(values: &[String]) -> bool {
    values.len() >= 2
        && values.len() <= 60
        && values.iter().all(|v| {
            !v.is_empty()
                && v.len() <= 48
                && !v.contains("XXX")
                && !v.contains("xxx")
                && v.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'/')
                })
        })
}

fn is_short_text(s: &str) -> bool {
    !s.is_empty() && s.len() <= 60 && !s.contains(char::is_control)
}

/// PascalCase of any wire text: words on separators and humps, non-alphanumerics dropped.
/// (The words are ASCII letters and digits, so joined with `_` they are a snake_case name.)
fn pascal(text: &str) -> String {
    let words: Vec<String> = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .flat_map(crate::describe::words)
        .collect();
    pascal_case(&words.join("_"))
}

/// A TOML basic string.
pub(crate) fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
