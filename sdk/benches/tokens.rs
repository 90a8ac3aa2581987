//! Token benchmark: `cargo bench -p bitrix24 --features full --bench tokens`.
//!
//! 50 concurrent calls (`user.current`) through one OAuth client on the standard plan (bucket
//! 50, 2/s, enforced by the portal and mirrored by the client), in three cases:
//!
//! - **valid**: a pair the portal accepts (the baseline);
//! - **expired, expiry known**: the portal has expired the pair and its `expires_at` is past, so
//!   the client can renew before sending;
//! - **expired, expiry unknown**: the portal has expired the pair but its `expires_at` is an
//!   hour away (revoked early), so only the portal's refusal tells: each call is refused, then
//!   sent again with the renewed pair. Before issue 12 the known case went this way too.
//!
//! The portal runs in its own process (this binary in another role) with a fresh bucket per case,
//! and counts what it received; the client reports its limiter's waits. Requests and renewals do
//! not depend on the machine; wall time does (the limiter's waits are most of it).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use bitrix24::{Client, OAuthApp, RateLimit, Tokens};
use bitrix24_sandbox::{Plan, Sandbox, SandboxConfig};
use serde_json::{Value, json};

/// Concurrent calls per case.
const CALLS: usize = 50;

const CASES: [(&str, &str); 3] = [
    ("valid", "valid"),
    ("known", "expired, expiry known"),
    ("unknown", "expired, expiry unknown"),
];

fn main() {
    match std::env::var("B24_BENCH_ROLE").as_deref() {
        Ok("sandbox") => return sandbox_role(),
        Ok("client") => return client_role(),
        _ => {}
    }
    println!("## {CALLS} concurrent calls on one OAuth client, standard plan\n");
    println!(
        "| pair | REST requests | renewals | requests + renewals | refused by the portal | limiter waits | waited s (sum over calls) | wall s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (case, label) in CASES {
        let mut portal = Portal::start();
        let tokens = portal.ask(&format!("tokens {case}"));
        let mut client = Command::new(std::env::current_exe().expect("own path"));
        client
            .env("B24_BENCH_ROLE", "client")
            .env(
                "B24_BENCH_PORTAL",
                portal.info["url"].as_str().unwrap_or(""),
            )
            .env("B24_BENCH_APP", portal.info.to_string())
            .env("B24_BENCH_TOKENS", tokens.to_string())
            .env("B24_BENCH_CASE", case);
        let out = client.output().expect("client process runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{case}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value =
            serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("client report");
        let stats = portal.ask("stats");
        let number = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        let (requests, renewals) = (number(&stats, "requests"), number(&stats, "refreshes"));
        println!(
            "| {label} | {requests} | {renewals} | {} | {} | {} | {:.2} | {:.2} |",
            requests + renewals,
            requests - CALLS as f64,
            number(&report, "waits"),
            number(&report, "waited"),
            number(&report, "wall"),
        );
    }
    println!();
}

/// A sandbox portal in a process of its own, answering one-line commands on its stdin.
struct Portal {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// The portal's URL and its OAuth application.
    info: Value,
}

impl Portal {
    fn start() -> Self {
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .env("B24_BENCH_ROLE", "sandbox")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("sandbox process starts");
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let info = read_json(&mut stdout);
        Self {
            child,
            stdin,
            stdout,
            info,
        }
    }

    fn ask(&mut self, command: &str) -> Value {
        writeln!(self.stdin, "{command}").expect("sandbox reads");
        self.stdin.flush().expect("sandbox reads");
        read_json(&mut self.stdout)
    }
}

impl Drop for Portal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_json(from: &mut impl BufRead) -> Value {
    let mut line = String::new();
    from.read_line(&mut line).expect("sandbox answers");
    serde_json::from_str(&line).expect("sandbox answers JSON")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("tokio runtime")
}

/// The portal: prints its URL and application, then answers `tokens <case>` with a pair (the
/// portal expires it unless the case is `valid`) and `stats` with its counters.
fn sandbox_role() {
    let runtime = runtime();
    let config = SandboxConfig::default()
        .plan(Plan::Standard)
        .operating_limit(None);
    // The portal serves from the runtime's workers while this thread reads commands.
    let portal = runtime
        .block_on(Sandbox::start_with(config))
        .expect("sandbox starts");
    let app = portal.oauth_app();
    println!(
        "{}",
        json!({
            "url": portal.url().as_str(),
            "client_id": app.client_id,
            "client_secret": app.client_secret.expose(),
            "token_url": app.token_url.as_str(),
        })
    );
    std::io::stdout().flush().ok();
    for line in std::io::stdin().lines() {
        let Ok(line) = line else { break };
        let answer = match line.split_whitespace().collect::<Vec<_>>()[..] {
            ["tokens", case] => {
                let tokens = portal.issue_tokens();
                if case != "valid" {
                    portal.expire_access_tokens();
                }
                serde_json::to_value(&tokens).expect("tokens serialize")
            }
            ["stats"] => {
                let stats = portal.stats();
                json!({"requests": stats.requests, "refreshes": stats.refreshes})
            }
            _ => json!({"error": line}),
        };
        println!("{answer}");
        std::io::stdout().flush().ok();
    }
}

/// The client: 50 concurrent calls; prints what its limiter waited. (Every call succeeds once,
/// so the portal's requests beyond 50 are the refused ones.)
fn client_role() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
    let app: Value = serde_json::from_str(&var("B24_BENCH_APP")).expect("app JSON");
    let mut tokens: Tokens = serde_json::from_str(&var("B24_BENCH_TOKENS")).expect("tokens");
    let now = chrono::Utc::now().timestamp();
    tokens.expires_at = Some(match var("B24_BENCH_CASE").as_str() {
        "known" => now - 10,
        _ => now + 3600,
    });
    let text = |k: &str| app[k].as_str().unwrap_or("").to_owned();
    let oauth = OAuthApp::new(text("client_id"), text("client_secret"))
        .with_token_url(text("token_url").parse().expect("token URL"));
    let report = runtime().block_on(async {
        let client = Client::builder()
            .portal(&var("B24_BENCH_PORTAL"))
            .oauth(oauth, tokens)
            .rate_limit(RateLimit::STANDARD)
            .build()
            .expect("client");
        let started = Instant::now();
        let calls: Vec<_> = (0..CALLS)
            .map(|_| tokio::spawn(client.user_current().into_future()))
            .collect();
        for call in calls {
            call.await.expect("call task").expect("call succeeds");
        }
        let wall = started.elapsed().as_secs_f64();
        let (waits, waited) = client.rate_limiter().waits();
        json!({"waits": waits, "waited": waited.as_secs_f64(), "wall": wall})
    });
    println!("{report}");
}
