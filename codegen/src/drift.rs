//! Differences between the schema and a (newer) facts file: `bitrix24-codegen drift`.
//!
//! Methods are compared with their top-level params, events with the top-level fields of
//! their `data` (the documented `data` rows against the fields of the schema's data struct).
//!
//! With the docs' examples learned into the facts (`Facts::learn_from_examples`), it also
//! compares shapes: each documented answer against the result type, each documented request
//! against the params (and the fields of struct params), each event payload against the data
//! type, two levels deep; and the event names portals send against the schema's.
//!
//! Every difference is either explained — the method is in the exclusion list, or the schema
//! item carries a `note` saying why it deviates on purpose — or unexplained, which is what a
//! new docs snapshot asks a person to look at (and usually `import`, or fix the schema, for).
//! Types are compared by kind (text, integer, number, boolean, date, file, list, object, any),
//! the same kinds `import` maps documented types to, so a schema that refines a documented
//! `string` into an enum or an `integer` into `int_str` is not a difference.

use std::fmt;

use crate::exclusions::Exclusions;
use crate::facts::{FactEvent, FactMethod, FactParam, Facts};
use crate::ir::{Event, Field, Method, Schema, Ty};
use crate::json::Json;
use crate::rules::{
    Kind, documented_params, is_wire_name, kind_of_doc, kind_of_schema, shape_differences,
};

/// What changed between the schema and the docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DriftKind {
    /// Documented, not in the schema.
    MethodAdded,
    /// In the schema, not documented (any more).
    MethodRemoved,
    /// The docs page moved.
    DocMoved,
    /// Deprecated in one and not the other, or a different replacement.
    DeprecationChanged,
    /// A documented param the schema lacks.
    ParamAdded,
    /// A schema param the docs do not list.
    ParamRemoved,
    /// The documented type is of another kind than the schema's.
    ParamRetyped,
    /// Required in one, optional in the other.
    RequiredChanged,
    /// A documented event the schema lacks.
    EventAdded,
    /// An event in the schema the docs do not list (any more).
    EventRemoved,
    /// A documented field of an event's `data` the schema's data type lacks.
    DataFieldAdded,
    /// A field of an event's data type the docs do not list (only reported when the docs list
    /// some fields).
    DataFieldRemoved,
    /// A field of an event's `data` documented with a type of another kind.
    DataFieldRetyped,
    /// A documented example (answer, params or event data) has another shape than the
    /// schema's type at that place: object vs list, scalar vs structure, `null` for a result.
    ShapeDiffers,
    /// Portals send the event under another name than the schema's (the payload examples'
    /// `event` against the page heading).
    EventRenamed,
}

impl fmt::Display for DriftKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DriftKind::MethodAdded => "method added",
            DriftKind::MethodRemoved => "method removed",
            DriftKind::DocMoved => "doc moved",
            DriftKind::DeprecationChanged => "deprecation changed",
            DriftKind::ParamAdded => "param added",
            DriftKind::ParamRemoved => "param removed",
            DriftKind::ParamRetyped => "param retyped",
            DriftKind::RequiredChanged => "required changed",
            DriftKind::EventAdded => "event added",
            DriftKind::EventRemoved => "event removed",
            DriftKind::DataFieldAdded => "data field added",
            DriftKind::DataFieldRemoved => "data field removed",
            DriftKind::DataFieldRetyped => "data field retyped",
            DriftKind::ShapeDiffers => "shape differs",
            DriftKind::EventRenamed => "event renamed",
        })
    }
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct Drift {
    /// The method's wire name (with ` (REST 3.0)` for the REST 3.0 twin of a classic name), or
    /// `event NAME` for an event (its documented spelling).
    pub method: String,
    /// What changed.
    pub kind: DriftKind,
    /// The details: the param, both types, the replacement.
    pub detail: String,
    /// Why the schema differs on purpose; `None` for an unexplained difference.
    pub explanation: Option<String>,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.method, self.kind)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        if let Some(why) = &self.explanation {
            write!(f, " — {why}")?;
        }
        Ok(())
    }
}

/// Every difference, explained or not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DriftReport {
    /// Differences nobody accounted for yet.
    pub unexplained: Vec<Drift>,
    /// Differences the exclusion list or a `note` accounts for.
    pub explained: Vec<Drift>,
}

impl DriftReport {
    fn push(&mut self, method: &str, v3: bool, kind: DriftKind, detail: String, why: Option<&str>) {
        let method = if v3 {
            format!("{method} (REST 3.0)")
        } else {
            method.to_owned()
        };
        let drift = Drift {
            method,
            kind,
            detail,
            explanation: why.map(str::to_owned),
        };
        if drift.explanation.is_some() {
            self.explained.push(drift);
        } else {
            self.unexplained.push(drift);
        }
    }
}

impl fmt::Display for DriftReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "unexplained differences: {}", self.unexplained.len())?;
        for d in &self.unexplained {
            writeln!(f, "  {d}")?;
        }
        writeln!(f, "explained differences: {}", self.explained.len())?;
        for d in &self.explained {
            writeln!(f, "  {d}")?;
        }
        Ok(())
    }
}

/// Compares `schema` with `facts`.
pub fn drift(schema: &Schema, facts: &Facts, exclusions: &Exclusions) -> DriftReport {
    let mut report = DriftReport::default();
    let methods: Vec<&Method> = schema.files.iter().flat_map(|f| &f.methods).collect();
    for fm in &facts.methods {
        let Some(m) = methods
            .iter()
            .find(|m| m.name == fm.name && m.rest_v3 == fm.rest_v3)
        else {
            let detail = format!("scope {}, {}", fm.scope, fm.doc);
            let reason = exclusions
                .reason(&fm.name)
                .map(|r| format!("excluded: {r}"));
            report.push(
                &fm.name,
                fm.rest_v3,
                DriftKind::MethodAdded,
                detail,
                reason.as_deref(),
            );
            continue;
        };
        compare_method(&mut report, schema, m, fm);
    }
    for m in methods {
        if facts.find(&m.name, m.rest_v3).is_none() {
            report.push(
                &m.name,
                m.rest_v3,
                DriftKind::MethodRemoved,
                String::new(),
                m.note.as_deref(),
            );
        }
    }
    drift_events(&mut report, schema, facts, exclusions);
    report.unexplained.sort();
    report.explained.sort();
    report
}

/// The URL of a page of the docs repository (`….md`) on the docs site.
fn page_url(doc: &str) -> String {
    format!(
        "https://apidocs.bitrix24.com/{}.html",
        doc.trim_end_matches(".md")
    )
}

/// How a schema field's type differs from the documented one, as a drift detail; `None` when
/// the kinds agree or the docs give no type, or a union, where any schema type is a refinement.
fn retyped(schema: &Schema, f: &Field, p: &FactParam) -> Option<String> {
    let ours = kind_of_schema(&f.ty, schema);
    let theirs = kind_of_doc(p);
    (!ours.covers(theirs) && theirs != Kind::Any).then(|| {
        format!(
            "{}: schema {} ({ours}), docs {} ({theirs})",
            f.name,
            f.ty,
            p.ty.as_deref().unwrap_or("no type")
        )
    })
}

fn compare_method(report: &mut DriftReport, schema: &Schema, m: &Method, fm: &FactMethod) {
    let (name, v3) = (m.name.as_str(), m.rest_v3);
    if m.doc_url != page_url(&fm.doc) {
        let detail = format!("now {}", fm.doc);
        report.push(name, v3, DriftKind::DocMoved, detail, m.note.as_deref());
    }
    let schema_deprecated = m.deprecated.as_ref();
    let replacement = schema_deprecated.and_then(|d| d.replacement.as_deref());
    let docs_replacement = fm.use_instead.as_deref().filter(|u| *u != fm.name);
    let deprecation_differs = match (schema_deprecated, fm.deprecated) {
        (None, false) => false,
        (Some(_), true) => docs_replacement.is_some() && replacement != docs_replacement,
        _ => true,
    };
    if deprecation_differs {
        let show = |deprecated: bool, r: Option<&str>| match (deprecated, r) {
            (false, _) => "not deprecated".to_owned(),
            (true, Some(r)) => format!("deprecated for {r}"),
            (true, None) => "deprecated".to_owned(),
        };
        let detail = format!(
            "schema: {}, docs: {}",
            show(schema_deprecated.is_some(), replacement),
            show(fm.deprecated, docs_replacement)
        );
        report.push(
            name,
            v3,
            DriftKind::DeprecationChanged,
            detail,
            m.note.as_deref(),
        );
    }

    let documented = documented_params(fm);
    for p in &documented {
        if p.name == "auth" {
            continue;
        }
        let Some(sp) = m.params.iter().find(|sp| sp.name == p.name) else {
            // A method's note explains how the schema shapes its params differently.
            let why = if is_wire_name(&p.name) {
                m.note.as_deref()
            } else {
                Some("not a wire name: an artefact of the docs table")
            };
            let detail = format!("{} ({})", p.name, p.ty.as_deref().unwrap_or("no type"));
            report.push(name, v3, DriftKind::ParamAdded, detail, why);
            continue;
        };
        compare_param(report, schema, m, sp, p);
    }
    for sp in &m.params {
        if !documented.iter().any(|p| p.name == sp.name) {
            let detail = sp.name.clone();
            report.push(
                name,
                v3,
                DriftKind::ParamRemoved,
                detail,
                sp.note.as_deref(),
            );
        }
    }
    compare_example_shapes(report, schema, m, fm, &documented);
}

/// The documented answers against the result type, and the documented requests against the
/// params: a top-level param the table already types is compared by kind above, so only its
/// fields are compared here.
fn compare_example_shapes(
    report: &mut DriftReport,
    schema: &Schema,
    m: &Method,
    fm: &FactMethod,
    documented: &[FactParam],
) {
    let (name, v3) = (m.name.as_str(), m.rest_v3);
    let mut differences = Vec::new();
    for result in &fm.results {
        if *result == Json::Null && !m.result.is_untyped() {
            let difference = format!("result: schema `{}`, the docs' example is null", m.result);
            if !differences.contains(&difference) {
                differences.push(difference);
            }
            continue;
        }
        shape_differences(schema, &m.result, result, "result", 2, &mut differences);
    }
    for d in differences {
        report.push(name, v3, DriftKind::ShapeDiffers, d, m.note.as_deref());
    }
    for sp in &m.params {
        let typed_by_table = documented
            .iter()
            .any(|p| p.name == sp.name && kind_of_doc(p) != Kind::Any);
        let mut differences = Vec::new();
        for request in &fm.requests {
            let value = request.get(&sp.name).or_else(|| match request {
                Json::Object(entries) => entries
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&sp.name))
                    .map(|(_, v)| v),
                _ => None,
            });
            if let Some(value) = value {
                shape_differences(schema, &sp.ty, value, &sp.name, 1, &mut differences);
            }
        }
        for d in differences {
            if typed_by_table
                && !d.starts_with(&format!("{}.", sp.name))
                && !d.starts_with(&format!("{}[]", sp.name))
            {
                continue;
            }
            report.push(name, v3, DriftKind::ShapeDiffers, d, sp.note.as_deref());
        }
    }
}

fn compare_param(report: &mut DriftReport, schema: &Schema, m: &Method, sp: &Field, p: &FactParam) {
    let (name, v3) = (m.name.as_str(), m.rest_v3);
    if let Some(detail) = retyped(schema, sp, p) {
        report.push(
            name,
            v3,
            DriftKind::ParamRetyped,
            detail,
            sp.note.as_deref(),
        );
    }
    if sp.required != p.required {
        let detail = format!(
            "{}: schema {}, docs {}",
            sp.name,
            if sp.required { "required" } else { "optional" },
            if p.required { "required" } else { "optional" }
        );
        report.push(
            name,
            v3,
            DriftKind::RequiredChanged,
            detail,
            sp.note.as_deref(),
        );
    }
}

/// Events: added, removed, moved, deprecated, and the top-level fields of `data`.
fn drift_events(report: &mut DriftReport, schema: &Schema, facts: &Facts, exclusions: &Exclusions) {
    let events: Vec<&Event> = schema.files.iter().flat_map(|f| &f.events).collect();
    let label = |name: &str| format!("event {name}");
    for fe in &facts.events {
        let Some(e) = events.iter().find(|e| fe.is_named(&e.name)) else {
            let detail = format!("scope {}, {}", fe.scope, fe.doc);
            let reason = exclusions
                .event_reason(&fe.name)
                .map(|r| format!("excluded: {r}"));
            let kind = DriftKind::EventAdded;
            report.push(&label(&fe.name), false, kind, detail, reason.as_deref());
            continue;
        };
        compare_event(report, schema, e, fe, &label(&e.name));
    }
    for e in events {
        if facts.find_event(&e.name).is_none() {
            let kind = DriftKind::EventRemoved;
            report.push(
                &label(&e.name),
                false,
                kind,
                String::new(),
                e.note.as_deref(),
            );
        }
    }
}

fn compare_event(report: &mut DriftReport, schema: &Schema, e: &Event, fe: &FactEvent, name: &str) {
    if !e.name.eq_ignore_ascii_case(fe.wire_name()) {
        let detail = format!(
            "portals send {}; the schema names it {} (as the page heading does)",
            fe.wire_name(),
            e.name
        );
        report.push(
            name,
            false,
            DriftKind::EventRenamed,
            detail,
            e.note.as_deref(),
        );
    }
    let mut differences = Vec::new();
    for data in &fe.payloads {
        shape_differences(schema, &e.data, data, "data", 2, &mut differences);
    }
    for d in differences {
        report.push(name, false, DriftKind::ShapeDiffers, d, e.note.as_deref());
    }
    if e.doc_url != page_url(&fe.doc) {
        let detail = format!("now {}", fe.doc);
        report.push(name, false, DriftKind::DocMoved, detail, e.note.as_deref());
    }
    if e.deprecated.is_some() != fe.deprecated {
        let show = |d: bool| if d { "deprecated" } else { "not deprecated" };
        let detail = format!(
            "schema: {}, docs: {}",
            show(e.deprecated.is_some()),
            show(fe.deprecated)
        );
        let kind = DriftKind::DeprecationChanged;
        report.push(name, false, kind, detail, e.note.as_deref());
    }
    let documented: Vec<FactParam> = fe
        .data_fields()
        .into_iter()
        .filter(|p| is_wire_name(&p.name))
        .collect();
    let fields: &[Field] = match &e.data {
        Ty::Named { name, .. } => schema.fields_of(name).unwrap_or_default(),
        _ => &[],
    };
    for p in &documented {
        let Some(f) = fields.iter().find(|f| f.name == p.name) else {
            let detail = format!("{} ({})", p.name, p.ty.as_deref().unwrap_or("no type"));
            let kind = DriftKind::DataFieldAdded;
            report.push(name, false, kind, detail, e.note.as_deref());
            continue;
        };
        if let Some(detail) = retyped(schema, f, p) {
            let kind = DriftKind::DataFieldRetyped;
            report.push(name, false, kind, detail, f.note.as_deref());
        }
    }
    // Where the docs list no field of `data`, the schema's fields are a refinement.
    if !documented.is_empty() {
        for f in fields {
            if !documented.iter().any(|p| p.name == f.name) {
                let kind = DriftKind::DataFieldRemoved;
                report.push(name, false, kind, f.name.clone(), f.note.as_deref());
            }
        }
    }
}
