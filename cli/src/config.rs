//! Where `b24` finds credentials: `B24_*` environment variables first, then the config file
//! (`--config`, `$B24_CONFIG`, else `$XDG_CONFIG_HOME/b24/config.toml` or
//! `~/.config/b24/config.toml`).
//!
//! The config file holds secrets, so it must be private: a file that group or others may read
//! or write is refused, and `b24` creates it with mode 0600. OAuth tokens live beside it in
//! `tokens.json` (the SDK's [`FileTokenStore`]: atomic writes, mode 0600, a lock so that two
//! `b24` processes never both spend the same rotating refresh token). Tokens given in
//! `B24_ACCESS_TOKEN`/`B24_REFRESH_TOKEN` are renewed only when a token file is configured
//! (`B24_TOKEN_FILE` or `token_file`): a renewal spends the refresh token, and without a file
//! the new pair would be lost when `b24` exits.
//!
//! ```toml
//! # an incoming webhook ...
//! webhook_url = "https://example.bitrix24.com/rest/1/<code>/"
//! # ... or an OAuth application (tokens from `b24 auth code CODE`)
//! portal = "https://example.bitrix24.com"
//! client_id = "local.6650d2a6b5a0a1.12345678"
//! client_secret = "<secret>"
//! oauth_url = "https://oauth.bitrix.info/oauth/token/"   # optional
//! token_file = "/home/me/.config/b24/tokens.json"         # optional
//! plan = "enterprise"                                     # optional: the portal's rate limit
//! ```

use std::path::{Path, PathBuf};

use bitrix24::auth::StoreError;
use bitrix24::{
    Client, FileTokenStore, OAuthApp, RateLimit, Secret, StoreGuard, TokenStore, Tokens,
};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::util::{Failure, Outcome};

/// The config file's contents. Unknown keys are refused, so a typo does not go unnoticed.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

/// Where a setting came from, for `b24 auth show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Env,
    File,
    Default,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Self::Env => "environment",
            Self::File => "config file",
            Self::Default => "default",
        }
    }
}

/// Every setting with its source, environment over file.
#[derive(Debug)]
pub struct Settings {
    /// The config file and whether it exists.
    pub path: PathBuf,
    pub file_exists: bool,
    /// Whether `path` is a real location (HOME or B24_CONFIG or --config told it).
    pub path_known: bool,
    pub webhook_url: Option<(Secret, Source)>,
    pub portal: Option<(String, Source)>,
    pub client_id: Option<(String, Source)>,
    pub client_secret: Option<(Secret, Source)>,
    pub oauth_url: (String, Source),
    pub token_file: (PathBuf, Source),
    /// Tokens given directly in the environment (`B24_ACCESS_TOKEN`, `B24_REFRESH_TOKEN`).
    pub env_tokens: Option<Tokens>,
    pub plan: Option<String>,
    pub file: FileConfig,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `--config`, `$B24_CONFIG`, `$XDG_CONFIG_HOME/b24/config.toml`, `~/.config/b24/config.toml`.
pub fn default_path(flag: Option<&Path>) -> Outcome<PathBuf> {
    if let Some(path) = flag {
        return Ok(path.to_owned());
    }
    if let Some(path) = env("B24_CONFIG") {
        return Ok(PathBuf::from(path));
    }
    if let Some(dir) = env("XDG_CONFIG_HOME") {
        return Ok(Path::new(&dir).join("b24").join("config.toml"));
    }
    match env("HOME") {
        Some(home) => Ok(Path::new(&home)
            .join(".config")
            .join("b24")
            .join("config.toml")),
        None => Err(Failure::usage(
            "cannot tell where the config file is: set HOME, B24_CONFIG or pass --config",
        )),
    }
}

/// Reads the config file if it exists, refusing one that others can read or write.
pub fn read_file(path: &Path) -> Outcome<Option<FileConfig>> {
    let metadata = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Failure::usage(format!("{}: {e}", path.display()))),
    };
    check_private(path, &metadata)?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    toml::from_str(&text)
        .map(Some)
        // The TOML error quotes the offending line, which may hold a secret: keep only its
        // message.
        .map_err(|e| {
            Failure::usage(format!(
                "{}: not a valid b24 config: {}",
                path.display(),
                e.message()
            ))
        })
}

#[cfg(unix)]
fn check_private(path: &Path, metadata: &std::fs::Metadata) -> Outcome {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Failure::usage(format!(
            "REFUSING to read {}: it holds secrets but its mode is {mode:04o}, so other users \
             can read or change it. Run: chmod 600 {}",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _metadata: &std::fs::Metadata) -> Outcome {
    Ok(())
}

/// Writes the config file atomically with mode 0600 (and its directory with 0700 when it has
/// to be created).
pub fn write_file(path: &Path, config: &FileConfig) -> Outcome {
    let text = format!(
        "# b24 configuration: holds secrets, keep it private (mode 0600).\n{}",
        toml::to_string(config)
            .map_err(|e| Failure::other(format!("cannot encode the config: {e}")))?
    );
    write_private(path, text.as_bytes())
}

/// Creates the directory `path` goes into, if missing, with mode 0700.
pub fn ensure_dir(path: &Path) -> Outcome {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(|e| Failure::other(format!("{}: {e}", dir.display())))?;
    }
    Ok(())
}

/// Atomic private write ([`bitrix24::files::write_private`]), creating the directory first.
pub fn write_private(path: &Path, data: &[u8]) -> Outcome {
    ensure_dir(path)?;
    bitrix24::files::write_private(path, data)
        .map_err(|e| Failure::other(format!("{}: {e}", path.display())))
}

impl Settings {
    /// Reads the environment and the config file.
    pub fn load(config_flag: Option<&Path>) -> Outcome<Self> {
        // Without HOME (a bare service environment) there is no default location: settings
        // then come from the environment alone, and nothing is written.
        let (path, path_known) = match default_path(config_flag) {
            Ok(path) => (path, true),
            Err(_) => (
                PathBuf::from("(no config file: set HOME or B24_CONFIG, or pass --config)"),
                false,
            ),
        };
        let file = if path_known { read_file(&path)? } else { None };
        let file_exists = file.is_some();
        let file = file.unwrap_or_default();
        let pick = |var: &str, from_file: Option<String>| match env(var) {
            Some(v) => Some((v, Source::Env)),
            None => from_file.map(|v| (v, Source::File)),
        };
        let secret = |var: &str, from_file: Option<&Secret>| match env(var) {
            Some(v) => Some((Secret::new(v), Source::Env)),
            None => from_file.map(|v| (v.clone(), Source::File)),
        };
        let oauth_url = pick("B24_OAUTH_URL", file.oauth_url.clone()).unwrap_or((
            bitrix24::auth::DEFAULT_TOKEN_URL.to_owned(),
            Source::Default,
        ));
        let token_file = match pick(
            "B24_TOKEN_FILE",
            file.token_file.as_ref().map(|p| p.display().to_string()),
        ) {
            Some((p, source)) => (PathBuf::from(p), source),
            None if path_known => (path.with_file_name("tokens.json"), Source::Default),
            None => (PathBuf::new(), Source::Default),
        };
        let env_tokens = match (env("B24_ACCESS_TOKEN"), env("B24_REFRESH_TOKEN")) {
            (Some(access), Some(refresh)) => Some(Tokens::new(access, refresh)),
            _ => None,
        };
        Ok(Self {
            webhook_url: secret("B24_WEBHOOK_URL", file.webhook_url.as_ref()),
            portal: pick("B24_PORTAL", file.portal.clone()),
            client_id: pick("B24_CLIENT_ID", file.client_id.clone()),
            client_secret: secret("B24_CLIENT_SECRET", file.client_secret.as_ref()),
            oauth_url,
            token_file,
            env_tokens,
            plan: env("B24_PLAN").or_else(|| file.plan.clone()),
            path,
            path_known,
            file_exists,
            file,
        })
    }

    /// The webhook calls go through, if they do: one from the environment wins; one from the
    /// file wins unless the environment names an OAuth portal.
    pub fn webhook(&self) -> Option<&(Secret, Source)> {
        let webhook = self.webhook_url.as_ref()?;
        let env_portal = matches!(self.portal, Some((_, Source::Env)));
        (webhook.1 == Source::Env || !env_portal).then_some(webhook)
    }

    /// Whether a token file was configured (not just the default location). Tokens from the
    /// environment are kept in a token file only then: a default file might belong to another
    /// portal, and a store's tokens win over the given ones.
    pub fn token_file_configured(&self) -> bool {
        self.token_file.1 != Source::Default
    }

    /// The token file, when there is a place for one.
    pub fn token_file(&self) -> Outcome<&Path> {
        if self.token_file.0.as_os_str().is_empty() {
            return Err(Failure::usage(
                "no place for the token file: set B24_TOKEN_FILE, HOME or B24_CONFIG",
            ));
        }
        Ok(&self.token_file.0)
    }

    /// The OAuth application, when client id and secret are known.
    pub fn oauth_app(&self) -> Outcome<OAuthApp> {
        let (client_id, _) = self
            .client_id
            .clone()
            .ok_or_else(|| self.missing("client id"))?;
        let (secret, _) = self
            .client_secret
            .clone()
            .ok_or_else(|| self.missing("client secret"))?;
        let token_url = url::Url::parse(&self.oauth_url.0).map_err(|e| {
            Failure::usage(format!("OAuth URL ({}): {e}", self.oauth_url.1.label()))
        })?;
        Ok(OAuthApp::new(client_id, secret).with_token_url(token_url))
    }

    fn missing(&self, what: &str) -> Failure {
        let var = match what {
            "client id" => "B24_CLIENT_ID",
            "client secret" => "B24_CLIENT_SECRET",
            _ => "B24_*",
        };
        Failure::usage(format!(
            "no {what}: set {var}, or put it into {}{} (or use a webhook: B24_WEBHOOK_URL)",
            self.path.display(),
            if self.file_exists {
                ""
            } else {
                " (it does not exist)"
            }
        ))
    }

    /// The client every command uses.
    pub fn client(&self, plan: Option<&str>) -> Outcome<Client> {
        let limit = rate_limit(plan.or(self.plan.as_deref()))?;
        let builder = Client::builder().rate_limit(limit);
        if let Some((url, _)) = self.webhook() {
            return Ok(builder.webhook(url.expose()).build()?);
        }
        let Some((portal, _)) = &self.portal else {
            return Err(Failure::usage(format!(
                "no credentials: set B24_WEBHOOK_URL (an incoming webhook), or B24_PORTAL + \
                 B24_CLIENT_ID + B24_CLIENT_SECRET with tokens from `b24 auth code CODE`, or \
                 write them into {} (see b24 auth --help)",
                self.path.display()
            )));
        };
        let app = self.oauth_app()?;
        // A pair the token file refused lives only as long as this process: say so.
        let builder = builder.portal(portal).on_store_error(|e| {
            eprintln!("warning: renewed OAuth tokens were not saved, they are lost at exit: {e}");
        });
        let builder = match &self.env_tokens {
            // Tokens from the environment with no token file: used, never renewed.
            Some(tokens) if !self.token_file_configured() => builder
                .oauth(app, tokens.clone())
                .token_store(NowhereToKeep),
            Some(tokens) => builder
                .oauth(app, tokens.clone())
                .token_store(FileTokenStore::new(self.token_file()?)),
            None => {
                let token_file = self.token_file()?;
                if !token_file.exists() {
                    return Err(Failure::usage(format!(
                        "no OAuth tokens: {} does not exist; run `b24 auth code CODE` with an \
                         authorization code, or set B24_ACCESS_TOKEN and B24_REFRESH_TOKEN",
                        token_file.display()
                    )));
                }
                builder.oauth_from_store(app, FileTokenStore::new(token_file))
            }
        };
        Ok(builder.build()?)
    }
}

/// The token store of tokens given only in the environment: there is none. Renewing them would
/// spend `B24_REFRESH_TOKEN` (refresh tokens rotate) and lose the new pair when `b24` exits, so
/// the renewal is refused before the OAuth server is asked, and the refused call fails saying
/// what to set.
#[derive(Debug)]
struct NowhereToKeep;

impl NowhereToKeep {
    fn refusal() -> StoreError {
        StoreError(
            "the access token was refused and there is no token file to keep a renewed pair in \
             (renewing spends B24_REFRESH_TOKEN): set B24_TOKEN_FILE and b24 renews and keeps \
             the tokens there"
                .to_owned(),
        )
    }
}

impl TokenStore for NowhereToKeep {
    fn load(&self) -> BoxFuture<'_, Result<Option<Tokens>, StoreError>> {
        Box::pin(async { Ok(None) })
    }

    fn save<'a>(&'a self, _: &'a Tokens) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Err(Self::refusal()) })
    }

    fn lock(&self) -> BoxFuture<'_, Result<StoreGuard, StoreError>> {
        Box::pin(async { Err(Self::refusal()) })
    }
}

/// The client-side rate limit for a plan name.
pub fn rate_limit(plan: Option<&str>) -> Outcome<RateLimit> {
    match plan.unwrap_or("standard") {
        "standard" => Ok(RateLimit::STANDARD),
        "enterprise" => Ok(RateLimit::ENTERPRISE),
        "unlimited" => Ok(RateLimit::new(u32::MAX, f64::INFINITY)),
        other => Err(Failure::usage(format!(
            "unknown plan {other:?}: standard, enterprise or unlimited"
        ))),
    }
}
