//! How much of the schema is typed: `bitrix24-codegen stats <dir>` prints Markdown tables per
//! scope, one for methods, one for events and one for the docs' examples that round-trip
//! through the generated types (pasted into `docs/COVERAGE.md`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::ir::{Field, Schema, Ty};
use crate::json::Json;

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
    /// Results that are (or hold) `any` with no `untyped` reason in the schema.
    pub results_untyped_unexplained: usize,
    /// Params that are (or hold) `any`: `any`, `list<any>`, `map<any>`.
    pub params_untyped: usize,
    /// Those of them with no `untyped` reason in the schema.
    pub params_untyped_unexplained: usize,
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
    /// The docs' examples checked by `sdk/tests/schema_examples.rs`, by scope, when a
    /// `facts/roundtrip.json` was read (see [`Stats::read_round_trips`]).
    pub examples: BTreeMap<String, RoundTrips>,
}

/// How the docs' examples of one scope fared in the round-trip test, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RoundTrips {
    /// Request examples.
    pub requests: Checked,
    /// Response examples.
    pub responses: Checked,
    /// Event payload examples.
    pub events: Checked,
}

/// Examples of one kind: how many were checked, passed, or are known disagreements inside the
/// docs (allowlisted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Checked {
    /// Examples checked.
    pub examples: usize,
    /// Round-tripped.
    pub passed: usize,
    /// Allowlisted, with a reason (`schema/facts/allowlist.toml`).
    pub allowlisted: usize,
}

impl Stats {
    /// Reads the counts the round-trip test writes (`schema/facts/roundtrip.json`:
    /// `{"scopes": {"crm": {"requests": {"examples": .., "passed": .., "allowlisted": ..}, ..}}}`).
    pub fn read_round_trips(&mut self, text: &str) -> Result<(), String> {
        let root = Json::parse(text)?;
        let Some(Json::Object(scopes)) = root.get("scopes") else {
            return Err("no \"scopes\" object".to_owned());
        };
        let count = |v: Option<&Json>, key: &str| {
            v.and_then(|v| v.get(key))
                .and_then(Json::as_i64)
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0)
        };
        let checked = |kinds: &Json, kind: &str| {
            let v = kinds.get(kind);
            Checked {
                examples: count(v, "examples"),
                passed: count(v, "passed"),
                allowlisted: count(v, "allowlisted"),
            }
        };
        self.examples = scopes
            .iter()
            .map(|(scope, kinds)| {
                let trips = RoundTrips {
                    requests: checked(kinds, "requests"),
                    responses: checked(kinds, "responses"),
                    events: checked(kinds, "events"),
                };
                (scope.clone(), trips)
            })
            .collect();
        Ok(())
    }
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
            for p in &m.params {
                if p.ty.is_untyped() {
                    s.params_untyped += 1;
                    s.params_untyped_unexplained += usize::from(p.untyped.is_none());
                } else {
                    s.params_typed += 1;
                }
            }
            let untyped = match &m.result {
                Ty::List(inner) | Ty::Map(inner) if **inner == Ty::Any => {
                    s.results_shape += 1;
                    true
                }
                ty if untyped_result(ty, &structs, 0) => {
                    s.results_any += 1;
                    true
                }
                _ => {
                    s.results_typed += 1;
                    false
                }
            };
            let explained = m.untyped.is_some() || reasoned_fields(&m.result, &structs, 0);
            s.results_untyped_unexplained += usize::from(untyped && !explained);
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
        t.results_untyped_unexplained += s.results_untyped_unexplained;
        t.params_untyped += s.params_untyped;
        t.params_untyped_unexplained += s.params_untyped_unexplained;
        t.events += s.events;
        t.events_typed += s.events_typed;
        t.event_fields += s.event_fields;
        t.event_fields_typed += s.event_fields_typed;
        out.scopes.push(s);
    }
    out.total.types = schema.type_count();
    out
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
            Some(fields) => fields.iter().all(|f| f.ty.is_untyped()),
        },
        _ => false,
    }
}

/// Whether an untyped result wrapped in a struct gives its reasons where the `any` is: on the
/// struct's untyped fields (a method's own `untyped` is only for a bare `any` result). Follows
/// wrappers the way [`untyped_result`] does.
fn reasoned_fields(ty: &Ty, structs: &BTreeMap<&str, &[Field]>, depth: usize) -> bool {
    match ty {
        Ty::List(inner) | Ty::Map(inner) | Ty::Option(inner) => {
            reasoned_fields(inner, structs, depth)
        }
        Ty::Named { name, .. } => match structs.get(name.as_str()) {
            Some([only]) if depth < 3 && only.untyped.is_none() => {
                reasoned_fields(&only.ty, structs, depth + 1)
            }
            Some(fields) if !fields.is_empty() => fields
                .iter()
                .filter(|f| f.ty.is_untyped())
                .all(|f| f.untyped.is_some()),
            _ => false,
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
            "| scope | methods | REST 3.0 | positional | deprecated | params | params typed | results typed | results list/map of any | results untyped | untyped results, no reason | untyped params (no reason) | types |"
        )?;
        writeln!(f, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")?;
        for s in self
            .scopes
            .iter()
            .filter(|s| s.methods > 0)
            .chain([&self.total])
        {
            writeln!(
                f,
                "| {} | {} | {} | {} | {} | {} | {} ({}) | {} ({}) | {} | {} | {} | {} ({}) | {} |",
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
                s.results_untyped_unexplained,
                s.params_untyped,
                s.params_untyped_unexplained,
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
        if !self.examples.is_empty() {
            self.examples_table(f)?;
        }
        Ok(())
    }
}

impl Stats {
    /// `| scope | requests | responses | events |`, each `passed / examples (+allowlisted)`.
    fn examples_table(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cell = |c: &Checked| {
            if c.examples == 0 {
                return "–".to_owned();
            }
            let allowed = if c.allowlisted > 0 {
                format!(" +{} allowlisted", c.allowlisted)
            } else {
                String::new()
            };
            format!(
                "{} / {} ({}){allowed}",
                c.passed,
                c.examples,
                percent(c.passed, c.examples)
            )
        };
        writeln!(f)?;
        writeln!(
            f,
            "| scope | requests round-tripped | responses decoded | events parsed |"
        )?;
        writeln!(f, "|---|--:|--:|--:|")?;
        let mut total = RoundTrips::default();
        for (scope, t) in &self.examples {
            writeln!(
                f,
                "| {scope} | {} | {} | {} |",
                cell(&t.requests),
                cell(&t.responses),
                cell(&t.events)
            )?;
            for (sum, c) in [
                (&mut total.requests, &t.requests),
                (&mut total.responses, &t.responses),
                (&mut total.events, &t.events),
            ] {
                sum.examples += c.examples;
                sum.passed += c.passed;
                sum.allowlisted += c.allowlisted;
            }
        }
        writeln!(
            f,
            "| **total** | {} | {} | {} |",
            cell(&total.requests),
            cell(&total.responses),
            cell(&total.events)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let schema = crate::load_sources(&[crate::Source {
            path: "schema/alpha.toml".to_owned(),
            text: text.to_owned(),
        }])
        .unwrap();
        let t = stats(&schema).total;
        assert_eq!((t.params, t.params_typed), (2, 1));
        assert_eq!((t.results_typed, t.results_shape, t.results_any), (2, 1, 1));
    }

    #[test]
    fn a_wrapped_any_is_explained_by_the_reason_on_its_field() {
        let text = r#"scope = "alpha"

[[method]]
name = "alpha.a"
description = "A."
doc = "a.md"
result = "Reasoned"

[[method]]
name = "alpha.b"
description = "B."
doc = "b.md"
result = "Bare"

[[type]]
name = "Reasoned"
description = "Holds what the docs leave open."
fields = [{ name = "item", type = "map<any>", untyped = "the docs show no fields" }]

[[type]]
name = "Bare"
description = "Holds nothing known."
fields = [{ name = "item", type = "any" }]
"#;
        let schema = crate::load_sources(&[crate::Source {
            path: "schema/alpha.toml".to_owned(),
            text: text.to_owned(),
        }])
        .unwrap();
        let t = stats(&schema).total;
        assert_eq!(t.results_any, 2);
        assert_eq!(t.results_untyped_unexplained, 1);
    }

    #[test]
    fn round_trip_counts_become_a_table_with_a_total() {
        let mut stats = Stats::default();
        stats
            .read_round_trips(
                r#"{"scopes": {
                    "crm": {"requests": {"examples": 4, "passed": 3, "allowlisted": 1},
                            "responses": {"examples": 2, "passed": 2, "allowlisted": 0},
                            "events": {"examples": 0, "passed": 0, "allowlisted": 0}},
                    "disk": {"requests": {"examples": 1, "passed": 0, "allowlisted": 0}}}}"#,
            )
            .unwrap();
        let text = stats.to_string();
        assert!(
            text.contains("| crm | 3 / 4 (75%) +1 allowlisted | 2 / 2 (100%) | – |"),
            "{text}"
        );
        assert!(text.contains("| disk | 0 / 1 (0%) | – | – |"), "{text}");
        assert!(
            text.contains("| **total** | 3 / 5 (60%) +1 allowlisted | 2 / 2 (100%) | – |"),
            "{text}"
        );
        assert!(stats.read_round_trips("[]").is_err());
    }
}
