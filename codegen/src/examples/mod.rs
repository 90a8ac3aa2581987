//! The docs' own examples (`schema/facts/examples/`): every request, response and event payload
//! the official pages show, read from the docs checkout by `bitrix24-codegen examples`. They are
//! the ground truth the schema is tested against (`sdk/tests/schema_examples.rs` round-trips
//! each through the generated types) and the evidence `import` and `drift` judge shapes by.
//!
//! Layout: one JSON-lines file per scope (`crm.jsonl`), one record per line, in page and line
//! order, so a changed example is a changed line in review. The first line names the docs
//! commit. `INDEX.md` beside them counts the examples per kind and scope and the blocks that
//! were skipped, by reason.

mod extract;
mod literal;
mod markdown;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::facts::FactParam;
use crate::json::Json;

pub use extract::extract;

/// What an example shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExampleKind {
    /// The params of a call (`body` is the JSON object sent).
    Request,
    /// A successful answer (`body` is the envelope: `result`, and `total`/`next` when shown).
    Response,
    /// What a portal POSTs to an event handler (`body` has `event`, `data`, `ts`, `auth`).
    Event,
}

impl ExampleKind {
    /// The name used in the files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Response => "response",
            Self::Event => "event",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Request, Self::Response, Self::Event]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One example from a docs page.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Example {
    /// Request, response or event payload.
    pub kind: ExampleKind,
    /// The Bitrix24 scope of the page.
    pub scope: String,
    /// The method or event as the page names it.
    pub name: String,
    /// A REST 3.0 page.
    pub rest_v3: bool,
    /// The page, relative to the docs repository.
    pub doc: String,
    /// Line of the code block in the page.
    pub line: usize,
    /// The example languages that showed this same data (`curl`, `js`, `php`, `json`).
    pub from: Vec<String>,
    /// The data.
    pub body: Json,
    /// JSON pointers into `body` of values that are placeholders or code, not data.
    pub placeholders: Vec<String>,
    /// A response shown without its envelope: `body.result` is the block itself.
    pub bare: bool,
    /// An event payload shown as its `data` alone.
    pub data_only: bool,
    /// Requests: the method reads its top-level params in any letter case (see
    /// [`reads_keys_in_any_case`]).
    pub any_case: bool,
    /// Requests: top-level keys that differ only in letter case from the page's param table,
    /// as `(example, table)`.
    pub key_case: Vec<(String, String)>,
}

/// A code block that looked like an example and could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Skipped {
    /// Scope of the page.
    pub scope: String,
    /// Method or event of the page.
    pub name: String,
    /// The page.
    pub doc: String,
    /// Line of the block.
    pub line: usize,
    /// The block's language (`curl`, `js`, `php`, `json`).
    pub from: String,
    /// Why, in a few words (the first words are the reason's class in `INDEX.md`).
    pub reason: String,
}

/// What a method page says beside its examples that the facts file misses: a deprecation note
/// in any letter case ("Deprecated method"), and params under an unusual heading ("Stage
/// Parameters") on a page the facts list no params for.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Page {
    /// Scope of the page.
    pub scope: String,
    /// The method.
    pub name: String,
    /// A REST 3.0 page.
    pub rest_v3: bool,
    /// The page.
    pub doc: String,
    /// The title of the note that marks the method outdated (or its first words).
    pub deprecation: Option<String>,
    /// The method that note links to.
    pub use_instead: Option<String>,
    /// The heading of the params table, when it is not one the facts file reads.
    pub params_heading: Option<String>,
    /// That table's params.
    pub params: Vec<FactParam>,
}

/// Every example of a docs checkout.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Examples {
    /// The docs repository and commit.
    pub source: String,
    /// The examples, by scope, page and line.
    pub examples: Vec<Example>,
    /// Page facts the facts file misses.
    pub pages: Vec<Page>,
    /// What could not be converted.
    pub skipped: Vec<Skipped>,
    /// Code blocks that were not examples of the page's own method or event, by reason
    /// (`calls another method`, `error answer`): counted, not kept.
    pub ignored: BTreeMap<String, usize>,
}

/// Whether a method reads its top-level params in any letter case. Classic methods look their
/// params up without regard to case (`FIELDS` and `fields` are the same); REST 3.0 methods and
/// the classic ones built on the newer controllers, whose params are camelCase
/// (`entityTypeId`), match names exactly.
pub fn reads_keys_in_any_case<'a>(
    rest_v3: bool,
    mut params: impl Iterator<Item = &'a str>,
) -> bool {
    !rest_v3 && !params.any(is_lower_camel_case)
}

/// `entityTypeId`: a lower-case start and an upper-case letter later.
fn is_lower_camel_case(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.contains(|c: char| c.is_ascii_uppercase())
}

impl Examples {
    /// Reads every `*.jsonl` file of `dir`.
    pub fn load_dir(dir: &Path) -> Result<Examples, String> {
        let mut out = Examples::default();
        let entries =
            std::fs::read_dir(dir).map_err(|e| format!("{}: cannot read: {e}", dir.display()))?;
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
            out.read_lines(&text)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(out)
    }

    /// Reads the records of one `*.jsonl` file (for tools and tests that build examples by
    /// hand).
    pub fn parse(text: &str) -> Result<Examples, String> {
        let mut out = Examples::default();
        out.read_lines(text)?;
        Ok(out)
    }

    fn read_lines(&mut self, text: &str) -> Result<(), String> {
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let record = Json::parse(line).map_err(|e| format!("line {}: {e}", i + 1))?;
            let str_of = |key: &str| record.get(key).and_then(Json::as_str).unwrap_or_default();
            let strings = |key: &str| -> Vec<String> {
                record
                    .get(key)
                    .map(|v| {
                        v.items()
                            .iter()
                            .filter_map(Json::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let flag = |key: &str| record.get(key).and_then(Json::as_bool).unwrap_or(false);
            let kind = str_of("kind");
            if kind == "source" {
                self.source = str_of("source").to_owned();
                continue;
            }
            let scope = str_of("scope").to_owned();
            let name = str_of("name").to_owned();
            let doc = str_of("doc").to_owned();
            let line_no = record
                .get("line")
                .and_then(Json::as_i64)
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0);
            if kind == "page" {
                let params = record
                    .get("params")
                    .map(|v| {
                        v.items()
                            .iter()
                            .filter_map(|p| {
                                let name = p.get("name").and_then(Json::as_str)?;
                                let ty = p.get("type").and_then(Json::as_str).unwrap_or("");
                                let required =
                                    p.get("required").and_then(Json::as_bool) == Some(true);
                                Some(FactParam::new(name, ty, required))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let text_of = |key: &str| record.get(key).and_then(Json::as_str).map(str::to_owned);
                self.pages.push(Page {
                    scope,
                    name,
                    rest_v3: flag("rest_v3"),
                    doc,
                    deprecation: text_of("deprecation"),
                    use_instead: text_of("use_instead"),
                    params_heading: text_of("params_heading"),
                    params,
                });
                continue;
            }
            if kind == "skipped" {
                self.skipped.push(Skipped {
                    scope,
                    name,
                    doc,
                    line: line_no,
                    from: str_of("from").to_owned(),
                    reason: str_of("reason").to_owned(),
                });
                continue;
            }
            let kind = ExampleKind::parse(kind)
                .ok_or_else(|| format!("line {}: unknown kind {kind:?}", i + 1))?;
            let key_case = record
                .get("key_case")
                .map(|v| {
                    v.items()
                        .iter()
                        .filter_map(|pair| match pair.items() {
                            [Json::String(a), Json::String(b)] => Some((a.clone(), b.clone())),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            self.examples.push(Example {
                kind,
                scope,
                name,
                rest_v3: flag("rest_v3"),
                doc,
                line: line_no,
                from: strings("from"),
                body: record.get("body").cloned().unwrap_or(Json::Null),
                placeholders: strings("placeholders"),
                bare: flag("bare"),
                data_only: flag("data_only"),
                any_case: flag("any_case"),
                key_case,
            });
        }
        Ok(())
    }

    /// The examples of a method (by wire name and API version) or event (by name, in any
    /// case), in page order.
    pub fn of<'a>(
        &'a self,
        kind: ExampleKind,
        name: &'a str,
        rest_v3: bool,
    ) -> impl Iterator<Item = &'a Example> + 'a {
        self.examples.iter().filter(move |e| {
            e.kind == kind
                && match kind {
                    ExampleKind::Event => e.name.eq_ignore_ascii_case(name),
                    _ => e.name == name && e.rest_v3 == rest_v3,
                }
        })
    }

    /// Writes one `<scope>.jsonl` per scope and `INDEX.md` into `dir`, replacing the
    /// `*.jsonl` files that were there.
    pub fn write_dir(&self, dir: &Path) -> Result<(), String> {
        let fail = |e: std::io::Error| format!("{}: {e}", dir.display());
        std::fs::create_dir_all(dir).map_err(fail)?;
        for entry in std::fs::read_dir(dir).map_err(fail)? {
            let path = entry.map_err(fail)?.path();
            if path.extension().is_some_and(|e| e == "jsonl") {
                std::fs::remove_file(&path).map_err(fail)?;
            }
        }
        for (scope, text) in self.files() {
            let path = dir.join(format!("{scope}.jsonl"));
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        let index = dir.join("INDEX.md");
        std::fs::write(&index, self.index()).map_err(|e| format!("{}: {e}", index.display()))
    }

    /// The text of each scope's file.
    fn files(&self) -> BTreeMap<&str, String> {
        let mut files: BTreeMap<&str, Vec<(&str, usize, String)>> = BTreeMap::new();
        for e in &self.examples {
            files
                .entry(&e.scope)
                .or_default()
                .push((&e.doc, e.line, example_json(e).to_json()));
        }
        for s in &self.skipped {
            files
                .entry(&s.scope)
                .or_default()
                .push((&s.doc, s.line, skipped_json(s).to_json()));
        }
        for p in &self.pages {
            files
                .entry(&p.scope)
                .or_default()
                .push((&p.doc, 0, page_json(p).to_json()));
        }
        let header = Json::Object(vec![
            ("kind".to_owned(), Json::String("source".to_owned())),
            ("source".to_owned(), Json::String(self.source.clone())),
        ])
        .to_json();
        files
            .into_iter()
            .map(|(scope, mut lines)| {
                lines.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
                let mut text = format!("{header}\n");
                for (_, _, line) in lines {
                    text.push_str(&line);
                    text.push('\n');
                }
                (scope, text)
            })
            .collect()
    }

    /// `INDEX.md`: the source, the examples per kind and scope, and what was skipped, by reason.
    pub fn index(&self) -> String {
        #[derive(Default)]
        struct Row {
            pages: std::collections::BTreeSet<String>,
            counts: [usize; 3],
            placeholders: usize,
            skipped: usize,
        }
        let mut rows: BTreeMap<&str, Row> = BTreeMap::new();
        for e in &self.examples {
            let row = rows.entry(&e.scope).or_default();
            row.pages.insert(e.doc.clone());
            row.counts[e.kind as usize] += 1;
            row.placeholders += usize::from(!e.placeholders.is_empty());
        }
        for s in &self.skipped {
            rows.entry(&s.scope).or_default().skipped += 1;
        }
        let mut out = String::from(
            "# Examples from the docs\n\n\
             Generated by `bitrix24-codegen examples <docs checkout> schema/facts/methods.json schema/facts/examples`; do not edit.\n\n",
        );
        let _ = writeln!(out, "Source: `{}`\n", self.source);
        out.push_str("| scope | pages | requests | responses | events | with placeholders | skipped |\n|---|--:|--:|--:|--:|--:|--:|\n");
        let line = |label: &str, row: &Row| {
            format!(
                "| {label} | {} | {} | {} | {} | {} | {} |\n",
                row.pages.len(),
                row.counts[0],
                row.counts[1],
                row.counts[2],
                row.placeholders,
                row.skipped
            )
        };
        let mut total = Row::default();
        for (scope, row) in &rows {
            out.push_str(&line(scope, row));
            total.pages.extend(row.pages.iter().cloned());
            for k in 0..3 {
                total.counts[k] += row.counts[k];
            }
            total.placeholders += row.placeholders;
            total.skipped += row.skipped;
        }
        out.push_str(&line("**total**", &total));
        out.push('\n');
        out.push_str("## Skipped, by reason\n\nBlocks that look like examples of the page's method or event but do not convert reliably. Each is listed in its scope's file as a `skipped` record.\n\n| reason | blocks |\n|---|--:|\n");
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for s in &self.skipped {
            *reasons.entry(reason_class(&s.reason)).or_default() += 1;
        }
        for (reason, n) in &reasons {
            let _ = writeln!(out, "| {reason} | {n} |");
        }
        out.push_str("\n## Not examples of the page's own method or event\n\nCounted, not kept.\n\n| what | blocks |\n|---|--:|\n");
        for (what, n) in &self.ignored {
            let _ = writeln!(out, "| {what} | {n} |");
        }
        out
    }
}

/// The class of a skip reason: its text before the first `:`.
fn reason_class(reason: &str) -> String {
    reason.split(':').next().unwrap_or(reason).trim().to_owned()
}

fn example_json(e: &Example) -> Json {
    let s = |v: &str| Json::String(v.to_owned());
    let strings = |v: &[String]| Json::Array(v.iter().map(|x| s(x)).collect());
    let mut entries = vec![
        ("kind".to_owned(), s(e.kind.as_str())),
        ("scope".to_owned(), s(&e.scope)),
        ("name".to_owned(), s(&e.name)),
    ];
    if e.rest_v3 {
        entries.push(("rest_v3".to_owned(), Json::Bool(true)));
    }
    entries.push(("doc".to_owned(), s(&e.doc)));
    entries.push(("line".to_owned(), Json::Number(e.line.to_string())));
    entries.push(("from".to_owned(), strings(&e.from)));
    for (key, set) in [
        ("bare", e.bare),
        ("data_only", e.data_only),
        ("any_case", e.any_case),
    ] {
        if set {
            entries.push((key.to_owned(), Json::Bool(true)));
        }
    }
    if !e.key_case.is_empty() {
        let pairs = e
            .key_case
            .iter()
            .map(|(a, b)| Json::Array(vec![s(a), s(b)]))
            .collect();
        entries.push(("key_case".to_owned(), Json::Array(pairs)));
    }
    if !e.placeholders.is_empty() {
        entries.push(("placeholders".to_owned(), strings(&e.placeholders)));
    }
    entries.push(("body".to_owned(), e.body.clone()));
    Json::Object(entries)
}

fn page_json(p: &Page) -> Json {
    let s = |v: &str| Json::String(v.to_owned());
    let mut entries = vec![
        ("kind".to_owned(), s("page")),
        ("scope".to_owned(), s(&p.scope)),
        ("name".to_owned(), s(&p.name)),
    ];
    if p.rest_v3 {
        entries.push(("rest_v3".to_owned(), Json::Bool(true)));
    }
    entries.push(("doc".to_owned(), s(&p.doc)));
    for (key, value) in [
        ("deprecation", &p.deprecation),
        ("use_instead", &p.use_instead),
        ("params_heading", &p.params_heading),
    ] {
        if let Some(v) = value {
            entries.push((key.to_owned(), s(v)));
        }
    }
    if !p.params.is_empty() {
        let params = p
            .params
            .iter()
            .map(|f| {
                Json::Object(vec![
                    ("name".to_owned(), s(&f.name)),
                    ("type".to_owned(), s(f.ty.as_deref().unwrap_or(""))),
                    ("required".to_owned(), Json::Bool(f.required)),
                ])
            })
            .collect();
        entries.push(("params".to_owned(), Json::Array(params)));
    }
    Json::Object(entries)
}

fn skipped_json(s: &Skipped) -> Json {
    let t = |v: &str| Json::String(v.to_owned());
    Json::Object(vec![
        ("kind".to_owned(), t("skipped")),
        ("scope".to_owned(), t(&s.scope)),
        ("name".to_owned(), t(&s.name)),
        ("doc".to_owned(), t(&s.doc)),
        ("line".to_owned(), Json::Number(s.line.to_string())),
        ("from".to_owned(), t(&s.from)),
        ("reason".to_owned(), t(&s.reason)),
    ])
}
