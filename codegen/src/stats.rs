//! How much of the schema is typed: `bitrix24-codegen stats <dir>` prints Markdown tables per
//! scope, one for methods and one for events (pasted into `docs/COVERAGE.md`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::ir::{Field, Schema, Ty};

/// Counts for one scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScopeStats {
    /// The scope.
    pub scope: String,
    /// Methods.
    pub methods: usize,
    /// REST 3.0 methods.
    pub rest_v3: usize,
    /// Positional methods.
    pub positional: usize,
    /// Deprecated methods.
    pub deprecated: usize,
    /// Params.
    pub params: usize,
    /// Params whose type is neither `any` nor `list<any>` / `map<any>` (issue 11's measure).
    pub params_typed: usize,
    /// Results typed: a scalar, or a named type with at least one field that is not `any`
    /// (through `list`, `map` and `option`, and through a wrapper struct's one field).
    pub results_typed: usize,
    /// Results that are `list<any>` or `map<any>`: the shape is known, the rows are not.
    pub results_shape: usize,
    /// Results that are `any`, or a struct without a field that is not `any`: the docs say
    /// nothing usable, or the answer's shape depends on a param.
    pub results_any: usize,
    /// Named types declared in the scope's file.
    pub types: usize,
    /// Inbound events.
    pub events: usize,
    /// Events whose `data` has a type other than `any`.
    pub events_typed: usize,
    /// Fields of the event data types, counting each struct reachable from the scope's events
    /// once (nested structs included).
    pub event_fields: usize,
    /// Those of them whose type is not `any`.
    pub event_fields_typed: usize,
}

/// Counts per scope and in total.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// One row per scope file with methods or events, in file order.
    pub scopes: Vec<ScopeStats>,
    /// The sum.
    pub total: ScopeStats,
}

/// Counts what the schema types.
pub fn stats(schema: &Schema) -> Stats {
    let mut out = Stats::default();
    out.total.scope = "**total**".to_owned();
    let structs = schema.struct_fields();
    for file in schema
        .files
        .iter()
        .filter(|f| !f.methods.is_empty() || !f.events.is_empty())
    {
        let mut s = ScopeStats {
            scope: file.scope.clone(),
            types: file.types.len(),
            ..ScopeStats::default()
        };
        for m in &file.methods {
            s.methods += 1;
            s.rest_v3 += usize::from(m.rest_v3);
            s.positional += usize::from(m.positional);
            s.deprecated += usize::from(m.deprecated.is_some());
            s.params += m.params.len();
            s.params_typed += m.params.iter().filter(|p| !untyped(&p.ty)).count();
            match &m.result {
                Ty::List(inner) | Ty::Map(inner) if **inner == Ty::Any => s.results_shape += 1,
                ty if untyped_result(ty, &structs, 0) => s.results_any += 1,
                _ => s.results_typed += 1,
            }
        }
        let mut seen = BTreeSet::new();
        for e in &file.events {
            s.events += 1;
            s.events_typed += usize::from(e.data != Ty::Any);
            let mut stack = vec![&e.data];
            while let Some(ty) = stack.pop() {
                match ty {
                    Ty::List(inner) | Ty::Map(inner) => stack.push(inner),
                    Ty::Named { name, .. } if seen.insert(name.as_str()) => {
                        let fields = structs.get(name.as_str()).copied().unwrap_or_default();
                        s.event_fields += fields.len();
                        s.event_fields_typed += fields.iter().filter(|f| f.ty != Ty::Any).count();
                        stack.extend(fields.iter().map(|f| &f.ty));
                    }
                    _ => {}
                }
            }
        }
        let t = &mut out.total;
        t.methods += s.methods;
        t.rest_v3 += s.rest_v3;
        t.positional += s.positional;
        t.deprecated += s.deprecated;
        t.params += s.params;
        t.params_typed += s.params_typed;
        t.results_typed += s.results_typed;
        t.results_shape += s.results_shape;
        t.results_any += s.results_any;
        t.events += s.events;
        t.events_typed += s.events_typed;
        t.event_fields += s.event_fields;
        t.event_fields_typed += s.event_fields_typed;
        out.scopes.push(s);
    }
    out.total.types = schema.type_count();
    out
}

/// `any`, `list<any>` or `map<any>`: a value whose shape the schema does not say.
fn untyped(ty: &Ty) -> bool {
    match ty {
        Ty::Any => true,
        Ty::List(inner) | Ty::Map(inner) => **inner == Ty::Any,
        _ => false,
    }
}

/// A result that says nothing about its content: `any`, or (through `list`, `map`, `option`)
/// a struct with no field or only `any`-shaped ones; a wrapper's single field is followed a
/// few levels, so `{product: any}` counts as untyped.
fn untyped_result(ty: &Ty, structs: &BTreeMap<&str, &[Field]>, depth: usize) -> bool {
    match ty {
        Ty::Any => true,
        Ty::List(inner) | Ty::Map(inner) | Ty::Option(inner) => {
            untyped_result(inner, structs, depth)
        }
        Ty::Named { name, .. } => match structs.get(name.as_str()) {
            None => false, // an enum
            Some([]) => true,
            Some([only]) if depth < 3 => untyped_result(&only.ty, structs, depth + 1),
            Some(fields) => fields.iter().all(|f| untyped(&f.ty)),
        },
        _ => false,
    }
}

fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        "–".to_owned()
    } else {
        format!("{:.0}%", part as f64 * 100.0 / whole as f64)
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "| scope | methods | REST 3.0 | positional | deprecated | params | params typed | results typed | results list/map of any | results untyped | types |"
        )?;
        writeln!(f, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")?;
        for s in self
            .scopes
            .iter()
            .filter(|s| s.methods > 0)
            .chain([&self.total])
        {
            writeln!(
                f,
                "| {} | {} | {} | {} | {} | {} | {} ({}) | {} ({}) | {} | {} | {} |",
                s.scope,
                s.methods,
                s.rest_v3,
                s.positional,
                s.deprecated,
                s.params,
                s.params_typed,
                percent(s.params_typed, s.params),
                s.results_typed,
                percent(s.results_typed, s.methods),
                s.results_shape,
                s.results_any,
                s.types
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "| scope | events | data typed | data any | data fields | fields typed |"
        )?;
        writeln!(f, "|---|--:|--:|--:|--:|--:|")?;
        for s in self
            .scopes
            .iter()
            .filter(|s| s.events > 0)
            .chain([&self.total])
        {
            writeln!(
                f,
                "| {} | {} | {} ({}) | {} | {} | {} ({}) |",
                s.scope,
                s.events,
                s.events_typed,
                percent(s.events_typed, s.events),
                s.events - s.events_typed,
                s.event_fields,
                s.event_fields_typed,
                percent(s.event_fields_typed, s.event_fields)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Source;

    #[test]
    fn wrappers_of_any_are_untyped_results_and_lists_of_any_untyped_params() {
        let text = r#"scope = "alpha"

[[method]]
name = "alpha.a"
description = "A."
doc = "a.md"
result = "Wrapper"
params = [{ name = "F", type = "map<any>" }, { name = "G", type = "list<int>" }]

[[method]]
name = "alpha.b"
description = "B."
doc = "b.md"
result = "option<Row>"

[[method]]
name = "alpha.c"
description = "C."
doc = "c.md"
result = "list<any>"

[[method]]
name = "alpha.d"
description = "D."
doc = "d.md"
result = "null"

[[type]]
name = "Wrapper"
description = "Holds nothing known."
fields = [{ name = "item", type = "any" }]

[[type]]
name = "Row"
description = "A row."
fields = [{ name = "ID", type = "int" }, { name = "X", type = "any" }]
"#;
        let schema = crate::load_sources(&[Source {
            path: "schema/alpha.toml".to_owned(),
            text: text.to_owned(),
        }])
        .unwrap();
        let t = stats(&schema).total;
        assert_eq!((t.params, t.params_typed), (2, 1));
        assert_eq!((t.results_typed, t.results_shape, t.results_any), (2, 1, 1));
    }
}
