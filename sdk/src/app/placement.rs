//! The application's pages and widgets: what a portal POSTs when a user opens one, verified
//! against the installation, with a client that acts as that user.
//!
//! A user opening the application's page or one of its widgets (a tab in a CRM card, a chat
//! menu item, ...) makes the portal load the handler URL in a frame with a form POST: the portal
//! address and language in the query string, and in the body the user's token pair, the
//! installation's `member_id` and `APPLICATION_TOKEN`, the placement code and its context
//! (`PLACEMENT_OPTIONS`, a JSON string). [`App::open`] accepts it only if
//!
//! - `member_id` names an installation ([`EventError::UnknownPortal`] otherwise);
//! - `APPLICATION_TOKEN` equals, compared in constant time, the one stored when the portal
//!   installed the application ([`EventError::MissingToken`], [`EventError::Forged`]);
//! - every `DOMAIN` it carries is that installation's portal ([`EventError::WrongDomain`]).
//!
//! None of these checks calls anywhere. The user's tokens are not checked here (the portal checks
//! them when the client first uses them) and never decide where calls go: the client talks to the
//! address stored at installation and renews at the configured OAuth server, sharing the portal's
//! rate limiter with the application's own client. `PROTOCOL` is ignored for the same reason.

use serde_json::{Map, Value};

use super::{App, host_port, store_error, verified_token};
use crate::events::EventError;
use crate::{Client, Secret, Tokens};

mod options;
use options::text;
pub use options::{CallCard, CrmEntity, PlacementOptions};

#[cfg(feature = "axum")]
pub mod axum;

/// A verified opening of a placement.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Placement {
    /// The placement code: `CRM_DEAL_DETAIL_TAB`, ..., `DEFAULT` for the application's own page.
    pub code: String,
    /// The context, typed where the docs describe it.
    pub options: PlacementOptions,
    /// `PLACEMENT_OPTIONS` as sent (without `URI`); empty when absent or not a JSON object.
    pub raw_options: Map<String, Value>,
    /// `URI` of `PLACEMENT_OPTIONS`: the portal page the widget was opened from, when the
    /// browser told.
    pub uri: Option<String>,
    /// The portal's installation id.
    pub member_id: String,
    /// `LANG`: the user's interface language.
    pub lang: Option<String>,
    /// `APP_SID`: the portal's id of this frame session (new for every opening).
    pub app_sid: Option<String>,
    /// `status`: how the application is installed (`L` local, `F` free, `D` demo, `T` trial,
    /// `P` paid).
    pub status: Option<String>,
    /// `APPLICATION_SCOPE`: the scopes the application was granted.
    pub scope: Vec<String>,
}

/// A verified placement and a client acting as the user who opened it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Opened {
    /// What was opened, where.
    pub placement: Placement,
    /// Calls as the user, with the user's rights, on the installation's portal. Its tokens live
    /// in memory only: they are the user's, not the installation's.
    pub client: Client,
}

impl App {
    /// Parses and verifies the form POST of a placement (see the [module
    /// documentation](self)): `query` is the handler URL's query string (without `?`), `body`
    /// the form body. Nothing is called for a request that fails verification.
    pub async fn open(&self, query: Option<&str>, body: &[u8]) -> Result<Opened, EventError> {
        let limits = &self.inner.config.limits;
        if body.len() > limits.max_bytes {
            return Err(EventError::TooLarge {
                size: body.len(),
                limit: limits.max_bytes,
            });
        }
        let body = std::str::from_utf8(body).map_err(|_| EventError::NotText)?;
        let form = form_map(crate::wire::php::decode_with(body, &limits.form)?);
        let query = form_map(crate::wire::php::decode_with(
            query.unwrap_or_default(),
            &limits.form,
        )?);
        let field = |key: &str| text(&form, key).or_else(|| text(&query, key));
        let code = field("PLACEMENT").unwrap_or_else(|| "DEFAULT".to_owned());
        let member_id = field("member_id").ok_or_else(|| EventError::UnknownPortal {
            event: code.clone(),
        })?;
        let token = field("APPLICATION_TOKEN").ok_or_else(|| EventError::MissingToken {
            event: code.clone(),
        })?;
        let stored = self
            .installations()
            .get(&member_id)
            .await
            .map_err(store_error)?;
        let installation = verified_token(&code, &Secret::from(token), stored)?;
        let domains = [text(&form, "DOMAIN"), text(&query, "DOMAIN")];
        if domains
            .iter()
            .flatten()
            .any(|d| !d.eq_ignore_ascii_case(&host_port(&installation.portal)))
        {
            return Err(EventError::WrongDomain { event: code });
        }
        let user = user_tokens(&form, &member_id).ok_or(EventError::NotAnEvent(
            "a placement request needs AUTH_ID and REFRESH_ID",
        ))?;
        let shared = self.client(&member_id).await?;
        let client = Client::builder()
            .portal(installation.portal.as_str())
            .oauth(self.inner.config.oauth.clone(), user)
            .http_client(self.inner.http.clone())
            .rate_limiter(shared.rate_limiter().clone())
            .build()
            .map_err(|e| EventError::Store(e.to_string()))?;
        let mut raw_options = match field("PLACEMENT_OPTIONS") {
            Some(json) => match serde_json::from_str(&json) {
                Ok(Value::Object(map)) => map,
                _ => Map::new(),
            },
            None => Map::new(),
        };
        let uri = match raw_options.remove("URI") {
            Some(Value::String(uri)) => Some(uri),
            _ => None,
        };
        let placement = Placement {
            options: PlacementOptions::read(&code, &raw_options),
            code,
            raw_options,
            uri,
            member_id,
            lang: field("LANG"),
            app_sid: field("APP_SID"),
            status: field("status"),
            scope: field("APPLICATION_SCOPE")
                .map(|s| s.split(',').map(|s| s.trim().to_owned()).collect())
                .unwrap_or_default(),
        };
        Ok(Opened { placement, client })
    }
}

/// The user's pair: `AUTH_ID`, `REFRESH_ID`, and `AUTH_EXPIRES` seconds from now.
fn user_tokens(form: &Map<String, Value>, member_id: &str) -> Option<Tokens> {
    let mut tokens = Tokens::new(text(form, "AUTH_ID")?, text(form, "REFRESH_ID")?);
    tokens.expires_at = text(form, "AUTH_EXPIRES")
        .and_then(|s| s.parse::<u32>().ok())
        .and_then(|secs| chrono::Utc::now().timestamp().checked_add(i64::from(secs)));
    tokens.member_id = Some(member_id.to_owned());
    Some(tokens)
}

fn form_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
