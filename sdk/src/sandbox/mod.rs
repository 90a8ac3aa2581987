//! An offline Bitrix24 portal on `127.0.0.1`, for tests, examples and local development.
//!
//! It speaks the real protocol over real HTTP: incoming webhooks and OAuth (access tokens that
//! expire, refresh tokens that rotate, `invalid_grant` on reuse), JSON and PHP-form bodies, the
//! documented error codes with their HTTP statuses, 50-row paging with `next`/`total` and
//! `start=-1`, `batch`, and bot events POSTed form-encoded to the handler URLs bots register.
//! Data lives in memory: users, deals and CRM items, bots, chats, messages, event handlers.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let portal = bitrix24::sandbox::Sandbox::start().await?;
//! let client = portal.oauth_client()?;
//! let me = client.user_current().await?;
//! # Ok(()) }
//! ```

mod batch;
mod crm;
mod data;
mod events;
mod im;
mod oauth;
mod params;
mod server;
mod system;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Map, Value};
use url::Url;

use crate::{Client, Error, OAuthApp, Tokens};
use data::Portal;
pub use data::StoredMessage;

/// Settings of a sandbox portal.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SandboxConfig {
    /// Lifetime of access tokens (Bitrix24: one hour).
    pub access_token_ttl: Duration,
    /// Scopes granted to the application and the webhook; calls outside them get
    /// `insufficient_scope`.
    pub scopes: Vec<String>,
    /// Deals created at start (ids 1..=n), for paging and export tests.
    pub seed_deals: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            access_token_ttl: Duration::from_secs(3600),
            scopes: ["basic", "crm", "im", "imbot", "user"]
                .map(String::from)
                .to_vec(),
            seed_deals: 0,
        }
    }
}

impl SandboxConfig {
    /// Sets the access token lifetime.
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.access_token_ttl = ttl;
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
}

/// A fault the sandbox injects instead of answering normally, to test how clients cope.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Fault {
    /// An error envelope with this status and code.
    Error {
        /// HTTP status.
        status: u16,
        /// Bitrix24 error code.
        code: String,
        /// Description.
        description: String,
    },
    /// A raw body (HTML page, truncated or malformed JSON, empty) with this status.
    Body {
        /// HTTP status.
        status: u16,
        /// Content type header.
        content_type: String,
        /// The body, verbatim.
        body: String,
    },
}

impl Fault {
    /// An error envelope.
    pub fn error(status: u16, code: &str, description: &str) -> Self {
        Self::Error {
            status,
            code: code.to_owned(),
            description: description.to_owned(),
        }
    }
    /// A proxy's HTML error page with this status.
    pub fn html(status: u16) -> Self {
        Self::Body {
            status,
            content_type: "text/html".to_owned(),
            body: format!(
                "<html><head><title>{status}</title></head><body><h1>{status} Bad Gateway</h1><hr>nginx</body></html>"
            ),
        }
    }
    /// A raw body with status 200 and a JSON content type.
    pub fn body(body: &str) -> Self {
        Self::Body {
            status: 200,
            content_type: "application/json".to_owned(),
            body: body.to_owned(),
        }
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

pub(crate) struct Shared {
    pub(crate) config: SandboxConfig,
    pub(crate) base: Url,
    portal: Mutex<Portal>,
    pub(crate) counters: Counters,
    faults: Mutex<VecDeque<(Option<String>, Fault)>>,
    /// Delivers events to handlers.
    pub(crate) http: reqwest::Client,
}

impl Shared {
    pub(crate) fn portal(&self) -> MutexGuard<'_, Portal> {
        // A handler that panicked mid-update leaves data as it was; keep serving.
        self.portal.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn take_fault(&self, method: &str) -> Option<Fault> {
        let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        let index = faults
            .iter()
            .position(|(m, _)| m.as_deref().is_none_or(|m| m == method))?;
        faults.remove(index).map(|(_, fault)| fault)
    }
}

/// A running sandbox portal. Stops when dropped.
pub struct Sandbox {
    shared: Arc<Shared>,
    addr: SocketAddr,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl Sandbox {
    /// Starts a portal with default settings on a free port of 127.0.0.1.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(SandboxConfig::default()).await
    }

    /// Starts a portal with `config`.
    pub async fn start_with(config: SandboxConfig) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let base = Url::parse(&format!("http://{addr}/"))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| std::io::Error::other(e.without_url()))?;
        let portal = Portal::new(&config, &base);
        let shared = Arc::new(Shared {
            config,
            base,
            portal: Mutex::new(portal),
            counters: Counters::default(),
            faults: Mutex::new(VecDeque::new()),
            http,
        });
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = server::router(shared.clone());
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!("sandbox server stopped: {e}");
            }
        });
        Ok(Self {
            shared,
            addr,
            _shutdown: shutdown,
        })
    }

    /// The portal's address, `http://127.0.0.1:<port>/`.
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

    /// A client authenticated with the administrator's webhook.
    pub fn webhook_client(&self) -> Result<Client, Error> {
        Client::webhook(&self.webhook_url())
    }

    /// A client authenticated as the OAuth application with fresh tokens.
    pub fn oauth_client(&self) -> Result<Client, Error> {
        Client::builder()
            .portal(self.shared.base.as_str())
            .oauth(self.oauth_app(), self.issue_tokens())
            .build()
    }

    /// A webhook for another user of the portal (created if needed), e.g. a colleague who
    /// writes to a bot.
    pub fn user_webhook_url(&self, user_id: i64) -> String {
        let code = self.shared.portal().webhook_for(user_id);
        format!("{}rest/{user_id}/{}/", self.shared.base, code.expose())
    }

    /// The application token the portal sends in `auth[application_token]` of every event.
    pub fn application_token(&self) -> crate::Secret {
        self.shared.portal().app.application_token.clone()
    }

    /// Makes every access token issued so far expire now.
    pub fn expire_access_tokens(&self) {
        self.shared.portal().expire_access_tokens();
    }

    /// Answers the next call (of `method`, or of any method) with `fault` instead.
    pub fn inject(&self, method: Option<&str>, fault: Fault) {
        let mut faults = self.shared.faults.lock().unwrap_or_else(|p| p.into_inner());
        faults.push_back((method.map(str::to_owned), fault));
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
        self.shared.portal().deals.get(&id).cloned()
    }
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("url", &self.shared.base.as_str())
            .finish_non_exhaustive()
    }
}
