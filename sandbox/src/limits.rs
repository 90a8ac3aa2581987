//! The two limits a cloud portal enforces, and the clock they run on.
//!
//! **Request intensity** is a leaky bucket per portal: every REST request (a `batch` is one
//! request) adds one to a counter that drains at a fixed rate; a request that finds the counter
//! at the plan's capacity gets `503 QUERY_LIMIT_EXCEEDED` and is not executed. A refused
//! request does not add to the counter.
//!
//! **Operating time** is accounted per method over a sliding window (10 minutes): each executed
//! call adds its cost; while a method's sum exceeds the limit (480 s), that method answers
//! `429 OPERATION_TIME_LIMIT` without executing, other methods keep working. The block lifts by
//! itself once enough old costs have left the window. Every successful response reports the
//! method's sum in `time.operating` and, in `time.operating_reset_at`, the unix time at which
//! the oldest cost in the window expires.
//!
//! Costs come from a deterministic model ([`CostModel`]), not from wall time, so tests can
//! predict and trigger the limit:
//!
//! - a write (a method whose last name segment is `add`, `update`, `delete`, `send`,
//!   `register`, ...) costs [`CostModel::write`];
//! - any other call costs [`CostModel::call`] plus [`CostModel::per_row`] for every stored row
//!   a list query had to look at. A keyset page (`order[ID]=ASC`, `filter[>ID]=N`,
//!   `start=-1`) looks at about one page of rows; an offset page (`start=N`) counts every
//!   matching row to report `total`, so on a large table it costs as much as a scan;
//! - a `batch` costs the sum of its commands. Each command is also charged to its own method
//!   (and refused with a per-command `OPERATION_TIME_LIMIT` while that method is blocked), so a
//!   batch of list calls uses up the list method's budget as the same calls made one by one
//!   would. With [`super::SandboxConfig::spend_operating_time`] the batch takes that sum in
//!   wall time.
//!
//! Time is [`tokio::time::Instant`], so tests drive both limits with `tokio::time::pause()` and
//! `advance()`; unix times in responses are derived from it.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// The portal's bucket uses the client's description of it: `burst` requests, draining at
/// `per_second` (see [`bitrix24::RateLimit`]).
pub use bitrix24::RateLimit;

/// What each executed call adds to its method's operating time. See the [module
/// documentation](self) for how the parts combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CostModel {
    /// A call that is not a write, before rows.
    pub call: Duration,
    /// Each stored row a list query looked at.
    pub per_row: Duration,
    /// A write (add, update, delete, send, register, ...).
    pub write: Duration,
}

impl Default for CostModel {
    /// 5 ms a call, 20 µs a row, 20 ms a write: a keyset page costs about 6 ms, an offset page
    /// over 100,000 deals about 2 s, over 1,000,000 deals about 20 s.
    fn default() -> Self {
        Self {
            call: Duration::from_millis(5),
            per_row: Duration::from_micros(20),
            write: Duration::from_millis(20),
        }
    }
}

impl CostModel {
    /// The cost of one executed call of `method` that looked at `rows` stored rows.
    pub(crate) fn cost(&self, method: &str, rows: u64) -> Duration {
        if is_write(method) {
            self.write
        } else {
            let rows = u32::try_from(rows).unwrap_or(u32::MAX);
            self.call.saturating_add(self.per_row.saturating_mul(rows))
        }
    }
}

/// Verbs that change data, by the last segment of a method name.
const WRITE_VERBS: &[&str] = &[
    "add",
    "update",
    "delete",
    "send",
    "register",
    "unregister",
    "bind",
    "unbind",
    "like",
    "answer",
    "leave",
    "updatetitle",
    "set",
    "attach",
    "move",
    "remove",
    "archive",
    "edit",
];

/// Whether `method` writes: what the executed-writes counters and the cost model count.
pub(crate) fn is_write(method: &str) -> bool {
    let verb = method.rsplit('.').next().unwrap_or(method);
    WRITE_VERBS.iter().any(|w| w.eq_ignore_ascii_case(verb))
}

/// Maps the tokio clock to unix time: fixed at start, so paused time moves both together.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    unix_base: f64,
    base: Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        let unix_base = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Self {
            unix_base,
            base: Instant::now(),
        }
    }

    /// Unix time (seconds with fractions) of `at`.
    pub(crate) fn unix(&self, at: Instant) -> f64 {
        if at >= self.base {
            self.unix_base + (at - self.base).as_secs_f64()
        } else {
            self.unix_base - (self.base - at).as_secs_f64()
        }
    }
}

/// A method's recent costs, oldest first, and their sum.
#[derive(Debug, Default)]
struct MethodTime {
    costs: VecDeque<(Instant, Duration)>,
    sum: Duration,
}

impl MethodTime {
    fn prune(&mut self, now: Instant, window: Duration) {
        while let Some(&(at, cost)) = self.costs.front() {
            if expiry(at, window) > now {
                break;
            }
            self.costs.pop_front();
            self.sum = self.sum.saturating_sub(cost);
        }
        if self.costs.is_empty() {
            self.sum = Duration::ZERO;
        }
    }
}

/// When a cost incurred `at` leaves the window (far in the future for a huge window).
fn expiry(at: Instant, window: Duration) -> Instant {
    at.checked_add(window)
        .unwrap_or_else(|| at + Duration::from_secs(100 * 365 * 86_400))
}

/// A method's operating-time state as responses report it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Operating {
    /// Seconds accumulated in the window.
    pub(crate) seconds: f64,
    /// When the oldest cost leaves the window (now + window when there is none).
    pub(crate) reset_at: Instant,
}

/// Both limits of one portal.
#[derive(Debug)]
pub(crate) struct Limits {
    rate: Option<RateLimit>,
    level: f64,
    last_drain: Instant,
    operating_limit: Option<Duration>,
    window: Duration,
    pub(crate) cost: CostModel,
    methods: HashMap<String, MethodTime>,
}

impl Limits {
    pub(crate) fn new(
        rate: Option<RateLimit>,
        operating_limit: Option<Duration>,
        window: Duration,
        cost: CostModel,
    ) -> Self {
        Self {
            rate,
            level: 0.0,
            last_drain: Instant::now(),
            operating_limit,
            window,
            cost,
            methods: HashMap::new(),
        }
    }

    /// Lets a request in (adding it to the bucket) or refuses it (leaving the bucket as is).
    pub(crate) fn admit(&mut self, now: Instant) -> bool {
        let Some(rate) = self.rate else {
            return true;
        };
        let elapsed = now.saturating_duration_since(self.last_drain).as_secs_f64();
        self.level = (self.level - elapsed * rate.per_second).max(0.0);
        self.last_drain = now;
        if self.level + 1.0 > f64::from(rate.burst) {
            return false;
        }
        self.level += 1.0;
        true
    }

    /// Requests currently in the bucket (after draining up to `now`).
    pub(crate) fn bucket_level(&self, now: Instant) -> f64 {
        let per_second = self.rate.map_or(0.0, |r| r.per_second);
        let elapsed = now.saturating_duration_since(self.last_drain).as_secs_f64();
        (self.level - elapsed * per_second).max(0.0)
    }

    /// Whether `method` (lower case) is over its operating-time limit.
    pub(crate) fn blocked(&mut self, method: &str, now: Instant) -> bool {
        let Some(limit) = self.operating_limit else {
            return false;
        };
        let window = self.window;
        self.methods.get_mut(method).is_some_and(|m| {
            m.prune(now, window);
            m.sum > limit
        })
    }

    /// Adds `cost` to `method`'s operating time.
    pub(crate) fn charge(&mut self, method: &str, now: Instant, cost: Duration) {
        if cost.is_zero() {
            return;
        }
        let window = self.window;
        let entry = match self.methods.get_mut(method) {
            Some(entry) => entry,
            None => self.methods.entry(method.to_owned()).or_default(),
        };
        entry.prune(now, window);
        entry.costs.push_back((now, cost));
        entry.sum = entry.sum.saturating_add(cost);
    }

    /// `method`'s accumulated time and reset moment.
    pub(crate) fn operating(&mut self, method: &str, now: Instant) -> Operating {
        let window = self.window;
        match self.methods.get_mut(method) {
            Some(m) => {
                m.prune(now, window);
                Operating {
                    seconds: m.sum.as_secs_f64(),
                    reset_at: expiry(m.costs.front().map_or(now, |(at, _)| *at), window),
                }
            }
            None => Operating {
                seconds: 0.0,
                reset_at: expiry(now, window),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_recognised_by_their_verb() {
        for m in [
            "crm.deal.add",
            "imbot.register",
            "tasks.task.delete",
            "event.bind",
        ] {
            assert!(is_write(m), "{m}");
        }
        for m in ["crm.deal.list", "profile", "batch", "imbot.chat.sendtyping"] {
            assert!(!is_write(m), "{m}");
        }
    }

    #[test]
    fn keyset_pages_cost_less_than_counted_offset_pages() {
        let model = CostModel::default();
        assert!(model.cost("crm.deal.list", 50) < model.cost("crm.deal.list", 100_000));
        assert_eq!(model.cost("crm.deal.add", 1_000_000), model.write);
    }
}
