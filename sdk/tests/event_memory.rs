//! What an unauthenticated event body may cost before its token is checked: every body of the
//! default size limit (1 MiB), however it is shaped, parses or fails within 32 MiB of memory.
//!
//! A counting global allocator measures the peak. This binary holds one test only, so nothing
//! else allocates while it measures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bitrix24::events::{Event, EventLimits};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is the system allocator's.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            // Count the old block until the move is done: the peak of a growing vector.
            let now = CURRENT.fetch_add(new_size, Ordering::Relaxed) + new_size;
            PEAK.fetch_max(now, Ordering::Relaxed);
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const LIMIT: usize = 1024 * 1024;
const BUDGET: usize = 32 * 1024 * 1024;

/// `piece` repeated up to 1 MiB, after `head`.
fn fill(head: &str, piece: &str) -> Vec<u8> {
    let mut body = head.to_owned();
    while body.len() + piece.len() <= LIMIT {
        body.push_str(piece);
    }
    body.into_bytes()
}

/// A JSON event whose `data` is a list of `item`s, up to 1 MiB.
fn json_list(item: &str) -> Vec<u8> {
    let mut body = fill("{\"event\":\"X\",\"data\":[", &format!("{item},"));
    body.truncate(body.len() - 1);
    body.extend_from_slice(b"]}");
    body
}

/// Peak bytes allocated while parsing `body`, beyond what was allocated before.
fn peak_of(body: &[u8], content_type: Option<&str>) -> (usize, bool) {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let parsed = Event::parse_with(body, content_type, &EventLimits::default()).is_ok();
    (PEAK.load(Ordering::Relaxed) - base, parsed)
}

#[test]
fn any_one_mebibyte_body_parses_within_32_mebibytes() {
    let deep = format!("a{}=&", "[]".repeat(64));
    let deep16 = format!("a{}=&", "[]".repeat(16));
    let keyed = |n: usize| format!("a{}=&", "[k]".repeat(n));
    let bodies: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        ("a[][]..[]= at depth 64", fill("event=X&", &deep), None),
        ("a[][]..[]= at depth 16", fill("event=X&", &deep16), None),
        ("a[k][k]..= at depth 8", fill("event=X&", &keyed(8)), None),
        ("a[]= pairs", fill("event=X&", "a[]=&"), None),
        (
            "distinct keys",
            {
                let mut body = String::from("event=X");
                let mut n = 0;
                while body.len() < LIMIT - 16 {
                    body.push_str(&format!("&d[{n}]="));
                    n += 1;
                }
                body.into_bytes()
            },
            None,
        ),
        ("one long value", fill("event=X&a=", "x"), None),
        ("one long key", fill("event=X&a[", "k"), None),
        (
            "JSON empty lists",
            json_list("[]"),
            Some("application/json"),
        ),
        ("JSON zeros", json_list("0"), Some("application/json")),
        (
            "JSON nested objects",
            json_list("{\"a\":{}}"),
            Some("application/json"),
        ),
    ];
    let mut report = Vec::new();
    for (what, body, content_type) in &bodies {
        assert!(body.len() <= LIMIT, "{what}: {} bytes", body.len());
        let (peak, parsed) = peak_of(body, *content_type);
        report.push(format!(
            "{what}: {} bytes, peak {:.1} MiB, {}",
            body.len(),
            peak as f64 / (1024.0 * 1024.0),
            if parsed { "parsed" } else { "refused" }
        ));
    }
    eprintln!("{}", report.join("\n"));
    for ((what, body, content_type), line) in bodies.iter().zip(&report) {
        let (peak, _) = peak_of(body, *content_type);
        assert!(peak < BUDGET, "{what}: {line}");
    }
    // A real event still parses.
    let real = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/examples/event.ONIMBOTMESSAGEADD.personal.form-urlencoded.txt"
    ))
    .unwrap();
    assert!(peak_of(&real, None).1);
}
