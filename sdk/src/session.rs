//! An OAuth client's session: the token pair in use, its renewal, and its way into the
//! [`TokenStore`].
//!
//! Every clone of a [`Client`] shares one session. What touches the store or the OAuth server —
//! loading the pair, renewing it, adopting one an event brought, saving one the store refused
//! before — runs as one job at a time, in a task of its own that callers await. A caller that is
//! dropped mid-renewal (`tokio::time::timeout`, an HTTP handler whose client went away) leaves
//! the job running, so a refresh token the OAuth server has already rotated is never lost with
//! it, and every caller that needs the same renewal awaits the same job: N callers, one refresh.
//!
//! A pair is renewed before it is sent when its expiry is known and near ([`EARLY_RENEWAL`]),
//! else when the portal refuses it. A renewed pair is used at once and saved under the store's
//! lock; if the store refuses it, the pair stays in memory, the error is reported (tracing and
//! [`ClientBuilder::on_store_error`](crate::ClientBuilder::on_store_error)), and the save is
//! retried on a later use with backoff, or when asked ([`Client::save_tokens`]).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

use crate::auth::{self, OAuthApp, StoreError, TokenStore, Tokens};
use crate::client::Auth;
use crate::{Client, Error};

/// How long before its known expiry a pair is renewed, in seconds: covers the call's own time
/// and some clock skew between us and the portal.
const EARLY_RENEWAL: i64 = 60;

/// The first wait before a refused save is tried again; it doubles up to [`SAVE_RETRY_MAX`].
const SAVE_RETRY_FIRST: Duration = Duration::from_secs(2);
const SAVE_RETRY_MAX: Duration = Duration::from_secs(300);

/// Told about every store error that leaves a renewed pair unsaved.
pub(crate) type StoreErrorHook = Arc<dyn Fn(&StoreError) + Send + Sync>;

pub(crate) struct OAuthSession {
    app: OAuthApp,
    store: Arc<dyn TokenStore>,
    /// Used when the store has no tokens.
    initial: Option<Tokens>,
    /// For the OAuth server; never follows redirects (the query holds `client_secret`).
    http: reqwest::Client,
    on_store_error: Option<StoreErrorHook>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// `None` until first loaded.
    current: Option<Current>,
    /// The job in flight, if any; cleared by the job when it ends.
    job: Option<Job>,
    /// A pair in use that the store has not accepted yet.
    unsaved: Option<Unsaved>,
}

/// The pair in use.
struct Current {
    tokens: Arc<Tokens>,
    /// Unix time from which the pair is renewed before sending; `None`: only once refused.
    renew_from: Option<i64>,
}

/// A job every interested caller awaits; its tokens are the ones in use when it ended.
type Job = Shared<BoxFuture<'static, JobOutcome>>;
type JobOutcome = Result<Arc<Tokens>, Error>;

enum Task {
    Load,
    /// Renew the pair in use, which was refused or is about to expire.
    Renew(Arc<Tokens>),
    Adopt(Tokens),
    /// Save the unsaved pair again.
    Save,
}

struct Unsaved {
    tokens: Arc<Tokens>,
    /// What the store held when the pair was made: still finding it there means ours is newer.
    replaces: Option<Tokens>,
    error: StoreError,
    failures: u32,
    retry_at: Instant,
}

impl OAuthSession {
    pub(crate) fn new(
        app: OAuthApp,
        store: Arc<dyn TokenStore>,
        initial: Option<Tokens>,
        http: reqwest::Client,
        on_store_error: Option<StoreErrorHook>,
    ) -> Arc<Self> {
        Arc::new(Self {
            app,
            store,
            initial,
            http,
            on_store_error,
            state: Mutex::default(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The pair to send: the one in use, after loading it on first use and renewing it when its
    /// known expiry is near.
    pub(crate) async fn tokens(self: &Arc<Self>) -> Result<Arc<Tokens>, Error> {
        loop {
            let (job, due) = {
                let mut state = self.state();
                let due = match &state.current {
                    Some(current) if !current.due(unix_now()) => {
                        let tokens = current.tokens.clone();
                        self.retry_save_when_due(&mut state);
                        return Ok(tokens);
                    }
                    current => current.as_ref().map(|c| c.tokens.clone()),
                };
                let job = match (&state.job, &due) {
                    (Some(job), _) => job.clone(),
                    (None, None) => self.start(&mut state, Task::Load),
                    (None, Some(due)) => self.start(&mut state, Task::Renew(due.clone())),
                };
                (job, due)
            };
            let Err(e) = job.await else { continue };
            // A renewal ahead of time failed while the pair still works: send it, and renew it
            // only once the portal refuses it. Every caller that awaited the renewal does so.
            let mut state = self.state();
            match (&mut state.current, due) {
                (Some(current), Some(due))
                    if same(&current.tokens, &due)
                        && current.tokens.expires_at.is_some_and(|t| t > unix_now()) =>
                {
                    tracing::warn!("renewing the OAuth token ahead of its expiry failed: {e}");
                    current.renew_from = None;
                    return Ok(current.tokens.clone());
                }
                _ => return Err(e),
            }
        }
    }

    /// Renews the pair after the portal refused `used`, unless someone already replaced it.
    pub(crate) async fn renew_after(self: &Arc<Self>, used: &Arc<Tokens>) -> Result<(), Error> {
        let renewal = self
            .when_idle(|state, last| match (&state.current, last) {
                (Some(current), _) if !same(&current.tokens, used) => Ok(None),
                // The renewal of this very pair just failed: that is the answer, not a reason
                // for every waiting caller to try again.
                (_, Some(Err(e))) => Err(e.clone()),
                _ => Ok(Some(Task::Renew(used.clone()))),
            })
            .await?;
        match renewal {
            Some(job) => job.await.map(drop),
            None => Ok(()),
        }
    }

    /// Puts `tokens` in use and in the store. If the store refuses them they stay in use, and
    /// the store's error is returned.
    pub(crate) async fn adopt(self: &Arc<Self>, tokens: Tokens) -> Result<(), Error> {
        let Some(job) = self.when_idle(|_, _| Ok(Some(Task::Adopt(tokens)))).await? else {
            return Ok(());
        };
        let adopted = job.await?;
        self.unsaved_error(&adopted)
    }

    /// Saves a pair the store refused before, now; `Ok` when nothing is left unsaved.
    pub(crate) async fn save_unsaved(self: &Arc<Self>) -> Result<(), Error> {
        let save =
            |state: &State, _: Option<&JobOutcome>| Ok(state.unsaved.as_ref().map(|_| Task::Save));
        let Some(job) = self.when_idle(save).await? else {
            return Ok(());
        };
        let pending = job.await?;
        self.unsaved_error(&pending)
    }

    /// Awaits the jobs in flight until none is, then starts the task `next` names after looking
    /// at the state and the outcome of the last job awaited (`None`: nothing to do).
    async fn when_idle(
        self: &Arc<Self>,
        next: impl FnOnce(&State, Option<&JobOutcome>) -> Result<Option<Task>, Error>,
    ) -> Result<Option<Job>, Error> {
        let mut last = None;
        loop {
            let waiting = {
                let mut state = self.state();
                match &state.job {
                    Some(job) => job.clone(),
                    None => {
                        let task = next(&state, last.as_ref())?;
                        return Ok(task.map(|task| self.start(&mut state, task)));
                    }
                }
            };
            last = Some(waiting.await);
        }
    }

    /// The store's error if `tokens` are still unsaved.
    fn unsaved_error(&self, tokens: &Arc<Tokens>) -> Result<(), Error> {
        match &self.state().unsaved {
            Some(unsaved) if same(&unsaved.tokens, tokens) => {
                Err(Error::Store(unsaved.error.clone()))
            }
            _ => Ok(()),
        }
    }

    /// Starts `task` in a task of its own; the caller holds the state lock and found no job.
    fn start(self: &Arc<Self>, state: &mut State, task: Task) -> Job {
        /// Clears the job slot when the job ends, however it ends.
        struct Finished(Arc<OAuthSession>);
        impl Drop for Finished {
            fn drop(&mut self) {
                self.0.state().job = None;
            }
        }
        let finished = Finished(self.clone());
        let handle = tokio::spawn(async move {
            let session = &finished.0;
            let outcome = match task {
                Task::Load => session.load().await,
                Task::Renew(used) => session.renew(&used).await,
                Task::Adopt(tokens) => session.adopt_now(tokens).await,
                Task::Save => session.save_again().await,
            };
            // Cleared before the outcome reaches the callers, so none of them finds this job
            // still in the slot.
            drop(finished);
            outcome
        });
        let job = async move {
            handle.await.unwrap_or_else(|e| {
                Err(Error::Config(format!("OAuth: the token task stopped: {e}")))
            })
        }
        .boxed()
        .shared();
        state.job = Some(job.clone());
        job
    }

    async fn load(&self) -> Result<Arc<Tokens>, Error> {
        let tokens = match self.store.load().await? {
            Some(stored) => stored,
            None => self.initial.clone().ok_or_else(|| {
                Error::Config("OAuth: the token store is empty and no tokens were given".to_owned())
            })?,
        };
        Ok(self.install(tokens, true))
    }

    /// Renews `used` under the store's lock, unless another process already did (then its pair
    /// is taken from the store), and saves the new pair.
    async fn renew(&self, used: &Arc<Tokens>) -> Result<Arc<Tokens>, Error> {
        let _across_processes = self.store.lock().await?;
        let stored = self.store.load().await?;
        // While our pair is unsaved, the store still holds the one it replaced (spent).
        let stale = self
            .state()
            .unsaved
            .as_ref()
            .and_then(|u| u.replaces.clone());
        if let Some(stored) = &stored
            && !same(stored, used)
            && stale.as_ref() != Some(stored)
        {
            self.state().unsaved = None;
            return Ok(self.install(stored.clone(), false));
        }
        let mut renewed = auth::refresh(&self.http, &self.app, &used.refresh_token).await?;
        if renewed.member_id.is_none() {
            renewed.member_id.clone_from(&used.member_id);
        }
        // In use at once: from here on, losing the pair means losing the refresh token.
        let renewed = self.install(renewed, false);
        tracing::info!("OAuth token renewed");
        self.save(&renewed, stored).await;
        Ok(renewed)
    }

    async fn adopt_now(&self, tokens: Tokens) -> Result<Arc<Tokens>, Error> {
        let _across_processes = self.store.lock().await?;
        let replaces = self.store.load().await?;
        let tokens = self.install(tokens, false);
        self.save(&tokens, replaces).await;
        Ok(tokens)
    }

    /// Saves the unsaved pair under the store's lock, unless the store moved on meanwhile
    /// (another process put a newer pair there): then that pair is used.
    async fn save_again(&self) -> Result<Arc<Tokens>, Error> {
        let pending = self
            .state()
            .unsaved
            .as_ref()
            .map(|u| (u.tokens.clone(), u.replaces.clone()));
        if let Some((tokens, replaces)) = pending {
            let moved_on = async {
                let _across_processes = self.store.lock().await?;
                match self.store.load().await? {
                    Some(stored)
                        if !same(&stored, &tokens) && replaces.as_ref() != Some(&stored) =>
                    {
                        Ok(Some(stored))
                    }
                    _ => self.store.save(&tokens).await.map(|()| None),
                }
            };
            match moved_on.await {
                Ok(moved_on) => {
                    self.state().unsaved = None;
                    if let Some(stored) = moved_on {
                        self.install(stored, false);
                    }
                }
                Err(error) => self.keep_unsaved(&tokens, replaces, error),
            }
        }
        self.state()
            .current
            .as_ref()
            .map(|c| c.tokens.clone())
            .ok_or_else(|| Error::Config("OAuth: no tokens".to_owned()))
    }

    /// Saves `tokens`, which replace `replaces` in the store; a refusal keeps them unsaved.
    async fn save(&self, tokens: &Arc<Tokens>, replaces: Option<Tokens>) {
        match self.store.save(tokens).await {
            Ok(()) => self.state().unsaved = None,
            Err(error) => self.keep_unsaved(tokens, replaces, error),
        }
    }

    fn keep_unsaved(&self, tokens: &Arc<Tokens>, replaces: Option<Tokens>, error: StoreError) {
        tracing::error!(
            "token store refused the OAuth tokens in use; kept in memory, saving again later: \
             {error}"
        );
        if let Some(hook) = &self.on_store_error {
            hook(&error);
        }
        let mut state = self.state();
        let failures = match &state.unsaved {
            Some(unsaved) if same(&unsaved.tokens, tokens) => unsaved.failures + 1,
            _ => 1,
        };
        let backoff = SAVE_RETRY_FIRST
            .saturating_mul(1 << (failures - 1).min(16))
            .min(SAVE_RETRY_MAX);
        state.unsaved = Some(Unsaved {
            tokens: tokens.clone(),
            replaces,
            error,
            failures,
            retry_at: Instant::now() + backoff,
        });
    }

    /// On a use of the pair: saves it again in the background if the store refused it and the
    /// backoff has passed.
    fn retry_save_when_due(self: &Arc<Self>, state: &mut State) {
        let due = state
            .unsaved
            .as_ref()
            .is_some_and(|u| u.retry_at <= Instant::now());
        if due && state.job.is_none() {
            drop(self.start(state, Task::Save));
        }
    }

    /// Puts `tokens` in use. Only a pair read from the store (or given) may be due for
    /// renewal at once; one fresh from a renewal or an event never is, or a pair with a short
    /// life (or a clock far off the portal's) would be renewed on every call.
    fn install(&self, tokens: Tokens, loaded: bool) -> Arc<Tokens> {
        let now = unix_now();
        let renew_from = tokens.expires_at.and_then(|expires| {
            let left = expires.saturating_sub(now);
            match loaded {
                true => Some(expires.saturating_sub(EARLY_RENEWAL)),
                false if left <= 0 => None,
                false => Some(expires - EARLY_RENEWAL.min(left / 2)),
            }
        });
        let tokens = Arc::new(tokens);
        self.state().current = Some(Current {
            tokens: tokens.clone(),
            renew_from,
        });
        tokens
    }
}

impl Current {
    fn due(&self, now: i64) -> bool {
        self.renew_from.is_some_and(|from| now >= from)
    }
}

/// Whether two pairs are the same pair.
pub(crate) fn same(a: &Tokens, b: &Tokens) -> bool {
    a.access_token == b.access_token
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Client {
    /// Starts using `tokens` (and stores them), e.g. the pair Bitrix24 sends with every event
    /// and every opening of the application; this also recovers a store whose refresh token was
    /// used up by a renewal that did not get saved. If the store refuses them they are used all
    /// the same and its error is returned. Webhook clients have no tokens: an error.
    pub async fn adopt_tokens(&self, tokens: Tokens) -> Result<(), Error> {
        match &self.inner.auth {
            Auth::OAuth(session) => session.adopt(tokens).await,
            Auth::Webhook => Err(Error::Config(
                "a webhook client has no OAuth tokens".to_owned(),
            )),
        }
    }

    /// Saves now a renewed pair the token store refused earlier (it is in use meanwhile, and
    /// saving is retried on later calls with backoff). `Ok` when nothing is left unsaved, else
    /// the store's error. Worth calling before a process exits.
    pub async fn save_tokens(&self) -> Result<(), Error> {
        match &self.inner.auth {
            Auth::OAuth(session) => session.save_unsaved().await,
            Auth::Webhook => Ok(()),
        }
    }
}
