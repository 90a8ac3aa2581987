//! How much of the schema is typed: `bitrix24-codegen stats <dir>` prints Markdown tables per
//! scope, one for methods and one for events (pasted into `docs/COVERAGE.md`).

use std::collections::BTreeSet;
use std::fmt;

use crate::ir::{Schema, Ty};

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
    /// Params whose type is not `any` (`list<any>` and `map<any>` count as typed shapes).
    pub params_typed: usize,
    /// Results typed without `any` at the top (a named type, a scalar, a list or map of them).
    pub results_typed: usize,
    /// Results that are `list<any>` or `map<any>`: the shape is known, the rows are not.
    pub results_shape: usize,
    /// Results that are `any`: the docs say nothing usable.
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
            s.params_typed += m.params.iter().filter(|p| p.ty != Ty::Any).count();
            match &m.result {
                Ty::Any => s.results_any += 1,
                Ty::List(inner) | Ty::Map(inner) if **inner == Ty::Any => s.results_shape += 1,
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
            "| scope | methods | REST 3.0 | positional | deprecated | params | params typed | results typed | results list/map of any | results any | types |"
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
