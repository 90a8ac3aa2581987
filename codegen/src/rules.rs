//! How the docs' facts map to the schema's types: one set of rules that `import` types new
//! entries by and `drift` compares existing ones by, so the two never disagree (and neither
//! depends on the other). The rules that read the docs' examples are in
//! [`crate::examples`] (`Facts::learn_from_examples`), applied to the facts before either runs.

use std::collections::BTreeSet;
use std::fmt;

use crate::facts::{FactMethod, FactParam};
use crate::ir::{Schema, Ty, TypeKind};

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
    Any,
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
        Ty::File => Kind::File,
        Ty::List(_) => Kind::List,
        Ty::Map(_) => Kind::Object,
        Ty::Any => Kind::Any,
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
