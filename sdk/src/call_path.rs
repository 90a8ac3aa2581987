//! The one call path. Every typed method, the untyped escape hatch, batches and pages end in
//! [`Client::call_raw`], which does what PHP integrations do in `restCommand` + `restAuth`: POST
//! the parameters with the token, decode the envelope, and when the token has expired renew it,
//! persist it, and send again (the OAuth side lives in `session.rs`).
//!
//! The generic shells ([`Client::send`], [`Client::call`]) only serialize and decode, so each
//! method adds a few lines of machine code; the protocol is compiled once.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderValue, LOCATION};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;
use tracing::field::{Empty, display};

use crate::auth::Tokens;
use crate::client::{Auth, Encoding, Endpoint};
use crate::codec::Same;
use crate::error::{Error, ErrorCode};
use crate::retry::{self, Verdict};
use crate::session;
use crate::wire::envelope::{self, Outcome, RawResponse};
use crate::{Client, Method, RateLimiter, RetryPolicy};

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const FORM: HeaderValue = HeaderValue::from_static("application/x-www-form-urlencoded");

/// A portal's host, and its port when not the scheme's default, as call spans name it: never
/// the rest of the URL (a webhook's path is its secret).
struct PortalHost<'a>(&'a url::Url);

impl fmt::Display for PortalHost<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.host_str().unwrap_or(""))?;
        match self.0.port() {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

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
    /// The longest this call waits for its method to come out of an operating-time freeze;
    /// `None`: the client's [`RetryPolicy::max_freeze_wait`](crate::RetryPolicy). Bulk work
    /// passes zero and waits itself, reporting the wait as progress.
    pub max_freeze_wait: Option<Duration>,
}

impl CallOptions {
    /// The options generated methods declare.
    pub fn of<M: Method>() -> Self {
        Self {
            idempotent: M::IDEMPOTENT,
            rest_v3: M::REST_V3,
            max_freeze_wait: None,
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

    /// Sets how long the call may wait for its method to come out of a freeze.
    pub fn max_freeze_wait(mut self, wait: Duration) -> Self {
        self.max_freeze_wait = Some(wait);
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
    ///
    /// Each call is one `tracing` span, `call`, at INFO level: `method`, `portal` (its host),
    /// then per attempt `attempt` (1, 2, ...) and the answer's HTTP `status`, and at the end
    /// `outcome` (`ok` or `error`) and the `error` (as it displays: never a secret). Events of
    /// the call (renewals, retries, renames) happen inside it.
    pub async fn call_raw(
        &self,
        method: &str,
        params: &[u8],
        options: CallOptions,
    ) -> Result<RawResponse, Error> {
        let endpoint = self.inner.endpoint();
        let span = tracing::info_span!(
            "call",
            method,
            portal = %PortalHost(&endpoint.portal),
            attempt = Empty,
            status = Empty,
            outcome = Empty,
            error = Empty,
        );
        let result = self
            .attempts(method, params, options, endpoint, &span)
            .instrument(span.clone())
            .await;
        match &result {
            Ok(_) => span.record("outcome", "ok"),
            Err(e) => span.record("outcome", "error").record("error", display(e)),
        };
        result
    }

    /// Each turn of its loop is one attempt, then the verdict on it (`Attempts::judge`, the
    /// one place that decides whether the call is sent again), then acting on the verdict.
    /// The call's `span` is passed, not taken as the current one: when a subscriber disables
    /// it, the current span is the caller's, whose fields are not ours to set.
    async fn attempts(
        &self,
        method: &str,
        params: &[u8],
        options: CallOptions,
        mut endpoint: Arc<Endpoint>,
        span: &tracing::Span,
    ) -> Result<RawResponse, Error> {
        let inner = &self.inner;
        // REST 3.0 reads JSON only.
        let form_params = match (inner.encoding, options.rest_v3) {
            (Encoding::Form, false) => Some(form_body(method, params)?),
            _ => None,
        };
        let idempotency_key = (options.rest_v3 && !options.idempotent).then(idempotency_key);
        let mut attempts = Attempts::new(
            method,
            &inner.retry,
            options.idempotent || idempotency_key.is_some(),
            options.max_freeze_wait,
        );
        let mut attempt: u32 = 0;
        loop {
            attempt = attempt.saturating_add(1);
            span.record("attempt", attempt);
            if let Some(wait) = attempts.frozen_for(&inner.limiter)? {
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
            let url = endpoint.method_url(method, options.rest_v3);
            let key = idempotency_key.as_deref();
            let answer = self
                .attempt(method, &url, content_type, body, key, span)
                .await;
            let seen = Seen {
                endpoint: &endpoint,
                rest_v3: options.rest_v3,
                token: token.as_ref(),
                limiter: &inner.limiter,
                may_move: &|to| inner.may_move_to(to),
            };
            match attempts.judge(answer, seen) {
                Step::Done(raw) => return Ok(raw.with_decoding(inner.decoding)),
                Step::Fail(error) => {
                    // What an answer echoed of the request must not carry a credential further.
                    let code = endpoint.webhook_code().unwrap_or("");
                    return Err(error.scrubbed(&[code, access.unwrap_or("")]));
                }
                Step::Follow(renamed) => {
                    tracing::warn!(
                        from = endpoint.portal.as_str(),
                        to = renamed.portal.as_str(),
                        "the portal moved; following it"
                    );
                    endpoint = Arc::new(renamed);
                    inner.set_endpoint(endpoint.clone());
                    inner.moved_to(&endpoint.portal).await;
                }
                Step::Renew(used) => {
                    // Only OAuth calls carry a token to renew.
                    if let Auth::OAuth(session) = &inner.auth {
                        session.renew_after(&used).await?;
                    }
                }
                Step::Again(delay) => tokio::time::sleep(delay).await,
            }
        }
    }

    /// One HTTP exchange: wait for the rate limiter, POST, read and parse the answer; its HTTP
    /// status goes to the call's `span`.
    async fn attempt(
        &self,
        method: &str,
        url: &str,
        content_type: HeaderValue,
        body: Vec<u8>,
        idempotency_key: Option<&str>,
        span: &tracing::Span,
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
        span.record("status", status);
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

/// What happens after an attempt.
enum Step {
    /// The call succeeded.
    Done(RawResponse),
    /// The call failed for good.
    Fail(Error),
    /// The portal was renamed: send again to its new address.
    Follow(Endpoint),
    /// The portal refused this token: renew it (unless someone did) and send again.
    Renew(Arc<Tokens>),
    /// Send again after this pause.
    Again(Duration),
}

/// What an attempt's verdict depends on besides its answer.
struct Seen<'a> {
    /// Where the attempt went.
    endpoint: &'a Endpoint,
    rest_v3: bool,
    /// The OAuth pair it carried.
    token: Option<&'a Arc<Tokens>>,
    /// Told what the portal said about its limits.
    limiter: &'a RateLimiter,
    /// Whether the network policy lets calls follow a rename to this address.
    may_move: &'a dyn Fn(&url::Url) -> bool,
}

/// One logical call's attempts so far, and the rules for sending it again: the renewal of a
/// refused token, a portal rename, an operating-time freeze and the failures
/// [`retry::classify`] sorts out, all against one retry budget.
struct Attempts<'a> {
    method: &'a str,
    policy: &'a RetryPolicy,
    /// Sending twice does no harm (idempotent, or REST 3.0 with an `Idempotency-Key`).
    retry_safe: bool,
    /// The longest this call waits for its method's operating-time freeze to end.
    max_freeze_wait: Duration,
    retries: u32,
    redirects: u32,
    renewals: u32,
    /// The last pair this call renewed after a refusal; never renewed after twice.
    renewed_from: Option<Arc<Tokens>>,
}

impl<'a> Attempts<'a> {
    fn new(
        method: &'a str,
        policy: &'a RetryPolicy,
        retry_safe: bool,
        max_freeze_wait: Option<Duration>,
    ) -> Self {
        Self {
            method,
            policy,
            retry_safe,
            max_freeze_wait: max_freeze_wait.unwrap_or(policy.max_freeze_wait),
            retries: 0,
            redirects: 0,
            renewals: 0,
            renewed_from: None,
        }
    }

    /// How long to wait before sending, while the method is frozen; an error when longer than
    /// this call may wait.
    fn frozen_for(&self, limiter: &RateLimiter) -> Result<Option<Duration>, Error> {
        match limiter.frozen_for(self.method) {
            Some(wait) if wait > self.max_freeze_wait => {
                Err(crate::limiter::frozen_error(self.method, wait))
            }
            wait => Ok(wait),
        }
    }

    /// The verdict on one attempt.
    fn judge(&mut self, answer: Result<Answer, Error>, seen: Seen<'_>) -> Step {
        let method = self.method;
        let error = match answer {
            Ok(Answer::Envelope(Outcome::Ok(raw))) => {
                let reset_at = raw.time().and_then(|t| t.operating_reset_at);
                seen.limiter.note_reset(method, reset_at);
                return Step::Done(raw);
            }
            // A renamed portal redirects its old address; the POST is re-sent (the old address
            // did not run it) and later calls go to the new one.
            Ok(Answer::Moved(location)) => {
                match seen.endpoint.renamed(&location, method, seen.rest_v3) {
                    Some(renamed)
                        if self.redirects < MAX_REDIRECTS && (seen.may_move)(&renamed.portal) =>
                    {
                        self.redirects += 1;
                        return Step::Follow(renamed);
                    }
                    _ => Error::Http {
                        method: method.to_owned(),
                        status: 302,
                        body_start: "a redirect that is not a portal rename was not followed"
                            .to_owned(),
                    },
                }
            }
            Ok(Answer::Envelope(Outcome::Err(e))) => match e.code {
                ErrorCode::ExpiredToken | ErrorCode::InvalidToken => {
                    if let Some(used) = seen.token
                        && self.may_renew(used)
                    {
                        return Step::Renew(used.clone());
                    }
                    Error::Api(e)
                }
                ErrorCode::QueryLimitExceeded => {
                    seen.limiter.saturate();
                    Error::Api(e)
                }
                ErrorCode::OperationTimeLimit => {
                    // Sent again once the freeze ends (the wait happens before sending).
                    let wait = seen.limiter.freeze(method);
                    if wait <= self.max_freeze_wait && self.spend_retry() {
                        return Step::Again(Duration::ZERO);
                    }
                    Error::Api(e)
                }
                _ => Error::Api(e),
            },
            Err(e) => e,
        };
        let verdict = retry::classify(&error);
        let may_retry = match verdict {
            Verdict::Retry => true,
            Verdict::RetryIfIdempotent => self.retry_safe,
            Verdict::Fail => false,
        };
        if may_retry && self.spend_retry() {
            let delay = self.policy.backoff(self.retries);
            tracing::debug!(
                method,
                retries = self.retries,
                ?delay,
                "retrying after: {error}"
            );
            return Step::Again(delay);
        }
        // The portal may have run the call and nobody knows: say so instead of guessing.
        if verdict == Verdict::RetryIfIdempotent
            && !self.retry_safe
            && !matches!(error, Error::Api(_))
        {
            return Step::Fail(Error::OutcomeUnknown {
                method: method.to_owned(),
                source: Box::new(error),
            });
        }
        Step::Fail(error)
    }

    /// Takes one retry from the budget, if any is left.
    fn spend_retry(&mut self) -> bool {
        let left = self.retries < self.policy.max_retries;
        self.retries += u32::from(left);
        left
    }

    /// Whether a refusal of `used` may be answered by renewing it: once per pair, the first
    /// renewal free (as PHP's `restCommand` renews and retries once), the others from the retry
    /// budget. A portal that refuses every new pair thus costs at most `1 + max_retries`
    /// renewals, never a loop.
    fn may_renew(&mut self, used: &Arc<Tokens>) -> bool {
        let again = self
            .renewed_from
            .as_ref()
            .is_some_and(|from| session::same(from, used));
        if again || (self.renewals > 0 && !self.spend_retry()) {
            return false;
        }
        self.renewals += 1;
        self.renewed_from = Some(used.clone());
        true
    }
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
