//! The outcome of the example round trips: counts per scope and kind, the allowlist of known
//! disagreements inside the docs, and the classified failure list (`schema/facts/FAILURES.md`,
//! with the counts for `bitrix24-codegen stats` in `schema/facts/roundtrip.json`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::classify::Class;

/// What an example shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Request,
    Response,
    Event,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Request, Kind::Response, Kind::Event];

    fn as_str(self) -> &'static str {
        match self {
            Kind::Request => "request",
            Kind::Response => "response",
            Kind::Event => "event",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Kind::Request => "requests",
            Kind::Response => "responses",
            Kind::Event => "events",
        }
    }
}

/// An example that does not round-trip.
#[derive(Debug, Clone)]
pub struct Failure {
    pub scope: String,
    pub kind: Kind,
    pub name: String,
    pub doc: String,
    pub line: u64,
    pub class: Class,
    pub detail: String,
}

/// A known disagreement inside the docs: the example contradicts the page's own table, and the
/// schema follows the table (or the portal) on purpose.
struct Allowed {
    kind: String,
    name: String,
    line: Option<u64>,
    reason: String,
    used: bool,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    total: usize,
    passed: usize,
    allowlisted: usize,
}

pub struct Report {
    facts: PathBuf,
    allowed: Vec<Allowed>,
    counts: BTreeMap<String, [Counts; 3]>,
    failures: Vec<Failure>,
}

impl Report {
    /// Reads `allowlist.toml` from the facts directory.
    pub fn load(facts: &Path) -> Self {
        let path = facts.join("allowlist.toml");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let table: toml::Table = text
            .parse()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let allowed = table
            .get("allow")
            .and_then(toml::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|entry| {
                let text = |key: &str| {
                    entry
                        .get(key)
                        .and_then(toml::Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                let allowed = Allowed {
                    kind: text("kind"),
                    name: text("name"),
                    line: entry
                        .get("line")
                        .and_then(toml::Value::as_integer)
                        .and_then(|n| u64::try_from(n).ok()),
                    reason: text("reason"),
                    used: false,
                };
                assert!(
                    !allowed.reason.trim().is_empty() && !allowed.name.is_empty(),
                    "{}: every entry needs a name and a reason",
                    path.display()
                );
                allowed
            })
            .collect();
        Self {
            facts: facts.to_owned(),
            allowed,
            counts: BTreeMap::new(),
            failures: Vec::new(),
        }
    }

    /// Counts one example: passed, allowlisted, or failed.
    pub fn record(&mut self, scope: &str, kind: Kind, failure: Option<Failure>) {
        let counts = &mut self.counts.entry(scope.to_owned()).or_default()[kind as usize];
        counts.total += 1;
        let Some(failure) = failure else {
            counts.passed += 1;
            return;
        };
        let allowed = self.allowed.iter_mut().find(|a| {
            a.kind == kind.as_str()
                && a.name == failure.name
                && a.line.is_none_or(|line| line == failure.line)
        });
        match allowed {
            Some(a) => {
                a.used = true;
                counts.allowlisted += 1;
            }
            None => self.failures.push(failure),
        }
    }

    /// Prints the per-scope table, writes the failure list when asked, and fails on any
    /// failure (or, in a build of every scope, on an allowlist entry that matches nothing).
    pub fn finish(self) {
        println!("{}", self.table());
        let full = cfg!(feature = "full");
        let checked: usize = self.total().iter().map(|c| c.total).sum();
        // A broken lookup or extraction must not pass by checking nothing.
        assert!(
            !full || checked > 4000,
            "only {checked} examples were checked"
        );
        if std::env::var_os("B24_WRITE_FAILURES").is_some() {
            assert!(full, "B24_WRITE_FAILURES needs every scope: --all-features");
            let failures = self.facts.join("FAILURES.md");
            std::fs::write(&failures, self.failures_md()).unwrap();
            let counts = self.facts.join("roundtrip.json");
            std::fs::write(
                &counts,
                serde_json::to_string_pretty(&self.counts_json()).unwrap() + "\n",
            )
            .unwrap();
            println!("wrote {} and {}", failures.display(), counts.display());
        }
        let stale: Vec<String> = self
            .allowed
            .iter()
            .filter(|a| full && !a.used)
            .map(|a| {
                format!(
                    "allowlist entry {} {} matches no failure: remove it",
                    a.kind, a.name
                )
            })
            .collect();
        if self.failures.is_empty() && stale.is_empty() {
            return;
        }
        let mut by_class: BTreeMap<Class, usize> = BTreeMap::new();
        for f in &self.failures {
            *by_class.entry(f.class).or_default() += 1;
        }
        let classes: Vec<String> = by_class
            .iter()
            .map(|(c, n)| format!("{n} {}", c.title()))
            .collect();
        let first: Vec<String> = self
            .failures
            .iter()
            .take(30)
            .map(|f| self.line_of(f))
            .collect();
        panic!(
            "{} documented examples do not round-trip ({}); schema/facts/FAILURES.md lists them by class and scope (rewrite it with B24_WRITE_FAILURES=1 and --all-features)\n{}\n{}",
            self.failures.len(),
            classes.join(", "),
            stale.join("\n"),
            first.join("\n")
        );
    }

    fn line_of(&self, f: &Failure) -> String {
        format!(
            "{} {} ({}:{}): {}",
            f.name,
            f.kind.as_str(),
            f.doc,
            f.line,
            f.detail
        )
    }

    fn total(&self) -> [Counts; 3] {
        let mut total = [Counts::default(); 3];
        for counts in self.counts.values() {
            for (t, c) in total.iter_mut().zip(counts) {
                t.total += c.total;
                t.passed += c.passed;
                t.allowlisted += c.allowlisted;
            }
        }
        total
    }

    /// `| scope | requests | responses | events |`, each as `passed / total (+allowlisted)`.
    fn table(&self) -> String {
        let cell = |c: &Counts| {
            if c.total == 0 {
                "–".to_owned()
            } else if c.allowlisted > 0 {
                format!(
                    "{} / {} (+{} allowlisted)",
                    c.passed, c.total, c.allowlisted
                )
            } else {
                format!("{} / {}", c.passed, c.total)
            }
        };
        let mut out = String::from(
            "| scope | requests passed | responses passed | events passed |\n|---|--:|--:|--:|\n",
        );
        let total = self.total();
        let rows = self
            .counts
            .iter()
            .map(|(s, c)| (s.as_str(), c))
            .chain([("**total**", &total)]);
        for (scope, counts) in rows {
            let _ = writeln!(
                out,
                "| {scope} | {} | {} | {} |",
                cell(&counts[0]),
                cell(&counts[1]),
                cell(&counts[2])
            );
        }
        out
    }

    fn failures_md(&self) -> String {
        let mut out = String::from(
            "# Documented examples the schema gets wrong\n\n\
             Generated by `B24_WRITE_FAILURES=1 cargo test -p bitrix24 --all-features --test schema_examples`\n\
             from the docs' examples in `examples/` (see `examples/INDEX.md`); do not edit. Each line is an\n\
             example that does not round-trip through the generated types: the method or event, the page\n\
             and line of the example, where it fails and what the schema says there. Known disagreements\n\
             inside the docs are in `allowlist.toml` instead.\n\n## Examples checked\n\n",
        );
        out.push_str(&self.table());
        out.push_str("\n## Failures by class\n\n| class | failures | scopes |\n|---|--:|---|\n");
        let mut grouped: BTreeMap<Class, BTreeMap<&str, Vec<&Failure>>> = BTreeMap::new();
        for f in &self.failures {
            grouped
                .entry(f.class)
                .or_default()
                .entry(&f.scope)
                .or_default()
                .push(f);
        }
        for (class, scopes) in &grouped {
            let n: usize = scopes.values().map(Vec::len).sum();
            let names: Vec<&str> = scopes.keys().copied().collect();
            let _ = writeln!(out, "| {} | {n} | {} |", class.title(), names.join(", "));
        }
        if grouped.is_empty() {
            out.push_str("| none | 0 | |\n");
        }
        for class in Class::ALL {
            let Some(scopes) = grouped.get(&class) else {
                continue;
            };
            let _ = write!(out, "\n## {}\n\n{}\n", class.title(), class.meaning());
            for (scope, failures) in scopes {
                let _ = write!(out, "\n### {scope}\n\n");
                for f in failures {
                    let _ = writeln!(
                        out,
                        "- `{}` {} ({}:{}): {}",
                        f.name,
                        f.kind.as_str(),
                        f.doc,
                        f.line,
                        f.detail.replace('\n', " ")
                    );
                }
            }
        }
        out
    }

    /// Per scope and kind: examples, passed, allowlisted (read by `bitrix24-codegen stats`).
    fn counts_json(&self) -> Value {
        let scopes: serde_json::Map<String, Value> = self
            .counts
            .iter()
            .map(|(scope, counts)| {
                let kinds: serde_json::Map<String, Value> = Kind::ALL
                    .iter()
                    .zip(counts)
                    .map(|(k, c)| {
                        (
                            k.plural().to_owned(),
                            json!({"examples": c.total, "passed": c.passed, "allowlisted": c.allowlisted}),
                        )
                    })
                    .collect();
                (scope.clone(), Value::Object(kinds))
            })
            .collect();
        json!({ "scopes": scopes })
    }
}
