//! An application installed on many portals: installations, event verification, and one client
//! per portal.
//!
//! Bitrix24 installs an application by POSTing `ONAPPINSTALL` to it, with the portal's address,
//! its `member_id`, a token pair and the `application_token` every later event of that portal will
//! carry. [`App::receive`] turns a request into a [`Delivery`] only if it checks out:
//!
//! - the event's `auth[application_token]` equals, compared in constant time, the one stored
//!   when that portal installed the application; a missing or different token is
//!   [`EventError::MissingToken`] / [`EventError::Forged`], and nothing is called;
//! - the event's `domain` matches the installation's portal; `domain`, `client_endpoint` and
//!   `server_endpoint` of an event never decide where calls go: each portal's client uses the
//!   address stored at installation, and tokens are renewed at the configured OAuth server only,
//!   so `client_secret` goes nowhere else;
//! - optionally, `ts` lies within a freshness window (replays of old events are refused);
//! - an `ONAPPINSTALL` from a portal not seen before is accepted only as [`InstallPolicy`] says.
//!
//! Each portal gets its own [`Client`] (tokens in its installation record, its own rate limiter),
//! all sharing one HTTP connection pool.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::auth::{StoreError, StoreGuard};
use crate::events::{Event, EventError, EventLimits};
use crate::{Client, FileTokenStore, OAuthApp, RateLimit, Secret, TokenStore, Tokens};

/// What the application stored when a portal installed it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Installation {
    /// The portal's installation id.
    pub member_id: String,
    /// The portal's address: where every call for this portal goes.
    pub portal: Url,
    /// What every event of this portal must carry.
    pub application_token: Secret,
    /// The current token pair.
    pub tokens: Option<Tokens>,
}

impl Installation {
    /// An installation record.
    pub fn new(
        member_id: impl Into<String>,
        portal: Url,
        application_token: impl Into<Secret>,
    ) -> Self {
        Self {
            member_id: member_id.into(),
            portal,
            application_token: application_token.into(),
            tokens: None,
        }
    }

    /// With a token pair.
    pub fn with_tokens(mut self, tokens: Tokens) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// `host[:port]` of the portal, as events spell `domain`.
    fn domain(&self) -> String {
        host_port(&self.portal)
    }
}

impl fmt::Debug for Installation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Installation")
            .field("member_id", &self.member_id)
            .field("portal", &self.portal.as_str())
            .field("application_token", &self.application_token)
            .field("tokens", &self.tokens)
            .finish()
    }
}

fn host_port(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        _ => String::new(),
    }
}

/// Where installations are kept.
pub trait InstallationStore: Send + Sync + fmt::Debug {
    /// The installation of `member_id`, if any.
    fn get<'a>(
        &'a self,
        member_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Installation>, StoreError>>;
    /// Stores (replaces) an installation.
    fn put<'a>(&'a self, installation: &'a Installation) -> BoxFuture<'a, Result<(), StoreError>>;
    /// The installation on the portal at `domain` (`host[:port]`), for events that carry no
    /// `member_id` (the documented imbot.v2 webhook events). Default: none found.
    fn find_by_domain<'a>(
        &'a self,
        domain: &'a str,
    ) -> BoxFuture<'a, Result<Option<Installation>, StoreError>> {
        let _ = domain;
        Box::pin(async { Ok(None) })
    }
    /// Excludes other processes from renewing `member_id`'s tokens until dropped (see
    /// [`TokenStore::lock`]). Default: no exclusion.
    fn lock<'a>(&'a self, member_id: &'a str) -> BoxFuture<'a, Result<StoreGuard, StoreError>> {
        let _ = member_id;
        Box::pin(async { Ok(StoreGuard::none()) })
    }
}

/// Installations in memory, lost with the process.
#[derive(Debug, Default)]
pub struct MemoryInstallations(Mutex<HashMap<String, Installation>>);

impl MemoryInstallations {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl InstallationStore for MemoryInstallations {
    fn get<'a>(
        &'a self,
        member_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Installation>, StoreError>> {
        let found = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(member_id)
            .cloned();
        Box::pin(async move { Ok(found) })
    }

    fn put<'a>(&'a self, installation: &'a Installation) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(installation.member_id.clone(), installation.clone());
        Box::pin(async { Ok(()) })
    }

    fn find_by_domain<'a>(
        &'a self,
        domain: &'a str,
    ) -> BoxFuture<'a, Result<Option<Installation>, StoreError>> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let found = map
            .values()
            .find(|i| i.domain().eq_ignore_ascii_case(domain))
            .cloned();
        Box::pin(async move { Ok(found) })
    }
}

/// Installations as JSON files in a directory, one per portal (`<member_id>.json`, written
/// atomically with mode 0600, renewals locked per portal like [`FileTokenStore`]).
#[derive(Debug, Clone)]
pub struct FileInstallations {
    dir: PathBuf,
}

impl FileInstallations {
    /// A store in `dir` (created on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn file(&self, member_id: &str) -> Result<FileTokenStore, StoreError> {
        // member_id comes from the network: only a plain token may become a file name.
        if member_id.is_empty()
            || member_id.len() > 64
            || !member_id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(StoreError("member_id is not a plain token".to_owned()));
        }
        Ok(FileTokenStore::new(
            self.dir.join(format!("{member_id}.json")),
        ))
    }

    fn dir_error(&self, e: std::io::Error) -> StoreError {
        StoreError(format!("{}: {e}", self.dir.display()))
    }

    async fn create_dir(&self) -> Result<(), StoreError> {
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| self.dir_error(e))
    }
}

impl InstallationStore for FileInstallations {
    fn get<'a>(
        &'a self,
        member_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Installation>, StoreError>> {
        Box::pin(async move { self.file(member_id)?.read_json().await })
    }

    fn put<'a>(&'a self, installation: &'a Installation) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.create_dir().await?;
            self.file(&installation.member_id)?
                .write_json(installation)
                .await
        })
    }

    fn find_by_domain<'a>(
        &'a self,
        domain: &'a str,
    ) -> BoxFuture<'a, Result<Option<Installation>, StoreError>> {
        Box::pin(async move {
            let mut entries = match tokio::fs::read_dir(&self.dir).await {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(self.dir_error(e)),
            };
            while let Some(entry) = entries.next_entry().await.map_err(|e| self.dir_error(e))? {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(member_id) = name.strip_suffix(".json") else {
                    continue;
                };
                if let Ok(Some(installation)) = self.get(member_id).await
                    && installation.domain().eq_ignore_ascii_case(domain)
                {
                    return Ok(Some(installation));
                }
            }
            Ok(None)
        })
    }

    fn lock<'a>(&'a self, member_id: &'a str) -> BoxFuture<'a, Result<StoreGuard, StoreError>> {
        Box::pin(async move {
            self.create_dir().await?;
            self.file(member_id)?.lock().await
        })
    }
}

/// A portal's tokens inside its installation record, as the portal's client's [`TokenStore`].
#[derive(Debug)]
struct InstallationTokens {
    installations: Arc<dyn InstallationStore>,
    member_id: String,
}

impl TokenStore for InstallationTokens {
    fn load(&self) -> BoxFuture<'_, Result<Option<Tokens>, StoreError>> {
        Box::pin(async move {
            Ok(self
                .installations
                .get(&self.member_id)
                .await?
                .and_then(|i| i.tokens))
        })
    }

    fn save<'a>(&'a self, tokens: &'a Tokens) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut installation = self
                .installations
                .get(&self.member_id)
                .await?
                .ok_or_else(|| StoreError("the installation disappeared".to_owned()))?;
            installation.tokens = Some(tokens.clone());
            self.installations.put(&installation).await
        })
    }

    fn lock(&self) -> BoxFuture<'_, Result<StoreGuard, StoreError>> {
        self.installations.lock(&self.member_id)
    }
}

/// Which portals may install the application through an `ONAPPINSTALL` event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstallPolicy {
    /// None: portals are registered out of band ([`App::register`]).
    Refuse,
    /// Portals whose `host[:port]` is one of these, or ends with one that starts with a dot
    /// (`.bitrix24.com`).
    Domains(Vec<String>),
    /// Any portal on a public host name — not an IP address, not `localhost` — so an install
    /// event cannot point the application at an internal address. The first install event of a
    /// `member_id` is trusted; later ones must carry its application token.
    TrustFirst,
}

impl InstallPolicy {
    fn allows(&self, portal: &Url) -> Result<(), String> {
        let domain = host_port(portal);
        match self {
            Self::Refuse => {
                Err("this application does not accept installations by event".to_owned())
            }
            Self::Domains(allowed) => {
                let ok = allowed.iter().any(|a| {
                    if a.starts_with('.') {
                        domain.ends_with(a.as_str())
                    } else {
                        &domain == a
                    }
                });
                if ok {
                    Ok(())
                } else {
                    Err(format!("portal {domain} is not in the allowed domains"))
                }
            }
            Self::TrustFirst => match portal.host() {
                Some(url::Host::Domain(host)) if host != "localhost" && host.contains('.') => {
                    Ok(())
                }
                _ => Err(format!("portal {domain} is not a public host name")),
            },
        }
    }
}

/// A verified event with the client for its portal.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Delivery {
    /// The event.
    pub event: Event,
    /// The portal it came from.
    pub member_id: String,
    /// A client for that portal, acting as the application.
    pub client: Client,
    /// Whether this event installed the application on a new portal.
    pub installed: bool,
}

/// An application serving many portals. Cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<AppInner>,
}

struct AppInner {
    config: AppBuilder,
    http: reqwest::Client,
    clients: Mutex<HashMap<String, Client>>,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.inner.config;
        f.debug_struct("App")
            .field("oauth", &config.oauth)
            .field("installations", &config.installations)
            .field("policy", &config.policy)
            .finish_non_exhaustive()
    }
}

/// Configures an [`App`].
pub struct AppBuilder {
    oauth: OAuthApp,
    installations: Arc<dyn InstallationStore>,
    policy: InstallPolicy,
    freshness: Option<Duration>,
    limits: EventLimits,
    rate_limit: RateLimit,
}

impl AppBuilder {
    /// Which portals may install by event (default [`InstallPolicy::TrustFirst`]).
    pub fn install_policy(mut self, policy: InstallPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Refuses events whose `ts` is further than `window` from now (default: not checked).
    pub fn freshness(mut self, window: Duration) -> Self {
        self.freshness = Some(window);
        self
    }

    /// Size limits for event bodies.
    pub fn limits(mut self, limits: EventLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Each portal's request budget (default [`RateLimit::STANDARD`]).
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = limit;
        self
    }

    /// Creates the application.
    pub fn build(self) -> Result<App, crate::Error> {
        let http = crate::client::http_client(Duration::from_secs(10), Duration::from_secs(120))?;
        Ok(App {
            inner: Arc::new(AppInner {
                config: self,
                http,
                clients: Mutex::new(HashMap::new()),
            }),
        })
    }
}

impl App {
    /// Starts configuring an application with its OAuth credentials and installation store.
    pub fn builder(oauth: OAuthApp, installations: impl InstallationStore + 'static) -> AppBuilder {
        AppBuilder {
            oauth,
            installations: Arc::new(installations),
            policy: InstallPolicy::TrustFirst,
            freshness: None,
            limits: EventLimits::default(),
            rate_limit: RateLimit::STANDARD,
        }
    }

    /// Registers a portal out of band (e.g. from the application's install page), replacing
    /// any earlier record.
    pub async fn register(&self, installation: Installation) -> Result<(), EventError> {
        self.inner
            .config
            .installations
            .put(&installation)
            .await
            .map_err(store_error)?;
        self.forget_client(&installation.member_id);
        Ok(())
    }

    /// Parses and verifies an event; on `ONAPPINSTALL` from a new portal, installs it as the
    /// [`InstallPolicy`] allows. No call is made for an event that fails verification.
    pub async fn receive(
        &self,
        body: &[u8],
        content_type: Option<&str>,
    ) -> Result<Delivery, EventError> {
        let event = Event::parse_with(body, content_type, &self.inner.config.limits)?;
        let name = event.name.clone();
        let Some(token) = event.auth.application_token.clone() else {
            return Err(EventError::MissingToken { event: name });
        };
        let installations = &self.inner.config.installations;
        let (member_id, found) = match (&event.auth.member_id, &event.auth.domain) {
            (Some(member_id), _) => (member_id.clone(), None),
            // imbot.v2 webhook events name the portal by domain only; installing needs the id.
            (None, Some(domain)) if name != "ONAPPINSTALL" => {
                let installation = installations
                    .find_by_domain(domain)
                    .await
                    .map_err(store_error)?
                    .ok_or_else(|| EventError::UnknownPortal {
                        event: name.clone(),
                    })?;
                (installation.member_id.clone(), Some(installation))
            }
            _ => return Err(EventError::UnknownPortal { event: name }),
        };
        self.check_freshness(&event)?;
        let stored = match found {
            Some(installation) => Some(installation),
            None => installations.get(&member_id).await.map_err(store_error)?,
        };
        let installed = match stored {
            Some(installation) => {
                if !installation.application_token.ct_eq(token.expose()) {
                    return Err(EventError::Forged { event: name });
                }
                if event
                    .auth
                    .domain
                    .as_deref()
                    .is_some_and(|d| !d.eq_ignore_ascii_case(&installation.domain()))
                {
                    return Err(EventError::WrongDomain { event: name });
                }
                if name == "ONAPPINSTALL" {
                    // A reinstall by the same portal brings a new token pair.
                    if let Some(tokens) = event.tokens() {
                        self.register(installation.with_tokens(tokens)).await?;
                    }
                }
                false
            }
            None if name == "ONAPPINSTALL" => {
                let portal = portal_of(event.auth.domain.as_deref()).ok_or_else(|| {
                    EventError::InstallRefused("the event names no valid portal domain".to_owned())
                })?;
                self.inner
                    .config
                    .policy
                    .allows(&portal)
                    .map_err(EventError::InstallRefused)?;
                let mut installation = Installation::new(member_id.clone(), portal, token);
                installation.tokens = event.tokens();
                self.register(installation).await?;
                true
            }
            None => return Err(EventError::UnknownPortal { event: name }),
        };
        let client = self.client(&member_id).await?;
        Ok(Delivery {
            event,
            member_id,
            client,
            installed,
        })
    }

    fn check_freshness(&self, event: &Event) -> Result<(), EventError> {
        let (Some(window), Some(ts)) = (self.inner.config.freshness, event.ts) else {
            return match (self.inner.config.freshness, event.ts) {
                (Some(_), None) => Err(EventError::Stale {
                    event: event.name.clone(),
                    age_secs: i64::MAX,
                }),
                _ => Ok(()),
            };
        };
        let age = chrono::Utc::now().timestamp() - ts;
        if age.unsigned_abs() > window.as_secs() {
            return Err(EventError::Stale {
                event: event.name.clone(),
                age_secs: age,
            });
        }
        Ok(())
    }

    /// The client for an installed portal (created once, then shared).
    pub async fn client(&self, member_id: &str) -> Result<Client, EventError> {
        if let Some(client) = self
            .inner
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(member_id)
        {
            return Ok(client.clone());
        }
        let installation = self
            .inner
            .config
            .installations
            .get(member_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| EventError::UnknownPortal {
                event: String::new(),
            })?;
        let tokens = InstallationTokens {
            installations: self.inner.config.installations.clone(),
            member_id: member_id.to_owned(),
        };
        let client = Client::builder()
            .portal(installation.portal.as_str())
            .oauth_from_store(self.inner.config.oauth.clone(), tokens)
            .http_client(self.inner.http.clone())
            .rate_limit(self.inner.config.rate_limit)
            .build()
            .map_err(|e| EventError::Store(e.to_string()))?;
        let mut clients = self.inner.clients.lock().unwrap_or_else(|p| p.into_inner());
        Ok(clients
            .entry(member_id.to_owned())
            .or_insert(client)
            .clone())
    }

    fn forget_client(&self, member_id: &str) {
        self.inner
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(member_id);
    }
}

fn store_error(e: StoreError) -> EventError {
    EventError::Store(e.0)
}

/// `https://<domain>/` for a bare `host[:port]`; anything with a path, credentials or odd
/// characters is not a portal domain. Local addresses use `http://`, as local portals do.
fn portal_of(domain: Option<&str>) -> Option<Url> {
    let domain = domain?.trim();
    if domain.is_empty()
        || !domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
    {
        return None;
    }
    let local = domain.starts_with("127.") || domain.starts_with("localhost");
    let url = Url::parse(&format!(
        "{}://{domain}/",
        if local { "http" } else { "https" }
    ))
    .ok()?;
    (url.host_str().is_some() && url.path() == "/" && url.username().is_empty()).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bare_domains_become_portals() {
        assert_eq!(
            portal_of(Some("example.bitrix24.com")).unwrap().as_str(),
            "https://example.bitrix24.com/"
        );
        assert_eq!(
            portal_of(Some("127.0.0.1:8080")).unwrap().as_str(),
            "http://127.0.0.1:8080/"
        );
        for bad in [
            "evil.com/x",
            "user@evil.com",
            "evil.com?x",
            "",
            " ",
            "a b",
            "evil.com#x",
        ] {
            assert!(portal_of(Some(bad)).is_none(), "{bad}");
        }
    }

    #[test]
    fn install_policies() {
        let public = Url::parse("https://example.bitrix24.com/").unwrap();
        let local = Url::parse("http://127.0.0.1:8080/").unwrap();
        assert!(InstallPolicy::TrustFirst.allows(&public).is_ok());
        assert!(InstallPolicy::TrustFirst.allows(&local).is_err());
        assert!(
            InstallPolicy::TrustFirst
                .allows(&Url::parse("http://localhost/").unwrap())
                .is_err()
        );
        let domains = InstallPolicy::Domains(vec![".bitrix24.com".into(), "127.0.0.1:8080".into()]);
        assert!(domains.allows(&public).is_ok() && domains.allows(&local).is_ok());
        assert!(
            domains
                .allows(&Url::parse("https://bitrix24.com.evil.io/").unwrap())
                .is_err()
        );
        assert!(InstallPolicy::Refuse.allows(&public).is_err());
    }

    #[tokio::test]
    async fn file_installations_refuse_odd_member_ids() {
        let store = FileInstallations::new(std::env::temp_dir().join("b24-inst-test"));
        assert!(store.get("../etc/passwd").await.is_err());
        assert!(
            store
                .get("a223c6b3710f85df22e9377d6c4f7553")
                .await
                .unwrap()
                .is_none()
        );
    }
}
