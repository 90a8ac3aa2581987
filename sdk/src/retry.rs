//! When a failed call is sent again, decided by what failed and whether sending twice is safe.
//!
//! Bitrix24 tells failures apart by error code, not HTTP status, and some failures say the call
//! was never executed: `QUERY_LIMIT_EXCEEDED` (refused at the door) and connection failures.
//! Those are always retried. Failures after the request may have been executed (timeouts, broken
//! connections, 5xx, truncated answers) are retried only for idempotent methods — or REST 3.0
//! calls carrying an `Idempotency-Key`. Blocks (`OVERLOAD_LIMIT`), auth, scope and validation
//! errors are final: sending again would fail the same way or make things worse.

use std::time::Duration;

use crate::error::{Error, ErrorCode, TransportKind};

/// How often and how patiently failed calls are retried.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// Backoff before the first retry; doubles with each further one.
    pub base_delay: Duration,
    /// Cap on a single backoff.
    pub max_delay: Duration,
    /// The longest a call waits for a method frozen by `OPERATION_TIME_LIMIT` before giving up
    /// with that error.
    pub max_freeze_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(15),
            max_freeze_wait: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// Sets the number of retries.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Sets the first backoff (doubling from there, up to `max_delay`).
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// Sets the cap on a single backoff.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Sets how long a call may wait for a frozen method.
    pub fn max_freeze_wait(mut self, wait: Duration) -> Self {
        self.max_freeze_wait = wait;
        self
    }

    /// The backoff before retry number `retry` (1-based): full jitter over an exponential
    /// ceiling, so many clients retrying at once spread out.
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(
                1u32.checked_shl(retry.saturating_sub(1))
                    .unwrap_or(u32::MAX),
            )
            .min(self.max_delay);
        ceiling.mul_f64(jitter())
    }
}

/// What to do about a failure.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not executed: safe to send again.
    Retry,
    /// May have been executed: send again only if that is safe.
    RetryIfIdempotent,
    /// Final.
    Fail,
}

/// Classifies a failure of one attempt.
pub(crate) fn classify(error: &Error) -> Verdict {
    match error {
        Error::Api(e) => match e.code {
            ErrorCode::QueryLimitExceeded => Verdict::Retry,
            ErrorCode::InternalServerError | ErrorCode::ErrorUnexpectedAnswer => {
                Verdict::RetryIfIdempotent
            }
            _ => Verdict::Fail,
        },
        Error::Transport {
            kind: TransportKind::Connect,
            ..
        } => Verdict::Retry,
        Error::Transport { .. } => Verdict::RetryIfIdempotent,
        // A proxy's error page: the portal may or may not have run the call.
        Error::Http { status, .. } if *status >= 500 => Verdict::RetryIfIdempotent,
        // A 2xx body cut short: the call ran, its answer was lost.
        Error::Decode { status, .. } if (200..300).contains(status) => Verdict::RetryIfIdempotent,
        _ => Verdict::Fail,
    }
}

/// A number in [0.5, 1.0) from a per-thread xorshift generator: backoff jitter needs spread, not
/// unpredictability.
fn jitter() -> f64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        0.5 + (x >> 11) as f64 / (1u64 << 53) as f64 / 2.0
    })
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::thread::current().id()) | 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    fn api(code: ErrorCode) -> Error {
        Error::Api(ApiError {
            method: "m".into(),
            code,
            description: String::new(),
            status: 400,
        })
    }

    #[test]
    fn classification_follows_the_error_code() {
        assert_eq!(
            classify(&api(ErrorCode::QueryLimitExceeded)),
            Verdict::Retry
        );
        assert_eq!(
            classify(&api(ErrorCode::InternalServerError)),
            Verdict::RetryIfIdempotent
        );
        for code in [
            ErrorCode::OverloadLimit,
            ErrorCode::AccessDenied,
            ErrorCode::InsufficientScope,
            ErrorCode::ExpiredToken,
            ErrorCode::Other("MESSAGE_EMPTY".into()),
        ] {
            assert_eq!(classify(&api(code.clone())), Verdict::Fail, "{code}");
        }
        let page = Error::Http {
            method: "m".into(),
            status: 502,
            body_start: String::new(),
        };
        assert_eq!(classify(&page), Verdict::RetryIfIdempotent);
        let refused = Error::Http {
            method: "m".into(),
            status: 404,
            body_start: String::new(),
        };
        assert_eq!(classify(&refused), Verdict::Fail);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy::default();
        for retry in 1..10 {
            let ceiling = Duration::from_millis(250 * (1 << (retry - 1))).min(policy.max_delay);
            let d = policy.backoff(retry);
            assert!(
                d >= ceiling / 2 && d < ceiling,
                "retry {retry}: {d:?} vs {ceiling:?}"
            );
        }
        assert!(policy.backoff(u32::MAX) <= policy.max_delay);
    }
}
