//! The meaning of a schema: names, type references, duplicates, the rules of `schema/README.md`.
//!
//! Validation turns the raw files into the IR in one pass over each item, reporting every problem
//! it finds; the IR is only handed out when nothing was reported, so the emitter never sees an
//! invalid name or an unresolved type.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::diag::Diagnostics;
use crate::ir::{
    Deprecation, EnumValue, Event, Field, ListShape, Method, Paging, SCALARS, Schema, ScopeFile,
    Ty, TypeDef, TypeKind,
};
use crate::load::{RawDeprecated, RawEvent, RawField, RawFile, RawMethod, RawType};
use crate::names::{check_pascal, check_snake, event_rust_name, pascal_case, snake_case};

/// Names the runtime's `Client` has for itself; a generated client method must not take them.
const RESERVED_METHOD_NAMES: &[&str] = &[
    "new",
    "builder",
    "webhook",
    "from_env",
    "from_vars",
    "portal",
    "request",
    "send",
    "call",
    "call_with",
    "call_raw",
    "batch",
    "batch2",
    "batch3",
    "rate_limiter",
    "adopt_tokens",
    "list_json",
];
/// Module names the `bitrix24` crate uses at its root (`sdk/src/lib.rs`): a scope module of the
/// same name would be shadowed by them in the crate's `pub use generated::*` and silently become
/// unreachable.
const RESERVED_MODULE_NAMES: &[&str] = &[
    "auth",
    "app",
    "batch",
    "bot",
    "call_path",
    "client",
    "codec",
    "error",
    "event_types",
    "events",
    "generated",
    "limiter",
    "method",
    "paging",
    "redis_store",
    "request",
    "retry",
    "secret",
    "types",
    "wire",
];
/// Param names whose setters would clash with `new` on the request or with a method of
/// `Request<M>`, which forwards every setter.
const RESERVED_PARAM_NAMES: &[&str] = &[
    "new",
    "map",
    "params",
    "into_params",
    "send",
    "stream",
    "stream_with",
    "pages",
    "pages_with",
    "into_future",
];

/// What an open method's request adds to [`RESERVED_PARAM_NAMES`]: its `extra` map and the
/// `param` setter that fills it.
const RESERVED_OPEN_PARAM_NAMES: &[&str] = &["extra", "param"];

/// Where a named type is declared.
struct Decl {
    path: String,
    module: String,
    /// Position in its file's `[[type]]` array: tells the declaration from a duplicate.
    index: usize,
}

/// Where an event's names are taken.
struct EventDecl {
    path: String,
    /// The name as first declared (names are matched without regard to case).
    name: String,
    rust: String,
    /// The data type's name, when `data` is a named type.
    data_type: Option<String>,
}

/// Where a method's names are taken.
struct MethodDecl {
    path: String,
    rust: String,
    type_name: String,
}

pub(crate) fn validate(raw_files: Vec<RawFile>, diags: &mut Diagnostics) -> Schema {
    let mut v = Validator {
        diags,
        types: declare_types(&raw_files),
        scopes: BTreeMap::new(),
        methods: BTreeMap::new(),
        rust_names: BTreeMap::new(),
        type_names: BTreeMap::new(),
        events: BTreeMap::new(),
        event_rust: BTreeMap::new(),
    };
    let mut files: Vec<ScopeFile> = raw_files.into_iter().map(|raw| v.file(raw)).collect();

    // An outdated event's note names the replacement's variant when the schema has it.
    for event in files.iter_mut().flat_map(|f| &mut f.events) {
        if let Some(d) = &mut event.deprecated {
            let replacement = d
                .replacement
                .as_ref()
                .and_then(|r| v.events.get(&r.to_ascii_uppercase()));
            d.replacement_rust = replacement.map(|r| {
                let data = r.data_type.clone().unwrap_or_default();
                (r.rust.clone(), data)
            });
        }
    }

    // Deprecation notes name the replacement's Rust names when the schema has it.
    for method in files.iter_mut().flat_map(|f| &mut f.methods) {
        if let Some(d) = &mut method.deprecated {
            // A replacement named by its wire name is the classic method when both exist.
            let replacement = d.replacement.as_ref().and_then(|r| {
                v.methods
                    .get(&(r.clone(), false))
                    .or_else(|| v.methods.get(&(r.clone(), true)))
            });
            d.replacement_rust = replacement.map(|r| (r.rust.clone(), r.type_name.clone()));
        }
    }
    resolve_items(&mut files, v.diags);
    // common.toml first: every other module may refer to it.
    files.sort_by_key(|f| f.module != "common");
    Schema { files }
}

/// Resolves `items = "key"` of paged methods to the row type: the result struct's field `key`
/// must be a `list<T>`.
fn resolve_items(files: &mut [ScopeFile], diags: &mut Diagnostics) {
    let structs: BTreeMap<String, Vec<Field>> = files
        .iter()
        .flat_map(|f| &f.types)
        .filter_map(|t| match &t.kind {
            TypeKind::Struct { fields, .. } => Some((t.name.clone(), fields.clone())),
            TypeKind::Enum { .. } => None,
        })
        .collect();
    for file in files.iter_mut() {
        for method in &mut file.methods {
            let (Some(list), Ty::Named { name, .. }) = (&mut method.list, &method.result) else {
                continue;
            };
            let Some(key) = list.items_key.clone() else {
                continue;
            };
            let field = structs
                .get(name)
                .and_then(|fields| fields.iter().find(|f| f.name == key));
            match field.map(|f| &f.ty) {
                Some(Ty::List(row)) => list.item = (**row).clone(),
                _ => {
                    let message = format!(
                        "items {key:?}: the result type {name} has no list<T> field {key:?}"
                    );
                    diags.push(&file.path, &format!("method {}", method.name), message);
                }
            }
        }
    }
}

/// Every type name, before any field is checked: fields may refer to types declared further down
/// or in common.toml. The first declaration of a name wins; later ones are reported in place.
fn declare_types(files: &[RawFile]) -> BTreeMap<String, Decl> {
    let mut types = BTreeMap::new();
    for file in files {
        let module = module_name(file);
        for (index, t) in file.types.iter().enumerate() {
            if let Some(name) = &t.name {
                types.entry(name.clone()).or_insert_with(|| Decl {
                    path: file.path.clone(),
                    module: module.clone(),
                    index,
                });
            }
        }
    }
    types
}

fn module_name(file: &RawFile) -> String {
    file.scope
        .as_deref()
        .unwrap_or_default()
        .replace(['.', '-'], "_")
}

struct Validator<'a> {
    diags: &'a mut Diagnostics,
    types: BTreeMap<String, Decl>,
    /// Module name -> the file that declared the scope.
    scopes: BTreeMap<String, String>,
    /// (wire name, REST 3.0) -> where it is declared and its Rust names. A name may be
    /// documented for both APIs (`tasks.task.get`), which makes two methods.
    methods: BTreeMap<(String, bool), MethodDecl>,
    /// Client method name -> wire name of the method that has it.
    rust_names: BTreeMap<String, String>,
    /// Request type name -> wire name of the method that has it.
    type_names: BTreeMap<String, String>,
    /// Upper-case event name -> where it is declared.
    events: BTreeMap<String, EventDecl>,
    /// Variant name -> the event that has it.
    event_rust: BTreeMap<String, String>,
}

impl Validator<'_> {
    /// Validates one file. Reports come in file order: the file's own keys, then each method,
    /// then each type, each item's structural problems (from `load`) before its meaning.
    fn file(&mut self, raw: RawFile) -> ScopeFile {
        let module = module_name(&raw);
        let path = raw.path.clone();
        self.notes(&path, raw.notes);
        let is_common_file = Path::new(&raw.path)
            .file_name()
            .is_some_and(|n| n == "common.toml");
        if let Some(scope) = &raw.scope {
            self.scope(&path, scope, &module, is_common_file);
            if let Some(first) = self.scopes.get(&module) {
                let message = format!("scope {scope:?} is also declared in {first}");
                self.diags.push(&path, "", message);
            } else {
                self.scopes.insert(module.clone(), path.clone());
            }
        }
        if let Some(description) = &raw.description {
            self.one_line(&path, "", "description", description);
        }

        let local_types: BTreeSet<String> =
            raw.types.iter().filter_map(|t| t.name.clone()).collect();
        let mut methods = Vec::with_capacity(raw.methods.len());
        for m in raw.methods {
            self.notes(&path, m.notes.clone());
            if is_common_file {
                let message = "methods are not allowed in common.toml (it holds shared types only)";
                self.diags.push(&path, &m.label, message);
                continue;
            }
            if let Some(method) = self.method(&path, &module, &m, &local_types) {
                methods.push(method);
            }
        }
        let mut types = Vec::with_capacity(raw.types.len());
        for (index, t) in raw.types.into_iter().enumerate() {
            self.notes(&path, t.notes.clone());
            if let Some(t) = self.named_type(&path, &module, index, &t) {
                types.push(t);
            }
        }
        self.recursion(&path, &types);
        let mut events = Vec::with_capacity(raw.events.len());
        for e in raw.events {
            self.notes(&path, e.notes.clone());
            if is_common_file {
                let message = "events are not allowed in common.toml (it holds shared types only)";
                self.diags.push(&path, &e.label, message);
                continue;
            }
            if let Some(event) = self.event(&path, &module, &e) {
                events.push(event);
            }
        }
        ScopeFile {
            path,
            scope: raw.scope.unwrap_or_default(),
            module,
            description: raw.description,
            methods,
            types,
            events,
        }
    }

    /// Structural problems `load` found in an item.
    fn notes(&mut self, path: &str, notes: Vec<(String, String)>) {
        for (item, message) in notes {
            self.diags.push(path, &item, message);
        }
    }

    /// Claims a method's names, reporting the ones already taken.
    #[allow(clippy::too_many_arguments)]
    fn register(
        &mut self,
        path: &str,
        item: &str,
        name: &str,
        rest_v3: bool,
        rust: &str,
        type_name: &str,
        local_types: &BTreeSet<String>,
    ) {
        if let Some(first) = self.methods.get(&(name.to_owned(), rest_v3)) {
            let message = format!("duplicate method (first declared in {})", first.path);
            self.diags.push(path, item, message);
            return;
        }
        if let Some(first) = self.rust_names.get(rust) {
            let message = format!("Rust name {rust:?} is also used by method {first}");
            self.diags.push(path, item, message);
        } else if let Some(first) = self.type_names.get(type_name) {
            let message =
                format!("request type {type_name:?} is also the request type of method {first}");
            self.diags.push(path, item, message);
        } else if local_types.contains(type_name) {
            let message = format!(
                "request type {type_name:?} clashes with the type of that name in this file; \
                 rename the type (or set \"rust\" on the method)"
            );
            self.diags.push(path, item, message);
        }
        self.rust_names
            .entry(rust.to_owned())
            .or_insert_with(|| name.to_owned());
        self.type_names
            .entry(type_name.to_owned())
            .or_insert_with(|| name.to_owned());
        let decl = MethodDecl {
            path: path.to_owned(),
            rust: rust.to_owned(),
            type_name: type_name.to_owned(),
        };
        self.methods.insert((name.to_owned(), rest_v3), decl);
    }

    fn scope(&mut self, path: &str, scope: &str, module: &str, is_common_file: bool) {
        if let Err(why) = check_snake(module) {
            let message = format!(
                "scope {scope:?} does not make a module name ({why}); use lowercase letters, digits, \"_\" and \".\""
            );
            self.diags.push(path, "", message);
        }
        if RESERVED_MODULE_NAMES.contains(&module) {
            let message =
                format!("scope {scope:?} would be hidden by the runtime's own `{module}` module");
            self.diags.push(path, "", message);
        }
        if is_common_file && scope != "common" {
            let message = format!("common.toml must declare scope = \"common\", not {scope:?}");
            self.diags.push(path, "", message);
        }
        if !is_common_file && module == "common" {
            self.diags
                .push(path, "", "scope \"common\" is reserved for common.toml");
        }
    }

    /// Descriptions and docs become doc comments: they must say something, on one line.
    fn one_line(&mut self, path: &str, item: &str, key: &str, text: &str) -> bool {
        if text.trim().is_empty() {
            self.diags.push(path, item, format!("empty {key}"));
            false
        } else if text.contains(char::is_control) {
            self.diags
                .push(path, item, format!("{key} must be one line"));
            false
        } else {
            true
        }
    }

    /// `untyped = "<reason>"`: one line, and only on a type that is (or holds) `any`; it says
    /// why the docs do not allow a real type, so `stats` can tell a reasoned `any` from a gap.
    fn untyped(
        &mut self,
        path: &str,
        item: &str,
        what: &str,
        ty: Option<&Ty>,
        reason: Option<&str>,
    ) -> bool {
        let Some(reason) = reason else {
            return true;
        };
        if !self.one_line(path, item, "untyped", reason) {
            return false;
        }
        match ty {
            Some(ty) if !ty.is_untyped() => {
                let message = format!(
                    "\"untyped\" gives a reason for an `any` {what}, but the {what} is `{ty}`"
                );
                self.diags.push(path, item, message);
                false
            }
            _ => true,
        }
    }

    /// Parses and resolves a type expression, reporting what is wrong with it. `null` and
    /// `option<T>` only describe a whole method result (`result`): a field or param that may be
    /// missing is an optional one.
    fn ty(&mut self, path: &str, module: &str, item: &str, text: &str, result: bool) -> Option<Ty> {
        let mut ty = match Ty::parse(text) {
            Ok(ty) => ty,
            Err(message) => {
                self.diags.push(path, item, message);
                return None;
            }
        };
        if let Some(word) = ty.misplaced_result_only(result) {
            let message = if result {
                format!("{word:?} may only stand for the whole result, not inside {text:?}")
            } else {
                format!(
                    "{word:?} is only for method results; leave the {text:?} value optional instead"
                )
            };
            self.diags.push(path, item, message);
            return None;
        }
        let mut errors = Vec::new();
        ty.named_mut(&mut |name, resolved| match self.types.get(name.as_str()) {
            Some(decl) if decl.module == module || decl.module == "common" => {
                *resolved = decl.module.clone()
            }
            Some(decl) => errors.push(format!(
                "type {name:?} is declared in {}; a type used by two scopes belongs in common.toml",
                decl.path
            )),
            None if name.starts_with(|c: char| c.is_ascii_lowercase()) => {
                let scalars: Vec<&str> = SCALARS.iter().map(|(n, _)| *n).collect();
                errors.push(format!(
                    "unknown type {name:?} (scalar types are: {})",
                    scalars.join(", ")
                ));
            }
            None => errors.push(format!("unknown type {name:?}")),
        });
        let ok = errors.is_empty();
        for message in errors {
            self.diags.push(path, item, message);
        }
        ok.then_some(ty)
    }

    fn method(
        &mut self,
        path: &str,
        module: &str,
        m: &RawMethod,
        local_types: &BTreeSet<String>,
    ) -> Option<Method> {
        let item = m.label.as_str();
        let name = m.name.as_deref()?;
        let mut ok = true;
        if !is_method_name(name) {
            self.diags.push(
                path,
                item,
                format!(
                    "name {name:?} is not a method name (letters, digits, \".\", \"_\", \"-\")"
                ),
            );
            ok = false;
        }
        let rust = self.rust_name(
            path,
            item,
            name,
            m.rust.as_deref(),
            RESERVED_METHOD_NAMES,
            "the runtime's Client",
        );
        let type_name = rust.as_deref().map(pascal_case);
        if let Some(Err(why)) = type_name.as_deref().map(check_pascal) {
            self.diags
                .push(path, item, format!("request type {why}; set \"rust\""));
            ok = false;
        }
        if let (Some(rust), Some(type_name)) = (&rust, &type_name) {
            self.register(path, item, name, m.rest_v3, rust, type_name, local_types);
        }
        let description = m
            .description
            .as_deref()
            .filter(|d| self.one_line(path, item, "description", d));
        let doc_url = self.doc(path, item, m.doc.as_deref());
        let reserved: Vec<&str> = if m.open {
            [RESERVED_PARAM_NAMES, RESERVED_OPEN_PARAM_NAMES].concat()
        } else {
            RESERVED_PARAM_NAMES.to_vec()
        };
        let params = self.fields(path, module, "param", &m.params, &reserved);
        let result = m
            .result
            .as_deref()
            .and_then(|r| self.ty(path, module, &format!("{item}: result"), r, true));
        if m.open && m.positional {
            let message =
                "a positional method reads its arguments by position; \"open\" adds named ones";
            self.diags.push(path, item, message);
            ok = false;
        }
        if let Some(note) = &m.note {
            self.one_line(path, item, "note", note);
        }
        let untyped_ok = self.untyped(path, item, "result", result.as_ref(), m.untyped.as_deref());
        if m.positional && m.rest_v3 {
            let message =
                "a REST 3.0 method reads JSON by name; \"positional\" is for classic methods";
            self.diags.push(path, item, message);
            ok = false;
        }
        let paging = match m.paging.as_deref() {
            None | Some("none") => Some(Paging::None),
            Some("start") => Some(Paging::Start),
            Some("keyset") => Some(Paging::Keyset),
            Some(other) => {
                let message = format!("paging {other:?} must be \"none\", \"start\" or \"keyset\"");
                self.diags.push(path, item, message);
                None
            }
        };
        let list = match (&paging, &result) {
            (Some(Paging::None), _) => {
                if m.items.is_some() || m.id_field.is_some() {
                    let message = "\"items\" and \"id_field\" only apply to methods with paging";
                    self.diags.push(path, item, message);
                }
                Some(None)
            }
            (Some(_), Some(result)) => self.list_shape(path, item, m, result),
            _ => None,
        };
        let deprecated = self.deprecation(
            path,
            item,
            &m.deprecated,
            "method",
            "the wire name of the replacement method",
            |other| other == name,
            is_method_name,
        );
        Some(Method {
            name: name.to_owned(),
            rust: rust?,
            type_name: type_name.filter(|_| ok)?,
            description: description?.to_owned(),
            doc_url: doc_url?,
            params: params?,
            result: result?,
            paging: paging?,
            list: list?,
            idempotent: m.idempotent,
            batchable: m.batchable,
            deprecated: deprecated?,
            rest_v3: m.rest_v3,
            positional: m.positional,
            open: m.open,
            note: m.note.clone(),
            untyped: m.untyped.clone().filter(|_| untyped_ok),
        })
    }

    /// Where a paged method's rows are: `result` itself when it is `list<T>`, or its `items`
    /// field (checked once every type is known, see [`resolve_items`]).
    fn list_shape(
        &mut self,
        path: &str,
        item: &str,
        m: &RawMethod,
        result: &Ty,
    ) -> Option<Option<ListShape>> {
        let id_field = m.id_field.clone().unwrap_or_else(|| "ID".to_owned());
        match (&m.items, result) {
            (None, Ty::List(row)) => Some(Some(ListShape {
                items_key: None,
                item: (**row).clone(),
                id_field,
            })),
            (None, _) => {
                let message =
                    "a paged method's result must be list<T>, or name its row list with \"items\"";
                self.diags.push(path, item, message);
                None
            }
            (Some(key), Ty::Named { .. }) => Some(Some(ListShape {
                items_key: Some(key.clone()),
                item: Ty::Any,
                id_field,
            })),
            (Some(_), _) => {
                let message =
                    "\"items\" names a field of the result, so the result must be a named struct";
                self.diags.push(path, item, message);
                None
            }
        }
    }

    fn event(&mut self, path: &str, module: &str, e: &RawEvent) -> Option<Event> {
        let item = e.label.as_str();
        let name = e.name.as_deref()?;
        let mut ok = true;
        if !is_event_name(name) {
            let message =
                format!("name {name:?} is not an event name (letters, digits, \".\", \"_\")");
            self.diags.push(path, item, message);
            ok = false;
        }
        let rust = match e.rust.as_deref() {
            Some(rust) => match check_pascal(rust) {
                Ok(()) => Some(rust.to_owned()),
                Err(why) => {
                    self.diags.push(path, item, format!("rust {why}"));
                    None
                }
            },
            None => {
                let derived = event_rust_name(name);
                if derived.is_none() && ok {
                    let message = format!(
                        "cannot derive a Rust name from {name:?} (no word boundaries); set \"rust\" to its PascalCase words"
                    );
                    self.diags.push(path, item, message);
                }
                derived
            }
        };
        let rust = rust.filter(|rust| {
            if rust == "Unknown" {
                let message =
                    "Rust name \"Unknown\" is reserved for events the schema does not know";
                self.diags.push(path, item, message);
                false
            } else {
                true
            }
        });
        let data = e
            .data
            .as_deref()
            .and_then(|d| self.ty(path, module, &format!("{item}: data"), d, false));
        if let Some(rust) = &rust {
            let key = name.to_ascii_uppercase();
            if let Some(first) = self.events.get(&key) {
                let message = if first.name == name {
                    format!("duplicate event (first declared in {})", first.path)
                } else {
                    format!(
                        "duplicate event: {name:?} is {:?} in another case (first declared in {}); portals send names upper-cased",
                        first.name, first.path
                    )
                };
                self.diags.push(path, item, message);
                ok = false;
            } else if let Some(first) = self.event_rust.get(rust) {
                let message = format!("Rust name {rust:?} is also used by event {first}");
                self.diags.push(path, item, message);
                ok = false;
            } else {
                let data_type = match &data {
                    Some(Ty::Named { name, .. }) => Some(name.clone()),
                    _ => None,
                };
                self.event_rust.insert(rust.clone(), name.to_owned());
                let decl = EventDecl {
                    path: path.to_owned(),
                    name: name.to_owned(),
                    rust: rust.clone(),
                    data_type,
                };
                self.events.insert(key, decl);
            }
        }
        let description = e
            .description
            .as_deref()
            .filter(|d| self.one_line(path, item, "description", d));
        let doc_url = self.doc(path, item, e.doc.as_deref());
        if let Some(note) = &e.note {
            ok &= self.one_line(path, item, "note", note);
        }
        let deprecated = self.deprecation(
            path,
            item,
            &e.deprecated,
            "event",
            "the name of the replacement event",
            |other| other.eq_ignore_ascii_case(name),
            is_event_name,
        );
        Some(Event {
            name: name.to_owned(),
            rust: rust.filter(|_| ok)?,
            description: description?.to_owned(),
            doc_url: doc_url?,
            data: data?,
            deprecated: deprecated?,
            note: e.note.clone(),
        })
    }

    /// The URL of a `doc` page path; `None` when it is missing (reported by the loader) or not a
    /// page of the docs repository (reported here).
    fn doc(&mut self, path: &str, item: &str, doc: Option<&str>) -> Option<String> {
        let doc = doc?;
        let url = doc_url(doc);
        if url.is_none() {
            let message = format!(
                "doc {doc:?} must be a page path in the docs repository, ending in \".md\""
            );
            self.diags.push(path, item, message);
        }
        url
    }

    /// A `deprecated` value: `None` (reported) when it names its own item or is not a name.
    #[allow(clippy::too_many_arguments)]
    fn deprecation(
        &mut self,
        path: &str,
        item: &str,
        raw: &RawDeprecated,
        kind: &str,
        expected: &str,
        is_self: impl Fn(&str) -> bool,
        is_name: fn(&str) -> bool,
    ) -> Option<Option<Deprecation>> {
        let replacement = match raw {
            RawDeprecated::No => return Some(None),
            RawDeprecated::Yes => None,
            RawDeprecated::Replacement(other) if is_self(other) => {
                let message = format!("deprecated names the {kind} itself as its replacement");
                self.diags.push(path, item, message);
                return None;
            }
            RawDeprecated::Replacement(other) if !is_name(other) => {
                let message = format!("deprecated {other:?} must be true or {expected}");
                self.diags.push(path, item, message);
                return None;
            }
            RawDeprecated::Replacement(other) => Some(other.clone()),
        };
        Some(Some(Deprecation {
            replacement,
            replacement_rust: None,
        }))
    }

    /// The snake_case name: `rust` when given, else derived from the wire name.
    fn rust_name(
        &mut self,
        path: &str,
        item: &str,
        wire: &str,
        explicit: Option<&str>,
        reserved: &[&str],
        reserved_by: &str,
    ) -> Option<String> {
        let rust = match explicit {
            Some(rust) => match check_snake(rust) {
                Ok(()) => rust.to_owned(),
                Err(why) => {
                    self.diags.push(path, item, format!("rust {why}"));
                    return None;
                }
            },
            None => match snake_case(wire) {
                Some(rust) => rust,
                None => {
                    self.diags.push(
                        path,
                        item,
                        format!("cannot derive a Rust name from {wire:?}; set \"rust\""),
                    );
                    return None;
                }
            },
        };
        if reserved.contains(&rust.as_str()) {
            let message = format!(
                "Rust name {rust:?} is taken by {reserved_by}; set \"rust\" to another name"
            );
            self.diags.push(path, item, message);
            return None;
        }
        Some(rust)
    }

    /// Params or struct fields; `None` when any of them is invalid.
    fn fields(
        &mut self,
        path: &str,
        module: &str,
        kind: &str,
        raw: &[RawField],
        reserved: &[&str],
    ) -> Option<Vec<Field>> {
        let mut fields = Vec::with_capacity(raw.len());
        let mut ok = true;
        let mut wire_names: BTreeSet<&str> = BTreeSet::new();
        let mut rust_names: BTreeMap<String, &str> = BTreeMap::new();
        let reserved_by = if kind == "param" {
            "the request's own methods"
        } else {
            "the struct's own items"
        };
        for f in raw {
            let item = f.label.as_str();
            let Some(name) = f.name.as_deref() else {
                ok = false;
                continue;
            };
            if name.is_empty() || name.contains(char::is_control) {
                self.diags
                    .push(path, item, format!("{name:?} is not a wire name"));
                ok = false;
                continue;
            }
            if !wire_names.insert(name) {
                self.diags
                    .push(path, item, format!("duplicate {kind} name"));
                ok = false;
            }
            let rust = self.rust_name(path, item, name, f.rust.as_deref(), reserved, reserved_by);
            let clash = rust
                .as_ref()
                .and_then(|r| rust_names.insert(r.clone(), name).map(|first| (r, first)));
            if let Some((rust, first)) = clash {
                self.diags.push(
                    path,
                    item,
                    format!("Rust name {rust:?} is also used by {kind} {first}"),
                );
                ok = false;
            }
            let ty =
                f.ty.as_deref()
                    .and_then(|t| self.ty(path, module, item, t, false));
            let untyped_ok = self.untyped(path, item, "type", ty.as_ref(), f.untyped.as_deref());
            let doc_ok = untyped_ok
                && f.doc
                    .as_deref()
                    .is_none_or(|d| self.one_line(path, item, "doc", d))
                && f.note
                    .as_deref()
                    .is_none_or(|d| self.one_line(path, item, "note", d));
            match (rust, ty) {
                (Some(rust), Some(ty)) if doc_ok => fields.push(Field {
                    name: name.to_owned(),
                    rust,
                    ty,
                    required: f.required,
                    doc: f.doc.clone(),
                    note: f.note.clone(),
                    untyped: f.untyped.clone(),
                }),
                _ => ok = false,
            }
        }
        ok.then_some(fields)
    }

    fn named_type(
        &mut self,
        path: &str,
        module: &str,
        index: usize,
        t: &RawType,
    ) -> Option<TypeDef> {
        let item = t.label.as_str();
        let name = t.name.as_deref()?;
        let mut ok = true;
        if let Some(first) = self
            .types
            .get(name)
            .filter(|d| d.path != path || d.index != index)
        {
            let message = format!("duplicate type name (first declared in {})", first.path);
            self.diags.push(path, item, message);
            ok = false;
        }
        if let Err(why) = check_pascal(name) {
            self.diags.push(path, item, format!("type name {why}"));
            ok = false;
        }
        let description = t
            .description
            .as_deref()
            .filter(|d| self.one_line(path, item, "description", d));
        let kind = match (&t.fields, &t.values) {
            (Some(_), Some(_)) => {
                let message = "a type has \"fields\" (a struct) or \"values\" (an enum), not both";
                self.diags.push(path, item, message);
                None
            }
            (None, None) => {
                self.diags.push(
                    path,
                    item,
                    "missing \"fields\" (for a struct) or \"values\" (for an enum)",
                );
                None
            }
            (Some(fields), None) => {
                let reserved: &[&str] = if t.open == Some(true) {
                    &["new", "extra"]
                } else {
                    &["new"]
                };
                self.fields(path, module, "field", fields, reserved)
                    .map(|fields| TypeKind::Struct {
                        fields,
                        open: t.open == Some(true),
                    })
            }
            (None, Some(values)) => {
                if t.open.is_some() {
                    self.diags.push(path, item, "\"open\" is only for structs");
                    ok = false;
                }
                if values.is_empty() {
                    self.diags
                        .push(path, item, "an enum needs at least one value");
                    ok = false;
                }
                self.values(path, values)
                    .map(|values| TypeKind::Enum { values })
            }
        };
        Some(TypeDef {
            name: name.to_owned(),
            description: description?.to_owned(),
            kind: kind.filter(|_| ok)?,
            doc_type: t.doc_type.clone(),
        })
    }

    fn values(&mut self, path: &str, raw: &[crate::load::RawValue]) -> Option<Vec<EnumValue>> {
        let mut values = Vec::with_capacity(raw.len());
        let mut ok = true;
        let mut seen_values = BTreeSet::new();
        let mut seen_names = BTreeSet::new();
        for v in raw {
            let item = v.label.as_str();
            let (Some(value), Some(name)) = (&v.value, &v.name) else {
                ok = false;
                continue;
            };
            if value.is_empty() || value.contains(char::is_control) {
                // An empty string means "absent" on the wire, so it cannot be a value.
                self.diags
                    .push(path, item, format!("{value:?} is not an enum value"));
                ok = false;
            } else if !seen_values.insert(value.as_str()) {
                self.diags.push(path, item, "duplicate value");
                ok = false;
            }
            if let Err(why) = check_pascal(name) {
                self.diags.push(path, item, format!("name {why}"));
                ok = false;
            } else if name == "Unknown" {
                self.diags.push(
                    path,
                    item,
                    "name \"Unknown\" is reserved for values the schema does not know",
                );
                ok = false;
            } else if !seen_names.insert(name.as_str()) {
                self.diags
                    .push(path, item, format!("duplicate variant name {name:?}"));
                ok = false;
            }
            if v.doc
                .as_deref()
                .is_some_and(|d| !self.one_line(path, item, "doc", d))
            {
                ok = false;
            }
            values.push(EnumValue {
                value: value.clone(),
                name: name.clone(),
                doc: v.doc.clone(),
            });
        }
        ok.then_some(values)
    }

    /// A struct that holds itself (directly or through other structs) without a list or map in
    /// between would have infinite size.
    fn recursion(&mut self, path: &str, types: &[TypeDef]) {
        let direct = |t: &TypeDef| -> Vec<String> {
            match &t.kind {
                TypeKind::Struct { fields, .. } => fields
                    .iter()
                    .filter_map(|f| match &f.ty {
                        Ty::Named { name, .. } => Some(name.clone()),
                        _ => None,
                    })
                    .collect(),
                TypeKind::Enum { .. } => Vec::new(),
            }
        };
        // Only this file's and common's types can be reached, and common's cannot reach back.
        let edges: BTreeMap<&str, Vec<String>> =
            types.iter().map(|t| (t.name.as_str(), direct(t))).collect();
        for t in types {
            let mut stack: Vec<(String, Vec<String>)> = direct(t)
                .into_iter()
                .map(|n| (n, vec![t.name.clone()]))
                .collect();
            let mut seen = BTreeSet::new();
            while let Some((name, mut trail)) = stack.pop() {
                trail.push(name.clone());
                if name == t.name {
                    let message = format!(
                        "contains itself ({}) without a list or map in between",
                        trail.join(" -> ")
                    );
                    self.diags.push(path, &format!("type {}", t.name), message);
                    break;
                }
                if seen.insert(name.clone()) {
                    for next in edges.get(name.as_str()).into_iter().flatten() {
                        stack.push((next.clone(), trail.clone()));
                    }
                }
            }
        }
    }
}

fn is_event_name(name: &str) -> bool {
    name.bytes().any(|b| b.is_ascii_alphabetic())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_'))
}

fn is_method_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `api-reference/chat-bots/imbot-message-add.md` -> its page on apidocs.bitrix24.com.
fn doc_url(doc: &str) -> Option<String> {
    let page = doc.strip_suffix(".md")?;
    let well_formed = !page.is_empty()
        && !page.starts_with('/')
        && !page.contains("..")
        && !page.contains("://")
        && page.bytes().all(|b| b.is_ascii_graphic());
    well_formed.then(|| format!("https://apidocs.bitrix24.com/{page}.html"))
}
