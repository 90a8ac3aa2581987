//! How the docs' facts map to the schema's types: one set of rules that `import` types new
//! entries by and `drift` compares existing ones by, so the two never disagree (and neither
//! depends on the other), including the rules that read the docs' own examples
//! ([`Facts::learn_from_examples`], applied to the facts before either runs) and the shape
//! comparison `drift` makes against them.

use std::collections::BTreeSet;
use std::fmt;

use crate::examples::{ExampleKind, Examples};
use crate::facts::{FactMethod, FactParam, Facts};
use crate::ir::{Schema, Ty, TypeKind};
use crate::json::Json;

/// The kind of a type, for comparing documented types with schema types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Int,
    Float,
    Bool,
    Date,
    File,
    List,
    Object,
    /// A list filter: an object for classic methods, a list of conditions for REST 3.0 ones
    /// (and PHP's positional array `[{"LOGIC": ..}]` in some classic examples).
    Filter,
    Any,
}

impl Kind {
    /// Whether a documented kind is one this (schema) kind stands for: the same, or either
    /// structure for a filter.
    pub(crate) fn covers(self, documented: Kind) -> bool {
        self == documented
            || (self == Kind::Filter && matches!(documented, Kind::List | Kind::Object))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = format!("{self:?}").to_ascii_lowercase();
        f.write_str(&name)
    }
}

/// The kind `import` gives a documented param.
pub(crate) fn kind_of_doc(p: &FactParam) -> Kind {
    let t = p.ty.as_deref().unwrap_or("").trim().to_ascii_lowercase();
    if is_yes_no(&p.values) && matches!(t.as_str(), "char" | "string" | "boolean" | "bool" | "") {
        return Kind::Bool;
    }
    match t.as_str() {
        "string" | "text" | "char" | "string|null" | "varchar" => Kind::Text,
        "integer" | "int" | "integer|null" | "number" | "long" => Kind::Int,
        "double" | "float" | "decimal" | "double|null" | "numeric" => Kind::Float,
        "boolean" | "bool" | "boolean|null" => Kind::Bool,
        "date" | "datetime" | "datetime|null" => Kind::Date,
        "file" => Kind::File,
        "object" | "object|null" => Kind::Object,
        "array|object" | "object|array" if !p.fields.is_empty() => Kind::Object,
        "array" | "array|null" | "object[]" | "[]" => Kind::List,
        t if t.ends_with("[]") && !t.contains('|') => Kind::List,
        t if t == "user" || t.ends_with(".id") || t.contains(".id|") => Kind::Int,
        t if CRM_ID_TYPES.contains(&t) => Kind::Int,
        "crm_status" => Kind::Text,
        "lang_map" => Kind::Object,
        t if t.ends_with(".code") || t.ends_with(".currency") || t.ends_with(".xml_id") => {
            Kind::Text
        }
        _ if !p.fields.is_empty() => Kind::Object,
        _ => Kind::Any,
    }
}

/// The kind of a schema type.
pub(crate) fn kind_of_schema(ty: &Ty, schema: &Schema) -> Kind {
    match ty {
        Ty::String | Ty::DialogId | Ty::Secret => Kind::Text,
        Ty::Int | Ty::IntStr => Kind::Int,
        Ty::Float => Kind::Float,
        Ty::Bool | Ty::YesNo => Kind::Bool,
        Ty::Date | Ty::DateTime => Kind::Date,
        Ty::File | Ty::FileData | Ty::FileNameContent | Ty::Base64 => Kind::File,
        Ty::Filter => Kind::Filter,
        Ty::List(_) => Kind::List,
        Ty::Map(_) => Kind::Object,
        Ty::Any | Ty::Null => Kind::Any,
        Ty::Option(inner) => kind_of_schema(inner, schema),
        Ty::Named { name, .. } => {
            let is_enum = schema
                .files
                .iter()
                .flat_map(|f| &f.types)
                .any(|t| t.name == *name && matches!(t.kind, TypeKind::Enum { .. }));
            if is_enum { Kind::Text } else { Kind::Object }
        }
    }
}

/// The params a page documents: the main table and every alternative set, minus `auth` (the
/// runtime sends it) and table artefacts that are no wire name.
pub(crate) fn documented_params(m: &FactMethod) -> Vec<FactParam> {
    let mut params: Vec<FactParam> = Vec::new();
    // A second "Method Parameters ..." table is an alternative set too (`imbot.app.register`
    // for IFRAME applications).
    let alternative_tables = m
        .param_objects
        .iter()
        .filter(|(section, _)| section.starts_with("Method Parameters for "))
        .flat_map(|(_, fields)| fields);
    for p in m
        .params
        .iter()
        .chain(m.param_variants.iter().flatten())
        .chain(alternative_tables)
    {
        if !params.iter().any(|q| q.name == p.name) {
            let mut p = p.clone();
            if !m.params.iter().any(|q| q.name == p.name) {
                // Each alternative set is enough on its own: none of its params is required.
                p.required = false;
            }
            params.push(p);
        }
    }
    params
}

/// Documented data types that are integer ids of CRM objects (crm/data-types.md).
pub(crate) const CRM_ID_TYPES: &[&str] = &[
    "crm_lead",
    "crm_deal",
    "crm_contact",
    "crm_company",
    "crm_quote",
    "crm_category",
    "crm_entity",
    "crm_item_product_row",
];

/// A wire name the schema can hold (the facts have some table artefacts like `TITLE (LANG)`).
pub(crate) fn is_wire_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'_' | b'-' | b'>' | b'<' | b'=' | b'!' | b'%' | b'@')
        })
        && name.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Whether documented values are exactly `Y` and `N`.
pub(crate) fn is_yes_no(values: &[String]) -> bool {
    let set: BTreeSet<&str> = values.iter().map(String::as_str).collect();
    !set.is_empty() && set.iter().all(|v| matches!(*v, "Y" | "N")) && set.len() == 2
}

/// The shape of a documented JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// An array, or an object keyed `"0"`, `"1"`, ... (how PHP sends a list it built by index).
    List,
    /// An object with names for keys.
    Object,
    /// A string, number or boolean.
    Scalar,
    /// `null`.
    Null,
    /// `""`, `[]` or `{}`: PHP's empty value, which stands for an absent list, object or text.
    Empty,
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Shape::List => "a list",
            Shape::Object => "an object",
            Shape::Scalar => "a scalar",
            Shape::Null => "null",
            Shape::Empty => "empty",
        })
    }
}

/// The shape of a documented value.
pub(crate) fn shape_of(value: &Json) -> Shape {
    match value {
        Json::Null => Shape::Null,
        Json::String(s) if s.is_empty() => Shape::Empty,
        Json::Array(items) if items.is_empty() => Shape::Empty,
        Json::Object(entries) if entries.is_empty() => Shape::Empty,
        Json::Array(_) => Shape::List,
        Json::Object(entries) if entries.iter().all(|(k, _)| k.parse::<u64>().is_ok()) => {
            Shape::List
        }
        Json::Object(_) => Shape::Object,
        Json::Bool(_) | Json::Number(_) | Json::String(_) => Shape::Scalar,
    }
}

/// Whether a documented value of `shape` fits a schema type of `kind`. Empty values fit
/// everything (Bitrix24 sends them for absent ones), and so does `null` (the caller decides
/// whether the place may be absent); a file is `[name, base64]`.
pub(crate) fn fits_shape(kind: Kind, shape: Shape) -> bool {
    matches!(
        (kind, shape),
        (Kind::Any, _)
            | (_, Shape::Null | Shape::Empty)
            | (Kind::List | Kind::File | Kind::Filter, Shape::List)
            | (Kind::Object | Kind::Filter, Shape::Object)
            | (
                Kind::Text | Kind::Int | Kind::Float | Kind::Bool | Kind::Date,
                Shape::Scalar
            )
    )
}

/// The value of a top-level key of documented params, looked up exactly, then in any case.
fn param_value<'a>(params: &'a Json, name: &str) -> Option<&'a Json> {
    params.get(name).or_else(|| match params {
        Json::Object(entries) => entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v),
        _ => None,
    })
}

/// The array-or-object question judged by the examples: a param the table calls `array` that
/// every example sends as an object is an object (in these PHP-centric docs "array" usually
/// means an associative one), and an `object` every example sends as a list is a list. The
/// table's word is kept in `table_ty`. Where the examples disagree, or show neither, the table
/// stands.
fn learn_param_shape(p: &mut FactParam, requests: &[Json]) {
    let shapes: Vec<Shape> = requests
        .iter()
        .filter_map(|r| param_value(r, &p.name))
        .map(shape_of)
        .filter(|s| matches!(s, Shape::List | Shape::Object))
        .collect();
    let Some(&first) = shapes.first() else {
        return;
    };
    if shapes.iter().any(|s| *s != first) {
        return;
    }
    let shown = match (kind_of_doc(p), first) {
        (Kind::List, Shape::Object) => "object",
        (Kind::Object, Shape::List) => "array",
        _ => return,
    };
    p.table_ty = p.ty.replace(shown.to_owned());
}

impl Facts {
    /// Corrects and completes the facts with what the docs' own examples and pages show
    /// (`schema/facts/examples/`), before `import` types new entries or `drift` compares the
    /// schema:
    ///
    /// - array or object per param, judged from the request examples ([`learn_param_shape`]);
    /// - every documented answer, whatever its size, as the method's result examples (the
    ///   first becomes `result_example`, which typing checks results against);
    /// - a deprecation note in any letter case ("Deprecated method") marks the method
    ///   deprecated, with the method it links to;
    /// - params under an unusual heading ("Stage Parameters") where the facts have none;
    /// - an event is named the way its payload examples' `event` spells it, when the page
    ///   heading says otherwise (`onResourceDelete` is sent as `ONBOOKINGRESOURCEDELETE`).
    pub fn learn_from_examples(&mut self, examples: &Examples) {
        for m in &mut self.methods {
            let on_page = |e: &&crate::examples::Example| e.doc == m.doc;
            m.requests = examples
                .of(ExampleKind::Request, &m.name, m.rest_v3)
                .filter(on_page)
                .map(|e| e.body.clone())
                .collect();
            m.results = examples
                .of(ExampleKind::Response, &m.name, m.rest_v3)
                .filter(on_page)
                .map(|e| e.body.get("result").cloned().unwrap_or(Json::Null))
                .collect();
            if let Some(first) = m.results.first() {
                m.result_example = Some(first.clone());
            }
            if let Some(page) = examples
                .pages
                .iter()
                .find(|p| p.doc == m.doc && p.name == m.name)
            {
                // Only where the facts missed the note; their own replacement link stands.
                if page.deprecation.is_some() && !m.deprecated {
                    m.deprecated = true;
                    m.use_instead = page.use_instead.clone();
                }
                if m.params.is_empty() && m.param_variants.is_empty() {
                    m.params = page.params.clone();
                }
            }
            let requests = std::mem::take(&mut m.requests);
            for p in m
                .params
                .iter_mut()
                .chain(m.param_variants.iter_mut().flatten())
            {
                learn_param_shape(p, &requests);
            }
            m.requests = requests;
        }
        for e in &mut self.events {
            let payloads: Vec<&Json> = examples
                .examples
                .iter()
                .filter(|x| x.kind == ExampleKind::Event && x.doc == e.doc)
                .map(|x| &x.body)
                .collect();
            e.payloads = payloads
                .iter()
                .filter_map(|body| body.get("data").cloned())
                .collect();
            e.sent_as = payloads
                .iter()
                .filter_map(|body| body.get("event").and_then(Json::as_str))
                .find(|sent| !sent.eq_ignore_ascii_case(&e.name))
                .map(str::to_owned);
        }
    }
}

/// Where documented values do not fit the schema's type: `ty` against `example` at `path`,
/// looking `depth` levels into structs (a list is looked through to its first item). Each
/// difference reads `fields.PHONE: schema `Multifield` (object), the docs' example is a list`.
pub(crate) fn shape_differences(
    schema: &Schema,
    ty: &Ty,
    example: &Json,
    path: &str,
    depth: usize,
    out: &mut Vec<String>,
) {
    let kind = kind_of_schema(ty, schema);
    let shape = shape_of(example);
    if !fits_shape(kind, shape) {
        let difference = format!("{path}: schema `{ty}` ({kind}), the docs' example is {shape}");
        if !out.contains(&difference) {
            out.push(difference);
        }
        return;
    }
    match (ty, example) {
        (Ty::List(inner), Json::Array(items)) => {
            if let Some(first) = items.first() {
                shape_differences(schema, inner, first, &format!("{path}[]"), depth, out);
            }
        }
        (Ty::List(inner) | Ty::Map(inner), Json::Object(entries)) => {
            if let Some((_, first)) = entries.first() {
                shape_differences(schema, inner, first, &format!("{path}[]"), depth, out);
            }
        }
        (Ty::Named { name, .. }, Json::Object(_)) if depth > 0 => {
            for f in schema.fields_of(name).unwrap_or_default() {
                if let Some(value) = example.get(&f.name) {
                    let path = format!("{path}.{}", f.name);
                    shape_differences(schema, &f.ty, value, &path, depth - 1, out);
                }
            }
        }
        _ => {}
    }
}
