//! The validated schema: what the emitter reads.
//!
//! Values of these types only come out of [`crate::load_dir`] / [`crate::load_sources`], after
//! every rule in `schema/README.md` was checked, so the emitter can rely on them: names are valid
//! Rust identifiers, every named type resolves, nothing is duplicated. The types are
//! `#[non_exhaustive]` so they can be read but not built outside this crate.

use std::collections::BTreeMap;
use std::fmt;

/// A whole schema directory: `common.toml` first, then the scope files by file name.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Schema {
    /// The files, `common.toml` (when present) first.
    pub files: Vec<ScopeFile>,
}

impl Schema {
    /// Number of methods over all files.
    pub fn method_count(&self) -> usize {
        self.files.iter().map(|f| f.methods.len()).sum()
    }

    /// Number of named types over all files.
    pub fn type_count(&self) -> usize {
        self.files.iter().map(|f| f.types.len()).sum()
    }

    /// Number of inbound events over all files.
    pub fn event_count(&self) -> usize {
        self.files.iter().map(|f| f.events.len()).sum()
    }

    /// The scopes, in file order (`common` included when present).
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(|f| f.scope.as_str())
    }

    /// The fields of the struct type of a name (`None` for an enum or an unknown name).
    pub(crate) fn fields_of(&self, name: &str) -> Option<&[Field]> {
        self.files
            .iter()
            .flat_map(|f| &f.types)
            .find(|t| t.name == name)
            .and_then(|t| match &t.kind {
                TypeKind::Struct { fields, .. } => Some(fields.as_slice()),
                TypeKind::Enum { .. } => None,
            })
    }

    /// The fields of every struct type, by type name.
    pub(crate) fn struct_fields(&self) -> BTreeMap<&str, &[Field]> {
        self.files
            .iter()
            .flat_map(|f| &f.types)
            .filter_map(|t| match &t.kind {
                TypeKind::Struct { fields, .. } => Some((t.name.as_str(), fields.as_slice())),
                TypeKind::Enum { .. } => None,
            })
            .collect()
    }
}

/// One schema file: one Bitrix24 scope, one generated module.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ScopeFile {
    /// The file as given to the loader (`schema/imbot.toml`).
    pub path: String,
    /// The scope: cargo feature name and `Method::SCOPE` (`imbot`, `sign.b2e`).
    pub scope: String,
    /// The generated module's name: the scope with `.` and `-` turned into `_`.
    pub module: String,
    /// One line for the module's doc comment.
    pub description: Option<String>,
    /// The methods, in schema order.
    pub methods: Vec<Method>,
    /// The named types, in schema order.
    pub types: Vec<TypeDef>,
    /// The inbound events, in schema order.
    pub events: Vec<Event>,
}

/// One REST method.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Method {
    /// Wire name: `imbot.message.add`.
    pub name: String,
    /// Client method name: `imbot_message_add`.
    pub rust: String,
    /// Request type name: `ImbotMessageAdd`.
    pub type_name: String,
    /// One line in our own words.
    pub description: String,
    /// Link to the official page.
    pub doc_url: String,
    /// Parameters, in schema order.
    pub params: Vec<Field>,
    /// The type of the envelope's `result`.
    pub result: Ty,
    /// How the method pages.
    pub paging: Paging,
    /// Where a paged method's rows are; `None` for methods that don't page.
    pub list: Option<ListShape>,
    /// Safe to re-send after a network failure.
    pub idempotent: bool,
    /// May run inside `batch`.
    pub batchable: bool,
    /// Set when the docs mark the method outdated.
    pub deprecated: Option<Deprecation>,
    /// A REST 3.0 method: called under `/rest/api/`, JSON only.
    pub rest_v3: bool,
    /// The method reads its arguments by position: params are sent under `"0"`, `"1"`, ... in
    /// schema order.
    pub positional: bool,
    /// The docs allow params beyond the declared ones (`UF_*` user fields): the request keeps
    /// them in `extra`, set with `.param(key, value)`.
    pub open: bool,
    /// Why the schema deliberately differs from the docs for this method, if it does.
    pub note: Option<String>,
    /// Why `result` is (or holds) `any`: what the docs lack to type it.
    pub untyped: Option<String>,
}

/// One inbound event: what a portal POSTs to a handler bound with `event.bind`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Event {
    /// The name as documented (`ONIMBOTMESSAGEADD`, `onCrmDealAdd`); portals send it upper-cased,
    /// and it is matched without regard to case.
    pub name: String,
    /// PascalCase name of its variant of the typed event enum: `OnImbotMessageAdd`.
    pub rust: String,
    /// One line in our own words.
    pub description: String,
    /// Link to the official page.
    pub doc_url: String,
    /// The type of the event's `data`.
    pub data: Ty,
    /// Set when the docs mark the event outdated; `replacement_rust` names the replacement's
    /// `(variant, data type)` when the schema has it.
    pub deprecated: Option<Deprecation>,
    /// Why the schema deliberately differs from the docs for this event, if it does.
    pub note: Option<String>,
}

impl Event {
    /// The name as portals send it: upper case.
    pub fn wire_name(&self) -> String {
        self.name.to_ascii_uppercase()
    }
}

/// Why a method is deprecated, and what to use instead.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Deprecation {
    /// Wire name of the replacement, when the docs name one.
    pub replacement: Option<String>,
    /// The replacement's `(client method, request type)` names, when it is in the schema too.
    pub replacement_rust: Option<(String, String)>,
}

/// A method parameter or a struct field.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Field {
    /// Wire name: `DIALOG_ID`.
    pub name: String,
    /// Rust name: `dialog_id`.
    pub rust: String,
    /// Its type.
    pub ty: Ty,
    /// Required params are constructor arguments; required fields are not `Option`.
    pub required: bool,
    /// One line, if the schema has one.
    pub doc: Option<String>,
    /// Why the schema deliberately differs from the docs for this param, if it does.
    pub note: Option<String>,
    /// Why the type is (or holds) `any`: what the docs lack to type it.
    pub untyped: Option<String>,
}

/// A named type: a struct or a string enum.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TypeDef {
    /// PascalCase name, unique across the schema.
    pub name: String,
    /// One line.
    pub description: String,
    /// Struct or enum.
    pub kind: TypeKind,
    /// The documented data type this type stands for (`crm_multifield`), for `import`.
    pub doc_type: Option<String>,
}

/// What a named type is.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TypeKind {
    /// A struct with named fields.
    Struct {
        /// Fields, in schema order.
        fields: Vec<Field>,
        /// Keeps undeclared keys in `extra`.
        open: bool,
    },
    /// A string enum with an `Unknown(String)` fallback.
    Enum {
        /// Known values, in schema order.
        values: Vec<EnumValue>,
    },
}

/// One known value of a string enum.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EnumValue {
    /// Wire spelling: `B`.
    pub value: String,
    /// Variant name: `Bot`.
    pub name: String,
    /// One line, if the schema has one.
    pub doc: Option<String>,
}

/// Where the rows of a paged method's result are, and how they are walked.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ListShape {
    /// The key of the row list inside `result` (`items`); `None` when `result` is the list.
    pub items_key: Option<String>,
    /// The type of one row.
    pub item: Ty,
    /// The id field keyset paging orders and filters by (`ID`, `id`).
    pub id_field: String,
}

/// How a list method pages (mirrors the runtime's `Paging`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// Not a list.
    None,
    /// `start`/`next`/`total` offset paging.
    Start,
    /// Offset paging that also supports the `ID`-keyset walk.
    Keyset,
}

/// A resolved type expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    /// `string`
    String,
    /// `int`
    Int,
    /// `int_str`
    IntStr,
    /// `float`
    Float,
    /// `bool`
    Bool,
    /// `yn`
    YesNo,
    /// `date`
    Date,
    /// `datetime`
    DateTime,
    /// `file`: `["name", "<base64>"]`
    File,
    /// `file_data`: `{"fileData": ["name", "<base64>"]}`
    FileData,
    /// `file_name_content`: `{"NAME": "name", "CONTENT": "<base64>"}`
    FileNameContent,
    /// `base64`: the content alone as a base64 string (the name, if any, goes in another param)
    Base64,
    /// `filter`: a list filter, conditions keyed by operator-prefixed field names (an object
    /// for classic methods, a list of conditions for REST 3.0 ones)
    Filter,
    /// `dialog_id`
    DialogId,
    /// `secret`
    Secret,
    /// `any`
    Any,
    /// `null`: a result that is always `null` (`()` in Rust)
    Null,
    /// `option<T>`: a result that may be `null`
    Option(Box<Ty>),
    /// `list<T>`
    List(Box<Ty>),
    /// `map<T>`
    Map(Box<Ty>),
    /// A `[[type]]`, and the module that declares it.
    Named {
        /// The type's name.
        name: String,
        /// The declaring file's module (`common` or the scope's own).
        module: String,
    },
}

/// Scalar type names, as written in the schema.
pub(crate) const SCALARS: &[(&str, Ty)] = &[
    ("string", Ty::String),
    ("int", Ty::Int),
    ("int_str", Ty::IntStr),
    ("float", Ty::Float),
    ("bool", Ty::Bool),
    ("yn", Ty::YesNo),
    ("date", Ty::Date),
    ("datetime", Ty::DateTime),
    ("file", Ty::File),
    ("file_data", Ty::FileData),
    ("file_name_content", Ty::FileNameContent),
    ("base64", Ty::Base64),
    ("filter", Ty::Filter),
    ("dialog_id", Ty::DialogId),
    ("secret", Ty::Secret),
    ("any", Ty::Any),
    ("null", Ty::Null),
];

/// Deepest `list<map<...>>` nesting accepted: real schemas need two or three levels, and a bound
/// keeps the recursive parser and emitter safe on hostile input.
const MAX_DEPTH: usize = 8;

impl Ty {
    /// Parses a type expression. Named types come back with an empty `module`, to be resolved by
    /// the validator. The error is the whole message (`malformed type "list<": ...`).
    pub(crate) fn parse(text: &str) -> Result<Ty, String> {
        let malformed = |why: &str| format!("malformed type {text:?}: {why}");
        let mut rest = text.trim_start();
        let ty = parse_ty(&mut rest, 0).map_err(|why| malformed(&why))?;
        match rest.trim_start() {
            "" => Ok(ty),
            extra => Err(malformed(&format!("unexpected {extra:?} after the type"))),
        }
    }

    /// `null` or `option` where they can't be: anywhere but the top of a result (`top`), where
    /// `option<T>` may wrap anything but another `null`/`option`.
    pub(crate) fn misplaced_result_only(&self, top: bool) -> Option<&'static str> {
        match self {
            Ty::Null if !top => Some("null"),
            Ty::Option(_) if !top => Some("option"),
            Ty::Option(inner) | Ty::List(inner) | Ty::Map(inner) => {
                inner.misplaced_result_only(false)
            }
            _ => None,
        }
    }

    /// Whether the type is `any` or a list or map of it (at any depth): JSON the SDK does not
    /// type.
    pub fn is_untyped(&self) -> bool {
        match self {
            Ty::Any => true,
            Ty::Option(inner) | Ty::List(inner) | Ty::Map(inner) => inner.is_untyped(),
            _ => false,
        }
    }

    /// Named types mentioned anywhere in the expression.
    pub(crate) fn named_mut(&mut self, f: &mut impl FnMut(&mut String, &mut String)) {
        match self {
            Ty::List(inner) | Ty::Map(inner) | Ty::Option(inner) => inner.named_mut(f),
            Ty::Named { name, module } => f(name, module),
            _ => {}
        }
    }
}

fn parse_ty(rest: &mut &str, depth: usize) -> Result<Ty, String> {
    let word_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let (word, after) = rest.split_at(word_len);
    if word.is_empty() {
        return Err(match rest.chars().next() {
            None => "expected a type".to_owned(),
            Some(c) => format!("expected a type name, found {c:?}"),
        });
    }
    *rest = after.trim_start();
    let has_argument = rest.starts_with('<');
    match word {
        "list" | "map" | "option" => {
            if !has_argument {
                return Err(format!("expected \"{word}<T>\""));
            }
            if depth >= MAX_DEPTH {
                return Err(format!("nested deeper than {MAX_DEPTH} levels"));
            }
            // `has_argument` saw the one-byte '<'.
            *rest = rest[1..].trim_start();
            if rest.is_empty() {
                return Err(format!("expected a type after \"{word}<\""));
            }
            let inner = Box::new(parse_ty(rest, depth + 1)?);
            *rest = rest.trim_start();
            match rest.strip_prefix('>') {
                Some(after) => *rest = after,
                None => return Err(format!("missing \">\" to close \"{word}<\"")),
            }
            Ok(match word {
                "list" => Ty::List(inner),
                "map" => Ty::Map(inner),
                _ => Ty::Option(inner),
            })
        }
        _ if has_argument => Err(format!(
            "only list<T>, map<T> and option<T> take a type argument, not {word:?}"
        )),
        _ => match SCALARS.iter().find(|(name, _)| *name == word) {
            Some((_, ty)) => Ok(ty.clone()),
            None => Ok(Ty::Named {
                name: word.to_owned(),
                module: String::new(),
            }),
        },
    }
}

/// Writes the expression back in schema syntax.
impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::List(inner) => write!(f, "list<{inner}>"),
            Ty::Map(inner) => write!(f, "map<{inner}>"),
            Ty::Option(inner) => write!(f, "option<{inner}>"),
            Ty::Named { name, .. } => f.write_str(name),
            scalar => {
                let name = SCALARS
                    .iter()
                    .find(|(_, ty)| ty == scalar)
                    .map_or("?", |(name, _)| name);
                f.write_str(name)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> Ty {
        Ty::Named {
            name: name.to_owned(),
            module: String::new(),
        }
    }

    #[test]
    fn parses_nested_expressions() {
        assert_eq!(Ty::parse("int"), Ok(Ty::Int));
        assert_eq!(
            Ty::parse(" list< map<Bot> > "),
            Ok(Ty::List(Box::new(Ty::Map(Box::new(named("Bot"))))))
        );
        assert_eq!(
            Ty::parse("list<list<int_str>>").map(|t| t.to_string()),
            Ok("list<list<int_str>>".to_owned())
        );
    }

    #[test]
    fn malformed_expressions_say_why() {
        let cases = [
            (
                "list<",
                "malformed type \"list<\": expected a type after \"list<\"",
            ),
            (
                "list<int",
                "malformed type \"list<int\": missing \">\" to close \"list<\"",
            ),
            ("list", "malformed type \"list\": expected \"list<T>\""),
            ("", "malformed type \"\": expected a type"),
            (
                "list<int>>",
                "malformed type \"list<int>>\": unexpected \">\" after the type",
            ),
            (
                "Foo<int>",
                "malformed type \"Foo<int>\": only list<T>, map<T> and option<T> take a type argument, not \"Foo\"",
            ),
            (
                "list<>",
                "malformed type \"list<>\": expected a type name, found '>'",
            ),
            (
                "a b",
                "malformed type \"a b\": unexpected \"b\" after the type",
            ),
        ];
        for (text, message) in cases {
            assert_eq!(Ty::parse(text), Err(message.to_owned()), "{text}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "list<".repeat(10_000) + "int" + &">".repeat(10_000);
        assert!(
            Ty::parse(&deep)
                .unwrap_err()
                .contains("nested deeper than 8 levels")
        );
    }
}
