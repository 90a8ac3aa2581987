//! Reading schema files: TOML syntax, the set of keys, value kinds and required keys.
//!
//! The TOML is read into a generic table and walked by hand rather than through
//! `#[derive(Deserialize)]`, because serde stops at the first error and can only say "in
//! `method[3]`"; walking by hand reports every problem in a file and names items by what the
//! author wrote (`method imbot.message.add: param ATTACH`). Meaning (names, types, duplicates) is
//! checked afterwards, in `validate`.

use toml::{Table, Value};

use crate::diag::Diagnostics;
use crate::names::edit_distance;

/// A schema file as written, before validation.
pub(crate) struct RawFile {
    pub path: String,
    /// Structural problems with the file's own keys, as `(item, message)`.
    pub notes: Vec<(String, String)>,
    pub scope: Option<String>,
    pub description: Option<String>,
    pub methods: Vec<RawMethod>,
    pub types: Vec<RawType>,
    pub events: Vec<RawEvent>,
}

pub(crate) struct RawMethod {
    /// How diagnostics name it: `method imbot.message.add`, or `method #3` without a name.
    pub label: String,
    /// Structural problems in the method and its params, as `(item, message)`.
    pub notes: Vec<(String, String)>,
    pub name: Option<String>,
    pub rust: Option<String>,
    pub description: Option<String>,
    pub doc: Option<String>,
    pub params: Vec<RawField>,
    pub result: Option<String>,
    pub paging: Option<String>,
    pub items: Option<String>,
    pub id_field: Option<String>,
    pub idempotent: bool,
    pub batchable: bool,
    pub deprecated: RawDeprecated,
    pub rest_v3: bool,
    pub positional: bool,
    pub open: bool,
    pub note: Option<String>,
    pub untyped: Option<String>,
}

pub(crate) struct RawEvent {
    /// How diagnostics name it: `event ONIMBOTMESSAGEADD`, or `event #3` without a name.
    pub label: String,
    /// Structural problems in the event, as `(item, message)`.
    pub notes: Vec<(String, String)>,
    pub name: Option<String>,
    pub rust: Option<String>,
    pub description: Option<String>,
    pub doc: Option<String>,
    pub data: Option<String>,
    pub deprecated: RawDeprecated,
    pub note: Option<String>,
}

pub(crate) enum RawDeprecated {
    No,
    Yes,
    Replacement(String),
}

pub(crate) struct RawField {
    pub label: String,
    pub name: Option<String>,
    pub rust: Option<String>,
    pub ty: Option<String>,
    pub required: bool,
    pub doc: Option<String>,
    pub note: Option<String>,
    pub untyped: Option<String>,
}

pub(crate) struct RawType {
    pub label: String,
    /// Structural problems in the type, its fields and values, as `(item, message)`.
    pub notes: Vec<(String, String)>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub fields: Option<Vec<RawField>>,
    pub open: Option<bool>,
    pub values: Option<Vec<RawValue>>,
    pub doc_type: Option<String>,
}

pub(crate) struct RawValue {
    pub label: String,
    pub value: Option<String>,
    pub name: Option<String>,
    pub doc: Option<String>,
}

const FILE_KEYS: &[&str] = &["scope", "description", "method", "type", "event"];
const EVENT_KEYS: &[&str] = &[
    "name",
    "rust",
    "description",
    "doc",
    "data",
    "deprecated",
    "note",
];
const METHOD_KEYS: &[&str] = &[
    "name",
    "rust",
    "description",
    "doc",
    "params",
    "result",
    "paging",
    "items",
    "id_field",
    "idempotent",
    "batchable",
    "deprecated",
    "rest_v3",
    "positional",
    "open",
    "note",
    "untyped",
];
const FIELD_KEYS: &[&str] = &["name", "rust", "type", "required", "doc", "note", "untyped"];
const TYPE_KEYS: &[&str] = &[
    "name",
    "description",
    "fields",
    "open",
    "values",
    "doc_type",
];
const VALUE_KEYS: &[&str] = &["value", "name", "doc"];

/// Parses one file; `None` when its TOML does not parse (the error is reported with a position).
pub(crate) fn parse_file(path: &str, text: &str, diags: &mut Diagnostics) -> Option<RawFile> {
    let table = match text.parse::<Table>() {
        Ok(table) => table,
        Err(e) => {
            let position = e
                .span()
                .map_or((1, 1), |span| line_column(text, span.start));
            diags.push_at(
                path,
                position,
                format!("TOML syntax error: {}", e.message().trim_end()),
            );
            return None;
        }
    };
    let mut r = Reader { notes: Vec::new() };
    r.check_keys("", &table, FILE_KEYS);
    let scope = r.string("", &table, "scope", true);
    let description = r.string("", &table, "description", false);
    let method_tables = r.tables("", &table, "method");
    let type_tables = r.tables("", &table, "type");
    let event_tables = r.tables("", &table, "event");
    let notes = std::mem::take(&mut r.notes);
    let methods = method_tables
        .into_iter()
        .enumerate()
        .map(|(i, t)| r.method(i, t))
        .collect();
    let types = type_tables
        .into_iter()
        .enumerate()
        .map(|(i, t)| r.named_type(i, t))
        .collect();
    let events = event_tables
        .into_iter()
        .enumerate()
        .map(|(i, t)| r.event(i, t))
        .collect();
    Some(RawFile {
        path: path.to_owned(),
        notes,
        scope,
        description,
        methods,
        types,
        events,
    })
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Walks one file's tables, collecting structural problems as `(item, message)`; each method and
/// type takes the notes gathered while walking it, so they can be reported in file order.
struct Reader {
    notes: Vec<(String, String)>,
}

/// `"{kind} {name}"` when the table has a string `name` (or `value` for enum values), else
/// `"{kind} #{index}"`, counted from 1.
fn label(kind: &str, index: usize, table: &Table, key: &str) -> String {
    match table.get(key) {
        Some(Value::String(name)) if !name.trim().is_empty() => format!("{kind} {name}"),
        _ => format!("{kind} #{}", index + 1),
    }
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}: {child}")
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a datetime",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

impl Reader {
    fn error(&mut self, item: &str, message: impl Into<String>) {
        self.notes.push((item.to_owned(), message.into()));
    }

    fn check_keys(&mut self, item: &str, table: &Table, known: &[&str]) {
        for key in table.keys().filter(|k| !known.contains(&k.as_str())) {
            let hint = match known.iter().min_by_key(|k| edit_distance(key, k)) {
                Some(near) if edit_distance(key, near) <= 2 => format!("did you mean \"{near}\"?"),
                _ => format!("expected one of: {}", known.join(", ")),
            };
            self.error(item, format!("unknown key {key:?} ({hint})"));
        }
    }

    fn missing(&mut self, item: &str, key: &str) {
        self.error(item, format!("missing required key {key:?}"));
    }

    fn wrong(&mut self, item: &str, key: &str, expected: &str, found: &Value) {
        self.error(
            item,
            format!("{key:?} must be {expected}, not {}", kind_of(found)),
        );
    }

    fn string(&mut self, item: &str, table: &Table, key: &str, required: bool) -> Option<String> {
        match table.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.wrong(item, key, "a string", other);
                None
            }
            None => {
                if required {
                    self.missing(item, key);
                }
                None
            }
        }
    }

    fn boolean(&mut self, item: &str, table: &Table, key: &str) -> Option<bool> {
        match table.get(key) {
            Some(Value::Boolean(b)) => Some(*b),
            Some(other) => {
                self.wrong(item, key, "true or false", other);
                None
            }
            None => None,
        }
    }

    /// An array of tables (`[[method]]` or an inline `params = [{..}, {..}]`); elements that are
    /// not tables are reported and skipped.
    fn tables<'t>(&mut self, item: &str, table: &'t Table, key: &str) -> Vec<&'t Table> {
        match table.get(key) {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                let mut tables = Vec::with_capacity(items.len());
                for (i, value) in items.iter().enumerate() {
                    match value {
                        Value::Table(t) => tables.push(t),
                        other => self.error(
                            item,
                            format!(
                                "{key:?} #{}: must be a table, not {}",
                                i + 1,
                                kind_of(other)
                            ),
                        ),
                    }
                }
                tables
            }
            Some(other) => {
                self.wrong(item, key, "an array of tables", other);
                Vec::new()
            }
        }
    }

    /// `deprecated = true` or `deprecated = "<replacement>"`.
    fn deprecated(&mut self, item: &str, t: &Table, kind: &str) -> RawDeprecated {
        match t.get("deprecated") {
            None | Some(Value::Boolean(false)) => RawDeprecated::No,
            Some(Value::Boolean(true)) => RawDeprecated::Yes,
            Some(Value::String(s)) => RawDeprecated::Replacement(s.clone()),
            Some(other) => {
                let expected = format!("true or the name of the replacement {kind}");
                self.wrong(item, "deprecated", &expected, other);
                RawDeprecated::No
            }
        }
    }

    fn method(&mut self, index: usize, t: &Table) -> RawMethod {
        let item = label("method", index, t, "name");
        self.check_keys(&item, t, METHOD_KEYS);
        let deprecated = self.deprecated(&item, t, "method");
        let params = self
            .tables(&item, t, "params")
            .into_iter()
            .enumerate()
            .map(|(i, p)| self.field(&item, "param", i, p))
            .collect();
        RawMethod {
            name: self.string(&item, t, "name", true),
            rust: self.string(&item, t, "rust", false),
            description: self.string(&item, t, "description", true),
            doc: self.string(&item, t, "doc", true),
            result: self.string(&item, t, "result", true),
            paging: self.string(&item, t, "paging", false),
            items: self.string(&item, t, "items", false),
            id_field: self.string(&item, t, "id_field", false),
            idempotent: self.boolean(&item, t, "idempotent").unwrap_or(false),
            batchable: self.boolean(&item, t, "batchable").unwrap_or(true),
            rest_v3: self.boolean(&item, t, "rest_v3").unwrap_or(false),
            positional: self.boolean(&item, t, "positional").unwrap_or(false),
            open: self.boolean(&item, t, "open").unwrap_or(false),
            note: self.string(&item, t, "note", false),
            untyped: self.string(&item, t, "untyped", false),
            label: item,
            params,
            deprecated,
            notes: std::mem::take(&mut self.notes),
        }
    }

    fn event(&mut self, index: usize, t: &Table) -> RawEvent {
        let item = label("event", index, t, "name");
        self.check_keys(&item, t, EVENT_KEYS);
        let deprecated = self.deprecated(&item, t, "event");
        RawEvent {
            name: self.string(&item, t, "name", true),
            rust: self.string(&item, t, "rust", false),
            description: self.string(&item, t, "description", true),
            doc: self.string(&item, t, "doc", true),
            data: self.string(&item, t, "data", true),
            note: self.string(&item, t, "note", false),
            label: item,
            deprecated,
            notes: std::mem::take(&mut self.notes),
        }
    }

    fn field(&mut self, parent: &str, kind: &str, index: usize, t: &Table) -> RawField {
        let item = join(parent, &label(kind, index, t, "name"));
        self.check_keys(&item, t, FIELD_KEYS);
        RawField {
            name: self.string(&item, t, "name", true),
            rust: self.string(&item, t, "rust", false),
            ty: self.string(&item, t, "type", true),
            required: self.boolean(&item, t, "required").unwrap_or(false),
            doc: self.string(&item, t, "doc", false),
            note: self.string(&item, t, "note", false),
            untyped: self.string(&item, t, "untyped", false),
            label: item,
        }
    }

    fn named_type(&mut self, index: usize, t: &Table) -> RawType {
        let item = label("type", index, t, "name");
        self.check_keys(&item, t, TYPE_KEYS);
        let fields = t.contains_key("fields").then(|| {
            let fields = self.tables(&item, t, "fields");
            fields
                .into_iter()
                .enumerate()
                .map(|(i, f)| self.field(&item, "field", i, f))
                .collect()
        });
        let values = t.contains_key("values").then(|| {
            let values = self.tables(&item, t, "values");
            values
                .into_iter()
                .enumerate()
                .map(|(i, v)| self.value(&item, i, v))
                .collect()
        });
        RawType {
            name: self.string(&item, t, "name", true),
            description: self.string(&item, t, "description", true),
            open: self.boolean(&item, t, "open"),
            doc_type: self.string(&item, t, "doc_type", false),
            label: item,
            fields,
            values,
            notes: std::mem::take(&mut self.notes),
        }
    }

    fn value(&mut self, parent: &str, index: usize, t: &Table) -> RawValue {
        let item = join(parent, &label("value", index, t, "value"));
        self.check_keys(&item, t, VALUE_KEYS);
        RawValue {
            value: self.string(&item, t, "value", true),
            name: self.string(&item, t, "name", true),
            doc: self.string(&item, t, "doc", false),
            label: item,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_from_one() {
        let text = "a = 1\nbé = [\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 10), (2, 4));
        assert_eq!(line_column(text, 1000), (3, 1));
    }
}
