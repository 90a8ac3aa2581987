//! Reads a whole list over the SDK's public call path ([`Client::call_raw`] and `batch`),
//! in order, from a point where an interrupted export stopped.
//!
//! The strategies are the SDK's (see `bitrix24::paging`); this copy exists because an export
//! must resume *exactly* after the last row it wrote, which the SDK's typed streams can't be
//! told to do (an id bound in the filter switches their keyset walk off), and because the CLI
//! reads methods by name, untyped:
//!
//! - **keyset** (methods the schema marks so, with no custom order or id filter): one probe
//!   `batch` finds the count and the first and last id after the resume point; the id span is
//!   cut into sub-ranges of about 50 rows, 50 sub-ranges to a `batch` call, several calls in
//!   flight, results yielded in id order. A resume starts the probe after the last written id.
//! - **offset**: a counted first page, then the remaining `start` offsets 50 to a `batch`
//!   call (methods that can't run in `batch` page one call at a time). A resume starts at the
//!   number of rows written, a multiple of 50.
//! - **next**: one call at a time, following `next`, for methods outside the schema.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bitrix24::{ApiError, CallOptions, Client, Error, ErrorCode};
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::{Map, Value, json};

/// Rows per page on every portal.
pub const PAGE: usize = 50;
/// Commands per `batch` call.
const MAX_COMMANDS: usize = 50;

/// How a list is walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Keyset,
    Offset,
    Next,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Self::Keyset => "keyset",
            Self::Offset => "offset",
            Self::Next => "next",
        }
    }
}

/// Where the rows are in `result`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Items {
    /// `result` is the list.
    List,
    /// Find out from the answer: the list itself, `items`, or the one list-valued member.
    Detect,
}

/// A list read.
#[derive(Debug, Clone)]
pub struct Spec {
    pub method: String,
    /// The caller's parameters, without `start`.
    pub params: Map<String, Value>,
    pub mode: Mode,
    pub batchable: bool,
    pub rest_v3: bool,
    pub id_field: String,
    pub items: Items,
    pub concurrency: usize,
}

/// Where to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Fresh,
    /// Keyset: after this id.
    AfterId(i64),
    /// Offset and next: at this row.
    AtOffset(u64),
}

/// What the walk yields, in order.
#[derive(Debug)]
pub enum Event {
    /// Rows still to read from the start point, once counted.
    Total(u64),
    /// The next rows.
    Rows(Vec<Value>),
    /// The walk changed strategy; says why.
    Fallback(Mode, String),
}

/// HTTP requests sent so far.
#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
}

type Events = BoxStream<'static, Result<Event, Error>>;

struct Walk {
    client: Client,
    spec: Spec,
    counters: Arc<Counters>,
}

/// Reads the list from `start`; the stream ends after the first error.
pub fn read(client: Client, spec: Spec, start: Start) -> (Events, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    let walk = Arc::new(Walk {
        client,
        spec,
        counters: counters.clone(),
    });
    let events = match (walk.spec.mode, start) {
        (Mode::Keyset, Start::AfterId(id)) => keyset(walk, Some(id)),
        (Mode::Keyset, _) => keyset(walk, None),
        (Mode::Offset, Start::AtOffset(n)) => offset(walk, n),
        (Mode::Offset, _) => offset(walk, 0),
        (Mode::Next, Start::AtOffset(n)) => next_pages(walk, n),
        (Mode::Next, _) => next_pages(walk, 0),
    };
    (until_error(events), counters)
}

/// Yields items until the first error, which it yields too.
fn until_error(events: Events) -> Events {
    events
        .scan(false, |failed, item| {
            if *failed {
                return futures::future::ready(None);
            }
            *failed = item.is_err();
            futures::future::ready(Some(item))
        })
        .boxed()
}

/// One page of rows with what the envelope said about the list.
struct Page {
    rows: Vec<Value>,
    total: Option<i64>,
    next: Option<i64>,
}

impl Walk {
    fn id(&self) -> &str {
        &self.spec.id_field
    }

    /// The caller's parameters with `start`, an optional id order, and extra filter entries.
    fn params_with(&self, start: i64, order: Option<&str>, filter: &[(String, Value)]) -> Value {
        let mut params = self.spec.params.clone();
        params.insert("start".to_owned(), json!(start));
        if let Some(direction) = order {
            params.insert("order".to_owned(), json!({ self.id(): direction }));
        }
        if !filter.is_empty() {
            let entry = params.entry("filter").or_insert_with(|| json!({}));
            if !entry.is_object() {
                *entry = json!({});
            }
            if let Value::Object(map) = entry {
                for (key, value) in filter {
                    map.insert(key.clone(), value.clone());
                }
            }
        }
        Value::Object(params)
    }

    fn error(&self, message: String) -> Error {
        Error::Decode {
            method: self.spec.method.clone(),
            status: 200,
            message,
            body_start: String::new(),
        }
    }

    /// One call outside `batch`.
    async fn call(&self, params: Value) -> Result<Page, Error> {
        let body = serde_json::to_vec(&params).map_err(|e| Error::Encode {
            method: self.spec.method.clone(),
            message: e.to_string(),
        })?;
        let options = CallOptions::default()
            .idempotent(true)
            .rest_v3(self.spec.rest_v3);
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let response = self
            .client
            .call_raw(&self.spec.method, &body, options)
            .await?;
        let result: Value = serde_json::from_str(response.result_json())
            .map_err(|e| self.error(format!("result: {e}")))?;
        Ok(Page {
            rows: self.rows_of(result)?,
            total: response.total(),
            next: response.next(),
        })
    }

    /// Several calls of the method in one `batch`, their pages in order.
    async fn batch(&self, commands: Vec<Value>) -> Result<Vec<Page>, Error> {
        let mut cmd = Map::new();
        for (i, params) in commands.iter().enumerate() {
            let mut line = String::with_capacity(128);
            line.push_str(&self.spec.method);
            line.push('?');
            bitrix24::wire::php::encode_into(&mut line, params);
            cmd.insert(format!("p{i}"), Value::String(line));
        }
        let body =
            serde_json::to_vec(&json!({ "halt": 1, "cmd": cmd })).map_err(|e| Error::Encode {
                method: "batch".to_owned(),
                message: e.to_string(),
            })?;
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let response = self
            .client
            .call_raw("batch", &body, CallOptions::default().idempotent(true))
            .await?;
        let mut answer: Value = serde_json::from_str(response.result_json())
            .map_err(|e| self.error(format!("batch result: {e}")))?;
        let mut take = |section: &str, key: &str| -> Option<Value> {
            answer
                .get_mut(section)
                .and_then(Value::as_object_mut)
                .and_then(|m| m.remove(key))
        };
        let mut pages = Vec::with_capacity(commands.len());
        for i in 0..commands.len() {
            let key = format!("p{i}");
            let Some(result) = take("result", &key) else {
                let error = take("result_error", &key).unwrap_or(Value::Null);
                let text = |k: &str| {
                    error
                        .get(k)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned()
                };
                let description = match text("error_description") {
                    d if d.is_empty() && error.is_null() => "no result in batch".to_owned(),
                    d => d,
                };
                return Err(Error::Api(ApiError {
                    method: self.spec.method.clone(),
                    code: ErrorCode::from(text("error").as_str()),
                    description,
                    status: 200,
                }));
            };
            let number = |v: Option<Value>| match v {
                Some(Value::Number(n)) => n.as_i64(),
                Some(Value::String(s)) => s.parse().ok(),
                _ => None,
            };
            pages.push(Page {
                rows: self.rows_of(result)?,
                total: number(take("result_total", &key)),
                next: number(take("result_next", &key)),
            });
        }
        Ok(pages)
    }

    /// The rows inside a `result`.
    fn rows_of(&self, result: Value) -> Result<Vec<Value>, Error> {
        let list = match (&self.spec.items, result) {
            (Items::Detect, Value::Object(mut map)) if !numeric_keys(&map) => {
                let key = if map.get("items").is_some_and(is_listish) {
                    Some("items".to_owned())
                } else {
                    let lists: Vec<&String> = map
                        .iter()
                        .filter(|(_, v)| is_listish(v))
                        .map(|(k, _)| k)
                        .collect();
                    match lists.as_slice() {
                        [one] => Some((*one).clone()),
                        _ => None,
                    }
                };
                match key {
                    Some(key) => map.remove(&key).unwrap_or(Value::Null),
                    None => {
                        let keys: Vec<&str> = map.keys().map(String::as_str).take(8).collect();
                        return Err(self.error(format!(
                            "the result is not a list (an object with {}); call it with b24 call",
                            keys.join(", ")
                        )));
                    }
                }
            }
            (_, other) => other,
        };
        match list {
            Value::Array(rows) => Ok(rows),
            // A PHP array with gaps, or an empty one.
            Value::Object(map) if numeric_keys(&map) => {
                Ok(map.into_iter().map(|(_, v)| v).collect())
            }
            Value::Null => Ok(Vec::new()),
            Value::Bool(false) => Ok(Vec::new()),
            other => Err(self.error(format!(
                "the result is not a list but {}",
                match other {
                    Value::String(_) => "a string",
                    Value::Number(_) => "a number",
                    Value::Bool(_) => "a boolean",
                    _ => "an object",
                }
            ))),
        }
    }
}

fn numeric_keys(map: &Map<String, Value>) -> bool {
    map.keys().all(|k| k.parse::<u64>().is_ok())
}

fn is_listish(value: &Value) -> bool {
    match value {
        Value::Array(_) => true,
        Value::Object(map) => !map.is_empty() && numeric_keys(map),
        _ => false,
    }
}

/// Whether the row at index `rows - 1` of the list (the last one an interrupted export wrote)
/// still has id `last_id`: if rows were added or removed before it, offset paging would
/// resume with duplicates or gaps.
pub async fn still_at(
    client: &Client,
    spec: &Spec,
    rows: u64,
    last_id: i64,
) -> Result<bool, Error> {
    let walk = Walk {
        client: client.clone(),
        spec: spec.clone(),
        counters: Arc::new(Counters::default()),
    };
    let index = rows.saturating_sub(1);
    let page_start = index / PAGE as u64 * PAGE as u64;
    let page = walk
        .call(walk.params_with(page_start as i64, None, &[]))
        .await?;
    let row = page.rows.get((index - page_start) as usize);
    Ok(row.and_then(|r| row_id(r, &spec.id_field)) == Some(last_id))
}

/// A row's id, as a number or a numeric string.
pub fn row_id(row: &Value, id_field: &str) -> Option<i64> {
    match row.get(id_field)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

// ------------------------------------------------------------------ keyset

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    /// Inclusive.
    from: i64,
    /// Exclusive.
    to: i64,
}

fn keyset(walk: Arc<Walk>, after: Option<i64>) -> Events {
    let plan = async move {
        let id = walk.id().to_owned();
        let lower: Vec<(String, Value)> = after
            .map(|a| vec![(format!(">{id}"), json!(a))])
            .unwrap_or_default();
        let mut first = walk.params_with(0, Some("ASC"), &lower);
        first["select"] = json!([id]);
        let mut last = walk.params_with(-1, Some("DESC"), &lower);
        last["select"] = json!([id]);
        let probe = walk.batch(vec![first, last]).await?;
        let total = probe[0].total;
        let bounds = (
            probe[0].rows.first().and_then(|r| row_id(r, &id)),
            probe[1].rows.first().and_then(|r| row_id(r, &id)),
        );
        Ok::<_, Error>((walk, total, bounds, probe[0].rows.is_empty()))
    };
    stream::once(plan)
        .flat_map(move |planned| match planned {
            Err(e) => stream::iter(vec![Err(e)]).boxed(),
            Ok((_, _, _, true)) => stream::iter(vec![Ok(Event::Total(0))]).boxed(),
            Ok((walk, total, (Some(min), Some(max)), false)) if min <= max => {
                let spans = sub_ranges(min, max, total);
                let chunks: Vec<Vec<Span>> =
                    spans.chunks(MAX_COMMANDS).map(<[Span]>::to_vec).collect();
                let concurrency = walk.spec.concurrency;
                let head = stream::iter(total.map(|t| Ok(Event::Total(t.max(0) as u64))));
                let rows = stream::iter(chunks)
                    .map(move |chunk| read_spans(walk.clone(), chunk))
                    .buffered(concurrency)
                    .map(|rows| rows.map(Event::Rows));
                head.chain(rows).boxed()
            }
            Ok((walk, _, _, false)) => {
                // Rows without a usable id: the schema's id field is not in them. Offset
                // paging still reads everything (a resume then goes by row count).
                let why = format!(
                    "the rows have no numeric {} field; reading by offset instead",
                    walk.id()
                );
                let mut spec = walk.spec.clone();
                spec.mode = Mode::Offset;
                let walk = Arc::new(Walk {
                    client: walk.client.clone(),
                    spec,
                    counters: walk.counters.clone(),
                });
                stream::iter(vec![Ok(Event::Fallback(Mode::Offset, why))])
                    .chain(offset(walk, 0))
                    .boxed()
            }
        })
        .boxed()
}

/// Sub-ranges of `[min, max]` expected to hold at most a page each: 50 ids when ids are
/// dense, wider in proportion when they are sparse (the SDK's rule).
fn sub_ranges(min: i64, max: i64, total: Option<i64>) -> Vec<Span> {
    let span = (max - min + 1).max(1) as f64;
    let density = total.map_or(1.0, |t| (t.max(1) as f64 / span).min(1.0));
    let width = if density > 0.95 {
        PAGE as i64
    } else {
        ((45.0 / density) as i64).max(PAGE as i64)
    };
    let mut spans = Vec::new();
    let mut from = min;
    while from <= max {
        let to = from.saturating_add(width).min(max.saturating_add(1));
        spans.push(Span { from, to });
        from = to;
    }
    spans
}

/// Reads sub-ranges in `batch` calls; one that came back full is continued from its last id.
/// Rows come out in id order.
async fn read_spans(walk: Arc<Walk>, spans: Vec<Span>) -> Result<Vec<Value>, Error> {
    let id = walk.id().to_owned();
    let mut pages: Vec<Vec<Value>> = spans.iter().map(|_| Vec::new()).collect();
    let mut pending: Vec<(usize, Span)> = spans.iter().copied().enumerate().collect();
    while !pending.is_empty() {
        let take = pending.len().min(MAX_COMMANDS);
        let round: Vec<(usize, Span)> = pending.drain(..take).collect();
        let commands = round
            .iter()
            .map(|(_, span)| {
                let bounds = [
                    (format!(">={id}"), json!(span.from)),
                    (format!("<{id}"), json!(span.to)),
                ];
                walk.params_with(-1, Some("ASC"), &bounds)
            })
            .collect();
        let answers = walk.batch(commands).await?;
        for ((index, span), page) in round.into_iter().zip(answers) {
            if page.rows.len() >= PAGE
                && let Some(last) = page.rows.last().and_then(|r| row_id(r, &id))
                && last + 1 < span.to
            {
                pending.push((
                    index,
                    Span {
                        from: last + 1,
                        to: span.to,
                    },
                ));
            }
            pages[index].extend(page.rows);
        }
    }
    Ok(pages.into_iter().flatten().collect())
}

// ------------------------------------------------------------------ offset

fn offset(walk: Arc<Walk>, from: u64) -> Events {
    let first = async move {
        let page = walk.call(walk.params_with(from as i64, None, &[])).await?;
        Ok::<_, Error>((walk, page))
    };
    stream::once(first)
        .flat_map(move |first| match first {
            Err(e) => stream::iter(vec![Err(e)]).boxed(),
            Ok((walk, page)) => {
                let total = page.total.map(|t| t.max(0) as u64);
                let full = page.rows.len() >= PAGE;
                let mut head = Vec::new();
                if let Some(t) = total {
                    head.push(Ok(Event::Total(t.saturating_sub(from))));
                }
                head.push(Ok(Event::Rows(page.rows)));
                let head = stream::iter(head);
                match total {
                    Some(total) if full && walk.spec.batchable => {
                        let offsets: Vec<i64> = (from + PAGE as u64..total)
                            .step_by(PAGE)
                            .map(|o| o as i64)
                            .collect();
                        let chunks: Vec<Vec<i64>> =
                            offsets.chunks(MAX_COMMANDS).map(<[i64]>::to_vec).collect();
                        let concurrency = walk.spec.concurrency;
                        let rest = stream::iter(chunks)
                            .map(move |chunk| {
                                let walk = walk.clone();
                                async move {
                                    let commands = chunk
                                        .iter()
                                        .map(|&o| walk.params_with(o, None, &[]))
                                        .collect();
                                    let pages = walk.batch(commands).await?;
                                    Ok(Event::Rows(
                                        pages.into_iter().flat_map(|p| p.rows).collect(),
                                    ))
                                }
                            })
                            .buffered(concurrency);
                        head.chain(rest).boxed()
                    }
                    _ if full => head
                        .chain(follow(walk, page.next, from + PAGE as u64, false))
                        .boxed(),
                    _ => head.boxed(),
                }
            }
        })
        .boxed()
}

/// One call at a time from `from`, following `next`.
fn next_pages(walk: Arc<Walk>, from: u64) -> Events {
    follow(walk, Some(from as i64), from, true)
}

/// Pages from `start` (the envelope's `next`, else `expected`) until there is no `next`;
/// `count` says whether the first page's `total` is reported.
fn follow(walk: Arc<Walk>, start: Option<i64>, expected: u64, count: bool) -> Events {
    let first = start.unwrap_or(expected as i64);
    stream::unfold(Some((walk, first, count)), |state| async move {
        let (walk, start, first) = state?;
        match walk.call(walk.params_with(start, None, &[])).await {
            Err(e) => Some((Err(e), None)),
            Ok(page) => {
                let mut events = Vec::new();
                if first && let Some(total) = page.total {
                    events.push(Event::Total(
                        (total.max(0) as u64).saturating_sub(start as u64),
                    ));
                }
                let count = page.rows.len();
                events.push(Event::Rows(page.rows));
                // Stop at the end, and never walk backwards (a portal that repeats `next`).
                let next = page.next.filter(|&n| n > start && count > 0);
                Some((Ok(events), next.map(|n| (walk, n, false))))
            }
        }
    })
    .flat_map(|events| match events {
        Ok(events) => stream::iter(events.into_iter().map(Ok).collect::<Vec<_>>()).boxed(),
        Err(e) => stream::iter(vec![Err(e)]).boxed(),
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_ranges_cover_the_span_without_overlap() {
        let spans = sub_ranges(1, 120, Some(120));
        assert_eq!(spans.len(), 3);
        assert_eq!(spans[0], Span { from: 1, to: 51 });
        assert_eq!(spans[2], Span { from: 101, to: 121 });
        let sparse = sub_ranges(1, 10_000, Some(1_000));
        assert!(sparse.windows(2).all(|w| w[0].to == w[1].from));
        assert_eq!(sparse.last().unwrap().to, 10_001);
    }

    #[test]
    fn ids_are_numbers_or_numeric_strings() {
        assert_eq!(row_id(&json!({"ID": "42"}), "ID"), Some(42));
        assert_eq!(row_id(&json!({"id": 7}), "id"), Some(7));
        assert_eq!(row_id(&json!({"ID": "x"}), "ID"), None);
    }
}
