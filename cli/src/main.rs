//! `b24`: the Bitrix24 REST API from the command line, built on the `bitrix24` SDK's public
//! API.
//!
//! ```text
//! b24 call crm.deal.get ID=7                      # one call, validated against the schema
//! b24 list crm.deal.list --out deals.csv          # a whole list, resumable, with a progress bar
//! b24 methods --search deal                       # the method catalog
//! b24 describe crm.deal.list                      # one method: params, paging, deprecation
//! b24 auth code CODE | refresh | show             # OAuth tokens
//! b24 sandbox --seed-deals 20000                  # a local portal to try all of it on
//! ```
//!
//! Exit codes: 0 success, 1 the portal or the network refused (the typed error is printed),
//! 2 a usage or validation error (nothing was sent), 130 interrupted.
#![forbid(unsafe_code)]

mod auth;
mod call;
mod catalog;
mod config;
mod export;
mod lister;
mod params;
mod sandbox;
mod signals;
mod util;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::util::{Failure, Outcome};

const MAIN_HELP: &str = "\
Credentials come from the environment or the config file (environment first):
  B24_WEBHOOK_URL                        an incoming webhook, or
  B24_PORTAL, B24_CLIENT_ID, B24_CLIENT_SECRET
    + B24_ACCESS_TOKEN, B24_REFRESH_TOKEN  (or tokens from `b24 auth code CODE`)
  B24_OAUTH_URL, B24_TOKEN_FILE, B24_PLAN  optional
  Tokens from B24_ACCESS_TOKEN/B24_REFRESH_TOKEN are renewed only with B24_TOKEN_FILE set:
  renewing spends the refresh token, and b24 keeps the new pair in that file.
  config file: --config, B24_CONFIG, else ~/.config/b24/config.toml (must be mode 0600)

Exit codes: 0 ok, 1 API or network error, 2 usage or validation error, 130 interrupted.

Examples:
  b24 sandbox --seed-deals 20000          # a local portal; prints export B24_... lines
  b24 call profile
  b24 call crm.deal.add 'FIELDS[TITLE]=Roof repair' FIELDS[OPPORTUNITY]:=1500
  b24 list crm.deal.list --select ID,TITLE --out deals.csv
  b24 describe crm.deal.list";

/// The Bitrix24 REST API from the command line.
#[derive(Parser)]
#[command(name = "b24", version, after_help = MAIN_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Config file [default: ~/.config/b24/config.toml]
    #[arg(long, global = true, env = "B24_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// No progress bar, warnings or summaries on stderr
    #[arg(long, short, global = true)]
    quiet: bool,
}

#[derive(Subcommand)]
enum Command {
    Call(CallCmd),
    List(ListCmd),
    Methods(MethodsCmd),
    Describe(DescribeCmd),
    Auth(AuthCmd),
    Sandbox(SandboxCmd),
    Completions(CompletionsCmd),
}

const CALL_HELP: &str = "\
Parameters:
  KEY=VALUE          a string (converted to the schema's type: ID=7 is sent as the number 7)
  KEY:=JSON          any JSON value: OPPORTUNITY:=1500, select:='[\"ID\",\"TITLE\"]'
  KEY:=@file.json    JSON read from a file
  'A[B]=VALUE'       nested, as PHP: FIELDS[TITLE]=x  ->  {\"FIELDS\":{\"TITLE\":\"x\"}}
  'A[]=VALUE'        appended to a list: select[]=ID select[]=TITLE

Methods in the catalog are checked before sending: unknown parameters (with the closest
names), values of the wrong type and missing required parameters are errors (exit 2).
Methods outside the catalog are sent as given.

Examples:
  b24 call profile
  b24 call crm.deal.get ID=7
  b24 call crm.deal.add 'FIELDS[TITLE]=Roof repair' FIELDS[OPPORTUNITY]:=1500
  b24 call crm.deal.list 'filter[>OPPORTUNITY]=1000' 'select[]=ID' 'select[]=TITLE' --raw
  b24 call vendor.custom.method X:='{\"a\":1}'      # not in the catalog: sent unchecked";

/// Call one method and print its result as JSON
#[derive(Args)]
#[command(after_help = CALL_HELP)]
struct CallCmd {
    /// Method name, e.g. crm.deal.get
    method: String,
    /// Parameters: KEY=VALUE, KEY:=JSON, 'A[B]=VALUE', 'A[]=VALUE'
    // The doc line is `--help` text, not rustdoc: `[B]` is a bracket key, not a link.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(value_name = "PARAM")]
    params: Vec<String>,
    /// Print the whole envelope: result, time, total, next
    #[arg(long)]
    raw: bool,
    /// Send the parameters without checking them against the catalog
    #[arg(long)]
    no_validate: bool,
    /// Call a method outside the catalog as REST 3.0 (/rest/api/)
    #[arg(long)]
    v3: bool,
    #[command(flatten)]
    client: ClientOpts,
}

/// How the client treats the portal.
#[derive(Args)]
struct ClientOpts {
    /// The portal's plan, for the client-side rate limit (also B24_PLAN or `plan` in the
    /// config) [default: standard]
    #[arg(long, value_name = "PLAN", value_parser = ["standard", "enterprise", "unlimited"])]
    plan: Option<String>,
}

const LIST_HELP: &str = "\
Reads every row with the fastest paging the method allows: keyset paging (by id, 2,500 rows
per request, several requests in flight) for methods the schema marks so, batched offset
pages for other list methods, one page at a time following `next` for methods outside the
schema. A progress bar shows on stderr when it is a terminal.

Interrupt and resume: Ctrl-C (or SIGTERM) stops cleanly and keeps FILE.b24-state.json beside
the output; run the same command with --resume to continue after the last row written, with
no duplicates and no gaps. The state file goes away when the export completes.

CSV columns: the --select fields (plus the id for keyset paging), else the keys of the first
page; nested values are JSON text.

Examples:
  b24 list crm.deal.list --out deals.ndjson
  b24 list crm.deal.list --select ID,TITLE,OPPORTUNITY --filter '>OPPORTUNITY=1000' --out big.csv
  b24 list crm.deal.list --out deals.ndjson --resume        # after Ctrl-C
  b24 list crm.item.list entityTypeId=2 --out items.ndjson
  b24 list user.get sort=LAST_NAME order=ASC --out users.csv   # user.get sorts its own way";

/// Export a whole list to NDJSON or CSV (resumable)
#[derive(Args)]
#[command(after_help = LIST_HELP)]
struct ListCmd {
    /// List method, e.g. crm.deal.list
    method: String,
    /// Other parameters, as for `b24 call`: entityTypeId=2
    #[arg(value_name = "PARAM")]
    params: Vec<String>,
    /// Output file: .ndjson (or .jsonl) or .csv; - for stdout (not resumable)
    #[arg(long, short, value_name = "FILE")]
    out: PathBuf,
    /// A filter condition, with Bitrix24's operators: '>OPPORTUNITY=1000', STAGE_ID=WON
    #[arg(long, value_name = "K=V")]
    filter: Vec<String>,
    /// Fields to read, comma-separated (also the CSV columns)
    #[arg(long, value_name = "F,...")]
    select: Vec<String>,
    /// Sort order: FIELD=ASC or FIELD=DESC (rules out keyset paging unless it is ID=ASC)
    #[arg(long, value_name = "F=ASC")]
    order: Vec<String>,
    /// Output format, when the file name does not tell
    #[arg(long, value_enum)]
    format: Option<export::Format>,
    /// Continue an interrupted export of the same command
    #[arg(long)]
    resume: bool,
    /// Start over even if an interrupted export exists
    #[arg(long, conflicts_with = "resume")]
    force: bool,
    /// Requests in flight at once
    #[arg(long, default_value_t = 4, value_name = "N")]
    concurrency: usize,
    /// Paging strategy
    #[arg(long, value_enum, default_value = "auto")]
    paging: export::PagingArg,
    /// The id field keyset paging goes by [default: ID, or id for camelCase methods]
    #[arg(long, value_name = "FIELD")]
    id_field: Option<String>,
    /// Send the parameters without checking them against the catalog
    #[arg(long)]
    no_validate: bool,
    /// CSV: write cells that start with =, +, - or @ as they are (by default they get a
    /// leading ' so that a spreadsheet shows them as text instead of running them)
    #[arg(long)]
    csv_formulas: bool,
    #[command(flatten)]
    client: ClientOpts,
}

const METHODS_HELP: &str = "\
Examples:
  b24 methods --scope imbot
  b24 methods --search deal list
  b24 methods --json | jq -r '.[] | select(.deprecated) | .name'";

/// List the methods of the catalog
#[derive(Args)]
#[command(after_help = METHODS_HELP)]
struct MethodsCmd {
    /// Only this scope (crm, im, imbot, ...)
    #[arg(long)]
    scope: Option<String>,
    /// Only methods whose name or description contains every WORD
    #[arg(long, num_args = 1.., value_name = "WORD")]
    search: Vec<String>,
    /// JSON instead of a table
    #[arg(long)]
    json: bool,
}

const DESCRIBE_HELP: &str = "\
Examples:
  b24 describe crm.deal.add
  b24 describe imbot.message.add --json";

/// Describe one method: parameters, result, paging, deprecation, docs
#[derive(Args)]
#[command(after_help = DESCRIBE_HELP)]
struct DescribeCmd {
    /// Method name
    method: String,
    /// JSON instead of text
    #[arg(long)]
    json: bool,
}

const AUTH_HELP: &str = "\
OAuth tokens live in a token file (default: tokens.json beside the config file, mode 0600);
the application (portal, client id and secret) in the environment or the config file.
Tokens given only in B24_ACCESS_TOKEN/B24_REFRESH_TOKEN are never renewed by other commands:
a renewal spends the refresh token, and the new pair would be lost at exit. Set
B24_TOKEN_FILE and b24 renews them when the portal refuses them and keeps the pair there.

Examples:
  export B24_CLIENT_ID=local.123 B24_CLIENT_SECRET=...
  b24 auth code 8a6f4c0e...                 # from the redirect after the user allowed the app
  b24 auth show                             # secrets masked
  b24 auth refresh";

/// OAuth: exchange an authorization code, renew, show what is configured
#[derive(Args)]
#[command(after_help = AUTH_HELP)]
struct AuthCmd {
    #[command(subcommand)]
    command: AuthSub,
}

#[derive(Subcommand)]
enum AuthSub {
    /// Exchange an authorization code for tokens and save them
    #[command(
        after_help = "Example:\n  b24 auth code 8a6f4c0e0000071b0000000100000001\n\n\
        Without a config file, one is created (mode 0600) with the portal and the application."
    )]
    Code {
        /// The `code` parameter of the redirect
        code: String,
        /// The portal, when neither B24_PORTAL nor the config names it (else taken from the
        /// OAuth server's answer)
        #[arg(long, value_name = "URL")]
        portal: Option<String>,
    },
    /// Renew the tokens now (grant_type=refresh_token)
    #[command(after_help = "Example:\n  b24 auth refresh")]
    Refresh,
    /// Show the portal, auth kind, scope and expiry (secrets masked)
    #[command(after_help = "Examples:\n  b24 auth show\n  b24 auth show --reveal   # full secrets")]
    Show {
        /// Print secrets in full
        #[arg(long)]
        reveal: bool,
    },
}

const SANDBOX_HELP: &str = "\
The sandbox speaks the Bitrix24 protocol on 127.0.0.1: webhooks and OAuth (expiring tokens,
rotating refresh tokens), paging, batch, errors and limits. Its credentials are printed in
full, with ready-to-paste `export B24_...` lines: they belong to this local portal only.

Examples:
  b24 sandbox --seed-deals 20000
  b24 sandbox --port 8080 --plan enterprise --json";

/// Run the offline sandbox portal on a local port
#[derive(Args)]
#[command(after_help = SANDBOX_HELP)]
struct SandboxCmd {
    /// Port on 127.0.0.1 (0: a free one)
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Deals to create at start
    #[arg(long, default_value_t = 0, value_name = "N")]
    seed_deals: usize,
    /// The rate limit the portal enforces
    #[arg(long, value_enum, default_value = "standard")]
    plan: PlanArg,
    /// Access token lifetime in seconds
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    token_ttl: u64,
    /// Execution seconds a method may use per 10 minutes before the portal blocks it
    /// (OPERATION_TIME_LIMIT), or `off`
    #[arg(long, default_value = "480", value_name = "SECONDS|off", value_parser = parse_operating_limit)]
    operating_limit: OperatingLimit,
    /// One JSON line instead of text
    #[arg(long)]
    json: bool,
}

/// `--operating-limit`: seconds, or `off`.
#[derive(Clone, Copy)]
struct OperatingLimit(Option<Duration>);

fn parse_operating_limit(value: &str) -> Result<OperatingLimit, String> {
    if value.eq_ignore_ascii_case("off") {
        return Ok(OperatingLimit(None));
    }
    value
        .parse::<u64>()
        .map(|s| OperatingLimit(Some(Duration::from_secs(s))))
        .map_err(|_| format!("{value:?}: seconds or off"))
}

#[derive(Clone, Copy, ValueEnum)]
enum PlanArg {
    /// 50 requests burst, 2 per second
    Standard,
    /// 250 requests burst, 5 per second
    Enterprise,
    /// No limit
    Unlimited,
}

/// Print a shell completion script
#[derive(Args)]
#[command(
    after_help = "Examples:\n  b24 completions bash > ~/.local/share/bash-completion/completions/b24\n  \
    b24 completions zsh > ~/.zfunc/_b24\n  b24 completions fish > ~/.config/fish/completions/b24.fish"
)]
struct CompletionsCmd {
    shell: clap_complete::Shell,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Interrupted) => Failure::Interrupted.exit_code(),
        Err(failure) => {
            eprintln!("error: {failure}");
            failure.exit_code()
        }
    }
}

fn runtime() -> Outcome<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::other(format!("cannot start the async runtime: {e}")))
}

fn run(cli: Cli) -> Outcome {
    let config = cli.config.as_deref();
    match cli.command {
        Command::Methods(m) => catalog::methods(m.scope.as_deref(), &m.search, m.json),
        Command::Describe(d) => catalog::describe(&d.method, d.json),
        Command::Completions(c) => {
            let mut command = Cli::command();
            clap_complete::generate(c.shell, &mut command, "b24", &mut std::io::stdout());
            Ok(())
        }
        Command::Call(c) => {
            // Check the parameters before looking for credentials: a typo is reported even
            // where nothing is configured.
            let prepared = call::prepare(&c.method, &c.params, c.no_validate, c.v3)?;
            let settings = config::Settings::load(config)?;
            let client = settings.client(c.client.plan.as_deref())?;
            runtime()?.block_on(call::run(
                &client,
                call::CallArgs {
                    method: &c.method,
                    prepared,
                    raw: c.raw,
                    quiet: cli.quiet,
                },
            ))
        }
        Command::List(l) => {
            let settings = config::Settings::load(config)?;
            let client = settings.client(l.client.plan.as_deref())?;
            let args = export::ListArgs {
                method: l.method,
                args: l.params,
                filter: l.filter,
                select: l.select,
                order: l.order,
                out: l.out,
                format: l.format,
                resume: l.resume,
                force: l.force,
                concurrency: l.concurrency,
                paging: l.paging,
                id_field: l.id_field,
                no_validate: l.no_validate,
                quiet: cli.quiet,
                csv_formulas: l.csv_formulas,
            };
            runtime()?.block_on(export::run(&client, args))
        }
        Command::Auth(a) => {
            let settings = config::Settings::load(config)?;
            let rt = runtime()?;
            match a.command {
                AuthSub::Code { code, portal } => {
                    rt.block_on(auth::code(&settings, &code, portal.as_deref()))
                }
                AuthSub::Refresh => rt.block_on(auth::refresh(&settings)),
                AuthSub::Show { reveal } => rt.block_on(auth::show(&settings, reveal)),
            }
        }
        Command::Sandbox(s) => {
            let (plan, plan_name) = match s.plan {
                PlanArg::Standard => (bitrix24_sandbox::Plan::Standard, "standard"),
                PlanArg::Enterprise => (bitrix24_sandbox::Plan::Enterprise, "enterprise"),
                PlanArg::Unlimited => (bitrix24_sandbox::Plan::Unlimited, "unlimited"),
            };
            runtime()?.block_on(sandbox::run(sandbox::SandboxArgs {
                port: s.port,
                seed_deals: s.seed_deals,
                plan,
                plan_name: plan_name.to_owned(),
                token_ttl: Duration::from_secs(s.token_ttl),
                operating_limit: s.operating_limit.0,
                json: s.json,
            }))
        }
    }
}
