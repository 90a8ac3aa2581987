//! The sandbox portal as a standalone process, for benchmarks and for trying the SDK (or any
//! other Bitrix24 client) against a local portal.
//!
//! ```text
//! cargo run --release -p bitrix24-sandbox -- --seed-deals 1000000 --plan standard
//! ```
//!
//! It starts the portal on 127.0.0.1, prints ONE line of JSON on stdout and serves until it is
//! killed. The line holds everything a client needs to connect, **secrets included, on purpose**:
//! this is a local development tool, and a benchmark that spawns it reads the line to
//! authenticate. Never expose the port beyond the machine.
//!
//! ```text
//! {"portal":"http://127.0.0.1:41234/","webhook":"http://127.0.0.1:41234/rest/1/<code>/",
//!  "webhook_v3":"http://127.0.0.1:41234/rest/api/1/<code>/","renamed_portal":"http://127.0.0.1:41235/",
//!  "client_id":"local.…","client_secret":"…","token_url":"http://127.0.0.1:41234/oauth/token/",
//!  "access_token":"…","refresh_token":"…","expires_in":3600,"member_id":"…",
//!  "plan":"standard","rate_limit":{"burst":50,"per_second":2.0},"operating_limit_secs":480,
//!  "deals":1000000,"seed_ms":412}
//! ```
//!
//! Options: `--port P` (default 0: a free port), `--seed-deals N` (default 0), `--plan
//! standard|enterprise|unlimited` (default standard: a bucket of 50 draining at 2 per second,
//! like a cloud portal), `--operating-limit SECONDS|off` (default 480), `--token-ttl SECONDS`
//! (default 3600).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use bitrix24_sandbox::{Plan, Sandbox, SandboxConfig};
use serde_json::json;

const USAGE: &str = "usage: bitrix24-sandbox [--port P] [--seed-deals N] [--plan standard|enterprise|unlimited] \
[--operating-limit SECONDS|off] [--token-ttl SECONDS]";

struct Options {
    port: u16,
    seed_deals: usize,
    plan: Plan,
    plan_name: String,
    operating_limit: Option<Duration>,
    token_ttl: Duration,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        port: 0,
        seed_deals: 0,
        plan: Plan::Standard,
        plan_name: "standard".to_owned(),
        operating_limit: Some(Duration::from_secs(480)),
        token_ttl: Duration::from_secs(3600),
    };
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_owned());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = |what: &str| -> Result<u64, String> {
            value
                .replace('_', "")
                .parse()
                .map_err(|_| format!("{flag}: {what} expected, got {value:?}"))
        };
        match flag.as_str() {
            "--port" => {
                options.port = u16::try_from(number("a port")?)
                    .map_err(|_| format!("--port: {value} is not a port"))?;
            }
            "--seed-deals" => {
                options.seed_deals = usize::try_from(number("a count")?)
                    .map_err(|_| format!("--seed-deals: {value} is too large"))?;
            }
            "--plan" => {
                options.plan = match value.as_str() {
                    "standard" => Plan::Standard,
                    "enterprise" => Plan::Enterprise,
                    "unlimited" => Plan::Unlimited,
                    _ => return Err(format!("--plan: unknown plan {value:?}\n{USAGE}")),
                };
                options.plan_name = value.clone();
            }
            "--operating-limit" => {
                options.operating_limit = match value.as_str() {
                    "off" => None,
                    _ => Some(Duration::from_secs(number("seconds or off")?)),
                };
            }
            "--token-ttl" => options.token_ttl = Duration::from_secs(number("seconds")?),
            _ => return Err(format!("unknown option {flag:?}\n{USAGE}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    // A runtime built by hand: the library needs no `tokio/macros`, and neither does this.
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(serve()),
        Err(e) => {
            eprintln!("bitrix24-sandbox: cannot start a runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let config = SandboxConfig::default()
        .port(options.port)
        .seed_deals(options.seed_deals)
        .plan(options.plan)
        .operating_limit(options.operating_limit)
        .access_token_ttl(options.token_ttl);
    let started = Instant::now();
    let portal = match Sandbox::start_with(config).await {
        Ok(portal) => portal,
        Err(e) => {
            eprintln!("bitrix24-sandbox: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let seed_ms = started.elapsed().as_millis();
    let app = portal.oauth_app();
    let tokens = portal.issue_tokens();
    let webhook = portal.webhook_url();
    let rate_limit = options
        .plan
        .rate_limit()
        .map(|r| json!({"burst": r.burst, "per_second": r.per_second}));
    let line = json!({
        "portal": portal.url().as_str(),
        "webhook": webhook,
        "webhook_v3": webhook.replacen("/rest/", "/rest/api/", 1),
        "renamed_portal": portal.renamed_url().as_str(),
        "client_id": app.client_id,
        "client_secret": app.client_secret.expose(),
        "token_url": app.token_url.as_str(),
        "access_token": tokens.access_token.expose(),
        "refresh_token": tokens.refresh_token.expose(),
        "expires_in": options.token_ttl.as_secs(),
        "member_id": tokens.member_id,
        "plan": options.plan_name,
        "rate_limit": rate_limit,
        "operating_limit_secs": options.operating_limit.map(|d| d.as_secs()),
        "deals": portal.deal_count(),
        "seed_ms": seed_ms,
    });
    // One line, flushed: a parent process reads it and starts benchmarking.
    println!("{line}");
    eprintln!(
        "sandbox portal at {} with {} deals; stop it with Ctrl-C",
        portal.url(),
        portal.deal_count()
    );
    // Serve until killed.
    std::future::pending::<()>().await;
    ExitCode::SUCCESS
}
