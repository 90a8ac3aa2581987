//! How bulk work (list walks, batches) keeps its caller informed and outlasts operating-time
//! freezes.
//!
//! A portal freezes a method for the rest of its 10-minute window once the method has used its
//! execution-time budget (`OPERATION_TIME_LIMIT`). A single call should not hang for minutes,
//! so it waits a short while at most ([`crate::RetryPolicy::max_freeze_wait`]). A long export
//! or a batch of thousands of writes would rather wait the freeze out than end half done: bulk
//! work waits up to [`BULK_FREEZE_WAIT`] by default, and says so through its [`Progress`]
//! (`frozen_until`), so a progress bar can show "frozen until 14:32".

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::error::Error;
use crate::{Client, limiter};

/// How long bulk work waits for a frozen method by default: the portal's whole 10-minute
/// window, and a minute of margin for clocks and the basket that resets last.
pub const BULK_FREEZE_WAIT: Duration = Duration::from_secs(660);

/// Freezes a single request waits out before giving up: one per one-minute basket of the
/// window, and a few more in case the portal refuses again right after a reset.
const MAX_FREEZE_ROUNDS: u32 = 12;

/// Progress of bulk work (a list read or a batch), reported after every HTTP request and when a
/// freeze begins or ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Progress {
    /// Rows received so far (a list), or commands with an outcome (a batch).
    pub items: u64,
    /// Rows in the list when the portal counted them, or commands in the batch.
    pub total: Option<u64>,
    /// HTTP requests sent (a `batch` counts once).
    pub requests: u64,
    /// Requests that had to wait for the rate limiter, client-wide.
    pub limiter_waits: u64,
    /// While the work waits for a method frozen by its operating-time limit: when the freeze
    /// ends (wall clock).
    pub frozen_until: Option<SystemTime>,
}

pub(crate) type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// The counters of one piece of bulk work and the callback that hears about them.
pub(crate) struct Tracker {
    client: Client,
    callback: Option<ProgressFn>,
    max_freeze_wait: Duration,
    items: AtomicU64,
    /// Negative while unknown.
    total: AtomicI64,
    requests: AtomicU64,
    frozen_until: Mutex<Option<SystemTime>>,
}

impl Tracker {
    pub(crate) fn new(
        client: Client,
        callback: Option<ProgressFn>,
        max_freeze_wait: Duration,
    ) -> Self {
        Self {
            client,
            callback,
            max_freeze_wait,
            items: AtomicU64::new(0),
            total: AtomicI64::new(-1),
            requests: AtomicU64::new(0),
            frozen_until: Mutex::new(None),
        }
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn set_total(&self, total: Option<i64>) {
        if let Some(total) = total {
            self.total.store(total, Ordering::Relaxed);
        }
    }

    /// Counts one HTTP request (not reported until [`Tracker::add_items`]).
    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts items that are done and tells the callback.
    pub(crate) fn add_items(&self, items: usize) {
        self.items.fetch_add(items as u64, Ordering::Relaxed);
        self.report();
    }

    fn set_frozen(&self, until: Option<SystemTime>) {
        *self.frozen_until.lock().unwrap_or_else(|p| p.into_inner()) = until;
        self.report();
    }

    fn report(&self) {
        let Some(callback) = &self.callback else {
            return;
        };
        callback(&Progress {
            items: self.items.load(Ordering::Relaxed),
            total: u64::try_from(self.total.load(Ordering::Relaxed)).ok(),
            requests: self.requests.load(Ordering::Relaxed),
            limiter_waits: self.client.inner.limiter.waits().0,
            frozen_until: *self.frozen_until.lock().unwrap_or_else(|p| p.into_inner()),
        });
    }

    /// Waits until none of `methods` is frozen, reporting the freeze while it lasts. Fails
    /// with `OPERATION_TIME_LIMIT` if a freeze would outlast the allowed wait.
    pub(crate) async fn wait_unfrozen(&self, methods: &[&str]) -> Result<(), Error> {
        let limiter = &self.client.inner.limiter;
        let longest = || {
            methods
                .iter()
                .filter_map(|m| limiter.frozen_for(m).map(|wait| (*m, wait)))
                .max_by_key(|(_, wait)| *wait)
        };
        let mut waited = false;
        // Another task may freeze a method again while this one sleeps: look again after each
        // wait, a bounded number of times.
        for _ in 0..MAX_FREEZE_ROUNDS {
            let Some((method, wait)) = longest() else {
                if waited {
                    self.set_frozen(None);
                }
                return Ok(());
            };
            if wait > self.max_freeze_wait {
                return Err(limiter::frozen_error(method, wait));
            }
            tracing::info!(method, ?wait, "waiting out an operating-time freeze");
            self.set_frozen(SystemTime::now().checked_add(wait));
            waited = true;
            tokio::time::sleep(wait).await;
        }
        let (method, wait) = longest().unwrap_or(("batch", Duration::ZERO));
        Err(limiter::frozen_error(method, wait))
    }

    /// Runs `send` once `methods` are not frozen, again after each `OPERATION_TIME_LIMIT` it
    /// meets (a refused call did not run, so sending it again is safe), a bounded number of
    /// times.
    pub(crate) async fn unfrozen<T, F, Fut>(
        &self,
        methods: &[&str],
        mut send: F,
    ) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut rounds = 0;
        loop {
            self.wait_unfrozen(methods).await?;
            match send().await {
                Err(e) if is_freeze(&e) && rounds < MAX_FREEZE_ROUNDS => rounds += 1,
                other => return other,
            }
        }
    }
}

/// Whether `error` says the method is frozen by its operating-time limit (not executed).
pub(crate) fn is_freeze(error: &Error) -> bool {
    error.code() == Some(&crate::ErrorCode::OperationTimeLimit)
}

/// Rounds of resending the commands of one `batch` that a freeze refused.
pub(crate) const MAX_RESEND_ROUNDS: u32 = MAX_FREEZE_ROUNDS;
