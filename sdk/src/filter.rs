//! List filters: the `filter` param of Bitrix24's list methods (schema type `filter`).
//!
//! A classic method reads a filter as one object whose keys are field names with an operator
//! prefix and whose values are what to compare with (`{">OPPORTUNITY": 1000, "@STAGE_ID":
//! ["NEW", "WON"]}`); a nested object is a group of conditions, combined by its own `LOGIC`
//! (`{"LOGIC": "OR", "0": {..}, "1": {..}}`). A REST 3.0 method reads the same conditions as a
//! list (`[["opportunity", ">", 1000], {"logic": "or", "conditions": [..]}]`). [`Filter`] holds
//! the conditions once, in the classic spelling (operator prefix on the key), and the method
//! picks the wire form: its own serde implementation writes the object,
//! [`codec::Conditions`](crate::codec::Conditions) the REST 3.0 list.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The key of a group's combining logic (`"AND"`, `"OR"`), in the classic spelling; REST 3.0
/// spells it `logic`, and camelCase methods accept that too.
const LOGIC: &str = "LOGIC";

/// Conditions on the fields of a list: `field -> value`, each key carrying Bitrix24's operator
/// prefix (`">OPPORTUNITY"`, `"@STAGE_ID"`, `"%TITLE"`, `"!=NAME"`, none for equality), in
/// the order they were added; nested [groups](Filter::group) with their own `LOGIC`.
///
/// ```
/// use bitrix24::Filter;
///
/// let filter = Filter::new()
///     .with(">OPPORTUNITY", 1000)
///     .with("@STAGE_ID", ["NEW", "WON"])
///     .group(Filter::or().with("%TITLE", "shop").with("%COMMENTS", "shop"));
/// assert_eq!(
///     serde_json::to_value(&filter).unwrap(),
///     serde_json::json!({
///         ">OPPORTUNITY": 1000,
///         "@STAGE_ID": ["NEW", "WON"],
///         "0": {"LOGIC": "OR", "%TITLE": "shop", "%COMMENTS": "shop"}
///     })
/// );
/// ```
///
/// A request's `filter(key, value)` setter adds one condition:
/// `client.crm_deal_list().filter(">OPPORTUNITY", 1000)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    entries: Vec<(String, FilterValue)>,
}

/// What a filter key compares with: a value, or a nested group of conditions.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    /// A scalar, a list (any of its items: `"@ID": [1, 2]`, or a range for `"><DATE"`), or any
    /// other JSON the field takes.
    Value(Value),
    /// Conditions combined by their own `LOGIC`.
    Group(Filter),
}

impl Filter {
    /// An empty filter: every condition added must hold.
    pub fn new() -> Self {
        Self::default()
    }

    /// A group whose conditions are alternatives (`"LOGIC": "OR"`), for [`Filter::group`].
    pub fn or() -> Self {
        Self::new().with(LOGIC, "OR")
    }

    /// Adds a condition (`">OPPORTUNITY"`, `1000`), replacing one under the same key: a
    /// filter is an object on the wire, so a key holds one condition (put alternatives on the
    /// same field in an [`or`](Filter::or) group of groups).
    pub fn with(mut self, key: impl Into<String>, value: impl Into<FilterValue>) -> Self {
        self.insert(key, value);
        self
    }

    /// [`with`](Filter::with) on a borrowed filter: what the generated `filter(key, value)`
    /// setters call.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<FilterValue>) {
        let (key, value) = (key.into(), value.into());
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some((_, slot)) => *slot = value,
            None => self.entries.push((key, value)),
        }
    }

    /// Adds a nested group under the next free position key (`"0"`, `"1"`, ...), as the docs
    /// write them.
    pub fn group(mut self, group: Filter) -> Self {
        let key = (0..)
            .map(|i: usize| i.to_string())
            .find(|k| self.get(k).is_none())
            .unwrap_or_default(); // The range is unbounded: a free key is always found.
        self.entries.push((key, FilterValue::Group(group)));
        self
    }

    /// The value under a key, as given (`get(">OPPORTUNITY")`).
    pub fn get(&self, key: &str) -> Option<&FilterValue> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The conditions and groups, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &FilterValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The number of keys (conditions, groups and a `LOGIC`).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the filter has no condition: every row matches.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The group's logic (`OR`), when it sets one; conditions are combined with AND otherwise.
    fn logic(&self) -> Option<&str> {
        self.entries.iter().find_map(|(k, v)| match v {
            FilterValue::Value(Value::String(logic)) if k.eq_ignore_ascii_case(LOGIC) => {
                Some(logic.as_str())
            }
            _ => None,
        })
    }
}

impl<T: Into<Value>> From<T> for FilterValue {
    fn from(value: T) -> Self {
        Self::Value(value.into())
    }
}

impl From<Filter> for FilterValue {
    fn from(group: Filter) -> Self {
        Self::Group(group)
    }
}

impl<K: Into<String>, V: Into<FilterValue>> FromIterator<(K, V)> for Filter {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(conditions: I) -> Self {
        conditions
            .into_iter()
            .fold(Self::new(), |filter, (k, v)| filter.with(k, v))
    }
}

impl<K: Into<String>, V: Into<FilterValue>, const N: usize> From<[(K, V); N]> for Filter {
    fn from(conditions: [(K, V); N]) -> Self {
        conditions.into_iter().collect()
    }
}

/// The classic form: one object.
impl Serialize for Filter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.entries.len()))?;
        for (key, value) in &self.entries {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl Serialize for FilterValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Value(value) => value.serialize(s),
            Self::Group(group) => group.serialize(s),
        }
    }
}

/// Reads the classic form: an object, a list (PHP's array built by position: `[{"LOGIC":
/// "OR", ..}]`, keyed `"0"`, `"1"`, ... here), or an empty spelling (`null`, `""`, `false`).
/// A nested object is a group.
impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ClassicVisitor)
    }
}

impl FilterValue {
    fn classic(value: Value) -> Self {
        match value {
            Value::Object(map) => Self::Group(Filter {
                entries: map
                    .into_iter()
                    .map(|(k, v)| (k, Self::classic(v)))
                    .collect(),
            }),
            other => Self::Value(other),
        }
    }
}

struct ClassicVisitor;

impl<'de> Visitor<'de> for ClassicVisitor {
    type Value = Filter;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a filter object")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Filter, E> {
        Ok(Filter::new())
    }
    fn visit_none<E: de::Error>(self) -> Result<Filter, E> {
        Ok(Filter::new())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Filter, E> {
        if v {
            Err(E::invalid_type(de::Unexpected::Bool(v), &self))
        } else {
            Ok(Filter::new())
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Filter, E> {
        if v.is_empty() {
            Ok(Filter::new())
        } else {
            Err(E::invalid_type(de::Unexpected::Str(v), &self))
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Filter, A::Error> {
        let mut filter = Filter::new();
        while let Some((key, value)) = map.next_entry::<String, Value>()? {
            filter.entries.push((key, FilterValue::classic(value)));
        }
        Ok(filter)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Filter, A::Error> {
        let mut filter = Filter::new();
        while let Some(value) = seq.next_element::<Value>()? {
            let key = filter.entries.len().to_string();
            filter.entries.push((key, FilterValue::classic(value)));
        }
        Ok(filter)
    }
}

/// The operator prefixes of classic keys that REST 3.0 spells otherwise (`"@ID"` is
/// `["ID", "in", ..]`); the comparison operators are spelled the same in both.
const V3_OPERATORS: [(&str, &str); 2] = [("@", "in"), ("><", "between")];

/// A classic key split into its operator prefix and the field (`">=ID"` -> `(">=", "ID")`).
fn split_key(key: &str) -> (&str, &str) {
    let field = key.trim_start_matches(['!', '=', '<', '>', '%', '@']);
    key.split_at(key.len() - field.len())
}

/// The REST 3.0 form: a list of `[field, operator, value]` (`[field, value]` without an
/// operator) and `{"logic": .., "conditions": [..]}` groups.
pub(crate) struct V3<'a>(pub(crate) &'a Filter);

impl Serialize for V3<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A top level that is itself an alternative is one group: the list's items all hold.
        if let Some(logic) = self.0.logic() {
            let mut seq = s.serialize_seq(Some(1))?;
            seq.serialize_element(&V3Group(logic, self.0))?;
            return seq.end();
        }
        V3Items(self.0).serialize(s)
    }
}

/// The conditions of a filter as a REST 3.0 list (its `LOGIC` left to the caller).
struct V3Items<'a>(&'a Filter);

impl Serialize for V3Items<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let items = self
            .0
            .entries
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case(LOGIC));
        let mut seq = s.serialize_seq(None)?;
        for (key, value) in items {
            match value {
                FilterValue::Group(group) => {
                    seq.serialize_element(&V3Group(group.logic().unwrap_or("and"), group))?;
                }
                FilterValue::Value(value) => {
                    let (prefix, field) = split_key(key);
                    match prefix {
                        "" => seq.serialize_element(&(field, value))?,
                        prefix => {
                            let operator = V3_OPERATORS
                                .iter()
                                .find(|(p, _)| *p == prefix)
                                .map_or(prefix, |(_, op)| op);
                            seq.serialize_element(&(field, operator, value))?;
                        }
                    }
                }
            }
        }
        seq.end()
    }
}

/// `{"logic": "or", "conditions": [..]}`.
struct V3Group<'a>(&'a str, &'a Filter);

impl Serialize for V3Group<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("logic", &self.0.to_ascii_lowercase())?;
        map.serialize_entry("conditions", &V3Items(self.1))?;
        map.end()
    }
}

impl Filter {
    /// Reads the REST 3.0 form ([`V3`]); an empty value is an empty filter.
    pub(crate) fn from_v3(value: Value) -> Result<Self, String> {
        let items = match value {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            Value::String(s) if s.is_empty() => Vec::new(),
            Value::Bool(false) => Vec::new(),
            Value::Object(map) if map.is_empty() => Vec::new(),
            other => return Err(format!("expected a list of conditions, found {other}")),
        };
        let mut filter = Filter::new();
        for (i, item) in items.into_iter().enumerate() {
            let (key, value) = v3_item(item).map_err(|e| format!("{i}: {e}"))?;
            // A group goes under its position, as a classic filter keys it.
            let key = key.unwrap_or_else(|| i.to_string());
            filter.entries.push((key, value));
        }
        Ok(filter)
    }
}

/// One REST 3.0 condition or group, as a classic key (none for a group) and value.
fn v3_item(item: Value) -> Result<(Option<String>, FilterValue), String> {
    const EXPECTED: &str =
        "expected [field, operator, value], [field, value] or {\"logic\", \"conditions\"}";
    match item {
        Value::Array(parts) => {
            let mut parts = parts.into_iter();
            match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(Value::String(field)), Some(value), None, None) => {
                    Ok((Some(field), FilterValue::Value(value)))
                }
                (Some(Value::String(field)), Some(Value::String(op)), Some(value), None) => {
                    let prefix = V3_OPERATORS
                        .iter()
                        .find(|(_, o)| op.eq_ignore_ascii_case(o))
                        .map_or(op.as_str(), |(p, _)| p);
                    Ok((Some(format!("{prefix}{field}")), FilterValue::Value(value)))
                }
                _ => Err(EXPECTED.to_owned()),
            }
        }
        Value::Object(mut map) => {
            let logic = match map.remove("logic") {
                Some(Value::String(logic)) => logic,
                None => "and".to_owned(),
                Some(_) => return Err("`logic` is not text".to_owned()),
            };
            let conditions = map.remove("conditions").unwrap_or(Value::Null);
            if let Some(key) = map.keys().next() {
                return Err(format!("unexpected `{key}` in a group"));
            }
            let mut group = Filter::from_v3(conditions)?;
            group
                .entries
                .insert(0, (LOGIC.to_owned(), FilterValue::Value(logic.into())));
            Ok((None, FilterValue::Group(group)))
        }
        _ => Err(EXPECTED.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v3(filter: &Filter) -> Value {
        serde_json::to_value(V3(filter)).unwrap()
    }

    #[test]
    fn a_key_holds_one_condition_and_groups_take_free_positions() {
        let filter = Filter::new()
            .with("0", 1)
            .with("%TITLE", "a")
            .with("%TITLE", "b")
            .group(Filter::or());
        assert_eq!(
            serde_json::to_value(&filter).unwrap(),
            json!({"0": 1, "%TITLE": "b", "1": {"LOGIC": "OR"}})
        );
    }

    #[test]
    fn the_classic_form_round_trips_with_nested_groups_and_lists() {
        let documented = json!({
            ">id": 100,
            "0": {"logic": "OR", "0": {"%=title": "HR%"}, "1": {"%=title": "Customer%"}},
            "@stageId": ["NEW", "IN_PROCESS"]
        });
        let filter: Filter = serde_json::from_value(documented.clone()).unwrap();
        assert!(matches!(filter.get("0"), Some(FilterValue::Group(g)) if g.len() == 3));
        assert_eq!(serde_json::to_value(&filter).unwrap(), documented);
        // PHP's positional array: the same groups, keyed by position.
        let listed: Filter = serde_json::from_value(json!([{"logic": "OR"}])).unwrap();
        assert_eq!(
            serde_json::to_value(&listed).unwrap(),
            json!({"0": {"logic": "OR"}})
        );
        for empty in [json!(null), json!(""), json!(false), json!([]), json!({})] {
            assert!(serde_json::from_value::<Filter>(empty).unwrap().is_empty());
        }
        assert!(serde_json::from_value::<Filter>(json!("x")).is_err());
    }

    #[test]
    fn the_rest_v3_form_spells_operators_as_words_and_groups_as_objects() {
        let filter = Filter::new()
            .with("=status", "NEW")
            .with("@id", [3, 4, 5])
            .with("><date", ["2025-01-01", "2025-12-31"])
            .with("responsible", 7)
            .group(Filter::or().with("id", [1, 2]).with("!=title", ""));
        let wire = json!([
            ["status", "=", "NEW"],
            ["id", "in", [3, 4, 5]],
            ["date", "between", ["2025-01-01", "2025-12-31"]],
            ["responsible", 7],
            {"logic": "or", "conditions": [["id", [1, 2]], ["title", "!=", ""]]}
        ]);
        assert_eq!(v3(&filter), wire);
        let back = Filter::from_v3(wire.clone()).unwrap();
        assert_eq!(v3(&back), wire);
        assert_eq!(back.get("@id"), Some(&FilterValue::Value(json!([3, 4, 5]))));
    }

    #[test]
    fn an_alternative_at_the_top_is_one_rest_v3_group() {
        let filter = Filter::or().with("id", 1).with(">rating", 4);
        assert_eq!(
            v3(&filter),
            json!([{"logic": "or", "conditions": [["id", 1], ["rating", ">", 4]]}])
        );
    }

    #[test]
    fn malformed_rest_v3_conditions_say_where() {
        let err = Filter::from_v3(json!([["id", 1], [1, 2, 3, 4]])).unwrap_err();
        assert!(
            err.starts_with("1: expected [field, operator, value]"),
            "{err}"
        );
        assert!(Filter::from_v3(json!({"id": 1})).is_err());
        assert!(Filter::from_v3(json!([{"logic": "or", "x": 1}])).is_err());
    }
}
