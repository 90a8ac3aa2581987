//! An offline Bitrix24 portal on `127.0.0.1`, for tests, examples and local development.
//!
//! It speaks the real protocol over real HTTP: incoming webhooks and OAuth (access tokens that
//! expire, refresh tokens that rotate, `invalid_grant` on reuse), JSON and PHP-form bodies, the
//! documented error codes with their HTTP statuses, 50-row paging with `next`/`total` and
//! `start=-1`, `batch`, and events. Data lives in memory: users, deals and CRM items, bots,
//! chats, messages, event handlers, REST 3.0 tasks, Drive files (uploaded inline or in the
//! documented two steps: an upload URL, then a multipart POST to it).
//!
//! Events are POSTed form-encoded, shaped like the documented examples:
//! [`Sandbox::install_app`] sends `ONAPPINSTALL` to an application's handler; bots get
//! `ONIMBOTMESSAGEADD` / `ONIMCOMMANDADD` when users write to them, `ONIMBOTJOINCHAT` when a
//! user first opens their dialog ([`Sandbox::open_dialog`]) or adds them to a chat, and
//! `ONIMBOTDELETE` when unregistered; `imbot.v2` bots get the `ONIMBOTV2*` twins at their
//! webhook or in their `imbot.v2.Event.get` queue; `ONCRMDEAL*` go to handlers bound with
//! `event.bind`. Several portals can have the same application installed and share one OAuth
//! server ([`Sandbox::start_peer`]), as cloud portals share `oauth.bitrix.info`.
//!
//! On top of that it enforces what a cloud portal enforces, when configured to
//! ([`SandboxConfig`]): the request-rate leaky bucket and per-method operating time (see
//! [`limits`] for the rules and the cost model), and it serves REST 3.0 at `/rest/api/` (see
//! [`v3`]). Tests can inject faults ([`faults`]: error envelopes, proxy pages,
//! broken JSON, connection resets before or after the call executed, slow answers, a portal
//! rename) and check what the portal actually executed ([`Sandbox::writes`]). For benchmarks it
//! can take the time its cost model charges ([`SandboxConfig::spend_operating_time`]: 5 ms a
//! command makes a batch of 50 take 250 ms, concurrent requests in parallel) and serve over TLS
//! ([`SandboxConfig::transport`], the handshake brought by the caller).
//!
//! Deals are stored compactly ([`store`]): a million seeded deals take about 180 MB and seed
//! in about a tenth of a second (release build), and the keyset walk reads one page per call.
//! This crate's `bitrix24-sandbox` binary runs the portal as a process of its own.
//!
//! It is a crate apart from the SDK (`bitrix24`) so that applications depend on it only where
//! they use it, as a dev-dependency of their tests:
//!
//! ```toml
//! [dev-dependencies]
//! bitrix24-sandbox = "0.1"
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! ```
//! use bitrix24_sandbox::Sandbox;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let portal = Sandbox::start().await?;
//!     let client = portal.oauth_client()?;
//!     let me = client.profile().await?;
//!     assert_eq!(me.id, 1);
//!     Ok(())
//! }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod batch;
mod crm;
mod data;
mod disk;
mod events;
pub mod faults;
mod im;
pub mod limits;
mod net;
mod oauth;
mod params;
mod query;
mod server;
pub mod store;
mod system;
mod tasks;
pub mod v3;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use serde_json::{Map, Value};
use url::Url;

use bitrix24::{Client, Error, OAuthApp, Tokens};
use data::Portal;
pub use data::StoredMessage;
pub use faults::{Fault, Injection};
use limits::{Clock, Limits};
pub use limits::{CostModel, RateLimit};
pub use net::{Io, Transport, Wrap};

/// Settings of a sandbox portal.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SandboxConfig {
    /// Lifetime of access tokens (Bitrix24: one hour).
    pub access_token_ttl: Duration,
    /// Calls an access token serves before it expires (`None`, the default: no such limit),
    /// for portals whose tokens expire faster than their `expires` says.
    pub access_token_calls: Option<u32>,
    /// How long the OAuth server takes to answer a token request. It rotates the refresh
    /// token first, as a server that is slow to answer does: a client that gives up waiting
    /// has lost the new pair unless something else waits for it.
    pub oauth_delay: Duration,
    /// Scopes granted to the application and the webhook; calls outside them get
    /// `insufficient_scope`.
    pub scopes: Vec<String>,
    /// Deals created at start (ids 1..=n), for paging and export tests.
    pub seed_deals: usize,
    /// The request-rate bucket; `None` (the default) lets every request in.
    pub rate_limit: Option<RateLimit>,
    /// Operating time a method may accumulate in the window before it is blocked (Bitrix24:
    /// 480 s, the default); `None` never blocks.
    pub operating_limit: Option<Duration>,
    /// The sliding window of operating time (Bitrix24: 10 minutes).
    pub operating_window: Duration,
    /// What calls cost in operating time.
    pub cost: CostModel,
    /// Whether a classic call also takes the operating time it costs, in wall time, before it
    /// is answered (default false: answers come at once). A `batch` takes the sum of its
    /// commands; concurrent requests take theirs in parallel. For benchmarks that need a portal
    /// as slow as a real one.
    pub spend_operating_time: bool,
    /// How connections are served (default: plain HTTP).
    pub transport: Option<Transport>,
    /// Port to listen on, 0 (the default) for a free one.
    pub port: u16,
    /// The installed application's `client_id` and `client_secret` (default: random ones).
    /// Portals given the same pair have the same application installed, as a marketplace
    /// application is on many portals.
    pub application: Option<(String, bitrix24::Secret)>,
}

impl Default for SandboxConfig {
    /// One-hour tokens, the scopes `basic crm im imbot user tasks`, no rate limit (so tests
    /// that fire many calls at once are not slowed down; opt in with [`SandboxConfig::plan`]),
    /// the documented 480 s per 10 minutes of operating time.
    fn default() -> Self {
        Self {
            access_token_ttl: Duration::from_secs(3600),
            access_token_calls: None,
            oauth_delay: Duration::ZERO,
            scopes: ["basic", "crm", "im", "imbot", "user", "tasks"]
                .map(String::from)
                .to_vec(),
            seed_deals: 0,
            rate_limit: None,
            operating_limit: Some(Duration::from_secs(480)),
            operating_window: Duration::from_secs(600),
            cost: CostModel::default(),
            spend_operating_time: false,
            transport: None,
            port: 0,
            application: None,
        }
    }
}

/// Bitrix24 plans as far as the rate limit goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Plan {
    /// Every plan but Enterprise: a bucket of 50 draining at 2 per second.
    Standard,
    /// Enterprise: a bucket of 250 draining at 5 per second.
    Enterprise,
    /// No rate limit (an on-premise installation configured so, or a test).
    Unlimited,
}

impl Plan {
    /// The plan's bucket.
    pub fn rate_limit(self) -> Option<RateLimit> {
        match self {
            Self::Standard => Some(RateLimit::STANDARD),
            Self::Enterprise => Some(RateLimit::ENTERPRISE),
            Self::Unlimited => None,
        }
    }
}

impl SandboxConfig {
    /// Sets the access token lifetime.
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.access_token_ttl = ttl;
        self
    }
    /// Makes every access token expire after `calls` REST calls (`None`: only by time).
    pub fn access_token_calls(mut self, calls: Option<u32>) -> Self {
        self.access_token_calls = calls;
        self
    }
    /// Sets how long the OAuth server takes to answer (after rotating).
    pub fn oauth_delay(mut self, delay: Duration) -> Self {
        self.oauth_delay = delay;
        self
    }
    /// Sets the granted scopes.
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }
    /// Creates `n` deals at start.
    pub fn seed_deals(mut self, n: usize) -> Self {
        self.seed_deals = n;
        self
    }
    /// Sets the rate limit to the plan's.
    pub fn plan(mut self, plan: Plan) -> Self {
        self.rate_limit = plan.rate_limit();
        self
    }
    /// Sets the rate limit (`None`: off).
    pub fn rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.rate_limit = limit;
        self
    }
    /// Sets the operating-time limit per method (`None`: off).
    pub fn operating_limit(mut self, limit: Option<Duration>) -> Self {
        self.operating_limit = limit;
        self
    }
    /// Sets the operating-time window.
    pub fn operating_window(mut self, window: Duration) -> Self {
        self.operating_window = window;
        self
    }
    /// Sets the cost model.
    pub fn cost(mut self, cost: CostModel) -> Self {
        self.cost = cost;
        self
    }
    /// Makes classic calls take the operating time they cost (see
    /// [`SandboxConfig::spend_operating_time`]).
    pub fn spend_operating_time(mut self, spend: bool) -> Self {
        self.spend_operating_time = spend;
        self
    }
    /// Serves connections through `transport` (e.g. TLS) instead of plain HTTP.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = Some(transport);
        self
    }
    /// Listens on `port` of 127.0.0.1 (0: a free one).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
    /// Installs the application with this `client_id` and `client_secret`.
    pub fn application(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<bitrix24::Secret>,
    ) -> Self {
        self.application = Some((client_id.into(), client_secret.into()));
        self
    }
}

/// Counters of what the sandbox saw; tests assert on them.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    refreshes: AtomicU64,
    refresh_failures: AtomicU64,
    events_delivered: AtomicU64,
}

/// A snapshot of [`Sandbox`] counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// REST requests received (webhook and OAuth, `batch` counts once).
    pub requests: u64,
    /// Successful token renewals at `/oauth/token/`.
    pub refreshes: u64,
    /// Refused token renewals (bad client, reused or unknown refresh token).
    pub refresh_failures: u64,
    /// Events POSTed to handlers that answered 2xx.
    pub events_delivered: u64,
}

/// Writes the sandbox executed, by method (lower case), e.g. `crm.deal.add`.
///
/// A write is counted when its handler succeeded: a call refused before execution (rate
/// limit, operating time, an injected fault, an idempotent replay) or failing validation is
/// not counted. Commands inside a batch count under their own methods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Writes(BTreeMap<String, u64>);

impl Writes {
    /// Executed writes of `method` (any case).
    pub fn get(&self, method: &str) -> u64 {
        self.0
            .get(&method.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
    }
    /// Executed writes of all methods.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
    /// Methods with their counts, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(m, n)| (m.as_str(), *n))
    }
}

/// A method's operating time as the sandbox accounts it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct OperatingTime {
    /// Seconds accumulated in the current window (`time.operating`).
    pub seconds: f64,
    /// Unix time when the oldest cost leaves the window (`time.operating_reset_at`).
    pub reset_at: i64,
    /// Whether calls of the method are refused with `OPERATION_TIME_LIMIT` now.
    pub blocked: bool,
}

pub(crate) struct Shared {
    pub(crate) config: SandboxConfig,
    pub(crate) base: Url,
    /// Where the portal answers after a rename ([`Fault::Redirect`]).
    pub(crate) renamed_base: Url,
    pub(crate) clock: Clock,
    portal: Mutex<Portal>,
    limits: Mutex<Limits>,
    pub(crate) counters: Counters,
    faults: Mutex<faults::Faults>,
    writes: Mutex<BTreeMap<String, u64>>,
    idempotency: Mutex<v3::Idempotency>,
    /// Delivers events to handlers.
    pub(crate) http: reqwest::Client,
    /// Every portal whose tokens this portal's OAuth server renews: itself and its peers
    /// ([`Sandbox::start_peer`]), as `oauth.bitrix.info` serves every cloud portal.
    pub(crate) cluster: Arc<Mutex<Vec<Weak<Shared>>>>,
}

/// Locks `mutex`, also after a panic elsewhere: a handler that panicked mid-update leaves data
/// as it was, and the sandbox keeps serving.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn portal(&self) -> MutexGuard<'_, Portal> {
        lock(&self.portal)
    }

    pub(crate) fn limits(&self) -> MutexGuard<'_, Limits> {
        lock(&self.limits)
    }

    /// Whether the application may call methods of `scope` (`basic` is always granted).
    pub(crate) fn grants(&self, scope: &str) -> bool {
        scope == "basic" || self.config.scopes.iter().any(|s| s == scope)
    }

    pub(crate) fn idempotency(&self) -> MutexGuard<'_, v3::Idempotency> {
        lock(&self.idempotency)
    }

    pub(crate) fn take_fault(&self, method: &str, renamed: bool) -> Option<(Fault, bool)> {
        lock(&self.faults).take(method, renamed)
    }

    pub(crate) fn count_write(&self, method: &str) {
        *lock(&self.writes).entry(method.to_owned()).or_default() += 1;
    }

    /// The portals of this portal's OAuth cluster that are still running, itself included.
    pub(crate) fn cluster(&self) -> Vec<Arc<Shared>> {
        lock(&self.cluster)
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }
}

/// A running sandbox portal. Stops when dropped.
pub struct Sandbox {
    shared: Arc<Shared>,
    addr: SocketAddr,
    /// Dropping it stops both listeners.
    _shutdown: tokio::sync::watch::Sender<()>,
}

impl Sandbox {
    /// Starts a portal with default settings on a free port of 127.0.0.1.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(SandboxConfig::default()).await
    }

    /// Starts a portal with `config`.
    pub async fn start_with(config: SandboxConfig) -> std::io::Result<Self> {
        Self::start_in(config, Arc::new(Mutex::new(Vec::new()))).await
    }

    /// Starts another portal on which the same application is installed (this portal's
    /// `client_id` and `client_secret`; its own `member_id`, application token, users and
    /// data), whose tokens this portal's OAuth server renews too — as `oauth.bitrix.info` does
    /// for every cloud portal. One [`bitrix24::app::App`] configured with [`Sandbox::oauth_app`]
    /// then serves both.
    pub async fn start_peer(&self, config: SandboxConfig) -> std::io::Result<Self> {
        let (client_id, client_secret) = {
            let portal = self.shared.portal();
            (
                portal.app.client_id.clone(),
                portal.app.client_secret.clone(),
            )
        };
        let config = config.application(client_id, client_secret);
        Self::start_in(config, self.shared.cluster.clone()).await
    }

    async fn start_in(
        config: SandboxConfig,
        cluster: Arc<Mutex<Vec<Weak<Shared>>>>,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
        let addr = listener.local_addr()?;
        let renamed = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let scheme = config
            .transport
            .as_ref()
            .map_or("http", |t| t.scheme.as_str());
        let url = |addr: SocketAddr| {
            Url::parse(&format!("{scheme}://{addr}/"))
                .map_err(|e| std::io::Error::other(e.to_string()))
        };
        let base = url(addr)?;
        let renamed_base = url(renamed.local_addr()?)?;
        // The SDK's TLS (reqwest is built without a crypto provider of its own).
        let http = bitrix24::http_client_builder()
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| std::io::Error::other(e.without_url()))?;
        let portal = Portal::new(&config, &base);
        let limits = Limits::new(
            config.rate_limit,
            config.operating_limit,
            config.operating_window,
            config.cost,
        );
        let shared = Arc::new(Shared {
            config,
            base,
            renamed_base,
            clock: Clock::new(),
            portal: Mutex::new(portal),
            limits: Mutex::new(limits),
            counters: Counters::default(),
            faults: Mutex::new(faults::Faults::default()),
            writes: Mutex::new(BTreeMap::new()),
            idempotency: Mutex::new(v3::Idempotency::default()),
            http,
            cluster,
        });
        lock(&shared.cluster).push(Arc::downgrade(&shared));
        let (shutdown, stopped) = tokio::sync::watch::channel(());
        let router = server::router(shared.clone());
        for (listener, renamed) in [(listener, false), (renamed, true)] {
            let app = router
                .clone()
                .into_make_service_with_connect_info::<net::Conn>();
            let listener = net::SandboxListener {
                listener,
                renamed,
                transport: shared.config.transport.clone(),
            };
            let mut stopped = stopped.clone();
            tokio::spawn(async move {
                let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                    // Resolves when the `Sandbox` (the sender) is dropped.
                    let _ = stopped.changed().await;
                });
                if let Err(e) = serve.await {
                    tracing::error!("sandbox server stopped: {e}");
                }
            });
        }
        Ok(Self {
            shared,
            addr,
            _shutdown: shutdown,
        })
    }

    /// The portal's address, `http://127.0.0.1:<port>/` (`https://` over TLS).
    pub fn url(&self) -> &Url {
        &self.shared.base
    }

    /// The socket the portal listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The incoming webhook URL of the portal's administrator (user 1).
    pub fn webhook_url(&self) -> String {
        let portal = self.shared.portal();
        format!(
            "{}rest/1/{}/",
            self.shared.base,
            portal.webhook_code.expose()
        )
    }

    /// The OAuth application installed on the portal, renewing tokens at the sandbox's own
    /// `/oauth/token/`.
    pub fn oauth_app(&self) -> OAuthApp {
        let portal = self.shared.portal();
        let token_url = self
            .shared
            .base
            .join("oauth/token/")
            .unwrap_or_else(|_| self.shared.base.clone());
        OAuthApp::new(
            portal.app.client_id.clone(),
            portal.app.client_secret.clone(),
        )
        .with_token_url(token_url)
    }

    /// Issues a fresh token pair for the application acting as the administrator, as an
    /// installation or an authorization would.
    pub fn issue_tokens(&self) -> Tokens {
        self.shared
            .portal()
            .grant(1, self.shared.config.access_token_ttl)
    }

    /// Issues an authorization code for `user_id`, as the portal hands one to the application's
    /// redirect URL once the user allows access; it can be exchanged once at `/oauth/token/`.
    pub fn issue_auth_code(&self, user_id: i64) -> String {
        let mut portal = self.shared.portal();
        let code = portal.token(16);
        portal.auth_codes.insert(code.clone(), user_id);
        code
    }

    /// A client authenticated with the administrator's webhook.
    pub fn webhook_client(&self) -> Result<Client, Error> {
        self.client_builder().webhook(&self.webhook_url()).build()
    }

    /// A client authenticated as the OAuth application with fresh tokens.
    pub fn oauth_client(&self) -> Result<Client, Error> {
        self.client_builder()
            .portal(self.shared.base.as_str())
            .oauth(self.oauth_app(), self.issue_tokens())
            .build()
    }

    /// A client builder whose rate limiter mirrors this portal's bucket (none: unlimited), for
    /// clients configured further by hand.
    pub fn client_builder(&self) -> bitrix24::ClientBuilder {
        let limit = self
            .shared
            .config
            .rate_limit
            .unwrap_or(RateLimit::new(u32::MAX, f64::INFINITY));
        let builder = Client::builder().rate_limit(limit);
        match self
            .shared
            .config
            .transport
            .as_ref()
            .and_then(|t| t.root.as_deref())
        {
            Some(pem) => builder.root_certificate(pem),
            None => builder,
        }
    }

    /// A webhook for another user of the portal (created if needed), e.g. a colleague who
    /// writes to a bot.
    pub fn user_webhook_url(&self, user_id: i64) -> String {
        let code = self.shared.portal().webhook_for(user_id);
        format!("{}rest/{user_id}/{}/", self.shared.base, code.expose())
    }

    /// The application token the portal sends in `auth[application_token]` of every event.
    pub fn application_token(&self) -> bitrix24::Secret {
        self.shared.portal().app.application_token.clone()
    }

    /// The portal's `member_id` for the installed application.
    pub fn member_id(&self) -> String {
        self.shared.portal().app.member_id.clone()
    }

    /// The portal's `host:port`, as events spell `domain`.
    pub fn domain(&self) -> String {
        events::domain(&self.shared)
    }

    /// What an installation of the application on this portal stores (address, `member_id`,
    /// application token, a fresh token pair), for registering the portal with
    /// [`bitrix24::app::App::register`] out of band instead of through [`Sandbox::install_app`].
    pub fn installation(&self) -> bitrix24::app::Installation {
        bitrix24::app::Installation::new(
            self.member_id(),
            self.shared.base.clone(),
            self.application_token(),
        )
        .with_tokens(self.issue_tokens())
    }

    /// Installs the application: POSTs `ONAPPINSTALL` to `handler_url` as a portal does when
    /// an administrator installs it (form-encoded, with the portal's `domain`, `member_id`, a
    /// token pair and the `application_token` every later event carries). Returns the HTTP
    /// status the handler answered.
    pub async fn install_app(&self, handler_url: &str) -> std::io::Result<u16> {
        let body = events::install(&mut self.shared.portal(), &self.shared);
        events::post(&self.shared, handler_url, body)
            .await
            .map_err(|e| std::io::Error::other(e.without_url()))
    }

    /// User `user_id` opens the application's placement `code` (`CRM_DEAL_DETAIL_TAB`, ...,
    /// `DEFAULT` for its own page) with context `options`: POSTs to `handler_url` what a portal's
    /// frame posts (the portal and language in the query string; the user's fresh token pair,
    /// `member_id`, `APPLICATION_TOKEN`, scopes, `PLACEMENT` and `PLACEMENT_OPTIONS` as a JSON
    /// string in the form body). Returns the status and the page the handler answered.
    pub async fn open_placement(
        &self,
        handler_url: &str,
        user_id: i64,
        code: &str,
        options: &Value,
    ) -> std::io::Result<(u16, String)> {
        let (query, body) = {
            let mut portal = self.shared.portal();
            let tokens = portal.grant(user_id, self.shared.config.access_token_ttl);
            let query = bitrix24::wire::php::encode(&serde_json::json!({
                "DOMAIN": self.domain(),
                "PROTOCOL": u8::from(self.shared.base.scheme() == "https"),
                "LANG": "en",
                "APP_SID": portal.token(16),
            }));
            let body = bitrix24::wire::php::encode(&serde_json::json!({
                "AUTH_ID": tokens.access_token.expose(),
                "AUTH_EXPIRES": self.shared.config.access_token_ttl.as_secs(),
                "REFRESH_ID": tokens.refresh_token.expose(),
                "SERVER_ENDPOINT": format!("{}oauth/", self.shared.base),
                "APPLICATION_TOKEN": portal.app.application_token.expose(),
                "APPLICATION_SCOPE": self.shared.config.scopes.join(","),
                "member_id": portal.app.member_id,
                "status": "L",
                "PLACEMENT": code,
                "PLACEMENT_OPTIONS": options.to_string(),
            }));
            (query, body)
        };
        let separator = if handler_url.contains('?') { '&' } else { '?' };
        let response = self
            .shared
            .http
            .post(format!("{handler_url}{separator}{query}"))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| std::io::Error::other(e.without_url()))?;
        let status = response.status().as_u16();
        let page = response
            .text()
            .await
            .map_err(|e| std::io::Error::other(e.without_url()))?;
        Ok((status, page))
    }

    /// User `user_id` opens the private dialog with bot `bot_id` in the messenger (what a
    /// browser does, not a REST method): the dialog is created if needed and, the first time,
    /// the bot gets `ONIMBOTJOINCHAT` (`ONIMBOTV2JOINCHAT`) — the moment for its welcome.
    /// Returns once the event was delivered.
    pub async fn open_dialog(&self, user_id: i64, bot_id: i64) -> std::io::Result<()> {
        let pending = {
            let mut portal = self.shared.portal();
            let bot =
                portal.bots.get(&bot_id).cloned().ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no such bot")
                })?;
            if !portal.users.contains_key(&user_id) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such user",
                ));
            }
            let chat_id = portal.private_chat(user_id, bot_id);
            if !portal.opened.insert((user_id, bot_id)) {
                return Ok(());
            }
            let chat = portal.chats.get(&chat_id).cloned();
            let mut pending = Vec::new();
            if let Some(chat) = chat {
                im::joined(
                    &mut portal,
                    &self.shared,
                    &bot,
                    &chat,
                    user_id,
                    &mut pending,
                );
            }
            pending
        };
        events::deliver(&self.shared, pending).await;
        Ok(())
    }

    /// Events waiting in fetch-mode v2 bot `bot_id`'s queue (not yet confirmed).
    pub fn queued_events(&self, bot_id: i64) -> usize {
        self.shared
            .portal()
            .queues
            .get(&bot_id)
            .map_or(0, |q| q.len())
    }

    /// Makes every access token issued so far expire now.
    pub fn expire_access_tokens(&self) {
        self.shared.portal().expire_access_tokens();
    }

    /// Answers the next call (of `method`, or of any method) with `fault` instead of executing
    /// it. [`Sandbox::inject_with`] has the other schedules.
    pub fn inject(&self, method: Option<&str>, fault: Fault) {
        let mut injection = Injection::new(fault);
        injection.method = method.map(str::to_owned);
        self.inject_with(injection);
    }

    /// Registers a fault with its target and schedule. Injections are tried in the order they
    /// were registered; the first that matches and fires wins.
    pub fn inject_with(&self, injection: Injection) {
        lock(&self.shared.faults).push(injection);
    }

    /// Removes every registered fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// The writes the portal has executed so far, by method.
    pub fn writes(&self) -> Writes {
        Writes(lock(&self.shared.writes).clone())
    }

    /// `method`'s operating time now.
    pub fn operating_time(&self, method: &str) -> OperatingTime {
        let key = method.to_ascii_lowercase();
        let now = tokio::time::Instant::now();
        let mut limits = self.shared.limits();
        let blocked = limits.blocked(&key, now);
        let operating = limits.operating(&key, now);
        OperatingTime {
            seconds: operating.seconds,
            reset_at: self.shared.clock.unix(operating.reset_at).ceil() as i64,
            blocked,
        }
    }

    /// Requests in the rate-limit bucket now (0 when there is no limit).
    pub fn bucket_level(&self) -> f64 {
        self.shared
            .limits()
            .bucket_level(tokio::time::Instant::now())
    }

    /// The address the portal answers at after a rename ([`Fault::Redirect`]): the same
    /// portal on another port, `http://127.0.0.1:<other port>/`.
    pub fn renamed_url(&self) -> &Url {
        &self.shared.renamed_base
    }

    /// What the sandbox has counted so far.
    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        Stats {
            requests: c.requests.load(Ordering::Relaxed),
            refreshes: c.refreshes.load(Ordering::Relaxed),
            refresh_failures: c.refresh_failures.load(Ordering::Relaxed),
            events_delivered: c.events_delivered.load(Ordering::Relaxed),
        }
    }

    /// Every chat message stored so far, oldest first.
    pub fn messages(&self) -> Vec<StoredMessage> {
        self.shared.portal().messages.clone()
    }

    /// Number of deals stored.
    pub fn deal_count(&self) -> usize {
        self.shared.portal().deals.len()
    }

    /// A deal's stored fields as the classic API returns them, if it exists.
    pub fn deal(&self, id: i64) -> Option<Map<String, Value>> {
        self.shared.portal().deals.get(id)
    }

    /// A REST 3.0 task as `tasks.task.get` returns it, if it exists.
    pub fn task(&self, id: i64) -> Option<Map<String, Value>> {
        self.shared.portal().tasks.get(&id).cloned()
    }

    /// Number of REST 3.0 tasks stored.
    pub fn task_count(&self) -> usize {
        self.shared.portal().tasks.len()
    }

    /// A Drive file's name and content as stored, if it exists.
    pub fn disk_file(&self, id: i64) -> Option<bitrix24::File> {
        let (name, content) = self.shared.portal().drive.content(id)?;
        Some(bitrix24::File::new(name, content))
    }
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("url", &self.shared.base.as_str())
            .finish_non_exhaustive()
    }
}
