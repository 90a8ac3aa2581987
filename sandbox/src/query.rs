//! List queries of the classic API: `filter`, `order`, `start` paging, over any rows keyed by
//! an integer id.
//!
//! Conditions on the id (`>ID`, `>=ID`, `<ID`, `<=ID`, `=ID` with an integer) become a key
//! range, and an order by the id alone (or none) walks that range in order, so a keyset page
//! (`start=-1`) stops after one page of matches. An offset page (`start=N`) reports `total` and
//! therefore counts every match; any other order collects and sorts the matches. Both are what
//! a database does for the same query, and the number of rows looked at is reported so the
//! operating-time model can charge for it.

use std::cmp::Ordering;

use serde_json::Value;

use super::params::{ApiErr, Params, float, int, text};

/// Rows per list page, as on every portal.
pub(crate) const PAGE: usize = 50;

/// One `filter` condition: `>OPPORTUNITY`, `!@STAGE_ID`, `%TITLE`, ...
pub(crate) struct Condition {
    pub(crate) field: String,
    op: &'static str,
    value: Value,
}

const OPERATORS: &[&str] = &["!@", "!=", ">=", "<=", "@", "!", ">", "<", "=", "%"];

impl Condition {
    pub(crate) fn parse(key: &str, value: &Value) -> Self {
        let op = OPERATORS
            .iter()
            .find(|op| key.starts_with(**op))
            .copied()
            .unwrap_or("=");
        let field = key.strip_prefix(op).unwrap_or(key).to_owned();
        Self {
            field,
            op,
            value: value.clone(),
        }
    }

    /// Whether a row whose field holds `have` matches.
    pub(crate) fn matches(&self, have: &Value) -> bool {
        let in_list = || match &self.value {
            Value::Array(items) => items.iter().any(|v| compare(have, v) == Ordering::Equal),
            Value::Object(map) => map.values().any(|v| compare(have, v) == Ordering::Equal),
            other => compare(have, other) == Ordering::Equal,
        };
        match self.op {
            "=" => compare(have, &self.value) == Ordering::Equal,
            "!" | "!=" => compare(have, &self.value) != Ordering::Equal,
            ">" => compare(have, &self.value) == Ordering::Greater,
            ">=" => compare(have, &self.value) != Ordering::Less,
            "<" => compare(have, &self.value) == Ordering::Less,
            "<=" => compare(have, &self.value) != Ordering::Greater,
            "@" => in_list(),
            "!@" => !in_list(),
            "%" => {
                let needle = text(&self.value).unwrap_or_default().to_lowercase();
                text(have)
                    .unwrap_or_default()
                    .to_lowercase()
                    .contains(&needle)
            }
            _ => false,
        }
    }

    /// The id range this condition allows, if it is an integer bound on `id_field`.
    fn id_bounds(&self, id_field: &str) -> Option<(i64, i64)> {
        if self.field != id_field {
            return None;
        }
        let v = int(&self.value)?;
        match self.op {
            ">" => Some((v.saturating_add(1), i64::MAX)),
            ">=" => Some((v, i64::MAX)),
            "<" => Some((i64::MIN, v.saturating_sub(1))),
            "<=" => Some((i64::MIN, v)),
            "=" => Some((v, v)),
            _ => None,
        }
    }
}

/// Compares as numbers when both sides are numeric, else as text: what a portal's SQL does
/// with numeric columns and string columns.
pub(crate) fn compare(a: &Value, b: &Value) -> Ordering {
    match (float(a), float(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => text(a)
            .unwrap_or_default()
            .cmp(&text(b).unwrap_or_default()),
    }
}

/// A parsed list request.
pub(crate) struct ListQuery {
    conditions: Vec<Condition>,
    order: Vec<(String, bool)>,
    start: i64,
    /// Inclusive id range implied by the id conditions.
    pub(crate) lo: i64,
    pub(crate) hi: i64,
    /// `Some(descending)` when rows come in id order and need no sort.
    keyed: Option<bool>,
}

/// One page of a list, with how many rows it took to find it.
pub(crate) struct Page<R> {
    pub(crate) rows: Vec<R>,
    pub(crate) total: Option<i64>,
    pub(crate) next: Option<i64>,
    pub(crate) examined: u64,
}

impl ListQuery {
    pub(crate) fn parse(params: &Params, id_field: &str) -> Result<Self, ApiErr> {
        let mut conditions: Vec<Condition> = params
            .obj("filter")
            .map(|f| f.iter().map(|(k, v)| Condition::parse(k, v)).collect())
            .unwrap_or_default();
        let (mut lo, mut hi) = (i64::MIN, i64::MAX);
        conditions.retain(|c| match c.id_bounds(id_field) {
            Some((l, h)) => {
                lo = lo.max(l);
                hi = hi.min(h);
                false
            }
            None => true,
        });
        let order: Vec<(String, bool)> = params
            .obj("order")
            .map(|o| {
                o.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            text(v).is_some_and(|d| d.eq_ignore_ascii_case("DESC")),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let keyed = match order.as_slice() {
            [] => Some(false),
            [(field, desc)] if field == id_field => Some(*desc),
            _ => None,
        };
        Ok(Self {
            conditions,
            order,
            start: params.int("start")?.unwrap_or(0),
            lo,
            hi,
            keyed,
        })
    }

    /// Whether the rows should be fed in descending id order.
    pub(crate) fn descending(&self) -> bool {
        self.keyed == Some(true)
    }

    /// Cuts one page out of `rows` (in id order, descending if [`Self::descending`]), reading
    /// fields through `field`. `start=-1` returns the first page without counting (no `total`,
    /// no `next`): the cheap mode for walking by id.
    pub(crate) fn run<R>(
        &self,
        rows: impl Iterator<Item = R>,
        field: impl Fn(&R, &str) -> Value,
    ) -> Page<R> {
        let matches = |row: &R| {
            self.conditions
                .iter()
                .all(|c| c.matches(&field(row, &c.field)))
        };
        let mut examined = 0_u64;
        let counted = rows.inspect(|_| examined += 1).filter(|r| matches(r));
        let (rows, total, next) = if self.keyed.is_some() {
            cut(self.start, counted)
        } else {
            let mut keyed: Vec<(Vec<Value>, R)> = counted
                .map(|row| {
                    let keys = self.order.iter().map(|(f, _)| field(&row, f)).collect();
                    (keys, row)
                })
                .collect();
            keyed.sort_by(|(a, _), (b, _)| {
                for ((x, y), (_, desc)) in a.iter().zip(b).zip(&self.order) {
                    let ord = compare(x, y);
                    if ord != Ordering::Equal {
                        return if *desc { ord.reverse() } else { ord };
                    }
                }
                Ordering::Equal
            });
            cut(self.start, keyed.into_iter().map(|(_, r)| r))
        };
        Page {
            rows,
            total,
            next,
            examined,
        }
    }
}

/// Cuts the page at `start` out of `rows` (already filtered and in order), with `total` and
/// `next`. `start=-1` returns the first page without counting (no `total`, no `next`) and stops
/// reading after it; any other start reads every row to count them.
pub(crate) fn cut<R>(
    start: i64,
    rows: impl Iterator<Item = R>,
) -> (Vec<R>, Option<i64>, Option<i64>) {
    if start == -1 {
        return (rows.take(PAGE).collect(), None, None);
    }
    let start = usize::try_from(start).unwrap_or(0);
    let mut total = 0_usize;
    let mut page = Vec::new();
    for row in rows {
        if total >= start && total < start + PAGE {
            page.push(row);
        }
        total += 1;
    }
    let next = (start + PAGE < total).then(|| (start + PAGE) as i64);
    (page, Some(total as i64), next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query(params: Value) -> ListQuery {
        let Value::Object(map) = params else {
            unreachable!()
        };
        ListQuery::parse(&Params(map), "ID").unwrap()
    }

    #[test]
    fn conditions_compare_numbers_as_numbers() {
        assert!(Condition::parse(">ID", &json!(9)).matches(&json!("10")));
        assert!(!Condition::parse(">ID", &json!("10")).matches(&json!("10")));
        assert!(Condition::parse("@ID", &json!(["3", 10])).matches(&json!("10")));
        assert!(Condition::parse("%TITLE", &json!("big")).matches(&json!("Big Deal")));
        assert!(Condition::parse("!TITLE", &json!("x")).matches(&json!("Big Deal")));
    }

    #[test]
    fn keyset_pages_look_at_one_page_of_rows() {
        let q = query(json!({"filter": {">ID": 100}, "order": {"ID": "ASC"}, "start": -1}));
        assert_eq!((q.lo, q.hi), (101, i64::MAX));
        let page = q.run(q.lo..=1000, |id, _| json!(id.to_string()));
        assert_eq!(page.rows.first(), Some(&101));
        assert_eq!(page.rows.len(), PAGE);
        assert_eq!(page.examined, PAGE as u64);
        assert_eq!(page.total, None);
    }

    #[test]
    fn offset_pages_count_every_match() {
        let q = query(json!({"start": 50}));
        let page = q.run(1..=1000_i64, |id, _| json!(id.to_string()));
        assert_eq!(page.rows.first(), Some(&51));
        assert_eq!(
            (page.total, page.next, page.examined),
            (Some(1000), Some(100), 1000)
        );
    }

    #[test]
    fn other_orders_sort_the_matches() {
        let q = query(json!({"order": {"N": "DESC"}, "filter": {"<=ID": 10}}));
        assert_eq!(q.hi, 10);
        let page = q.run(
            1..=10_i64,
            |id, f| {
                if f == "N" { json!(id % 3) } else { json!(id) }
            },
        );
        assert_eq!(&page.rows[..4], &[2, 5, 8, 1]);
        assert_eq!(page.total, Some(10));
    }
}
