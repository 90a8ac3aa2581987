//! `bitrix24-codegen`: checks a schema directory, or prints the code the SDK would generate from
//! it, without building the SDK.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

/// `print!` that stops quietly when stdout is closed (`... | head`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

macro_rules! outln {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

use bitrix24_codegen::{EmitOptions, Exclusions, Facts, Schema, emit, load_dir};

const USAGE: &str = "\
usage: bitrix24-codegen check <dir>
       bitrix24-codegen emit <dir> [--out FILE] [--scopes a,b] [--runtime PATH]
       bitrix24-codegen import <facts.json> <dir> [--dry-run] [--examples DIR]
       bitrix24-codegen drift <facts.json> <dir> [--examples DIR]
       bitrix24-codegen stats <dir>
       bitrix24-codegen examples <docs-checkout> <facts.json> <out-dir>

check    validates every *.toml in <dir> and reports all problems
emit     prints the generated Rust code (or writes it to FILE)
  --scopes a,b     only these scopes (common is always included); default: all
  --runtime PATH   path of the runtime crate in the generated code; default `crate`,
                   as inside the SDK (which also adds the `Client` methods);
                   `::bitrix24` for a user's own build script
import   adds every documented method and event the schema lacks (and
         <dir>/facts/excluded.toml does not list) to its scope's file, typed from the
         facts, for review
  --dry-run        only list what would be added
  --examples DIR   learn from the docs' examples first (the output of `examples`):
                   array or object per param, full result examples, deprecation notes
                   in any case, params under unusual headings, event names as sent
drift    compares the schema with a facts file: methods, events, params and event data
         fields added, removed or retyped, deprecations changed; with --examples also
         the shapes of the documented answers, requests and event data and the event
         names portals send; exits 1 when a difference is unexplained (not in the
         exclusion list, no `note` on the schema item)
stats    prints Markdown tables of what is typed, per scope, and of the docs' examples
         that round-trip (from <dir>/facts/roundtrip.json, which the SDK's schema_examples
         test writes)
examples reads every request, response and event example of the pages <facts.json>
         lists from a git checkout of the docs into <out-dir> (one <scope>.jsonl per
         scope and INDEX.md with the counts)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Drift) => ExitCode::FAILURE,
        Err(Failure::Schema(message)) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    /// `drift` found unexplained differences (already printed).
    Drift,
    /// The command line is wrong.
    Usage(String),
    /// The schema (or the output file) is.
    Schema(String),
}

fn run(args: &[String]) -> Result<(), Failure> {
    match args {
        [] => Err(Failure::Usage("missing command".to_owned())),
        [flag] if flag == "-h" || flag == "--help" => {
            outln!("{USAGE}");
            Ok(())
        }
        [command, dir] if command == "check" => {
            let schema = load(dir)?;
            outln!(
                "ok: {} methods, {} events, {} types in {} files",
                schema.method_count(),
                schema.event_count(),
                schema.type_count(),
                schema.files.len()
            );
            Ok(())
        }
        [command, dir, options @ ..] if command == "emit" => emit_command(dir, options),
        [command, facts, dir, options @ ..] if command == "drift" => {
            drift_command(facts, dir, options)
        }
        [command, dir] if command == "stats" => stats_command(dir),
        [command, docs, facts, out] if command == "examples" => examples_command(docs, facts, out),
        [command, facts, dir, options @ ..] if command == "import" => {
            import_command(facts, dir, options)
        }
        [command, ..] if command == "check" => {
            Err(Failure::Usage("check takes one directory".to_owned()))
        }
        [command, ..] => Err(Failure::Usage(format!("unknown command {command:?}"))),
    }
}

fn load(dir: &str) -> Result<Schema, Failure> {
    load_dir(Path::new(dir)).map_err(|diagnostics| {
        let count = diagnostics.len();
        let s = if count == 1 { "" } else { "s" };
        Failure::Schema(format!("{diagnostics}\n{count} error{s} in {dir}"))
    })
}

fn emit_command(dir: &str, options: &[String]) -> Result<(), Failure> {
    let mut out = None;
    let mut scopes = None;
    let mut runtime = "crate".to_owned();
    let mut rest = options.iter();
    while let Some(option) = rest.next() {
        let mut value = || {
            rest.next()
                .ok_or_else(|| Failure::Usage(format!("{option} needs a value")))
        };
        match option.as_str() {
            "--out" => out = Some(value()?.clone()),
            "--runtime" => runtime = value()?.clone(),
            "--scopes" => {
                let list: BTreeSet<String> = value()?
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                scopes = Some(list);
            }
            other => return Err(Failure::Usage(format!("unknown option {other:?}"))),
        }
    }
    let schema = load(dir)?;
    if let Some(scopes) = &scopes {
        let known: BTreeSet<&str> = schema.scopes().collect();
        if let Some(unknown) = scopes.iter().find(|s| !known.contains(s.as_str())) {
            let known: Vec<&str> = known.into_iter().collect();
            return Err(Failure::Usage(format!(
                "unknown scope {unknown:?}; {dir} has: {}",
                known.join(", ")
            )));
        }
    }
    let client_methods = runtime == "crate";
    let code = emit(
        &schema,
        &EmitOptions {
            runtime,
            scopes,
            client_methods,
            deserialize_requests: false,
        },
    );
    match out {
        Some(path) => std::fs::write(&path, code)
            .map_err(|e| Failure::Schema(format!("cannot write {path}: {e}"))),
        None => {
            out!("{code}");
            Ok(())
        }
    }
}

fn exclusions(dir: &str) -> Result<Exclusions, Failure> {
    Exclusions::load(&Path::new(dir).join("facts/excluded.toml")).map_err(Failure::Schema)
}

/// The facts file, with the docs' examples learned into it when `--examples DIR` is given;
/// returns the options left over.
fn facts_with_examples<'a>(
    facts: &str,
    options: &'a [String],
) -> Result<(Facts, Vec<&'a String>), Failure> {
    let mut facts = Facts::load(Path::new(facts)).map_err(Failure::Schema)?;
    let mut rest = Vec::new();
    let mut options = options.iter();
    while let Some(option) = options.next() {
        if option == "--examples" {
            let dir = options
                .next()
                .ok_or_else(|| Failure::Usage("--examples needs a directory".to_owned()))?;
            let examples =
                bitrix24_codegen::Examples::load_dir(Path::new(dir)).map_err(Failure::Schema)?;
            facts.learn_from_examples(&examples);
        } else {
            rest.push(option);
        }
    }
    Ok((facts, rest))
}

fn import_command(facts: &str, dir: &str, options: &[String]) -> Result<(), Failure> {
    let (facts, options) = facts_with_examples(facts, options)?;
    let dry_run = match options.as_slice() {
        [] => false,
        [flag] if *flag == "--dry-run" => true,
        _ => {
            return Err(Failure::Usage(format!(
                "unknown import options {options:?}"
            )));
        }
    };
    let has_files = bitrix24_codegen::schema_files(Path::new(dir)).is_ok();
    let schema = if has_files { Some(load(dir)?) } else { None };
    let excluded = exclusions(dir)?;
    let imported = bitrix24_codegen::import(&facts, Path::new(dir), schema.as_ref(), &excluded)
        .map_err(Failure::Schema)?;
    for (scope, name) in &imported.methods {
        outln!("+ {scope}: {name}");
    }
    for (scope, name) in &imported.events {
        outln!("+ {scope}: event {name}");
    }
    if !dry_run {
        imported.write().map_err(Failure::Schema)?;
    }
    for scope in &imported.new_scopes {
        outln!(
            "new scope {scope}: add `{scope:?} = []` to [features] in sdk/Cargo.toml, and to `full`"
        );
    }
    outln!(
        "{} {} methods, {} events and {} types into {} files",
        if dry_run { "would add" } else { "added" },
        imported.methods.len(),
        imported.events.len(),
        imported.types,
        imported.files.len()
    );
    Ok(())
}

fn drift_command(facts: &str, dir: &str, options: &[String]) -> Result<(), Failure> {
    let (facts, options) = facts_with_examples(facts, options)?;
    if let Some(unknown) = options.first() {
        return Err(Failure::Usage(format!("unknown drift option {unknown:?}")));
    }
    let schema = load(dir)?;
    let report = bitrix24_codegen::drift(&schema, &facts, &exclusions(dir)?);
    out!("{report}");
    if report.unexplained.is_empty() {
        Ok(())
    } else {
        Err(Failure::Drift)
    }
}

fn examples_command(docs: &str, facts: &str, out: &str) -> Result<(), Failure> {
    let facts = Facts::load(Path::new(facts)).map_err(Failure::Schema)?;
    let examples =
        bitrix24_codegen::extract_examples(Path::new(docs), &facts).map_err(Failure::Schema)?;
    examples
        .write_dir(Path::new(out))
        .map_err(Failure::Schema)?;
    let count = |kind| examples.examples.iter().filter(|e| e.kind == kind).count();
    use bitrix24_codegen::ExampleKind::{Event, Request, Response};
    outln!(
        "{} requests, {} responses, {} event payloads; {} skipped (see {out}/INDEX.md)",
        count(Request),
        count(Response),
        count(Event),
        examples.skipped.len()
    );
    Ok(())
}

/// The typing tables, and the examples table when the round-trip test wrote its counts.
fn stats_command(dir: &str) -> Result<(), Failure> {
    let mut stats = bitrix24_codegen::stats(&load(dir)?);
    let counts = Path::new(dir).join("facts/roundtrip.json");
    if let Ok(text) = std::fs::read_to_string(&counts) {
        stats
            .read_round_trips(&text)
            .map_err(|e| Failure::Schema(format!("{}: {e}", counts.display())))?;
    }
    out!("{stats}");
    Ok(())
}
