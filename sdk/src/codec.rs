//! Lenient wire codecs for Bitrix24's type quirks, used by generated code through
//! `#[serde(with = "As::<Codec>")]`.
//!
//! Bitrix24 is a PHP application: the same field arrives as `42` from one method and `"42"` from
//! another, booleans come as `"Y"`/`"N"`, an empty value may be `null`, `""`, `false` or `[]`, and an
//! empty map is serialized as `[]`. Each codec here accepts every spelling Bitrix24 is known to use
//! and produces one canonical spelling when sending. Every codec works for both `T` and `Option<T>`
//! fields, so the generator needs one codec name per schema type, not one per shape.
//!
//! The codecs are visitors, not "decode into `serde_json::Value` and then convert": decoding a large
//! export stays a single pass without intermediate allocations.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use chrono::{DateTime as ChronoDateTime, FixedOffset, NaiveDate};
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer, StrDeserializer};
use serde::de::{self, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
pub use serde_with::As;
use serde_with::de::DeserializeAsWrap;
use serde_with::ser::SerializeAsWrap;
use serde_with::{DeserializeAs, SerializeAs};

use crate::decode::{self, Segment};

/// Decodes a value that may be absent (`null`, `""`, `false`, `[]`) into `Option<T>`.
///
/// Scalar codecs implement this; `DeserializeAs<T>` and `DeserializeAs<Option<T>>` both derive
/// from it, the former turning "absent" into an error that names what was expected.
trait Scalar<T> {
    /// What the codec expects, for error messages ("an integer").
    const EXPECTING: &'static str;
    fn from_i64<E: de::Error>(v: i64) -> Result<T, E>;
    fn from_u64<E: de::Error>(v: u64) -> Result<T, E> {
        i64::try_from(v)
            .map_err(|_| E::custom(format_args!("{v} is out of range")))
            .and_then(Self::from_i64)
    }
    fn from_f64<E: de::Error>(v: f64) -> Result<T, E>;
    fn from_bool<E: de::Error>(v: bool) -> Result<T, E>;
    /// Called for non-empty strings only.
    fn from_str<E: de::Error>(v: &str) -> Result<T, E>;
    fn from_string<E: de::Error>(v: String) -> Result<T, E> {
        Self::from_str(&v)
    }
    /// Whether `false` means "absent" (it does for everything except booleans).
    const FALSE_IS_ABSENT: bool = true;
}

struct ScalarVisitor<C, T>(PhantomData<(C, T)>);

impl<'de, C: Scalar<T>, T> Visitor<'de> for ScalarVisitor<C, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(C::EXPECTING)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        if !v && C::FALSE_IS_ABSENT {
            Ok(None)
        } else {
            C::from_bool(v).map(Some)
        }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        C::from_i64(v).map(Some)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        C::from_u64(v).map(Some)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        C::from_f64(v).map(Some)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if v.is_empty() {
            Ok(None)
        } else {
            C::from_str(v).map(Some)
        }
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        if v.is_empty() {
            Ok(None)
        } else {
            C::from_string(v).map(Some)
        }
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // `[]` is PHP's empty value; anything else in a list is a type error.
        match seq.next_element::<de::IgnoredAny>()? {
            None => Ok(None),
            Some(_) => Err(de::Error::invalid_type(de::Unexpected::Seq, &self)),
        }
    }
}

fn scalar<'de, C: Scalar<T>, T, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    d.deserialize_any(ScalarVisitor::<C, T>(PhantomData))
}

fn required<T, E: de::Error>(v: Option<T>, expecting: &str) -> Result<T, E> {
    v.ok_or_else(|| E::custom(format_args!("expected {expecting}, found an empty value")))
}

/// Implements `DeserializeAs` for `T` and `Option<T>` on top of [`Scalar`], and `SerializeAs` for
/// both on top of the given `serialize` function.
macro_rules! scalar_codec {
    ($codec:ty, $t:ty, |$v:ident, $s:ident| $ser:expr) => {
        impl<'de> DeserializeAs<'de, $t> for $codec {
            fn deserialize_as<D: Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
                required(
                    scalar::<$codec, $t, D>(d)?,
                    <$codec as Scalar<$t>>::EXPECTING,
                )
            }
        }
        impl<'de> DeserializeAs<'de, Option<$t>> for $codec {
            fn deserialize_as<D: Deserializer<'de>>(d: D) -> Result<Option<$t>, D::Error> {
                scalar::<$codec, $t, D>(d)
            }
        }
        impl SerializeAs<$t> for $codec {
            fn serialize_as<S: Serializer>($v: &$t, $s: S) -> Result<S::Ok, S::Error> {
                $ser
            }
        }
        impl SerializeAs<Option<$t>> for $codec {
            fn serialize_as<S: Serializer>(v: &Option<$t>, s: S) -> Result<S::Ok, S::Error> {
                match v {
                    Some(v) => <$codec as SerializeAs<$t>>::serialize_as(v, s),
                    None => s.serialize_none(),
                }
            }
        }
    };
}

fn parse_number<T: std::str::FromStr, E: de::Error>(v: &str, expecting: &str) -> Result<T, E> {
    v.trim()
        .parse()
        .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &expecting))
}

/// `string`: text; numbers and booleans are accepted and written out as text.
pub struct Text;

impl Scalar<String> for Text {
    const EXPECTING: &'static str = "a string";
    const FALSE_IS_ABSENT: bool = false;
    fn from_i64<E: de::Error>(v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn from_u64<E: de::Error>(v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn from_f64<E: de::Error>(v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn from_bool<E: de::Error>(v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn from_str<E: de::Error>(v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn from_string<E: de::Error>(v: String) -> Result<String, E> {
        Ok(v)
    }
}

impl<'de> DeserializeAs<'de, String> for Text {
    /// A required string may legitimately be empty, unlike a required number.
    fn deserialize_as<D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(scalar::<Text, String, D>(d)?.unwrap_or_default())
    }
}
impl<'de> DeserializeAs<'de, Option<String>> for Text {
    fn deserialize_as<D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        scalar::<Text, String, D>(d)
    }
}
impl SerializeAs<String> for Text {
    fn serialize_as<S: Serializer>(v: &String, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v)
    }
}
impl SerializeAs<Option<String>> for Text {
    fn serialize_as<S: Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(v),
            None => s.serialize_none(),
        }
    }
}

/// `int`: an integer sent as a JSON number; a numeric string is accepted.
pub struct Int;
/// `int_str`: an integer sent as a string (`"42"`), as classic methods return ids; a number is accepted.
pub struct IntStr;

macro_rules! int_scalar {
    ($codec:ty) => {
        impl Scalar<i64> for $codec {
            const EXPECTING: &'static str = "an integer";
            fn from_i64<E: de::Error>(v: i64) -> Result<i64, E> {
                Ok(v)
            }
            fn from_f64<E: de::Error>(v: f64) -> Result<i64, E> {
                if v.fract() == 0.0 && v.abs() < 9.0e15 {
                    Ok(v as i64)
                } else {
                    Err(E::invalid_value(de::Unexpected::Float(v), &Self::EXPECTING))
                }
            }
            fn from_bool<E: de::Error>(v: bool) -> Result<i64, E> {
                Err(E::invalid_type(de::Unexpected::Bool(v), &Self::EXPECTING))
            }
            fn from_str<E: de::Error>(v: &str) -> Result<i64, E> {
                parse_number(v, Self::EXPECTING)
            }
        }
    };
}
int_scalar!(Int);
int_scalar!(IntStr);
scalar_codec!(Int, i64, |v, s| s.serialize_i64(*v));
scalar_codec!(IntStr, i64, |v, s| s.collect_str(v));

/// `float`: a number; a numeric string is accepted (`"1500.00"`).
pub struct Float;

impl Scalar<f64> for Float {
    const EXPECTING: &'static str = "a number";
    fn from_i64<E: de::Error>(v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn from_u64<E: de::Error>(v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn from_f64<E: de::Error>(v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn from_bool<E: de::Error>(v: bool) -> Result<f64, E> {
        Err(E::invalid_type(de::Unexpected::Bool(v), &Self::EXPECTING))
    }
    fn from_str<E: de::Error>(v: &str) -> Result<f64, E> {
        parse_number(v, Self::EXPECTING)
    }
}
scalar_codec!(Float, f64, |v, s| s.serialize_f64(*v));

/// `bool`: `true`/`false` when sending; every Bitrix24 spelling is accepted.
pub struct Bool;
/// `yn`: `"Y"`/`"N"` when sending; every Bitrix24 spelling is accepted.
pub struct YesNo;

macro_rules! bool_scalar {
    ($codec:ty) => {
        impl Scalar<bool> for $codec {
            const EXPECTING: &'static str = "a boolean (Y/N)";
            const FALSE_IS_ABSENT: bool = false;
            fn from_i64<E: de::Error>(v: i64) -> Result<bool, E> {
                match v {
                    0 => Ok(false),
                    1 => Ok(true),
                    _ => Err(E::invalid_value(
                        de::Unexpected::Signed(v),
                        &Self::EXPECTING,
                    )),
                }
            }
            fn from_f64<E: de::Error>(v: f64) -> Result<bool, E> {
                Err(E::invalid_type(de::Unexpected::Float(v), &Self::EXPECTING))
            }
            fn from_bool<E: de::Error>(v: bool) -> Result<bool, E> {
                Ok(v)
            }
            fn from_str<E: de::Error>(v: &str) -> Result<bool, E> {
                match v {
                    "Y" | "y" | "1" | "true" | "TRUE" | "True" => Ok(true),
                    "N" | "n" | "0" | "false" | "FALSE" | "False" => Ok(false),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &Self::EXPECTING)),
                }
            }
        }
    };
}
bool_scalar!(Bool);
bool_scalar!(YesNo);
scalar_codec!(Bool, bool, |v, s| s.serialize_bool(*v));
scalar_codec!(YesNo, bool, |v, s| s.serialize_str(if *v {
    "Y"
} else {
    "N"
}));

/// `date`: `"2024-08-29"` when sending; a datetime with offset is accepted and its date kept.
pub struct Date;

impl Scalar<NaiveDate> for Date {
    const EXPECTING: &'static str = "a date (YYYY-MM-DD)";
    fn from_i64<E: de::Error>(v: i64) -> Result<NaiveDate, E> {
        Err(E::invalid_type(de::Unexpected::Signed(v), &Self::EXPECTING))
    }
    fn from_f64<E: de::Error>(v: f64) -> Result<NaiveDate, E> {
        Err(E::invalid_type(de::Unexpected::Float(v), &Self::EXPECTING))
    }
    fn from_bool<E: de::Error>(v: bool) -> Result<NaiveDate, E> {
        Err(E::invalid_type(de::Unexpected::Bool(v), &Self::EXPECTING))
    }
    fn from_str<E: de::Error>(v: &str) -> Result<NaiveDate, E> {
        // "2024-08-29", "2024-08-29T00:00:00+03:00": the date part is always the first 10 bytes.
        v.get(..10)
            .and_then(|d| ymd(d).or_else(|| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()))
            .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &Self::EXPECTING))
    }
}
scalar_codec!(Date, NaiveDate, |v, s| s.collect_str(&v.format("%Y-%m-%d")));

/// `YYYY-MM-DD` read without a format parser (most dates of an export are spelled so);
/// `None` for any other spelling, which the format parser then reads.
fn ymd(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b[range].iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = i32::try_from(digits(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, digits(5..7)?, digits(8..10)?)
}

/// `datetime`: RFC 3339 with an offset (`"2024-08-29T10:29:54+03:00"`).
pub struct DateTime;

impl Scalar<ChronoDateTime<FixedOffset>> for DateTime {
    const EXPECTING: &'static str = "a datetime with offset (RFC 3339)";
    fn from_i64<E: de::Error>(v: i64) -> Result<ChronoDateTime<FixedOffset>, E> {
        Err(E::invalid_type(de::Unexpected::Signed(v), &Self::EXPECTING))
    }
    fn from_f64<E: de::Error>(v: f64) -> Result<ChronoDateTime<FixedOffset>, E> {
        Err(E::invalid_type(de::Unexpected::Float(v), &Self::EXPECTING))
    }
    fn from_bool<E: de::Error>(v: bool) -> Result<ChronoDateTime<FixedOffset>, E> {
        Err(E::invalid_type(de::Unexpected::Bool(v), &Self::EXPECTING))
    }
    fn from_str<E: de::Error>(v: &str) -> Result<ChronoDateTime<FixedOffset>, E> {
        ChronoDateTime::parse_from_rfc3339(v)
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &Self::EXPECTING))
    }
}
scalar_codec!(DateTime, ChronoDateTime<FixedOffset>, |v, s| s
    .collect_str(&v.to_rfc3339()));

/// Optional named types, [`crate::DialogId`], [`crate::File`] and `any`: the type's own serde
/// implementation, with Bitrix24's empty spellings (`null`, `""`, `false`, `[]`) read as `None`.
///
/// For `Option<T>` only; a required value of such a type uses [`Same`] (the type's own serde
/// implementation as is). The two can't be one codec: `Option<T>` is itself `Deserialize`, so the
/// implementations would overlap.
pub struct Obj;

/// The type's own serde implementation, unchanged: required named types, `any`, and the
/// elements of `list<Named>` / `map<Named>`.
pub use serde_with::Same;

struct ObjVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        if v {
            T::deserialize(v.into_deserializer()).map(Some)
        } else {
            Ok(None)
        }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        T::deserialize(v.into_deserializer()).map(Some)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        T::deserialize(v.into_deserializer()).map(Some)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        T::deserialize(v.into_deserializer()).map(Some)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if v.is_empty() {
            return Ok(None);
        }
        T::deserialize(StrDeserializer::<E>::new(v)).map(Some)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        // An empty PHP array arrives as `[]` whatever its declared type; `T` sees anything else.
        let mut seq = PeekSeq {
            first: None,
            rest: seq,
        };
        match seq.rest.next_element::<serde_json::Value>()? {
            None => Ok(None),
            Some(first) => {
                seq.first = Some(first);
                T::deserialize(SeqAccessDeserializer::new(seq)).map(Some)
            }
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Some)
    }
}

/// A sequence whose first element was already read to tell `[]` from a real list.
struct PeekSeq<A> {
    first: Option<serde_json::Value>,
    rest: A,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for PeekSeq<A> {
    type Error = A::Error;

    fn next_element_seed<S: de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Self::Error> {
        match self.first.take() {
            Some(first) => seed.deserialize(first).map(Some).map_err(de::Error::custom),
            None => self.rest.next_element_seed(seed),
        }
    }
}

impl<'de, T: Deserialize<'de>> DeserializeAs<'de, Option<T>> for Obj {
    fn deserialize_as<D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_any(ObjVisitor(PhantomData))
    }
}
impl<T: Serialize> SerializeAs<Option<T>> for Obj {
    fn serialize_as<S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        v.serialize(s)
    }
}

/// `filter` of a REST 3.0 method: a [`Filter`](crate::Filter) as a list of conditions
/// (`[["id", ">", 10], {"logic": "or", "conditions": [..]}]`); classic methods send the
/// filter's own object form ([`Same`]/[`Obj`]).
pub struct Conditions;

impl SerializeAs<crate::Filter> for Conditions {
    fn serialize_as<S: Serializer>(v: &crate::Filter, s: S) -> Result<S::Ok, S::Error> {
        crate::filter::V3(v).serialize(s)
    }
}
impl SerializeAs<Option<crate::Filter>> for Conditions {
    fn serialize_as<S: Serializer>(v: &Option<crate::Filter>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => <Self as SerializeAs<crate::Filter>>::serialize_as(v, s),
            None => s.serialize_none(),
        }
    }
}
impl<'de> DeserializeAs<'de, crate::Filter> for Conditions {
    fn deserialize_as<D: Deserializer<'de>>(d: D) -> Result<crate::Filter, D::Error> {
        crate::Filter::from_v3(serde_json::Value::deserialize(d)?).map_err(de::Error::custom)
    }
}
impl<'de> DeserializeAs<'de, Option<crate::Filter>> for Conditions {
    fn deserialize_as<D: Deserializer<'de>>(d: D) -> Result<Option<crate::Filter>, D::Error> {
        let filter = <Self as DeserializeAs<crate::Filter>>::deserialize_as(d)?;
        Ok((!filter.is_empty()).then_some(filter))
    }
}

/// `list<T>`: a JSON array; a sparse PHP array (an object with numeric keys) is read as its
/// values in order, and an empty value as an empty list.
pub struct List<C>(PhantomData<C>);

/// The ways Bitrix24 spells an empty list or map besides `[]`/`{}`: `null`, `false`, `""`.
/// Any other scalar where a container belongs is a type error.
macro_rules! empty_container_spellings {
    () => {
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            if v {
                Err(E::invalid_type(de::Unexpected::Bool(v), &self))
            } else {
                Ok(None)
            }
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            if v.is_empty() {
                Ok(None)
            } else {
                Err(E::invalid_type(de::Unexpected::Str(v), &self))
            }
        }
    };
}

struct ListVisitor<T, C>(PhantomData<(T, C)>);

impl<'de, T, C: DeserializeAs<'de, T>> Visitor<'de> for ListVisitor<T, C> {
    type Value = Option<Vec<T>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list")
    }
    empty_container_spellings!();
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = element::<A, T, C>(&mut seq, out.len())? {
            out.push(item);
        }
        Ok(Some(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        // Keys other than the positions (`{"5": .., "9": ..}`) are ids the list drops.
        let mut dropped = Vec::new();
        while let Some(MapKey(key)) = map.next_key()? {
            let item = value::<A, T, C>(&mut map, &key)?;
            if key != out.len().to_string() {
                dropped.push(key);
            }
            out.push(item);
        }
        if !dropped.is_empty() {
            decode::lossy(|| {
                format!(
                    "expected a list, found an object keyed {}: read as a list, keys dropped",
                    dropped.join(", ")
                )
            })?;
        }
        Ok(Some(out))
    }
}

impl<'de, T, C: DeserializeAs<'de, T>> DeserializeAs<'de, Vec<T>> for List<C> {
    fn deserialize_as<D: Deserializer<'de>>(d: D) -> Result<Vec<T>, D::Error> {
        Ok(d.deserialize_any(ListVisitor::<T, C>(PhantomData))?
            .unwrap_or_default())
    }
}
impl<'de, T, C: DeserializeAs<'de, T>> DeserializeAs<'de, Option<Vec<T>>> for List<C> {
    fn deserialize_as<D: Deserializer<'de>>(d: D) -> Result<Option<Vec<T>>, D::Error> {
        d.deserialize_any(ListVisitor::<T, C>(PhantomData))
    }
}
impl<T, C: SerializeAs<T>> SerializeAs<Vec<T>> for List<C> {
    fn serialize_as<S: Serializer>(v: &Vec<T>, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for item in v {
            seq.serialize_element(&SerializeAsWrap::<T, C>::new(item))?;
        }
        seq.end()
    }
}
impl<T, C: SerializeAs<T>> SerializeAs<Option<Vec<T>>> for List<C> {
    fn serialize_as<S: Serializer>(v: &Option<Vec<T>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => <Self as SerializeAs<Vec<T>>>::serialize_as(v, s),
            None => s.serialize_none(),
        }
    }
}

/// The next element of a list or map with codec `C`, its index added to the path of an error
/// or a fallback inside it.
fn element<'de, A, T, C>(seq: &mut A, index: usize) -> Result<Option<T>, A::Error>
where
    A: SeqAccess<'de>,
    C: DeserializeAs<'de, T>,
{
    let mark = decode::fallback_mark();
    let item = seq
        .next_element::<DeserializeAsWrap<T, C>>()
        .inspect_err(|_| decode::error_at(|| Segment::Index(index)))?;
    decode::fallbacks_below(mark, || Segment::Index(index));
    Ok(item.map(DeserializeAsWrap::into_inner))
}

/// The value of the member `key` with codec `C`, the key added to the path of an error or a
/// fallback inside it.
fn value<'de, A, T, C>(map: &mut A, key: &str) -> Result<T, A::Error>
where
    A: MapAccess<'de>,
    C: DeserializeAs<'de, T>,
{
    let mark = decode::fallback_mark();
    let item = map
        .next_value::<DeserializeAsWrap<T, C>>()
        .inspect_err(|_| decode::error_at(|| Segment::Key(key.to_owned())))?;
    decode::fallbacks_below(mark, || Segment::Key(key.to_owned()));
    Ok(item.into_inner())
}

/// `map<T>`: a JSON object keyed by string; `[]` (PHP's empty array) reads as an empty map.
pub struct Map<C>(PhantomData<C>);

struct MapVisitor<T, C>(PhantomData<(T, C)>);

impl<'de, T, C: DeserializeAs<'de, T>> Visitor<'de> for MapVisitor<T, C> {
    type Value = Option<BTreeMap<String, T>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map")
    }
    empty_container_spellings!();
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // A PHP list where a map was expected: keep the positions as keys, as PHP would.
        let mut out = BTreeMap::new();
        while let Some(item) = element::<A, T, C>(&mut seq, out.len())? {
            out.insert(out.len().to_string(), item);
        }
        Ok(Some(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(MapKey(key)) = map.next_key()? {
            let item = value::<A, T, C>(&mut map, &key)?;
            out.insert(key, item);
        }
        Ok(Some(out))
    }
}

/// A map key; JSON keys are strings, but keys decoded from other formats may be numbers.
struct MapKey(String);

impl<'de> Deserialize<'de> for MapKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar::<Text, String, D>(d).map(|k| MapKey(k.unwrap_or_default()))
    }
}

impl<'de, T, C: DeserializeAs<'de, T>> DeserializeAs<'de, BTreeMap<String, T>> for Map<C> {
    fn deserialize_as<D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, T>, D::Error> {
        Ok(d.deserialize_any(MapVisitor::<T, C>(PhantomData))?
            .unwrap_or_default())
    }
}
impl<'de, T, C: DeserializeAs<'de, T>> DeserializeAs<'de, Option<BTreeMap<String, T>>> for Map<C> {
    fn deserialize_as<D: Deserializer<'de>>(d: D) -> Result<Option<BTreeMap<String, T>>, D::Error> {
        d.deserialize_any(MapVisitor::<T, C>(PhantomData))
    }
}
impl<T, C: SerializeAs<T>> SerializeAs<BTreeMap<String, T>> for Map<C> {
    fn serialize_as<S: Serializer>(v: &BTreeMap<String, T>, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(v.len()))?;
        for (key, item) in v {
            map.serialize_entry(key, &SerializeAsWrap::<T, C>::new(item))?;
        }
        map.end()
    }
}
impl<T, C: SerializeAs<T>> SerializeAs<Option<BTreeMap<String, T>>> for Map<C> {
    fn serialize_as<S: Serializer>(
        v: &Option<BTreeMap<String, T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => <Self as SerializeAs<BTreeMap<String, T>>>::serialize_as(v, s),
            None => s.serialize_none(),
        }
    }
}

/// Deserializes a generated string enum: any scalar is read as text and mapped with `From<&str>`,
/// so a value the schema does not know becomes the enum's `Unknown` variant instead of an error.
pub fn deserialize_enum<'de, D, E>(d: D) -> Result<E, D::Error>
where
    D: Deserializer<'de>,
    E: for<'a> From<&'a str>,
{
    let text = scalar::<Text, String, D>(d)?.unwrap_or_default();
    Ok(E::from(text.as_str()))
}

/// Decodes `T` from JSON text with codec `C`; the typed end of every call.
pub(crate) fn from_json_as<T, C>(json: &str) -> serde_json::Result<T>
where
    C: for<'de> DeserializeAs<'de, T>,
{
    let mut de = serde_json::Deserializer::from_str(json);
    let value = C::deserialize_as(&mut de)?;
    de.end()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode<T, C>(json: &str) -> serde_json::Result<T>
    where
        C: for<'de> DeserializeAs<'de, T>,
    {
        from_json_as::<T, C>(json)
    }

    fn opt<T, C>(json: &str) -> Option<T>
    where
        C: for<'de> DeserializeAs<'de, Option<T>>,
    {
        from_json_as::<Option<T>, C>(json).unwrap()
    }

    fn encode<T, C: SerializeAs<T>>(v: &T) -> String {
        serde_json::to_string(&SerializeAsWrap::<T, C>::new(v)).unwrap()
    }

    #[test]
    fn int_accepts_numbers_and_numeric_strings() {
        assert_eq!(decode::<i64, Int>("42").unwrap(), 42);
        assert_eq!(decode::<i64, Int>("\"42\"").unwrap(), 42);
        assert_eq!(decode::<i64, Int>("\" 7 \"").unwrap(), 7);
        assert_eq!(decode::<i64, Int>("3.0").unwrap(), 3);
        assert!(decode::<i64, Int>("\"4x\"").is_err());
        assert!(decode::<i64, Int>("3.5").is_err());
        assert!(
            decode::<i64, Int>("\"\"")
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
    }

    #[test]
    fn empty_spellings_are_none_for_optional_scalars() {
        for empty in ["null", "\"\"", "false", "[]"] {
            assert_eq!(opt::<i64, Int>(empty), None, "{empty}");
            assert_eq!(opt::<NaiveDate, Date>(empty), None, "{empty}");
        }
        assert_eq!(opt::<bool, YesNo>("false"), Some(false));
        assert!(from_json_as::<Option<i64>, Int>("[1]").is_err());
    }

    #[test]
    fn int_str_and_yes_no_encode_like_php() {
        assert_eq!(encode::<i64, IntStr>(&42), "\"42\"");
        assert_eq!(encode::<i64, Int>(&42), "42");
        assert_eq!(encode::<bool, YesNo>(&true), "\"Y\"");
        assert_eq!(encode::<Option<bool>, YesNo>(&Some(false)), "\"N\"");
        assert_eq!(encode::<bool, Bool>(&true), "true");
    }

    #[test]
    fn booleans_accept_every_spelling() {
        for (json, want) in [
            ("\"Y\"", true),
            ("\"N\"", false),
            ("1", true),
            ("\"0\"", false),
            ("true", true),
        ] {
            assert_eq!(decode::<bool, YesNo>(json).unwrap(), want, "{json}");
            assert_eq!(decode::<bool, Bool>(json).unwrap(), want, "{json}");
        }
        assert!(decode::<bool, YesNo>("\"maybe\"").is_err());
    }

    #[test]
    fn text_accepts_scalars() {
        assert_eq!(decode::<String, Text>("12").unwrap(), "12");
        assert_eq!(decode::<String, Text>("\"\"").unwrap(), "");
        assert_eq!(opt::<String, Text>("\"\""), None);
    }

    #[test]
    fn dates_and_datetimes() {
        let d = NaiveDate::from_ymd_opt(2024, 8, 29).unwrap();
        assert_eq!(decode::<NaiveDate, Date>("\"2024-08-29\"").unwrap(), d);
        assert_eq!(
            decode::<NaiveDate, Date>("\"2024-08-29T10:00:00+03:00\"").unwrap(),
            d
        );
        assert_eq!(encode::<NaiveDate, Date>(&d), "\"2024-08-29\"");
        let t = decode::<ChronoDateTime<FixedOffset>, DateTime>("\"2024-08-29T10:29:54+03:00\"")
            .unwrap();
        assert_eq!(t.offset().local_minus_utc(), 3 * 3600);
        assert_eq!(encode::<_, DateTime>(&t), "\"2024-08-29T10:29:54+03:00\"");
        assert!(
            decode::<ChronoDateTime<FixedOffset>, DateTime>("\"24.08.2023 13:19:39\"").is_err()
        );
    }

    #[test]
    fn lists_accept_sparse_php_arrays() {
        assert_eq!(
            decode::<Vec<i64>, List<Int>>("[1,\"2\"]").unwrap(),
            vec![1, 2]
        );
        assert_eq!(
            decode::<Vec<i64>, List<Int>>("{\"0\":1,\"5\":\"2\"}").unwrap(),
            vec![1, 2]
        );
        assert_eq!(
            decode::<Vec<i64>, List<Int>>("\"\"").unwrap(),
            Vec::<i64>::new()
        );
        assert_eq!(opt::<Vec<i64>, List<Int>>("null"), None);
        assert_eq!(
            encode::<Vec<i64>, List<IntStr>>(&vec![1, 2]),
            "[\"1\",\"2\"]"
        );
    }

    #[test]
    fn maps_accept_empty_php_arrays() {
        let m = decode::<BTreeMap<String, i64>, Map<Int>>("[]").unwrap();
        assert!(m.is_empty());
        let m = decode::<BTreeMap<String, i64>, Map<Int>>("{\"39\":\"1\"}").unwrap();
        assert_eq!(m["39"], 1);
    }

    #[test]
    fn obj_reads_empty_spellings_as_none_and_passes_the_rest_through() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct P {
            a: i64,
        }
        for empty in ["null", "\"\"", "false", "[]"] {
            assert_eq!(opt::<P, Obj>(empty), None, "{empty}");
        }
        assert_eq!(opt::<P, Obj>("{\"a\":1}"), Some(P { a: 1 }));
        assert_eq!(opt::<Vec<i64>, Obj>("[1,2]"), Some(vec![1, 2]));
        assert_eq!(decode::<P, Same>("{\"a\":1}").unwrap(), P { a: 1 });
        assert!(from_json_as::<Option<P>, Obj>("{\"a\":\"x\"}").is_err());
    }

    #[test]
    fn enums_fall_back_to_unknown() {
        #[derive(Debug, PartialEq)]
        enum E {
            A,
            Unknown(String),
        }
        impl From<&str> for E {
            fn from(s: &str) -> Self {
                if s == "A" {
                    E::A
                } else {
                    E::Unknown(s.to_owned())
                }
            }
        }
        impl<'de> Deserialize<'de> for E {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                deserialize_enum(d)
            }
        }
        assert_eq!(serde_json::from_str::<E>("\"A\"").unwrap(), E::A);
        assert_eq!(
            serde_json::from_str::<E>("7").unwrap(),
            E::Unknown("7".into())
        );
        assert_eq!(opt::<E, Obj>("\"\""), None);
    }
}
