//! Client-side mirror of the portal's request limits, so calls wait here instead of being
//! refused there.
//!
//! A portal counts requests in a leaky bucket: each request adds one, the bucket drains at a
//! fixed rate, and a request arriving at a full bucket gets `QUERY_LIMIT_EXCEEDED`. The
//! [`RateLimiter`] runs the same bucket as a GCRA schedule: every request reserves the next free
//! slot and sleeps until it, so any number of concurrent callers (all clones of a client share one
//! limiter) never overfill the portal's bucket. It also remembers, per method, when the portal's
//! operating-time budget resets, and holds back calls to a method the portal has frozen.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{ApiError, Error, ErrorCode};

/// How long a method is frozen when the portal has not told when its budget resets: a probe
/// interval, after which one call finds out.
pub const UNKNOWN_RESET_FREEZE: Duration = Duration::from_secs(60);

/// A portal's request budget: `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests the bucket holds before the portal refuses.
    pub burst: u32,
    /// Requests per second the bucket drains.
    pub per_second: f64,
}

impl RateLimit {
    /// Every plan but Enterprise: 50 requests, draining 2 per second.
    pub const STANDARD: Self = Self {
        burst: 50,
        per_second: 2.0,
    };
    /// Enterprise plans: 250 requests, draining 5 per second.
    pub const ENTERPRISE: Self = Self {
        burst: 250,
        per_second: 5.0,
    };

    /// A custom budget (on-premise portals configure their own).
    pub fn new(burst: u32, per_second: f64) -> Self {
        Self { burst, per_second }
    }
}

/// How much of the bucket the client leaves unused: at least two requests (other clients on the
/// same IP share the portal's bucket), and as many as drain in 100 ms, because the portal sees our
/// requests bunched by network and scheduling jitter — a burst that arrives late can meet the
/// requests sent after it.
fn headroom(limit: &RateLimit, per_second: f64) -> u32 {
    let jitter = (per_second * 0.1).ceil();
    let jitter = if jitter.is_finite() {
        jitter.min(f64::from(limit.burst)) as u32
    } else {
        limit.burst
    };
    jitter.max(2)
}

/// A rate limiter for one portal. Cheap to share: put one `Arc<RateLimiter>` into every client
/// that talks to the same portal (clones of a [`crate::Client`] already share theirs).
#[derive(Debug)]
pub struct RateLimiter {
    /// Time between two requests at the drain rate.
    interval: Duration,
    /// How far ahead of now the schedule may run: the burst the client allows itself.
    tolerance: Duration,
    state: Mutex<State>,
    /// The schedule shared with other processes, when there is one.
    #[cfg(feature = "redis")]
    shared: Option<crate::redis_store::RedisBucket>,
}

#[derive(Debug)]
struct State {
    /// Theoretical arrival time: when the bucket will be empty again.
    tat: Instant,
    /// Per method: when its operating-time budget resets (from the last `time` block).
    reset_at: HashMap<String, i64>,
    /// Per method: frozen by `OPERATION_TIME_LIMIT` until this instant.
    frozen: HashMap<String, Instant>,
    waits: u64,
    waited: Duration,
}

impl RateLimiter {
    /// A limiter mirroring `limit`.
    pub fn new(limit: RateLimit) -> Self {
        let per_second = if limit.per_second.is_finite() && limit.per_second > 0.0 {
            limit.per_second
        } else {
            f64::MAX
        };
        let interval = Duration::from_secs_f64((1.0 / per_second).min(3600.0));
        let burst = limit
            .burst
            .saturating_sub(headroom(&limit, per_second))
            .max(1);
        Self {
            interval,
            tolerance: interval * (burst - 1),
            state: Mutex::new(State {
                tat: Instant::now(),
                reset_at: HashMap::new(),
                frozen: HashMap::new(),
                waits: 0,
                waited: Duration::ZERO,
            }),
            #[cfg(feature = "redis")]
            shared: None,
        }
    }

    /// A limiter whose schedule lives in Redis under `key` (e.g. `b24:bucket:<portal>`), shared
    /// by every process of every machine that uses the same key: together they stay within the
    /// portal's bucket. Freezes of single methods stay per process.
    #[cfg(feature = "redis")]
    pub fn shared(
        limit: RateLimit,
        redis: redis::aio::ConnectionManager,
        key: impl Into<String>,
    ) -> Self {
        let mut limiter = Self::new(limit);
        limiter.shared = Some(crate::redis_store::RedisBucket {
            redis,
            key: key.into(),
        });
        limiter
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a slot in the bucket; call right before sending. Returns how long it waited.
    pub async fn acquire(&self) -> Duration {
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared {
            match shared.reserve(self.interval, self.tolerance).await {
                Ok(wait) => {
                    if !wait.is_zero() {
                        self.count_wait(wait);
                        tokio::time::sleep(wait).await;
                    }
                    return wait;
                }
                // Without the shared schedule, this process keeps its own.
                Err(e) => tracing::warn!("shared rate limit unavailable, limiting locally: {e}"),
            }
        }
        let now = Instant::now();
        let ready = {
            let mut state = self.state();
            let start = state.tat.max(now);
            state.tat = start + self.interval;
            let ready = start.checked_sub(self.tolerance).unwrap_or(now).max(now);
            if ready > now {
                state.waits += 1;
                state.waited += ready - now;
            }
            ready
        };
        if ready > now {
            tokio::time::sleep_until(ready).await;
        }
        ready - now
    }

    #[cfg(feature = "redis")]
    fn count_wait(&self, wait: Duration) {
        let mut state = self.state();
        state.waits += 1;
        state.waited += wait;
    }

    /// The portal refused with `QUERY_LIMIT_EXCEEDED`: its bucket is fuller than this schedule
    /// thought (another client shares it), so treat ours as full from now on.
    pub fn saturate(&self) {
        let full = Instant::now() + self.tolerance + self.interval;
        let mut state = self.state();
        state.tat = state.tat.max(full);
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared {
            let (bucket, full_in) = (shared.clone(), self.tolerance + self.interval);
            tokio::spawn(async move {
                if let Err(e) = bucket.saturate(full_in).await {
                    tracing::warn!("shared rate limit unavailable: {e}");
                }
            });
        }
    }

    /// Records a successful response's `operating_reset_at` for `method`.
    pub(crate) fn note_reset(&self, method: &str, reset_at: Option<i64>) {
        if let Some(reset_at) = reset_at {
            let mut state = self.state();
            match state.reset_at.get_mut(method) {
                Some(known) => *known = reset_at,
                None => {
                    state.reset_at.insert(method.to_owned(), reset_at);
                }
            }
        }
    }

    /// `method` answered `OPERATION_TIME_LIMIT`: freeze it until its budget resets (the last
    /// known `operating_reset_at`, else [`UNKNOWN_RESET_FREEZE`] from now). Returns the freeze
    /// length.
    pub(crate) fn freeze(&self, method: &str) -> Duration {
        let mut state = self.state();
        let now_unix = chrono::Utc::now().timestamp();
        let wait = state
            .reset_at
            .get(method)
            .map(|reset| Duration::from_secs(reset.saturating_sub(now_unix).max(1) as u64))
            // The window is ten minutes; anything much further is not a reset time.
            .filter(|wait| *wait <= Duration::from_secs(660))
            .unwrap_or(UNKNOWN_RESET_FREEZE);
        state
            .frozen
            .insert(method.to_owned(), Instant::now() + wait);
        wait
    }

    /// How long `method` stays frozen, if it is.
    pub(crate) fn frozen_for(&self, method: &str) -> Option<Duration> {
        let mut state = self.state();
        let until = *state.frozen.get(method)?;
        let now = Instant::now();
        if until <= now {
            state.frozen.remove(method);
            return None;
        }
        Some(until - now)
    }

    /// How many acquisitions had to wait, and for how long in total.
    pub fn waits(&self) -> (u64, Duration) {
        let state = self.state();
        (state.waits, state.waited)
    }
}

/// The error for a call that would wait longer than allowed for its frozen method.
pub(crate) fn frozen_error(method: &str, wait: Duration) -> Error {
    Error::Api(ApiError {
        method: method.to_owned(),
        code: ErrorCode::OperationTimeLimit,
        description: format!(
            "method is frozen by its operating-time limit for another {}s",
            wait.as_secs()
        ),
        status: 429,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_then_drain_rate() {
        let limiter = RateLimiter::new(RateLimit::STANDARD);
        let start = Instant::now();
        for _ in 0..48 {
            limiter.acquire().await;
        }
        assert_eq!(Instant::now(), start, "the burst goes through at once");
        limiter.acquire().await;
        assert_eq!(Instant::now() - start, Duration::from_millis(500));
        for _ in 0..10 {
            limiter.acquire().await;
        }
        assert_eq!(Instant::now() - start, Duration::from_millis(5500));
        assert_eq!(limiter.waits().0, 11);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_never_exceed_the_bucket() {
        let limiter = std::sync::Arc::new(RateLimiter::new(RateLimit::new(10, 5.0)));
        let start = Instant::now();
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move {
                    limiter.acquire().await;
                    Instant::now() - start
                })
            })
            .collect();
        let mut times = Vec::new();
        for task in tasks {
            times.push(task.await.unwrap());
        }
        times.sort();
        // A server bucket of 10 draining 5/s: at any instant t, arrivals so far <= 10 + 5t.
        for (i, t) in times.iter().enumerate() {
            assert!(
                i as f64 + 1.0 <= 10.0 + 5.0 * t.as_secs_f64() + 1e-9,
                "arrival {i} at {t:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn saturation_and_freezes() {
        let limiter = RateLimiter::new(RateLimit::new(10, 10.0));
        limiter.saturate();
        assert_eq!(limiter.acquire().await, Duration::from_millis(100));
        assert_eq!(limiter.frozen_for("crm.deal.list"), None);
        let wait = limiter.freeze("crm.deal.list");
        assert_eq!(wait, UNKNOWN_RESET_FREEZE);
        assert!(limiter.frozen_for("crm.deal.list").is_some());
        assert_eq!(limiter.frozen_for("crm.deal.get"), None, "only that method");
        tokio::time::advance(UNKNOWN_RESET_FREEZE + Duration::from_secs(1)).await;
        assert_eq!(limiter.frozen_for("crm.deal.list"), None);
    }
}
