//! Typed decoding alone: `cargo bench -p bitrix24 --features crm --bench decode`.
//!
//! Decodes `crm.deal.list` pages (50 rows, as the classic API sends them: every value a string
//! or `null`) through the SDK's path (envelope scan, then `List<Deal>` with the lenient codecs),
//! with all 30 standard fields and with the 5 an export usually selects, and prints the
//! throughput and the CPU time per 100,000 rows. The pages are built here, deterministically, so
//! an instruction count is repeatable:
//!
//! ```sh
//! B24_DECODE_PAGES=2000 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/deps/decode-<hash> 2>&1 | grep 'Collected'
//! ```
//! (`B24_DECODE_PAGES=0` gives the fixed cost to subtract; `B24_DECODE_FIELDS=5` the narrow page.)

#![allow(deprecated)] // crm.deal.list is the classic list most exports use.

use std::time::Instant;

use bitrix24::RawResponse;
use bitrix24::codec::{List, Same};
use bitrix24::crm::Deal;

/// Rows per page, as `crm.deal.list` sends them.
const ROWS: usize = 50;

fn main() {
    if let Ok(pages) = std::env::var("B24_DECODE_PAGES") {
        // One measured run for an instruction counter: no timing, no table.
        let pages: usize = pages.parse().expect("B24_DECODE_PAGES is a number");
        let fields = std::env::var("B24_DECODE_FIELDS").map_or(30, |f| f.parse().expect("number"));
        let body = page(0, fields);
        let rows: usize = (0..pages).map(|_| decode(&body)).sum();
        println!("{rows} rows decoded");
        return;
    }
    println!("## Typed decoding (single thread)\n");
    println!("| page | bytes | MB/s | rows/s | CPU s per 100,000 rows |");
    println!("|---|---:|---:|---:|---:|");
    for fields in [30, 5] {
        let body = page(0, fields);
        // Warm up, then decode 100,000 rows.
        for _ in 0..50 {
            decode(&body);
        }
        let pages = 100_000 / ROWS;
        let (cpu, wall) = (cpu_seconds(), Instant::now());
        let mut rows = 0;
        for _ in 0..pages {
            rows += decode(std::hint::black_box(&body));
        }
        let (cpu, wall) = (cpu_seconds() - cpu, wall.elapsed().as_secs_f64());
        assert_eq!(rows, 100_000);
        println!(
            "| {ROWS} deals x {fields} fields | {} | {:.0} | {:.0} | {cpu:.3} |",
            body.len(),
            body.len() as f64 * pages as f64 / wall / 1e6,
            rows as f64 / wall,
        );
    }
    println!();
}

/// Decodes one page as a call does; returns the number of rows.
fn decode(body: &str) -> usize {
    let response = RawResponse::from_body("crm.deal.list", 200, body.to_owned()).expect("envelope");
    let deals: Vec<Deal> = response.decode_as::<_, List<Same>>().expect("deals decode");
    std::hint::black_box(&deals);
    deals.len()
}

/// A page of `ROWS` deals starting after id `after`, with the first `fields` standard fields in
/// the order the classic API returns them.
fn page(after: usize, fields: usize) -> String {
    let mut rows = Vec::with_capacity(ROWS);
    for id in after + 1..=after + ROWS {
        let all = [
            ("ID", format!("\"{id}\"")),
            ("TITLE", format!("\"Deal #{id}\"")),
            ("STAGE_ID", "\"NEW\"".to_owned()),
            ("OPPORTUNITY", format!("\"{}.00\"", id * 37 % 10_000)),
            ("DATE_CREATE", "\"2026-11-27T10:15:00+03:00\"".to_owned()),
            ("TYPE_ID", "\"SALE\"".to_owned()),
            ("STAGE_SEMANTIC_ID", "\"P\"".to_owned()),
            ("CATEGORY_ID", "\"0\"".to_owned()),
            ("PROBABILITY", "null".to_owned()),
            ("CURRENCY_ID", "\"USD\"".to_owned()),
            ("IS_MANUAL_OPPORTUNITY", "\"N\"".to_owned()),
            ("TAX_VALUE", "\"0.00\"".to_owned()),
            ("COMPANY_ID", "\"0\"".to_owned()),
            ("CONTACT_ID", "null".to_owned()),
            ("BEGINDATE", "\"2026-11-27T03:00:00+03:00\"".to_owned()),
            ("CLOSEDATE", "\"2026-12-04T03:00:00+03:00\"".to_owned()),
            ("OPENED", "\"Y\"".to_owned()),
            ("CLOSED", "\"N\"".to_owned()),
            ("COMMENTS", "null".to_owned()),
            ("ASSIGNED_BY_ID", "\"1\"".to_owned()),
            ("CREATED_BY_ID", "\"1\"".to_owned()),
            ("MODIFY_BY_ID", "\"1\"".to_owned()),
            ("DATE_MODIFY", "\"2026-11-27T10:15:00+03:00\"".to_owned()),
            ("SOURCE_ID", "null".to_owned()),
            ("IS_NEW", "\"Y\"".to_owned()),
            ("IS_RECURRING", "\"N\"".to_owned()),
            ("IS_RETURN_CUSTOMER", "\"N\"".to_owned()),
            ("IS_REPEATED_APPROACH", "\"N\"".to_owned()),
            ("ORIGINATOR_ID", "null".to_owned()),
            ("ORIGIN_ID", "null".to_owned()),
        ];
        let members: Vec<String> = all[..fields.min(all.len())]
            .iter()
            .map(|(key, value)| format!("\"{key}\":{value}"))
            .collect();
        rows.push(format!("{{{}}}", members.join(",")));
    }
    format!(
        "{{\"result\":[{}],\"next\":{},\"total\":100000,\"time\":{{\"start\":1764227700.1,\"finish\":1764227700.2,\"duration\":0.1,\"processing\":0.09,\"date_start\":\"2026-11-27T10:15:00+03:00\",\"date_finish\":\"2026-11-27T10:15:00+03:00\",\"operating_reset_at\":1764228300,\"operating\":0}}}}",
        rows.join(","),
        after + ROWS
    )
}

/// CPU seconds this process has used (user + system).
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct we pass and reads nothing else.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
