//! Typed `batch`: many requests in few HTTP calls, each result typed and attributed.
//!
//! A portal runs up to 50 commands per `batch` call and counts the call once against the rate
//! limit. [`Batch`] takes any number of typed requests, splits them into calls of at most 50,
//! sends independent calls concurrently (bounded, each waiting for the shared rate limiter), and
//! hands back an outcome for every command: its typed result, its own error,
//! [`Error::OutcomeUnknown`] when the answer of its call was lost (a write may or may not have
//! run; it is not sent again), or [`Error::NotExecuted`] when the batch stopped before it.
//! [`Batch::send`] itself fails only when no command ran: a request that cannot be encoded, a
//! reference chain too long for one call, or a portal refusing the caller altogether.
//!
//! A command may use a field of an earlier command's result (`$result[key][FIELD]` on the
//! wire, substituted by the portal); the planner keeps such a chain in one HTTP call, in its
//! order, because the portal resolves references only within a call. Commands that are not
//! linked may run in any order across calls; `halt` sends the calls one after another.
//!
//! [`Client::batch_stream`] does the same for an unbounded stream of requests of one type, in
//! bounded memory. Both wait out operating-time freezes (see [`crate::pace`]): a command the
//! portal refused with `OPERATION_TIME_LIMIT` did not run and is sent again once the freeze ends.

use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::stream::{self, BoxStream, Stream, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::codec::{As, Map, Same};
use crate::error::{ApiError, Error, ErrorCode};
use crate::pace::{BULK_FREEZE_WAIT, MAX_RESEND_ROUNDS, ProgressFn, Tracker};
use crate::wire::envelope::Time;
use crate::{CallOptions, Client, Method, Progress};

/// Commands a portal runs in one `batch` call.
pub const MAX_COMMANDS: usize = 50;

/// `batch` calls a [`Batch`] has in flight by default.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// Requests collected to be sent together. Build with [`Client::batch`].
///
/// ```no_run
/// # #![allow(deprecated)]
/// # async fn run(client: bitrix24::Client) -> Result<(), bitrix24::Error> {
/// use bitrix24::crm::{CrmDealAdd, CrmDealGet, DealFields};
/// let mut batch = client.batch();
/// let add = batch.add(CrmDealAdd::new().fields(DealFields::new().title("Roof")));
/// let get = batch.add(CrmDealGet::new(0));
/// batch.link(&get, "id", add.result());           // id = $result[<add>]
/// let results = batch.send().await?;
/// let deal = results.get(&get)?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Batch {
    client: Client,
    commands: Vec<Command>,
    halt: bool,
    options: BatchOptions,
}

/// How a batch is sent: calls in flight, patience with frozen methods, progress.
#[derive(Clone)]
pub struct BatchOptions {
    concurrency: usize,
    max_freeze_wait: Duration,
    progress: Option<ProgressFn>,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            max_freeze_wait: BULK_FREEZE_WAIT,
            progress: None,
        }
    }
}

impl std::fmt::Debug for BatchOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchOptions")
            .field("concurrency", &self.concurrency)
            .field("max_freeze_wait", &self.max_freeze_wait)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl BatchOptions {
    /// `batch` calls in flight at once (default [`DEFAULT_CONCURRENCY`]); each still waits for
    /// the client's rate limiter.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// How long to wait for a method frozen by its operating-time limit before its commands
    /// fail with `OPERATION_TIME_LIMIT` (default [`BULK_FREEZE_WAIT`], the portal's window).
    pub fn max_freeze_wait(mut self, wait: Duration) -> Self {
        self.max_freeze_wait = wait;
        self
    }

    /// Calls `f` after every `batch` call and when a freeze begins or ends.
    pub fn on_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    fn tracker(&self, client: &Client) -> Tracker {
        Tracker::new(client.clone(), self.progress.clone(), self.max_freeze_wait)
    }
}

#[derive(Debug)]
struct Command {
    method: &'static str,
    /// The parameters as JSON, or why they could not be serialized (reported by `send`).
    params: Result<Value, String>,
    idempotent: bool,
    /// Commands this one refers to.
    depends_on: Vec<usize>,
}

/// A command in a [`Batch`], typed by its request; use it to read the command's result.
#[derive(Debug)]
pub struct Handle<M> {
    index: usize,
    _method: PhantomData<fn() -> M>,
}

impl<M> Clone for Handle<M> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<M> Copy for Handle<M> {}

impl<M: Method> Handle<M> {
    /// The command's whole result (`$result[key]`), e.g. the id `crm.deal.add` returns.
    pub fn result(&self) -> Reference {
        Reference {
            command: self.index,
            path: Vec::new(),
        }
    }

    /// A field of the command's result (`$result[key][FIELD]`).
    pub fn field(&self, name: &str) -> Reference {
        self.result().field(name)
    }
}

/// A value from an earlier command's result, for [`Batch::link`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    command: usize,
    path: Vec<String>,
}

impl Reference {
    /// A field inside the referenced value.
    pub fn field(mut self, name: &str) -> Self {
        self.path.push(name.to_owned());
        self
    }

    /// An element of the referenced list.
    pub fn index(mut self, index: usize) -> Self {
        self.path.push(index.to_string());
        self
    }

    fn render(&self) -> String {
        let mut out = format!("$result[{}]", key(self.command));
        for segment in &self.path {
            out.push('[');
            out.push_str(segment);
            out.push(']');
        }
        out
    }
}

/// Wire key of command `index`: short, and never numeric (numeric keys turn PHP maps into lists).
fn key(index: usize) -> String {
    format!("c{index}")
}

impl Client {
    /// Starts a batch of typed requests.
    pub fn batch(&self) -> Batch {
        Batch {
            client: self.clone(),
            commands: Vec::new(),
            halt: false,
            options: BatchOptions::default(),
        }
    }

    /// Sends two requests in one call and returns both results; the first error fails both.
    pub async fn batch2<A: Method, B: Method>(
        &self,
        a: A,
        b: B,
    ) -> Result<(A::Output, B::Output), Error> {
        let mut batch = self.batch();
        let (ha, hb) = (batch.add(a), batch.add(b));
        let results = batch.send().await?;
        Ok((results.get(&ha)?, results.get(&hb)?))
    }

    /// Sends three requests in one call and returns the three results.
    pub async fn batch3<A: Method, B: Method, C: Method>(
        &self,
        a: A,
        b: B,
        c: C,
    ) -> Result<(A::Output, B::Output, C::Output), Error> {
        let mut batch = self.batch();
        let (ha, hb, hc) = (batch.add(a), batch.add(b), batch.add(c));
        let results = batch.send().await?;
        Ok((results.get(&ha)?, results.get(&hb)?, results.get(&hc)?))
    }
}

impl Batch {
    /// Adds a request. Methods that cannot run inside `batch` are rejected when this is
    /// compiled:
    ///
    /// ```compile_fail
    /// #[derive(serde::Serialize)]
    /// struct Upload;
    /// impl bitrix24::Method for Upload {
    ///     const NAME: &'static str = "disk.folder.uploadfile";
    ///     const SCOPE: &'static str = "disk";
    ///     const IDEMPOTENT: bool = false;
    ///     const BATCHABLE: bool = false;
    ///     const PAGING: bitrix24::Paging = bitrix24::Paging::None;
    ///     type Output = serde_json::Value;
    ///     type OutputCodec = bitrix24::codec::Same;
    /// }
    /// fn plan(mut batch: bitrix24::batch::Batch) {
    ///     batch.add(Upload); // error: this method cannot run inside batch
    /// }
    /// # fn main() { let _ = plan as fn(_); }
    /// ```
    ///
    /// (The same request with `BATCHABLE = true` compiles.)
    pub fn add<M: Method>(&mut self, request: M) -> Handle<M> {
        const { assert!(M::BATCHABLE, "this method cannot run inside batch") };
        const { assert!(!M::REST_V3, "REST 3.0 methods use their own batch format") };
        let params = serde_json::to_value(&request).map_err(|e| e.to_string());
        self.commands.push(Command {
            method: M::NAME,
            params,
            idempotent: M::IDEMPOTENT,
            depends_on: Vec::new(),
        });
        Handle {
            index: self.commands.len() - 1,
            _method: PhantomData,
        }
    }

    /// Sets parameter `param` of `command` (PHP bracket path: `id`, `fields[CONTACT_ID]`) to a
    /// value from an earlier command's result. The two end up in the same HTTP call.
    ///
    /// Returns an error if `reference` points to this command or a later one.
    pub fn link<M: Method>(
        &mut self,
        command: &Handle<M>,
        param: &str,
        reference: Reference,
    ) -> Result<&mut Self, Error> {
        if reference.command >= command.index {
            return Err(Error::Config(format!(
                "batch: command {} can only refer to an earlier command, not {}",
                command.index, reference.command
            )));
        }
        let target = &mut self.commands[command.index];
        if let Ok(params) = &mut target.params {
            set_path(
                params,
                &bracket_path(param),
                Value::String(reference.render()),
            );
        }
        target.depends_on.push(reference.command);
        Ok(self)
    }

    /// Stops at the first failing command (`halt=1`): later commands are not run and report
    /// [`Error::NotExecuted`]. The calls then go one after another.
    pub fn halt(mut self, halt: bool) -> Self {
        self.halt = halt;
        self
    }

    /// Sets how the batch is sent.
    pub fn options(mut self, options: BatchOptions) -> Self {
        self.options = options;
        self
    }

    /// Number of commands collected.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// Whether no command was added.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Sends the commands in as few calls as the 50-command limit and the reference chains
    /// allow, several calls at once (one after another with `halt`), and collects every
    /// command's outcome. Fails only when no command ran (see the [module](self)).
    pub async fn send(self) -> Result<BatchResults, Error> {
        let chunks = plan(&self.commands)?;
        // Encoding concerns the whole batch: nothing is sent.
        for command in &self.commands {
            if let Err(message) = &command.params {
                return Err(Error::encode(command.method, message));
            }
        }
        let concurrency = if self.halt {
            1
        } else {
            self.options.concurrency
        };
        let tracker = self.options.tracker(&self.client);
        tracker.set_total(i64::try_from(self.commands.len()).ok());
        let stop = AtomicBool::new(false);
        let this = &self;
        let sent: Vec<Sent> = stream::iter(chunks)
            .map(|chunk| {
                let (tracker, stop) = (&tracker, &stop);
                async move {
                    if stop.load(Ordering::Relaxed) {
                        return (chunk, None);
                    }
                    let answer = this.send_chunk(&chunk, tracker).await;
                    let stops = match &answer {
                        Ok(answer) => this.halt && !answer.result_error.is_empty(),
                        Err(e) => concerns_whole_batch(e),
                    };
                    stop.fetch_or(stops, Ordering::Relaxed);
                    tracker.add_items(chunk.len());
                    (chunk, Some(answer))
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let mut slots: Vec<Slot> = (0..self.commands.len()).map(|_| Slot::NotRun).collect();
        let mut whole_batch = None;
        let mut answered = false;
        for (chunk, answer) in sent {
            match answer {
                None => {}
                Some(Ok(mut answer)) => {
                    answered = true;
                    for index in chunk {
                        slots[index] = answer.take(&key(index), self.commands[index].method);
                    }
                }
                Some(Err(e)) if concerns_whole_batch(&e) => {
                    whole_batch.get_or_insert(e);
                }
                Some(Err(e)) => {
                    let lost = Lost::from(e, self.idempotent(&chunk));
                    for index in chunk {
                        slots[index] = Slot::Lost(lost.clone());
                    }
                }
            }
        }
        match whole_batch {
            Some(e) if !answered => Err(e),
            _ => Ok(BatchResults {
                slots,
                decoding: self.client.inner.decoding,
            }),
        }
    }

    fn idempotent(&self, chunk: &[usize]) -> bool {
        chunk.iter().all(|&i| self.commands[i].idempotent)
    }

    async fn send_chunk(&self, chunk: &[usize], tracker: &Tracker) -> Result<BatchAnswer, Error> {
        let lines = chunk
            .iter()
            .map(|&index| {
                let command = &self.commands[index];
                // Checked by `send`.
                let params = command.params.as_ref().unwrap_or(&Value::Null);
                Line::new(key(index), command.method, params)
            })
            .collect();
        let chunk = Chunk {
            lines,
            halt: self.halt,
            idempotent: self.idempotent(chunk),
            linked: chunk
                .iter()
                .any(|&i| !self.commands[i].depends_on.is_empty()),
        };
        chunk.send(tracker).await
    }
}

impl Client {
    /// Sends an unbounded stream of requests of one method in `batch` calls of up to 50, several
    /// at once, and yields each request's outcome with its position in `requests` (0-based) as
    /// its calls complete. Memory stays bounded: requests are taken from the input only as
    /// calls are sent. After a failure that concerns every command (authentication), the
    /// stream ends without taking more requests.
    ///
    /// ```no_run
    /// # async fn run(client: bitrix24::Client) -> Result<(), bitrix24::Error> {
    /// use bitrix24::batch::BatchOptions;
    /// use bitrix24::imbot::ImbotMessageAdd;
    /// use futures::StreamExt;
    /// let messages = futures::stream::iter(0..10_000)
    ///     .map(|n| ImbotMessageAdd::new("chat42", format!("Reminder {n}")).bot_id(7));
    /// let mut outcomes = client.batch_stream(messages, BatchOptions::default());
    /// while let Some((n, outcome)) = outcomes.next().await {
    ///     if let Err(e) = outcome {
    ///         eprintln!("message {n}: {e}");
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn batch_stream<M>(
        &self,
        requests: impl Stream<Item = M> + Send + 'static,
        options: BatchOptions,
    ) -> BoxStream<'static, (u64, Result<M::Output, Error>)>
    where
        M: Method + Send + 'static,
        M::Output: Send + 'static,
    {
        const { assert!(M::BATCHABLE, "this method cannot run inside batch") };
        const { assert!(!M::REST_V3, "REST 3.0 methods use their own batch format") };
        let tracker = Arc::new(options.tracker(self));
        let stop = Arc::new(AtomicBool::new(false));
        let taking = stop.clone();
        requests
            .zip(stream::iter(0u64..))
            .take_while(move |_| futures::future::ready(!taking.load(Ordering::Relaxed)))
            .ready_chunks(MAX_COMMANDS)
            .map(move |requests| {
                let (tracker, stop) = (tracker.clone(), stop.clone());
                async move {
                    let outcomes = stream_chunk::<M>(requests, &tracker, &stop).await;
                    tracker.add_items(outcomes.len());
                    stream::iter(outcomes)
                }
            })
            .buffer_unordered(options.concurrency)
            .flatten()
            .boxed()
    }
}

/// Sends one chunk of a [`Client::batch_stream`].
async fn stream_chunk<M: Method>(
    requests: Vec<(M, u64)>,
    tracker: &Tracker,
    stop: &AtomicBool,
) -> Vec<(u64, Result<M::Output, Error>)> {
    let decoding = tracker.client().inner.decoding;
    let mut outcomes = Vec::with_capacity(requests.len());
    let mut lines = Vec::with_capacity(requests.len());
    for (request, n) in requests {
        match serde_json::to_value(&request) {
            Ok(params) => lines.push((n, Line::new(format!("c{n}"), M::NAME, &params))),
            Err(e) => outcomes.push((n, Err(Error::encode(M::NAME, e)))),
        }
    }
    if stop.load(Ordering::Relaxed) {
        outcomes.extend(
            lines
                .into_iter()
                .map(|(n, _)| (n, Slot::NotRun.outcome::<M>(decoding))),
        );
        return outcomes;
    }
    let (numbers, lines): (Vec<u64>, Vec<Line>) = lines.into_iter().unzip();
    let keys: Vec<String> = lines.iter().map(|l| l.key.clone()).collect();
    let chunk = Chunk {
        lines,
        halt: false,
        idempotent: M::IDEMPOTENT,
        linked: false,
    };
    match chunk.send(tracker).await {
        Ok(mut answer) => outcomes.extend(
            numbers
                .into_iter()
                .zip(keys)
                .map(|(n, key)| (n, answer.take(&key, M::NAME).outcome::<M>(decoding))),
        ),
        Err(e) => {
            stop.fetch_or(concerns_whole_batch(&e), Ordering::Relaxed);
            let lost = Slot::Lost(Lost::from(e, M::IDEMPOTENT));
            outcomes.extend(
                numbers
                    .into_iter()
                    .map(|n| (n, lost.outcome::<M>(decoding))),
            );
        }
    }
    outcomes
}

/// A chunk's commands and its call's answer (`None`: not sent, the batch had stopped).
type Sent = (Vec<usize>, Option<Result<BatchAnswer, Error>>);

/// Whether a failed `batch` call says something about every command, not just the call's: the
/// caller is not let in, or the client is misconfigured. Such a failure ends the batch.
fn concerns_whole_batch(error: &Error) -> bool {
    match error {
        Error::Refresh(_) | Error::Store(_) | Error::Config(_) | Error::Encode { .. } => true,
        Error::Api(e) => matches!(
            e.code,
            ErrorCode::NoAuthFound
                | ErrorCode::InvalidCredentials
                | ErrorCode::ExpiredToken
                | ErrorCode::InvalidToken
                | ErrorCode::UserAccessError
                | ErrorCode::InvalidRequest
                | ErrorCode::OverloadLimit
                | ErrorCode::PortalDeleted
                | ErrorCode::PaymentRequired
        ),
        _ => false,
    }
}

/// One command of a `batch` call: its key in `cmd` (and in the answer), its method, its line.
pub(crate) struct Line {
    pub(crate) key: String,
    pub(crate) method: String,
    line: String,
}

impl Line {
    pub(crate) fn new(key: String, method: &str, params: &Value) -> Self {
        Self {
            key,
            method: method.to_owned(),
            line: command_line(method, params),
        }
    }
}

/// The commands of one `batch` call and how the call may be treated.
pub(crate) struct Chunk {
    pub(crate) lines: Vec<Line>,
    pub(crate) halt: bool,
    /// Every command is idempotent: the call may be sent again after a lost answer.
    pub(crate) idempotent: bool,
    /// Some command refers to another's result: its commands are never sent separately.
    pub(crate) linked: bool,
}

impl Chunk {
    /// Sends the chunk as one `batch` call once none of its methods is frozen; then sends the
    /// commands that a freeze refused (they did not run) again once it ends, and merges the
    /// answers. A linked chunk is not split up: its refused commands keep their errors.
    pub(crate) async fn send(&self, tracker: &Tracker) -> Result<BatchAnswer, Error> {
        let limiter = &tracker.client().inner.limiter;
        let mut answer = BatchAnswer::default();
        let mut todo: Vec<&Line> = self.lines.iter().collect();
        for round in 0.. {
            let methods: BTreeSet<&str> = todo.iter().map(|l| l.method.as_str()).collect();
            let methods: Vec<&str> = methods.into_iter().chain(["batch"]).collect();
            let cmd = todo
                .iter()
                .map(|l| (l.key.clone(), Value::String(l.line.clone())))
                .collect::<serde_json::Map<_, _>>();
            let mut part = tracker
                .unfrozen(&methods, || {
                    tracker.count_request();
                    send_batch(tracker.client(), cmd.clone(), self.halt, self.idempotent)
                })
                .await?;
            for line in &todo {
                let reset_at = part
                    .result_time
                    .get(&line.key)
                    .and_then(|t| t.operating_reset_at);
                limiter.note_reset(&line.method, reset_at);
            }
            let refused: Vec<&Line> = todo
                .iter()
                .copied()
                .filter(|l| {
                    part.result_error
                        .get(&l.key)
                        .is_some_and(CommandError::is_freeze)
                })
                .collect();
            // With `halt`, a freeze also stops the commands after the refused one: they did
            // not run either, unless another error stopped them.
            let halted_by_freeze =
                self.halt && !refused.is_empty() && part.result_error.len() == refused.len();
            let resend: Vec<&Line> = if self.linked || round >= MAX_RESEND_ROUNDS {
                Vec::new()
            } else {
                todo.iter()
                    .copied()
                    .filter(|l| {
                        refused.iter().any(|r| r.key == l.key)
                            || (halted_by_freeze
                                && !part.result.contains_key(&l.key)
                                && !part.result_error.contains_key(&l.key))
                    })
                    .collect()
            };
            for method in refused
                .iter()
                .map(|l| l.method.as_str())
                .collect::<BTreeSet<_>>()
            {
                limiter.freeze(method);
            }
            for line in &resend {
                part.result_error.remove(&line.key);
            }
            answer.merge(part);
            if resend.is_empty() {
                break;
            }
            todo = resend;
        }
        Ok(answer)
    }
}

/// One `batch` command: `method?` and the parameters in PHP query form.
pub(crate) fn command_line(method: &str, params: &Value) -> String {
    let mut line = String::with_capacity(96);
    line.push_str(method);
    line.push('?');
    crate::wire::php::encode_into(&mut line, params);
    line
}

/// Sends one `batch` call of at most [`MAX_COMMANDS`] command lines (keyed as the answer will
/// be) and decodes its `result`. A freeze of `batch` itself is reported at once: the caller
/// waits for it.
async fn send_batch(
    client: &Client,
    cmd: serde_json::Map<String, Value>,
    halt: bool,
    idempotent: bool,
) -> Result<BatchAnswer, Error> {
    let body = serde_json::to_vec(&serde_json::json!({ "halt": u8::from(halt), "cmd": cmd }))
        .map_err(|e| Error::encode("batch", e))?;
    let options = CallOptions::default()
        .idempotent(idempotent)
        .max_freeze_wait(Duration::ZERO);
    let response = client.call_raw("batch", &body, options).await?;
    response.decode::<BatchAnswer, Same>("batch")
}

/// Splits commands into HTTP calls of at most 50, keeping every reference chain together and
/// the commands of a call in their original order.
fn plan(commands: &[Command]) -> Result<Vec<Vec<usize>>, Error> {
    // Union-find over "refers to".
    let mut parent: Vec<usize> = (0..commands.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for (i, command) in commands.iter().enumerate() {
        for &j in &command.depends_on {
            let (a, b) = (root(&mut parent, i), root(&mut parent, j));
            parent[a.max(b)] = a.min(b);
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..commands.len() {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    for group in groups.into_values() {
        if group.len() > MAX_COMMANDS {
            return Err(Error::Config(format!(
                "batch: {} commands are linked by references, more than the {MAX_COMMANDS} one call can run",
                group.len()
            )));
        }
        // First fit keeps calls full; a group never splits.
        match chunks
            .iter_mut()
            .find(|c| c.len() + group.len() <= MAX_COMMANDS)
        {
            Some(chunk) => chunk.extend(group),
            None => chunks.push(group),
        }
    }
    for chunk in &mut chunks {
        chunk.sort_unstable();
    }
    Ok(chunks)
}

/// `fields[CONTACT_ID]` -> `["fields", "CONTACT_ID"]`.
fn bracket_path(param: &str) -> Vec<String> {
    let (head, rest) = param.split_once('[').unwrap_or((param, ""));
    let mut path = vec![head.to_owned()];
    path.extend(
        rest.split('[')
            .map(|s| s.trim_end_matches(']').to_owned())
            .filter(|s| !s.is_empty()),
    );
    path
}

fn set_path(target: &mut Value, path: &[String], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        *target = value;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(map) = target {
        let slot = map.entry(first.clone()).or_insert(Value::Null);
        set_path(slot, rest, value);
    }
}

/// The `result` of a `batch` call. Empty maps arrive as `[]`.
#[derive(Default, Deserialize)]
pub(crate) struct BatchAnswer {
    #[serde(default, with = "As::<Map<Same>>")]
    pub(crate) result: BTreeMap<String, Box<RawValue>>,
    #[serde(default, with = "As::<Map<Same>>")]
    pub(crate) result_error: BTreeMap<String, CommandError>,
    #[serde(default, with = "As::<Map<crate::codec::Int>>")]
    pub(crate) result_total: BTreeMap<String, i64>,
    #[serde(default, with = "As::<Map<crate::codec::Int>>")]
    pub(crate) result_next: BTreeMap<String, i64>,
    #[serde(default, with = "As::<Map<Same>>")]
    pub(crate) result_time: BTreeMap<String, Time>,
}

impl BatchAnswer {
    fn merge(&mut self, other: Self) {
        self.result.extend(other.result);
        self.result_error.extend(other.result_error);
        self.result_total.extend(other.result_total);
        self.result_next.extend(other.result_next);
    }

    /// Moves the outcome of command `key` (of `method`) out of the answer.
    fn take(&mut self, key: &str, method: &str) -> Slot {
        if let Some(raw) = self.result.remove(key) {
            Slot::Done {
                raw,
                total: self.result_total.get(key).copied(),
                next: self.result_next.get(key).copied(),
            }
        } else if let Some(e) = self.result_error.remove(key) {
            Slot::Failed(e.into_api_error(method))
        } else {
            Slot::NotRun
        }
    }
}

/// One command's error inside a `batch` answer.
#[derive(Deserialize)]
pub(crate) struct CommandError {
    #[serde(default)]
    pub(crate) error: String,
    #[serde(default)]
    pub(crate) error_description: String,
}

impl CommandError {
    /// The command's error as the portal's error for `method`.
    pub(crate) fn into_api_error(self, method: &str) -> ApiError {
        ApiError {
            method: method.to_owned(),
            code: ErrorCode::from(self.error.as_str()),
            description: self.error_description,
            status: 200,
        }
    }

    fn is_freeze(&self) -> bool {
        ErrorCode::from(self.error.as_str()) == ErrorCode::OperationTimeLimit
    }
}

/// Why the commands of a `batch` call have no answer of their own.
#[derive(Debug, Clone)]
enum Lost {
    /// The portal refused the call with an error envelope: no command ran.
    Refused(ApiError),
    /// The answer was lost after the call may have run (a reset, a gateway page, a cut-off
    /// body, an internal error mid-way): each command may or may not have run.
    Unknown(Arc<Error>),
    /// The call failed otherwise (an idempotent call that kept failing).
    Failed(Arc<Error>),
}

impl Lost {
    fn from(error: Error, idempotent: bool) -> Self {
        match error {
            Error::OutcomeUnknown { source, .. } => Self::Unknown(Arc::from(source)),
            // A batch that failed inside may have run some of its commands.
            Error::Api(e)
                if !idempotent
                    && matches!(
                        e.code,
                        ErrorCode::InternalServerError | ErrorCode::ErrorUnexpectedAnswer
                    ) =>
            {
                Self::Unknown(Arc::new(Error::Api(e)))
            }
            Error::Api(e) => Self::Refused(e),
            other => Self::Failed(Arc::new(other)),
        }
    }
}

#[derive(Debug)]
enum Slot {
    Done {
        raw: Box<RawValue>,
        total: Option<i64>,
        next: Option<i64>,
    },
    Failed(ApiError),
    Lost(Lost),
    NotRun,
}

impl Slot {
    /// The command's typed outcome.
    fn outcome<M: Method>(&self, decoding: crate::Decoding) -> Result<M::Output, Error> {
        match self {
            Slot::Done { raw, .. } => decoding
                .decode::<M::Output, M::OutputCodec>(M::NAME, "result", raw.get())
                .map_err(|message| Error::Decode {
                    method: M::NAME.to_owned(),
                    status: 200,
                    message,
                    body_start: crate::wire::envelope::body_start(raw.get()),
                }),
            Slot::Failed(e) | Slot::Lost(Lost::Refused(e)) => Err(Error::Api(e.clone())),
            Slot::Lost(Lost::Unknown(source)) => Err(Error::OutcomeUnknown {
                method: M::NAME.to_owned(),
                source: Box::new(Error::Shared(source.clone())),
            }),
            Slot::Lost(Lost::Failed(source)) => Err(Error::Shared(source.clone())),
            Slot::NotRun => Err(Error::NotExecuted {
                method: M::NAME.to_owned(),
            }),
        }
    }
}

/// What each command of a [`Batch`] returned.
#[derive(Debug)]
pub struct BatchResults {
    slots: Vec<Slot>,
    decoding: crate::Decoding,
}

impl BatchResults {
    /// The command's outcome: its typed result, its own error, [`Error::OutcomeUnknown`] when
    /// the answer of its call was lost, or [`Error::NotExecuted`] when it did not run.
    pub fn get<M: Method>(&self, handle: &Handle<M>) -> Result<M::Output, Error> {
        self.slot(handle.index)?.outcome::<M>(self.decoding)
    }

    /// `total` of a list command, when the portal counted.
    pub fn total<M: Method>(&self, handle: &Handle<M>) -> Option<i64> {
        match self.slot(handle.index).ok()? {
            Slot::Done { total, .. } => *total,
            _ => None,
        }
    }

    /// `next` of a list command, when there is a next page.
    pub fn next<M: Method>(&self, handle: &Handle<M>) -> Option<i64> {
        match self.slot(handle.index).ok()? {
            Slot::Done { next, .. } => *next,
            _ => None,
        }
    }

    /// How many commands failed with an error of their own.
    pub fn error_count(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| matches!(s, Slot::Failed(_)))
            .count()
    }

    /// How many commands have no answer of their own because their call failed; of those,
    /// the ones whose answer was lost after they may have run come back as
    /// [`Error::OutcomeUnknown`].
    pub fn lost_count(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| matches!(s, Slot::Lost(_)))
            .count()
    }

    fn slot(&self, index: usize) -> Result<&Slot, Error> {
        self.slots.get(index).ok_or_else(|| {
            Error::Config(format!(
                "batch: handle {index} belongs to another batch ({} commands)",
                self.slots.len()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(depends_on: Vec<usize>) -> Command {
        Command {
            method: "m",
            params: Ok(Value::Null),
            idempotent: true,
            depends_on,
        }
    }

    #[test]
    fn plans_fill_calls_and_keep_chains_together() {
        let commands: Vec<Command> = (0..120).map(|_| command(vec![])).collect();
        let chunks = plan(&commands).unwrap();
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![50, 50, 20]
        );

        // 45 independent commands, then a chain of 10: the chain cannot join the first call.
        let mut commands: Vec<Command> = (0..45).map(|_| command(vec![])).collect();
        commands.push(command(vec![]));
        for i in 46..55 {
            commands.push(command(vec![i - 1]));
        }
        let chunks = plan(&commands).unwrap();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1], (45..55).collect::<Vec<_>>());

        let long: Vec<Command> = (0..51)
            .map(|i| command(if i == 0 { vec![] } else { vec![i - 1] }))
            .collect();
        assert!(plan(&long).is_err());
    }

    #[test]
    fn references_render_as_php_paths() {
        let r = Reference {
            command: 3,
            path: vec![],
        }
        .field("items")
        .index(0)
        .field("id");
        assert_eq!(r.render(), "$result[c3][items][0][id]");
        assert_eq!(
            bracket_path("fields[CONTACT_ID]"),
            vec!["fields", "CONTACT_ID"]
        );
        let mut params = serde_json::json!({"fields": {"TITLE": "x"}});
        set_path(
            &mut params,
            &bracket_path("fields[CONTACT_ID]"),
            Value::String(r.render()),
        );
        assert_eq!(params["fields"]["CONTACT_ID"], "$result[c3][items][0][id]");
        assert_eq!(params["fields"]["TITLE"], "x");
    }
}
