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
//! 4. re-reads a sub-range that came back full from its last id, so sparse spans lose nothing
//!    (split into as many sub-ranges as the call has room for, at the density the full page
//!    showed, so a wrong `total` costs a few calls, not one call per page);
//! 5. after a batch whose sub-ranges were all empty, asks for the next existing id and goes on
//!    from there, so a gap (or a last id the portal got wrong) is crossed in one request.
//!
//! The numbers the walk plans from come from the portal and are not trusted: sub-ranges are cut
//! as they are sent (a span of 2^64 ids costs no memory), id arithmetic saturates, an offset
//! walk stops at the first short page whatever `total` said, and a chunk holds at most
//! 100 pages back while an earlier sub-range is being continued.
//!
//! Sub-ranges are disjoint, so a row is never returned twice; a row deleted during the export is
//! simply not there, a surviving row is read exactly once. Rows created after the probe with ids
//! beyond the last one are not part of the export.
//!
//! Methods with `start` paging are read with one counted first page, then the remaining offsets
//! 50 to a `batch` call, concurrently; methods that cannot run in `batch` page one call at a time.
//!
//! A walk waits out operating-time freezes of its method up to [`ListOptions::max_freeze_wait`]
//! (by default the portal's whole window) and reports them through [`Progress::frozen_until`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt};
use futures::stream::{self, BoxStream, FuturesOrdered, StreamExt};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use serde_with::DeserializeAs;

use crate::batch::{Chunk, CommandError, Line, MAX_COMMANDS};
use crate::codec::{List, Same};
use crate::error::Error;
pub use crate::pace::Progress;
use crate::pace::{BULK_FREEZE_WAIT, ProgressFn, Tracker};
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
    max_freeze_wait: Duration,
}

impl Default for ListOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            keyset: true,
            progress: None,
            resume: Resume::Start,
            max_freeze_wait: BULK_FREEZE_WAIT,
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
            .field("max_freeze_wait", &self.max_freeze_wait)
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

    /// Calls `f` after every HTTP request with the progress so far (for progress bars), and
    /// when a freeze begins or ends.
    pub fn on_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// How long the read waits for its method to come out of an operating-time freeze before
    /// it fails with `OPERATION_TIME_LIMIT` (default [`BULK_FREEZE_WAIT`]: the portal's whole
    /// window, so a freeze delays an export instead of ending it).
    pub fn max_freeze_wait(mut self, wait: Duration) -> Self {
        self.max_freeze_wait = wait;
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
    /// Ids of the first and the last row, when they have one.
    first_id: Option<i64>,
    last_id: Option<i64>,
    total: Option<i64>,
    /// The offset of the next page, when the portal says there is one.
    next: Option<i64>,
}

impl RawPage {
    fn new(rows: Box<RawValue>, total: Option<i64>, next: Option<i64>, id_field: &str) -> Self {
        let scan = scan(&rows, id_field);
        Self {
            rows,
            count: scan.count,
            first_id: scan.first_id,
            last_id: scan.last_id,
            total,
            next,
        }
    }
}

/// Shared state of one list read.
struct Walk {
    spec: ListSpec,
    options: ListOptions,
    tracker: Tracker,
}

impl Walk {
    fn new(client: Client, spec: ListSpec, options: ListOptions) -> Self {
        let tracker = Tracker::new(client, options.progress.clone(), options.max_freeze_wait);
        Self {
            spec,
            options,
            tracker,
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

    /// Sends one list call outside `batch`, waiting out freezes of the method.
    async fn call(&self, params: Map<String, Value>) -> Result<RawPage, Error> {
        let method = self.spec.method.as_str();
        let body = serde_json::to_vec(&params).map_err(|e| Error::encode(method, e))?;
        let options = CallOptions::default()
            .idempotent(true)
            .rest_v3(self.spec.rest_v3)
            .max_freeze_wait(Duration::ZERO);
        let response = self
            .tracker
            .unfrozen(&[method], || {
                self.tracker.count_request();
                self.tracker.client().call_raw(method, &body, options)
            })
            .await?;
        let page = RawPage::new(
            rows_of(
                method,
                self.spec.items_key.as_deref(),
                response.result_json(),
            )?,
            response.total(),
            response.next(),
            &self.spec.id_field,
        );
        self.tracker.set_total(page.total);
        self.tracker.add_items(page.count);
        Ok(page)
    }

    /// Sends list calls as one `batch` and returns each command's rows and total, in order.
    /// `rows_are_items` is false for probes, whose rows are not part of the list read.
    async fn batch(
        &self,
        commands: Vec<Map<String, Value>>,
        rows_are_items: bool,
    ) -> Result<Vec<RawPage>, Error> {
        let method = self.spec.method.as_str();
        let lines: Vec<Line> = commands
            .into_iter()
            .enumerate()
            .map(|(i, params)| Line::new(format!("p{i}"), method, &Value::Object(params)))
            .collect();
        let keys: Vec<String> = lines.iter().map(|l| l.key.clone()).collect();
        let chunk = Chunk {
            lines,
            halt: true,
            idempotent: true,
            linked: false,
        };
        let mut answer = chunk.send(&self.tracker).await?;
        let mut pages = Vec::with_capacity(keys.len());
        let mut rows_total = 0;
        for key in keys {
            let Some(raw) = answer.result.remove(&key) else {
                let e = answer
                    .result_error
                    .remove(&key)
                    .unwrap_or_else(|| CommandError {
                        error: String::new(),
                        error_description: "no result in batch".to_owned(),
                    });
                return Err(Error::Api(e.into_api_error(method)));
            };
            let page = RawPage::new(
                rows_of(method, self.spec.items_key.as_deref(), raw.get())?,
                answer.result_total.get(&key).copied(),
                answer.result_next.get(&key).copied(),
                &self.spec.id_field,
            );
            rows_total += page.count;
            pages.push(page);
        }
        self.tracker
            .add_items(if rows_are_items { rows_total } else { 0 });
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

/// What paging needs to know about a page's rows: how many, and the first and last id.
#[derive(Debug, Default, PartialEq, Eq)]
struct Scan {
    count: usize,
    first_id: Option<i64>,
    last_id: Option<i64>,
}

/// Counts a page's rows and reads the first and last id in one pass that skips every other
/// field; an empty PHP value (or anything but a list) has no rows.
fn scan(rows: &RawValue, id_field: &str) -> Scan {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use std::fmt;

    /// Deserializes a row to its id, if it has an integer one.
    struct RowId<'a>(&'a str);
    /// Deserializes a key to whether it is the id field, without allocating.
    struct IsKey<'a>(&'a str);
    struct Rows<'a>(&'a str);

    impl<'de> DeserializeSeed<'de> for IsKey<'_> {
        type Value = bool;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_str(self)
        }
    }
    impl Visitor<'_> for IsKey<'_> {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a key")
        }
        fn visit_str<E>(self, key: &str) -> Result<bool, E> {
            Ok(key == self.0)
        }
    }
    /// An id: a number, or a string holding one.
    struct IdValue;
    impl<'de> DeserializeSeed<'de> for IdValue {
        type Value = Option<i64>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<i64>, D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for IdValue {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an id")
        }
        fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok(i64::try_from(v).ok())
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.parse().ok())
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }
    impl<'de> DeserializeSeed<'de> for RowId<'_> {
        type Value = Option<i64>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<i64>, D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for RowId<'_> {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a row")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut id = None;
            while let Some(is_id) = map.next_key_seed(IsKey(self.0))? {
                if is_id {
                    id = map.next_value_seed(IdValue)?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(id)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            IdValue.visit_seq(seq)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    impl<'de> Visitor<'de> for Rows<'_> {
        type Value = Scan;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of rows")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scan, A::Error> {
            let mut scan = Scan::default();
            while let Some(id) = seq.next_element_seed(RowId(self.0))? {
                if scan.count == 0 {
                    scan.first_id = id;
                }
                scan.count += 1;
                scan.last_id = id;
            }
            Ok(scan)
        }
    }
    let mut de = serde_json::Deserializer::from_str(rows.get());
    de.deserialize_seq(Rows(id_field)).unwrap_or_default()
}

/// Whether a list call's `params` leave the id order and the id bounds to keyset paging, which
/// sets both itself: no `order` but `id_field` ascending, no `filter` on `id_field` (with any
/// operator prefix, `>ID`, `<=ID`). Otherwise the list is read by offset. Tools that choose a
/// paging mode before reading (the `b24` CLI) ask the same question here.
pub fn leaves_ids_to_keyset(params: &Map<String, Value>, id_field: &str) -> bool {
    let custom_order = params
        .get("order")
        .and_then(Value::as_object)
        .is_some_and(|order| {
            order.iter().any(|(k, v)| {
                k != id_field || !v.as_str().is_some_and(|d| d.eq_ignore_ascii_case("asc"))
            })
        });
    let id_filter = params
        .get("filter")
        .and_then(Value::as_object)
        .is_some_and(|filter| {
            filter
                .keys()
                .any(|k| k.trim_start_matches(|c: char| !c.is_ascii_alphanumeric()) == id_field)
        });
    !custom_order && !id_filter
}

fn raw_pages(
    client: Client,
    spec: ListSpec,
    options: ListOptions,
) -> BoxStream<'static, Result<RawPage, Error>> {
    let keyset = spec.paging == Paging::Keyset
        && options.keyset
        && spec.batchable
        && leaves_ids_to_keyset(&spec.params, &spec.id_field)
        && !matches!(options.resume, Resume::AtOffset(_));
    let concurrency = options.concurrency;
    let walk = Arc::new(Walk::new(client, spec, options));
    if keyset {
        keyset_pages(walk, concurrency)
    } else {
        offset_pages(walk, concurrency)
    }
}

// ------------------------------------------------------------------ keyset

/// An inclusive id range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    from: i64,
    last: i64,
}

impl Span {
    /// Ids in the span (as a float: the widest span has more than `i64::MAX`).
    fn ids(self) -> f64 {
        (i128::from(self.last) - i128::from(self.from) + 1) as f64
    }

    /// At most `pieces` ranges: `width` ids each, the last one taking the rest.
    fn split(self, width: i64, pieces: usize) -> Vec<Span> {
        let mut out = Vec::with_capacity(pieces);
        let mut from = self.from;
        while out.len() + 1 < pieces {
            let last = from.saturating_add(width - 1);
            if last >= self.last {
                break;
            }
            out.push(Span { from, last });
            from = last + 1;
        }
        out.push(Span {
            from,
            last: self.last,
        });
        out
    }
}

/// Ids per sub-range where rows have `density` (rows per id): 50 when ids are dense (a page
/// cannot overflow), wider in proportion when sparser, for about 45 rows a range.
fn range_width(density: f64) -> i64 {
    if density > 0.95 {
        PAGE_SIZE as i64
    } else {
        // `as` saturates: a tiny or zero density gives the widest range.
        ((45.0 / density) as i64).max(PAGE_SIZE as i64)
    }
}

/// The walk's sub-ranges, cut from the probed id span as they are needed: a span or a count
/// the portal got wrong (or lied about) costs no memory.
struct Planner {
    /// The first id not planned yet; `None` once the span is planned to its end.
    next: Option<i64>,
    max: i64,
    width: i64,
    /// Bumped by every skip over a gap: chunks planned before it may be empty because of the
    /// gap.
    generation: u64,
}

impl Planner {
    fn new(min: i64, max: i64, total: Option<i64>) -> Self {
        let span = Span {
            from: min,
            last: max,
        }
        .ids();
        let density = total.map_or(1.0, |t| (t.max(1) as f64 / span).min(1.0));
        Self {
            next: Some(min),
            max,
            width: range_width(density),
            generation: 0,
        }
    }

    /// The next (up to) 50 sub-ranges.
    fn chunk(&mut self) -> Option<Vec<Span>> {
        let mut spans = Vec::new();
        while spans.len() < MAX_COMMANDS {
            let Some(from) = self.next else { break };
            let last = from.saturating_add(self.width - 1).min(self.max);
            spans.push(Span { from, last });
            self.next = (last < self.max).then(|| last + 1);
        }
        (!spans.is_empty()).then_some(spans)
    }

    /// Continues at `id`, the first one after a gap (`None`: nothing is left).
    fn skip_to(&mut self, id: Option<i64>) {
        self.next = match (self.next, id) {
            (Some(next), Some(id)) if id <= self.max => Some(next.max(id)),
            _ => None,
        };
        self.generation += 1;
    }
}

/// What is left of a chunk of sub-ranges, in id order: pages read but held back behind a
/// range that is not finished, and ranges still to read.
struct Pending {
    parts: VecDeque<Part>,
    generation: u64,
    first_round: bool,
}

enum Part {
    Read(RawPage),
    Unread {
        span: Span,
        /// Rows per id the range's last page showed, when it came back full.
        density: Option<f64>,
    },
}

/// Pages held back behind an unfinished range before later ranges wait too: bounds a chunk's
/// memory whatever the portal answers.
const HOLD: usize = 2 * MAX_COMMANDS;

/// The outcome of one round of a chunk: pages in id order, and what is left.
struct Round {
    generation: u64,
    first: bool,
    result: Result<(Vec<RawPage>, Option<Pending>), Error>,
}

fn round(walk: Arc<Walk>, pending: Pending) -> BoxFuture<'static, Round> {
    async move {
        let (generation, first) = (pending.generation, pending.first_round);
        Round {
            generation,
            first,
            result: read_round(&walk, pending).await,
        }
    }
    .boxed()
}

/// One `batch` call for the unread ranges at the front of a chunk. A range that came back full
/// is continued after its last id, the first of them split into as many ranges as the call has
/// room for, at the density its page showed.
async fn read_round(
    walk: &Walk,
    pending: Pending,
) -> Result<(Vec<RawPage>, Option<Pending>), Error> {
    let id = walk.spec.id_field.as_str();
    let mut chosen: Vec<usize> = Vec::new();
    let mut held = 0;
    for (i, part) in pending.parts.iter().enumerate() {
        match part {
            Part::Read(_) => held += 1,
            Part::Unread { .. } if held < HOLD && chosen.len() < MAX_COMMANDS => chosen.push(i),
            Part::Unread { .. } => break,
        }
    }
    let spare = MAX_COMMANDS - chosen.len();
    let mut requests: Vec<(usize, Span)> = Vec::new();
    for (n, &i) in chosen.iter().enumerate() {
        let Part::Unread { span, density } = &pending.parts[i] else {
            continue;
        };
        let (pieces, width) = match density {
            Some(d) if n == 0 => {
                let wanted = (span.ids() * d / 45.0).ceil();
                // `as` saturates; NaN (no density) gives 0, clamped to one range.
                ((wanted as usize).clamp(1, 1 + spare), range_width(*d))
            }
            _ => (1, 1),
        };
        requests.extend(span.split(width, pieces).into_iter().map(|s| (i, s)));
    }
    let commands = requests
        .iter()
        .map(|(_, span)| {
            let bounds = [
                (format!(">={id}"), json!(span.from)),
                (format!("<={id}"), json!(span.last)),
            ];
            walk.params_with(-1, Some("ASC"), &bounds)
        })
        .collect();
    let pages = walk.batch(commands, true).await?;
    let mut replaced: BTreeMap<usize, Vec<Part>> = BTreeMap::new();
    for ((i, span), page) in requests.into_iter().zip(pages) {
        let rest = continuation(&walk.spec.method, &page, span)?;
        let parts = replaced.entry(i).or_default();
        parts.push(Part::Read(page));
        parts.extend(rest);
    }
    let mut parts = VecDeque::with_capacity(pending.parts.len() + MAX_COMMANDS);
    for (i, part) in pending.parts.into_iter().enumerate() {
        match replaced.remove(&i) {
            Some(new) => parts.extend(new),
            None => parts.push_back(part),
        }
    }
    let mut ready = Vec::new();
    while let Some(Part::Read(_)) = parts.front() {
        if let Some(Part::Read(page)) = parts.pop_front()
            && page.count > 0
        {
            ready.push(page);
        }
    }
    let rest = (!parts.is_empty()).then_some(Pending {
        parts,
        generation: pending.generation,
        first_round: false,
    });
    Ok((ready, rest))
}

/// The rest of `span` after a full page, or nothing when the page was its end. A page whose
/// last id lies outside the range it was asked for would make the walk repeat itself: an error.
fn continuation(method: &str, page: &RawPage, span: Span) -> Result<Option<Part>, Error> {
    let Some(last) = page.last_id.filter(|_| page.count >= PAGE_SIZE) else {
        return Ok(None);
    };
    if last < span.from || last > span.last {
        return Err(Error::Decode {
            method: method.to_owned(),
            status: 200,
            message: format!(
                "keyset page for ids {}..={} ends at id {last}, outside the range",
                span.from, span.last
            ),
            body_start: crate::wire::envelope::body_start(page.rows.get()),
        });
    }
    if last == span.last {
        return Ok(None);
    }
    let read = Span {
        from: span.from,
        last,
    };
    Ok(Some(Part::Unread {
        span: Span {
            from: last + 1,
            last: span.last,
        },
        density: Some(page.count as f64 / read.ids()),
    }))
}

/// A keyset walk in progress.
struct Keyset {
    walk: Arc<Walk>,
    planner: Planner,
    in_flight: FuturesOrdered<BoxFuture<'static, Round>>,
    ready: VecDeque<RawPage>,
    concurrency: usize,
    done: bool,
}

impl Keyset {
    /// The next page in id order: keeps `concurrency` rounds in flight, continues unfinished
    /// ranges first, and after a chunk that held no row at all asks the portal where the next
    /// row is instead of walking an empty span range by range.
    async fn next(mut self) -> Option<(Result<RawPage, Error>, Self)> {
        loop {
            if let Some(page) = self.ready.pop_front() {
                return Some((Ok(page), self));
            }
            if self.done {
                return None;
            }
            while self.in_flight.len() < self.concurrency {
                let Some(spans) = self.planner.chunk() else {
                    break;
                };
                let pending = Pending {
                    parts: spans
                        .into_iter()
                        .map(|span| Part::Unread {
                            span,
                            density: None,
                        })
                        .collect(),
                    generation: self.planner.generation,
                    first_round: true,
                };
                self.in_flight.push_back(round(self.walk.clone(), pending));
            }
            let round_done = self.in_flight.next().await?;
            let (pages, rest) = match round_done.result {
                Ok(done) => done,
                Err(e) => {
                    self.done = true;
                    return Some((Err(e), self));
                }
            };
            if let Some(rest) = rest {
                self.in_flight.push_front(round(self.walk.clone(), rest));
            } else if round_done.first
                && pages.is_empty()
                && round_done.generation == self.planner.generation
                && let Some(after) = self.planner.next
            {
                match self.walk.first_id_from(after).await {
                    Ok(id) => self.planner.skip_to(id),
                    Err(e) => {
                        self.done = true;
                        return Some((Err(e), self));
                    }
                }
            }
            self.ready.extend(pages);
        }
    }
}

impl Walk {
    /// The first id at or after `from` (one request, ids only).
    async fn first_id_from(&self, from: i64) -> Result<Option<i64>, Error> {
        let id = self.spec.id_field.as_str();
        let mut params = self.params_with(-1, Some("ASC"), &[(format!(">={id}"), json!(from))]);
        params.insert("select".to_owned(), json!([id]));
        let pages = self.batch(vec![params], false).await?;
        Ok(pages.first().and_then(|p| p.first_id))
    }
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
        walk.tracker.set_total(total);
        let planner = match (probe[0].first_id, probe[1].first_id) {
            (Some(min), Some(max)) if min <= max => Planner::new(min, max, total),
            _ => Planner {
                next: None,
                max: 0,
                width: PAGE_SIZE as i64,
                generation: 0,
            },
        };
        Ok(Keyset {
            walk,
            planner,
            in_flight: FuturesOrdered::new(),
            ready: VecDeque::new(),
            concurrency,
            done: false,
        })
    };
    stream::once(plan)
        .flat_map(|planned| match planned {
            Err(e) => stream::iter(vec![Err(e)]).boxed(),
            Ok(keyset) => stream::unfold(keyset, Keyset::next).boxed(),
        })
        .boxed()
}

// ------------------------------------------------------------------ offset

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

fn offset_pages(walk: Arc<Walk>, concurrency: usize) -> BoxStream<'static, Result<RawPage, Error>> {
    let from = match walk.options.resume {
        Resume::AtOffset(n) => i64::try_from(n).unwrap_or(i64::MAX),
        _ => 0,
    };
    let first = async move {
        let page = walk.call(walk.params_with(from, None, &[])).await?;
        Ok::<_, Error>((walk, page))
    };
    let pages = stream::once(first).flat_map(move |first| match first {
        Err(e) => stream::iter(vec![Err(e)]).boxed(),
        Ok((walk, page)) => {
            let (total, next, full) = (page.total, page.next, page.count >= PAGE_SIZE);
            let head = stream::iter(vec![Ok(page)]);
            match total {
                // Counted: the remaining offsets, 50 pages to a batch call, several in flight,
                // planned as they are sent and only until a page comes back short, whatever
                // `total` claimed.
                Some(total) if walk.spec.batchable && full => {
                    let ended = Arc::new(AtomicBool::new(false));
                    let offsets = std::iter::successors(from.checked_add(PAGE_SIZE as i64), |o| {
                        o.checked_add(PAGE_SIZE as i64)
                    })
                    .take_while(move |o| *o < total);
                    let planning = ended.clone();
                    let rest = stream::iter(offsets)
                        .chunks(MAX_COMMANDS)
                        .take_while(move |_| {
                            futures::future::ready(!planning.load(Ordering::Relaxed))
                        })
                        .map(move |chunk| {
                            let (walk, ended) = (walk.clone(), ended.clone());
                            async move {
                                let commands = chunk
                                    .iter()
                                    .map(|&o| walk.params_with(o, None, &[]))
                                    .collect();
                                let pages = walk.batch(commands, true).await?;
                                if pages.iter().any(|p| p.count < PAGE_SIZE) {
                                    ended.store(true, Ordering::Relaxed);
                                }
                                Ok(pages
                                    .into_iter()
                                    .filter(|p| p.count > 0)
                                    .collect::<Vec<_>>())
                            }
                        })
                        .buffered(concurrency)
                        .flat_map(|pages: Result<Vec<RawPage>, Error>| match pages {
                            Ok(pages) => {
                                stream::iter(pages.into_iter().map(Ok).collect::<Vec<_>>())
                            }
                            Err(e) => stream::iter(vec![Err(e)]),
                        });
                    head.chain(rest).boxed()
                }
                // Otherwise one call at a time, following `next` while it moves forward.
                _ => {
                    let rest = stream::unfold((walk, next, from), |(walk, next, at)| async move {
                        let next = next.filter(|n| *n > at)?;
                        match walk.call(walk.params_with(next, None, &[])).await {
                            Ok(page) => {
                                let following = page.next.filter(|_| page.count > 0);
                                Some((Ok(page), (walk, following, next)))
                            }
                            Err(e) => Some((Err(e), (walk, None, next))),
                        }
                    });
                    head.chain(rest).boxed()
                }
            }
        }
    });
    until_error(pages.boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(mut planner: Planner) -> Vec<Span> {
        std::iter::from_fn(|| planner.chunk()).flatten().collect()
    }

    #[test]
    fn dense_ids_get_exact_fifty_id_ranges() {
        assert_eq!(
            planned(Planner::new(1, 120, Some(120))),
            vec![
                Span { from: 1, last: 50 },
                Span {
                    from: 51,
                    last: 100
                },
                Span {
                    from: 101,
                    last: 120
                }
            ]
        );
    }

    #[test]
    fn sparse_ids_get_wider_ranges_covering_everything() {
        let spans = planned(Planner::new(1, 10_000, Some(1_000)));
        assert!(spans.len() >= 20 && spans.len() <= 25, "{}", spans.len());
        assert_eq!(spans.first().unwrap().from, 1);
        assert_eq!(spans.last().unwrap().last, 10_000);
        assert!(
            spans.windows(2).all(|w| w[0].last + 1 == w[1].from),
            "contiguous and disjoint"
        );
    }

    #[test]
    fn the_widest_span_is_planned_lazily_without_overflow() {
        let mut planner = Planner::new(i64::MIN, i64::MAX, Some(1_000_000_000_000_000));
        let first = planner.chunk().unwrap();
        assert_eq!(first.len(), MAX_COMMANDS);
        assert_eq!(first[0].from, i64::MIN);
        planner.skip_to(Some(i64::MAX));
        assert_eq!(
            planner.chunk().unwrap(),
            vec![Span {
                from: i64::MAX,
                last: i64::MAX
            }]
        );
        assert_eq!(planner.chunk(), None);
        let whole = Span {
            from: i64::MIN,
            last: i64::MAX,
        };
        assert_eq!(whole.split(50, 1), vec![whole]);
        let pieces = whole.split(i64::MAX, 3);
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces[2].last, i64::MAX);
    }

    #[test]
    fn rows_are_found_inside_the_result() {
        let rows = rows_of("m", Some("items"), r#"{"items":[{"id":1},{"id":2}]}"#).unwrap();
        assert_eq!(
            scan(&rows, "id"),
            Scan {
                count: 2,
                first_id: Some(1),
                last_id: Some(2)
            }
        );
        let rows = rows_of("m", None, r#"[{"ID":"7","X":{"ID":9}},{"TITLE":"no id"}]"#).unwrap();
        assert_eq!(
            scan(&rows, "ID"),
            Scan {
                count: 2,
                first_id: Some(7),
                last_id: None
            }
        );
        assert_eq!(
            scan(&rows_of("m", Some("items"), "[]").unwrap(), "ID").count,
            0
        );
        assert_eq!(
            scan(
                &rows_of("m", None, "{}")
                    .unwrap_or_else(|_| RawValue::from_string("{}".into()).unwrap()),
                "ID"
            )
            .count,
            0
        );
    }
}
