//! How `b24 list` reads a list: its paging modes mapped onto the SDK's engine
//! ([`Client::list_json`], see `bitrix24::paging`), plus what only a resumable export needs:
//! row ids, the check that an offset resume still lines up, and offset paging for a keyset
//! read whose rows turn out to have no id.
//!
//! - **keyset** → [`Paging::Keyset`]: sub-ranges of about 50 ids, 50 to a `batch` call,
//!   several calls in flight, rows in id order; a resume reads the rows after the last id.
//! - **offset** → [`Paging::Start`], batched where the method may run in `batch`: a counted
//!   first page, then the remaining offsets 50 to a call; a resume starts at the row count.
//! - **next** → [`Paging::Start`] outside `batch`: one call at a time following `next`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bitrix24::{Client, Error, ListOptions, ListSpec, Page, Paging, Progress, Resume};
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::{Map, Value};

const PAGE: u64 = bitrix24::paging::PAGE_SIZE as u64;

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

/// A list read.
#[derive(Debug, Clone)]
pub struct Spec {
    pub method: String,
    /// The caller's parameters, without `start`.
    pub params: Map<String, Value>,
    pub mode: Mode,
    /// The method may run inside `batch`.
    pub batchable: bool,
    pub rest_v3: bool,
    pub id_field: String,
    pub concurrency: usize,
}

impl Spec {
    /// The engine's description of the read in `mode`. Keyset paging always runs in `batch`
    /// (the engine would otherwise quietly page by offset, and a resume after an id would
    /// start over).
    fn list_spec(&self, mode: Mode) -> ListSpec {
        let (paging, batchable) = match mode {
            Mode::Keyset => (Paging::Keyset, true),
            Mode::Offset => (Paging::Start, self.batchable),
            Mode::Next => (Paging::Start, false),
        };
        ListSpec::new(self.method.clone(), self.params.clone())
            .paging(paging)
            .batchable(batchable)
            .id_field(self.id_field.clone())
            .rest_v3(self.rest_v3)
    }
}

/// What the read yields, in order.
#[derive(Debug)]
pub enum Event {
    /// The next rows.
    Rows(Vec<Value>),
    /// The read changed strategy; says why.
    Fallback(Mode, String),
}

/// HTTP requests and the row count, as the engine reports them after every request.
#[derive(Debug, Clone, Default)]
pub struct Tally(Arc<Mutex<Counts>>);

#[derive(Debug, Default)]
struct Counts {
    /// Requests of reads that are over.
    earlier: u64,
    /// The read in progress.
    current: Progress,
}

impl Tally {
    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Options reporting into this tally, for a new read.
    fn options(&self, spec: &Spec, resume: Resume) -> ListOptions {
        {
            let mut counts = self.counts();
            counts.earlier += counts.current.requests;
            counts.current = Progress::default();
        }
        let tally = self.clone();
        ListOptions::default()
            .concurrency(spec.concurrency)
            .resume(resume)
            .on_progress(move |progress| tally.counts().current = *progress)
    }

    /// HTTP requests sent so far.
    pub fn requests(&self) -> u64 {
        let counts = self.counts();
        counts.earlier + counts.current.requests
    }

    /// Rows in the list as the current read counted them: for keyset paging the rows after
    /// the resume point, for offset paging the whole list.
    pub fn total(&self) -> Option<u64> {
        self.counts().current.total
    }

    /// While the read waits for its method to come out of an operating-time freeze: until when.
    pub fn frozen_until(&self) -> Option<std::time::SystemTime> {
        self.counts().current.frozen_until
    }
}

fn pages(
    client: &Client,
    spec: &Spec,
    mode: Mode,
    resume: Resume,
    tally: &Tally,
) -> BoxStream<'static, Result<Page<Value>, Error>> {
    client.list_json(spec.list_spec(mode), tally.options(spec, resume))
}

fn rows(page: Result<Page<Value>, Error>) -> Result<Event, Error> {
    page.map(|page| Event::Rows(page.items))
}

/// Reads the list from `resume`; the stream ends after the first error.
pub fn read(
    client: &Client,
    spec: &Spec,
    resume: Resume,
    tally: &Tally,
) -> BoxStream<'static, Result<Event, Error>> {
    let read = pages(client, spec, spec.mode, resume, tally).map(rows);
    if spec.mode != Mode::Keyset || resume != Resume::Start {
        return read.boxed();
    }
    // A keyset read that yields nothing found no rows, or rows without a numeric id field
    // (the engine walks by id, so it reads none of them). The first offset page tells which;
    // offset paging then reads them all (a resume goes by row count).
    let seen = Arc::new(AtomicBool::new(false));
    let (client, spec, tally, marked) = (client.clone(), spec.clone(), tally.clone(), seen.clone());
    let read = read.inspect(move |_| marked.store(true, Ordering::Relaxed));
    let fallback = stream::once(async move {
        if seen.load(Ordering::Relaxed) {
            return stream::empty().boxed();
        }
        let mut offset = pages(&client, &spec, Mode::Offset, Resume::Start, &tally);
        match offset.next().await {
            None => stream::empty().boxed(),
            Some(Ok(page)) if page.items.is_empty() => stream::empty().boxed(),
            Some(Ok(page)) => {
                let why = format!(
                    "the rows have no numeric {} field; reading by offset instead",
                    spec.id_field
                );
                stream::iter([
                    Ok(Event::Fallback(Mode::Offset, why)),
                    Ok(Event::Rows(page.items)),
                ])
                .chain(offset.map(rows))
                .boxed()
            }
            Some(Err(e)) => stream::iter([Err(e)]).boxed(),
        }
    })
    .flatten();
    read.chain(fallback).boxed()
}

/// Whether the row at index `rows - 1` of the list (the last one an interrupted export wrote)
/// still has id `last_id`: if rows were added or removed before it, offset paging would
/// resume with duplicates or gaps. One request: the page holding that row.
pub async fn still_at(
    client: &Client,
    spec: &Spec,
    rows: u64,
    last_id: i64,
    tally: &Tally,
) -> Result<bool, Error> {
    let index = rows.saturating_sub(1);
    let page_start = index / PAGE * PAGE;
    // Outside `batch`, the engine asks for the next page only when the stream is polled again.
    let first = pages(
        client,
        spec,
        Mode::Next,
        Resume::AtOffset(page_start),
        tally,
    )
    .next()
    .await;
    let page = match first {
        Some(page) => page?,
        None => return Ok(false),
    };
    let row = page.items.get((index - page_start) as usize);
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_numbers_or_numeric_strings() {
        assert_eq!(row_id(&json!({"ID": "42"}), "ID"), Some(42));
        assert_eq!(row_id(&json!({"id": 7}), "id"), Some(7));
        assert_eq!(row_id(&json!({"ID": "x"}), "ID"), None);
    }

    #[test]
    fn modes_map_onto_the_engine() {
        let spec = Spec {
            method: "m".to_owned(),
            params: Map::new(),
            mode: Mode::Keyset,
            batchable: false,
            rest_v3: false,
            id_field: "id".to_owned(),
            concurrency: 1,
        };
        let keyset = spec.list_spec(Mode::Keyset);
        assert_eq!((keyset.paging, keyset.batchable), (Paging::Keyset, true));
        assert_eq!(keyset.id_field, "id");
        let offset = spec.list_spec(Mode::Offset);
        assert_eq!((offset.paging, offset.batchable), (Paging::Start, false));
        let batched = Spec {
            batchable: true,
            ..spec.clone()
        };
        assert!(batched.list_spec(Mode::Offset).batchable);
        assert!(!batched.list_spec(Mode::Next).batchable);
    }
}
