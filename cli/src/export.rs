//! `b24 list METHOD --out FILE.ndjson|FILE.csv`: a whole list to a file, interrupt-safe and
//! resumable.
//!
//! **How resume works.** Rows are appended to the output in list order (id order for keyset
//! paging). After each chunk of rows the output is flushed and synced, then a small state file
//! beside it (`FILE.b24-state.json`, written atomically) records how many rows and bytes are
//! complete, the last id written, the CSV columns, and the method and parameters. On Ctrl-C
//! or SIGTERM the export stops, saves that state and exits with 130; after a crash or
//! SIGKILL the state is at most one chunk behind the file. `--resume` checks that the command
//! is the same, cuts the output back to the recorded byte count (dropping any half-written or
//! unrecorded rows) and continues: keyset paging after the last id, offset paging at the
//! recorded row count (after checking that the last written row is still where it was). So
//! every row ends up in the file exactly once. The state file is removed when the export
//! completes.
//!
//! **CSV columns** are the `--select` fields in order (plus the id field first for keyset
//! paging, which needs it); without `--select` (or with a wildcard such as `*` or `UF_*`) they
//! are the union of the keys of the first page, in order of appearance. Fields outside the
//! columns are left out (reported at the end); nested values are written as JSON text; `null`
//! is an empty cell.

use std::fs::File;
use std::io::{IsTerminal, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bitrix24::{Client, ErrorCode, Resume, paging};
use bitrix24_codegen::Paging;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::call;
use crate::catalog;
use crate::config;
use crate::lister::{self, Event, Mode, Spec, Tally};
use crate::params;
use crate::signals::Signals;
use crate::util::{Failure, Outcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Ndjson,
    Csv,
}

/// `--paging`: what to use instead of the automatic choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PagingArg {
    /// Keyset for methods the schema marks so (unless ordered or filtered by something that
    /// rules it out), offset paging for other list methods, `next` for methods outside the
    /// schema.
    Auto,
    Keyset,
    Offset,
    Next,
}

pub struct ListArgs {
    pub method: String,
    pub args: Vec<String>,
    pub filter: Vec<String>,
    pub select: Vec<String>,
    pub order: Vec<String>,
    pub out: PathBuf,
    pub format: Option<Format>,
    pub resume: bool,
    pub force: bool,
    pub concurrency: usize,
    pub paging: PagingArg,
    pub id_field: Option<String>,
    pub no_validate: bool,
    pub quiet: bool,
    /// CSV: keep cells that start like a formula as they are.
    pub csv_formulas: bool,
}

/// The state file beside an output.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    version: u32,
    method: String,
    params: Value,
    format: Format,
    mode: String,
    id_field: String,
    /// CSV: the header, once written.
    columns: Option<Vec<String>>,
    /// Complete rows in the output.
    rows: u64,
    /// Bytes of the output that hold them (and the CSV header).
    bytes: u64,
    /// Id of the last row written, when rows have ids.
    last_id: Option<i64>,
    /// Rows in the list when last counted.
    total: Option<u64>,
}

const STATE_VERSION: u32 = 1;

fn state_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".b24-state.json");
    PathBuf::from(name)
}

fn read_state(path: &Path) -> Outcome<Option<State>> {
    match std::fs::read(path) {
        Ok(data) => serde_json::from_slice(&data).map(Some).map_err(|e| {
            Failure::usage(format!(
                "{}: not a b24 export state ({e}); remove it to start over",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::other(format!("{}: {e}", path.display()))),
    }
}

/// What is read and how: the parameters, the walk, the format.
struct Plan {
    spec: Spec,
    format: Format,
    /// `--select` without wildcards: the CSV columns.
    columns: Option<Vec<String>>,
}

fn plan(args: &ListArgs) -> Outcome<Plan> {
    let method = args.method.as_str();
    let mut assignments: Vec<(Option<&str>, &str)> =
        args.args.iter().map(|a| (None, a.as_str())).collect();
    assignments.extend(args.filter.iter().map(|f| (Some("filter"), f.as_str())));
    let mut params = params::build_prefixed(assignments)?;
    let select: Vec<String> = args
        .select
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if !select.is_empty() {
        if params.contains_key("select") {
            return Err(Failure::usage(
                "select is given twice (--select and select=...)",
            ));
        }
        params.insert("select".to_owned(), json!(select));
    }
    if !args.order.is_empty() {
        if params.contains_key("order") {
            return Err(Failure::usage(
                "order is given twice (--order and order[...]=...)",
            ));
        }
        let mut order = Map::new();
        for item in &args.order {
            let (field, direction) = match item.split_once('=') {
                Some((f, d)) => (f.trim(), d.trim().to_ascii_uppercase()),
                None => (item.trim(), "ASC".to_owned()),
            };
            if field.is_empty() || !matches!(direction.as_str(), "ASC" | "DESC") {
                return Err(Failure::usage(format!(
                    "--order {item:?}: expected FIELD, FIELD=ASC or FIELD=DESC"
                )));
            }
            order.insert(field.to_owned(), Value::String(direction));
        }
        params.insert("order".to_owned(), Value::Object(order));
    }
    for managed in ["start", "auth"] {
        if params.keys().any(|k| k.eq_ignore_ascii_case(managed)) {
            return Err(Failure::usage(format!(
                "{managed} is set by b24 list itself; leave it out"
            )));
        }
    }

    let info = catalog::find(method)?;
    let (known_paging, batchable, rest_v3) = match &info {
        Some(info) => {
            if info.paging == Paging::None {
                return Err(Failure::usage(format!(
                    "{} is not a list method (the schema gives it no paging); use b24 call {}",
                    info.name, info.name
                )));
            }
            call::warn_deprecated(info, args.quiet);
            if !args.no_validate {
                params = call::validated(info, params)?;
            }
            (Some(info.paging), info.batchable, info.rest_v3)
        }
        None => (None, false, false),
    };
    // The schema's id field (`ID`, or `id` for methods that spell it so), unless overridden.
    let list = info.as_ref().and_then(|i| i.list.as_ref());
    let id_field = args
        .id_field
        .clone()
        .or_else(|| list.map(|l| l.id_field.clone()))
        .unwrap_or_else(|| "ID".to_owned());
    let keyset_possible = paging::leaves_ids_to_keyset(&params, &id_field) && !rest_v3;
    let mode = match args.paging {
        PagingArg::Auto => match known_paging {
            Some(Paging::Keyset) if keyset_possible && batchable => Mode::Keyset,
            Some(_) => Mode::Offset,
            None => Mode::Next,
        },
        PagingArg::Keyset if !keyset_possible => {
            return Err(Failure::usage(format!(
                "--paging keyset orders and filters by {id_field} itself: leave out --order and \
                 filters on {id_field}"
            )));
        }
        PagingArg::Keyset => Mode::Keyset,
        PagingArg::Offset => Mode::Offset,
        PagingArg::Next => Mode::Next,
    };
    // Keyset paging needs the id of every row.
    if mode == Mode::Keyset
        && let Some(Value::Array(select)) = params.get_mut("select")
        && !select.is_empty()
        && !select.iter().any(|f| f.as_str() == Some(id_field.as_str()))
    {
        select.insert(0, Value::String(id_field.clone()));
    }
    let columns = match params.get("select") {
        Some(Value::Array(fields))
            if !fields.is_empty()
                && fields
                    .iter()
                    .all(|f| f.as_str().is_some_and(|f| !f.contains('*'))) =>
        {
            Some(
                fields
                    .iter()
                    .filter_map(|f| f.as_str().map(str::to_owned))
                    .collect(),
            )
        }
        _ => None,
    };
    let format = match args.format {
        Some(f) => f,
        None => {
            let name = args.out.to_string_lossy().to_ascii_lowercase();
            if name.ends_with(".csv") {
                Format::Csv
            } else if name.ends_with(".ndjson") || name.ends_with(".jsonl") || name == "-" {
                Format::Ndjson
            } else {
                return Err(Failure::usage(format!(
                    "{}: name it .ndjson or .csv, or pass --format ndjson|csv",
                    args.out.display()
                )));
            }
        }
    };
    Ok(Plan {
        spec: Spec {
            method: info.map_or_else(|| method.to_owned(), |i| i.name.clone()),
            params,
            mode,
            batchable: batchable && !rest_v3,
            rest_v3,
            id_field,
            concurrency: args.concurrency.max(1),
        },
        format,
        columns,
    })
}

/// The output file (or stdout) and what has been written to it.
struct Output {
    sink: Sink,
    format: Format,
    columns: Option<Vec<String>>,
    /// CSV: the header line is in the file.
    header_written: bool,
    /// Bytes of complete rows.
    bytes: u64,
    rows: u64,
    last_id: Option<i64>,
    /// CSV: fields that were not in the columns, and in how many rows.
    dropped: Vec<String>,
    dropped_rows: u64,
    /// CSV: write formula-like cells as they are ([`neutralised`] otherwise).
    formulas: bool,
}

enum Sink {
    File(File),
    Stdout(std::io::Stdout),
}

impl Output {
    /// An output with nothing written yet.
    fn new(sink: Sink, format: Format, columns: Option<Vec<String>>) -> Self {
        Self {
            sink,
            format,
            columns,
            header_written: false,
            bytes: 0,
            rows: 0,
            last_id: None,
            dropped: Vec::new(),
            dropped_rows: 0,
            formulas: false,
        }
    }

    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match &mut self.sink {
            Sink::File(f) => f.write_all(data),
            Sink::Stdout(s) => {
                let mut lock = s.lock();
                lock.write_all(data)?;
                lock.flush()
            }
        }
    }

    /// Appends rows (and the CSV header before the first ones).
    fn append(&mut self, rows: &[Value], id_field: &str) -> std::io::Result<()> {
        let mut buffer = Vec::with_capacity(rows.len() * 256);
        match self.format {
            Format::Ndjson => {
                for row in rows {
                    serde_json::to_writer(&mut buffer, row)?;
                    buffer.push(b'\n');
                }
            }
            Format::Csv => {
                if !self.header_written && self.columns.is_none() {
                    let mut columns: Vec<String> = Vec::new();
                    for row in rows {
                        if let Value::Object(map) = row {
                            for key in map.keys() {
                                if !columns.contains(key) {
                                    columns.push(key.clone());
                                }
                            }
                        }
                    }
                    if columns.is_empty() {
                        // Nothing to derive columns from yet.
                        if rows.is_empty() {
                            return Ok(());
                        }
                        columns.push("value".to_owned());
                    }
                    self.columns = Some(columns);
                }
                if !self.header_written {
                    let columns = self.columns.as_deref().unwrap_or_default();
                    csv_line(&mut buffer, columns.iter().map(|c| c.as_str().into()));
                    self.header_written = true;
                }
                let columns = self.columns.as_deref().unwrap_or_default();
                for row in rows {
                    let cells = columns.iter().map(|c| {
                        let cell = match row {
                            Value::Object(map) => cell(map.get(c)),
                            // Rows that are not objects go into the first column.
                            other => cell(Some(other)),
                        };
                        if self.formulas {
                            cell
                        } else {
                            neutralised(cell)
                        }
                    });
                    csv_line(&mut buffer, cells);
                    if let Value::Object(map) = row {
                        let mut dropped = false;
                        for key in map.keys().filter(|k| !columns.contains(k)) {
                            dropped = true;
                            if self.dropped.len() < 10 && !self.dropped.contains(key) {
                                self.dropped.push(key.clone());
                            }
                        }
                        self.dropped_rows += u64::from(dropped);
                    }
                }
            }
        }
        self.write_all(&buffer)?;
        self.bytes += buffer.len() as u64;
        self.rows += rows.len() as u64;
        if let Some(id) = rows.last().and_then(|r| lister::row_id(r, id_field)) {
            self.last_id = Some(id);
        }
        Ok(())
    }

    /// A CSV export without rows still gets its header, when the columns are known.
    fn finish(&mut self) -> std::io::Result<()> {
        if self.format == Format::Csv && !self.header_written && self.columns.is_some() {
            self.append(&[], "")?;
        }
        Ok(())
    }

    /// Makes what was appended durable before the state says it is there.
    fn sync(&mut self) -> std::io::Result<()> {
        match &mut self.sink {
            Sink::File(f) => {
                f.flush()?;
                f.sync_data()
            }
            Sink::Stdout(s) => s.lock().flush(),
        }
    }
}

/// A CSV cell: text as is, numbers and booleans as text, lists and maps as JSON, null empty.
fn cell(value: Option<&Value>) -> std::borrow::Cow<'_, str> {
    match value {
        None | Some(Value::Null) => "".into(),
        Some(Value::String(s)) => s.as_str().into(),
        Some(Value::Number(n)) => n.to_string().into(),
        Some(Value::Bool(b)) => b.to_string().into(),
        Some(other) => other.to_string().into(),
    }
}

/// A cell a spreadsheet would run as a formula — starting with `=`, `+`, `-` or `@`, or with a
/// tab or carriage return before one — with a leading `'`, which spreadsheets show as text
/// (OWASP's advice against CSV injection: portal data is anyone's input). Numbers stay as they
/// are: `-1500` is a number, not a formula.
fn neutralised(cell: std::borrow::Cow<'_, str>) -> std::borrow::Cow<'_, str> {
    let formula_like = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let number = cell
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
        && cell.parse::<f64>().is_ok();
    if formula_like && !number {
        format!("'{cell}").into()
    } else {
        cell
    }
}

/// One RFC 4180 line (LF-terminated): cells with commas, quotes or line breaks are quoted.
fn csv_line<'a>(out: &mut Vec<u8>, cells: impl Iterator<Item = std::borrow::Cow<'a, str>>) {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if cell.contains([',', '"', '\n', '\r']) || cell.starts_with(' ') || cell.ends_with(' ') {
            out.push(b'"');
            out.extend_from_slice(cell.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        } else {
            out.extend_from_slice(cell.as_bytes());
        }
    }
    out.push(b'\n');
}

pub async fn run(client: &Client, args: ListArgs) -> Outcome {
    // Listen for Ctrl-C from the start: a signal during the first request stops cleanly too.
    let mut signals = Signals::install();
    let plan = plan(&args)?;
    let to_stdout = args.out.as_os_str() == "-";
    if to_stdout && args.resume {
        return Err(Failure::usage("--resume needs an output file, not -"));
    }
    let state_file = state_path(&args.out);
    let fingerprint = json!({"method": plan.spec.method, "params": plan.spec.params});
    let mut spec = plan.spec.clone();
    let tally = Tally::default();

    // Where to start, and the output opened for appending there.
    let (mut output, start, mut state) = if to_stdout {
        let output = Output::new(
            Sink::Stdout(std::io::stdout()),
            plan.format,
            plan.columns.clone(),
        );
        (output, Resume::Start, None)
    } else {
        let existing = read_state(&state_file)?;
        match (existing, args.resume, args.force) {
            (Some(state), true, _) => {
                let same = state.version == STATE_VERSION
                    && json!({"method": state.method, "params": state.params}) == fingerprint
                    && state.format == plan.format;
                if !same {
                    return Err(Failure::usage(format!(
                        "{} belongs to another export ({} with {}, {:?}); resume it with the same \
                         method, parameters and format, or start over with --force",
                        state_file.display(),
                        state.method,
                        state.params,
                        state.format
                    )));
                }
                resume(
                    client,
                    &args,
                    &mut spec,
                    state,
                    plan.columns.clone(),
                    &tally,
                )
                .await?
            }
            (Some(state), false, false) => {
                return Err(Failure::usage(format!(
                    "an interrupted export to {} exists ({} rows written); continue it with \
                     --resume, or start over with --force",
                    args.out.display(),
                    state.rows
                )));
            }
            (None, true, _) if args.out.exists() => {
                return Err(Failure::usage(format!(
                    "nothing to resume: {} exists but {} does not (the export finished, or the \
                     file was not written by b24 list); start over with --force",
                    args.out.display(),
                    state_file.display()
                )));
            }
            _ => fresh(&args, &plan, &state_file)?,
        }
    };
    output.formulas = args.csv_formulas;
    if state.is_none() && !to_stdout {
        state = Some(State {
            version: STATE_VERSION,
            method: spec.method.clone(),
            params: Value::Object(spec.params.clone()),
            format: plan.format,
            mode: spec.mode.name().to_owned(),
            id_field: spec.id_field.clone(),
            columns: None,
            rows: 0,
            bytes: 0,
            last_id: None,
            total: None,
        });
    }
    let save = |state: &mut Option<State>,
                output: &mut Output,
                total: Option<u64>,
                mode: Mode|
     -> Outcome {
        let Some(state) = state else {
            return Ok(());
        };
        output
            .sync()
            .map_err(|e| Failure::other(format!("{}: {e}", args.out.display())))?;
        state.rows = output.rows;
        state.bytes = output.bytes;
        state.last_id = output.last_id;
        state.total = total.or(state.total);
        state.mode = mode.name().to_owned();
        if state.columns.is_none() && output.header_written {
            state.columns.clone_from(&output.columns);
        }
        let data =
            serde_json::to_vec_pretty(state).map_err(|e| Failure::other(format!("state: {e}")))?;
        config::write_private(&state_file, &data)
    };
    save(&mut state, &mut output, None, spec.mode)?;

    let already = output.rows;
    let waits_before = client.rate_limiter().waits();
    let bar = progress_bar(args.quiet, already);
    let started = Instant::now();
    let mut events = lister::read(client, &spec, start, &tally);
    let mut total: Option<u64> = state.as_ref().and_then(|s| s.total);
    let mut mode = spec.mode;
    let mut failure = None;
    // A freeze holds the stream back without an event: the bar is told on a tick.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            biased;
            () = signals.recv() => {
                failure = Some(Failure::Interrupted);
                break;
            }
            _ = tick.tick() => bar.set_message(freeze_note(tally.frozen_until())),
            event = events.next() => match event {
                None => break,
                Some(Err(e)) => {
                    failure = Some(Failure::Api(e));
                    break;
                }
                Some(Ok(Event::Fallback(new_mode, why))) => {
                    mode = new_mode;
                    if !args.quiet {
                        bar.suspend(|| eprintln!("note: {why}"));
                    }
                }
                Some(Ok(Event::Rows(rows))) => {
                    if let Err(e) = output.append(&rows, &spec.id_field) {
                        failure = Some(Failure::other(format!("{}: {e}", args.out.display())));
                        break;
                    }
                    bar.inc(rows.len() as u64);
                    // Keyset paging counts the rows after the resume point, offset paging the
                    // whole list.
                    let counted = tally.total().map(|t| match mode {
                        Mode::Keyset => already + t,
                        Mode::Offset | Mode::Next => t,
                    });
                    if counted.is_some() && counted != total {
                        total = counted;
                        set_length(&bar, counted.unwrap_or_default());
                    }
                    save(&mut state, &mut output, total, mode)?;
                }
            }
        }
    }
    // In-flight requests are dropped with the stream; what was written is recorded.
    drop(events);
    if failure.is_none()
        && let Err(e) = output.finish()
    {
        failure = Some(Failure::other(format!("{}: {e}", args.out.display())));
    }
    save(&mut state, &mut output, total, mode)?;
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    let new_rows = output.rows - already;
    let requests = tally.requests();
    let target = if to_stdout {
        "stdout".to_owned()
    } else {
        args.out.display().to_string()
    };
    if let Some(failure) = failure {
        let written = match total {
            Some(t) => format!("{} of {t} rows", output.rows),
            None => format!("{} rows", output.rows),
        };
        if !to_stdout {
            let limited = match &failure {
                Failure::Api(e) => matches!(
                    e.code(),
                    Some(ErrorCode::OperationTimeLimit | ErrorCode::QueryLimitExceeded)
                ),
                _ => false,
            };
            eprintln!(
                "{}: {written} are in {target}; run the same command with --resume to continue{}",
                if matches!(failure, Failure::Interrupted) {
                    "interrupted"
                } else {
                    "stopped"
                },
                if limited {
                    " once the portal's limit resets (it counts each method's execution time \
                     per 10 minutes; keyset paging, the default where the method allows it, \
                     costs least)"
                } else {
                    ""
                }
            );
        }
        return Err(failure);
    }
    if state.is_some() {
        std::fs::remove_file(&state_file)
            .map_err(|e| Failure::other(format!("{}: {e}", state_file.display())))?;
    }
    if !args.quiet {
        let rate = new_rows as f64 / elapsed.as_secs_f64().max(0.001);
        let resumed = if already > 0 {
            format!(" (resumed after {already})")
        } else {
            String::new()
        };
        // Waits overlap when requests are in flight together: the count says more than the
        // summed time.
        let (waits, _) = client.rate_limiter().waits();
        let throttled = match waits.saturating_sub(waits_before.0) {
            0 => String::new(),
            n => format!(", {n} of them waited for the rate limit"),
        };
        eprintln!(
            "{} rows to {target}{resumed} in {:.2} s ({:.0} rows/s, {} paging, {requests} \
             request{}{throttled})",
            output.rows,
            elapsed.as_secs_f64(),
            rate,
            mode.name(),
            if requests == 1 { "" } else { "s" }
        );
        if output.dropped_rows > 0 {
            eprintln!(
                "note: {} rows had fields outside the CSV columns ({}{}); choose columns with \
                 --select",
                output.dropped_rows,
                output.dropped.join(", "),
                if output.dropped.len() >= 10 {
                    ", ..."
                } else {
                    ""
                }
            );
        }
    }
    Ok(())
}

/// Starts a new export: the output is created (or truncated).
fn fresh(
    args: &ListArgs,
    plan: &Plan,
    state_file: &Path,
) -> Outcome<(Output, Resume, Option<State>)> {
    if args.force {
        match std::fs::remove_file(state_file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Failure::other(format!("{}: {e}", state_file.display()))),
        }
    }
    let file = File::create(&args.out)
        .map_err(|e| Failure::other(format!("{}: {e}", args.out.display())))?;
    Ok((
        Output::new(Sink::File(file), plan.format, plan.columns.clone()),
        Resume::Start,
        None,
    ))
}

/// Continues an export from its state: the output is cut back to the recorded bytes.
async fn resume(
    client: &Client,
    args: &ListArgs,
    spec: &mut Spec,
    state: State,
    plan_columns: Option<Vec<String>>,
    tally: &Tally,
) -> Outcome<(Output, Resume, Option<State>)> {
    let mode = match state.mode.as_str() {
        "keyset" => Mode::Keyset,
        "offset" => Mode::Offset,
        "next" => Mode::Next,
        other => {
            return Err(Failure::usage(format!(
                "the state names an unknown paging mode {other:?}; start over with --force"
            )));
        }
    };
    spec.mode = mode;
    spec.id_field.clone_from(&state.id_field);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&args.out)
        .map_err(|e| Failure::other(format!("{}: cannot reopen it: {e}", args.out.display())))?;
    let length = file
        .metadata()
        .map_err(|e| Failure::other(format!("{}: {e}", args.out.display())))?
        .len();
    if length < state.bytes {
        return Err(Failure::usage(format!(
            "{} is shorter ({length} bytes) than its state says ({} bytes): it was changed \
             after the interruption; start over with --force",
            args.out.display(),
            state.bytes
        )));
    }
    let start = match (mode, state.last_id) {
        (Mode::Keyset, Some(id)) => Resume::AfterId(id),
        (Mode::Keyset, None) => Resume::Start,
        (_, last_id) => {
            // Offset paging resumes by position: make sure the list did not shift.
            if let Some(last_id) = last_id
                && state.rows > 0
                && !lister::still_at(client, spec, state.rows, last_id, tally).await?
            {
                return Err(Failure::usage(format!(
                    "the list changed since the export was interrupted (row {} no longer has \
                     {} {last_id}), so offset paging can't continue without duplicates or gaps; \
                     start over with --force",
                    state.rows, spec.id_field
                )));
            }
            Resume::AtOffset(state.rows)
        }
    };
    file.set_len(state.bytes)
        .and_then(|()| file.seek(std::io::SeekFrom::End(0)).map(|_| ()))
        .map_err(|e| Failure::other(format!("{}: {e}", args.out.display())))?;
    if !args.quiet && length > state.bytes {
        eprintln!(
            "resume: dropped {} bytes written after the last checkpoint",
            length - state.bytes
        );
    }
    let output = Output {
        header_written: state.columns.is_some(),
        bytes: state.bytes,
        rows: state.rows,
        last_id: state.last_id,
        ..Output::new(
            Sink::File(file),
            state.format,
            state.columns.clone().or(plan_columns),
        )
    };
    Ok((output, start, Some(state)))
}

fn progress_bar(quiet: bool, position: u64) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {human_pos} rows  {rate}  {elapsed}  {msg}")
            .map(with_rate)
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_position(position);
    bar.reset_eta();
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn set_length(bar: &ProgressBar, total: u64) {
    bar.set_length(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{bar:30}] {human_pos}/{human_len} rows  {rate}  ETA {eta}  {msg}",
        )
        .map(with_rate)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
}

/// The bar's message while the portal has frozen the list method: "frozen until 14:32" (local
/// time); nothing otherwise.
fn freeze_note(until: Option<std::time::SystemTime>) -> String {
    until.map_or_else(String::new, |t| {
        let local: chrono::DateTime<chrono::Local> = t.into();
        format!("frozen until {}", local.format("%H:%M"))
    })
}

/// `{rate}`: whole rows per second.
fn with_rate(style: ProgressStyle) -> ProgressStyle {
    style.with_key(
        "rate",
        |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0} rows/s", state.per_sec());
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freeze_reads_as_the_local_time_it_ends() {
        assert_eq!(freeze_note(None), "");
        let at = std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let note = freeze_note(Some(at));
        let clock = note.strip_prefix("frozen until ").unwrap();
        let (hours, minutes) = clock.split_once(':').unwrap();
        assert!(hours.parse::<u8>().unwrap() < 24 && minutes.parse::<u8>().unwrap() < 60);
        assert_eq!((hours.len(), minutes.len()), (2, 2), "{note}");
    }
}
