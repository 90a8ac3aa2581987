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
//! - an `ONAPPINSTALL` is accepted only as [`InstallPolicy`] and [`NetworkPolicy`] say, and only
//!   once the OAuth server vouches for it: the event's refresh token is redeemed there, and the
//!   answer must name the same `member_id` and the same portal. Anyone can POST an install event;
//!   only the portal has tokens the OAuth server honours for it. A portal has one installation,
//!   a replayed install (older than the stored one, or with a spent refresh token) is refused,
//!   and a reinstall with a new `application_token` replaces the old one once verified the same
//!   way;
//! - `ONAPPUNINSTALL`, which carries no tokens, is verified by its application token and removes
//!   the installation.
//!
//! Each portal gets its own [`Client`] (tokens in its installation record, its own rate limiter),
//! all sharing one HTTP connection pool whose resolver enforces the [`NetworkPolicy`]. A portal's
//! rename redirect is followed only to an address the policies allow, and stored.
//!
//! The application's pages and widgets (placements) are verified the same way, by application
//! token and domain, and get a client acting as the user who opened them: see [`placement`].

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::auth::{StoreError, StoreGuard};
use crate::client::PortalMoves;
use crate::events::{Event, EventError, EventLimits};
pub use crate::network::NetworkPolicy;
use crate::{Client, FileTokenStore, OAuthApp, RateLimit, Secret, TokenStore, Tokens};

pub mod placement;
pub use placement::{Opened, Placement};

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
    /// `ts` of the install event this record comes from (the portal's clock): install and
    /// uninstall events older than it are replays.
    #[serde(default)]
    pub installed_at: Option<i64>,
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
            installed_at: None,
        }
    }

    /// With a token pair.
    pub fn with_tokens(mut self, tokens: Tokens) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// `host[:port]` of the portal, as events spell `domain`.
    pub fn domain(&self) -> String {
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
            .field("installed_at", &self.installed_at)
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
///
/// A domain has one installation: `put` refuses a record whose domain another `member_id`
/// holds, and `find_by_domain` fails rather than pick one when the store finds several.
pub trait InstallationStore: Send + Sync + fmt::Debug {
    /// The installation of `member_id`, if any.
    fn get<'a>(
        &'a self,
        member_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Installation>, StoreError>>;
    /// Stores (replaces) an installation.
    fn put<'a>(&'a self, installation: &'a Installation) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Removes the installation of `member_id` (the application was uninstalled). Default: the
    /// store cannot, an error.
    fn delete<'a>(&'a self, member_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let _ = member_id;
        Box::pin(async {
            Err(StoreError(
                "this store cannot delete installations".to_owned(),
            ))
        })
    }
    /// The installation on the portal at `domain` (`host[:port]`), for events that carry no
    /// `member_id` (the documented imbot.v2 webhook events). Called for every such event before
    /// it is verified, so it must not cost more than a lookup. Default: none found.
    fn find_by_domain<'a>(
        &'a self,
        domain: &'a str,
    ) -> BoxFuture<'a, Result<Option<Installation>, StoreError>> {
        let _ = domain;
        Box::pin(async { Ok(None) })
    }
    /// Excludes other writers of `member_id`'s record (token renewals, reinstalls, renames)
    /// until dropped (see [`TokenStore::lock`]). Default: no exclusion.
    fn lock<'a>(&'a self, member_id: &'a str) -> BoxFuture<'a, Result<StoreGuard, StoreError>> {
        let _ = member_id;
        Box::pin(async { Ok(StoreGuard::none()) })
    }
}

/// The key a domain is indexed under: lower case, as host names compare.
fn domain_key(domain: &str) -> String {
    domain.to_ascii_lowercase()
}

fn domain_taken(domain: &str) -> StoreError {
    StoreError(format!("{domain} is installed by another portal"))
}

/// Installations in memory, lost with the process.
#[derive(Debug, Default)]
pub struct MemoryInstallations {
    records: Mutex<Records>,
    /// One lock per portal, so that renewals, reinstalls and renames of one record take turns.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

#[derive(Debug, Default)]
struct Records {
    by_member: HashMap<String, Installation>,
    /// Domain key -> member_id.
    by_domain: HashMap<String, String>,
}

impl MemoryInstallations {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn records(&self) -> std::sync::MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores `installation` unless another portal holds its domain.
    fn insert(&self, installation: &Installation) -> Result<(), StoreError> {
        let mut records = self.records();
        let key = domain_key(&installation.domain());
        let member_id = &installation.member_id;
        if records.by_domain.get(&key).is_some_and(|m| m != member_id) {
            return Err(domain_taken(&installation.domain()));
        }
        let previous = records
            .by_member
            .insert(member_id.clone(), installation.clone());
        if let Some(previous) = previous {
            records.by_domain.remove(&domain_key(&previous.domain()));
        }
        records.by_domain.insert(key, member_id.clone());
        Ok(())
    }
}

impl InstallationStore for MemoryInstallations {
    fn get<'a>(
        &'a self,
        member_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Installation>, StoreError>> {
        let found = self.records().by_member.get(member_id).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn put<'a>(&'a self, installation: &'a Installation) -> BoxFuture<'a, Result<(), StoreError>> {
        let stored = self.insert(installation);
        Box::pin(async move { stored })
    }

    fn delete<'a>(&'a self, member_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut records = self.records();
        if let Some(removed) = records.by_member.remove(member_id) {
            records.by_domain.remove(&domain_key(&removed.domain()));
        }
        Box::pin(async { Ok(()) })
    }

    fn find_by_domain<'a>(
        &'a self,
        domain: &'a str,
    ) -> BoxFuture<'a, Result<Option<Installation>, StoreError>> {
        let records = self.records();
        let found = records
            .by_domain
            .get(&domain_key(domain))
            .and_then(|member_id| records.by_member.get(member_id))
            .cloned();
        Box::pin(async move { Ok(found) })
    }

    fn lock<'a>(&'a self, member_id: &'a str) -> BoxFuture<'a, Result<StoreGuard, StoreError>> {
        let lock = self
            .locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(member_id.to_owned())
            .or_default()
            .clone();
        Box::pin(async move { Ok(StoreGuard::new(lock.lock_owned().await)) })
    }
}

/// Installations as JSON files in a directory, one per portal (`<member_id>.json`, written
/// atomically with mode 0600, renewals locked per portal like [`FileTokenStore`]), and an index
/// from domain to `member_id` (`domains/<domain>`), so that an event naming its portal by domain
/// costs one small read, not a read of every file.
#[derive(Debug, Clone)]
pub struct FileInstallations {
    dir: PathBuf,
}

/// What an index entry holds when several records claim one domain (an old directory).
const AMBIGUOUS: &str = "?";

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

    fn index_dir(&self) -> PathBuf {
        self.dir.join("domains")
    }

    /// The index entry of `domain`: its key with every byte but `[a-z0-9.-]` written `_XX`, so
    /// that no domain (the network chooses them) becomes a path of its own choosing.
    fn index_entry(&self, domain: &str) -> FileTokenStore {
        let mut name = String::with_capacity(domain.len());
        for b in domain_key(domain).bytes() {
            if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
                name.push(char::from(b));
            } else {
                name.push_str(&format!("_{b:02x}"));
            }
        }
        FileTokenStore::new(self.index_dir().join(name))
    }

    fn dir_error(&self, e: std::io::Error) -> StoreError {
        StoreError(format!("{}: {e}", self.dir.display()))
    }

    async fn create_dir(&self) -> Result<(), StoreError> {
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| self.dir_error(e))
    }

    /// The `member_id` indexed for `domain`.
    async fn indexed(&self, domain: &str) -> Result<Option<String>, StoreError> {
        self.index_entry(domain).read_json::<String>().await
    }

    /// Removes `installation`'s index entry if it still points to it.
    async fn unindex(&self, installation: &Installation) -> Result<(), StoreError> {
        let domain = installation.domain();
        let entry = self.index_entry(&domain);
        if self.indexed(&domain).await?.as_deref() == Some(installation.member_id.as_str()) {
            self.remove(entry.path()).await?;
        }
        Ok(())
    }

    /// Removes a file that may be gone already.
    async fn remove(&self, path: &std::path::Path) -> Result<(), StoreError> {
        match tokio::fs::remove_file(path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(self.dir_error(e)),
            _ => Ok(()),
        }
    }

    /// Builds the index of a directory written before there was one, once: reads every record,
    /// in a directory of its own that becomes `domains/` only when complete.
    async fn ensure_index(&self) -> Result<(), StoreError> {
        if tokio::fs::try_exists(self.index_dir())
            .await
            .map_err(|e| self.dir_error(e))?
        {
            return Ok(());
        }
        self.create_dir().await?;
        let mut claims: HashMap<String, Vec<String>> = HashMap::new();
        let mut entries = tokio::fs::read_dir(&self.dir)
            .await
            .map_err(|e| self.dir_error(e))?;
        while let Some(entry) = entries.next_entry().await.map_err(|e| self.dir_error(e))? {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(member_id) = name.strip_suffix(".json") else {
                continue;
            };
            let is_file = entry.file_type().await.is_ok_and(|t| t.is_file());
            if let (true, Ok(Some(installation))) = (is_file, self.get(member_id).await) {
                claims
                    .entry(domain_key(&installation.domain()))
                    .or_default()
                    .push(installation.member_id);
            }
        }
        let building = Self::new(self.dir.join(format!(".domains.{}", std::process::id())));
        tokio::fs::create_dir_all(building.index_dir())
            .await
            .map_err(|e| self.dir_error(e))?;
        for (domain, members) in &claims {
            let entry = match members.as_slice() {
                [one] => one.as_str(),
                _ => AMBIGUOUS,
            };
            building.index_entry(domain).write_json(&entry).await?;
        }
        // Another process may have built it meanwhile: either copy is complete.
        if tokio::fs::rename(building.index_dir(), self.index_dir())
            .await
            .is_err()
        {
            let _ = tokio::fs::remove_dir_all(building.index_dir()).await;
        }
        let _ = tokio::fs::remove_dir(&building.dir).await;
        Ok(())
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
            let file = self.file(&installation.member_id)?;
            self.ensure_index().await?;
            let domain = installation.domain();
            let entry = self.index_entry(&domain);
            let _index = entry.lock().await?;
            if let Some(holder) = self.indexed(&domain).await?
                && holder != installation.member_id
            {
                let still_there = self
                    .get(&holder)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|i| domain_key(&i.domain()) == domain_key(&domain));
                if holder == AMBIGUOUS || still_there {
                    return Err(domain_taken(&domain));
                }
            }
            let previous: Option<Installation> = file.read_json().await?;
            // The index first: an entry without its record finds nothing, a record without its
            // entry would be unreachable by domain.
            entry.write_json(&installation.member_id).await?;
            file.write_json(installation).await?;
            if let Some(previous) = previous
                && domain_key(&previous.domain()) != domain_key(&domain)
            {
                self.unindex(&previous).await?;
            }
            Ok(())
        })
    }

    fn delete<'a>(&'a self, member_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let file = self.file(member_id)?;
            let Some(installation) = file.read_json::<Installation>().await? else {
                return Ok(());
            };
            self.unindex(&installation).await?;
            self.remove(file.path()).await
        })
    }

    fn find_by_domain<'a>(
        &'a self,
        domain: &'a str,
    ) -> BoxFuture<'a, Result<Option<Installation>, StoreError>> {
        Box::pin(async move {
            if !tokio::fs::try_exists(&self.dir).await.unwrap_or(false) {
                return Ok(None);
            }
            self.ensure_index().await?;
            let Some(member_id) = self.indexed(domain).await? else {
                return Ok(None);
            };
            if member_id == AMBIGUOUS {
                return Err(StoreError(format!(
                    "{domain} is claimed by several installations"
                )));
            }
            Ok(self
                .get(&member_id)
                .await?
                .filter(|i| domain_key(&i.domain()) == domain_key(domain)))
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

/// Which portals may install the application through an `ONAPPINSTALL` event, and where a
/// portal's rename may move its calls. Every install is also verified at the OAuth server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstallPolicy {
    /// None: portals are registered out of band ([`App::register`]).
    Refuse,
    /// Portals whose `host[:port]` is one of these, or ends with one that starts with a dot
    /// (`.bitrix24.com`). A portal named exactly is trusted with any address, port and scheme;
    /// one matched by a suffix must also pass the [`NetworkPolicy`].
    Domains(Vec<String>),
    /// Any portal on a public host name that passes the [`NetworkPolicy`] — not an IP address,
    /// not `localhost`, on the default port — so an install event cannot point the application
    /// at an internal address.
    TrustFirst,
}

impl InstallPolicy {
    /// Whether `domain` (`host[:port]`) is named exactly: its operator trusts it as it is.
    fn names_exactly(&self, domain: &str) -> bool {
        match self {
            Self::Domains(allowed) => allowed
                .iter()
                .any(|a| !a.starts_with('.') && a.eq_ignore_ascii_case(domain)),
            _ => false,
        }
    }

    /// Whether a portal at `portal` may be installed by event.
    fn allows(&self, portal: &Url, network: &NetworkPolicy) -> Result<(), String> {
        let domain = host_port(portal);
        match self {
            Self::Refuse => {
                Err("this application does not accept installations by event".to_owned())
            }
            Self::Domains(_) if self.names_exactly(&domain) => Ok(()),
            Self::Domains(allowed) => {
                let host = domain.to_ascii_lowercase();
                let suffix = allowed
                    .iter()
                    .any(|a| a.starts_with('.') && host.ends_with(&a.to_ascii_lowercase()));
                if !suffix {
                    return Err(format!("portal {domain} is not in the allowed domains"));
                }
                network.check(portal)
            }
            Self::TrustFirst => match portal.host() {
                Some(url::Host::Domain(host)) if host.trim_end_matches('.').contains('.') => {
                    network.check(portal)
                }
                _ => Err(format!("portal {domain} is not a public host name")),
            },
        }
    }

    /// Whether an installed portal's calls may move to `portal` (a rename redirect): what an
    /// install may name, or, for portals registered out of band, what the network policy allows.
    fn allows_move(&self, portal: &Url, network: &NetworkPolicy) -> Result<(), String> {
        match self {
            Self::Refuse => network.check(portal),
            _ => self.allows(portal, network),
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
    /// A client for that portal, acting as the application. After `ONAPPUNINSTALL` its tokens
    /// no longer work.
    pub client: Client,
    /// Whether this event installed the application: a new portal, or a reinstall with a new
    /// application token.
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
    verifications: Budget,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.inner.config;
        f.debug_struct("App")
            .field("oauth", &config.oauth)
            .field("installations", &config.installations)
            .field("policy", &config.policy)
            .field("network", &config.network)
            .finish_non_exhaustive()
    }
}

/// Configures an [`App`].
pub struct AppBuilder {
    oauth: OAuthApp,
    installations: Arc<dyn InstallationStore>,
    policy: InstallPolicy,
    network: NetworkPolicy,
    resolver: Option<Arc<dyn reqwest::dns::Resolve>>,
    freshness: Option<Duration>,
    limits: EventLimits,
    rate_limit: RateLimit,
    verify_rate: RateLimit,
    max_clients: usize,
}

impl AppBuilder {
    /// Which portals may install by event (default [`InstallPolicy::TrustFirst`]).
    pub fn install_policy(mut self, policy: InstallPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Which addresses, ports and schemes portals named by events and renames may have
    /// (default [`NetworkPolicy::public`]).
    pub fn network(mut self, network: NetworkPolicy) -> Self {
        self.network = network;
        self
    }

    /// How portal host names are looked up (default: the system's resolver); the
    /// [`NetworkPolicy`] applies to what it answers.
    pub fn resolver(mut self, lookup: Arc<dyn reqwest::dns::Resolve>) -> Self {
        self.resolver = Some(lookup);
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

    /// How many install events may be verified at the OAuth server: a burst, then a rate
    /// (default 10, then one a second). Anyone can send install events; beyond the budget they
    /// are refused with [`EventError::Busy`] instead of each costing a request.
    pub fn verify_rate(mut self, limit: RateLimit) -> Self {
        self.verify_rate = limit;
        self
    }

    /// How many portals' clients are kept for reuse (default 10 000); beyond it, clients no
    /// one holds are dropped and made again when needed.
    pub fn max_clients(mut self, max: usize) -> Self {
        self.max_clients = max;
        self
    }

    /// Creates the application.
    pub fn build(self) -> Result<App, crate::Error> {
        // The hosts the operator named exactly keep whatever addresses they resolve to.
        let mut exempt: Vec<String> = self
            .oauth
            .token_url
            .host_str()
            .into_iter()
            .map(str::to_owned)
            .collect();
        if let InstallPolicy::Domains(allowed) = &self.policy {
            exempt.extend(
                allowed
                    .iter()
                    .filter(|a| !a.starts_with('.'))
                    .filter_map(|a| Url::parse(&format!("https://{a}/")).ok())
                    .filter_map(|u| u.host_str().map(str::to_owned)),
            );
        }
        let resolver = self.network.resolver(self.resolver.clone(), exempt);
        let http = crate::client::http_client_with(
            Duration::from_secs(10),
            Duration::from_secs(120),
            &[],
            Some(resolver),
        )?;
        let verifications = Budget::new(self.verify_rate);
        Ok(App {
            inner: Arc::new(AppInner {
                config: self,
                http,
                clients: Mutex::new(HashMap::new()),
                verifications,
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
            network: NetworkPolicy::public(),
            resolver: None,
            freshness: None,
            limits: EventLimits::default(),
            rate_limit: RateLimit::STANDARD,
            verify_rate: RateLimit::new(10, 1.0),
            max_clients: 10_000,
        }
    }

    /// Registers a portal out of band (e.g. from the application's install page), replacing
    /// any earlier record of the same `member_id`. The operator vouches for it: neither the
    /// install policy nor the network policy's address classes apply to its address (host names
    /// are still resolved under the network policy).
    pub async fn register(&self, installation: Installation) -> Result<(), EventError> {
        self.store(&installation).await
    }

    fn installations(&self) -> &Arc<dyn InstallationStore> {
        &self.inner.config.installations
    }

    /// Stores a record under its portal's lock, so a renewal in flight does not overwrite it,
    /// and drops the cached client.
    async fn store(&self, installation: &Installation) -> Result<(), EventError> {
        let _writing = self
            .installations()
            .lock(&installation.member_id)
            .await
            .map_err(store_error)?;
        self.installations()
            .put(installation)
            .await
            .map_err(store_error)?;
        self.forget_client(&installation.member_id);
        Ok(())
    }

    /// Parses and verifies an event; handles `ONAPPINSTALL` and `ONAPPUNINSTALL` (see the
    /// [module documentation](self)). No call is made for an event that fails verification,
    /// except to the OAuth server to verify an install.
    pub async fn receive(
        &self,
        body: &[u8],
        content_type: Option<&str>,
    ) -> Result<Delivery, EventError> {
        let event = Event::parse_with(body, content_type, &self.inner.config.limits)?;
        let Some(token) = event.auth.application_token.clone() else {
            return Err(EventError::MissingToken { event: event.name });
        };
        self.check_freshness(&event)?;
        let (member_id, stored) = self.find(&event).await?;
        let installed = match event.name.as_str() {
            "ONAPPINSTALL" => self.install(&event, &member_id, &token, stored).await?,
            "ONAPPUNINSTALL" => {
                let installation = verified(&event, &token, stored)?;
                if is_older(event.ts, installation.installed_at) {
                    return Err(EventError::Replayed { event: event.name });
                }
                let client = self.client(&member_id).await?;
                {
                    let _writing = self
                        .installations()
                        .lock(&member_id)
                        .await
                        .map_err(store_error)?;
                    self.installations()
                        .delete(&member_id)
                        .await
                        .map_err(store_error)?;
                }
                self.forget_client(&member_id);
                tracing::info!(member_id, "the application was uninstalled");
                return Ok(Delivery {
                    event,
                    member_id,
                    client,
                    installed: false,
                });
            }
            _ => {
                verified(&event, &token, stored)?;
                false
            }
        };
        let client = self.client(&member_id).await?;
        Ok(Delivery {
            event,
            member_id,
            client,
            installed,
        })
    }

    /// The portal an event names, and its installation if there is one.
    async fn find(&self, event: &Event) -> Result<(String, Option<Installation>), EventError> {
        let unknown = || EventError::UnknownPortal {
            event: event.name.clone(),
        };
        let installations = self.installations();
        match (&event.auth.member_id, &event.auth.domain) {
            (Some(member_id), _) => {
                let stored = installations.get(member_id).await.map_err(store_error)?;
                Ok((member_id.clone(), stored))
            }
            // imbot.v2 webhook events name the portal by domain only; installing needs the id.
            (None, Some(domain)) if event.name != "ONAPPINSTALL" => {
                let installation = installations
                    .find_by_domain(domain)
                    .await
                    .map_err(store_error)?
                    .ok_or_else(unknown)?;
                Ok((installation.member_id.clone(), Some(installation)))
            }
            _ => Err(unknown()),
        }
    }

    /// Installs, reinstalls or refuses an `ONAPPINSTALL`; `true` when it made a new
    /// installation.
    async fn install(
        &self,
        event: &Event,
        member_id: &str,
        token: &Secret,
        stored: Option<Installation>,
    ) -> Result<bool, EventError> {
        let name = &event.name;
        let config = &self.inner.config;
        let domain = event.auth.domain.as_deref();
        let explicit = domain.is_some_and(|d| config.policy.names_exactly(d));
        let portal = portal_of(
            domain,
            event.auth.client_endpoint.as_deref(),
            explicit || config.network.allows_http(),
        )
        .ok_or_else(|| {
            EventError::InstallRefused("the event names no valid portal domain".to_owned())
        })?;
        let same_token = stored
            .as_ref()
            .is_some_and(|i| i.application_token.ct_eq(token.expose()));
        if let Some(installation) = &stored {
            // A portal keeps its domain across reinstalls; a claim from elsewhere is forged.
            if !host_port(&portal).eq_ignore_ascii_case(&installation.domain()) {
                return Err(if same_token {
                    EventError::WrongDomain {
                        event: name.clone(),
                    }
                } else {
                    EventError::Forged {
                        event: name.clone(),
                    }
                });
            }
            if is_older(event.ts, installation.installed_at) {
                return Err(EventError::Replayed {
                    event: name.clone(),
                });
            }
        }
        if !same_token {
            config
                .policy
                .allows(&portal, &config.network)
                .map_err(EventError::InstallRefused)?;
        }
        let tokens = self.verify(event, member_id, &portal).await?;
        // One installation per portal: a verified install replaces a stale one of the domain.
        if let Some(other) = config
            .installations
            .find_by_domain(&host_port(&portal))
            .await
            .ok()
            .flatten()
            .filter(|other| other.member_id != member_id)
        {
            tracing::warn!(
                old = other.member_id,
                new = member_id,
                "the portal installed the application under a new member_id"
            );
            config
                .installations
                .delete(&other.member_id)
                .await
                .map_err(store_error)?;
            self.forget_client(&other.member_id);
        }
        let mut installation = Installation::new(member_id, portal, token.clone());
        installation.tokens = Some(tokens);
        installation.installed_at = event.ts;
        self.store(&installation).await?;
        Ok(!same_token)
    }

    /// Redeems the install event's refresh token at the OAuth server, which answers only for
    /// the portal that issued it: its `member_id` and REST address must be the event's. Returns
    /// the new pair (the event's refresh token is spent).
    async fn verify(
        &self,
        event: &Event,
        member_id: &str,
        portal: &Url,
    ) -> Result<Tokens, EventError> {
        let refresh = event.auth.refresh_token.as_ref().ok_or_else(|| {
            EventError::Unverified("the install event carries no refresh token".to_owned())
        })?;
        if !self.inner.verifications.take() {
            return Err(EventError::Busy);
        }
        let grant = self
            .inner
            .config
            .oauth
            .refresh_tokens(refresh)
            .await
            .map_err(|e| EventError::Unverified(e.to_string()))?;
        if grant.tokens.member_id.as_deref() != Some(member_id) {
            return Err(EventError::Unverified(
                "the OAuth server knows these tokens for another member_id".to_owned(),
            ));
        }
        let answered = grant
            .client_endpoint
            .as_deref()
            .and_then(|e| Url::parse(e).ok())
            .map(|u| host_port(&u));
        if !answered.is_some_and(|a| a.eq_ignore_ascii_case(&host_port(portal))) {
            return Err(EventError::Unverified(
                "the OAuth server knows these tokens for another portal".to_owned(),
            ));
        }
        Ok(grant.tokens)
    }

    fn check_freshness(&self, event: &Event) -> Result<(), EventError> {
        let Some(window) = self.inner.config.freshness else {
            return Ok(());
        };
        let stale = |age_secs| EventError::Stale {
            event: event.name.clone(),
            age_secs,
        };
        let ts = event.ts.ok_or_else(|| stale(i64::MAX))?;
        // `ts` comes from the network: any i64, so the difference may not fit.
        let age = chrono::Utc::now().timestamp().checked_sub(ts);
        match age {
            Some(age) if age.unsigned_abs() <= window.as_secs() => Ok(()),
            Some(age) => Err(stale(age)),
            None => Err(stale(if ts < 0 { i64::MAX } else { i64::MIN })),
        }
    }

    /// The client for an installed portal (created once, then shared).
    pub async fn client(&self, member_id: &str) -> Result<Client, EventError> {
        if let Some(client) = self.cached(member_id) {
            return Ok(client);
        }
        let config = &self.inner.config;
        let installation = config
            .installations
            .get(member_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| EventError::UnknownPortal {
                event: String::new(),
            })?;
        let tokens = InstallationTokens {
            installations: config.installations.clone(),
            member_id: member_id.to_owned(),
        };
        let moves = InstallationMoves {
            installations: config.installations.clone(),
            policy: config.policy.clone(),
            network: config.network.clone(),
            member_id: member_id.to_owned(),
        };
        let client = Client::builder()
            .portal(installation.portal.as_str())
            .oauth_from_store(config.oauth.clone(), tokens)
            .http_client(self.inner.http.clone())
            .rate_limit(config.rate_limit)
            .portal_moves(Arc::new(moves))
            .build()
            .map_err(|e| EventError::Store(e.to_string()))?;
        Ok(self.cache(member_id, client))
    }

    fn cached(&self, member_id: &str) -> Option<Client> {
        self.inner
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(member_id)
            .cloned()
    }

    /// Keeps `client` for reuse, within [`AppBuilder::max_clients`]: when full, clients held by
    /// the cache alone go (one still in use stays, so no portal ever has two clients renewing).
    fn cache(&self, member_id: &str, client: Client) -> Client {
        let mut clients = self.inner.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = clients.get(member_id) {
            return existing.clone();
        }
        if clients.len() >= self.inner.config.max_clients {
            clients.retain(|_, c| Arc::strong_count(&c.inner) > 1);
        }
        clients.insert(member_id.to_owned(), client.clone());
        client
    }

    fn forget_client(&self, member_id: &str) {
        self.inner
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(member_id);
    }
}

/// The stored installation, if the event's token and domain are its own.
fn verified(
    event: &Event,
    token: &Secret,
    stored: Option<Installation>,
) -> Result<Installation, EventError> {
    let name = || event.name.clone();
    let installation = verified_token(&event.name, token, stored)?;
    if event
        .auth
        .domain
        .as_deref()
        .is_some_and(|d| !d.eq_ignore_ascii_case(&installation.domain()))
    {
        return Err(EventError::WrongDomain { event: name() });
    }
    Ok(installation)
}

/// The stored installation, if `token` (of the event or placement `name`) is its application
/// token.
fn verified_token(
    name: &str,
    token: &Secret,
    stored: Option<Installation>,
) -> Result<Installation, EventError> {
    let installation = stored.ok_or_else(|| EventError::UnknownPortal {
        event: name.to_owned(),
    })?;
    if !installation.application_token.ct_eq(token.expose()) {
        return Err(EventError::Forged {
            event: name.to_owned(),
        });
    }
    Ok(installation)
}

/// Whether an event sent at `ts` predates an installation made at `installed_at`. Unknown times
/// prove nothing; an install as old as the stored one is told apart by its tokens (a replay's are
/// spent).
fn is_older(ts: Option<i64>, installed_at: Option<i64>) -> bool {
    matches!((ts, installed_at), (Some(ts), Some(at)) if ts < at)
}

fn store_error(e: StoreError) -> EventError {
    EventError::Store(e.0)
}

/// Where an installed portal's calls may move when it is renamed, and the record of a move.
struct InstallationMoves {
    installations: Arc<dyn InstallationStore>,
    policy: InstallPolicy,
    network: NetworkPolicy,
    member_id: String,
}

impl PortalMoves for InstallationMoves {
    fn allows(&self, to: &Url) -> Result<(), String> {
        self.policy.allows_move(to, &self.network)
    }

    fn moved<'a>(&'a self, to: &'a Url) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let _writing = self.installations.lock(&self.member_id).await?;
            let Some(mut installation) = self.installations.get(&self.member_id).await? else {
                return Ok(());
            };
            installation.portal = to.clone();
            self.installations.put(&installation).await
        })
    }
}

/// Install verifications left: `burst` at once, refilled at `per_second` (a token bucket that
/// refuses instead of waiting: a forged install should not hold a connection open).
struct Budget {
    limit: RateLimit,
    state: Mutex<(f64, Instant)>,
}

impl Budget {
    fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            state: Mutex::new((f64::from(limit.burst), Instant::now())),
        }
    }

    fn take(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(state.1).as_secs_f64() * self.limit.per_second;
        state.0 = (state.0 + refill).min(f64::from(self.limit.burst));
        state.1 = now;
        if state.0 >= 1.0 {
            state.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The portal at a bare `host[:port]`; anything with a path, credentials or odd characters is
/// not a portal domain. The scheme is the event's own (`client_endpoint`, when it names the
/// same host and port): `https`, unless it says `http` and that is allowed — never guessed from
/// the host name.
fn portal_of(domain: Option<&str>, client_endpoint: Option<&str>, allow_http: bool) -> Option<Url> {
    let domain = domain?.trim();
    if domain.is_empty()
        || !domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    {
        return None;
    }
    let says_http = client_endpoint
        .and_then(|e| Url::parse(e.trim()).ok())
        .is_some_and(|e| e.scheme() == "http" && host_port(&e).eq_ignore_ascii_case(domain));
    let scheme = if says_http && allow_http {
        "http"
    } else {
        "https"
    };
    let url = Url::parse(&format!("{scheme}://{domain}/")).ok()?;
    let bare = url.host_str().is_some()
        && url.path() == "/"
        && url.username().is_empty()
        && host_port(&url).eq_ignore_ascii_case(domain);
    bare.then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bare_domains_become_portals() {
        let portal = |d: &str, e: Option<&str>, http: bool| {
            portal_of(Some(d), e, http).map(|u| u.to_string())
        };
        assert_eq!(
            portal("example.bitrix24.com", None, false).as_deref(),
            Some("https://example.bitrix24.com/")
        );
        // The scheme is the event's, if allowed: never taken from the host name.
        let http_endpoint = Some("http://127.0.0.1:8080/rest/");
        assert_eq!(
            portal("127.0.0.1:8080", http_endpoint, true).as_deref(),
            Some("http://127.0.0.1:8080/")
        );
        assert_eq!(
            portal("127.0.0.1:8080", http_endpoint, false).as_deref(),
            Some("https://127.0.0.1:8080/")
        );
        assert_eq!(
            portal("127.0.0.1:8080", Some("https://127.0.0.1:8080/rest/"), true).as_deref(),
            Some("https://127.0.0.1:8080/")
        );
        assert_eq!(
            portal("localhost:8080", None, true).as_deref(),
            Some("https://localhost:8080/")
        );
        // An endpoint naming another host says nothing about this one.
        assert_eq!(
            portal(
                "portal.example.com",
                Some("http://elsewhere.example.com/rest/"),
                true
            )
            .as_deref(),
            Some("https://portal.example.com/")
        );
        for bad in [
            "evil.com/x",
            "user@evil.com",
            "evil.com?x",
            "",
            " ",
            "a b",
            "evil.com#x",
            "evil.com:99999",
        ] {
            assert!(portal_of(Some(bad), None, true).is_none(), "{bad}");
        }
    }

    #[test]
    fn install_policies() {
        let public = Url::parse("https://example.bitrix24.com/").unwrap();
        let local = Url::parse("http://127.0.0.1:8080/").unwrap();
        let network = NetworkPolicy::public();
        let trust = InstallPolicy::TrustFirst;
        assert!(trust.allows(&public, &network).is_ok());
        for refused in [
            "http://127.0.0.1:8080/",
            "https://localhost/",
            "https://localhost./",
            "https://127.0.0.1.nip.io:6379/",
            "https://intranet/",
        ] {
            let url = Url::parse(refused).unwrap();
            assert!(trust.allows(&url, &network).is_err(), "{refused}");
        }
        let domains = InstallPolicy::Domains(vec![".bitrix24.com".into(), "127.0.0.1:8080".into()]);
        assert!(
            domains.allows(&public, &network).is_ok() && domains.allows(&local, &network).is_ok()
        );
        for refused in [
            "https://bitrix24.com.evil.io/",
            "https://evil.bitrix24.com:6379/",
            "http://127.0.0.1:8081/",
        ] {
            let url = Url::parse(refused).unwrap();
            assert!(domains.allows(&url, &network).is_err(), "{refused}");
        }
        assert!(InstallPolicy::Refuse.allows(&public, &network).is_err());
        assert!(InstallPolicy::Refuse.allows_move(&public, &network).is_ok());
        assert!(InstallPolicy::Refuse.allows_move(&local, &network).is_err());
    }

    #[test]
    fn the_verification_budget_refills() {
        let budget = Budget::new(RateLimit::new(2, 1000.0));
        assert!(budget.take() && budget.take());
        std::thread::sleep(Duration::from_millis(5));
        assert!(budget.take());
        let none = Budget::new(RateLimit::new(1, 0.0));
        assert!(none.take() && !none.take());
    }

    #[tokio::test]
    async fn the_client_cache_is_bounded_and_keeps_clients_in_use() {
        let app = App::builder(OAuthApp::new("id", "secret"), MemoryInstallations::new())
            .max_clients(2)
            .build()
            .unwrap();
        for m in ["m1", "m2", "m3"] {
            let portal = Url::parse(&format!("https://{m}.bitrix24.com/")).unwrap();
            let record = Installation::new(m, portal, "t").with_tokens(Tokens::new("a", "r"));
            app.register(record).await.unwrap();
        }
        let held = app.client("m1").await.unwrap();
        drop(app.client("m2").await.unwrap());
        // Full: the idle client goes, the one in use stays (a second client of one portal could
        // renew its tokens beside the first).
        let _third = app.client("m3").await.unwrap();
        let mut cached: Vec<String> = app.inner.clients.lock().unwrap().keys().cloned().collect();
        cached.sort();
        assert_eq!(cached, ["m1", "m3"]);
        assert!(Arc::ptr_eq(
            &held.inner,
            &app.client("m1").await.unwrap().inner
        ));
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

    #[tokio::test]
    async fn stores_keep_one_installation_per_domain() {
        let dir = std::env::temp_dir().join(format!("b24-one-per-domain-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = FileInstallations::new(&dir);
        let memory = MemoryInstallations::new();
        let stores: [&dyn InstallationStore; 2] = [&file, &memory];
        let portal = |s: &str| Url::parse(s).unwrap();
        for store in stores {
            let first = Installation::new("m1", portal("https://a.bitrix24.com/"), "t1");
            store.put(&first).await.unwrap();
            let squatter = Installation::new("m2", portal("https://A.bitrix24.com/"), "t2");
            assert!(store.put(&squatter).await.is_err(), "{store:?}");
            let found = store
                .find_by_domain("a.bitrix24.com")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(found.member_id, "m1");
            // A rename moves the index entry.
            let renamed = Installation::new("m1", portal("https://b.bitrix24.com/"), "t1");
            store.put(&renamed).await.unwrap();
            assert!(
                store
                    .find_by_domain("a.bitrix24.com")
                    .await
                    .unwrap()
                    .is_none()
            );
            assert_eq!(
                store
                    .find_by_domain("b.bitrix24.com")
                    .await
                    .unwrap()
                    .unwrap()
                    .member_id,
                "m1"
            );
            store.put(&squatter).await.unwrap();
            store.delete("m1").await.unwrap();
            assert!(store.get("m1").await.unwrap().is_none());
            assert!(
                store
                    .find_by_domain("b.bitrix24.com")
                    .await
                    .unwrap()
                    .is_none()
            );
            assert_eq!(
                store
                    .find_by_domain("a.bitrix24.com")
                    .await
                    .unwrap()
                    .unwrap()
                    .member_id,
                "m2"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn an_old_directory_is_indexed_once_and_ambiguity_is_an_error() {
        let dir = std::env::temp_dir().join(format!("b24-old-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Records as an older version wrote them: no index, two claiming one domain.
        for (member, domain) in [
            ("m1", "a.bitrix24.com"),
            ("m2", "a.bitrix24.com"),
            ("m3", "c.bitrix24.com"),
        ] {
            let record = Installation::new(
                member,
                Url::parse(&format!("https://{domain}/")).unwrap(),
                "t",
            );
            std::fs::write(
                dir.join(format!("{member}.json")),
                serde_json::to_vec(&record).unwrap(),
            )
            .unwrap();
        }
        let store = FileInstallations::new(&dir);
        assert!(store.find_by_domain("a.bitrix24.com").await.is_err());
        assert_eq!(
            store
                .find_by_domain("c.bitrix24.com")
                .await
                .unwrap()
                .unwrap()
                .member_id,
            "m3"
        );
        assert!(dir.join("domains").is_dir());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
