//! How an answer that does not fit the schema's types is treated, and how such a misfit is told:
//! [`Decoding`], the field path of a decode error, and the warning for each lenient fallback.
//!
//! Serde gives a `Deserialize` impl no context, and the answers are decoded synchronously, so
//! the context lives in thread-locals for the length of one decode: [`Decoding::decode`] opens a
//! scope (strict or lenient, nothing recorded yet) and closes it before it returns. Inside,
//! generated structs and the list and map codecs add their key or index to the path of an error
//! as it travels up, and to the fallbacks recorded below them, so nothing is spent on paths
//! while the answer fits.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt::{self, Write as _};

use serde::de::value::SeqAccessDeserializer;
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_with::DeserializeAs;

/// How typed decoding treats a value that does not fit the schema's type.
///
/// Bitrix24 answers vary by portal, version and data more than any docs show, so by default a
/// typed field is a promise about the usual shape, not a reason to lose the whole answer: an
/// optional field of another shape is `None`, its value stays in the struct's `extra`, and a
/// `tracing` warning names the method, the field path, what was expected and what was found.
/// [`Decoding::Strict`] makes each such fallback an error instead, which is what tests of one's
/// own types against recorded answers want. A required field that does not fit is an error in
/// both modes.
///
/// Set it per client with [`ClientBuilder::strict_decoding`](crate::ClientBuilder::strict_decoding)
/// (calls, batches, list streams), per event with
/// [`Event::typed_with`](crate::events::Event::typed_with), and per answer with
/// [`RawResponse::with_decoding`](crate::RawResponse::with_decoding).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decoding {
    /// Keep the answer; log each fallback as a warning.
    #[default]
    Lenient,
    /// Fail on the first fallback, naming the field path.
    Strict,
}

/// Deepest nesting of generated structs one decode follows. Each struct decodes its fields from
/// their own slices of the input, so serde_json's recursion limit does not reach across levels;
/// this one does, so a hostile answer cannot exhaust the stack.
const MAX_DEPTH: u32 = 64;

/// How much of a value that did not fit an error message quotes.
const FOUND_LEN: usize = 80;

thread_local! {
    /// Inside [`Decoding::decode`] (a scope renders paths and logs fallbacks itself).
    static IN_SCOPE: Cell<bool> = const { Cell::new(false) };
    /// The scope is strict.
    static STRICT: Cell<bool> = const { Cell::new(false) };
    /// Generated structs being decoded, outermost first.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// How many fallbacks are recorded; compared before and after decoding a field to find
    /// the ones below it, without touching `COLD` while nothing falls back.
    static FALLBACKS: Cell<usize> = const { Cell::new(0) };
    /// The error path and the fallbacks, touched only when something does not fit.
    static COLD: RefCell<Cold> = const { RefCell::new(Cold { error_path: Vec::new(), fallbacks: Vec::new() }) };
}

struct Cold {
    /// The path of the error travelling up, innermost segment first.
    error_path: Vec<Segment>,
    fallbacks: Vec<Fallback>,
}

/// One step of a field path: a struct or map key, or a list index.
#[derive(Debug, Clone)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// A value that did not fit and was kept anyway.
struct Fallback {
    /// Innermost segment first.
    path: Vec<Segment>,
    /// `expected ..., found ...`.
    problem: String,
}

impl Decoding {
    /// Whether fallbacks are errors.
    pub fn is_strict(self) -> bool {
        self == Self::Strict
    }

    /// Decodes `json` with codec `C` as the part `root` (`result`, `data`) of an answer of
    /// `method`. A misfit is an error message that starts with the field path
    /// (`result.PHONE: expected Multifield, found list`); fallbacks are logged once the value
    /// is decoded.
    pub(crate) fn decode<T, C>(self, method: &str, root: &str, json: &str) -> Result<T, String>
    where
        C: for<'de> DeserializeAs<'de, T>,
    {
        let scope = Scope::open(self);
        let decoded = crate::codec::from_json_as::<T, C>(json);
        let (error_path, fallbacks) = scope.close();
        match decoded {
            Ok(value) => {
                for fallback in fallbacks {
                    tracing::warn!(
                        method,
                        field = %Path(root, &fallback.path),
                        problem = %fallback.problem,
                        "answer field does not fit its type"
                    );
                }
                Ok(value)
            }
            Err(e) => {
                let path = Path(root, &error_path).to_string();
                Err(if path.is_empty() {
                    problem(&e)
                } else {
                    format!("{path}: {}", problem(&e))
                })
            }
        }
    }
}

/// The thread's decoding context for one [`Decoding::decode`]; restores the enclosing one when
/// closed or dropped (a decode inside a decode, a panic).
struct Scope {
    saved: Option<(bool, bool, u32, usize, Cold)>,
}

impl Scope {
    fn open(decoding: Decoding) -> Self {
        let fresh = Cold {
            error_path: Vec::new(),
            fallbacks: Vec::new(),
        };
        let saved = (
            IN_SCOPE.replace(true),
            STRICT.replace(decoding.is_strict()),
            DEPTH.replace(0),
            FALLBACKS.replace(0),
            COLD.with(|c| std::mem::replace(&mut *c.borrow_mut(), fresh)),
        );
        Self { saved: Some(saved) }
    }

    /// Ends the scope; returns the error path and the fallbacks recorded in it.
    fn close(mut self) -> (Vec<Segment>, Vec<Fallback>) {
        let cold = self.restore();
        (cold.error_path, cold.fallbacks)
    }

    fn restore(&mut self) -> Cold {
        let Some((in_scope, strict, depth, count, cold)) = self.saved.take() else {
            return Cold {
                error_path: Vec::new(),
                fallbacks: Vec::new(),
            };
        };
        IN_SCOPE.set(in_scope);
        STRICT.set(strict);
        DEPTH.set(depth);
        FALLBACKS.set(count);
        COLD.with(|c| std::mem::replace(&mut *c.borrow_mut(), cold))
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        self.restore();
    }
}

/// `root.KEY.3.NAME`, from segments innermost first.
struct Path<'a>(&'a str, &'a [Segment]);

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)?;
        for (i, segment) in self.1.iter().rev().enumerate() {
            if i > 0 || !self.0.is_empty() {
                f.write_char('.')?;
            }
            match segment {
                Segment::Key(key) => f.write_str(key)?,
                Segment::Index(index) => write!(f, "{index}")?,
            }
        }
        Ok(())
    }
}

/// Whether fallbacks are errors here.
pub(crate) fn strict() -> bool {
    STRICT.get()
}

/// A mark to pass to [`fallbacks_below`] after decoding one value.
pub(crate) fn fallback_mark() -> usize {
    FALLBACKS.get()
}

/// Adds `segment` to the path of the fallbacks recorded since `mark`: they happened inside the
/// value at `segment`.
pub(crate) fn fallbacks_below(mark: usize, segment: impl FnOnce() -> Segment) {
    if FALLBACKS.get() == mark {
        return;
    }
    let segment = segment();
    COLD.with(|c| {
        for fallback in c.borrow_mut().fallbacks.iter_mut().skip(mark) {
            fallback.path.push(segment.clone());
        }
    });
}

/// Records a value kept in spite of `problem`. What was recorded inside the value since `mark`
/// is dropped (the value is kept whole), and so is the path of the error that was caught.
pub(crate) fn fall_back(mark: usize, segment: Segment, problem: String) {
    COLD.with(|c| {
        let mut cold = c.borrow_mut();
        cold.fallbacks.truncate(mark);
        cold.error_path.clear();
        cold.fallbacks.push(Fallback {
            path: vec![segment],
            problem: format!("{problem}; kept in `extra`"),
        });
    });
    FALLBACKS.set(mark + 1);
}

/// Records a value read in a way that loses information (a keyed object read as a list);
/// an error when strict.
pub(crate) fn lossy<E: de::Error>(problem: impl FnOnce() -> String) -> Result<(), E> {
    if STRICT.get() {
        return Err(E::custom(problem()));
    }
    let problem = problem();
    if IN_SCOPE.get() || DEPTH.get() > 0 {
        COLD.with(|c| {
            c.borrow_mut().fallbacks.push(Fallback {
                path: Vec::new(),
                problem,
            });
        });
        FALLBACKS.set(FALLBACKS.get() + 1);
    } else {
        tracing::warn!(%problem, "value does not fit its type");
    }
    Ok(())
}

/// Adds `segment` to the path of the error travelling up through it. Only where a scope or an
/// outermost struct will read and clear the path again.
pub(crate) fn error_at(segment: impl FnOnce() -> Segment) {
    if IN_SCOPE.get() || DEPTH.get() > 0 {
        let segment = segment();
        COLD.with(|c| c.borrow_mut().error_path.push(segment));
    }
}

/// Marks entering a generated struct; `None` past [`MAX_DEPTH`].
pub(crate) fn enter_struct() -> Option<StructGuard> {
    let depth = DEPTH.get();
    (depth < MAX_DEPTH).then(|| {
        DEPTH.set(depth + 1);
        StructGuard
    })
}

/// Leaving a generated struct. Outside any scope (a generated type decoded by plain serde, as
/// `serde_json::from_value::<Deal>`), the outermost struct does what a scope would: its error
/// message gets the field path, and its fallbacks are logged.
pub(crate) struct StructGuard;

impl StructGuard {
    /// Finishes the struct; `error` is the problem if it failed.
    pub(crate) fn leave(self, error: Option<String>) -> Option<String> {
        drop(self);
        if IN_SCOPE.get() || DEPTH.get() > 0 {
            return error;
        }
        let cold = COLD.with(|c| {
            std::mem::replace(
                &mut *c.borrow_mut(),
                Cold {
                    error_path: Vec::new(),
                    fallbacks: Vec::new(),
                },
            )
        });
        FALLBACKS.set(0);
        match error {
            Some(problem) if cold.error_path.is_empty() => Some(problem),
            Some(problem) => Some(format!("{}: {problem}", Path("", &cold.error_path))),
            None => {
                for fallback in cold.fallbacks {
                    tracing::warn!(
                        field = %Path("", &fallback.path),
                        problem = %fallback.problem,
                        "field does not fit its type"
                    );
                }
                None
            }
        }
    }
}

impl Drop for StructGuard {
    fn drop(&mut self) {
        DEPTH.set(DEPTH.get().saturating_sub(1));
    }
}

/// A JSON value kept as its text: a slice of the input when the input is JSON text (what
/// serde_json's `RawValue` is made from), else the value written out as JSON.
pub(crate) struct Raw<'de>(Text<'de>);

/// The name under which serde_json hands a raw value to a visitor: a one-member map with this
/// key and the value's text. It is how `serde_json::value::RawValue` is read; a deserializer
/// that does not know it (another format) calls the visitor with the value itself, which is
/// then written out as JSON. `raw_values_borrow_from_json_text` pins the fast path.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

impl Raw<'_> {
    /// `null`, what a missing member reads as.
    pub(crate) const NULL: Raw<'static> = Raw(Cow::Borrowed("null"));

    /// The value as JSON text.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The value as a JSON tree (for `extra`).
    pub(crate) fn to_value(&self) -> Value {
        // The text is JSON by construction (scanned by serde_json, or written by it).
        serde_json::from_str(self.as_str()).unwrap_or_else(|_| Value::String(self.as_str().into()))
    }
}

impl Raw<'_> {
    /// Decodes the value with codec `C`.
    pub(crate) fn decode<T, C>(&self) -> serde_json::Result<T>
    where
        C: for<'a> DeserializeAs<'a, T>,
    {
        C::deserialize_as(RawDeserializer(self.as_str()))
    }
}

/// Reads one raw value. Most members of a Bitrix24 answer are strings without escapes, `null`
/// or a flag: those go straight to the visitor, exactly as serde_json would hand them over,
/// without setting up a parser; anything else is parsed by serde_json.
struct RawDeserializer<'a>(&'a str);

impl<'a> RawDeserializer<'a> {
    /// The value through serde_json, which must consume all of it.
    fn json<V>(
        self,
        read: impl FnOnce(
            &mut serde_json::Deserializer<serde_json::de::StrRead<'a>>,
        ) -> serde_json::Result<V>,
    ) -> serde_json::Result<V> {
        let mut de = serde_json::Deserializer::from_str(self.0);
        let value = read(&mut de)?;
        de.end()?;
        Ok(value)
    }
}

/// The `deserialize_*` methods that take only a visitor, handed to serde_json.
macro_rules! through_serde_json {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'a>>(self, visitor: V) -> serde_json::Result<V::Value> {
            self.json(|de| de.$method(visitor))
        })*
    };
}

impl<'a> Deserializer<'a> for RawDeserializer<'a> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> serde_json::Result<V::Value> {
        // A raw value is one JSON value without surrounding whitespace (serde_json scanned it,
        // control characters included), so a quoted text without a backslash is the string.
        match self.0.as_bytes() {
            b"null" => visitor.visit_unit(),
            b"true" => visitor.visit_bool(true),
            b"false" => visitor.visit_bool(false),
            [b'"', inner @ .., b'"'] if !inner.contains(&b'\\') => {
                visitor.visit_borrowed_str(&self.0[1..self.0.len() - 1])
            }
            _ => self.json(|de| de.deserialize_any(visitor)),
        }
    }

    through_serde_json! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_option
        deserialize_unit deserialize_seq deserialize_map deserialize_identifier
        deserialize_ignored_any
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> serde_json::Result<V::Value> {
        self.json(|de| de.deserialize_unit_struct(name, visitor))
    }
    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> serde_json::Result<V::Value> {
        self.json(|de| de.deserialize_newtype_struct(name, visitor))
    }
    fn deserialize_tuple<V: Visitor<'a>>(
        self,
        len: usize,
        visitor: V,
    ) -> serde_json::Result<V::Value> {
        self.json(|de| de.deserialize_tuple(len, visitor))
    }
    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> serde_json::Result<V::Value> {
        self.json(|de| de.deserialize_tuple_struct(name, len, visitor))
    }
    fn deserialize_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> serde_json::Result<V::Value> {
        self.json(|de| de.deserialize_struct(name, fields, visitor))
    }
    fn deserialize_enum<V: Visitor<'a>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> serde_json::Result<V::Value> {
        self.json(|de| de.deserialize_enum(name, variants, visitor))
    }
}

impl<'de> Deserialize<'de> for Raw<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_newtype_struct(RAW_VALUE_TOKEN, RawVisitor)
    }
}

struct RawVisitor;

impl RawVisitor {
    fn written<'de>(value: Value) -> Raw<'de> {
        Raw(Cow::Owned(value.to_string()))
    }
}

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(key) = map.next_key_seed(TextSeed)? else {
            return Ok(Self::written(Value::Object(serde_json::Map::new())));
        };
        if key == RAW_VALUE_TOKEN {
            return map.next_value_seed(TextSeed).map(Raw);
        }
        // A real object from a deserializer without raw values.
        let mut object = serde_json::Map::new();
        object.insert(key.into_owned(), map.next_value()?);
        while let Some((key, value)) = map.next_entry::<String, Value>()? {
            object.insert(key, value);
        }
        Ok(Self::written(Value::Object(object)))
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Value::deserialize(d).map(Self::written)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Value::deserialize(d).map(Self::written)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Value::deserialize(SeqAccessDeserializer::new(seq)).map(Self::written)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Self::written(Value::Null))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Self::written(Value::Null))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Self::written(v.into()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Self::written(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Self::written(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Self::written(v.into()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Self::written(v.into()))
    }
}

/// A string borrowed from the input when it can be (a key or a raw value without escapes).
pub(crate) type Text<'de> = Cow<'de, str>;

/// Reads a [`Text`] (serde's own `Cow<str>` always copies).
pub(crate) struct TextSeed;

impl<'de> DeserializeSeed<'de> for TextSeed {
    type Value = Text<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for TextSeed {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// The problem a decode error describes, as `expected X, found Y`, without serde_json's
/// position (it counts within the slice a field was decoded from, which misleads).
pub(crate) fn problem(e: &serde_json::Error) -> String {
    let mut text = e.to_string();
    if e.line() > 0 {
        let position = format!(" at line {} column {}", e.line(), e.column());
        if text.ends_with(&position) {
            text.truncate(text.len() - position.len());
        }
    }
    expected_found(&text).unwrap_or(text)
}

/// serde's `invalid type: map, expected an integer` (and `invalid value: ...`) in JSON's words,
/// expectation first: `expected an integer, found object`.
fn expected_found(text: &str) -> Option<String> {
    let rest = text
        .strip_prefix("invalid type: ")
        .or_else(|| text.strip_prefix("invalid value: "))?;
    let (found, expected) = rest.rsplit_once(", expected ")?;
    let found = match found {
        "map" => "object",
        "sequence" => "list",
        "unit value" | "Option value" => "null",
        other => other,
    };
    // A found string is quoted whole by serde; a message stays a line.
    let mut end = found.len().min(FOUND_LEN);
    while !found.is_char_boundary(end) {
        end -= 1;
    }
    let cut = if end < found.len() { "..." } else { "" };
    Some(format!("expected {expected}, found {}{cut}", &found[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Int, List};

    #[test]
    fn errors_name_the_path_and_expected_and_found() {
        let e = Decoding::Lenient
            .decode::<Vec<i64>, List<Int>>("m", "result", "[1, 2, {\"a\": 1}]")
            .unwrap_err();
        assert_eq!(e, "result.2: expected an integer, found object");
        let e = Decoding::Lenient
            .decode::<i64, Int>("m", "result", "\"4x\"")
            .unwrap_err();
        assert_eq!(e, "result: expected an integer, found string \"4x\"");
    }

    #[test]
    fn a_scope_leaves_no_state_behind() {
        let _ = Decoding::Strict.decode::<Vec<i64>, List<Int>>("m", "result", "[{}]");
        assert!(!IN_SCOPE.get() && !STRICT.get());
        assert_eq!((DEPTH.get(), FALLBACKS.get()), (0, 0));
        COLD.with(|c| assert!(c.borrow().error_path.is_empty()));
    }
}
