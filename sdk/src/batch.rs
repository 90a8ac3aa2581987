//! Typed `batch`: many requests in few HTTP calls, each result typed and attributed.
//!
//! A portal runs up to 50 commands per `batch` call and counts the call once against the rate
//! limit. [`Batch`] takes any number of typed requests, splits them into calls of at most 50,
//! and hands back each command's typed result or its own error. A command may use a field of an
//! earlier command's result (`$result[key][FIELD]` on the wire, substituted by the portal); the
//! planner keeps such a chain in one HTTP call, because the portal resolves references only
//! within a call.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::codec::{As, Map, Same};
use crate::error::{ApiError, Error, ErrorCode};
use crate::{CallOptions, Client, Method};

/// Commands a portal runs in one `batch` call.
pub const MAX_COMMANDS: usize = 50;

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
    /// [`Error::NotExecuted`].
    pub fn halt(mut self, halt: bool) -> Self {
        self.halt = halt;
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
    /// allow, one call after another.
    pub async fn send(self) -> Result<BatchResults, Error> {
        let chunks = plan(&self.commands)?;
        let mut slots: Vec<Slot> = (0..self.commands.len()).map(|_| Slot::NotRun).collect();
        let mut halted = false;
        for chunk in chunks {
            if halted {
                break;
            }
            let mut answer = self.send_chunk(&chunk).await?;
            for index in chunk {
                let k = key(index);
                slots[index] = if let Some(raw) = answer.result.remove(&k) {
                    Slot::Done {
                        raw,
                        total: answer.result_total.get(&k).copied(),
                        next: answer.result_next.get(&k).copied(),
                    }
                } else if let Some(e) = answer.result_error.remove(&k) {
                    halted |= self.halt;
                    Slot::Failed(e.into_api_error(self.commands[index].method))
                } else {
                    Slot::NotRun
                };
            }
        }
        Ok(BatchResults {
            slots,
            decoding: self.client.inner.decoding,
        })
    }

    async fn send_chunk(&self, chunk: &[usize]) -> Result<BatchAnswer, Error> {
        let mut cmd = serde_json::Map::new();
        for &index in chunk {
            let command = &self.commands[index];
            let params = command
                .params
                .as_ref()
                .map_err(|message| Error::encode(command.method, message))?;
            cmd.insert(
                key(index),
                Value::String(command_line(command.method, params)),
            );
        }
        let idempotent = chunk.iter().all(|&i| self.commands[i].idempotent);
        send_batch(&self.client, cmd, self.halt, idempotent).await
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
/// be) and decodes its `result`.
pub(crate) async fn send_batch(
    client: &Client,
    cmd: serde_json::Map<String, Value>,
    halt: bool,
    idempotent: bool,
) -> Result<BatchAnswer, Error> {
    let body = serde_json::to_vec(&serde_json::json!({ "halt": u8::from(halt), "cmd": cmd }))
        .map_err(|e| Error::encode("batch", e))?;
    let response = client
        .call_raw(
            "batch",
            &body,
            CallOptions::default().idempotent(idempotent),
        )
        .await?;
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
#[derive(Deserialize)]
pub(crate) struct BatchAnswer {
    #[serde(default, with = "As::<Map<Same>>")]
    pub(crate) result: BTreeMap<String, Box<RawValue>>,
    #[serde(default, with = "As::<Map<Same>>")]
    pub(crate) result_error: BTreeMap<String, CommandError>,
    #[serde(default, with = "As::<Map<crate::codec::Int>>")]
    pub(crate) result_total: BTreeMap<String, i64>,
    #[serde(default, with = "As::<Map<crate::codec::Int>>")]
    pub(crate) result_next: BTreeMap<String, i64>,
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
}

#[derive(Debug)]
enum Slot {
    Done {
        raw: Box<RawValue>,
        total: Option<i64>,
        next: Option<i64>,
    },
    Failed(ApiError),
    NotRun,
}

/// What each command of a [`Batch`] returned.
#[derive(Debug)]
pub struct BatchResults {
    slots: Vec<Slot>,
    decoding: crate::Decoding,
}

impl BatchResults {
    /// The typed result of a command, or its own error.
    pub fn get<M: Method>(&self, handle: &Handle<M>) -> Result<M::Output, Error> {
        match self.slot(handle.index)? {
            Slot::Done { raw, .. } => self
                .decoding
                .decode::<M::Output, M::OutputCodec>(M::NAME, "result", raw.get())
                .map_err(|message| Error::Decode {
                    method: M::NAME.to_owned(),
                    status: 200,
                    message,
                    body_start: crate::wire::envelope::body_start(raw.get()),
                }),
            Slot::Failed(e) => Err(Error::Api(e.clone())),
            Slot::NotRun => Err(Error::NotExecuted {
                method: M::NAME.to_owned(),
            }),
        }
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
