//! The one call path. Every typed method, the untyped escape hatch and (later) batches and pages
//! end in [`Client::call_raw`], which does what PHP integrations do in `restCommand` +
//! `restAuth`: POST the parameters with the token, decode the envelope, and when the token has
//! expired renew it once, persist it, and retry once.
//!
//! The generic shells ([`Client::send`], [`Client::call`]) only serialize and decode, so each
//! method adds a few lines of machine code; the protocol is compiled once.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderValue, LOCATION};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::auth::{self, Tokens};
use crate::client::{Auth, Encoding, OAuthSession};
use crate::codec::Same;
use crate::error::{ApiError, Error, ErrorCode};
use crate::retry::{self, Verdict};
use crate::wire::envelope::{self, Outcome, RawResponse};
use crate::{Client, Method};

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const FORM: HeaderValue = HeaderValue::from_static("application/x-www-form-urlencoded");

/// How [`Client::call_raw`] may treat a call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallOptions {
    /// Sending the call twice has the effect of sending it once: it may be retried after a
    /// failure that happened once the portal may have executed it.
    pub idempotent: bool,
    /// A REST 3.0 method: called under `/rest/api/`, JSON only; non-idempotent calls carry an
    /// `Idempotency-Key`, which makes them safe to retry too.
    pub rest_v3: bool,
}

impl CallOptions {
    /// The options generated methods declare.
    pub fn of<M: Method>() -> Self {
        Self {
            idempotent: M::IDEMPOTENT,
            rest_v3: M::REST_V3,
        }
    }

    /// Marks the call idempotent.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    /// Marks the call as REST 3.0.
    pub fn rest_v3(mut self, rest_v3: bool) -> Self {
        self.rest_v3 = rest_v3;
        self
    }
}

impl Client {
    /// Sends a typed request and decodes its result. Generated methods and
    /// [`crate::Request`] end here.
    pub async fn send<M: Method>(&self, params: &M) -> Result<M::Output, Error> {
        let params = encode_params(M::NAME, params)?;
        let response = self
            .call_raw(M::NAME, &params, CallOptions::of::<M>())
            .await?;
        response.decode::<M::Output, M::OutputCodec>(M::NAME)
    }

    /// Calls any method, including ones the schema does not know, with any serializable
    /// parameters (a struct, a map, `serde_json::json!({..})`, or `()` for none), and decodes
    /// `result` into `R` (`serde_json::Value` to look at it first). The call counts as not
    /// idempotent; use [`Client::call_with`] to say otherwise.
    ///
    /// ```no_run
    /// # async fn run(client: bitrix24::Client) -> Result<(), bitrix24::Error> {
    /// use serde_json::{Value, json};
    /// let fields: Value = client.call("crm.deal.userfield.list", &json!({"order": {"SORT": "ASC"}})).await?;
    /// # Ok(()) }
    /// ```
    pub async fn call<R: DeserializeOwned>(
        &self,
        method: &str,
        params: &(impl Serialize + ?Sized),
    ) -> Result<R, Error> {
        self.call_with(method, params, CallOptions::default()).await
    }

    /// [`Client::call`] with explicit [`CallOptions`].
    pub async fn call_with<R: DeserializeOwned>(
        &self,
        method: &str,
        params: &(impl Serialize + ?Sized),
        options: CallOptions,
    ) -> Result<R, Error> {
        let params = encode_params(method, params)?;
        let response = self.call_raw(method, &params, options).await?;
        response.decode::<R, Same>(method)
    }

    /// The non-generic core: sends `params` (a JSON object) to `method` and returns the
    /// successful envelope, or the error it amounts to, after the retries the
    /// [`RetryPolicy`](crate::RetryPolicy) and the failure allow.
    pub async fn call_raw(
        &self,
        method: &str,
        params: &[u8],
        options: CallOptions,
    ) -> Result<RawResponse, Error> {
        let inner = &self.inner;
        let mut url = inner.endpoint().method_url(method, options.rest_v3);
        let mut redirects = 0;
        // REST 3.0 reads JSON only.
        let form_params = match (inner.encoding, options.rest_v3) {
            (Encoding::Form, false) => Some(form_body(method, params)?),
            _ => None,
        };
        let idempotency_key = (options.rest_v3 && !options.idempotent).then(idempotency_key);
        let retry_safe = options.idempotent || idempotency_key.is_some();
        let policy = &inner.retry;
        let mut renewed = false;
        let mut retries = 0;
        loop {
            if let Some(wait) = inner.limiter.frozen_for(method) {
                if wait > policy.max_freeze_wait {
                    return Err(frozen(method, wait));
                }
                tracing::debug!(method, ?wait, "method frozen by its operating-time limit");
                tokio::time::sleep(wait).await;
            }
            let token = match &inner.auth {
                Auth::Webhook => None,
                Auth::OAuth(session) => Some(session.tokens().await?),
            };
            let access = token.as_ref().map(|t| t.access_token.expose());
            let (content_type, body) = match &form_params {
                None => (JSON, json_body(params, access)),
                Some(form) => (FORM, prefix_form(form, access)),
            };
            let attempt =
                self.attempt(method, &url, content_type, body, idempotency_key.as_deref());
            let error = match attempt.await {
                Ok(Answer::Moved(location)) => {
                    // A renamed portal redirects its old address; the POST is re-sent (the old
                    // address did not run it) and later calls go to the new one.
                    let endpoint = inner.endpoint();
                    match endpoint.renamed(&location, method, options.rest_v3) {
                        Some(renamed)
                            if redirects < MAX_REDIRECTS && inner.may_move_to(&renamed.portal) =>
                        {
                            redirects += 1;
                            tracing::warn!(
                                from = endpoint.portal.as_str(),
                                to = renamed.portal.as_str(),
                                "the portal moved; following it"
                            );
                            url = renamed.method_url(method, options.rest_v3);
                            let portal = renamed.portal.clone();
                            inner.set_endpoint(renamed);
                            inner.moved_to(&portal).await;
                            continue;
                        }
                        _ => Error::Http {
                            method: method.to_owned(),
                            status: 302,
                            body_start: "a redirect that is not a portal rename was not followed"
                                .to_owned(),
                        },
                    }
                }
                Ok(Answer::Envelope(Outcome::Ok(raw))) => {
                    inner
                        .limiter
                        .note_reset(method, raw.time().and_then(|t| t.operating_reset_at));
                    return Ok(raw);
                }
                Ok(Answer::Envelope(Outcome::Err(e))) => {
                    let expired =
                        matches!(e.code, ErrorCode::ExpiredToken | ErrorCode::InvalidToken);
                    match (&inner.auth, &token) {
                        (Auth::OAuth(session), Some(used)) if expired && !renewed => {
                            renewed = true;
                            session.renew_after(&inner.http, used).await?;
                            continue;
                        }
                        _ => {}
                    }
                    match e.code {
                        ErrorCode::QueryLimitExceeded => inner.limiter.saturate(),
                        ErrorCode::OperationTimeLimit => {
                            let wait = inner.limiter.freeze(method);
                            if wait <= policy.max_freeze_wait && retries < policy.max_retries {
                                retries += 1;
                                continue;
                            }
                        }
                        _ => {}
                    }
                    Error::Api(e)
                }
                Err(e) => e,
            };
            // What an answer echoed of the request must not carry a credential further.
            let endpoint = inner.endpoint();
            let code = endpoint.webhook_code().unwrap_or("");
            let error = error.scrubbed(&[code, access.unwrap_or("")]);
            let verdict = retry::classify(&error);
            let may_retry = match verdict {
                Verdict::Retry => true,
                Verdict::RetryIfIdempotent => retry_safe,
                Verdict::Fail => false,
            };
            if may_retry && retries < policy.max_retries {
                retries += 1;
                let delay = policy.backoff(retries);
                tracing::debug!(method, retries, ?delay, "retrying after: {error}");
                tokio::time::sleep(delay).await;
                continue;
            }
            // The portal may have run the call and nobody knows: say so instead of guessing.
            if verdict == Verdict::RetryIfIdempotent
                && !retry_safe
                && !matches!(error, Error::Api(_))
            {
                return Err(Error::OutcomeUnknown {
                    method: method.to_owned(),
                    source: Box::new(error),
                });
            }
            return Err(error);
        }
    }

    /// One HTTP exchange: wait for the rate limiter, POST, read and parse the answer.
    async fn attempt(
        &self,
        method: &str,
        url: &str,
        content_type: HeaderValue,
        body: Vec<u8>,
        idempotency_key: Option<&str>,
    ) -> Result<Answer, Error> {
        let inner = &self.inner;
        inner.limiter.acquire().await;
        tracing::debug!(method, bytes = body.len(), "calling");
        let mut request = inner
            .http
            .post(url)
            .header(CONTENT_TYPE, content_type)
            .body(body);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Error::transport(method, e))?;
        let status = response.status().as_u16();
        if matches!(status, 301 | 302 | 307 | 308) {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok());
            if let Some(location) = location {
                return Ok(Answer::Moved(location.to_owned()));
            }
        }
        let text = read_body(method, response, inner.max_response_bytes).await?;
        let outcome = envelope::parse(method, status, text)?;
        if let Outcome::Err(e) = &outcome {
            tracing::debug!(method, status, code = %e.code, "error answer");
        }
        Ok(Answer::Envelope(outcome))
    }
}

/// What one HTTP exchange brought back.
enum Answer {
    Envelope(Outcome),
    /// A redirect, with its `Location`.
    Moved(String),
}

/// Renames followed within one call; more means a redirect loop.
const MAX_REDIRECTS: u32 = 3;

/// The error for a call that would wait longer than allowed for its frozen method.
fn frozen(method: &str, wait: Duration) -> Error {
    Error::Api(ApiError {
        method: method.to_owned(),
        code: ErrorCode::OperationTimeLimit,
        description: format!(
            "method is frozen by its operating-time limit for another {}s",
            wait.as_secs()
        ),
        status: 429,
    })
}

/// A fresh `Idempotency-Key`: 128 random bits in hex, unique per logical call and reused by its
/// retries, so the portal runs the call at most once.
fn idempotency_key() -> String {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let (a, b) = (RandomState::new(), RandomState::new());
    format!(
        "{:016x}{:016x}",
        a.hash_one(n),
        b.hash_one((n, std::process::id()))
    )
}

impl OAuthSession {
    /// The tokens to call with: the ones in use, else the stored ones, else the initial ones.
    async fn tokens(&self) -> Result<Arc<Tokens>, Error> {
        if let Some(tokens) = self.current() {
            return Ok(tokens);
        }
        let _guard = self.refresh_lock.lock().await;
        if let Some(tokens) = self.current() {
            return Ok(tokens);
        }
        let tokens = match self.store.load().await? {
            Some(stored) => stored,
            None => self.initial.clone().ok_or_else(|| {
                Error::Config("OAuth: the token store is empty and no tokens were given".to_owned())
            })?,
        };
        Ok(self.set_current(tokens))
    }

    fn current(&self) -> Option<Arc<Tokens>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_current(&self, tokens: Tokens) -> Arc<Tokens> {
        let tokens = Arc::new(tokens);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(tokens.clone());
        tokens
    }

    /// Renews the tokens after `used` was refused, unless someone already did: concurrent
    /// callers queue on the in-process lock and find new tokens in place, other processes
    /// sharing the store queue on its lock and find them in the store, so N expired calls cost
    /// one refresh. The new pair is saved before any call uses it (see [`crate::TokenStore`]).
    async fn renew_after(&self, http: &reqwest::Client, used: &Tokens) -> Result<(), Error> {
        let _in_process = self.refresh_lock.lock().await;
        let current = self
            .current()
            .ok_or_else(|| Error::Config("OAuth: no tokens".to_owned()))?;
        if current.access_token != used.access_token {
            return Ok(());
        }
        let _across_processes = self.store.lock().await?;
        let stored = self.store.load().await?;
        if let Some(stored) = &stored
            && stored.access_token != used.access_token
        {
            self.set_current(stored.clone());
            return Ok(());
        }
        let refresh_token = stored
            .as_ref()
            .map_or(&current.refresh_token, |s| &s.refresh_token);
        let mut renewed = auth::refresh(http, &self.app, refresh_token).await?;
        if renewed.member_id.is_none() {
            renewed.member_id.clone_from(&current.member_id);
        }
        self.store.save(&renewed).await?;
        self.set_current(renewed);
        tracing::info!("OAuth token renewed");
        Ok(())
    }

    /// Replaces the tokens in use and in the store, e.g. with the fresh pair an event brought.
    pub(crate) async fn adopt(&self, tokens: Tokens) -> Result<(), Error> {
        let _in_process = self.refresh_lock.lock().await;
        let _across_processes = self.store.lock().await?;
        self.store.save(&tokens).await?;
        self.set_current(tokens);
        Ok(())
    }
}

impl Client {
    /// Starts using `tokens` (and stores them), e.g. the pair Bitrix24 sends with every event
    /// and every opening of the application; this also recovers a store whose refresh token was
    /// used up by a renewal that did not get saved. Webhook clients have no tokens: an error.
    pub async fn adopt_tokens(&self, tokens: Tokens) -> Result<(), Error> {
        match &self.inner.auth {
            Auth::OAuth(session) => session.adopt(tokens).await,
            Auth::Webhook => Err(Error::Config(
                "a webhook client has no OAuth tokens".to_owned(),
            )),
        }
    }
}

/// Serializes parameters to a JSON object; `()` means no parameters.
fn encode_params(method: &str, params: &(impl Serialize + ?Sized)) -> Result<Vec<u8>, Error> {
    let encoded = serde_json::to_vec(params).map_err(|e| Error::encode(method, e))?;
    match encoded.first() {
        Some(b'{') => Ok(encoded),
        _ if encoded == b"null" => Ok(b"{}".to_vec()),
        _ => Err(Error::encode(
            method,
            "parameters must serialize to a map (a struct, a map or json!({..}))",
        )),
    }
}

/// `{"a":1}` + token -> `{"auth":"<token>","a":1}`: the token is spliced in per attempt, so the
/// parameters are serialized once even when a renewal makes us send twice.
fn json_body(params: &[u8], access_token: Option<&str>) -> Vec<u8> {
    let Some(token) = access_token else {
        return params.to_vec();
    };
    let rest = &params[1..]; // `params` starts with `{` (checked by `encode_params`).
    let mut body = Vec::with_capacity(params.len() + token.len() + 12);
    body.extend_from_slice(b"{\"auth\":");
    // A string always serializes.
    serde_json::to_writer(&mut body, token).expect("string serializes");
    if rest.iter().any(|b| !b.is_ascii_whitespace() && *b != b'}') {
        body.push(b',');
    }
    body.extend_from_slice(rest);
    body
}

fn form_body(method: &str, params: &[u8]) -> Result<String, Error> {
    let value: serde_json::Value =
        serde_json::from_slice(params).map_err(|e| Error::encode(method, e))?;
    Ok(crate::wire::php::encode(&value))
}

fn prefix_form(form: &str, access_token: Option<&str>) -> Vec<u8> {
    let Some(token) = access_token else {
        return form.as_bytes().to_vec();
    };
    let mut body = String::with_capacity(form.len() + token.len() + 6);
    body.push_str("auth=");
    crate::wire::php::push_urlencoded(&mut body, token);
    if !form.is_empty() {
        body.push('&');
        body.push_str(form);
    }
    body.into_bytes()
}

/// Reads a body up to `limit` bytes; a larger one is abandoned rather than buffered.
pub(crate) async fn read_body(
    method: &str,
    mut response: reqwest::Response,
    limit: usize,
) -> Result<String, Error> {
    let too_large = || Error::TooLarge {
        method: method.to_owned(),
        limit,
    };
    let declared = response.content_length().unwrap_or(0);
    if declared > limit as u64 {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(declared as usize);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Error::transport(method, e))?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|e| {
        let status = response.status().as_u16();
        let lossy = String::from_utf8_lossy(e.as_bytes());
        Error::Decode {
            method: method.to_owned(),
            status,
            message: "body is not UTF-8".to_owned(),
            body_start: envelope::body_start(&lossy),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_spliced_into_json_objects() {
        assert_eq!(
            json_body(b"{\"a\":1}", Some("t")),
            b"{\"auth\":\"t\",\"a\":1}"
        );
        assert_eq!(json_body(b"{}", Some("t")), b"{\"auth\":\"t\"}");
        assert_eq!(json_body(b"{}", None), b"{}");
        let body = json_body(b"{\"a\":[1,{\"b\":2}]}", Some("t\"x"));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["auth"], "t\"x");
        assert_eq!(v["a"][1]["b"], 2);
    }

    #[test]
    fn params_must_be_a_map() {
        assert_eq!(encode_params("m", &()).unwrap(), b"{}");
        assert!(
            encode_params("m", &[1, 2])
                .unwrap_err()
                .to_string()
                .contains("must serialize to a map")
        );
    }
}
