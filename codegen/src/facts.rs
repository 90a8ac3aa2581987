//! The facts file: what the official docs say about each method and event
//! (`schema/facts/methods.json`, extracted from the docs repository). `import` scaffolds schema
//! entries from it and `drift` compares a schema with it.

use std::path::Path;

use crate::json::Json;

/// Every documented method.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Facts {
    /// Where the facts were extracted from (repository and commit).
    pub source: String,
    /// One entry per documentation page, in file order; a name documented for REST 3.0 and the
    /// classic API has two.
    pub methods: Vec<FactMethod>,
    /// One entry per documented event (and per widget placement, which the docs list among
    /// them), in file order.
    pub events: Vec<FactEvent>,
}

/// One documented event.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FactEvent {
    /// The name as the page spells it (`ONIMBOTMESSAGEADD`, `onCrmDealAdd`).
    pub name: String,
    /// Bitrix24 scope.
    pub scope: String,
    /// Page path in the docs repository.
    pub doc: String,
    /// Marked outdated.
    pub deprecated: bool,
    /// The documented POST body: `event`, `data` (with its fields, or as `data.FIELDS`-style
    /// dotted rows), `ts`, `auth`, ...
    pub payload: Vec<FactParam>,
    /// Sub-tables of the payload that could not be attached to one field, by section title.
    pub payload_other: Vec<(String, Vec<FactParam>)>,
    /// The name portals send (the payload examples' `event`), when it is not `name` in another
    /// case: `ONBOOKINGRESOURCEDELETE` for the page `onResourceDelete`.
    pub sent_as: Option<String>,
    /// The `data` of the page's payload examples, from `Facts::learn_from_examples`.
    pub payloads: Vec<Json>,
}

impl FactEvent {
    /// An event with an empty payload, for building facts by hand.
    pub fn new(name: &str, scope: &str, doc: &str) -> Self {
        Self {
            name: name.to_owned(),
            scope: scope.to_owned(),
            doc: doc.to_owned(),
            deprecated: false,
            payload: Vec::new(),
            payload_other: Vec::new(),
            sent_as: None,
            payloads: Vec::new(),
        }
    }

    /// The documented fields of `data`: the `data` row's own fields plus `data.X` rows. When the
    /// page documents no `data` row, the rows that are not part of the envelope (`event`, `ts`,
    /// `auth`, ...) are taken as its fields, as older pages list them.
    pub fn data_fields(&self) -> Vec<FactParam> {
        const ENVELOPE: &[&str] = &["event", "event_handler_id", "eventId", "ts", "auth", "data"];
        let mut fields: Vec<FactParam> = Vec::new();
        let push = |p: FactParam, fields: &mut Vec<FactParam>| match fields
            .iter_mut()
            .find(|f| f.name == p.name)
        {
            Some(known) if known.fields.is_empty() => known.fields = p.fields,
            Some(_) => {}
            None => fields.push(p),
        };
        let data = self.payload.iter().find(|p| p.name == "data");
        if let Some(data) = data {
            for f in &data.fields {
                push(f.clone(), &mut fields);
            }
        }
        for p in &self.payload {
            if let Some(rest) = p.name.strip_prefix("data.") {
                push(nest(rest, p), &mut fields);
            } else if data.is_none() && !ENVELOPE.contains(&p.name.as_str()) {
                push(p.clone(), &mut fields);
            }
        }
        // Sub-tables the extractor could not attach ("Array Element DATA", "Parameter
        // session") belong to the field of that name that has no fields of its own yet.
        for (section, section_fields) in &self.payload_other {
            let Some(name) = section_target(section) else {
                continue;
            };
            let rows: Vec<FactParam> = section_fields
                .iter()
                .filter(|f| f.ty.as_deref() != Some("type"))
                .cloned()
                .collect();
            if !rows.is_empty() {
                attach(&mut fields, name, &rows);
            }
        }
        drop_header_rows(&mut fields);
        fields
    }

    /// Whether `name` is this event's, as the page names it or as portals send it, in any case.
    pub fn is_named(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
            || self
                .sent_as
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(name))
    }

    /// The name a schema entry should have: what portals send when the page heading differs.
    pub fn wire_name(&self) -> &str {
        self.sent_as.as_deref().unwrap_or(&self.name)
    }

    /// The documented type of `data` itself (`object`, `array`, `integer`), if the page has a
    /// `data` row.
    pub fn data_type(&self) -> Option<&str> {
        self.payload
            .iter()
            .find(|p| p.name == "data")
            .and_then(|p| p.ty.as_deref())
    }
}

/// The field a sub-table of an event page describes: `Array Element DATA` and `Parameter
/// session` name theirs last.
fn section_target(section: &str) -> Option<&str> {
    let rest = section
        .strip_prefix("Array Element ")
        .or_else(|| section.strip_prefix("Parameter "))?;
    let name = rest.split_whitespace().next()?;
    (!name.is_empty()).then_some(name)
}

/// Removes table headers read as rows (`parameter` of type `type`), at every depth.
fn drop_header_rows(fields: &mut Vec<FactParam>) {
    fields.retain(|f| f.ty.as_deref() != Some("type"));
    for f in fields {
        drop_header_rows(&mut f.fields);
    }
}

/// Gives `rows` to the first field named `name` (depth first) that has no fields yet.
fn attach(fields: &mut [FactParam], name: &str, rows: &[FactParam]) -> bool {
    for f in fields.iter_mut() {
        if f.name == name && f.fields.is_empty() {
            f.fields = rows.to_vec();
            return true;
        }
        if attach(&mut f.fields, name, rows) {
            return true;
        }
    }
    false
}

/// `FIELDS.ID` of a `data.FIELDS.ID` row as a `FIELDS` field holding `ID`.
fn nest(path: &str, p: &FactParam) -> FactParam {
    match path.split_once('.') {
        None => FactParam {
            name: path.to_owned(),
            ..p.clone()
        },
        Some((head, rest)) => FactParam {
            name: head.to_owned(),
            ty: Some("object".to_owned()),
            required: false,
            values: Vec::new(),
            default: None,
            fields: vec![nest(rest, p)],
            type_ref: None,
            table_ty: None,
        },
    }
}

/// One documented method.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FactMethod {
    /// Wire name.
    pub name: String,
    /// Bitrix24 scope.
    pub scope: String,
    /// Page path in the docs repository.
    pub doc: String,
    /// Documented parameters.
    pub params: Vec<FactParam>,
    /// Alternative parameter sets (`by id` or `by entity`), when the page documents several.
    pub param_variants: Vec<Vec<FactParam>>,
    /// Named sub-tables of the parameters that could not be attached to one parameter.
    pub param_objects: Vec<(String, Vec<FactParam>)>,
    /// Documented type of `result` (`object`, `boolean`, `deal[]`, ...).
    pub result: Option<String>,
    /// Documented keys of `result` (or of one row, for lists).
    pub result_fields: Vec<FactParam>,
    /// Keys of `result` documented without types.
    pub result_keys: Vec<String>,
    /// The documented example of `result`, when short.
    pub result_example: Option<Json>,
    /// Envelope keys beside `result` the page mentions (`total`, `next`).
    pub list_fields: Vec<String>,
    /// Marked outdated.
    pub deprecated: bool,
    /// The method the deprecation note links to.
    pub use_instead: Option<String>,
    /// A REST 3.0 method (`/rest/api/`).
    pub rest_v3: bool,
    /// Error codes the page lists.
    pub errors: Vec<String>,
    /// The page's request examples (params as sent), from `Facts::learn_from_examples`.
    pub requests: Vec<Json>,
    /// The page's response examples (`result` values), from `Facts::learn_from_examples`.
    pub results: Vec<Json>,
}

/// A documented parameter or result field.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FactParam {
    /// Wire name.
    pub name: String,
    /// Documented type, as written (`integer`, `object|string`, `crm_status`, ...).
    pub ty: Option<String>,
    /// Marked required.
    pub required: bool,
    /// Listed values (heuristic: may hold placeholders such as `chatXXX`).
    pub values: Vec<String>,
    /// Documented default, as text.
    pub default: Option<String>,
    /// Fields of a documented nested object.
    pub fields: Vec<FactParam>,
    /// Link to the documented object definition.
    pub type_ref: Option<String>,
    /// The table's type when the docs' examples overrode it (an `array` the examples send as
    /// an object); see `Facts::learn_from_examples`.
    pub table_ty: Option<String>,
}

impl FactParam {
    /// A parameter of a name and type, for building facts by hand (tests, tools).
    pub fn new(name: &str, ty: &str, required: bool) -> Self {
        Self {
            name: name.to_owned(),
            ty: Some(ty.to_owned()),
            required,
            values: Vec::new(),
            default: None,
            fields: Vec::new(),
            type_ref: None,
            table_ty: None,
        }
    }
}

impl FactMethod {
    /// A method with no params and an `object` result, for building facts by hand.
    pub fn new(name: &str, scope: &str, doc: &str) -> Self {
        Self {
            name: name.to_owned(),
            scope: scope.to_owned(),
            doc: doc.to_owned(),
            params: Vec::new(),
            param_variants: Vec::new(),
            param_objects: Vec::new(),
            result: Some("object".to_owned()),
            result_fields: Vec::new(),
            result_keys: Vec::new(),
            result_example: None,
            list_fields: Vec::new(),
            deprecated: false,
            use_instead: None,
            rest_v3: false,
            errors: Vec::new(),
            requests: Vec::new(),
            results: Vec::new(),
        }
    }
}

impl Facts {
    /// Reads a facts file.
    pub fn load(path: &Path) -> Result<Facts, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        Facts::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses the text of a facts file.
    pub fn parse(text: &str) -> Result<Facts, String> {
        let root = Json::parse(text)?;
        let methods = root
            .get("methods")
            .ok_or("no \"methods\" array")?
            .items()
            .iter()
            .enumerate()
            .map(|(i, m)| method(m).map_err(|e| format!("methods[{i}]: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let events = root
            .get("events")
            .map(|e| {
                e.items()
                    .iter()
                    .enumerate()
                    .map(|(i, e)| event(e).map_err(|m| format!("events[{i}]: {m}")))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        Ok(Facts {
            source: root
                .get("source")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_owned(),
            methods,
            events,
        })
    }

    /// The event of a name, compared without regard to case (portals send names upper-cased),
    /// as the page names it or as portals send it.
    pub fn find_event(&self, name: &str) -> Option<&FactEvent> {
        self.events.iter().find(|e| e.is_named(name))
    }

    /// The entry for a wire name and API version.
    pub fn find(&self, name: &str, rest_v3: bool) -> Option<&FactMethod> {
        self.methods
            .iter()
            .find(|m| m.name == name && m.rest_v3 == rest_v3)
    }

    /// Whether a wire name is documented for both REST 3.0 and the classic API.
    pub fn in_both_versions(&self, name: &str) -> bool {
        self.find(name, true).is_some() && self.find(name, false).is_some()
    }

    /// The facts as JSON text, in the same layout they are read from.
    pub fn to_json(&self) -> String {
        let methods = self.methods.iter().map(method_json).collect();
        let events = self.events.iter().map(event_json).collect();
        Json::Object(vec![
            ("source".to_owned(), Json::String(self.source.clone())),
            ("methods".to_owned(), Json::Array(methods)),
            ("events".to_owned(), Json::Array(events)),
        ])
        .to_json_pretty()
    }
}

fn text(v: &Json, key: &str) -> Option<String> {
    v.get(key).and_then(Json::as_str).map(str::to_owned)
}

fn method(v: &Json) -> Result<FactMethod, String> {
    let name = text(v, "name").ok_or("no name")?;
    let result = match v.get("result") {
        Some(Json::String(s)) => Some(s.clone()),
        // A short example stands in for the type on some pages.
        Some(Json::Null) | None => None,
        Some(_) => Some("object".to_owned()),
    };
    Ok(FactMethod {
        scope: text(v, "scope").ok_or_else(|| format!("{name}: no scope"))?,
        doc: text(v, "doc").ok_or_else(|| format!("{name}: no doc"))?,
        params: params(v.get("params")),
        param_variants: v
            .get("param_variants")
            .map(|pv| pv.items().iter().map(|s| params(s.get("params"))).collect())
            .unwrap_or_default(),
        param_objects: sections(v.get("param_objects")),
        result,
        result_fields: params(v.get("result_fields")),
        result_keys: strings(v.get("result_keys")),
        result_example: v.get("result_example").cloned(),
        list_fields: strings(v.get("list_fields")),
        deprecated: v.get("deprecated").and_then(Json::as_bool).unwrap_or(false),
        use_instead: text(v, "use_instead"),
        rest_v3: v.get("rest_version").and_then(Json::as_i64) == Some(3),
        errors: v
            .get("errors")
            .map(|e| e.items().iter().filter_map(|e| text(e, "code")).collect())
            .unwrap_or_default(),
        requests: Vec::new(),
        results: Vec::new(),
        name,
    })
}

fn event(v: &Json) -> Result<FactEvent, String> {
    let name = text(v, "name").ok_or("no name")?;
    Ok(FactEvent {
        scope: text(v, "scope").ok_or_else(|| format!("{name}: no scope"))?,
        doc: text(v, "doc").ok_or_else(|| format!("{name}: no doc"))?,
        deprecated: v.get("deprecated").and_then(Json::as_bool).unwrap_or(false),
        payload: params(v.get("payload")),
        payload_other: sections(v.get("payload_other")),
        sent_as: None,
        payloads: Vec::new(),
        name,
    })
}

fn event_json(e: &FactEvent) -> Json {
    let s = |v: &str| Json::String(v.to_owned());
    let mut entries = vec![
        ("name".to_owned(), s(&e.name)),
        ("scope".to_owned(), s(&e.scope)),
        ("doc".to_owned(), s(&e.doc)),
    ];
    if e.deprecated {
        entries.push(("deprecated".to_owned(), Json::Bool(true)));
    }
    entries.push((
        "payload".to_owned(),
        Json::Array(e.payload.iter().map(param_json).collect()),
    ));
    if !e.payload_other.is_empty() {
        entries.push(("payload_other".to_owned(), sections_json(&e.payload_other)));
    }
    Json::Object(entries)
}

fn strings(v: Option<&Json>) -> Vec<String> {
    v.map(|v| {
        v.items()
            .iter()
            .map(|s| match s {
                Json::String(s) => s.clone(),
                other => other.to_json(),
            })
            .collect()
    })
    .unwrap_or_default()
}

fn params(v: Option<&Json>) -> Vec<FactParam> {
    v.map(|v| v.items().iter().filter_map(param).collect())
        .unwrap_or_default()
}

fn param(v: &Json) -> Option<FactParam> {
    Some(FactParam {
        name: text(v, "name")?,
        ty: text(v, "type"),
        required: v.get("required").and_then(Json::as_bool).unwrap_or(false),
        values: strings(v.get("values")),
        default: v.get("default").map(|d| match d {
            Json::String(s) => s.clone(),
            other => other.to_json(),
        }),
        fields: params(v.get("fields")),
        type_ref: text(v, "type_ref"),
        table_ty: None,
    })
}

fn method_json(m: &FactMethod) -> Json {
    let s = |v: &str| Json::String(v.to_owned());
    let mut entries = vec![
        ("name".to_owned(), s(&m.name)),
        ("scope".to_owned(), s(&m.scope)),
        ("doc".to_owned(), s(&m.doc)),
        (
            "params".to_owned(),
            Json::Array(m.params.iter().map(param_json).collect()),
        ),
        (
            "result".to_owned(),
            m.result.as_deref().map_or(Json::Null, s),
        ),
    ];
    if !m.param_variants.is_empty() {
        let variants = m
            .param_variants
            .iter()
            .map(|v| {
                let params = v.iter().map(param_json).collect();
                Json::Object(vec![("params".to_owned(), Json::Array(params))])
            })
            .collect();
        entries.push(("param_variants".to_owned(), Json::Array(variants)));
    }
    if !m.param_objects.is_empty() {
        entries.push(("param_objects".to_owned(), sections_json(&m.param_objects)));
    }
    if !m.result_fields.is_empty() {
        let fields = m.result_fields.iter().map(param_json).collect();
        entries.push(("result_fields".to_owned(), Json::Array(fields)));
    }
    if let Some(example) = &m.result_example {
        entries.push(("result_example".to_owned(), example.clone()));
    }
    if m.deprecated {
        entries.push(("deprecated".to_owned(), Json::Bool(true)));
    }
    if let Some(u) = &m.use_instead {
        entries.push(("use_instead".to_owned(), s(u)));
    }
    if m.rest_v3 {
        entries.push(("rest_version".to_owned(), Json::Number("3".to_owned())));
    }
    Json::Object(entries)
}

/// Named groups of fields (`[{section, fields}]`), as `param_objects` and `payload_other` hold.
fn sections(v: Option<&Json>) -> Vec<(String, Vec<FactParam>)> {
    v.map(|v| {
        v.items()
            .iter()
            .map(|s| {
                (
                    text(s, "section").unwrap_or_default(),
                    params(s.get("fields")),
                )
            })
            .collect()
    })
    .unwrap_or_default()
}

/// The inverse of [`sections`].
fn sections_json(sections: &[(String, Vec<FactParam>)]) -> Json {
    let section = |(name, fields): &(String, Vec<FactParam>)| {
        Json::Object(vec![
            ("section".to_owned(), Json::String(name.clone())),
            (
                "fields".to_owned(),
                Json::Array(fields.iter().map(param_json).collect()),
            ),
        ])
    };
    Json::Array(sections.iter().map(section).collect())
}

fn param_json(p: &FactParam) -> Json {
    let mut entries = vec![
        ("name".to_owned(), Json::String(p.name.clone())),
        (
            "type".to_owned(),
            p.ty.clone().map_or(Json::Null, Json::String),
        ),
        ("required".to_owned(), Json::Bool(p.required)),
    ];
    if !p.values.is_empty() {
        let values = p.values.iter().cloned().map(Json::String).collect();
        entries.push(("values".to_owned(), Json::Array(values)));
    }
    if let Some(default) = &p.default {
        entries.push(("default".to_owned(), Json::String(default.clone())));
    }
    if let Some(type_ref) = &p.type_ref {
        entries.push(("type_ref".to_owned(), Json::String(type_ref.clone())));
    }
    if !p.fields.is_empty() {
        let fields = p.fields.iter().map(param_json).collect();
        entries.push(("fields".to_owned(), Json::Array(fields)));
    }
    Json::Object(entries)
}
