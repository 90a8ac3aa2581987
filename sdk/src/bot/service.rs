//! The service that puts an [`App`] and a [`Bot`] together: it verifies inbound requests,
//! registers the bot on portals that install the application, and hands every other event to
//! the bot's handlers (the HTTP side is `bot::axum`).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};

use super::definition::{Bot, HandlerError, Incoming};
use super::event::{BotApi, BotEvent};
use super::registration::{Registration, V2Delivery};
use crate::Error;
use crate::app::{App, Delivery};
use crate::events::{EventError, EventLimits};

/// Why an inbound request did not lead to a handled event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BotError {
    /// The request is not an acceptable event: malformed, too large, forged, stale, from a
    /// portal that did not install the application. Nothing was called.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The application was installed but the bot could not register itself.
    #[error("registering the bot: {0}")]
    Register(Error),
    /// A handler failed.
    #[error("{event}: handler failed: {source}")]
    Handler {
        /// The event name.
        event: String,
        /// What the handler returned.
        source: HandlerError,
    },
}

impl BotError {
    /// The HTTP status to answer the sender with: 400 malformed, 401 no application token,
    /// 403 forged or not allowed, 413 too large, 500 our own failure, 503 too busy to verify an
    /// install now.
    pub fn status(&self) -> u16 {
        match self {
            Self::Event(e) => e.status(),
            Self::Register(_) | Self::Handler { .. } => 500,
        }
    }
}

/// What [`BotService::receive`] did with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Handled {
    /// The event name.
    pub event: String,
    /// The portal it came from.
    pub member_id: String,
    /// It installed the application on a new portal.
    pub installed: bool,
    /// The bot registered itself (an `ONAPPINSTALL` with a handler URL configured).
    pub registration: Option<Registration>,
    /// A handler took the event (`false`: no handler for it, or it runs in the background).
    pub handled: bool,
}

/// Handlers running in the background, so [`BotService::settled`] can wait for them.
#[derive(Default)]
struct Tasks {
    running: AtomicUsize,
    idle: Notify,
}

struct Running(Arc<ServiceInner>);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.tasks.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.tasks.idle.notify_waiters();
        }
    }
}

struct ServiceInner {
    app: App,
    bot: Bot,
    api: BotApi,
    handler_url: Option<String>,
    background: bool,
    max_body: usize,
    read_timeout: Duration,
    /// Requests being read and verified; beyond its permits they are turned away.
    admission: Arc<Semaphore>,
    tasks: Tasks,
}

/// How long the HTTP integration waits for a request body by default: a portal sends an event
/// in milliseconds; a client that trickles it in (slowloris) holds a connection and a slot.
const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Requests read and verified at once by default: each may cost a body (1 MiB) and its parse
/// (a few MiB at most, see [`EventLimits`]), so the memory unverified requests can take is
/// bounded; events arrive one by one per portal, so real traffic stays far below.
const DEFAULT_MAX_CONCURRENT: usize = 32;

/// An [`App`] serving a [`Bot`]: verifies inbound requests, registers the bot on portals that
/// install the application, and routes events to the bot's handlers with the portal's client.
/// Cheap to clone.
#[derive(Clone)]
pub struct BotService {
    inner: Arc<ServiceInner>,
}

impl fmt::Debug for BotService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BotService")
            .field("bot", &self.inner.bot)
            .field("handler_url", &self.inner.handler_url)
            .field("background", &self.inner.background)
            .finish_non_exhaustive()
    }
}

impl BotService {
    /// Serves `bot` for `app`.
    pub fn new(app: App, bot: Bot) -> Self {
        Self {
            inner: Arc::new(ServiceInner {
                app,
                bot,
                api: BotApi::Classic,
                handler_url: None,
                background: false,
                max_body: EventLimits::default().max_bytes,
                read_timeout: DEFAULT_READ_TIMEOUT,
                admission: Arc::new(Semaphore::new(DEFAULT_MAX_CONCURRENT)),
                tasks: Tasks::default(),
            }),
        }
    }

    fn with(mut self, f: impl FnOnce(&mut ServiceInner)) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => f(inner),
            None => {
                let inner = &self.inner;
                let mut copy = ServiceInner {
                    app: inner.app.clone(),
                    bot: inner.bot.clone(),
                    api: inner.api,
                    handler_url: inner.handler_url.clone(),
                    background: inner.background,
                    max_body: inner.max_body,
                    read_timeout: inner.read_timeout,
                    admission: inner.admission.clone(),
                    tasks: Tasks::default(),
                };
                f(&mut copy);
                self.inner = Arc::new(copy);
            }
        }
        self
    }

    /// The public URL the portal POSTs the bot's events to; when set, an `ONAPPINSTALL`
    /// registers the bot (and its commands) with it.
    pub fn handler_url(self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.with(|inner| inner.handler_url = Some(url))
    }

    /// Which API the bot registers with on `ONAPPINSTALL`: [`BotApi::Classic`]
    /// (`imbot.register`, the default) or [`BotApi::V2`] (`imbot.v2.Bot.register` in webhook
    /// mode, events POSTed to the handler URL). Events of both APIs are handled either way.
    pub fn register_with(self, api: BotApi) -> Self {
        self.with(|inner| inner.api = api)
    }

    /// Runs handlers after answering: [`BotService::receive`] verifies the event, spawns its
    /// handler and returns at once, so the portal gets its answer quickly however slow the
    /// handler is. Handler errors are then only logged. Installations are always handled
    /// before answering. Default: off (the answer waits for the handler).
    pub fn background(self, background: bool) -> Self {
        self.with(|inner| inner.background = background)
    }

    /// The largest request body the HTTP integration reads (default: the default
    /// [`EventLimits::max_bytes`]); keep it in step with the app's limits.
    pub fn max_body(self, bytes: usize) -> Self {
        self.with(|inner| inner.max_body = bytes)
    }

    /// How long the HTTP integration waits for a request's body (default 10 s); a slower one
    /// is answered `408` and its connection closed.
    pub fn read_timeout(self, timeout: Duration) -> Self {
        self.with(|inner| inner.read_timeout = timeout)
    }

    /// How many requests the HTTP integration reads and verifies at once (default 32); more
    /// are answered `503` at once. Verified events then run their handlers outside this limit.
    pub fn max_concurrent(self, requests: usize) -> Self {
        self.with(|inner| inner.admission = Arc::new(Semaphore::new(requests)))
    }

    /// The application.
    pub fn app(&self) -> &App {
        &self.inner.app
    }

    /// The bot.
    pub fn bot(&self) -> &Bot {
        &self.inner.bot
    }

    /// The configured handler URL.
    pub fn url(&self) -> Option<&str> {
        self.inner.handler_url.as_deref()
    }

    #[cfg(feature = "axum")]
    pub(crate) fn body_limit(&self) -> usize {
        self.inner.max_body
    }

    #[cfg(feature = "axum")]
    pub(crate) fn body_timeout(&self) -> Duration {
        self.inner.read_timeout
    }

    /// A slot for reading and verifying one more request, if one is free.
    #[cfg(feature = "axum")]
    pub(crate) fn admit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.inner.admission.clone().try_acquire_owned().ok()
    }

    /// Verifies a request body ([`App::receive`]) and handles the event. A request that fails
    /// verification is refused before any call is made.
    pub async fn receive(
        &self,
        body: &[u8],
        content_type: Option<&str>,
    ) -> Result<Handled, BotError> {
        let delivery = self.inner.app.receive(body, content_type).await?;
        self.handle(delivery).await
    }

    /// Handles a verified event: registers the bot on `ONAPPINSTALL` (when a handler URL is
    /// set), otherwise routes the event to the bot's handlers.
    pub async fn handle(&self, delivery: Delivery) -> Result<Handled, BotError> {
        let Delivery {
            event,
            member_id,
            client,
            installed,
            ..
        } = delivery;
        let name = event.name.clone();
        let mut handled = Handled {
            event: name.clone(),
            member_id: member_id.clone(),
            installed,
            registration: None,
            handled: false,
        };
        if name == "ONAPPINSTALL" {
            let Some(url) = &self.inner.handler_url else {
                tracing::debug!(
                    member_id,
                    "installed; no handler URL to register the bot with"
                );
                return Ok(handled);
            };
            let bot = &self.inner.bot;
            let registration = match self.inner.api {
                BotApi::Classic => bot.register(&client, url).await,
                BotApi::V2 => {
                    bot.register_v2(&client, V2Delivery::Webhook(url.clone()))
                        .await
                }
            }
            .map_err(BotError::Register)?;
            tracing::info!(member_id, bot_id = registration.bot_id, "bot registered");
            if let Some(h) = &self.inner.bot.def.on_install {
                h(Incoming::new(registration.clone(), client, &member_id))
                    .await
                    .map_err(|source| BotError::Handler {
                        event: name,
                        source,
                    })?;
            }
            handled.registration = Some(registration);
            handled.handled = true;
            return Ok(handled);
        }
        let event = BotEvent::from_event(&event);
        if self.inner.background {
            self.inner.tasks.running.fetch_add(1, Ordering::AcqRel);
            let running = Running(self.inner.clone());
            tokio::spawn(async move {
                let bot = &running.0.bot;
                if let Err(e) = bot.dispatch(event, client, &member_id).await {
                    tracing::warn!(event = name, member_id, "bot handler failed: {e}");
                }
                drop(running);
            });
            return Ok(handled);
        }
        handled.handled = self
            .inner
            .bot
            .dispatch(event, client, &member_id)
            .await
            .map_err(|source| BotError::Handler {
                event: name,
                source,
            })?;
        Ok(handled)
    }

    /// Waits until no handler runs in the background.
    pub async fn settled(&self) {
        let tasks = &self.inner.tasks;
        loop {
            let idle = tasks.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if tasks.running.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}
