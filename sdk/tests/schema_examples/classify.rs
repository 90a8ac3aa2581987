//! What is wrong when an example does not round-trip: the failure's class, judged from the
//! schema's type at the failing place and the documented value there, so the list of failures
//! reads as a list of schema fixes (`schema/facts/FAILURES.md`).

use std::path::Path;

use bitrix24_codegen::{Event, Field, Method, Paging, Ty, TypeKind};
use serde_json::{Map, Value};

use super::compare::{Difference, What, shape};

/// The kinds of disagreement between the schema and the docs' examples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// `result` is typed as a list; the docs return one object.
    SingleObjectResult,
    /// The docs wrap the rows or fields in an object key (`{"categories": [...]}`).
    Wrapper,
    /// The schema has a list where the docs have an object, or the other way round.
    ObjectVsList,
    /// The schema has a scalar where the docs have an object or a list, or the other way round.
    ScalarVsStructure,
    /// The docs answer `null` where the schema requires a value.
    Nullable,
    /// A multi-value CRM field (`PHONE`, `EMAIL`, ...): the docs send a list of `{VALUE, VALUE_TYPE}`.
    MultiValue,
    /// A text value (`"N"`, `"DT_1"`) where the schema has a number.
    TextId,
    /// A scalar of another type than the schema's (a date that is not one, ...).
    ScalarType,
    /// A file in another wire shape than `[name, base64]` (`{"fileData": [..]}`, `[url]`, ...).
    FileShape,
    /// The docs page the method with `start`; the schema says it does not page.
    Paging,
    /// A param or field the schema requires is not in the docs' example (an alternative to
    /// another param, or required by mistake).
    RequiredOmitted,
    /// The schema declares a placeholder of the docs as a literal name (`propertyN`,
    /// `<selector>`, `UF_`).
    PlaceholderKey,
    /// The docs send a param or field the schema does not declare.
    Missing,
    /// The docs spell a top-level param in another case, and the method matches names exactly.
    KeyCase,
    /// The schema names the event otherwise than the payload's `event`.
    EventName,
    /// No typed event for the page's event.
    EventNotTyped,
    /// Anything else.
    Other,
}

impl Class {
    pub const ALL: [Class; 17] = [
        Class::SingleObjectResult,
        Class::Wrapper,
        Class::ObjectVsList,
        Class::ScalarVsStructure,
        Class::Nullable,
        Class::MultiValue,
        Class::TextId,
        Class::ScalarType,
        Class::FileShape,
        Class::Paging,
        Class::PlaceholderKey,
        Class::Missing,
        Class::RequiredOmitted,
        Class::KeyCase,
        Class::EventName,
        Class::EventNotTyped,
        Class::Other,
    ];

    /// A heading for the failures list.
    pub fn title(self) -> &'static str {
        match self {
            Class::SingleObjectResult => "Single object vs list result",
            Class::Wrapper => "Wrapper objects",
            Class::ObjectVsList => "Object vs list",
            Class::ScalarVsStructure => "Scalar vs structure",
            Class::Nullable => "Nullable results and fields",
            Class::MultiValue => "Multi-value fields",
            Class::TextId => "Text ids",
            Class::ScalarType => "Scalar types",
            Class::FileShape => "File shapes",
            Class::Paging => "Paging",
            Class::PlaceholderKey => "Placeholders as literal keys",
            Class::Missing => "Missing params and fields",
            Class::RequiredOmitted => "Required params the docs leave out",
            Class::KeyCase => "Key case",
            Class::EventName => "Event names",
            Class::EventNotTyped => "Events without a type",
            Class::Other => "Other",
        }
    }

    /// What the class means, in one line.
    pub fn meaning(self) -> &'static str {
        match self {
            Class::SingleObjectResult => {
                "`result` is typed `list<..>`; the docs return one object: the answer does not decode."
            }
            Class::Wrapper => {
                "The docs wrap the rows or fields in an object key (`{\"categories\": [...]}`); the schema types the inside."
            }
            Class::ObjectVsList => {
                "A list in the schema where the docs have an object (PHP's \"array\" is usually an associative one), or the other way round."
            }
            Class::ScalarVsStructure => {
                "A scalar in the schema where the docs have an object or a list, or the other way round."
            }
            Class::Nullable => {
                "The docs show `null` where the schema requires a value: make it optional."
            }
            Class::MultiValue => {
                "Multi-value CRM fields (`PHONE`, `EMAIL`, `WEB`, `IM`): the docs send a list of `{VALUE, VALUE_TYPE}`."
            }
            Class::TextId => "A text value (`\"N\"`, `\"DT_1\"`) where the schema has a number.",
            Class::ScalarType => {
                "A scalar the schema's scalar type does not read (a date that is no date, ...)."
            }
            Class::FileShape => {
                "A file in another wire shape than `[name, base64]`: `{\"fileData\": [name, base64]}`, a separate `fileContent`, a nested `FILE`, ..."
            }
            Class::Paging => {
                "The docs page the method with `start` (and answer `total`/`next`); the schema's paging is `none`, so the SDK drops `start`."
            }
            Class::RequiredOmitted => {
                "The schema requires a param or field the docs' example does without (an alternative to another param, or required by mistake)."
            }
            Class::PlaceholderKey => {
                "The schema declares a placeholder of the docs as a literal name (`propertyN`, `<selector>`, `UF_`): an open map or `extra` is meant."
            }
            Class::Missing => {
                "The docs send a param or field the schema does not declare: it is dropped."
            }
            Class::KeyCase => {
                "The docs spell a top-level param in another case than the schema, and the method matches names exactly (REST 3.0, camelCase methods)."
            }
            Class::EventName => {
                "The schema names the event otherwise than the payload's `event` (portals send that)."
            }
            Class::EventNotTyped => "The page's event has no typed event in the schema.",
            Class::Other => "Not classified; read the detail.",
        }
    }
}

/// The schema, as the classifier reads it.
pub struct Schema {
    schema: bitrix24_codegen::Schema,
}

/// Where a failure is: the keys from the top, and the decoder's words.
struct Located {
    path: Vec<String>,
    cause: String,
}

/// `result: field `A`: field `B`: invalid type: ...` -> `[A, B]` and the cause.
fn locate(message: &str) -> Located {
    let mut rest = message.strip_prefix("result: ").unwrap_or(message);
    let mut path = Vec::new();
    while let Some(after) = rest.strip_prefix("field `") {
        let Some((key, tail)) = after.split_once("`: ") else {
            break;
        };
        path.push(key.to_owned());
        rest = tail;
    }
    Located {
        path,
        cause: rest.to_owned(),
    }
}

/// The value at `path`, looking into the first list item that has the key when a list is in
/// the way (decoder errors name fields, not indexes).
fn value_at<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    let Some((key, rest)) = path.split_first() else {
        return Some(value);
    };
    match value {
        Value::Object(map) => match map.get(key) {
            Some(v) => value_at(v, rest),
            None => map
                .values()
                .find_map(|v| value_at(v, path).filter(|_| is_collection(v))),
        },
        Value::Array(items) => match key.parse::<usize>() {
            Ok(i) => items.get(i).and_then(|v| value_at(v, rest)),
            Err(_) => items.iter().find_map(|v| value_at(v, path)),
        },
        _ => None,
    }
}

fn is_collection(value: &Value) -> bool {
    matches!(value, Value::Array(_) | Value::Object(_))
}

fn is_placeholder_name(name: &str) -> bool {
    name.contains(['<', '>', '{', '}', '[', ']', '#'])
        || name == "UF_"
        || name.ends_with('_')
        || name.ends_with("_N")
        || name.ends_with("_XXX")
        || (name.len() > 1
            && name.ends_with('N')
            && name[..name.len() - 1].ends_with(|c: char| c.is_ascii_lowercase()))
}

fn is_numeric_type(ty: &Ty) -> bool {
    matches!(ty, Ty::Int | Ty::IntStr | Ty::Float)
}

fn is_scalar_type(ty: &Ty) -> bool {
    !matches!(
        ty,
        Ty::List(_) | Ty::Map(_) | Ty::Named { .. } | Ty::Any | Ty::Option(_) | Ty::Filter
    ) && !is_file_type(ty)
}

/// A file in any of its wire shapes.
fn is_file_type(ty: &Ty) -> bool {
    matches!(
        ty,
        Ty::File | Ty::FileData | Ty::FileNameContent | Ty::Base64
    )
}

fn is_multi_value(value: &Value) -> bool {
    value
        .as_array()
        .and_then(|items| items.first())
        .and_then(Value::as_object)
        .is_some_and(|item| item.contains_key("VALUE") || item.contains_key("VALUE_TYPE"))
}

impl Schema {
    pub fn load(dir: &Path) -> Self {
        let schema = bitrix24_codegen::load_dir(dir).unwrap_or_else(|d| panic!("{d}"));
        Self { schema }
    }

    fn method(&self, name: &str, rest_v3: bool) -> Option<&Method> {
        self.schema
            .files
            .iter()
            .flat_map(|f| &f.methods)
            .find(|m| m.name == name && m.rest_v3 == rest_v3)
    }

    fn event(&self, name: &str) -> Option<&Event> {
        self.schema
            .files
            .iter()
            .flat_map(|f| &f.events)
            .find(|e| e.name.eq_ignore_ascii_case(name))
    }

    /// Whether the schema declares an event of this name (in any case), whatever the build's
    /// features: events it leaves out are listed in `facts/excluded.toml`, not checked here.
    pub fn has_event(&self, name: &str) -> bool {
        self.event(name).is_some()
    }

    /// The event's name as the schema spells it (`onResourceDelete` for `ONRESOURCEDELETE`).
    pub fn event_spelling(&self, upper: &str) -> String {
        self.event(upper)
            .map_or_else(|| upper.to_owned(), |e| e.name.clone())
    }

    fn type_def(&self, name: &str) -> Option<&TypeKind> {
        self.schema
            .files
            .iter()
            .flat_map(|f| &f.types)
            .find(|t| t.name == name)
            .map(|t| &t.kind)
    }

    fn struct_of(&self, name: &str) -> Option<(&[Field], bool)> {
        match self.type_def(name)? {
            TypeKind::Struct { fields, open } => Some((fields.as_slice(), *open)),
            _ => None,
        }
    }

    fn is_enum(&self, ty: &Ty) -> bool {
        matches!(ty, Ty::Named { name, .. } if matches!(self.type_def(name), Some(TypeKind::Enum { .. })))
    }

    /// The documented params as the SDK would send them: for a method that reads its params in
    /// any case, in the schema's spelling; for a positional method, keyed by position (the docs
    /// send them by name or as a list); without `start`, which the SDK's paging sends, nor a
    /// `start: 0` the method has no param for: that is the first page, which every method
    /// answers without it (the docs' JS examples send it to every list method).
    pub fn to_wire(&self, name: &str, rest_v3: bool, params: Value, any_case: bool) -> Value {
        let Some(method) = self.method(name, rest_v3) else {
            return params;
        };
        let map = match params {
            Value::Object(map) => map,
            Value::Array(items) if method.positional => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
            other => return other,
        };
        let mut out = Map::new();
        for (key, value) in map {
            if key == "start"
                && (method.paging != Paging::None
                    || (value.as_u64() == Some(0)
                        && self.param_index(method, &key, any_case).is_none()))
            {
                continue;
            }
            let wire = match self.param_index(method, &key, any_case) {
                Some(i) if method.positional => i.to_string(),
                Some(i) => method.params[i].name.clone(),
                None => key,
            };
            out.insert(wire, value);
        }
        Value::Object(out)
    }

    /// The param a documented top-level key names.
    fn param_index(&self, method: &Method, key: &str, any_case: bool) -> Option<usize> {
        let exact = method.params.iter().position(|p| p.name == key);
        let by_index = key
            .parse::<usize>()
            .ok()
            .filter(|i| method.positional && *i < method.params.len());
        exact.or(by_index).or_else(|| {
            method
                .params
                .iter()
                .position(|p| (any_case || method.positional) && p.name.eq_ignore_ascii_case(key))
        })
    }

    /// The example with each placeholder replaced by a value of the schema's type at its place:
    /// the docs say nothing about those values, so they are not checked. The shape around a
    /// placeholder is documented and stays: a placeholder where the schema has no type (an
    /// undeclared key, a structure where the schema has a scalar) keeps its text.
    pub fn fill_placeholders(
        &self,
        kind: super::Kind,
        name: &str,
        rest_v3: bool,
        mut body: Value,
        placeholders: &[String],
        any_case: bool,
    ) -> Value {
        for pointer in placeholders {
            let path: Vec<String> = pointer
                .split('/')
                .skip(1)
                .map(|s| s.replace("~1", "/").replace("~0", "~"))
                .collect();
            let Some((root, rest)) = path.split_first() else {
                continue;
            };
            let root_ty = match kind {
                super::Kind::Request => self.method(name, rest_v3).and_then(|m| {
                    self.param_index(m, root, any_case)
                        .map(|i| m.params[i].ty.clone())
                }),
                super::Kind::Response if root == "result" => {
                    self.method(name, rest_v3).map(|m| m.result.clone())
                }
                super::Kind::Event if root == "data" => self.event(name).map(|e| e.data.clone()),
                _ => None,
            };
            let Some(root_ty) = root_ty else {
                continue;
            };
            let target = path.iter().fold(String::new(), |p, k| {
                format!("{p}/{}", k.replace('~', "~0").replace('/', "~1"))
            });
            let fill = match self.type_at(&root_ty, rest) {
                Some((ty, _)) => self.sample(&ty, 0),
                // Inside a file (`[name, "iVBOR...="]`): content the docs cut short.
                None if (0..rest.len())
                    .any(|d| matches!(self.type_at(&root_ty, &rest[..d]), Some((ty, _)) if is_file_type(&ty))) =>
                {
                    Some(Value::from("eA=="))
                }
                // No type there: the docs' shape disagrees with the schema's, which the
                // check reports; the placeholder's text stays.
                None => None,
            };
            if let (Some(slot), Some(fill)) = (body.pointer_mut(&target), fill) {
                *slot = fill;
            }
        }
        body
    }

    /// A value the schema's type reads; `None` for `any` (the placeholder's text will do).
    fn sample(&self, ty: &Ty, depth: usize) -> Option<Value> {
        Some(match ty {
            Ty::String | Ty::Secret => Value::from("x"),
            Ty::DialogId => Value::from("chat1"),
            Ty::Int | Ty::IntStr => Value::from(1),
            Ty::Float => Value::from(1.5),
            Ty::Bool => Value::from(true),
            Ty::YesNo => Value::from("Y"),
            Ty::Date => Value::from("2024-01-01"),
            Ty::DateTime => Value::from("2024-01-01T00:00:00+00:00"),
            Ty::File => serde_json::json!(["x.txt", "eA=="]),
            Ty::FileData => serde_json::json!({"fileData": ["x.txt", "eA=="]}),
            Ty::FileNameContent => serde_json::json!({"NAME": "x.txt", "CONTENT": "eA=="}),
            Ty::Base64 => Value::from("eA=="),
            Ty::Null => Value::Null,
            Ty::Option(inner) => return self.sample(inner, depth),
            Ty::Any => return None,
            Ty::List(_) => Value::Array(Vec::new()),
            Ty::Map(_) | Ty::Filter => Value::Object(Map::new()),
            Ty::Named { name, .. } => match self.type_def(name)? {
                TypeKind::Enum { values } => Value::from(values.first()?.value.clone()),
                TypeKind::Struct { fields, .. } if depth < 8 => Value::Object(
                    fields
                        .iter()
                        .filter(|f| f.required)
                        .filter_map(|f| Some((f.name.clone(), self.sample(&f.ty, depth + 1)?)))
                        .collect(),
                ),
                TypeKind::Struct { .. } => return None,
                _ => return None,
            },
        })
    }

    /// The schema type at `path` under the params of a method (`path[0]` is a param's wire
    /// name, or its position for a positional method).
    fn param_type(&self, method: &Method, path: &[String]) -> Option<(Ty, Option<Ty>)> {
        let (first, rest) = path.split_first()?;
        let param = method.params.get(self.param_index(method, first, false)?)?;
        self.type_at(&param.ty, rest)
    }

    /// The type at `path` under `ty`, and the type of the struct that holds the last key.
    /// Lists are looked through: decoder errors name fields, not indexes.
    fn type_at(&self, ty: &Ty, path: &[String]) -> Option<(Ty, Option<Ty>)> {
        let mut ty = ty.clone();
        let mut parent = None;
        for key in path {
            while let Ty::List(inner) = &ty {
                if key.parse::<usize>().is_ok() {
                    break;
                }
                ty = (**inner).clone();
            }
            ty = match ty {
                Ty::List(inner) | Ty::Map(inner) => *inner,
                Ty::Named { ref name, .. } => {
                    let (fields, _) = self.struct_of(name)?;
                    let field = fields.iter().find(|f| f.name == *key)?;
                    parent = Some(ty.clone());
                    field.ty.clone()
                }
                _ => return None,
            };
        }
        Some((ty, parent))
    }

    /// The fields of the struct `ty` names (or of a list of it).
    fn fields_of(&self, ty: &Ty) -> Option<(&[Field], bool)> {
        match ty {
            Ty::List(inner) => self.fields_of(inner),
            Ty::Named { name, .. } => self.struct_of(name),
            _ => None,
        }
    }

    /// Why a documented answer does not decode.
    pub fn classify_response(
        &self,
        name: &str,
        rest_v3: bool,
        body: &Value,
        message: &str,
    ) -> (Class, String) {
        let located = locate(message);
        let result = body.get("result").unwrap_or(&Value::Null);
        let Some(method) = self.method(name, rest_v3) else {
            return (Class::Other, message.to_owned());
        };
        let at = if located.path.is_empty() {
            "`result`".to_owned()
        } else {
            format!("`result.{}`", located.path.join("."))
        };
        let schema_ty = self.type_here(&method.result, &located.path);
        if !located.path.is_empty() {
            let ty = self.type_at(&method.result, &located.path).map(|(t, _)| t);
            let value = value_at(result, &located.path).unwrap_or(&Value::Null);
            let class = match &ty {
                Some(ty) => self.value_class(ty, value, &located.cause),
                None => Class::Other,
            };
            return (class, format!("{at} ({schema_ty}): {}", located.cause));
        }
        let class = match (&method.result, result) {
            (_, Value::Null) => Class::Nullable,
            (Ty::List(_), Value::Object(map))
                if map.len() <= 3 && map.values().any(Value::is_array) =>
            {
                Class::Wrapper
            }
            (Ty::List(_), Value::Object(_)) => Class::SingleObjectResult,
            (Ty::Named { name, .. }, Value::Object(map)) if map.len() == 1 => {
                // One key holding the struct's fields: a wrapper.
                let inner = map.values().next().unwrap_or(&Value::Null);
                let fields = self.struct_of(name).map(|(f, _)| f).unwrap_or_default();
                let wraps = inner
                    .as_object()
                    .is_some_and(|o| fields.iter().any(|f| o.contains_key(&f.name)));
                if wraps {
                    Class::Wrapper
                } else {
                    self.value_class(&method.result, result, &located.cause)
                }
            }
            (ty, value) => self.value_class(ty, value, &located.cause),
        };
        let detail = format!(
            "{at} ({schema_ty}): the docs return {}; {}",
            shape(result),
            located.cause
        );
        (class, detail)
    }

    /// The schema's type at `path` under `ty`, for messages.
    fn type_here(&self, ty: &Ty, path: &[String]) -> String {
        match self.type_at(ty, path) {
            Some((ty, _)) => format!("schema: `{ty}`"),
            None => "schema: ?".to_owned(),
        }
    }

    /// The class of a value that its type does not read.
    fn value_class(&self, ty: &Ty, value: &Value, cause: &str) -> Class {
        let nonempty_list = matches!(value, Value::Array(a) if !a.is_empty());
        match (ty, value) {
            (_, Value::Null) => Class::Nullable,
            (_, Value::String(s)) if s.is_empty() && cause.contains("empty value") => {
                Class::Nullable
            }
            (ty, _) if is_file_type(ty) => Class::FileShape,
            (Ty::Named { .. } | Ty::Map(_), v) if is_multi_value(v) => Class::MultiValue,
            // A list whose items do not fit: judge by the first item.
            (Ty::List(inner), Value::Array(items)) if !items.is_empty() => {
                self.value_class(inner, &items[0], cause)
            }
            (Ty::List(_), Value::Object(_)) => Class::ObjectVsList,
            (Ty::Map(inner), Value::Object(map)) if !map.is_empty() => {
                self.value_class(inner, map.values().next().unwrap_or(&Value::Null), cause)
            }
            (Ty::Named { .. } | Ty::Map(_), _) if nonempty_list => Class::ObjectVsList,
            (t, Value::String(s)) if is_numeric_type(t) && s.parse::<f64>().is_err() => {
                Class::TextId
            }
            (t, Value::Object(_) | Value::Array(_)) if is_scalar_type(t) => {
                Class::ScalarVsStructure
            }
            (t, _) if self.is_enum(t) => Class::ScalarType,
            (Ty::Named { .. } | Ty::List(_) | Ty::Map(_), v) if !is_collection(v) => {
                Class::ScalarVsStructure
            }
            (t, _) if is_scalar_type(t) => Class::ScalarType,
            _ => Class::Other,
        }
    }

    /// Why documented params do not deserialize into the request.
    pub fn classify_request_error(
        &self,
        name: &str,
        rest_v3: bool,
        sent: &Value,
        message: &str,
    ) -> (Class, String) {
        let located = locate(message);
        let Some(method) = self.method(name, rest_v3) else {
            return (Class::Other, message.to_owned());
        };
        let value = value_at(sent, &located.path);
        let ty = self.param_type(method, &located.path).map(|(t, _)| t);
        let class = match (&ty, value) {
            // A required param or field the example leaves out.
            (Some(_), None) if located.cause.contains("empty value") => Class::RequiredOmitted,
            (Some(ty), value) => {
                self.value_class(ty, value.unwrap_or(&Value::Null), &located.cause)
            }
            (None, _) if located.path.is_empty() && sent.is_array() => Class::ObjectVsList,
            (None, _) => Class::Other,
        };
        let schema_ty = ty.map_or_else(|| "schema: ?".to_owned(), |t| format!("schema: `{t}`"));
        (
            class,
            format!(
                "`{}` ({schema_ty}): {}",
                self.param_path(method, &located.path),
                located.cause
            ),
        )
    }

    /// A path with a positional method's indexes named.
    fn param_path(&self, method: &Method, path: &[String]) -> String {
        let mut path = path.to_vec();
        if method.positional
            && let Some(first) = path.first_mut()
            && let Some(p) = first
                .parse::<usize>()
                .ok()
                .and_then(|i| method.params.get(i))
        {
            *first = p.name.clone();
        }
        path.join(".")
    }

    /// Why params came back different.
    pub fn classify_differences(
        &self,
        name: &str,
        rest_v3: bool,
        sent: &Value,
        differences: &[Difference],
        any_case: bool,
    ) -> (Class, String) {
        let Some(method) = self.method(name, rest_v3) else {
            return (Class::Other, String::new());
        };
        let classes: Vec<Class> = differences
            .iter()
            .map(|d| self.difference_class(method, sent, d, any_case))
            .collect();
        // The first difference that is not a plain missing key names the example's class;
        // every difference is in the detail.
        let class = classes
            .iter()
            .copied()
            .find(|c| *c != Class::Missing)
            .unwrap_or(Class::Missing);
        let detail = differences
            .iter()
            .map(|d| {
                let mut d = d.clone();
                d.path = self
                    .param_path(method, &d.path)
                    .split('.')
                    .map(str::to_owned)
                    .collect();
                d.to_string()
            })
            .collect::<Vec<_>>()
            .join("; ");
        (class, detail)
    }

    fn difference_class(
        &self,
        method: &Method,
        sent: &Value,
        d: &Difference,
        any_case: bool,
    ) -> Class {
        let value = value_at(sent, &d.path).unwrap_or(&Value::Null);
        let parent = |path: &[String]| {
            self.param_type(method, &path[..path.len() - 1])
                .map(|(t, _)| t)
        };
        match &d.what {
            What::Lost if d.path.len() == 1 => {
                let key = &d.path[0];
                if key == "start" {
                    Class::Paging
                } else if !any_case
                    && method
                        .params
                        .iter()
                        .any(|p| p.name.eq_ignore_ascii_case(key))
                {
                    Class::KeyCase
                } else if method.params.iter().any(|p| is_placeholder_name(&p.name)) {
                    Class::PlaceholderKey
                } else {
                    Class::Missing
                }
            }
            What::Lost => match parent(&d.path).as_ref().and_then(|t| self.fields_of(t)) {
                Some((fields, _)) if fields.iter().any(|f| is_placeholder_name(&f.name)) => {
                    Class::PlaceholderKey
                }
                _ => Class::Missing,
            },
            // A required param or field comes back (empty) though the docs leave it out.
            What::Added if d.path.len() == 1 => {
                let required = method
                    .params
                    .iter()
                    .any(|p| p.required && p.name == d.path[0]);
                if required {
                    Class::RequiredOmitted
                } else {
                    Class::Other
                }
            }
            What::Added => {
                let key = &d.path[d.path.len() - 1];
                let required = parent(&d.path)
                    .as_ref()
                    .and_then(|t| self.fields_of(t))
                    .is_some_and(|(fields, _)| fields.iter().any(|f| f.required && f.name == *key));
                if required {
                    Class::RequiredOmitted
                } else {
                    Class::Other
                }
            }
            What::Shape { .. } => match self.param_type(method, &d.path) {
                Some((ty, _)) => self.value_class(&ty, value, ""),
                None => Class::Other,
            },
        }
    }

    /// Why an event's data does not decode.
    pub fn classify_event(&self, name: &str, data: &Value, message: &str) -> (Class, String) {
        let Some(event) = self.event(name) else {
            return (Class::Other, message.to_owned());
        };
        // `JSON: event ONX: data: field `A`: ...`: the path starts at the first field.
        let start = message.find("field `").unwrap_or(message.len());
        let located = locate(&message[start..]);
        let value = value_at(data, &located.path).unwrap_or(&Value::Null);
        let class = match self.type_at(&event.data, &located.path) {
            Some((ty, _)) => self.value_class(&ty, value, &located.cause),
            None => Class::Other,
        };
        let at = located.path.join(".");
        let schema_ty = self.type_here(&event.data, &located.path);
        (class, format!("`data.{at}` ({schema_ty}): {message}"))
    }
}
