//! Bulk benchmarks: `cargo bench -p bitrix24 --bench bulk [-- export|calls|codec]`.
//!
//! Prints markdown tables. Every measurement runs the client in its own process and the sandbox
//! portal in another (this same binary, started in a different role), so the client's CPU time
//! and peak memory are its own:
//!
//! - **export**: every deal of a seeded sandbox through `crm_deal_list().stream()`, with the
//!   portal's request limits on; HTTP requests used, wall time, rows/s, client CPU seconds and
//!   peak RSS, for growing N.
//! - **calls**: 10,000 small calls (`user.current`) through the SDK against the same HTTP sent by
//!   a plain reqwest loop, one at a time and 16 at a time; calls/s and client CPU per call.
//! - **codec**: PHP query encoding, PHP form decoding, and typed decoding of list pages.
//! - **writes**: 2,000 `imbot.message.add` in one typed batch against a portal served over TLS
//!   that spends 5 ms per executed command (the standard bucket on), clean and under a fault
//!   mix (5% each of a 500, an HTML 502, a cut-off JSON answer and a TCP reset), checked
//!   against what the portal stored; beside it the peer client (Python fast_bitrix24, driven
//!   by `sdk/benches/fast_bitrix24_peer.py`) on the same portal process.
//! - **peer**: the 100,000-deal export (5 fields) on the same kind of portal, counting free and
//!   counting expensive (each counted row costs the portal time, as on big portals), SDK and
//!   peer side by side.
//!
//! Numbers depend on the machine; the ratios and the request counts are what to compare.

#![allow(deprecated)] // crm.deal.list is the classic list most exports use.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bitrix24::codec::{List, Same};
use bitrix24::imbot::{BotProperties, ImbotMessageAdd};
use bitrix24::{Client, Error, ListOptions, OAuthApp, RateLimit, RawResponse, Tokens};
use bitrix24_sandbox::{CostModel, Fault, Injection, Plan, Sandbox, SandboxConfig};
use futures::TryStreamExt;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    match std::env::var("B24_BENCH_ROLE").as_deref() {
        Ok("sandbox") => return sandbox_role(),
        Ok("export") => return export_role(),
        Ok("calls") => return calls_role(),
        Ok("writes") => return writes_role(),
        _ => {}
    }
    let all = args.is_empty();
    let wants = |name: &str| all || args.iter().any(|a| a == name);
    if wants("export") {
        export_table();
    }
    if wants("calls") {
        calls_table();
    }
    if wants("codec") {
        codec_table();
    }
    if wants("writes") {
        writes_table();
    }
    if wants("peer") {
        peer_export_table();
    }
}

// ------------------------------------------------------------------ processes

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Runs a sandbox with `B24_BENCH_DEALS` deals and plan `B24_BENCH_PLAN`, and prints one
/// line of JSON: its addresses, an OAuth token pair and a registered bot. Options:
/// `B24_BENCH_TLS=<path>` serves HTTPS with a certificate made now (its PEM written to path);
/// `B24_BENCH_SPEND=1` makes every executed command take 5 ms plus `B24_BENCH_ROW_NS` per row
/// a list query looked at; `B24_BENCH_FAULTS=<seed>` injects the fault mix into `batch` calls.
/// Then it answers `stats` lines on stdin with a JSON line (requests and stored message texts)
/// until stdin closes.
fn sandbox_role() {
    let deals: usize = env_number("B24_BENCH_DEALS", 0);
    let plan = match std::env::var("B24_BENCH_PLAN").as_deref() {
        Ok("standard") => Plan::Standard,
        Ok("enterprise") => Plan::Enterprise,
        _ => Plan::Unlimited,
    };
    runtime().block_on(async {
        let mut config = SandboxConfig::default()
            .seed_deals(deals)
            .plan(plan)
            .operating_limit(None);
        if std::env::var("B24_BENCH_SPEND").as_deref() == Ok("1") {
            let mut cost = CostModel::default();
            cost.call = Duration::from_millis(5);
            cost.write = Duration::from_millis(5);
            cost.per_row = Duration::from_nanos(env_number("B24_BENCH_ROW_NS", 0));
            config = config.cost(cost).spend_operating_time(true);
        }
        if let Ok(path) = std::env::var("B24_BENCH_TLS") {
            let (transport, pem) = tls::transport();
            std::fs::write(&path, &pem).expect("certificate written");
            config = config.transport(transport);
        }
        let portal = Sandbox::start_with(config).await.expect("sandbox starts");
        let app = portal.oauth_client().expect("client");
        let bot = app
            .imbot_register("bench", BotProperties::new().name("Bench"))
            // Nobody writes to the bot: its handler (a closed local port) gets no events.
            .event_handler("http://127.0.0.1:9/bot")
            .await
            .expect("bot registered");
        if let Some(seed) = std::env::var("B24_BENCH_FAULTS")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
        {
            for (n, (fault, after)) in fault_mix().into_iter().enumerate() {
                let injection = Injection::new(fault)
                    .method("batch")
                    .probability(0.05, seed + n as u64);
                portal.inject_with(if after {
                    injection.after_execution()
                } else {
                    injection
                });
            }
        }
        let tokens = portal.issue_tokens();
        let oauth = portal.oauth_app();
        let info = serde_json::json!({
            "webhook": portal.webhook_url(),
            "portal": portal.url().as_str(),
            "client_id": oauth.client_id,
            "client_secret": oauth.client_secret.expose(),
            "access": tokens.access_token.expose(),
            "refresh": tokens.refresh_token.expose(),
            "bot": bot,
        });
        println!("{info}");
        std::io::stdout().flush().ok();
        // Serve, answering `stats`, until the parent closes our stdin.
        let (lines, mut commands) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::stdin().lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(command) = commands.recv().await {
            if command.trim() == "stats" {
                let mut texts: BTreeMap<String, u64> = BTreeMap::new();
                for message in portal.messages() {
                    *texts.entry(message.text).or_default() += 1;
                }
                let stats =
                    serde_json::json!({"requests": portal.stats().requests, "texts": texts});
                println!("{stats}");
                std::io::stdout().flush().ok();
            }
        }
    });
}

/// The fault mix of the writes benchmark, each fired with 5% on `batch` calls, as (fault,
/// after execution): a 500 envelope and an HTML 502 from a gateway before the portal ran the
/// call, a cut-off answer and a reset after it did.
fn fault_mix() -> Vec<(Fault, bool)> {
    vec![
        (Fault::internal_error(), false),
        (Fault::html(502), false),
        (Fault::truncated_json(), true),
        (Fault::reset(), true),
    ]
}

/// The sandbox over TLS: a self-signed certificate for 127.0.0.1 made at start, served with
/// tokio-rustls.
mod tls {
    use std::sync::Arc;

    use bitrix24_sandbox::{Io, Transport};
    use tokio::net::TcpStream;
    use tokio_rustls::TlsAcceptor;
    use tokio_rustls::rustls::ServerConfig;
    use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio_rustls::server::TlsStream;

    struct Tls(TlsStream<TcpStream>);

    impl Io for Tls {
        fn tcp(&self) -> &TcpStream {
            self.0.get_ref().0
        }
    }

    impl tokio::io::AsyncRead for Tls {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
        }
    }

    impl tokio::io::AsyncWrite for Tls {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
        }
        fn poll_flush(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.0).poll_flush(cx)
        }
        fn poll_shutdown(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }

    /// The transport and the certificate's PEM.
    pub fn transport() -> (Transport, Vec<u8>) {
        let cert =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
        let pem = cert.cert.pem().into_bytes();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
        // ring, named explicitly: with --all-features rustls has two providers to choose from.
        let ring = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(ring)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .expect("TLS config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let wrap: bitrix24_sandbox::Wrap = Arc::new(move |tcp| {
            let acceptor = acceptor.clone();
            Box::pin(async move {
                let tls = acceptor.accept(tcp).await?;
                Ok(Box::new(Tls(tls)) as Box<dyn Io>)
            })
        });
        (Transport::new("https", wrap).root_certificate(&pem), pem)
    }
}

struct Portal {
    child: Child,
    webhook: String,
    info: serde_json::Value,
    lines: BufReader<std::process::ChildStdout>,
}

impl Drop for Portal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Portal {
    /// What the portal process has counted so far.
    fn stats(&mut self) -> serde_json::Value {
        let stdin = self.child.stdin.as_mut().expect("piped stdin");
        writeln!(stdin, "stats").expect("stats asked");
        stdin.flush().ok();
        let mut line = String::new();
        self.lines.read_line(&mut line).expect("stats read");
        serde_json::from_str(&line).expect("stats are JSON")
    }

    fn requests(&mut self) -> u64 {
        self.stats()["requests"].as_u64().unwrap_or(0)
    }
}

fn start_portal(deals: usize, plan: &str) -> Portal {
    start_portal_with(deals, plan, &[])
}

fn start_portal_with(deals: usize, plan: &str, extra: &[(&str, String)]) -> Portal {
    let mut command = Command::new(std::env::current_exe().expect("own path"));
    command
        .env("B24_BENCH_ROLE", "sandbox")
        .env("B24_BENCH_DEALS", deals.to_string())
        .env("B24_BENCH_PLAN", plan)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    for (k, v) in extra {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("sandbox process starts");
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    lines.read_line(&mut line).expect("sandbox prints its URL");
    let info: serde_json::Value = serde_json::from_str(&line).expect("sandbox info");
    Portal {
        child,
        webhook: info["webhook"].as_str().unwrap_or_default().to_owned(),
        info,
        lines,
    }
}

/// Runs this binary in `role` against `webhook` and returns the last line it prints.
fn run_role(role: &str, webhook: &str, extra: &[(&str, String)]) -> String {
    let mut command = Command::new(std::env::current_exe().expect("own path"));
    command
        .env("B24_BENCH_ROLE", role)
        .env("B24_BENCH_WEBHOOK", webhook);
    for (k, v) in extra {
        command.env(k, v);
    }
    let out = command.output().expect("role process runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{role} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().last().unwrap_or_default().to_owned()
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) this process used so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident memory of this process, in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn client(webhook: &str, limit: RateLimit) -> Client {
    Client::builder()
        .webhook(webhook)
        .rate_limit(limit)
        .build()
        .expect("client")
}

// ------------------------------------------------------------------ export

fn export_role() {
    let webhook = std::env::var("B24_BENCH_WEBHOOK").expect("webhook");
    let limit = match std::env::var("B24_BENCH_PLAN").as_deref() {
        Ok("standard") => RateLimit::STANDARD,
        _ => RateLimit::ENTERPRISE,
    };
    let runtime = runtime();
    let (rows, requests, wall) = runtime.block_on(async {
        let client = match std::env::var("B24_BENCH_INFO") {
            Ok(info) => info_client(&info, limit),
            Err(_) => client(&webhook, limit),
        };
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = requests.clone();
        let options = ListOptions::default()
            .concurrency(4)
            .on_progress(move |p| seen.store(p.requests, std::sync::atomic::Ordering::Relaxed));
        let started = Instant::now();
        let mut rows = 0u64;
        let mut list = client.crm_deal_list();
        if std::env::var("B24_BENCH_FIVE").is_ok() {
            list = list.select(FIVE_FIELDS);
        }
        let mut stream = list.stream_with(options);
        while let Some(deal) = stream.try_next().await.expect("export") {
            std::hint::black_box(&deal);
            rows += 1;
        }
        (
            rows,
            requests.load(std::sync::atomic::Ordering::Relaxed),
            started.elapsed(),
        )
    });
    println!(
        "{rows} {requests} {} {} {}",
        wall.as_secs_f64(),
        cpu_seconds(),
        peak_rss_mib()
    );
}

fn export_table() {
    println!(
        "## Export: every deal through `crm_deal_list().stream()` (keyset, 4 batches in flight)\n"
    );
    println!(
        "| deals | plan | HTTP requests | target ceil(N/2500)+2 | wall s | rows/s | client CPU s | client peak RSS MiB |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    let sizes: Vec<usize> = std::env::var("B24_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![100_000, 300_000, 1_000_000]);
    let plans: Vec<String> = std::env::var("B24_BENCH_PLANS")
        .map(|s| s.split(',').map(str::to_owned).collect())
        .unwrap_or_else(|_| vec!["enterprise".to_owned(), "standard".to_owned()]);
    for plan in &plans {
        for &n in &sizes {
            // The standard plan drains 2 requests/s: beyond the burst a million rows take minutes
            // of waiting, which measures the plan, not the client.
            if plan == "standard" && n > 100_000 {
                continue;
            }
            let portal = start_portal(n, plan);
            let line = run_role(
                "export",
                &portal.webhook,
                &[("B24_BENCH_PLAN", plan.clone())],
            );
            let v: Vec<f64> = line
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            let [rows, requests, wall, cpu, rss] = v[..] else {
                panic!("bad export output {line:?}")
            };
            assert_eq!(rows as usize, n, "every deal exported");
            let target = n.div_ceil(2_500) + 2;
            println!(
                "| {n} | {plan} | {requests} | {target} | {wall:.2} | {:.0} | {cpu:.2} | {rss:.1} |",
                rows / wall
            );
        }
    }
    println!();
}

// ------------------------------------------------------------------ TLS portal, OAuth, peer

/// The export's fields (the issue's "5 fields").
const FIVE_FIELDS: [&str; 5] = ["ID", "TITLE", "STAGE_ID", "OPPORTUNITY", "CURRENCY_ID"];

/// An OAuth client for the portal described by `info` (the sandbox role's JSON line), trusting
/// the certificate at `B24_BENCH_CERT` when it is served over TLS.
fn info_client(info: &str, limit: RateLimit) -> Client {
    let info: serde_json::Value = serde_json::from_str(info).expect("portal info");
    let text = |key: &str| info[key].as_str().unwrap_or_default().to_owned();
    let portal = text("portal");
    let token_url = url::Url::parse(&format!("{portal}oauth/token/")).expect("token URL");
    let app = OAuthApp::new(text("client_id"), text("client_secret")).with_token_url(token_url);
    let mut builder = Client::builder()
        .portal(&portal)
        .oauth(app, Tokens::new(text("access"), text("refresh")))
        .rate_limit(limit);
    if let Ok(path) = std::env::var("B24_BENCH_CERT") {
        builder = builder.root_certificate(&std::fs::read(path).expect("certificate"));
    }
    builder.build().expect("client")
}

/// `B24_BENCH_N` messages (default 2,000) in one typed batch; writes each command's outcome
/// (`o`k, `u`nknown, `e`rror) to `B24_BENCH_OUTCOMES` and prints wall s, CPU s, peak RSS MiB.
fn writes_role() {
    let info = std::env::var("B24_BENCH_INFO").expect("portal info");
    let bot = serde_json::from_str::<serde_json::Value>(&info).expect("info")["bot"]
        .as_i64()
        .expect("bot id");
    let n: u64 = env_number("B24_BENCH_N", 2_000);
    let (wall, outcomes) = runtime().block_on(async {
        let client = info_client(&info, RateLimit::STANDARD);
        let started = Instant::now();
        let mut batch = client.batch();
        let handles: Vec<_> = (0..n)
            .map(|i| batch.add(ImbotMessageAdd::new("1", format!("rs {i}")).bot_id(bot)))
            .collect();
        let results = batch.send().await.expect("the batch as a whole");
        let outcomes: String = handles
            .iter()
            .map(|h| match results.get(h) {
                Ok(_) => 'o',
                Err(Error::OutcomeUnknown { .. }) => 'u',
                Err(_) => 'e',
            })
            .collect();
        (started.elapsed(), outcomes)
    });
    let path = std::env::var("B24_BENCH_OUTCOMES").expect("outcome file");
    std::fs::write(path, outcomes).expect("outcomes written");
    println!(
        "{} {} {}",
        wall.as_secs_f64(),
        cpu_seconds(),
        peak_rss_mib()
    );
}

/// Runs the peer (Python fast_bitrix24) on `mode` against the portal; its JSON report.
fn run_peer(mode: &str, portal: &Portal, cert: &str, n: u64) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/fast_bitrix24_peer.py");
    let out = Command::new(std::env::var("B24_BENCH_PYTHON").unwrap_or_else(|_| "python3".into()))
        .arg(script)
        .arg(mode)
        .env("B24_BENCH_INFO", portal.info.to_string())
        .env("B24_BENCH_N", n.to_string())
        .env("SSL_CERT_FILE", cert)
        .output();
    match out {
        Ok(out) => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            let last = stdout.lines().last().unwrap_or_default();
            serde_json::from_str(last).unwrap_or_else(|_| {
                serde_json::json!({"error": format!("{}{}", last, String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or_default())})
            })
        }
        Err(e) => serde_json::json!({"error": format!("python: {e}")}),
    }
}

/// A portal like the issue's: TLS, 5 ms per executed command, the standard bucket; `extra`
/// adds to the sandbox role's environment. Returns it with its certificate's path.
fn slow_tls_portal(deals: usize, extra: &[(&str, String)], tag: &str) -> (Portal, String) {
    let cert = std::env::temp_dir()
        .join(format!("b24-bench-{}-{tag}.pem", std::process::id()))
        .display()
        .to_string();
    let mut env = vec![
        ("B24_BENCH_TLS", cert.clone()),
        ("B24_BENCH_SPEND", "1".to_owned()),
    ];
    env.extend(extra.iter().cloned());
    (start_portal_with(deals, "standard", &env), cert)
}

/// Waits until a standard bucket that took `requests` has drained, so the next client starts
/// with the burst a fresh client would have.
fn drain(requests: u64) {
    std::thread::sleep(Duration::from_secs_f64(requests as f64 / 2.0 + 2.0));
}

fn writes_table() {
    let n: u64 = env_number("B24_BENCH_N", 2_000);
    println!(
        "## {n} `imbot.message.add` in one batch: TLS portal, 5 ms per command, standard bucket\n"
    );
    println!(
        "| mix | client | requests | wall s | client CPU s | peak RSS MiB | ok | unknown (ran) | failed | ran twice | ok but not stored |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (mix, seed) in [("clean", None), ("4 × 5% faults", Some(7u64))] {
        let extra: Vec<(&str, String)> = seed
            .map(|s| ("B24_BENCH_FAULTS", s.to_string()))
            .into_iter()
            .collect();
        let (mut portal, cert) = slow_tls_portal(0, &extra, "writes");
        drain(1);
        let outcomes =
            std::env::temp_dir().join(format!("b24-bench-{}.outcomes", std::process::id()));
        let before = portal.requests();
        let line = run_role(
            "writes",
            &portal.webhook,
            &[
                ("B24_BENCH_INFO", portal.info.to_string()),
                ("B24_BENCH_CERT", cert.clone()),
                ("B24_BENCH_N", n.to_string()),
                ("B24_BENCH_OUTCOMES", outcomes.display().to_string()),
            ],
        );
        let requests = portal.requests() - before;
        let v: Vec<f64> = line
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let [wall, cpu, rss] = v[..] else {
            panic!("bad writes output {line:?}")
        };
        let kinds = std::fs::read_to_string(&outcomes).expect("outcomes");
        let stats = portal.stats();
        let stored = |prefix: &str, i: usize| {
            stats["texts"][format!("{prefix} {i}")]
                .as_u64()
                .unwrap_or(0)
        };
        let count = |k: char| kinds.chars().filter(|c| *c == k).count();
        let ran_twice = (0..n as usize).filter(|&i| stored("rs", i) > 1).count();
        let unstored = kinds
            .chars()
            .enumerate()
            .filter(|(i, k)| *k == 'o' && stored("rs", *i) == 0)
            .count();
        let unknown_ran = kinds
            .chars()
            .enumerate()
            .filter(|(i, k)| *k == 'u' && stored("rs", *i) > 0)
            .count();
        assert_eq!(kinds.len(), n as usize, "an outcome for every command");
        assert_eq!(ran_twice, 0, "no command ran twice");
        assert_eq!(unstored, 0, "every command reported done is stored");
        assert_eq!(count('e'), 0, "every command outside a lost call ran");
        println!(
            "| {mix} | bitrix24-rs | {requests} | {wall:.2} | {cpu:.2} | {rss:.1} | {} | {} ({unknown_ran}) | {} | {ran_twice} | {unstored} |",
            count('o'),
            count('u'),
            count('e')
        );
        drain(requests);
        let before = portal.requests();
        let peer = run_peer("writes", &portal, &cert, n);
        let requests = portal.requests() - before;
        let stats = portal.stats();
        let stored_py = (0..n as usize)
            .filter(|i| stats["texts"][format!("py {i}")].as_u64().unwrap_or(0) > 0)
            .count();
        let twice_py = (0..n as usize)
            .filter(|i| stats["texts"][format!("py {i}")].as_u64().unwrap_or(0) > 1)
            .count();
        let number = |key: &str| {
            peer[key]
                .as_f64()
                .map_or("–".to_owned(), |v| format!("{v:.2}"))
        };
        let note = peer["error"]
            .as_str()
            .map(|e| format!(" (raised: {})", e.chars().take(60).collect::<String>()))
            .unwrap_or_default();
        println!(
            "| {mix} | fast_bitrix24 1.8.14{note} | {requests} | {} | {} | {} | {stored_py} stored | – | – | {twice_py} | – |",
            number("wall"),
            number("cpu"),
            number("rss_mib"),
        );
        let _ = std::fs::remove_file(&cert);
        let _ = std::fs::remove_file(&outcomes);
    }
    println!();
}

fn peer_export_table() {
    let n: usize = env_number("B24_BENCH_DEALS", 100_000);
    println!("## {n}-deal export, 5 fields: TLS portal, 5 ms per command, standard bucket\n");
    println!("| counting | client | requests | wall s | client CPU s | peak RSS MiB | rows |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    // 1 µs per row counted: a counted page of 100,000 deals costs the portal 0.1 s.
    for (counting, row_ns) in [("free", 0u64), ("expensive (1 µs/row)", 1_000)] {
        let (mut portal, cert) =
            slow_tls_portal(n, &[("B24_BENCH_ROW_NS", row_ns.to_string())], "export");
        drain(1);
        let before = portal.requests();
        let line = run_role(
            "export",
            &portal.webhook,
            &[
                ("B24_BENCH_INFO", portal.info.to_string()),
                ("B24_BENCH_CERT", cert.clone()),
                ("B24_BENCH_PLAN", "standard".to_owned()),
                ("B24_BENCH_FIVE", "1".to_owned()),
            ],
        );
        let requests = portal.requests() - before;
        let v: Vec<f64> = line
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let [rows, _, wall, cpu, rss] = v[..] else {
            panic!("bad export output {line:?}")
        };
        assert_eq!(rows as usize, n, "every deal exported");
        println!(
            "| {counting} | bitrix24-rs | {requests} | {wall:.2} | {cpu:.2} | {rss:.1} | {rows} |"
        );
        drain(requests);
        let before = portal.requests();
        let peer = run_peer("export", &portal, &cert, n as u64);
        let requests = portal.requests() - before;
        let number = |key: &str| {
            peer[key]
                .as_f64()
                .map_or("–".to_owned(), |v| format!("{v:.2}"))
        };
        println!(
            "| {counting} | fast_bitrix24 1.8.14{} | {requests} | {} | {} | {} | {} |",
            peer["error"]
                .as_str()
                .map(|e| format!(" (raised: {e})"))
                .unwrap_or_default(),
            number("wall"),
            number("cpu"),
            number("rss_mib"),
            peer["rows"]
        );
        let _ = std::fs::remove_file(&cert);
    }
    println!();
}

// ------------------------------------------------------------------ small calls

fn calls_role() {
    let webhook = std::env::var("B24_BENCH_WEBHOOK").expect("webhook");
    let mode = std::env::var("B24_BENCH_MODE").unwrap_or_default();
    let calls: usize = env_number("B24_BENCH_CALLS", 10_000);
    let parallel: usize = env_number("B24_BENCH_PARALLEL", 1);
    let runtime = runtime();
    let cpu_before = cpu_seconds();
    let wall = runtime.block_on(async {
        let unlimited = RateLimit::new(u32::MAX, f64::INFINITY);
        let sdk = client(&webhook, unlimited);
        let http = bitrix24::http_client_builder().unwrap().build().unwrap();
        let url = format!("{webhook}user.current");
        let started = Instant::now();
        let per_task = calls / parallel;
        let tasks: Vec<_> = (0..parallel)
            .map(|_| {
                let (sdk, http, url, mode) = (sdk.clone(), http.clone(), url.clone(), mode.clone());
                tokio::spawn(async move {
                    for _ in 0..per_task {
                        if mode == "plain" {
                            // The same HTTP the SDK sends for a webhook call without parameters.
                            let response = http
                                .post(&url)
                                .header("content-type", "application/json")
                                .body("{}")
                                .send()
                                .await
                                .expect("send");
                            let body = response.bytes().await.expect("body");
                            let value: serde_json::Value =
                                serde_json::from_slice(&body).expect("json");
                            std::hint::black_box(value);
                        } else {
                            std::hint::black_box(sdk.user_current().await.expect("call"));
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        started.elapsed()
    });
    println!("{} {}", wall.as_secs_f64(), cpu_seconds() - cpu_before);
}

fn calls_table() {
    let calls: usize = env_number("B24_BENCH_CALLS", 10_000);
    println!(
        "## {calls} small calls (`user.current`): SDK vs a plain reqwest loop sending the same HTTP\n"
    );
    println!("| in flight | client | calls/s | client CPU µs/call | CPU ratio SDK/plain |");
    println!("|---:|---|---:|---:|---:|");
    let portal = start_portal(0, "unlimited");
    for parallel in [1usize, 16] {
        let mut cpu_plain = 0.0;
        for mode in ["plain", "sdk"] {
            let env = [
                ("B24_BENCH_MODE", mode.to_owned()),
                ("B24_BENCH_PARALLEL", parallel.to_string()),
                ("B24_BENCH_CALLS", calls.to_string()),
            ];
            let line = run_role("calls", &portal.webhook, &env);
            let v: Vec<f64> = line
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            let [wall, cpu] = v[..] else {
                panic!("bad calls output {line:?}")
            };
            let per_call = cpu / calls as f64 * 1e6;
            let ratio = if mode == "plain" {
                cpu_plain = per_call;
                "1.00".to_owned()
            } else {
                format!("{:.2}", per_call / cpu_plain)
            };
            println!(
                "| {parallel} | {mode} | {:.0} | {per_call:.1} | {ratio} |",
                calls as f64 / wall
            );
        }
    }
    println!();
}

// ------------------------------------------------------------------ codecs

fn codec_table() {
    use bitrix24::wire::php;
    println!("## Codecs (single thread)\n");
    println!("| what | input | throughput |");
    println!("|---|---:|---:|");

    // A deal-shaped parameter set, as crm.deal.add sends it in form mode or inside batch.
    let params = serde_json::json!({
        "fields": {
            "TITLE": "Roof repair for Müller & Söhne [urgent]", "TYPE_ID": "SALE", "STAGE_ID": "C1:NEW",
            "OPPORTUNITY": 15000.5, "CURRENCY_ID": "EUR", "ASSIGNED_BY_ID": 17, "OPENED": "Y",
            "CONTACT_IDS": [3, 4, 5], "COMMENTS": "Call back after 10:00, ask for the invoice",
            "UF_CRM_1711111111": ["one", "two"],
        },
        "params": {"REGISTER_SONET_EVENT": "N"},
    });
    let encoded = php::encode(&params);
    let n = 200_000;
    let started = Instant::now();
    for _ in 0..n {
        std::hint::black_box(php::encode(std::hint::black_box(&params)));
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "| PHP query encode (crm.deal.add params) | {} B | {:.0} MB/s, {:.0} k/s |",
        encoded.len(),
        encoded.len() as f64 * n as f64 / secs / 1e6,
        n as f64 / secs / 1e3
    );

    let body = include_str!(
        "../tests/fixtures/examples/event.ONIMBOTMESSAGEADD.group.form-urlencoded.txt"
    );
    let n = 50_000;
    let started = Instant::now();
    for _ in 0..n {
        std::hint::black_box(php::decode(std::hint::black_box(body)).expect("decodes"));
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "| PHP form decode (ONIMBOTMESSAGEADD event) | {} B | {:.0} MB/s, {:.0} k/s |",
        body.len(),
        body.len() as f64 * n as f64 / secs / 1e6,
        n as f64 / secs / 1e3
    );

    // A 50-row crm.deal.list page as the portal sends it.
    let page = runtime().block_on(async {
        let portal = Sandbox::start_with(SandboxConfig::default().seed_deals(50))
            .await
            .expect("sandbox");
        bitrix24::http_client_builder()
            .unwrap()
            .build()
            .unwrap()
            .post(format!("{}crm.deal.list", portal.webhook_url()))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .expect("list")
            .text()
            .await
            .expect("body")
    });
    let n = 2_000;
    let started = Instant::now();
    for _ in 0..n {
        let envelope: serde_json::Value = serde_json::from_str(&page).expect("json");
        let deals: Vec<bitrix24::crm::Deal> =
            serde_json::from_value(envelope["result"].clone()).expect("deals");
        std::hint::black_box(deals);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "| typed decode via serde_json::Value (baseline) | {} B | {:.0} MB/s, {:.0} rows/s |",
        page.len(),
        page.len() as f64 * n as f64 / secs / 1e6,
        50.0 * n as f64 / secs
    );
    let started = Instant::now();
    for _ in 0..n {
        let response =
            RawResponse::from_body("crm.deal.list", 200, page.clone()).expect("envelope");
        let deals: Vec<bitrix24::crm::Deal> = response.decode_as::<_, List<Same>>().expect("deals");
        std::hint::black_box(deals);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "| typed decode, SDK path (envelope + lenient codecs) | {} B | {:.0} MB/s, {:.0} rows/s |",
        page.len(),
        page.len() as f64 * n as f64 / secs / 1e6,
        50.0 * n as f64 / secs
    );
    println!();
}
