//! Lists as streams: every list method can be read item by item or page by page, in bounded
//! memory, with the cheapest paging the method allows.
//!
//! Bitrix24 lists come in pages of 50. The naive walk (`start=0, 50, 100, ...`) makes the portal
//! count all matching rows on every page and returns duplicates or gaps when rows change during
//! the walk. For methods the schema marks `keyset` (they accept `order[ID]=ASC`, `filter[>=ID]`,
//! `filter[<ID]` and `start=-1`), the stream instead:
//!
//! 1. sends one probe `batch`: the first row by id with a count (`total`), and the last row by id;
//! 2. cuts the id span into sub-ranges expected to hold at most 50 rows each (exactly 50 ids when
//!    ids are dense), 50 sub-ranges to a `batch` call, so one HTTP request reads up to 2,500
//!    rows and no page counts rows (`start=-1`);
//! 3. sends those batches concurrently (`ListOptions::concurrency`), yields them in id order, and
//!    holds at most that many batches in memory: the consumer's pace drives the requests;
//! 4. re-reads a sub-range that came back full from its last id, so sparse spans lose nothing.
//!
//! Sub-ranges are disjoint, so a row is never returned twice; a row deleted during the export is
//! simply not there, a surviving row is read exactly once. Rows created after the probe with ids
//! beyond the last one are not part of the export.
//!
//! Methods with `start` paging are read with one counted first page, then the remaining offsets
//! 50 to a `batch` call, concurrently; methods that cannot run in `batch` page one call at a time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use futures::stream::{self, BoxStream, StreamExt};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use serde_with::DeserializeAs;

use crate::batch::{CommandError, MAX_COMMANDS, command_line, send_batch};
use crate::codec::{List, Same};
use crate::error::Error;
use crate::{CallOptions, Client, Method, Paging, Request};

/// Rows a portal returns per list page.
pub const PAGE_SIZE: usize = 50;

/// A list method: where its rows are and how to walk them. Generated for every method with
/// paging in the schema.
pub trait ListMethod: Method {
    /// One row.
    type Item: Send + 'static;
    /// Decodes a row (see [`crate::codec`]).
    type ItemCodec: for<'de> DeserializeAs<'de, Self::Item>;
    /// The key of the row list inside `result` (`items` for `crm.item.list`); `None` when
    /// `result` is the list.
    const ITEMS_KEY: Option<&'static str>;
    /// The id field keyset paging orders and filters by (`ID`, or `id` for camelCase methods).
    const ID_FIELD: &'static str;
}

/// Progress of a list read, reported after every HTTP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Progress {
    /// Rows received so far.
    pub items: u64,
    /// Rows in the list, when the portal counted them.
    pub total: Option<u64>,
    /// HTTP requests sent for this list (a `batch` counts once).
    pub requests: u64,
    /// Requests that had to wait for the rate limiter, client-wide.
    pub limiter_waits: u64,
}

type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Where a list read starts: at the beginning, or where an interrupted read stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Resume {
    /// From the first row.
    #[default]
    Start,
    /// Keyset paging: the rows after this id (the last one already read).
    AfterId(i64),
    /// Offset paging: from this row (the number already read).
    AtOffset(u64),
}

/// How a list is read.
#[derive(Clone)]
pub struct ListOptions {
    concurrency: usize,
    keyset: bool,
    progress: Option<ProgressFn>,
    resume: Resume,
}

impl Default for ListOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            keyset: true,
            progress: None,
            resume: Resume::Start,
        }
    }
}

impl std::fmt::Debug for ListOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListOptions")
            .field("concurrency", &self.concurrency)
            .field("keyset", &self.keyset)
            .field("progress", &self.progress.is_some())
            .field("resume", &self.resume)
            .finish()
    }
}

impl ListOptions {
    /// `batch` calls in flight at once (default 4); also bounds how many are buffered.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Whether keyset paging may be used where the method supports it (default true).
    pub fn keyset(mut self, enabled: bool) -> Self {
        self.keyset = enabled;
        self
    }

    /// Starts where an interrupted read stopped; `total` then counts the rows still to read.
    pub fn resume(mut self, resume: Resume) -> Self {
        self.resume = resume;
        self
    }

    /// Calls `f` after every HTTP request with the progress so far (for progress bars).
    pub fn on_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Rows in the whole list, when the portal counted them.
    pub total: Option<i64>,
}

impl<M: ListMethod> Request<M> {
    /// Every row of the list, as a stream (see the [module](crate::paging) for how it pages).
    ///
    /// ```no_run
    /// # #![allow(deprecated)]
    /// # async fn run(client: bitrix24::Client) -> Result<(), bitrix24::Error> {
    /// use futures::TryStreamExt;
    /// let mut deals = client.crm_deal_list().filter(">OPPORTUNITY", 1000).stream();
    /// while let Some(deal) = deals.try_next().await? {
    ///     println!("{:?}", deal.title);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn stream(self) -> BoxStream<'static, Result<M::Item, Error>> {
        self.stream_with(ListOptions::default())
    }

    /// [`Request::stream`] with options.
    pub fn stream_with(self, options: ListOptions) -> BoxStream<'static, Result<M::Item, Error>> {
        self.pages_with(options)
            .flat_map(|page| match page {
                Ok(page) => stream::iter(page.items.into_iter().map(Ok).collect::<Vec<_>>()),
                Err(e) => stream::iter(vec![Err(e)]),
            })
            .boxed()
    }

    /// The list page by page.
    pub fn pages(self) -> BoxStream<'static, Result<Page<M::Item>, Error>> {
        self.pages_with(ListOptions::default())
    }

    /// [`Request::pages`] with options.
    pub fn pages_with(
        self,
        options: ListOptions,
    ) -> BoxStream<'static, Result<Page<M::Item>, Error>> {
        let (client, params) = self.into_parts();
        let spec = match serde_json::to_value(&params) {
            Ok(Value::Object(params)) => ListSpec {
                method: M::NAME.to_owned(),
                params,
                paging: M::PAGING,
                items_key: M::ITEMS_KEY.map(str::to_owned),
                id_field: M::ID_FIELD.to_owned(),
                batchable: M::BATCHABLE,
                rest_v3: M::REST_V3,
            },
            Ok(_) => return stream::iter(vec![Err(Error::encode(M::NAME, "not a map"))]).boxed(),
            Err(e) => {
                return stream::iter(vec![Err(Error::encode(M::NAME, e))]).boxed();
            }
        };
        let decoding = client.inner.decoding;
        raw_pages(client, spec, options)
            .map(move |page| {
                let page = page?;
                let items = decoding
                    .decode::<Vec<M::Item>, List<M::ItemCodec>>(M::NAME, "rows", page.rows.get())
                    .map_err(|message| Error::Decode {
                        method: M::NAME.to_owned(),
                        status: 200,
                        message,
                        body_start: crate::wire::envelope::body_start(page.rows.get()),
                    })?;
                Ok(Page {
                    items,
                    total: page.total,
                })
            })
            .boxed()
    }
}

/// A list method described at run time: what [`ListMethod`] says for generated methods, for
/// methods known only by name (tools, methods outside the schema).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ListSpec {
    /// Wire name.
    pub method: String,
    /// Parameters (`filter`, `select`, `order`, ...), without `start`.
    pub params: Map<String, Value>,
    /// `Keyset` walks by id; `Start` pages by offset (following `next` when the portal does not
    /// count rows).
    pub paging: Paging,
    /// Key of the row list inside `result`; `None` when `result` is the list (an object with an
    /// `items` list, or with a single list member, is read as that list).
    pub items_key: Option<String>,
    /// The id field keyset paging orders and filters by.
    pub id_field: String,
    /// Whether the method may run inside `batch` (pages are batched 50 to a call).
    pub batchable: bool,
    /// A REST 3.0 method.
    pub rest_v3: bool,
}

impl ListSpec {
    /// A batchable method paged by offset, rows in `result`, ids in `ID`.
    pub fn new(method: impl Into<String>, params: Map<String, Value>) -> Self {
        Self {
            method: method.into(),
            params,
            paging: Paging::Start,
            items_key: None,
            id_field: "ID".to_owned(),
            batchable: true,
            rest_v3: false,
        }
    }

    /// Sets the paging kind.
    pub fn paging(mut self, paging: Paging) -> Self {
        self.paging = paging;
        self
    }

    /// Sets where the rows are in `result`.
    pub fn items_key(mut self, key: Option<String>) -> Self {
        self.items_key = key;
        self
    }

    /// Sets the id field.
    pub fn id_field(mut self, field: impl Into<String>) -> Self {
        self.id_field = field.into();
        self
    }

    /// Sets whether the method may run inside `batch`.
    pub fn batchable(mut self, batchable: bool) -> Self {
        self.batchable = batchable;
        self
    }

    /// Marks a REST 3.0 method.
    pub fn rest_v3(mut self, rest_v3: bool) -> Self {
        self.rest_v3 = rest_v3;
        self
    }
}

impl Client {
    /// Every page of a list described at run time, rows as JSON: the same engine as
    /// [`Request::pages_with`], for methods known only by name.
    pub fn list_json(
        &self,
        spec: ListSpec,
        options: ListOptions,
    ) -> BoxStream<'static, Result<Page<Value>, Error>> {
        let method = spec.method.clone();
        raw_pages(self.clone(), spec, options)
            .map(move |page| {
                let page = page?;
                let items: Vec<Value> =
                    serde_json::from_str(page.rows.get()).map_err(|e| Error::Decode {
                        method: method.clone(),
                        status: 200,
                        message: format!("list rows: {e}"),
                        body_start: crate::wire::envelope::body_start(page.rows.get()),
                    })?;
                Ok(Page {
                    items,
                    total: page.total,
                })
            })
            .boxed()
    }
}

/// One page as JSON, not decoded yet.
struct RawPage {
    rows: Box<RawValue>,
    /// Rows in `rows`.
    count: usize,
    total: Option<i64>,
    /// The offset of the next page, when the portal says there is one.
    next: Option<i64>,
}

impl RawPage {
    fn new(rows: Box<RawValue>, total: Option<i64>, next: Option<i64>) -> Self {
        Self {
            count: row_count(&rows),
            rows,
            total,
            next,
        }
    }
}

/// Shared state of one list read.
struct Walk {
    client: Client,
    spec: ListSpec,
    options: ListOptions,
    items: AtomicU64,
    /// Rows in the list once counted; negative while unknown.
    total: AtomicI64,
    requests: AtomicU64,
}

impl Walk {
    fn new(client: Client, spec: ListSpec, options: ListOptions) -> Self {
        let (items, total, requests) = (AtomicU64::new(0), AtomicI64::new(-1), AtomicU64::new(0));
        Self {
            client,
            spec,
            options,
            items,
            total,
            requests,
        }
    }

    fn set_total(&self, total: Option<i64>) {
        if let Some(total) = total {
            self.total.store(total, Ordering::Relaxed);
        }
    }

    /// Counts a request and the rows it brought, and tells the progress callback.
    fn report(&self, rows: usize) {
        let items = self.items.fetch_add(rows as u64, Ordering::Relaxed) + rows as u64;
        let requests = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(progress) = &self.options.progress {
            let total = u64::try_from(self.total.load(Ordering::Relaxed)).ok();
            let limiter_waits = self.client.inner.limiter.waits().0;
            progress(&Progress {
                items,
                total,
                requests,
                limiter_waits,
            });
        }
    }

    /// The method's parameters with `overrides` applied (top-level keys; `filter` entries are
    /// merged into the caller's filter).
    fn params_with(
        &self,
        start: i64,
        order: Option<&str>,
        filter: &[(String, Value)],
    ) -> Map<String, Value> {
        let mut params = self.spec.params.clone();
        params.insert("start".to_owned(), json!(start));
        if let Some(direction) = order {
            params.insert(
                "order".to_owned(),
                json!({ self.spec.id_field.as_str(): direction }),
            );
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
        params
    }

    /// Sends one list call outside `batch`.
    async fn call(&self, params: Map<String, Value>) -> Result<RawPage, Error> {
        let body = serde_json::to_vec(&params).map_err(|e| Error::encode(&self.spec.method, e))?;
        let options = CallOptions::default()
            .idempotent(true)
            .rest_v3(self.spec.rest_v3);
        let response = self
            .client
            .call_raw(&self.spec.method, &body, options)
            .await?;
        let page = RawPage::new(
            rows_of(
                &self.spec.method,
                self.spec.items_key.as_deref(),
                response.result_json(),
            )?,
            response.total(),
            response.next(),
        );
        self.set_total(page.total);
        self.report(page.count);
        Ok(page)
    }

    /// Sends list calls as one `batch` and returns each command's rows and total, in order.
    /// `rows_are_items` is false for probes, whose rows are not part of the list read.
    async fn batch(
        &self,
        commands: Vec<Map<String, Value>>,
        rows_are_items: bool,
    ) -> Result<Vec<RawPage>, Error> {
        let count = commands.len();
        let mut cmd = Map::new();
        for (i, params) in commands.into_iter().enumerate() {
            let line = command_line(&self.spec.method, &Value::Object(params));
            cmd.insert(format!("p{i}"), Value::String(line));
        }
        let mut answer = send_batch(&self.client, cmd, true, true).await?;
        let mut pages = Vec::with_capacity(count);
        let mut rows_total = 0;
        for i in 0..count {
            let key = format!("p{i}");
            let Some(raw) = answer.result.remove(&key) else {
                let e = answer
                    .result_error
                    .remove(&key)
                    .unwrap_or_else(|| CommandError {
                        error: String::new(),
                        error_description: "no result in batch".to_owned(),
                    });
                return Err(Error::Api(e.into_api_error(&self.spec.method)));
            };
            let page = RawPage::new(
                rows_of(&self.spec.method, self.spec.items_key.as_deref(), raw.get())?,
                answer.result_total.get(&key).copied(),
                answer.result_next.get(&key).copied(),
            );
            rows_total += page.count;
            pages.push(page);
        }
        self.report(if rows_are_items { rows_total } else { 0 });
        Ok(pages)
    }
}

/// The row list inside a list method's `result`.
fn rows_of(method: &str, items_key: Option<&str>, result: &str) -> Result<Box<RawValue>, Error> {
    let decode_error = |e: serde_json::Error| Error::Decode {
        method: method.to_owned(),
        status: 200,
        message: format!("list result: {e}"),
        body_start: crate::wire::envelope::body_start(result),
    };
    match items_key {
        // A list, or an object holding one (`{"items": [...]}` or a single list member), as
        // untyped callers cannot know which.
        None if result.trim_start().starts_with('{') => {
            let map: BTreeMap<String, Box<RawValue>> =
                crate::codec::from_json_as::<_, crate::codec::Map<Same>>(result)
                    .map_err(decode_error)?;
            let lists: Vec<&Box<RawValue>> = map
                .values()
                .filter(|v| v.get().trim_start().starts_with('['))
                .collect();
            match (map.get("items"), lists.as_slice()) {
                (Some(items), _) => Ok(items.clone()),
                (None, [only]) => Ok((*only).clone()),
                _ => Err(decode_error(serde::de::Error::custom(
                    "no row list in the result",
                ))),
            }
        }
        None => RawValue::from_string(result.to_owned()).map_err(decode_error),
        Some(key) => {
            let mut map: BTreeMap<String, Box<RawValue>> =
                crate::codec::from_json_as::<_, crate::codec::Map<Same>>(result)
                    .map_err(decode_error)?;
            map.remove(key).map_or_else(
                || RawValue::from_string("[]".to_owned()).map_err(decode_error),
                Ok,
            )
        }
    }
}

/// Rows in a page; an empty PHP value counts as none.
fn row_count(rows: &RawValue) -> usize {
    serde_json::from_str::<Vec<serde::de::IgnoredAny>>(rows.get()).map_or(0, |v| v.len())
}

/// Ids of a page's rows, in order: each row's `id_field` is read, every other member skipped
/// (no row is built; a page that is not a list of objects has none).
fn ids(rows: &RawValue, id_field: &str) -> Vec<i64> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    /// The rows, or one row: `Rows(field)` reads a list, `Row(field)` an object.
    struct Rows<'f>(&'f str);
    struct Row<'f>(&'f str);

    impl<'de> Visitor<'de> for Rows<'_> {
        type Value = Vec<i64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of rows")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<i64>, A::Error> {
            let mut ids = Vec::with_capacity(seq.size_hint().unwrap_or(PAGE_SIZE));
            while let Some(id) = seq.next_element_seed(Row(self.0))? {
                ids.extend(id);
            }
            Ok(ids)
        }
    }

    impl<'de> DeserializeSeed<'de> for Row<'_> {
        type Value = Option<i64>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<i64>, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Row<'_> {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a row")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<i64>, A::Error> {
            let mut id = None;
            while let Some(key) = map.next_key_seed(crate::decode::TextSeed)? {
                if key == self.0 {
                    id = as_id(&map.next_value::<Value>()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(id)
        }
    }

    serde_json::Deserializer::from_str(rows.get())
        .deserialize_seq(Rows(id_field))
        .unwrap_or_default()
}

fn as_id(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn raw_pages(
    client: Client,
    spec: ListSpec,
    options: ListOptions,
) -> BoxStream<'static, Result<RawPage, Error>> {
    // Keyset paging needs the id order and the id bounds to be ours.
    let id_field = spec.id_field.as_str();
    let custom_order = spec
        .params
        .get("order")
        .and_then(Value::as_object)
        .is_some_and(|order| {
            order.iter().any(|(k, v)| {
                k != id_field || !v.as_str().is_some_and(|d| d.eq_ignore_ascii_case("asc"))
            })
        });
    let id_filter = spec
        .params
        .get("filter")
        .and_then(Value::as_object)
        .is_some_and(|filter| {
            filter
                .keys()
                .any(|k| k.trim_start_matches(|c: char| !c.is_ascii_alphanumeric()) == id_field)
        });
    let keyset = spec.paging == Paging::Keyset
        && options.keyset
        && spec.batchable
        && !custom_order
        && !id_filter
        && !matches!(options.resume, Resume::AtOffset(_));
    let concurrency = options.concurrency;
    let walk = Arc::new(Walk::new(client, spec, options));
    if keyset {
        keyset_pages(walk, concurrency)
    } else {
        offset_pages(walk, concurrency)
    }
}

/// Yields `Ok` items until the first `Err`, which it yields and then ends.
fn until_error<T: Send + 'static>(
    s: BoxStream<'static, Result<T, Error>>,
) -> BoxStream<'static, Result<T, Error>> {
    s.scan(false, |failed, item| {
        if *failed {
            return futures::future::ready(None);
        }
        *failed = item.is_err();
        futures::future::ready(Some(item))
    })
    .boxed()
}

/// Flattens `Result<Vec<T>>` into a stream of `Result<T>`.
fn flatten_pages(
    s: impl futures::Stream<Item = Result<Vec<RawPage>, Error>> + Send + 'static,
) -> BoxStream<'static, Result<RawPage, Error>> {
    until_error(
        s.flat_map(|pages| match pages {
            Ok(pages) => stream::iter(pages.into_iter().map(Ok).collect::<Vec<_>>()),
            Err(e) => stream::iter(vec![Err(e)]),
        })
        .boxed(),
    )
}

// ------------------------------------------------------------------ keyset

/// A half-open id range `[from, to)`; `from` is inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    from: i64,
    to: i64,
}

fn keyset_pages(walk: Arc<Walk>, concurrency: usize) -> BoxStream<'static, Result<RawPage, Error>> {
    let plan = async move {
        // Probe: the first id with a count, and the last id, in one request. A resumed read
        // probes only the rows after the last one read.
        let id = walk.spec.id_field.as_str();
        let after: Vec<(String, Value)> = match walk.options.resume {
            Resume::AfterId(after) => vec![(format!(">{id}"), json!(after))],
            _ => Vec::new(),
        };
        let mut first = walk.params_with(0, Some("ASC"), &after);
        first.insert("select".to_owned(), json!([id]));
        let mut last = walk.params_with(-1, Some("DESC"), &after);
        last.insert("select".to_owned(), json!([id]));
        let probe = walk.batch(vec![first, last], false).await?;
        let total = probe[0].total;
        walk.set_total(total);
        let (min, max) = match (
            ids(&probe[0].rows, id).first(),
            ids(&probe[1].rows, id).first(),
        ) {
            (Some(&min), Some(&max)) if min <= max => (min, max),
            _ => return Ok((walk, Vec::new())),
        };
        Ok((walk, sub_ranges(min, max, total)))
    };
    let pages = stream::once(plan).flat_map(move |planned| match planned {
        Err(e) => stream::iter(vec![Err(e)]).boxed(),
        Ok((walk, spans)) => {
            let chunks: Vec<Vec<Span>> = spans.chunks(MAX_COMMANDS).map(<[Span]>::to_vec).collect();
            stream::iter(chunks)
                .map(move |chunk| read_spans(walk.clone(), chunk))
                .buffered(concurrency)
                .boxed()
        }
    });
    flatten_pages(pages)
}

/// Cuts `[min, max]` into sub-ranges expected to hold at most a page each: 50 ids when ids are
/// dense (so a page can't overflow), wider in proportion when rows are sparser.
fn sub_ranges(min: i64, max: i64, total: Option<i64>) -> Vec<Span> {
    let span = (max - min + 1).max(1) as f64;
    let density = total.map_or(1.0, |t| (t.max(1) as f64 / span).min(1.0));
    let width = if density > 0.95 {
        PAGE_SIZE as i64
    } else {
        ((45.0 / density) as i64).max(PAGE_SIZE as i64)
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

/// Reads up to 50 sub-ranges in one `batch`; sub-ranges that came back full are continued from
/// their last id until they are exhausted. Pages come out in id order.
async fn read_spans(walk: Arc<Walk>, spans: Vec<Span>) -> Result<Vec<RawPage>, Error> {
    let id = walk.spec.id_field.as_str();
    let mut pages: Vec<Vec<RawPage>> = spans.iter().map(|_| Vec::new()).collect();
    // (index into `spans`, range still to read)
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
        let answers = walk.batch(commands, true).await?;
        for ((index, span), page) in round.into_iter().zip(answers) {
            if page.count >= PAGE_SIZE
                && let Some(&last) = ids(&page.rows, id).last()
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
            pages[index].push(page);
        }
    }
    Ok(pages
        .into_iter()
        .flatten()
        .filter(|p| p.count > 0)
        .collect())
}

// ------------------------------------------------------------------ offset

fn offset_pages(walk: Arc<Walk>, concurrency: usize) -> BoxStream<'static, Result<RawPage, Error>> {
    let from = match walk.options.resume {
        Resume::AtOffset(n) => usize::try_from(n).unwrap_or(usize::MAX),
        _ => 0,
    };
    let first = async move {
        let page = walk.call(walk.params_with(from as i64, None, &[])).await?;
        Ok::<_, Error>((walk, page))
    };
    let pages = stream::once(first).flat_map(move |first| match first {
        Err(e) => stream::iter(vec![Err(e)]).boxed(),
        Ok((walk, page)) => {
            let (total, next) = (page.total, page.next);
            let head = stream::iter(vec![Ok(vec![page])]);
            match total {
                // Counted: the remaining offsets, 50 pages to a batch call, several in flight.
                Some(total) if walk.spec.batchable => {
                    let total = usize::try_from(total).unwrap_or(0);
                    let offsets: Vec<i64> = (from + PAGE_SIZE..total)
                        .step_by(PAGE_SIZE)
                        .map(|o| o as i64)
                        .collect();
                    let chunks: Vec<Vec<i64>> =
                        offsets.chunks(MAX_COMMANDS).map(<[i64]>::to_vec).collect();
                    let rest = stream::iter(chunks)
                        .map(move |chunk| {
                            let walk = walk.clone();
                            async move {
                                let commands = chunk
                                    .iter()
                                    .map(|&o| walk.params_with(o, None, &[]))
                                    .collect();
                                walk.batch(commands, true).await
                            }
                        })
                        .buffered(concurrency);
                    head.chain(rest).boxed()
                }
                // Otherwise one call at a time, following `next`.
                _ => {
                    let rest = stream::unfold((walk, next), |(walk, next)| async move {
                        let next = next?;
                        match walk.call(walk.params_with(next, None, &[])).await {
                            Ok(page) => {
                                let following = page.next;
                                Some((Ok(vec![page]), (walk, following)))
                            }
                            Err(e) => Some((Err(e), (walk, None))),
                        }
                    });
                    head.chain(rest).boxed()
                }
            }
        }
    });
    flatten_pages(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_ids_get_exact_fifty_id_ranges() {
        let spans = sub_ranges(1, 120, Some(120));
        assert_eq!(
            spans,
            vec![
                Span { from: 1, to: 51 },
                Span { from: 51, to: 101 },
                Span { from: 101, to: 121 }
            ]
        );
    }

    #[test]
    fn sparse_ids_get_wider_ranges_covering_everything() {
        let spans = sub_ranges(1, 10_000, Some(1_000));
        assert!(spans.len() >= 20 && spans.len() <= 25, "{}", spans.len());
        assert_eq!(spans.first().unwrap().from, 1);
        assert_eq!(spans.last().unwrap().to, 10_001);
        assert!(
            spans.windows(2).all(|w| w[0].to == w[1].from),
            "contiguous and disjoint"
        );
    }

    #[test]
    fn rows_are_found_inside_the_result() {
        let rows = rows_of("m", Some("items"), r#"{"items":[{"id":1},{"id":2}]}"#).unwrap();
        assert_eq!(row_count(&rows), 2);
        assert_eq!(ids(&rows, "id"), vec![1, 2]);
        let rows = rows_of("m", None, r#"[{"ID":"7"}]"#).unwrap();
        assert_eq!(ids(&rows, "ID"), vec![7]);
        assert_eq!(row_count(&rows_of("m", Some("items"), "[]").unwrap()), 0);
    }
}
