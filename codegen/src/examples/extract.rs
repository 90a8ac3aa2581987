//! Reading the examples out of the docs pages: the cURL bodies, the JavaScript and PHP calls of
//! the page's own method, the JSON answers under the response headings, and the payloads an
//! event page shows.

use std::path::Path;

use super::literal::{self, Dialect, Parsed, SUBST_END, SUBST_START};
use super::markdown::{self, Block};
use super::{Example, ExampleKind, Examples, Page, Skipped, reads_keys_in_any_case};
use crate::facts::{FactParam, Facts};
use crate::json::Json;

/// Reads the examples of every method and event page `facts` lists from the docs checkout at
/// `docs` (a git clone of the docs repository; its commit becomes [`Examples::source`]).
pub fn extract(docs: &Path, facts: &Facts) -> Result<Examples, String> {
    let mut out = Examples {
        source: docs_commit(docs)?,
        ..Examples::default()
    };
    for m in &facts.methods {
        let page = read_page(docs, &m.doc)?;
        let table: Vec<&str> = m
            .params
            .iter()
            .chain(m.param_variants.iter().flatten())
            .map(|p: &FactParam| p.name.as_str())
            .collect();
        let has_params = !table.is_empty();
        let target = Target {
            scope: &m.scope,
            name: &m.name,
            rest_v3: m.rest_v3,
            doc: &m.doc,
            table,
        };
        target.method_page(&page, &mut out);
        target.page_facts(&page, has_params, &mut out);
    }
    for e in &facts.events {
        let page = read_page(docs, &e.doc)?;
        let target = Target {
            scope: &e.scope,
            name: &e.name,
            rest_v3: false,
            doc: &e.doc,
            table: Vec::new(),
        };
        target.event_page(&page, &mut out);
    }
    Ok(out)
}

fn read_page(docs: &Path, doc: &str) -> Result<String, String> {
    let path = docs.join(doc);
    std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
}

/// `github.com/bitrix24/b24restdocs@<commit> (<date>)`, the way `methods.json` names its source.
fn docs_commit(docs: &Path) -> Result<String, String> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(docs)
        .args(["log", "-1", "--format=%H %cs"])
        .output()
        .map_err(|e| format!("{}: cannot run git: {e}", docs.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    match text.trim().split_once(' ') {
        Some((hash, date)) if output.status.success() => {
            Ok(format!("github.com/bitrix24/b24restdocs@{hash} ({date})"))
        }
        _ => Err(format!(
            "{}: not a git checkout of the docs (git log failed)",
            docs.display()
        )),
    }
}

/// The page being read and what it documents.
struct Target<'a> {
    scope: &'a str,
    name: &'a str,
    rest_v3: bool,
    doc: &'a str,
    /// The documented top-level params (for letter-case differences).
    table: Vec<&'a str>,
}

/// A converted example before it is merged with equal ones of the same page.
struct Found {
    kind: ExampleKind,
    line: usize,
    from: &'static str,
    body: Json,
    placeholders: Vec<String>,
    bare: bool,
    data_only: bool,
}

impl Target<'_> {
    fn method_page(&self, page: &str, out: &mut Examples) {
        let mut found = Vec::new();
        for block in markdown::blocks(page) {
            match block.lang.as_str() {
                "bash" | "curl" | "sh" | "shell" => self.curl_block(&block, &mut found, out),
                "js" | "javascript" | "ts" | "typescript" | "html" => {
                    self.call_block(&block, Dialect::Js, &mut found, out);
                }
                "php" => self.call_block(&block, Dialect::Php, &mut found, out),
                "json" | "jsonc" | "" => self.response_block(&block, &mut found, out),
                _ => {}
            }
        }
        self.keep(found, out);
    }

    /// The page's deprecation note and, when the facts have no params, a params table under
    /// another heading than the usual ones.
    fn page_facts(&self, page: &str, has_params: bool, out: &mut Examples) {
        let (deprecation, use_instead) = match deprecation_note(page) {
            Some((title, instead)) => (Some(title), instead),
            None => (None, None),
        };
        let (params_heading, params) = if has_params {
            (None, Vec::new())
        } else {
            match params_table(page) {
                Some((heading, params)) => (Some(heading), params),
                None => (None, Vec::new()),
            }
        };
        if deprecation.is_none() && params.is_empty() {
            return;
        }
        out.pages.push(Page {
            scope: self.scope.to_owned(),
            name: self.name.to_owned(),
            rest_v3: self.rest_v3,
            doc: self.doc.to_owned(),
            deprecation,
            use_instead: use_instead.filter(|u| !u.eq_ignore_ascii_case(self.name)),
            params_heading,
            params,
        });
    }

    fn event_page(&self, page: &str, out: &mut Examples) {
        let mut found = Vec::new();
        for block in markdown::blocks(page) {
            let dialect = match block.lang.as_str() {
                "json" | "jsonc" | "" => Dialect::Json,
                "php" if block.text.trim_start().starts_with("array(") => Dialect::Php,
                _ => continue,
            };
            match literal::parse_document(block.text.trim(), dialect) {
                Ok(parsed) => {
                    let Parsed {
                        value,
                        placeholders,
                        ..
                    } = parsed;
                    let is_payload = value.get("event").is_some()
                        || value.get("data").is_some()
                        || is_handler_heading(&block.heading);
                    if !is_payload {
                        *out.ignored
                            .entry("event page: other JSON".to_owned())
                            .or_default() += 1;
                        continue;
                    }
                    // The PHP form shows what the handler gets in `data`.
                    let data_only = dialect == Dialect::Php;
                    let (body, placeholders) = if data_only {
                        let moved = placeholders.iter().map(|p| format!("/data{p}")).collect();
                        (Json::Object(vec![("data".to_owned(), value)]), moved)
                    } else {
                        (value, placeholders)
                    };
                    found.push(Found {
                        kind: ExampleKind::Event,
                        line: block.line,
                        from: if data_only { "php" } else { "json" },
                        body,
                        placeholders,
                        bare: false,
                        data_only,
                    });
                }
                Err(e) if is_handler_heading(&block.heading) => {
                    self.skip(out, &block, "json", format!("not JSON: {e}"));
                }
                Err(_) => {
                    *out.ignored
                        .entry("event page: other code".to_owned())
                        .or_default() += 1;
                }
            }
        }
        self.keep(found, out);
    }

    /// Records a block that could not be converted (once, however many calls it holds).
    fn skip(&self, out: &mut Examples, block: &Block, from: &str, reason: String) {
        let skipped = Skipped {
            scope: self.scope.to_owned(),
            name: self.name.to_owned(),
            doc: self.doc.to_owned(),
            line: block.line,
            from: from.to_owned(),
            reason,
        };
        if !out.skipped.contains(&skipped) {
            out.skipped.push(skipped);
        }
    }

    fn ignore(out: &mut Examples, what: &str) {
        *out.ignored.entry(what.to_owned()).or_default() += 1;
    }

    /// Every `curl ... -d '<json>' .../<method>` command of a shell block.
    fn curl_block(&self, block: &Block, found: &mut Vec<Found>, out: &mut Examples) {
        for command in curl_commands(&block.text) {
            let Some(url_method) = command_method(command) else {
                continue;
            };
            let Some(data) = data_argument(command) else {
                Self::ignore(out, "cURL without a JSON body");
                continue;
            };
            if !url_method.eq_ignore_ascii_case(self.name) {
                Self::ignore(out, "calls another method");
                continue;
            }
            let parsed = literal::parse_document(data.word.trim(), Dialect::Json).or_else(|e| {
                // A quote inside the single-quoted body (`"Children's Toys"`) ends the shell
                // word early: the docs mean the text up to the last quote.
                data.raw
                    .map(|raw| literal::parse_document(raw.trim(), Dialect::Json))
                    .unwrap_or(Err(e))
            });
            match parsed {
                Ok(p) => self.request(block, "curl", p, found, out),
                Err(e) => self.skip(out, block, "curl", format!("not JSON: {e}")),
            }
        }
    }

    /// The page's method called from JavaScript (`BX24.callMethod`, `$b24.callMethod`,
    /// `$b24.actions.v2.call.make({method, params})`, ...) or PHP (`CRest::call`,
    /// `$b24Service->core->call`).
    fn call_block(
        &self,
        block: &Block,
        dialect: Dialect,
        found: &mut Vec<Found>,
        out: &mut Examples,
    ) {
        let from = if dialect == Dialect::Php { "php" } else { "js" };
        for call in calls(&block.text, dialect) {
            match call {
                Call::Other => Self::ignore(out, "calls another method"),
                Call::Unreadable(name, e) if name.eq_ignore_ascii_case(self.name) => {
                    self.skip(out, block, from, format!("not a literal: {e}"));
                }
                Call::Unreadable(..) => Self::ignore(out, "calls another method"),
                Call::Params(name, parsed) if name.eq_ignore_ascii_case(self.name) => {
                    if parsed.placeholders.iter().any(String::is_empty) {
                        self.skip(out, block, from, "params in a variable".to_owned());
                    } else {
                        self.request(block, from, parsed, found, out);
                    }
                }
                Call::Params(..) => Self::ignore(out, "calls another method"),
            }
        }
    }

    fn request(
        &self,
        block: &Block,
        from: &'static str,
        parsed: Parsed,
        found: &mut Vec<Found>,
        out: &mut Examples,
    ) {
        let Parsed {
            mut value,
            mut placeholders,
            ..
        } = parsed;
        // The OAuth variant of a cURL example adds the token as `auth`; it is not a param.
        if let Json::Object(entries) = &mut value {
            entries.retain(|(k, _)| k != "auth");
            placeholders.retain(|p| p != "/auth" && !p.starts_with("/auth/"));
        }
        match value {
            Json::Object(_) => {}
            Json::Array(ref items) if items.is_empty() => value = Json::Object(Vec::new()),
            Json::Array(_) => {}
            _ => {
                self.skip(out, block, from, "not an object of params".to_owned());
                return;
            }
        }
        found.push(Found {
            kind: ExampleKind::Request,
            line: block.line,
            from,
            body: value,
            placeholders,
            bare: false,
            data_only: false,
        });
    }

    /// A JSON answer: an envelope with `result`, or (under a response heading) the result
    /// shown bare. Error answers and other JSON are counted and dropped.
    fn response_block(&self, block: &Block, found: &mut Vec<Found>, out: &mut Examples) {
        let text = block.text.trim();
        if text.is_empty() {
            return;
        }
        let parsed = literal::parse_document(text, Dialect::Json).or_else(|e| {
            // `"result": {...}, "time": {...}` without the braces around it.
            if text.starts_with('"') {
                literal::parse_document(&format!("{{{text}}}"), Dialect::Json).map_err(|_| e)
            } else {
                Err(e)
            }
        });
        let responsive = is_response_heading(&block.heading);
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) if responsive || text.contains("\"result\"") => {
                self.skip(out, block, "json", format!("not JSON: {e}"));
                return;
            }
            Err(_) => {
                Self::ignore(out, "method page: other code");
                return;
            }
        };
        let Parsed {
            value,
            placeholders,
            ..
        } = parsed;
        let has = |key: &str| value.get(key).is_some();
        if has("error") && !has("result") {
            Self::ignore(out, "error answer");
            return;
        }
        let (body, placeholders, bare) = if has("result") {
            let Json::Object(entries) = value else {
                return;
            };
            let kept = entries
                .into_iter()
                .filter(|(k, _)| matches!(k.as_str(), "result" | "total" | "next"))
                .collect();
            let placeholders = placeholders
                .into_iter()
                .filter(|p| {
                    ["/result", "/total", "/next"]
                        .iter()
                        .any(|k| p == k || p.starts_with(&format!("{k}/")))
                })
                .collect();
            (Json::Object(kept), placeholders, false)
        } else if responsive {
            // A bare result; `time` beside it shows the envelope lost its `result` key.
            let result = match value {
                Json::Object(entries) if entries.iter().any(|(k, _)| k == "time") => Json::Object(
                    entries
                        .into_iter()
                        .filter(|(k, _)| !matches!(k.as_str(), "time" | "total" | "next"))
                        .collect(),
                ),
                other => other,
            };
            let placeholders = placeholders.iter().map(|p| format!("/result{p}")).collect();
            (
                Json::Object(vec![("result".to_owned(), result)]),
                placeholders,
                true,
            )
        } else {
            Self::ignore(out, "method page: other JSON");
            return;
        };
        found.push(Found {
            kind: ExampleKind::Response,
            line: block.line,
            from: "json",
            body,
            placeholders,
            bare,
            data_only: false,
        });
    }

    /// Merges equal examples of the page (the webhook and OAuth cURL variants, the same params
    /// in JavaScript and PHP) and adds them to `out`.
    fn keep(&self, found: Vec<Found>, out: &mut Examples) {
        let mut kept: Vec<Example> = Vec::new();
        for f in found {
            if let Some(same) = kept
                .iter_mut()
                .find(|e| e.kind == f.kind && e.body == f.body && e.placeholders == f.placeholders)
            {
                if !same.from.iter().any(|x| x == f.from) {
                    same.from.push(f.from.to_owned());
                }
                continue;
            }
            let (any_case, key_case) = match f.kind {
                ExampleKind::Request => (
                    reads_keys_in_any_case(self.rest_v3, self.table.iter().copied()),
                    self.key_case(&f.body),
                ),
                _ => (false, Vec::new()),
            };
            kept.push(Example {
                kind: f.kind,
                scope: self.scope.to_owned(),
                name: self.name.to_owned(),
                rest_v3: self.rest_v3,
                doc: self.doc.to_owned(),
                line: f.line,
                from: vec![f.from.to_owned()],
                body: f.body,
                placeholders: f.placeholders,
                bare: f.bare,
                data_only: f.data_only,
                any_case,
                key_case,
            });
        }
        out.examples.extend(kept);
    }

    /// Top-level keys of a request that the param table spells in another letter case.
    fn key_case(&self, body: &Json) -> Vec<(String, String)> {
        let Json::Object(entries) = body else {
            return Vec::new();
        };
        entries
            .iter()
            .filter(|(k, _)| !self.table.contains(&k.as_str()))
            .filter_map(|(k, _)| {
                let documented = self.table.iter().find(|t| t.eq_ignore_ascii_case(k))?;
                Some((k.clone(), (*documented).to_owned()))
            })
            .collect()
    }
}

/// The note that marks the method outdated, in whatever case the page writes it ("Deprecated
/// method", "DEPRECATED", "This method is outdated"): its title (or first words), and the method
/// its first link names.
fn deprecation_note(page: &str) -> Option<(String, Option<String>)> {
    const MARKS: &[&str] = &[
        "deprecat",
        "outdated",
        "obsolete",
        "no longer supported",
        "no longer developed",
        "development of this method has been halted",
    ];
    let mut rest = page;
    while let Some(at) = rest.find("{% note") {
        let after = &rest[at..];
        let head_end = after.find("%}")?;
        let head = &after[..head_end];
        let body_end = after.find("{% endnote %}").unwrap_or(after.len());
        let body = after[head_end + 2..body_end].trim();
        rest = &after[body_end.max(head_end)..];
        let title = head.split('"').nth(1).unwrap_or("").trim();
        let opening: String = body.chars().take(300).collect();
        let said = format!("{title} {opening}").to_ascii_lowercase();
        if !MARKS.iter().any(|m| said.contains(m)) {
            continue;
        }
        let label = if title.is_empty() {
            opening
                .split(['.', '\n'])
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        } else {
            title.to_owned()
        };
        // `[im.v2.File.upload](../../...)`: the first link whose text is a method name.
        let instead = body.split('[').skip(1).find_map(|link| {
            let (text, after) = link.split_once(']')?;
            let text = text.trim().trim_matches('`');
            let is_method = after.starts_with('(')
                && text.contains('.')
                && !text.ends_with(".md")
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_');
            is_method.then(|| text.to_owned())
        });
        return Some((label, instead));
    }
    None
}

/// The first table under a heading that names parameters ("Stage Parameters"), before the
/// code examples: its rows as params (`**id***` is `id`, required; the first backquoted word
/// after the name is its type).
fn params_table(page: &str) -> Option<(String, Vec<FactParam>)> {
    let mut heading: Option<String> = None;
    let mut in_table = false;
    let mut params: Vec<FactParam> = Vec::new();
    let mut in_code = false;
    for line in page.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        if trimmed.starts_with("## ") {
            if in_table || !params.is_empty() {
                break;
            }
            let text = trimmed.trim_start_matches('#').trim();
            let lower = text.to_ascii_lowercase();
            if lower.contains("example") || lower.contains("response") {
                return None;
            }
            heading = lower.contains("parameters").then(|| text.to_owned());
            continue;
        }
        if heading.is_none() {
            continue;
        }
        if trimmed.starts_with("#|") {
            in_table = true;
            continue;
        }
        if trimmed.starts_with("|#") {
            break;
        }
        if let Some(p) = trimmed
            .strip_prefix("|| **")
            .filter(|_| in_table)
            .and_then(table_row)
        {
            params.push(p);
        } else if let (true, Some(last)) = (in_table, params.last_mut())
            && last.ty.as_deref() == Some("")
            && let Some(ty) = backquoted(trimmed)
        {
            last.ty = Some(ty);
        }
    }
    let heading = heading?;
    (!params.is_empty()).then_some((heading, params))
}

/// `id*** [`integer`](..) | ...` (after `|| **`): the param, or `None` for the header row.
fn table_row(row: &str) -> Option<FactParam> {
    let (name, after) = row.split_once("**")?;
    let name = name.trim();
    let header = ["name", "parameter", "field"].contains(&name.to_ascii_lowercase().as_str());
    if name.is_empty() || header || !crate::rules::is_wire_name(name) {
        return None;
    }
    let required = after.starts_with('*');
    let ty = backquoted(after).unwrap_or_default();
    Some(FactParam::new(name, &ty, required))
}

/// The first word between backquotes.
fn backquoted(text: &str) -> Option<String> {
    let (_, rest) = text.split_once('`')?;
    let (word, _) = rest.split_once('`')?;
    (!word.is_empty()).then(|| word.to_owned())
}

fn is_response_heading(heading: &str) -> bool {
    let h = heading.to_ascii_lowercase();
    !h.contains("error")
        && ["response", "result", "returned", "success", "answer"]
            .iter()
            .any(|w| h.contains(w))
}

fn is_handler_heading(heading: &str) -> bool {
    let h = heading.to_ascii_lowercase();
    h.contains("handler") || h.contains("receive")
}

/// The `curl` commands of a shell block (each up to the next `curl` at the start of a line).
fn curl_commands(text: &str) -> Vec<&str> {
    let mut starts: Vec<usize> = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with("curl ") {
            starts.push(offset + (line.len() - line.trim_start().len()));
        }
        offset += line.len();
    }
    starts
        .iter()
        .enumerate()
        .map(|(i, &start)| &text[start..starts.get(i + 1).copied().unwrap_or(text.len())])
        .collect()
}

/// The method a cURL command calls: the last path segment of its URL, without `.json`.
fn command_method(command: &str) -> Option<&str> {
    let at = command
        .find("https://")
        .or_else(|| command.find("http://"))?;
    let url = command[at..]
        .split(|c: char| c.is_whitespace() || c == '\'' || c == '"')
        .next()?;
    let path = url.split(['?', '#']).next()?;
    let last = path.trim_end_matches('/').rsplit('/').next()?;
    Some(last.strip_suffix(".json").unwrap_or(last))
}

/// The body of `-d` / `--data`: the shell word as the shell reads it, and the raw text between
/// its first and last single quote (for the docs' unescaped quotes inside).
struct DataArgument {
    word: String,
    raw: Option<String>,
}

fn data_argument(command: &str) -> Option<DataArgument> {
    let mut search = 0;
    while let Some(at) = command[search..].find("-d").map(|i| i + search) {
        search = at + 2;
        let before_ok = at == 0 || command[..at].ends_with(char::is_whitespace);
        let rest = &command[at..];
        let flag_len = ["--data-raw", "--data-binary", "--data", "-d"]
            .iter()
            .find(|f| rest.starts_with(*f))
            .map_or(2, |f| f.len());
        let after = &rest[flag_len..];
        if !before_ok || !after.starts_with(char::is_whitespace) {
            continue;
        }
        let arg = after.trim_start();
        let word = shell_word(arg);
        let raw = arg.strip_prefix('\'').and_then(|body| {
            // The body ends at the last quote before the line continuation or the URL.
            let end = body
                .find("https://")
                .or_else(|| body.find("http://"))
                .unwrap_or(body.len());
            body[..end].rfind('\'').map(|q| body[..q].to_owned())
        });
        return Some(DataArgument { word, raw });
    }
    // `--data` spelled out without `-d`.
    let at = command.find("--data")?;
    let arg = command[at..]
        .split_once(char::is_whitespace)?
        .1
        .trim_start();
    Some(DataArgument {
        word: shell_word(arg),
        raw: None,
    })
}

/// One shell word, with quotes removed and substitutions (`$(date)`, `$id`) kept as text
/// between [`SUBST_START`] and [`SUBST_END`], so the literal reader marks them as placeholders.
fn shell_word(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.char_indices().peekable();
    let substitution =
        |out: &mut String, chars: &mut std::iter::Peekable<std::str::CharIndices>| {
            out.push(SUBST_START);
            out.push('$');
            match chars.peek().map(|(_, c)| *c) {
                Some(open @ ('(' | '{')) => {
                    let close = if open == '(' { ')' } else { '}' };
                    let mut depth = 0;
                    for (_, c) in chars.by_ref() {
                        out.push(c);
                        if c == open {
                            depth += 1;
                        } else if c == close {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                    }
                }
                _ => {
                    while let Some((_, c)) = chars.peek() {
                        if !(c.is_ascii_alphanumeric() || *c == '_') {
                            break;
                        }
                        out.push(*c);
                        chars.next();
                    }
                }
            }
            out.push(SUBST_END);
        };
    while let Some((_, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => break,
            '\'' => {
                for (_, c) in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    out.push(c);
                }
            }
            '"' => {
                while let Some((_, c)) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some((_, e)) = chars.next()
                                && e != '\n'
                            {
                                if !matches!(e, '"' | '\\' | '$' | '`') {
                                    out.push('\\');
                                }
                                out.push(e);
                            }
                        }
                        '$' => substitution(&mut out, &mut chars),
                        c => out.push(c),
                    }
                }
            }
            '\\' => {
                if let Some((_, e)) = chars.next()
                    && e != '\n'
                {
                    out.push(e);
                }
            }
            '$' => substitution(&mut out, &mut chars),
            c => out.push(c),
        }
    }
    out
}

/// A call found in example code.
enum Call {
    /// The method name and its params.
    Params(String, Parsed),
    /// The method name and why its params could not be read.
    Unreadable(String, String),
    /// A call whose method name is not a string literal.
    Other,
}

/// The calls of `text`: `<fn>('<method>', <params>)` for the JavaScript and PHP helpers, and
/// `.make({method, params})` for the JavaScript SDK's actions.
fn calls(text: &str, dialect: Dialect) -> Vec<Call> {
    let helpers: &[&str] = match dialect {
        Dialect::Php => &["CRest::call(", "->call("],
        _ => &["callMethod(", "callListMethod(", "fetchListMethod("],
    };
    let mut out = Vec::new();
    let mut positions: Vec<(usize, bool)> = Vec::new();
    for helper in helpers {
        positions.extend(
            text.match_indices(helper)
                .map(|(at, h)| (at + h.len(), false)),
        );
    }
    if dialect == Dialect::Js {
        for (at, _) in text.match_indices(".make") {
            let before = &text[..at];
            if !(before.ends_with("call")
                || before.ends_with("callList")
                || before.ends_with("fetchList"))
            {
                continue;
            }
            // `.make<Type>(`: skip the type arguments.
            let rest = &text[at + 5..];
            let skip_generics = if rest.starts_with('<') {
                rest.find('(').unwrap_or(0)
            } else {
                0
            };
            if rest[skip_generics..].starts_with('(') {
                positions.push((at + 5 + skip_generics + 1, true));
            }
        }
    }
    positions.sort_unstable();
    for (start, is_make) in positions {
        out.push(if is_make {
            make_call(text, start)
        } else {
            helper_call(text, start, dialect)
        });
    }
    out
}

/// `fn('<method>', <params>, ...)` from just after the `(`.
fn helper_call(text: &str, start: usize, dialect: Dialect) -> Call {
    let name = match literal::parse_at(text, start, dialect) {
        Ok(Parsed {
            value: Json::String(name),
            placeholders,
            end,
        }) if placeholders.is_empty() => (name, end),
        _ => return Call::Other,
    };
    let (name, end) = name;
    let rest = text[end..].trim_start();
    let Some(args) = rest.strip_prefix(',') else {
        // No params: `BX24.callMethod('user.current')`.
        return Call::Params(name, empty_params(end));
    };
    let args_at = text.len() - args.len();
    let args_trimmed = args.trim_start();
    // A callback in the params position: the call has no params.
    if args_trimmed.starts_with("function") || args_trimmed.starts_with('(') {
        return Call::Params(name, empty_params(args_at));
    }
    match literal::parse_at(text, args_at, dialect) {
        Ok(parsed) => Call::Params(name, parsed),
        Err(e) => Call::Unreadable(name, e),
    }
}

/// `.make({ method: '<method>', params: {...}, ... })` from just after the `(`.
fn make_call(text: &str, start: usize) -> Call {
    let parsed = match literal::parse_at(text, start, Dialect::Js) {
        Ok(p) => p,
        Err(e) => return Call::Unreadable(String::new(), e),
    };
    let Some(Json::String(name)) = parsed.value.get("method").cloned() else {
        return Call::Other;
    };
    if parsed.placeholders.iter().any(|p| p == "/method") {
        return Call::Other;
    }
    let Some(params) = parsed.value.get("params").cloned() else {
        return Call::Params(name, empty_params(parsed.end));
    };
    let placeholders = parsed
        .placeholders
        .iter()
        .filter_map(|p| {
            if p == "/params" {
                Some(String::new())
            } else {
                p.strip_prefix("/params/").map(|rest| format!("/{rest}"))
            }
        })
        .collect();
    Call::Params(
        name,
        Parsed {
            value: params,
            placeholders,
            end: parsed.end,
        },
    )
}

fn empty_params(end: usize) -> Parsed {
    Parsed {
        value: Json::Object(Vec::new()),
        placeholders: Vec::new(),
        end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deprecation_notes_are_found_in_any_case_with_their_replacement() {
        let page = "# X\n{% note info \"\" %}\nMCP.\n{% endnote %}\n{% note warning \"Deprecated method\" %}\n\nKept for existing integrations. Use [im.v2.File.upload](../file-upload.md) instead, see [the guide](../x.md).\n\n{% endnote %}\n";
        assert_eq!(
            deprecation_note(page),
            Some((
                "Deprecated method".to_owned(),
                Some("im.v2.File.upload".to_owned())
            ))
        );
        let untitled = "{% note warning %}\n\nThe development of this method has been halted.\n\n{% endnote %}";
        assert_eq!(
            deprecation_note(untitled),
            Some((
                "The development of this method has been halted".to_owned(),
                None
            ))
        );
        assert_eq!(
            deprecation_note("{% note tip \"\" %}\nConnect the MCP server.\n{% endnote %}"),
            None
        );
    }

    #[test]
    fn params_under_an_unusual_heading_are_read() {
        let page = "# Get rpa.stage.get\n\n## Stage Parameters\n\n#|\n|| **Name**\n`type` | **Description** ||\n|| **id*** \n[`integer`](../data-types.md) | Identifier ||\n|| **select**\n[`array`](../data-types.md) | Fields ||\n|#\n\n## Response Handling\n";
        let (heading, params) = params_table(page).unwrap();
        assert_eq!(heading, "Stage Parameters");
        let got: Vec<(&str, Option<&str>, bool)> = params
            .iter()
            .map(|p| (p.name.as_str(), p.ty.as_deref(), p.required))
            .collect();
        assert_eq!(
            got,
            [
                ("id", Some("integer"), true),
                ("select", Some("array"), false)
            ]
        );
        assert_eq!(
            params_table("## Code Examples\n#|\n|| **id** | x ||\n|#\n"),
            None
        );
    }

    #[test]
    fn shell_words_join_quotes_and_mark_substitutions() {
        let word = shell_word(r#"'{"a":"'"$(date -I)"'","id":'"$id"'}' \"#);
        assert_eq!(
            word,
            format!(
                "{{\"a\":\"{SUBST_START}$(date -I){SUBST_END}\",\"id\":{SUBST_START}$id{SUBST_END}}}"
            )
        );
    }

    #[test]
    fn curl_commands_give_their_body_and_method() {
        let block = "curl -X POST \\\n  -H \"Content-Type: application/json\" \\\n  -d '{\"id\":1,\"auth\":\"**put_access_token_here**\"}' \\\n  https://**put_your_bitrix24_address**/rest/crm.deal.get.json\n";
        let commands = curl_commands(block);
        assert_eq!(commands.len(), 1);
        assert_eq!(command_method(commands[0]), Some("crm.deal.get"));
        let data = data_argument(commands[0]).unwrap();
        assert_eq!(data.word, r#"{"id":1,"auth":"**put_access_token_here**"}"#);
    }

    #[test]
    fn an_unescaped_quote_in_a_body_falls_back_to_the_raw_text() {
        let command =
            "curl -d '{\"name\": \"Children's Toys\"}' \\\n https://x/rest/catalog.section.add";
        let data = data_argument(command).unwrap();
        assert!(literal::parse_document(&data.word, Dialect::Json).is_err());
        assert_eq!(data.raw.as_deref(), Some("{\"name\": \"Children's Toys\"}"));
    }

    #[test]
    fn calls_of_every_helper_are_found() {
        let js = "BX24.callMethod('user.get', {ID: 1}, cb);\n$b24.actions.v2.call.make<T>({ method: 'crm.deal.get', params: { id: x }, requestId: y });\nBX24.callMethod('user.current', function(r) {});";
        let names: Vec<(String, String, Vec<String>)> = calls(js, Dialect::Js)
            .into_iter()
            .filter_map(|c| match c {
                Call::Params(n, p) => Some((n, p.value.to_json(), p.placeholders)),
                _ => None,
            })
            .collect();
        assert_eq!(
            names,
            [
                ("user.get".to_owned(), r#"{"ID":1}"#.to_owned(), vec![]),
                (
                    "crm.deal.get".to_owned(),
                    r#"{"id":"x"}"#.to_owned(),
                    vec!["/id".to_owned()]
                ),
                ("user.current".to_owned(), "{}".to_owned(), vec![]),
            ]
        );
        let php = "$r = CRest::call('crm.deal.get', ['id' => 2]);\n$b24Service->core->call('user.get', $params);";
        let found = calls(php, Dialect::Php);
        assert!(
            matches!(&found[0], Call::Params(n, p) if n == "crm.deal.get" && p.value.to_json() == r#"{"id":2}"#)
        );
        assert!(matches!(&found[1], Call::Params(_, p) if p.placeholders == [String::new()]));
    }
}
