//! The client: where a portal is, how calls authenticate, and how they are encoded.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::future::BoxFuture;
use url::Url;

use crate::auth::{MemoryTokenStore, OAuthApp, StoreError, TokenStore, Tokens};
use crate::session::{OAuthSession, StoreErrorHook};
use crate::{Decoding, Error, Method, RateLimit, RateLimiter, Request, RetryPolicy, Secret};

/// A connection to one Bitrix24 portal. Cheap to clone: clones share the connection pool, the
/// tokens and the single-flight token refresh.
///
/// ```no_run
/// # async fn run() -> Result<(), bitrix24::Error> {
/// let client = bitrix24::Client::from_env()?;
/// let me = client.user_current().await?;
/// println!("{:?}", me.name);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    /// `{portal}/rest/` for OAuth, `{portal}/rest/{user}/{code}/` for a webhook; replaced when
    /// the portal answers with a rename (a redirect to the same call at a new address).
    pub(crate) endpoint: RwLock<Arc<Endpoint>>,
    pub(crate) auth: Auth,
    pub(crate) encoding: Encoding,
    pub(crate) max_response_bytes: usize,
    pub(crate) limiter: Arc<RateLimiter>,
    pub(crate) retry: RetryPolicy,
    /// How answers that do not fit their types are decoded.
    pub(crate) decoding: Decoding,
    /// Who decides about portal renames; `None`: [`may_move`].
    pub(crate) moves: Option<Arc<dyn PortalMoves>>,
}

/// Decides where a client's calls may move when its portal is renamed, and keeps a move: an
/// [`App`](crate::app::App)'s clients follow the install policy and store the new address in
/// the installation.
pub(crate) trait PortalMoves: Send + Sync {
    /// Whether calls may move to `to`.
    fn allows(&self, to: &Url) -> Result<(), String>;
    /// Calls moved to `to`: remember it.
    fn moved<'a>(&'a self, to: &'a Url) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// Whether a client configured by hand follows a rename from `from` to `to`: anywhere but from a
/// public address onto an internal one (a loopback, private or link-local literal, `localhost`).
/// A portal on such an address may move within it, as the sandbox does.
fn may_move(from: &Url, to: &Url) -> bool {
    let public = crate::network::NetworkPolicy::public();
    public.check_host(to).is_ok() || public.check_host(from).is_err()
}

/// Where method calls go. The webhook form embeds a secret and is never printed.
#[derive(Clone)]
pub(crate) struct Endpoint {
    /// Scheme, host and port, for messages: `https://portal.bitrix24.com`.
    pub(crate) portal: Url,
    /// The webhook's `{user}/{code}/`, or nothing for OAuth.
    credentials: Secret,
    /// Base URL that method names are appended to, ending in `/`.
    base: Secret,
    /// The same for REST 3.0 methods: `/rest/api/` in place of `/rest/`.
    base_v3: Secret,
}

impl Endpoint {
    /// `{portal}/rest/` + credentials in the path for webhooks; `api/` goes after `rest/`.
    fn new(portal: Url, credentials: &str) -> Self {
        let base = Secret::new(format!("{}rest/{credentials}", portal.as_str()));
        let base_v3 = Secret::new(format!("{}rest/api/{credentials}", portal.as_str()));
        Self {
            portal,
            credentials: Secret::new(credentials),
            base,
            base_v3,
        }
    }

    /// The endpoint after a portal rename, if `location` (the answer to a POST of
    /// `method_url(method, rest_v3)`) is the same call at another address: same path, same or
    /// stronger scheme. Anything else is not followed.
    pub(crate) fn renamed(&self, location: &str, method: &str, rest_v3: bool) -> Option<Self> {
        let old = Url::parse(&self.method_url(method, rest_v3)).ok()?;
        let new = old.join(location).ok()?;
        let downgrade = old.scheme() == "https" && new.scheme() != "https";
        if downgrade
            || new.path() != old.path()
            || new.host_str().is_none()
            || new.origin() == old.origin()
        {
            return None;
        }
        Some(Self::new(site_root(new), self.credentials.expose()))
    }

    /// The webhook's code (`{user}/{code}/`), for removing it from echoed text.
    pub(crate) fn webhook_code(&self) -> Option<&str> {
        self.credentials
            .expose()
            .split('/')
            .nth(1)
            .filter(|code| !code.is_empty())
    }

    pub(crate) fn method_url(&self, method: &str, rest_v3: bool) -> String {
        let base = if rest_v3 { &self.base_v3 } else { &self.base };
        let mut url = String::with_capacity(base.expose().len() + method.len());
        url.push_str(base.expose());
        url.push_str(method);
        url
    }
}

impl Inner {
    pub(crate) fn endpoint(&self) -> Arc<Endpoint> {
        self.endpoint
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_endpoint(&self, endpoint: Arc<Endpoint>) {
        *self.endpoint.write().unwrap_or_else(|p| p.into_inner()) = endpoint;
    }

    /// Whether calls may follow a rename to `to` (see [`PortalMoves`]).
    pub(crate) fn may_move_to(&self, to: &Url) -> bool {
        let verdict = match &self.moves {
            Some(moves) => moves.allows(to),
            None if may_move(&self.endpoint().portal, to) => Ok(()),
            None => Err("a public portal may not move to an internal address".to_owned()),
        };
        if let Err(why) = &verdict {
            tracing::warn!(to = to.as_str(), "portal rename not followed: {why}");
        }
        verdict.is_ok()
    }

    /// Records a rename that was followed. A failure to record it is logged: the call itself
    /// went through, and the next one will try again.
    pub(crate) async fn moved_to(&self, to: &Url) {
        if let Some(moves) = &self.moves
            && let Err(e) = moves.moved(to).await
        {
            tracing::warn!("the portal's new address could not be stored: {e}");
        }
    }
}

pub(crate) enum Auth {
    /// Incoming webhook: the code is part of the endpoint URL.
    Webhook,
    /// OAuth application: the access token goes into every request as `auth`.
    OAuth(Arc<OAuthSession>),
}

/// How request parameters are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// `application/json` (the default): types survive as they are.
    #[default]
    Json,
    /// `application/x-www-form-urlencoded` with PHP bracket keys, byte-identical to PHP's
    /// `http_build_query`, as PHP integrations send. Every value arrives as a string.
    Form,
}

impl Client {
    /// Starts configuring a client for the portal at `portal` (`https://example.bitrix24.com`,
    /// or `http://` for on-premise and local portals).
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client for an incoming webhook URL, as Bitrix24 shows it:
    /// `https://example.bitrix24.com/rest/1/abc123def456/`.
    pub fn webhook(url: &str) -> Result<Self, Error> {
        Self::builder().webhook(url).build()
    }

    /// Reads the configuration from the environment:
    /// `B24_WEBHOOK_URL`, or `B24_PORTAL` + `B24_ACCESS_TOKEN` + `B24_REFRESH_TOKEN` +
    /// `B24_CLIENT_ID` + `B24_CLIENT_SECRET` (optional `B24_OAUTH_URL` for another token
    /// endpoint, `B24_TOKEN_FILE` to persist renewed tokens in a file).
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// [`Client::from_env`] with another source of variables.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        if let Some(url) = var("B24_WEBHOOK_URL") {
            return Self::webhook(&url);
        }
        let need = |name: &str| {
            var(name).ok_or_else(|| {
                Error::Config(format!(
                    "{name} is not set: set B24_WEBHOOK_URL, or B24_PORTAL, B24_ACCESS_TOKEN, \
                     B24_REFRESH_TOKEN, B24_CLIENT_ID and B24_CLIENT_SECRET"
                ))
            })
        };
        let mut app = OAuthApp::new(need("B24_CLIENT_ID")?, need("B24_CLIENT_SECRET")?);
        if let Some(url) = var("B24_OAUTH_URL") {
            app = app.with_token_url(parse_url("B24_OAUTH_URL", &url)?);
        }
        let tokens = Tokens::new(need("B24_ACCESS_TOKEN")?, need("B24_REFRESH_TOKEN")?);
        let mut builder = Self::builder()
            .portal(&need("B24_PORTAL")?)
            .oauth(app, tokens);
        if let Some(path) = var("B24_TOKEN_FILE") {
            builder = builder.token_store(crate::auth::FileTokenStore::new(path));
        }
        builder.build()
    }

    /// The portal's address (scheme, host, port), without credentials. After a portal rename
    /// (Bitrix24 redirects the old address) this is the new address.
    pub fn portal(&self) -> Url {
        self.inner.endpoint().portal.clone()
    }

    /// The rate limiter this client (and its clones) wait on.
    pub fn rate_limiter(&self) -> &Arc<RateLimiter> {
        &self.inner.limiter
    }

    /// Binds typed parameters to this client; `.await` the result to send it.
    pub fn request<M: Method>(&self, params: M) -> Request<M> {
        Request::new(self.clone(), params)
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.inner.auth {
            Auth::Webhook => "webhook",
            Auth::OAuth(_) => "oauth",
        };
        f.debug_struct("Client")
            .field("portal", &self.inner.endpoint().portal.as_str())
            .field("auth", &auth)
            .field("encoding", &self.inner.encoding)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Client`].
#[derive(Default)]
pub struct ClientBuilder {
    portal: Option<String>,
    webhook: Option<String>,
    oauth: Option<(OAuthApp, Option<Tokens>)>,
    store: Option<Arc<dyn TokenStore>>,
    on_store_error: Option<StoreErrorHook>,
    encoding: Encoding,
    connect_timeout: Option<Duration>,
    timeout: Option<Duration>,
    max_response_bytes: Option<usize>,
    http: Option<reqwest::Client>,
    limiter: Option<Arc<RateLimiter>>,
    retry: Option<RetryPolicy>,
    decoding: Decoding,
    roots: Vec<Vec<u8>>,
    moves: Option<Arc<dyn PortalMoves>>,
}

/// Default limits: generous for list pages and batches, small enough that a runaway body can't
/// exhaust memory.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

impl ClientBuilder {
    /// The portal's address for OAuth calls: `https://example.bitrix24.com`.
    pub fn portal(mut self, url: &str) -> Self {
        self.portal = Some(url.to_owned());
        self
    }

    /// Authenticates with an incoming webhook URL (`https://example.bitrix24.com/rest/1/code/`).
    pub fn webhook(mut self, url: &str) -> Self {
        self.webhook = Some(url.to_owned());
        self
    }

    /// Authenticates as an OAuth application with a token pair (used unless the token store
    /// already holds newer tokens).
    pub fn oauth(mut self, app: OAuthApp, tokens: Tokens) -> Self {
        self.oauth = Some((app, Some(tokens)));
        self
    }

    /// Authenticates as an OAuth application whose tokens are in the token store.
    pub fn oauth_from_store(mut self, app: OAuthApp, store: impl TokenStore + 'static) -> Self {
        self.oauth = Some((app, None));
        self.store = Some(Arc::new(store));
        self
    }

    /// Where renewed tokens are persisted (default: memory only).
    pub fn token_store(mut self, store: impl TokenStore + 'static) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Called with the error whenever the token store refuses a renewed pair. The pair stays in
    /// use (it is the only one the OAuth server still accepts) and saving it is retried on later
    /// calls with backoff, or by [`Client::save_tokens`]; every refusal is also logged
    /// (`tracing`, level ERROR). A place to raise an alarm: until a save succeeds, the stored
    /// refresh token is spent.
    pub fn on_store_error(mut self, hook: impl Fn(&StoreError) + Send + Sync + 'static) -> Self {
        self.on_store_error = Some(Arc::new(hook));
        self
    }

    /// Parameter encoding (default: JSON).
    pub fn encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// How long to wait for a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// How long a whole call may take, body included (default 120 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The largest response body accepted (default 64 MiB).
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = Some(limit);
        self
    }

    /// Trusts this certificate (PEM) besides the system's, e.g. the self-signed one of a
    /// development portal (the sandbox over TLS). Ignored with [`ClientBuilder::http_client`].
    pub fn root_certificate(mut self, pem: &[u8]) -> Self {
        self.roots.push(pem.to_vec());
        self
    }

    /// Shares an existing HTTP client (connection pool). It must not follow redirects: a
    /// redirect would carry credentials to a host nobody configured. Its own `User-Agent` is
    /// sent; give it [`USER_AGENT`] to name the SDK as the SDK's own clients do.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// The portal's request budget (default [`RateLimit::STANDARD`]); calls wait for a free
    /// slot instead of being refused with `QUERY_LIMIT_EXCEEDED`.
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.limiter = Some(Arc::new(RateLimiter::new(limit)));
        self
    }

    /// Shares a rate limiter with other clients of the same portal (clones of one client share
    /// theirs already).
    pub fn rate_limiter(mut self, limiter: Arc<RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// When failed calls are retried (default [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Makes a value that does not fit its type an error instead of a logged fallback, for
    /// every typed result of this client: calls, batch results and list streams (see
    /// [`Decoding`]). Off by default: answers vary more than any schema says, and a misfit
    /// optional field is `None` with its value kept in `extra`.
    pub fn strict_decoding(mut self, strict: bool) -> Self {
        self.decoding = if strict {
            Decoding::Strict
        } else {
            Decoding::Lenient
        };
        self
    }

    /// Who decides about portal renames (an application's installations).
    pub(crate) fn portal_moves(mut self, moves: Arc<dyn PortalMoves>) -> Self {
        self.moves = Some(moves);
        self
    }

    /// Checks the configuration and creates the client.
    pub fn build(self) -> Result<Client, Error> {
        let http = match self.http {
            Some(http) => http,
            None => http_client_with(
                self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
                self.timeout.unwrap_or(DEFAULT_TIMEOUT),
                &self.roots,
                None,
            )?,
        };
        let (endpoint, auth) = match (self.webhook, self.oauth) {
            (Some(_), Some(_)) => {
                return Err(Error::Config(
                    "choose a webhook or OAuth, not both".to_owned(),
                ));
            }
            (None, None) => {
                return Err(Error::Config(
                    "no credentials: set a webhook URL or OAuth".to_owned(),
                ));
            }
            (Some(url), None) => (webhook_endpoint(&url)?, Auth::Webhook),
            (None, Some((app, initial))) => {
                let portal = self.portal.ok_or_else(|| {
                    Error::Config("OAuth needs the portal address (`portal`)".to_owned())
                })?;
                let portal = portal_url("portal", &portal)?;
                let store = self
                    .store
                    .unwrap_or_else(|| Arc::new(MemoryTokenStore::new()) as Arc<_>);
                let session =
                    OAuthSession::new(app, store, initial, http.clone(), self.on_store_error);
                (Endpoint::new(portal, ""), Auth::OAuth(session))
            }
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                endpoint: RwLock::new(Arc::new(endpoint)),
                auth,
                encoding: self.encoding,
                max_response_bytes: self
                    .max_response_bytes
                    .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES),
                limiter: self
                    .limiter
                    .unwrap_or_else(|| Arc::new(RateLimiter::new(RateLimit::STANDARD))),
                retry: self.retry.unwrap_or_default(),
                decoding: self.decoding,
                moves: self.moves,
            }),
        })
    }
}

/// An HTTP client that never follows redirects: a redirect would carry credentials (a token, a
/// webhook code, `client_secret`) to a host nobody configured.
pub(crate) fn http_client(connect: Duration, timeout: Duration) -> Result<reqwest::Client, Error> {
    http_client_with(connect, timeout, &[], None)
}

/// What every request the SDK makes says it is, in its `User-Agent` header:
/// `bitrix24-rs/<version>`, so a portal's logs and proxies can tell its traffic apart.
pub const USER_AGENT: &str = concat!("bitrix24-rs/", env!("CARGO_PKG_VERSION"));

/// [`http_client`] that also trusts the certificates in `roots` (PEM) and looks host names up
/// with `resolver` (an application's, which enforces its network policy on the addresses it
/// connects to). Every HTTP client of the SDK is made here: calls, OAuth, uploads, and
/// an application's clients all send [`USER_AGENT`].
pub(crate) fn http_client_with(
    connect: Duration,
    timeout: Duration,
    roots: &[Vec<u8>],
    resolver: Option<Arc<dyn reqwest::dns::Resolve>>,
) -> Result<reqwest::Client, Error> {
    let mut builder = builder_trusting(roots)?
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect)
        .timeout(timeout);
    if let Some(resolver) = resolver {
        builder = builder.dns_resolver(resolver);
    }
    builder
        .build()
        .map_err(|e| Error::Config(format!("HTTP client: {}", e.without_url())))
}

/// reqwest's client builder with this crate's TLS: rustls with the operating system's
/// certificate store and the crypto provider the application installed, else the one of the
/// `tls-ring` (default) or `tls-aws-lc` feature. For an HTTP client to share with
/// [`ClientBuilder::http_client`] (add `.redirect(reqwest::redirect::Policy::none())`), or for
/// other HTTP a program or its tests make: reqwest is built here without a provider of its own,
/// and its plain `reqwest::Client::new()` panics unless a process-wide provider is installed.
pub fn http_client_builder() -> Result<reqwest::ClientBuilder, Error> {
    builder_trusting(&[])
}

/// [`http_client_builder`] that also trusts the certificates in `roots` (PEM).
fn builder_trusting(roots: &[Vec<u8>]) -> Result<reqwest::ClientBuilder, Error> {
    let tls = crate::tls::client_config(roots).map_err(|e| Error::Config(format!("TLS: {e}")))?;
    Ok(reqwest::Client::builder().tls_backend_preconfigured(tls))
}

fn parse_url(what: &str, url: &str) -> Result<Url, Error> {
    let parsed = Url::parse(url.trim()).map_err(|e| Error::Config(format!("{what}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Error::Config(format!(
            "{what}: expected an http:// or https:// URL"
        )));
    }
    Ok(parsed)
}

/// `https://portal.example.com/anything` -> `https://portal.example.com/`.
fn portal_url(what: &str, url: &str) -> Result<Url, Error> {
    parse_url(what, url).map(site_root)
}

/// The URL with path `/`, without query and fragment.
fn site_root(mut url: Url) -> Url {
    url.set_path("/");
    url.set_query(None);
    url.set_fragment(None);
    url
}

/// Splits a webhook URL into the portal and the secret base. Error messages never repeat the
/// URL: it contains the webhook code.
fn webhook_endpoint(url: &str) -> Result<Endpoint, Error> {
    const SHAPE: &str = "webhook URL: expected https://<portal>/rest/<user id>/<code>/";
    let parsed = Url::parse(url.trim()).map_err(|_| Error::Config(SHAPE.to_owned()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Error::Config(SHAPE.to_owned()));
    }
    let segments: Vec<&str> = parsed
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let (user, code) = match segments.as_slice() {
        // A URL copied with a method at the end (`.../profile.json`) still works.
        ["rest", user, code] | ["rest", user, code, _] => (*user, *code),
        _ => return Err(Error::Config(SHAPE.to_owned())),
    };
    if user.parse::<u64>().is_err() || code.is_empty() {
        return Err(Error::Config(SHAPE.to_owned()));
    }
    let credentials = format!("{user}/{code}/");
    Ok(Endpoint::new(site_root(parsed), &credentials))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_split_and_never_echoed() {
        let client = Client::webhook("https://example.bitrix24.com/rest/1/s3cr3tcode/").unwrap();
        assert_eq!(client.portal().as_str(), "https://example.bitrix24.com/");
        let endpoint = client.inner.endpoint();
        let moved = endpoint
            .renamed(
                "https://renamed.bitrix24.com/rest/1/s3cr3tcode/profile",
                "profile",
                false,
            )
            .expect("a rename is followed");
        assert_eq!(
            moved.method_url("x", true),
            "https://renamed.bitrix24.com/rest/api/1/s3cr3tcode/x"
        );
        for refused in [
            "http://renamed.bitrix24.com/rest/1/s3cr3tcode/profile",
            "https://renamed.bitrix24.com/elsewhere",
            "https://example.bitrix24.com/rest/1/s3cr3tcode/profile",
        ] {
            assert!(
                endpoint.renamed(refused, "profile", false).is_none(),
                "{refused}"
            );
        }
        assert_eq!(
            client.inner.endpoint().method_url("profile", false),
            "https://example.bitrix24.com/rest/1/s3cr3tcode/profile"
        );
        assert!(!format!("{client:?}").contains("s3cr3tcode"));
        let with_method = Client::webhook("http://127.0.0.1:8080/rest/7/abc/profile.json").unwrap();
        assert_eq!(
            with_method.inner.endpoint().method_url("x", false),
            "http://127.0.0.1:8080/rest/7/abc/x"
        );
        assert_eq!(
            with_method.inner.endpoint().method_url("x", true),
            "http://127.0.0.1:8080/rest/api/7/abc/x"
        );
        for bad in [
            "ftp://x/rest/1/c/",
            "https://x/rest/one/c/",
            "https://x/api/1/c/",
            "s3cr3tcode",
        ] {
            let e = Client::webhook(bad).unwrap_err().to_string();
            assert!(e.contains("expected https://"), "{e}");
            assert!(!e.contains("s3cr3tcode"));
        }
    }

    #[test]
    fn a_client_configured_by_hand_never_moves_from_a_public_portal_onto_an_internal_address() {
        let url = |s: &str| Url::parse(s).unwrap();
        let public = url("https://example.bitrix24.com/");
        assert!(may_move(&public, &url("https://renamed.bitrix24.com/")));
        for internal in [
            "https://127.0.0.1/",
            "https://10.0.0.5/",
            "https://169.254.169.254/",
            "https://localhost./",
        ] {
            assert!(!may_move(&public, &url(internal)), "{internal}");
        }
        // A local portal (the sandbox) may move within its machine.
        assert!(may_move(
            &url("http://127.0.0.1:8080/"),
            &url("http://127.0.0.1:8081/")
        ));
    }

    #[test]
    fn from_vars_prefers_the_webhook_and_names_missing_variables() {
        let vars = |name: &str| {
            (name == "B24_WEBHOOK_URL").then(|| "https://p.example/rest/1/c/".to_owned())
        };
        assert!(Client::from_vars(vars).is_ok());
        let e = Client::from_vars(|name| {
            (name == "B24_PORTAL").then(|| "https://p.example".to_owned())
        })
        .unwrap_err();
        assert!(e.to_string().contains("B24_CLIENT_ID is not set"), "{e}");
    }

    #[test]
    fn oauth_needs_a_portal() {
        let app = OAuthApp::new("id", "secret");
        let e = Client::builder()
            .oauth(app, Tokens::new("a", "r"))
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("portal"));
    }
}
