//! The typed API: one module per enabled scope (`imbot`, `crm`, ...) plus `common`, generated from
//! `schema/` by `build.rs` with `bitrix24-codegen`.
//!
//! The code is written to `$OUT_DIR` at build time rather than checked in, so it always matches
//! the schema and the enabled features. To read it without building, run
//! `cargo run -p bitrix24-codegen -- emit schema`.

include!(concat!(env!("OUT_DIR"), "/generated.rs"));

/// What generated (de)serialization is written with. Not a public API.
///
/// Generated types do not derive serde: with 1,600 methods and as many named types, derived
/// visitors, field enums and `with` wrappers were most of the SDK's compile time. Instead each
/// generated `Serialize` fills a [`Writer`](__gen::Writer) field by field and each
/// `Deserialize` takes its fields out of a [`Fields`](__gen::Fields) (the object's members as
/// slices of the input, no intermediate tree), both through the lenient codecs of
/// [`crate::codec`]; the code per type is one short line per field.
#[doc(hidden)]
pub mod __gen {
    use std::fmt::Display;

    use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde::ser::{self, Serialize, Serializer};
    use serde_json::{Map, Value};
    use serde_with::ser::SerializeAsWrap;
    use serde_with::{DeserializeAs, SerializeAs};

    use crate::Decoding;
    use crate::decode::{self, Raw, Segment, Text, TextSeed};

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

    /// The members of one JSON object being decoded, each kept as its slice of the input (a
    /// borrowed map of raw values, no tree). [`Fields::take`] and [`Fields::opt`] decode them
    /// one by one; what no field takes is the open struct's `extra`.
    pub struct Fields<'de> {
        members: Vec<Member<'de>>,
        /// Member indices by key hash (open addressing, [`EMPTY`] marks a free slot), for
        /// objects of up to [`INDEXED`] members; larger ones are searched in order.
        index: [u8; SLOTS],
    }

    const SLOTS: usize = 64;
    const INDEXED: usize = 48;
    const EMPTY: u8 = u8::MAX;

    /// A key's first slot in [`Fields::index`], from its length and first, middle and last
    /// bytes: cheap, and distinct enough for the keys of one object.
    fn slot(key: &str) -> usize {
        let bytes = key.as_bytes();
        let byte = |i: usize| u64::from(bytes.get(i).copied().unwrap_or(0));
        let mixed = (bytes.len() as u64
            | byte(0) << 16
            | byte(bytes.len() / 2) << 24
            | byte(bytes.len().wrapping_sub(1)) << 32)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (mixed >> 58) as usize
    }

    struct Member<'de> {
        key: Text<'de>,
        value: Raw<'de>,
        taken: bool,
    }

    /// Why a generated struct could not be decoded: `expected X, found Y`, the path being kept
    /// by [`crate::decode`].
    #[derive(Debug)]
    pub struct FieldError(String);

    impl Display for FieldError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl FieldError {
        fn at(key: &str, e: &serde_json::Error) -> Self {
            decode::error_at(|| Segment::Key(key.to_owned()));
            Self(decode::problem(e))
        }
    }

    impl<'de> Fields<'de> {
        fn new(members: Vec<Member<'de>>) -> Self {
            let mut index = [EMPTY; SLOTS];
            if members.len() <= INDEXED {
                for (i, member) in members.iter().enumerate() {
                    let mut at = slot(&member.key);
                    while index[at] != EMPTY {
                        at = (at + 1) % SLOTS;
                    }
                    // At most `INDEXED` members: the index fits a `u8` below `EMPTY`.
                    index[at] = i as u8;
                }
            }
            Self { members, index }
        }

        /// The member named `key` that no field took yet.
        fn find(&mut self, key: &str) -> Option<&mut Member<'de>> {
            let found = if self.members.len() > INDEXED {
                self.members.iter().position(|m| !m.taken && m.key == key)?
            } else {
                let mut at = slot(key);
                loop {
                    let i = usize::from(self.index[at]);
                    let member = self.members.get(i)?;
                    if !member.taken && member.key == key {
                        break i;
                    }
                    at = (at + 1) % SLOTS;
                }
            };
            Some(&mut self.members[found])
        }

        /// Decodes a required field with codec `C`. A missing key decodes like `null`, which
        /// codecs with an empty value (text, lists, maps, `any`) accept.
        pub fn take<T, C>(&mut self, key: &str) -> Result<T, FieldError>
        where
            C: for<'a> DeserializeAs<'a, T>,
        {
            let member = self.find(key);
            let present = member.is_some();
            let raw = match member {
                Some(member) => {
                    member.taken = true;
                    &member.value
                }
                None => &Raw::NULL,
            };
            let mark = decode::fallback_mark();
            match raw.decode::<T, C>() {
                Ok(value) => {
                    decode::fallbacks_below(mark, || Segment::Key(key.to_owned()));
                    Ok(value)
                }
                Err(_) if !present => {
                    decode::error_at(|| Segment::Key(key.to_owned()));
                    Err(FieldError("missing".to_owned()))
                }
                Err(e) => Err(FieldError::at(key, &e)),
            }
        }

        /// Decodes an optional field with codec `C` (for `Option<T>`). A value of another shape
        /// than the schema says does not fail the answer unless decoding is
        /// [strict](crate::Decoding::Strict): the field is `None`, the value stays, untouched,
        /// among the members an open struct keeps in `extra`, and the fallback is logged.
        pub fn opt<T, C>(&mut self, key: &str) -> Result<Option<T>, FieldError>
        where
            C: for<'a> DeserializeAs<'a, Option<T>>,
        {
            let Some(member) = self.find(key) else {
                return Ok(None);
            };
            let mark = decode::fallback_mark();
            match member.value.decode::<Option<T>, C>() {
                Ok(value) => {
                    member.taken = true;
                    decode::fallbacks_below(mark, || Segment::Key(key.to_owned()));
                    Ok(value)
                }
                Err(e) if decode::strict() => Err(FieldError::at(key, &e)),
                Err(e) => {
                    decode::fall_back(mark, Segment::Key(key.to_owned()), decode::problem(&e));
                    Ok(None)
                }
            }
        }

        /// What no declared field took, in the order it came.
        pub fn rest(&mut self) -> Map<String, Value> {
            std::mem::take(&mut self.members)
                .into_iter()
                .filter(|m| !m.taken)
                .map(|m| (m.key.into_owned(), m.value.to_value()))
                .collect()
        }
    }

    /// Decodes a generated struct named `name`: reads one JSON object (PHP's empty array `[]`
    /// counts as an empty one) into [`Fields`], each member kept as its slice of the input,
    /// and hands them to `build`.
    pub fn decode<'de, D, T>(
        d: D,
        name: &'static str,
        build: impl FnOnce(&mut Fields<'de>) -> Result<T, FieldError>,
    ) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
    {
        let mut fields = d.deserialize_any(StructVisitor { name })?;
        let Some(depth) = decode::enter_struct() else {
            return Err(de::Error::custom(format_args!("{name}: nested too deeply")));
        };
        let built = build(&mut fields);
        let problem = depth.leave(built.as_ref().err().map(ToString::to_string));
        match (built, problem) {
            (Ok(value), _) => Ok(value),
            (Err(e), problem) => Err(de::Error::custom(problem.unwrap_or(e.0))),
        }
    }

    /// Reads the members of a struct's object without decoding them.
    struct StructVisitor {
        name: &'static str,
    }

    impl<'de> Visitor<'de> for StructVisitor {
        type Value = Fields<'de>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.name)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            // A list row of a classic entity has some 30 members.
            let mut members = Vec::with_capacity(map.size_hint().unwrap_or(32).min(64));
            while let Some(key) = map.next_key_seed(TextSeed)? {
                let value = map.next_value::<Raw<'de>>()?;
                members.push(Member {
                    key,
                    value,
                    taken: false,
                });
            }
            Ok(Fields::new(members))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            match seq.next_element::<de::IgnoredAny>()? {
                None => Ok(Fields::new(Vec::new())),
                Some(_) => Err(de::Error::invalid_type(de::Unexpected::Seq, &self)),
            }
        }
    }

    /// Decodes an event's `data` with codec `C` for
    /// [`Event::typed_with`](crate::events::Event::typed_with): an absent `data` (a form body
    /// without `data[...]` keys) reads as an empty object when the type is a struct, and an
    /// error becomes [`EventError::Data`](crate::events::EventError::Data) naming the event and
    /// the field path. Boxed, so the typed event enum stays small whatever the size of one
    /// event's data.
    pub fn event_data<T, C>(
        event: &crate::events::Event,
        decoding: Decoding,
    ) -> Result<Box<T>, crate::events::EventError>
    where
        C: for<'de> DeserializeAs<'de, T>,
    {
        let name = event.name.as_str();
        let decoded = match &event.data {
            Value::Null => decoding
                .decode::<T, C>(name, "", "{}")
                .or_else(|_| decoding.decode::<T, C>(name, "", "null")),
            data => decoding.decode::<T, C>(name, "", &data.to_string()),
        };
        decoded
            .map(Box::new)
            .map_err(|message| crate::events::EventError::Data {
                event: event.name.clone(),
                message,
            })
    }
}
