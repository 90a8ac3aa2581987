//! Errors of the call path. Every variant names the method it belongs to; none carries a secret.

use std::fmt;
use std::sync::Arc;

/// Why a call failed. Cloning is cheap: a renewal shared by many calls fails them all with one
/// error.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The portal answered with an error envelope (`{"error": .., "error_description": ..}`).
    #[error("{0}")]
    Api(ApiError),
    /// The OAuth server refused to renew the access token; the call was not retried.
    #[error("token refresh failed: {0}")]
    Refresh(ApiError),
    /// The request did not get an answer: connection refused, timed out, reset.
    #[error("{method}: {kind}: {source}")]
    Transport {
        /// Wire name of the method.
        method: String,
        /// What went wrong, at which stage.
        kind: TransportKind,
        /// The underlying error, with any URL removed (webhook URLs carry a secret).
        #[source]
        source: Arc<reqwest::Error>,
    },
    /// The portal answered with a non-2xx status and a body that is not a Bitrix24 envelope, such
    /// as a proxy's HTML error page.
    #[error("{method}: HTTP {status}: unexpected response: {body_start:?}")]
    Http {
        /// Wire name of the method.
        method: String,
        /// HTTP status code.
        status: u16,
        /// The first bytes of the body, as text.
        body_start: String,
    },
    /// The response could not be decoded: malformed JSON, or a `result` of another shape than
    /// the schema says.
    #[error(
        "{method}: cannot decode response (HTTP {status}): {message}; body starts with {body_start:?}"
    )]
    Decode {
        /// Wire name of the method.
        method: String,
        /// HTTP status code.
        status: u16,
        /// What the decoder expected and where.
        message: String,
        /// The first bytes of the body, as text.
        body_start: String,
    },
    /// The response body exceeded the configured size limit and was not read to the end.
    #[error("{method}: response larger than the {limit} byte limit")]
    TooLarge {
        /// Wire name of the method.
        method: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The call failed in a way that leaves open whether the portal executed it (a timeout, a
    /// broken connection, a gateway error page, a cut-off answer), and it was not retried
    /// because sending it twice could do it twice. Check before repeating it.
    #[error(
        "{method}: outcome unknown, not retried because the method is not idempotent: {source}"
    )]
    OutcomeUnknown {
        /// Wire name of the method.
        method: String,
        /// What happened.
        #[source]
        source: Box<Error>,
    },
    /// A batch command that did not run: an earlier command failed and the batch halts, or the
    /// batch stopped after a failure that concerns every command (authentication).
    #[error("{method}: not executed: the batch stopped before this command")]
    NotExecuted {
        /// Wire name of the method.
        method: String,
    },
    /// The request could not be encoded.
    #[error("{method}: cannot encode parameters: {message}")]
    Encode {
        /// Wire name of the method.
        method: String,
        /// Why.
        message: String,
    },
    /// Reading or writing the token store failed.
    #[error("token store: {0}")]
    Store(#[from] crate::auth::StoreError),
    /// The client is configured in a way that cannot work.
    #[error("configuration: {0}")]
    Config(String),
    /// One failure shared by several outcomes, such as the commands of one `batch` call whose
    /// answer was lost.
    #[error(transparent)]
    Shared(std::sync::Arc<Error>),
}

/// A transport failure and whether the portal may have executed the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// The connection could not be established: the call was certainly not executed.
    Connect,
    /// No complete answer within the timeout: the call may have been executed.
    Timeout,
    /// The connection broke after the request was sent: the call may have been executed.
    Broken,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "cannot connect",
            Self::Timeout => "timed out",
            Self::Broken => "connection broken",
        })
    }
}

impl Error {
    /// The Bitrix24 error code, when the portal or OAuth server sent one.
    pub fn code(&self) -> Option<&ErrorCode> {
        self.api().map(|e| &e.code)
    }

    /// The error envelope, when the portal or the OAuth server sent one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) | Self::Refresh(e) => Some(e),
            Self::Shared(e) => e.api(),
            _ => None,
        }
    }

    /// The portal says what the call names does not exist (see [`ApiError::is_not_found`]).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Api(e) if e.is_not_found())
    }

    /// The portal refuses the call for lack of rights (see [`ApiError::is_access_denied`]).
    pub fn is_access_denied(&self) -> bool {
        matches!(self, Self::Api(e) if e.is_access_denied())
    }

    /// The portal refused the call for its request or operating-time limits; it was not
    /// executed, and waiting helps (see [`ApiError::is_rate_limited`]).
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Self::Api(e) if e.is_rate_limited())
    }

    /// The credentials do not work: the token or webhook is refused, or renewing the token
    /// failed. New credentials (a new authorization, a new webhook) help; retrying does not.
    pub fn is_auth(&self) -> bool {
        match self {
            Self::Refresh(_) => true,
            Self::Api(e) => e.is_auth(),
            _ => false,
        }
    }

    /// The access token expired (the call path renews it and retries once by itself; this
    /// error means renewing did not help).
    pub fn is_expired_token(&self) -> bool {
        matches!(self.code(), Some(ErrorCode::ExpiredToken))
    }

    /// This error with every credential in `secrets` removed from the text it kept of an answer
    /// (the start of an error page, a description): a proxy that echoes the request path echoes
    /// a webhook code, one that echoes the body echoes the access token. A kept text cut in the
    /// middle of a secret loses the cut-off start of it too.
    pub(crate) fn scrubbed(self, secrets: &[&str]) -> Self {
        match self {
            Self::Api(e) => Self::Api(e.scrubbed(secrets)),
            Self::Refresh(e) => Self::Refresh(e.scrubbed(secrets)),
            Self::Http {
                method,
                status,
                body_start,
            } => Self::Http {
                method,
                status,
                body_start: scrub(body_start, secrets),
            },
            Self::Decode {
                method,
                status,
                message,
                body_start,
            } => Self::Decode {
                method,
                status,
                message: scrub(message, secrets),
                body_start: scrub(body_start, secrets),
            },
            Self::OutcomeUnknown { method, source } => Self::OutcomeUnknown {
                method,
                source: Box::new(source.scrubbed(secrets)),
            },
            other => other,
        }
    }

    pub(crate) fn encode(method: &str, message: impl fmt::Display) -> Self {
        Self::Encode {
            method: method.to_owned(),
            message: message.to_string(),
        }
    }

    pub(crate) fn transport(method: &str, source: reqwest::Error) -> Self {
        let kind = if source.is_connect() {
            TransportKind::Connect
        } else if source.is_timeout() {
            TransportKind::Timeout
        } else {
            TransportKind::Broken
        };
        Self::Transport {
            method: method.to_owned(),
            kind,
            source: Arc::new(source.without_url()),
        }
    }
}

/// An error envelope from the portal or the OAuth server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Wire name of the method (`oauth/token` for a refresh).
    pub method: String,
    /// The Bitrix24 error code.
    pub code: ErrorCode,
    /// The human-readable description, in the portal's language.
    pub description: String,
    /// HTTP status code of the response.
    pub status: u16,
}

impl ApiError {
    fn scrubbed(mut self, secrets: &[&str]) -> Self {
        self.description = scrub(self.description, secrets);
        self
    }
}

/// What a removed secret reads as.
const SCRUBBED: &str = "***";

/// The shortest secret start at the end of a cut text that is still removed: shorter ones give
/// away too little to matter and would mask ordinary text.
const MIN_CUT_SECRET: usize = 4;

/// `text` without any of `secrets`, and without a trailing start of one (a text cut short in the
/// middle of a secret).
fn scrub(mut text: String, secrets: &[&str]) -> String {
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        if text.contains(secret) {
            text = text.replace(secret, SCRUBBED);
        }
        let cut = (MIN_CUT_SECRET..secret.len())
            .rev()
            .filter(|&n| secret.is_char_boundary(n))
            .find(|&n| text.ends_with(&secret[..n]));
        if let Some(n) = cut {
            text.truncate(text.len() - n);
            text.push_str(SCRUBBED);
        }
    }
    text
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.method, self.code, self.status)?;
        if !self.description.is_empty() {
            write!(f, ": {}", self.description)?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// How Bitrix24 says "no such thing", "not allowed" and "too fast". Classic methods often send
/// an empty code with the reason only in `error_description` (in the portal's language), so
/// for those the description decides; the phrases are the docs' own, in English and Russian.
/// `sdk/tests/error_helpers.rs` checks these rules against the docs' error tables.
impl ApiError {
    /// What the call names does not exist: `NOT_FOUND`, `ERROR_NOT_FOUND`, a domain code such
    /// as `BOT_NOT_FOUND` or `ERROR_ENTITY_NOT_FOUND`, REST 3.0's entity-not-found exception,
    /// or an empty code whose description says so (`Not found`, `Company is not found`). Not
    /// `ERROR_METHOD_NOT_FOUND` (the method itself, or its scope, is missing), nor a missing
    /// parameter or module.
    pub fn is_not_found(&self) -> bool {
        match &self.code {
            ErrorCode::Unspecified => describes_not_found(&self.description),
            ErrorCode::Other(code) => {
                code.ends_with("NOT_FOUND") || code.ends_with("NOTFOUNDEXCEPTION")
            }
            _ => false,
        }
    }

    /// The caller lacks the rights: `ACCESS_DENIED` (a plan without REST, or a method-level
    /// permission), a domain code containing `ACCESS_DENIED`, a missing scope
    /// (`insufficient_scope`, REST 3.0's scope and access exceptions), an application closed
    /// to the user (`user_access_error`), or an empty code whose description says so.
    pub fn is_access_denied(&self) -> bool {
        match &self.code {
            ErrorCode::AccessDenied | ErrorCode::InsufficientScope | ErrorCode::UserAccessError => {
                true
            }
            ErrorCode::Unspecified => describes_access_denied(&self.description),
            ErrorCode::Other(code) => {
                code.contains("ACCESS_DENIED")
                    || code.ends_with("ACCESSDENIEDEXCEPTION")
                    || code.ends_with("INSUFFICIENTSCOPEEXCEPTION")
            }
            _ => false,
        }
    }

    /// The request-rate bucket overflowed (`QUERY_LIMIT_EXCEEDED`) or the method used up its
    /// operating time (`OPERATION_TIME_LIMIT`): not executed, and it will run after a wait.
    pub fn is_rate_limited(&self) -> bool {
        matches!(
            self.code,
            ErrorCode::QueryLimitExceeded | ErrorCode::OperationTimeLimit
        )
    }

    /// The credentials are refused: no or a wrong token or webhook code, an expired or invalid
    /// token, or the OAuth server refusing the refresh token or the application.
    pub fn is_auth(&self) -> bool {
        matches!(
            self.code,
            ErrorCode::NoAuthFound
                | ErrorCode::InvalidCredentials
                | ErrorCode::ExpiredToken
                | ErrorCode::InvalidToken
                | ErrorCode::InvalidGrant
                | ErrorCode::InvalidClient
        )
    }
}

/// An empty-code description that says the thing named does not exist, as opposed to a
/// parameter, field or module that is missing.
fn describes_not_found(description: &str) -> bool {
    let text = description.to_lowercase();
    let says = ["not found", "does not exist", "не найден", "не существует"]
        .iter()
        .any(|p| text.contains(p));
    let about_the_request = ["field", "parameter", "module", "поле", "параметр", "модуль"]
        .iter()
        .any(|p| text.contains(p));
    says && !about_the_request
}

/// An empty-code description that says the caller may not do this.
fn describes_access_denied(description: &str) -> bool {
    let text = description.to_lowercase();
    [
        "access denied",
        "access rights",
        "permission",
        "доступ запрещ",
        "нет прав",
        "недостаточно прав",
    ]
    .iter()
    .any(|p| text.contains(p))
}

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $wire:literal,)*) => {
        /// A Bitrix24 error code. The system codes every method can return, the OAuth server's
        /// codes and the batch codes are variants; a method's own codes are [`ErrorCode::Other`].
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
            /// The envelope had `error: ""`: only the description says what happened
            /// (Bitrix24 does this for many validation and not-found errors).
            Unspecified,
            /// Any other code, verbatim (method-specific codes such as `MESSAGE_EMPTY`).
            Other(String),
        }

        impl ErrorCode {
            /// The code as it appears on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)*
                    Self::Unspecified => "",
                    Self::Other(code) => code,
                }
            }
        }

        impl From<&str> for ErrorCode {
            fn from(code: &str) -> Self {
                match code {
                    $($wire => Self::$variant,)*
                    "" => Self::Unspecified,
                    other => Self::Other(other.to_owned()),
                }
            }
        }
    };
}

error_codes! {
    /// 500: the portal failed internally; retry later.
    InternalServerError = "INTERNAL_SERVER_ERROR",
    /// 500: the portal's answer was unexpected; retry later.
    ErrorUnexpectedAnswer = "ERROR_UNEXPECTED_ANSWER",
    /// 503: the request-rate bucket overflowed; the call was not executed.
    QueryLimitExceeded = "QUERY_LIMIT_EXCEEDED",
    /// 429: the method used up its execution-time budget; wait for `operating_reset_at`.
    OperationTimeLimit = "OPERATION_TIME_LIMIT",
    /// 401: the request carried no token and no webhook code.
    NoAuthFound = "NO_AUTH_FOUND",
    /// 401: the portal requires HTTPS.
    InvalidRequest = "INVALID_REQUEST",
    /// 401: REST access is blocked manually; never retried.
    OverloadLimit = "OVERLOAD_LIMIT",
    /// 401 (plan without REST) or 403 (method-level permission).
    AccessDenied = "ACCESS_DENIED",
    /// 401: no active webhook with this user id and code.
    InvalidCredentials = "INVALID_CREDENTIALS",
    /// 404: no such method, or its scope is missing.
    MethodNotFound = "ERROR_METHOD_NOT_FOUND",
    /// 401: the token or webhook lacks the scope.
    InsufficientScope = "insufficient_scope",
    /// 401: the access token expired; refresh and retry.
    ExpiredToken = "expired_token",
    /// 401: the access token is not valid; refresh and retry.
    InvalidToken = "invalid_token",
    /// 401: the user has no access to the application.
    UserAccessError = "user_access_error",
    /// 403: the portal's public part is closed.
    PortalDeleted = "PORTAL_DELETED",
    /// OAuth: the refresh token (or code) is not valid, e.g. already used.
    InvalidGrant = "invalid_grant",
    /// OAuth: unknown client, or the application is not installed.
    InvalidClient = "invalid_client",
    /// OAuth: the requested scope exceeds the application's.
    InvalidScope = "invalid_scope",
    /// OAuth: the application's paid period ended.
    PaymentRequired = "PAYMENT_REQUIRED",
    /// batch: more than 50 commands.
    BatchLengthExceeded = "ERROR_BATCH_LENGTH_EXCEEDED",
    /// batch: the method cannot run inside batch.
    BatchMethodNotAllowed = "ERROR_BATCH_METHOD_NOT_ALLOWED",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unspecified => f.write_str("(no code)"),
            other => f.write_str(other.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_are_kept() {
        assert_eq!(ErrorCode::from("expired_token"), ErrorCode::ExpiredToken);
        assert_eq!(
            ErrorCode::from("QUERY_LIMIT_EXCEEDED").as_str(),
            "QUERY_LIMIT_EXCEEDED"
        );
        assert_eq!(
            ErrorCode::from("MESSAGE_EMPTY"),
            ErrorCode::Other("MESSAGE_EMPTY".into())
        );
        assert_eq!(ErrorCode::from(""), ErrorCode::Unspecified);
    }

    #[test]
    fn api_errors_read_like_the_style_guide() {
        let e = ApiError {
            method: "imbot.message.add".into(),
            code: ErrorCode::AccessDenied,
            description: "Access denied".into(),
            status: 403,
        };
        assert_eq!(
            e.to_string(),
            "imbot.message.add: ACCESS_DENIED (403): Access denied"
        );
    }
}
