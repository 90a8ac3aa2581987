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
//!
//! Numbers depend on the machine; the ratios and the request counts are what to compare.

#![allow(deprecated)] // crm.deal.list is the classic list most exports use.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use bitrix24::codec::{List, Same};
use bitrix24::sandbox::{Plan, Sandbox, SandboxConfig};
use bitrix24::{Client, ListOptions, RateLimit, RawResponse};
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
}

// ------------------------------------------------------------------ processes

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Runs a sandbox with `B24_BENCH_DEALS` deals and plan `B24_BENCH_PLAN`; prints its webhook URL.
fn sandbox_role() {
    let deals: usize = env_number("B24_BENCH_DEALS", 0);
    let plan = match std::env::var("B24_BENCH_PLAN").as_deref() {
        Ok("standard") => Plan::Standard,
        Ok("enterprise") => Plan::Enterprise,
        _ => Plan::Unlimited,
    };
    runtime().block_on(async {
        let config = SandboxConfig::default()
            .seed_deals(deals)
            .plan(plan)
            .operating_limit(None);
        let portal = Sandbox::start_with(config).await.expect("sandbox starts");
        println!("{}", portal.webhook_url());
        std::io::stdout().flush().ok();
        // Serve until the parent closes our stdin.
        let _ =
            tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await;
    });
}

struct Portal {
    child: Child,
    webhook: String,
}

impl Drop for Portal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_portal(deals: usize, plan: &str) -> Portal {
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .env("B24_BENCH_ROLE", "sandbox")
        .env("B24_BENCH_DEALS", deals.to_string())
        .env("B24_BENCH_PLAN", plan)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sandbox process starts");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().expect("piped stdout"))
        .read_line(&mut line)
        .expect("sandbox prints its URL");
    Portal {
        child,
        webhook: line.trim().to_owned(),
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
        let client = client(&webhook, limit);
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = requests.clone();
        let options = ListOptions::default()
            .concurrency(4)
            .on_progress(move |p| seen.store(p.requests, std::sync::atomic::Ordering::Relaxed));
        let started = Instant::now();
        let mut rows = 0u64;
        let mut stream = client.crm_deal_list().stream_with(options);
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
        let http = reqwest::Client::new();
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
        reqwest::Client::new()
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
