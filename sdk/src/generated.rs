//! The typed API: one module per enabled scope (`imbot`, `crm`, ...) plus `common`, generated from
//! `schema/` by `build.rs` with `bitrix24-codegen`.
//!
//! The code is written to `$OUT_DIR` at build time rather than checked in, so it always matches
//! the schema and the enabled features. To read it without building, run
//! `cargo run -p bitrix24-codegen -- emit schema`.

include!(concat!(env!("OUT_DIR"), "/generated.rs"));

/// A table of every generated method (feature `method-catalog`): names, params with their wire
/// names and types, result type, paging, idempotency, deprecation. For tools that list,
/// describe or validate calls without compiling against each request type, like the `b24` CLI.
#[cfg(feature = "method-catalog")]
pub mod method_catalog {
    /// One generated method.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct MethodInfo {
        /// Wire name (`imbot.message.add`).
        pub name: &'static str,
        /// Scope, which is also the cargo feature that generates it.
        pub scope: &'static str,
        /// The `Client` method (`imbot_message_add`).
        pub rust: &'static str,
        /// One line.
        pub description: &'static str,
        /// The official page.
        pub doc_url: &'static str,
        /// Params in schema order (the order positional methods send them in).
        pub params: &'static [ParamInfo],
        /// Type expression of `result`, in schema syntax (`list<Deal>`).
        pub result: &'static str,
        /// `none`, `start` or `keyset`.
        pub paging: &'static str,
        /// Safe to re-send after a network failure.
        pub idempotent: bool,
        /// May run inside `batch`.
        pub batchable: bool,
        /// Marked outdated in the docs.
        pub deprecated: bool,
        /// The method to use instead, when the docs name one.
        pub replacement: Option<&'static str>,
        /// Called under `/rest/api/` (REST 3.0).
        pub rest_v3: bool,
        /// Params are sent under `"0"`, `"1"`, ... in order.
        pub positional: bool,
    }

    /// One param of a [`MethodInfo`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct ParamInfo {
        /// Wire name (`DIALOG_ID`).
        pub name: &'static str,
        /// Rust name of the setter or constructor argument.
        pub rust: &'static str,
        /// Type expression in schema syntax (`int`, `list<string>`, `DealFields`).
        pub ty: &'static str,
        /// A constructor argument rather than a setter.
        pub required: bool,
        /// One line, when the schema has one.
        pub doc: Option<&'static str>,
    }

    /// Finds a method by wire name (the classic one when a REST 3.0 twin exists too).
    pub fn find(name: &str) -> Option<&'static MethodInfo> {
        CATALOG
            .iter()
            .find(|m| m.name == name && !m.rest_v3)
            .or_else(|| CATALOG.iter().find(|m| m.name == name))
    }

    include!(concat!(env!("OUT_DIR"), "/catalog.rs"));
}

/// What generated (de)serialization is written with. Not a public API.
///
/// Generated types do not derive serde: with 1,600 methods and as many named types, derived
/// visitors, field enums and `with` wrappers were most of the SDK's compile time. Instead each
/// generated `Serialize` fills a [`Writer`](__gen::Writer) field by field and each
/// `Deserialize` takes its fields out of a [`Fields`](__gen::Fields), both through the lenient
/// codecs of [`crate::codec`]; the code per type is one short line per field.
#[doc(hidden)]
pub mod __gen {
    use std::fmt::Display;

    use serde::de::{self, Deserialize, Deserializer};
    use serde::ser::{self, Serialize, Serializer};
    use serde_json::{Map, Value};
    use serde_with::ser::SerializeAsWrap;
    use serde_with::{DeserializeAs, SerializeAs};

    /// The parameters (or fields) of one value being serialized, in declaration order.
    #[derive(Default)]
    pub struct Writer {
        map: Map<String, Value>,
        error: Option<String>,
    }

    impl Writer {
        /// An empty object.
        pub fn new() -> Self {
            Self::default()
        }

        /// Writes `value` under `key` with codec `C`.
        pub fn put<T, C: SerializeAs<T>>(&mut self, key: &str, value: &T) {
            match serde_json::to_value(SerializeAsWrap::<T, C>::new(value)) {
                Ok(value) => {
                    self.map.insert(key.to_owned(), value);
                }
                Err(e) => {
                    self.error.get_or_insert_with(|| format!("{key}: {e}"));
                }
            }
        }

        /// Writes `value` under `key` when it is set.
        pub fn opt<T, C: SerializeAs<T>>(&mut self, key: &str, value: &Option<T>) {
            if let Some(value) = value {
                self.put::<T, C>(key, value);
            }
        }

        /// Adds the keys of an open struct's `extra` that no declared field wrote.
        pub fn extra(&mut self, extra: &Map<String, Value>) {
            for (key, value) in extra {
                self.map.entry(key.clone()).or_insert_with(|| value.clone());
            }
        }

        /// Serializes the object.
        pub fn finish<S: Serializer>(self, s: S) -> Result<S::Ok, S::Error> {
            match self.error {
                Some(e) => Err(<S::Error as ser::Error>::custom(e)),
                None => self.map.serialize(s),
            }
        }
    }

    /// The fields of one JSON object being decoded; [`Fields::take`] removes them one by one,
    /// and what is left over is the open struct's `extra`.
    pub struct Fields {
        map: Map<String, Value>,
    }

    /// A decoding error that names the field it happened in.
    #[derive(Debug)]
    pub struct FieldError(String);

    impl Display for FieldError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl Fields {
        /// Takes a required field out and decodes it with codec `C`; a missing key decodes like
        /// `null`, which is an error naming the field.
        pub fn take<T, C>(&mut self, key: &str) -> Result<T, FieldError>
        where
            C: for<'de> DeserializeAs<'de, T>,
        {
            let value = self.map.remove(key).unwrap_or(Value::Null);
            C::deserialize_as(value).map_err(|e| FieldError(format!("field `{key}`: {e}")))
        }

        /// Takes an optional field out and decodes it with codec `C` (for `Option<T>`). A value
        /// of another shape than the schema says does not fail the answer: the field is `None`
        /// and the value stays, untouched, among the keys an open struct keeps in `extra`.
        /// Bitrix24 answers vary by portal, version and data more than any docs show; a typed
        /// field is a promise about the usual shape, not a reason to lose the whole answer.
        pub fn opt<T, C>(&mut self, key: &str) -> Result<Option<T>, FieldError>
        where
            C: for<'de> DeserializeAs<'de, Option<T>>,
        {
            let Some(value) = self.map.remove(key) else {
                return Ok(None);
            };
            match C::deserialize_as(&value) {
                Ok(decoded) => Ok(decoded),
                Err(e) if STRICT.with(std::cell::Cell::get) => {
                    Err(FieldError(format!("field `{key}`: {e}")))
                }
                Err(e) => {
                    tracing::debug!(field = key, error = %e, "answer field of an unexpected shape kept as JSON");
                    self.map.insert(key.to_owned(), value);
                    Ok(None)
                }
            }
        }

        /// What no declared field took.
        pub fn rest(&mut self) -> Map<String, Value> {
            std::mem::take(&mut self.map)
        }
    }

    thread_local! {
        static STRICT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// Makes [`Fields::opt`] fail on a value of an unexpected shape, on this thread: for tests
    /// that check the schema's types against documented answers.
    pub fn set_strict(strict: bool) {
        STRICT.with(|s| s.set(strict));
    }

    /// Decodes a generated struct: reads one JSON object (PHP's empty array `[]` counts as an
    /// empty one) and hands its fields to `build`.
    pub fn decode<'de, D, T>(
        d: D,
        build: impl FnOnce(&mut Fields) -> Result<T, FieldError>,
    ) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
    {
        let map = match Value::deserialize(d)? {
            Value::Object(map) => map,
            Value::Array(items) if items.is_empty() => Map::new(),
            other => {
                return Err(<D::Error as de::Error>::custom(format_args!(
                    "expected an object, found {}",
                    kind(&other)
                )));
            }
        };
        let mut fields = Fields { map };
        build(&mut fields).map_err(<D::Error as de::Error>::custom)
    }

    /// Decodes an event's `data` with codec `C` for [`Event::typed`](crate::events::Event::typed):
    /// an absent `data` (a form body without `data[...]` keys) reads as an empty object when the
    /// type is a struct, and an error becomes [`EventError::Data`](crate::events::EventError::Data)
    /// naming the event. Boxed, so the typed event enum stays small whatever the size of one
    /// event's data.
    pub fn event_data<T, C>(
        event: &crate::events::Event,
    ) -> Result<Box<T>, crate::events::EventError>
    where
        C: for<'de> DeserializeAs<'de, T>,
    {
        let decoded = match &event.data {
            Value::Null => C::deserialize_as(&Value::Object(Map::new()))
                .or_else(|_| C::deserialize_as(&Value::Null)),
            data => C::deserialize_as(data),
        };
        decoded
            .map(Box::new)
            .map_err(|e| crate::events::EventError::Data {
                event: event.name.clone(),
                message: e.to_string(),
            })
    }

    fn kind(value: &Value) -> &'static str {
        match value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "a list",
            Value::Object(_) => "an object",
        }
    }
}
