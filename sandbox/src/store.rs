//! Compact deal storage, sized for benchmarks that export a million deals.
//!
//! A deal keeps its standard fields typed (integers, money as mantissa and scale, dates as unix
//! seconds, `Y`/`N` as bits, status codes interned) in a fixed-size struct of 144 bytes, and
//! only allocates for a title that differs from the default, for the rarely set free-text
//! fields (`COMMENTS`, `ORIGINATOR_ID`, `ORIGIN_ID`) and for user fields. The classic API still
//! sees every scalar as the exact string that was written: a value whose typed form would not
//! print back identically (`"007"`, a date in another offset, an array in a scalar field) is
//! kept verbatim in the deal's extra map, which overrides the typed slot.
//!
//! Deals sit in one vector (a slab: a deleted deal's slot is reused) and a `BTreeMap` from id
//! to slot orders them, so the keyset walk (`filter[>ID]=N`, `order[ID]=ASC`) is a range scan
//! of the index. Seeding fills the slab in one pass and bulk-builds the index; a million deals
//! take about 160 MB.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use serde_json::{Map, Value};

use super::data::classic_value;
use super::params::write_str;

/// The standard deal fields, in the order the classic API returns them.
pub(crate) const FIELDS: [&str; 30] = [
    "ID",
    "TITLE",
    "TYPE_ID",
    "STAGE_ID",
    "STAGE_SEMANTIC_ID",
    "CATEGORY_ID",
    "PROBABILITY",
    "CURRENCY_ID",
    "OPPORTUNITY",
    "IS_MANUAL_OPPORTUNITY",
    "TAX_VALUE",
    "COMPANY_ID",
    "CONTACT_ID",
    "BEGINDATE",
    "CLOSEDATE",
    "OPENED",
    "CLOSED",
    "COMMENTS",
    "ASSIGNED_BY_ID",
    "CREATED_BY_ID",
    "MODIFY_BY_ID",
    "DATE_CREATE",
    "DATE_MODIFY",
    "SOURCE_ID",
    "IS_NEW",
    "IS_RECURRING",
    "IS_RETURN_CUSTOMER",
    "IS_REPEATED_APPROACH",
    "ORIGINATOR_ID",
    "ORIGIN_ID",
];

/// Where a standard field lives in [`Deal`].
#[derive(Debug, Clone, Copy)]
enum Slot {
    Id,
    /// `TITLE`; `None` is `Deal #<id>`.
    Title,
    /// Free text that is usually empty: kept in the extra map when it is not.
    Rare,
    Code(usize),
    Int(usize),
    OptInt(usize),
    Money(usize),
    Flag(u8),
    Date(usize),
}

/// The slot of each entry of [`FIELDS`].
const SLOTS: [Slot; 30] = [
    Slot::Id,
    Slot::Title,
    Slot::Code(0),
    Slot::Code(1),
    Slot::Code(2),
    Slot::Int(0),
    Slot::OptInt(0),
    Slot::Code(3),
    Slot::Money(0),
    Slot::Flag(0),
    Slot::Money(1),
    Slot::Int(1),
    Slot::OptInt(1),
    Slot::Date(0),
    Slot::Date(1),
    Slot::Flag(1),
    Slot::Flag(2),
    Slot::Rare,
    Slot::Int(2),
    Slot::Int(3),
    Slot::Int(4),
    Slot::Date(2),
    Slot::Date(3),
    Slot::Code(4),
    Slot::Flag(3),
    Slot::Flag(4),
    Slot::Flag(5),
    Slot::Flag(6),
    Slot::Rare,
    Slot::Rare,
];

const MODIFY_BY_ID: usize = 20;
const DATE_MODIFY: usize = 22;
/// `Flag` bits set on a new deal: `OPENED` and `IS_NEW`.
const DEFAULT_FLAGS: u8 = (1 << 1) | (1 << 3);
/// The bit of a deleted deal's slot, free for reuse.
const DELETED: u8 = 1 << 7;
/// An empty optional integer.
const NONE: i64 = i64::MIN;

/// The index of a standard field in [`FIELDS`].
pub(crate) fn field_index(name: &str) -> Option<usize> {
    FIELDS.iter().position(|f| *f == name)
}

/// One deal. Its id is the index key.
#[derive(Debug, Clone)]
pub(crate) struct Deal {
    /// `TITLE`; `None` is `Deal #<id>`.
    title: Option<Box<str>>,
    /// `CATEGORY_ID`, `COMPANY_ID`, `ASSIGNED_BY_ID`, `CREATED_BY_ID`, `MODIFY_BY_ID`.
    ints: [i64; 5],
    /// `PROBABILITY`, `CONTACT_ID`; [`NONE`] is empty.
    opt_ints: [i64; 2],
    /// `OPPORTUNITY`, `TAX_VALUE` as integers of `10^-scale`.
    money: [i64; 2],
    scales: [u8; 2],
    /// `BEGINDATE`, `CLOSEDATE`, `DATE_CREATE`, `DATE_MODIFY` in unix seconds.
    dates: [i64; 4],
    /// `TYPE_ID`, `STAGE_ID`, `STAGE_SEMANTIC_ID`, `CURRENCY_ID`, `SOURCE_ID` in [`Codes`].
    codes: [u16; 5],
    /// `IS_MANUAL_OPPORTUNITY`, `OPENED`, `CLOSED`, `IS_NEW`, `IS_RECURRING`,
    /// `IS_RETURN_CUSTOMER`, `IS_REPEATED_APPROACH`, and [`DELETED`].
    flags: u8,
    /// User fields and other non-standard fields in write order, plus verbatim overrides of
    /// standard fields.
    extra: Option<Box<Map<String, Value>>>,
}

/// Interned status codes (`SALE`, `NEW`, `USD`, ...).
#[derive(Debug)]
struct Codes {
    names: Vec<Box<str>>,
    index: HashMap<Box<str>, u16>,
}

impl Codes {
    fn new() -> Self {
        let mut codes = Self {
            names: Vec::new(),
            index: HashMap::new(),
        };
        for name in ["", "SALE", "NEW", "P", "USD"] {
            codes.intern(name);
        }
        codes
    }

    fn intern(&mut self, name: &str) -> Option<u16> {
        if let Some(&i) = self.index.get(name) {
            return Some(i);
        }
        let i = u16::try_from(self.names.len()).ok()?;
        self.names.push(name.into());
        self.index.insert(name.into(), i);
        Some(i)
    }

    fn name(&self, i: u16) -> &str {
        self.names.get(usize::from(i)).map_or("", |n| n)
    }
}

/// All deals of the portal.
#[derive(Debug)]
pub(crate) struct DealStore {
    /// Deal slot by id, in id order.
    index: BTreeMap<i64, u32>,
    slab: Vec<Deal>,
    /// Slots of deleted deals.
    free: Vec<u32>,
    codes: Codes,
    next_id: i64,
}

impl DealStore {
    pub(crate) fn new() -> Self {
        Self {
            index: BTreeMap::new(),
            slab: Vec::new(),
            free: Vec::new(),
            codes: Codes::new(),
            next_id: 1,
        }
    }

    /// Adds `n` deals titled `Deal #<id>` with an opportunity derived from the id, all created
    /// by `user` at `now`: the slab grows once and the index is bulk-built with full nodes.
    pub(crate) fn seed(&mut self, n: usize, user: i64, now: i64) {
        let template = self.blank(user, now);
        let first = self.next_id;
        let first_slot = self.slab.len();
        let n = n.min((u32::MAX as usize).saturating_sub(first_slot));
        self.slab.reserve_exact(n);
        for i in 0..n as i64 {
            let mut deal = template.clone();
            deal.money[0] = ((first + i) * 37) % 10_000 * 100;
            self.slab.push(deal);
        }
        let mut more: BTreeMap<i64, u32> = (0..n)
            .map(|i| (first + i as i64, (first_slot + i) as u32))
            .collect();
        self.index.append(&mut more);
        self.next_id = first + n as i64;
    }

    /// A deal with Bitrix24's defaults.
    fn blank(&self, user: i64, now: i64) -> Deal {
        let code = |name: &str| self.codes.index.get(name).copied().unwrap_or(0);
        Deal {
            title: None,
            ints: [0, 0, user, user, user],
            opt_ints: [NONE, NONE],
            money: [0, 0],
            scales: [2, 2],
            dates: [now; 4],
            codes: [code("SALE"), code("NEW"), code("P"), code("USD"), code("")],
            flags: DEFAULT_FLAGS,
            extra: None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// Stores a deal with defaults for the fields not given; `fields` are classic (upper-case)
    /// names, already stripped of read-only ones. Returns the new id.
    pub(crate) fn insert(&mut self, fields: Map<String, Value>, user: i64, now: i64) -> i64 {
        let id = self.next_id;
        let mut deal = self.blank(user, now);
        for (key, value) in fields {
            if key != "ID" {
                set(&mut self.codes, &mut deal, id, key, classic_value(value));
            }
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                if let Some(place) = self.slab.get_mut(slot as usize) {
                    *place = deal;
                }
                slot
            }
            None => {
                let Ok(slot) = u32::try_from(self.slab.len()) else {
                    // Four billion deals: refuse quietly rather than corrupt the index.
                    return 0;
                };
                self.slab.push(deal);
                slot
            }
        };
        self.next_id += 1;
        self.index.insert(id, slot);
        id
    }

    /// Writes `fields` into deal `id` and stamps the modification. False if there is no such
    /// deal.
    pub(crate) fn update(
        &mut self,
        id: i64,
        fields: Map<String, Value>,
        user: i64,
        now: i64,
    ) -> bool {
        let Some(&slot) = self.index.get(&id) else {
            return false;
        };
        let Some(deal) = self.slab.get_mut(slot as usize) else {
            return false;
        };
        for (key, value) in fields {
            set(&mut self.codes, deal, id, key, classic_value(value));
        }
        deal.dates[3] = now;
        deal.ints[4] = user;
        clear_override(deal, DATE_MODIFY);
        clear_override(deal, MODIFY_BY_ID);
        true
    }

    pub(crate) fn remove(&mut self, id: i64) -> bool {
        let Some(slot) = self.index.remove(&id) else {
            return false;
        };
        if let Some(deal) = self.slab.get_mut(slot as usize) {
            deal.flags = DELETED;
            deal.title = None;
            deal.extra = None;
            self.free.push(slot);
        }
        true
    }

    /// One field as the classic API shows it (`Null` when the deal has no such field).
    pub(crate) fn field(&self, id: i64, deal: &Deal, name: &str) -> Value {
        if let Some(v) = deal.extra.as_ref().and_then(|e| e.get(name)) {
            return v.clone();
        }
        match field_index(name) {
            Some(index) => Value::String(self.typed_text(id, deal, SLOTS[index])),
            None => Value::Null,
        }
    }

    fn typed_text(&self, id: i64, deal: &Deal, slot: Slot) -> String {
        match slot {
            Slot::Id => id.to_string(),
            Slot::Title => deal
                .title
                .as_deref()
                .map_or_else(|| default_title(id), str::to_owned),
            Slot::Rare => String::new(),
            Slot::Code(i) => self.codes.name(deal.codes[i]).to_owned(),
            Slot::Int(i) => deal.ints[i].to_string(),
            Slot::OptInt(i) if deal.opt_ints[i] == NONE => String::new(),
            Slot::OptInt(i) => deal.opt_ints[i].to_string(),
            Slot::Money(i) => format_money(deal.money[i], deal.scales[i]),
            Slot::Flag(bit) => if deal.flags & (1 << bit) != 0 {
                "Y"
            } else {
                "N"
            }
            .to_owned(),
            Slot::Date(i) => format_date(deal.dates[i]),
        }
    }

    /// The whole deal as the classic API returns it: standard fields in order, then the others
    /// in the order they were first written.
    pub(crate) fn classic(&self, id: i64, deal: &Deal) -> Map<String, Value> {
        let extra = deal.extra.as_deref();
        let mut map = Map::with_capacity(FIELDS.len() + extra.map_or(0, Map::len));
        for (name, slot) in FIELDS.iter().zip(SLOTS) {
            let value = match extra.and_then(|e| e.get(*name)) {
                Some(v) => v.clone(),
                None => Value::String(self.typed_text(id, deal, slot)),
            };
            map.insert((*name).to_owned(), value);
        }
        if let Some(extra) = extra {
            for (key, value) in extra {
                if field_index(key).is_none() {
                    map.insert(key.clone(), value.clone());
                }
            }
        }
        map
    }

    /// [`Self::classic`] restricted to the fields `keep` accepts, written straight as JSON
    /// text, for list pages.
    pub(crate) fn write_classic(
        &self,
        out: &mut Vec<u8>,
        id: i64,
        deal: &Deal,
        keep: impl Fn(&str) -> bool,
    ) {
        let extra = deal.extra.as_deref();
        out.push(b'{');
        let mut first = true;
        let mut key = |out: &mut Vec<u8>, name: &str| {
            if !first {
                out.push(b',');
            }
            first = false;
            write_str(out, name);
            out.push(b':');
        };
        for (name, slot) in FIELDS.iter().zip(SLOTS) {
            if !keep(name) {
                continue;
            }
            key(out, name);
            match extra.and_then(|e| e.get(*name)) {
                // Writing a `Value` into a `Vec` cannot fail.
                Some(v) => {
                    let _ = serde_json::to_writer(&mut *out, v);
                }
                None => write_str(out, &self.typed_text(id, deal, slot)),
            }
        }
        if let Some(extra) = extra {
            for (name, value) in extra {
                if field_index(name).is_none() && keep(name) {
                    key(out, name);
                    let _ = serde_json::to_writer(&mut *out, value);
                }
            }
        }
        out.push(b'}');
    }

    /// Deal `id` in classic form.
    pub(crate) fn get(&self, id: i64) -> Option<Map<String, Value>> {
        let slot = *self.index.get(&id)?;
        let deal = self.slab.get(slot as usize)?;
        Some(self.classic(id, deal))
    }

    /// The names of a deal's non-standard fields.
    pub(crate) fn extra_names<'a>(&self, deal: &'a Deal) -> impl Iterator<Item = &'a String> {
        deal.extra
            .iter()
            .flat_map(|e| e.keys())
            .filter(|k| field_index(k).is_none())
    }

    /// Deals with ids in `lo..=hi`, ascending or descending.
    pub(crate) fn range(
        &self,
        lo: i64,
        hi: i64,
        descending: bool,
    ) -> Box<dyn Iterator<Item = (i64, &Deal)> + '_> {
        if lo > hi {
            return Box::new(std::iter::empty());
        }
        let slab = &self.slab;
        let range = self
            .index
            .range((Bound::Included(lo), Bound::Included(hi)))
            .filter_map(move |(id, slot)| slab.get(*slot as usize).map(|deal| (*id, deal)));
        if descending {
            Box::new(range.rev())
        } else {
            Box::new(range)
        }
    }
}

/// Writes one classic value into `deal`: into its typed slot when it prints back identically,
/// else verbatim into the extra map.
fn set(codes: &mut Codes, deal: &mut Deal, id: i64, key: String, value: Value) {
    let Some(index) = field_index(&key) else {
        deal.extra.get_or_insert_default().insert(key, value);
        return;
    };
    let typed = match &value {
        Value::String(text) => set_typed(codes, deal, id, SLOTS[index], text),
        _ => false,
    };
    if typed {
        clear_override(deal, index);
    } else {
        deal.extra.get_or_insert_default().insert(key, value);
    }
}

fn clear_override(deal: &mut Deal, field: usize) {
    if let Some(extra) = deal.extra.as_mut() {
        extra.shift_remove(FIELDS[field]);
    }
}

/// Stores `text` in its slot if it prints back identically.
fn set_typed(codes: &mut Codes, deal: &mut Deal, id: i64, slot: Slot, text: &str) -> bool {
    match slot {
        Slot::Id => false,
        Slot::Title => {
            deal.title = (text != default_title(id)).then(|| text.into());
            true
        }
        // Empty is the default; anything else lives in the extra map.
        Slot::Rare => text.is_empty(),
        Slot::Code(i) => match codes.intern(text) {
            Some(code) => {
                deal.codes[i] = code;
                true
            }
            None => false,
        },
        Slot::Int(i) => match exact_int(text) {
            Some(n) => {
                deal.ints[i] = n;
                true
            }
            None => false,
        },
        Slot::OptInt(i) => {
            if text.is_empty() {
                deal.opt_ints[i] = NONE;
                return true;
            }
            match exact_int(text).filter(|n| *n != NONE) {
                Some(n) => {
                    deal.opt_ints[i] = n;
                    true
                }
                None => false,
            }
        }
        Slot::Money(i) => match parse_money(text) {
            Some((units, scale)) => {
                deal.money[i] = units;
                deal.scales[i] = scale;
                true
            }
            None => false,
        },
        Slot::Flag(bit) => match text {
            "Y" => {
                deal.flags |= 1 << bit;
                true
            }
            "N" => {
                deal.flags &= !(1 << bit);
                true
            }
            _ => false,
        },
        Slot::Date(i) => match parse_date(text) {
            Some(secs) => {
                deal.dates[i] = secs;
                true
            }
            None => false,
        },
    }
}

fn default_title(id: i64) -> String {
    format!("Deal #{id}")
}

/// An integer that prints back as `text`.
fn exact_int(text: &str) -> Option<i64> {
    let n: i64 = text.parse().ok()?;
    (n.to_string() == text).then_some(n)
}

/// `"1500.50"` -> `(150050, 2)`, only for text that [`format_money`] prints back identically.
fn parse_money(text: &str) -> Option<(i64, u8)> {
    let (int_part, frac) = match text.split_once('.') {
        Some((i, f)) => (i, f),
        None => (text, ""),
    };
    let digits = int_part.strip_prefix('-').unwrap_or(int_part);
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 9
        || (text.contains('.') && frac.is_empty())
    {
        return None;
    }
    let scale = u8::try_from(frac.len()).ok()?;
    let joined: i64 = format!("{int_part}{frac}").parse().ok()?;
    (format_money(joined, scale) == text).then_some((joined, scale))
}

fn format_money(units: i64, scale: u8) -> String {
    if scale == 0 {
        return units.to_string();
    }
    let divisor = 10_i128.pow(u32::from(scale));
    let units = i128::from(units);
    let sign = if units < 0 { "-" } else { "" };
    let abs = units.abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / divisor,
        abs % divisor,
        width = usize::from(scale)
    )
}

/// `2024-08-29T10:29:54+00:00` -> unix seconds, only for UTC text in exactly that form.
fn parse_date(text: &str) -> Option<i64> {
    let parsed = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    let secs = parsed.timestamp();
    (format_date(secs) == text).then_some(secs)
}

/// Unix seconds as `2024-08-29T10:29:54+00:00`. Written by hand because list pages format
/// four dates a row and chrono's formatter dominated the profile.
pub(crate) fn format_date(secs: i64) -> String {
    use std::fmt::Write;
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return chrono::DateTime::from_timestamp(secs, 0)
            .map(|d| d.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
            .unwrap_or_default();
    }
    let mut out = String::with_capacity(25);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+00:00",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    );
    out
}

/// The proleptic Gregorian date of a day count from 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn values_print_back_exactly_as_written() {
        let mut store = DealStore::new();
        let id = store.insert(
            fields(json!({
                "TITLE": "Roof",
                "OPPORTUNITY": 1500.5,
                "TAX_VALUE": "007",
                "CONTACT_ID": "",
                "PROBABILITY": 30,
                "CLOSEDATE": "2025-01-01",
                "OPENED": true,
                "STAGE_ID": "WON",
                "CONTACT_IDS": [3, 4],
                "UF_CRM_1": "x",
            })),
            2,
            1_700_000_000,
        );
        let deal = store.get(id).unwrap();
        assert_eq!(deal["TITLE"], "Roof");
        assert_eq!(deal["OPPORTUNITY"], "1500.5");
        assert_eq!(deal["TAX_VALUE"], "007");
        assert_eq!(deal["CONTACT_ID"], "");
        assert_eq!(deal["PROBABILITY"], "30");
        assert_eq!(deal["CLOSEDATE"], "2025-01-01");
        assert_eq!(deal["OPENED"], "Y");
        assert_eq!(deal["STAGE_ID"], "WON");
        assert_eq!(deal["CONTACT_IDS"], json!([3, 4]));
        assert_eq!(deal["DATE_CREATE"], "2023-11-14T22:13:20+00:00");
        assert_eq!(deal["ASSIGNED_BY_ID"], "2");
        let keys: Vec<&String> = deal.keys().collect();
        assert_eq!(keys[0], "ID");
        assert_eq!(keys[30], "CONTACT_IDS");
        assert_eq!(keys[31], "UF_CRM_1");

        assert!(store.update(id, fields(json!({"TAX_VALUE": "1.00"})), 3, 1_700_000_100));
        let deal = store.get(id).unwrap();
        assert_eq!(deal["TAX_VALUE"], "1.00");
        assert_eq!(deal["MODIFY_BY_ID"], "3");
        assert_eq!(deal.len(), 32);
    }

    #[test]
    fn a_deal_is_small_and_deleted_slots_are_reused() {
        assert!(size_of::<Deal>() <= 144, "{}", size_of::<Deal>());
        let mut store = DealStore::new();
        store.seed(3, 1, 0);
        assert!(store.remove(2));
        assert!(!store.remove(2));
        assert!(store.get(2).is_none());
        let id = store.insert(fields(json!({"COMMENTS": "x"})), 1, 0);
        assert_eq!(id, 4);
        assert_eq!(store.slab.len(), 3, "the deleted slot is reused");
        let deal = store.get(4).unwrap();
        assert_eq!(
            (&deal["COMMENTS"], &deal["TITLE"]),
            (&json!("x"), &json!("Deal #4"))
        );
        let keys: Vec<&String> = deal.keys().collect();
        assert_eq!(keys[17], "COMMENTS", "an override keeps the field's place");
        let ids: Vec<i64> = store
            .range(i64::MIN, i64::MAX, false)
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, [1, 3, 4]);
    }

    #[test]
    fn dates_format_like_chrono() {
        for secs in [
            0,
            951_782_400,
            1_700_000_000,
            4_102_444_799,
            -86_401,
            1_709_164_800,
        ] {
            let chrono = chrono::DateTime::from_timestamp(secs, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S+00:00")
                .to_string();
            assert_eq!(format_date(secs), chrono, "{secs}");
            assert_eq!(parse_date(&chrono), Some(secs));
        }
    }

    #[test]
    fn money_round_trips_or_refuses() {
        for text in ["0.00", "1500.5", "-0.5", "12", "37.00", "9.123456789"] {
            let (units, scale) = parse_money(text).unwrap();
            assert_eq!(format_money(units, scale), text);
        }
        for text in [
            "007",
            "-0",
            "1.",
            ".5",
            "1e3",
            "",
            "-",
            "1.2.3",
            "99999999999999999999",
        ] {
            assert!(parse_money(text).is_none(), "{text}");
        }
    }

    #[test]
    fn seeded_deals_have_default_titles_without_allocating() {
        let mut store = DealStore::new();
        store.seed(3, 1, 0);
        assert_eq!(store.get(2).unwrap()["TITLE"], "Deal #2");
        assert_eq!(store.get(2).unwrap()["OPPORTUNITY"], "74.00");
        let ids: Vec<i64> = store.range(2, i64::MAX, true).map(|(id, _)| id).collect();
        assert_eq!(ids, [3, 2]);
        assert_eq!(store.range(5, 1, false).count(), 0);
        assert_eq!(store.insert(Map::new(), 1, 0), 4);
    }
}
