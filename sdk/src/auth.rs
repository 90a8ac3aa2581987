//! OAuth 2.0 credentials: the token pair, where it is kept, and how it is renewed.
//!
//! Bitrix24 access tokens live an hour; refresh tokens rotate on every use (an old one gets
//! `invalid_grant`). So a renewed pair must be stored before it is used, and two callers must never
//! renew with the same refresh token: the client renews once for all concurrent callers (see
//! [`crate::Client`]) and persists through a [`TokenStore`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::Secret;
use crate::codec::{As, Int, Text};
use crate::error::{ApiError, Error, ErrorCode};

/// The OAuth server Bitrix24 cloud portals use.
pub const DEFAULT_TOKEN_URL: &str = "https://oauth.bitrix.info/oauth/token/";

/// An OAuth access/refresh token pair and what the server said about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Tokens {
    /// Sent with every call; expires after an hour.
    pub access_token: Secret,
    /// Renews the access token once; rotated on every renewal.
    pub refresh_token: Secret,
    /// Unix time the access token expires, when known.
    #[serde(default, with = "As::<Int>", alias = "expires")]
    pub expires_at: Option<i64>,
    /// Granted scopes, comma-separated.
    #[serde(default, with = "As::<Text>")]
    pub scope: Option<String>,
    /// The portal's installation id.
    #[serde(default, with = "As::<Text>")]
    pub member_id: Option<String>,
}

impl Tokens {
    /// A pair with nothing else known.
    pub fn new(access_token: impl Into<Secret>, refresh_token: impl Into<Secret>) -> Self {
        Self {
            access_token: access_token.into(),
            refresh_token: refresh_token.into(),
            expires_at: None,
            scope: None,
            member_id: None,
        }
    }
}

/// An OAuth application: what renews tokens.
#[derive(Clone)]
pub struct OAuthApp {
    /// Application id (`client_id`).
    pub client_id: String,
    /// Application secret; only ever sent to [`OAuthApp::token_url`].
    pub client_secret: Secret,
    /// The OAuth token endpoint: [`DEFAULT_TOKEN_URL`], or a portal's own `/oauth/token/`.
    pub token_url: Url,
}

impl OAuthApp {
    /// An application renewing tokens at `https://oauth.bitrix.info/oauth/token/`.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<Secret>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            // The literal is a valid URL.
            token_url: Url::parse(DEFAULT_TOKEN_URL).expect("valid default token URL"),
        }
    }

    /// Renews tokens at another OAuth endpoint, e.g. an on-premise portal's own
    /// `https://portal.example.com/oauth/token/`.
    pub fn with_token_url(mut self, token_url: Url) -> Self {
        self.token_url = token_url;
        self
    }
}

impl fmt::Debug for OAuthApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthApp")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("token_url", &self.token_url.as_str())
            .finish()
    }
}

/// The method name refresh errors carry.
const REFRESH_METHOD: &str = "oauth/token";

/// The largest OAuth answer read: a token answer is a few hundred bytes, and a server (or
/// something posing as one) that sends more is not read into memory.
const MAX_GRANT_BYTES: usize = 64 * 1024;

/// What the OAuth server answered to a grant: the token pair and the portal it belongs to.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Grant {
    /// The new pair.
    pub tokens: Tokens,
    /// The portal's REST address (`https://example.bitrix24.com/rest/`), as the OAuth server
    /// says.
    pub client_endpoint: Option<String>,
}

impl OAuthApp {
    /// Exchanges an authorization code (from the portal's redirect after the user allowed the
    /// application) for a token pair (`grant_type=authorization_code`).
    pub async fn exchange_code(&self, code: &str) -> Result<Grant, Error> {
        grant(&token_http()?, self, "authorization_code", "code", code).await
    }

    /// Renews a pair outside any client (`grant_type=refresh_token`); clients renew by
    /// themselves when a call finds its token expired.
    pub async fn refresh_tokens(&self, refresh_token: &Secret) -> Result<Grant, Error> {
        grant(
            &token_http()?,
            self,
            "refresh_token",
            "refresh_token",
            refresh_token.expose(),
        )
        .await
    }
}

/// An HTTP client for one token request: no redirects (the query holds `client_secret`).
fn token_http() -> Result<reqwest::Client, Error> {
    crate::client::http_client(
        std::time::Duration::from_secs(10),
        std::time::Duration::from_secs(60),
    )
}

/// Exchanges `refresh_token` for a new pair (`grant_type=refresh_token`), for a client whose
/// call found its token expired.
pub(crate) async fn refresh(
    http: &reqwest::Client,
    app: &OAuthApp,
    refresh_token: &Secret,
) -> Result<Tokens, Error> {
    tracing::debug!(
        host = app.token_url.host_str().unwrap_or(""),
        "refreshing OAuth token"
    );
    let answer = grant(
        http,
        app,
        "refresh_token",
        "refresh_token",
        refresh_token.expose(),
    )
    .await?;
    Ok(answer.tokens)
}

/// One request to the OAuth server.
///
/// It is a GET with the parameters in the query, as the Bitrix24 OAuth server documents it.
/// Redirects are never followed (`http` is built without them), so the query — which holds
/// `client_secret` — reaches `token_url`'s host and no other.
async fn grant(
    http: &reqwest::Client,
    app: &OAuthApp,
    grant_type: &str,
    key: &str,
    value: &str,
) -> Result<Grant, Error> {
    let mut url = app.token_url.clone();
    url.query_pairs_mut()
        .append_pair("grant_type", grant_type)
        .append_pair("client_id", &app.client_id)
        .append_pair("client_secret", app.client_secret.expose())
        .append_pair(key, value);
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| Error::transport(REFRESH_METHOD, e))?;
    let status = response.status().as_u16();
    let invalid = |why: String| {
        Error::Refresh(ApiError {
            method: REFRESH_METHOD.to_owned(),
            code: ErrorCode::Other("invalid_response".to_owned()),
            description: format!("the OAuth server's answer is not a token response ({why})"),
            status,
        })
    };
    // Never echo this body: on success it holds the new tokens.
    let body = match crate::call_path::read_body(REFRESH_METHOD, response, MAX_GRANT_BYTES).await {
        Err(Error::Decode { message, .. }) => return Err(invalid(message)),
        other => other?,
    };

    #[derive(Deserialize)]
    struct Answer {
        #[serde(default)]
        error: Option<String>,
        #[serde(default)]
        error_description: Option<String>,
        #[serde(default)]
        client_endpoint: Option<String>,
        #[serde(flatten)]
        tokens: Option<Tokens>,
    }
    let answer: Answer = serde_json::from_str(&body).map_err(|e| invalid(e.to_string()))?;
    match (answer.error, answer.tokens) {
        (None, Some(tokens)) if (200..300).contains(&status) => Ok(Grant {
            tokens,
            client_endpoint: answer.client_endpoint,
        }),
        (error, _) => Err(Error::Refresh(ApiError {
            method: REFRESH_METHOD.to_owned(),
            code: ErrorCode::from(error.as_deref().unwrap_or("")),
            description: answer.error_description.unwrap_or_default(),
            status,
        })),
    }
}

/// Reading or writing a [`TokenStore`] failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// Where renewed tokens are kept so they survive the process, and how processes sharing them
/// take turns renewing.
///
/// A renewal runs as: [`TokenStore::lock`] (exclusive across every process sharing the store),
/// [`TokenStore::load`] and compare with the token that was refused — if another process renewed
/// meanwhile, use its pair and stop — else ask the OAuth server, [`TokenStore::save`], unlock.
/// Two processes that find the token expired at once thus renew once: the second finds the first
/// one's pair under the lock. Refresh tokens rotate, so a renewal by both would cost one of them
/// its refresh token (`invalid_grant`). A pair `save` refuses stays in use in memory and is saved
/// again later (see [`crate::ClientBuilder::on_store_error`]): it is the only pair the OAuth
/// server still accepts.
///
/// If a process dies between the OAuth server's answer and `save`, the stored refresh token has
/// been used up; the next renewal gets `invalid_grant`. Bitrix24 hands an application fresh
/// tokens with every event and every opening of the application, and storing those (see
/// [`crate::Client::adopt_tokens`]) recovers without the user.
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// The stored tokens, if any.
    fn load(&self) -> BoxFuture<'_, Result<Option<Tokens>, StoreError>>;
    /// Replaces the stored tokens.
    fn save<'a>(&'a self, tokens: &'a Tokens) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Excludes other processes from renewing until the guard is dropped. The default excludes
    /// nobody: right for stores only one process uses.
    fn lock(&self) -> BoxFuture<'_, Result<StoreGuard, StoreError>> {
        Box::pin(async { Ok(StoreGuard::none()) })
    }
}

/// A shared store is a store: the application and its clients can hold the same one.
impl<S: TokenStore + ?Sized> TokenStore for std::sync::Arc<S> {
    fn load(&self) -> BoxFuture<'_, Result<Option<Tokens>, StoreError>> {
        (**self).load()
    }

    fn save<'a>(&'a self, tokens: &'a Tokens) -> BoxFuture<'a, Result<(), StoreError>> {
        (**self).save(tokens)
    }

    fn lock(&self) -> BoxFuture<'_, Result<StoreGuard, StoreError>> {
        (**self).lock()
    }
}

/// Held while a process renews tokens; dropping it lets the next one in.
#[must_use = "the lock is released when the guard is dropped"]
pub struct StoreGuard(Option<Box<dyn Send + Sync>>);

impl StoreGuard {
    /// A guard that excludes nobody.
    pub fn none() -> Self {
        Self(None)
    }

    /// A guard releasing its lock when `held` is dropped.
    pub fn new(held: impl Send + Sync + 'static) -> Self {
        Self(Some(Box::new(held)))
    }
}

impl fmt::Debug for StoreGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "StoreGuard(held)"
        } else {
            "StoreGuard(none)"
        })
    }
}

/// Keeps tokens in memory only: they are lost with the process.
#[derive(Debug, Default)]
pub struct MemoryTokenStore(Mutex<Option<Tokens>>);

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl TokenStore for MemoryTokenStore {
    fn load(&self) -> BoxFuture<'_, Result<Option<Tokens>, StoreError>> {
        let tokens = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Box::pin(async move { Ok(tokens) })
    }

    fn save<'a>(&'a self, tokens: &'a Tokens) -> BoxFuture<'a, Result<(), StoreError>> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(tokens.clone());
        Box::pin(async { Ok(()) })
    }
}

/// Keeps tokens in a JSON file, written atomically (temporary file, fsync, rename) with mode 0600,
/// so a crash mid-write leaves either the old or the new pair, never a torn file. Processes on one
/// machine sharing the file take turns renewing through an OS file lock on `<file>.lock`.
#[derive(Debug, Clone)]
pub struct FileTokenStore {
    path: PathBuf,
}

impl FileTokenStore {
    /// A store at `path`; the file is created on the first save.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Where the tokens are kept.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file as JSON; `None` when it does not exist.
    pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
        &self,
    ) -> Result<Option<T>, StoreError> {
        let data = match tokio::fs::read(&self.path).await {
            Ok(data) => data,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError(format!("{}: {e}", self.path.display()))),
        };
        serde_json::from_slice(&data)
            .map(Some)
            .map_err(|e| StoreError(format!("{}: not a token file: {e}", self.path.display())))
    }

    /// Replaces the file with `value` as JSON, atomically, mode 0600 ([`crate::files`]).
    pub(crate) async fn write_json<T: Serialize>(&self, value: &T) -> Result<(), StoreError> {
        let data = serde_json::to_vec_pretty(value)
            .map_err(|e| StoreError(format!("cannot encode tokens: {e}")))?;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || crate::files::write_private(&path, &data))
            .await
            .map_err(|e| StoreError(format!("token file writer failed: {e}")))?
            .map_err(|e| StoreError(format!("{}: {e}", self.path.display())))
    }
}

impl TokenStore for FileTokenStore {
    fn load(&self) -> BoxFuture<'_, Result<Option<Tokens>, StoreError>> {
        Box::pin(self.read_json())
    }

    fn lock(&self) -> BoxFuture<'_, Result<StoreGuard, StoreError>> {
        Box::pin(async move {
            let mut lock_path = self.path.clone().into_os_string();
            lock_path.push(".lock");
            let lock_path = PathBuf::from(lock_path);
            let display = lock_path.display().to_string();
            tokio::task::spawn_blocking(move || {
                let mut options = std::fs::OpenOptions::new();
                options.read(true).write(true).create(true).truncate(false);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let file = options.open(&lock_path)?;
                // Blocks until no other process holds it; the OS releases it if we die.
                file.lock()?;
                Ok::<_, std::io::Error>(file)
            })
            .await
            .map_err(|e| StoreError(format!("token lock: {e}")))?
            .map(StoreGuard::new)
            .map_err(|e| StoreError(format!("{display}: {e}")))
        })
    }

    fn save<'a>(&'a self, tokens: &'a Tokens) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.write_json(tokens))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_responses_from_the_docs_parse() {
        let body = include_str!("../tests/fixtures/examples/oauth.token.refresh.response.json");
        let tokens: Tokens = serde_json::from_str(body).unwrap();
        assert_eq!(
            tokens.refresh_token.expose(),
            "3s6lr4kr3cv2od4v853gvrchb875bwxb"
        );
        assert_eq!(tokens.expires_at, Some(1780319382));
        assert_eq!(
            tokens.member_id.as_deref(),
            Some("a223c6b3710f85df22e9377d6c4f7553")
        );
        assert!(!format!("{tokens:?}").contains("3s6lr4kr"));
    }

    #[tokio::test]
    async fn file_store_round_trips_and_is_private() {
        let dir = std::env::temp_dir().join(format!("b24-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = FileTokenStore::new(dir.join("tokens.json"));
        assert_eq!(store.load().await.unwrap(), None);
        let tokens = Tokens::new("a", "r");
        store.save(&tokens).await.unwrap();
        assert_eq!(store.load().await.unwrap(), Some(tokens));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(store.path(), b"{not json").unwrap();
        assert!(store.load().await.is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
