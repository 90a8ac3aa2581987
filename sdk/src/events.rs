//! Inbound events: what a portal POSTs to a handler URL, parsed and checked before anyone acts on
//! it.
//!
//! A portal sends events as `application/x-www-form-urlencoded` with PHP bracket keys
//! (`data[PARAMS][MESSAGE]=Hello&auth[application_token]=...`, every scalar a string); some
//! senders use JSON. [`Event::parse`] reads either, within size limits, into the common shape:
//! the event name, `data`, `ts`, and `auth` (the portal's address and member id, a fresh token
//! pair, and the application token). Nothing in an event is trusted yet: anyone who can reach
//! the handler can send one. [`crate::app::App`] checks it against what the installation stored.
//!
//! Applications without a public URL take the same events from the portal's queue instead:
//! see `offline` (feature `basic`).

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::wire::php::{FormError, FormLimits};
use crate::{Secret, Tokens};

#[cfg(feature = "basic")]
pub mod offline;

/// Size limits for event bodies, which are read before anything about them is verified.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EventLimits {
    /// Largest body accepted, in bytes.
    pub max_bytes: usize,
    /// What a body may build: pairs, nesting and values of a form body; nesting and values of a
    /// JSON one too.
    pub form: FormLimits,
}

impl Default for EventLimits {
    /// 1 MiB: real events are a few KiB; a message with a long text and attachments stays far
    /// below. The structure budget is [`FormLimits::untrusted`], so that any body within the
    /// size limit parses in a few MiB of memory (`sdk/tests/event_memory.rs` measures it).
    fn default() -> Self {
        Self {
            max_bytes: 1024 * 1024,
            form: FormLimits::untrusted(),
        }
    }
}

/// Why an inbound request is not an acceptable event. Messages name fields, never values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The body is larger than [`EventLimits::max_bytes`].
    #[error("event body of {size} bytes exceeds the {limit} byte limit")]
    TooLarge {
        /// Body size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The form body is malformed.
    #[error("malformed form body: {0}")]
    Form(#[from] FormError),
    /// The JSON body is malformed.
    #[error("malformed JSON body: {0}")]
    Json(String),
    /// The body is not UTF-8 text.
    #[error("event body is not UTF-8")]
    NotText,
    /// A required member is missing or has the wrong shape.
    #[error("not an event: {0}")]
    NotAnEvent(&'static str),
    /// `data` does not have the shape the caller asked for.
    #[error("event {event}: data: {message}")]
    Data {
        /// The event name.
        event: String,
        /// What did not fit.
        message: String,
    },
    /// The event carries no `auth[application_token]`.
    #[error("event {event} carries no application token")]
    MissingToken {
        /// The event name.
        event: String,
    },
    /// The application token does not match the one stored for this portal: a forgery, or an
    /// event for another application.
    #[error("event {event}: application token does not match the installation")]
    Forged {
        /// The event name.
        event: String,
    },
    /// The event names a portal this application is not installed on.
    #[error("event {event} from a portal this application is not installed on")]
    UnknownPortal {
        /// The event name.
        event: String,
    },
    /// The event's `domain` differs from the installation's portal address.
    #[error("event {event}: domain does not match the installation")]
    WrongDomain {
        /// The event name.
        event: String,
    },
    /// The event's `ts` is outside the configured freshness window (a replay, or a clock far off).
    #[error("event {event} is {age_secs} s old, outside the freshness window")]
    Stale {
        /// The event name.
        event: String,
        /// Age in seconds (negative: from the future).
        age_secs: i64,
    },
    /// An installation the policy does not allow.
    #[error("installation refused: {0}")]
    InstallRefused(String),
    /// The OAuth server did not vouch for an install event: its tokens are not the portal's it
    /// names (a forged install), or are spent (a replayed one).
    #[error("installation not confirmed by the OAuth server: {0}")]
    Unverified(String),
    /// An install or uninstall event older than the stored installation: a replay.
    #[error("event {event} is older than the installation it would change")]
    Replayed {
        /// The event name.
        event: String,
    },
    /// Install events arrive faster than the verification budget allows; try again later.
    #[error("too many installations to verify at once")]
    Busy,
    /// Storing or loading an installation failed.
    #[error("installation store: {0}")]
    Store(String),
}

impl EventError {
    /// The HTTP status to answer the sender with: 400 malformed, 401 no application token,
    /// 403 forged or not allowed, 413 too large, 500 our own failure, 503 too busy to verify an
    /// install now.
    pub fn status(&self) -> u16 {
        match self {
            Self::TooLarge { .. } => 413,
            Self::MissingToken { .. } => 401,
            Self::Forged { .. }
            | Self::UnknownPortal { .. }
            | Self::WrongDomain { .. }
            | Self::Stale { .. }
            | Self::Replayed { .. }
            | Self::Unverified(_)
            | Self::InstallRefused(_) => 403,
            Self::Busy => 503,
            Self::Store(_) => 500,
            _ => 400,
        }
    }
}

/// The `auth` part of an event: who sent it and a token pair acting for the user who caused it.
#[derive(Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct EventAuth {
    /// Portal host as the event claims it (`example.bitrix24.com`).
    pub domain: Option<String>,
    /// The portal's installation id for this application.
    pub member_id: Option<String>,
    /// Proves the event comes from the portal the application is installed on.
    pub application_token: Option<Secret>,
    /// A fresh access token acting for `user_id`.
    pub access_token: Option<Secret>,
    /// Its refresh token.
    pub refresh_token: Option<Secret>,
    /// Unix time the access token expires.
    pub expires: Option<i64>,
    /// Seconds the access token lives.
    pub expires_in: Option<i64>,
    /// Granted scopes, comma-separated.
    pub scope: Option<String>,
    /// The portal's REST address as the event claims it. Never used to route calls.
    pub client_endpoint: Option<String>,
    /// The OAuth server's REST address as the event claims it. Never used to route calls.
    pub server_endpoint: Option<String>,
    /// The user the tokens act for.
    pub user_id: Option<i64>,
    /// Application status (`F` free, `P` paid, `L` local, ...).
    pub status: Option<String>,
}

impl fmt::Debug for EventAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventAuth")
            .field("domain", &self.domain)
            .field("member_id", &self.member_id)
            .field("application_token", &self.application_token)
            .field("access_token", &self.access_token)
            .field("refresh_token", &self.refresh_token)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// An event as a portal sent it, not yet verified. `Debug` hides the tokens inside `data` too
/// (bot events carry a token pair for the bot under `data[BOT]`).
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct Event {
    /// Upper-case event name: `ONIMBOTMESSAGEADD`.
    pub name: String,
    /// The id of the subscription (`event.bind`) that delivered it.
    pub handler_id: Option<i64>,
    /// Unix time the portal sent it.
    pub ts: Option<i64>,
    /// The event's payload; every scalar is a string in form-encoded events.
    pub data: Value,
    /// Sender and tokens.
    pub auth: EventAuth,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("name", &self.name)
            .field("handler_id", &self.handler_id)
            .field("ts", &self.ts)
            .field("data", &redacted(&self.data))
            .field("auth", &self.auth)
            .finish()
    }
}

/// `value` with every member whose name mentions a token (`access_token`, `refresh_token`,
/// `application_token`, `botToken`, ...) replaced by `***`, for `Debug` output.
pub(crate) fn redacted(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let secret = k.to_ascii_lowercase().contains("token") && !v.is_object();
                    let v = if secret {
                        Value::String("***".to_owned())
                    } else {
                        redacted(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        other => other.clone(),
    }
}

impl Event {
    /// Parses a body with default limits. `content_type` decides between JSON and form (the
    /// default).
    pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<Self, EventError> {
        Self::parse_with(body, content_type, &EventLimits::default())
    }

    /// Parses a body with `limits`.
    pub fn parse_with(
        body: &[u8],
        content_type: Option<&str>,
        limits: &EventLimits,
    ) -> Result<Self, EventError> {
        if body.len() > limits.max_bytes {
            return Err(EventError::TooLarge {
                size: body.len(),
                limit: limits.max_bytes,
            });
        }
        let is_json =
            content_type.is_some_and(|ct| ct.trim_start().starts_with("application/json"));
        let value = if is_json {
            json_within(body, &limits.form)?
        } else {
            let text = std::str::from_utf8(body).map_err(|_| EventError::NotText)?;
            crate::wire::php::decode_with(text, &limits.form)?
        };
        Self::from_value(value)
    }

    /// Builds an event from its JSON form (the shape `event`, `data`, `ts`, `auth`).
    pub fn from_value(value: Value) -> Result<Self, EventError> {
        let Value::Object(mut body) = value else {
            return Err(EventError::NotAnEvent("the body is not a map"));
        };
        let name = match body.remove("event") {
            Some(Value::String(name)) if !name.trim().is_empty() => {
                name.trim().to_ascii_uppercase()
            }
            _ => return Err(EventError::NotAnEvent("`event` is missing")),
        };
        let auth = match body.remove("auth") {
            Some(Value::Object(auth)) => parse_auth(&auth),
            None => EventAuth::default(),
            Some(_) => return Err(EventError::NotAnEvent("`auth` is not a map")),
        };
        Ok(Self {
            name,
            handler_id: body.get("event_handler_id").and_then(int),
            ts: body.get("ts").and_then(int),
            data: body.remove("data").unwrap_or(Value::Null),
            auth,
        })
    }

    /// `data` decoded as `T` (every scalar of a form-encoded event is a string: use the lenient
    /// [`crate::codec`] types, as generated event types do).
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T, EventError> {
        T::deserialize(&self.data).map_err(|e| EventError::Data {
            event: self.name.clone(),
            message: e.to_string(),
        })
    }

    /// The token pair the event brought, if it has one.
    pub fn tokens(&self) -> Option<Tokens> {
        let auth = &self.auth;
        let (access, refresh) = (auth.access_token.clone()?, auth.refresh_token.clone()?);
        let mut tokens = Tokens::new(access, refresh);
        tokens.expires_at = auth.expires;
        tokens.scope.clone_from(&auth.scope);
        tokens.member_id.clone_from(&auth.member_id);
        Some(tokens)
    }

    /// A string inside `data` by path (`["PARAMS", "DIALOG_ID"]`), numbers spelled out.
    pub fn data_str(&self, path: &[&str]) -> Option<String> {
        let mut at = &self.data;
        for key in path {
            at = at.get(key)?;
        }
        match at {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

fn parse_auth(auth: &Map<String, Value>) -> EventAuth {
    let text = |key: &str| match auth.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let secret = |key: &str| text(key).map(Secret::new);
    EventAuth {
        domain: text("domain"),
        member_id: text("member_id"),
        application_token: secret("application_token"),
        access_token: secret("access_token"),
        refresh_token: secret("refresh_token"),
        expires: auth.get("expires").and_then(int),
        expires_in: auth.get("expires_in").and_then(int),
        scope: text("scope"),
        client_endpoint: text("client_endpoint"),
        server_endpoint: text("server_endpoint"),
        user_id: auth.get("user_id").and_then(int),
        status: text("status"),
    }
}

/// A JSON body as a value, within the nesting and value budget of `limits` (the top-level
/// object is one level more than a form's top-level names): a body of a million `[]`s is
/// refused, not built.
fn json_within(body: &[u8], limits: &FormLimits) -> Result<Value, EventError> {
    use serde::de::DeserializeSeed;
    let left = std::cell::Cell::new(limits.max_nodes);
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = Budgeted {
        left: &left,
        depth: limits.max_depth.saturating_add(1),
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v))
    .map_err(|e| EventError::Json(e.to_string()))?;
    Ok(value)
}

/// Builds a JSON value while counting it against a budget of values and levels.
#[derive(Clone, Copy)]
struct Budgeted<'a> {
    left: &'a std::cell::Cell<usize>,
    /// Levels still allowed below this one.
    depth: usize,
}

impl Budgeted<'_> {
    fn take<E: serde::de::Error>(self) -> Result<(), E> {
        match self.left.get().checked_sub(1) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => Err(E::custom("the body builds too many values")),
        }
    }

    fn nested<E: serde::de::Error>(self) -> Result<Self, E> {
        self.take()?;
        let depth = self
            .depth
            .checked_sub(1)
            .ok_or_else(|| E::custom("the body is nested too deep"))?;
        Ok(Self { depth, ..self })
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Budgeted<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Budgeted<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        self.take()?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        self.take()?;
        Ok(Value::from(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        self.take()?;
        Ok(Value::from(v))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        self.take()?;
        Ok(Value::from(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        self.take()?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        self.take()?;
        Ok(Value::String(v))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        self.take()?;
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(inner)?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}

/// An integer sent as a number or as a string of digits.
pub(crate) fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/examples");

    fn example(name: &str) -> Vec<u8> {
        std::fs::read(format!("{EXAMPLES}/{name}")).unwrap()
    }

    #[test]
    fn form_and_json_forms_of_an_event_agree() {
        let form = Event::parse(
            &example("event.ONIMBOTMESSAGEADD.personal.form-urlencoded.txt"),
            None,
        )
        .unwrap();
        let json = Event::parse(
            &example("event.ONIMBOTMESSAGEADD.personal.json"),
            Some("application/json"),
        )
        .unwrap();
        assert_eq!(form.name, "ONIMBOTMESSAGEADD");
        assert_eq!(
            form.data_str(&["PARAMS", "DIALOG_ID"]).as_deref(),
            Some("27")
        );
        assert_eq!(
            json.data_str(&["PARAMS", "DIALOG_ID"]).as_deref(),
            Some("27")
        );
        assert_eq!(form.auth.member_id, json.auth.member_id);
        assert_eq!(form.ts, Some(1771928985));
        assert!(form.tokens().is_some());
        assert!(
            !format!("{form:?}").contains("831c76b092f9f135d9b66c3a720757"),
            "tokens are redacted"
        );
        // The bot's own pair inside `data[BOT]` too.
        assert!(
            !format!("{form:?}").contains("a98b9d690000071b0000084400000237f0f107589d1e"),
            "{form:?}"
        );
    }

    #[test]
    fn every_example_event_parses() {
        let mut seen = 0;
        for entry in std::fs::read_dir(EXAMPLES).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if !name.starts_with("event.") || name.ends_with(".data.json") {
                continue;
            }
            let ct = name.ends_with(".json").then_some("application/json");
            let event = Event::parse(&example(&name), ct).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(name.contains(&event.name), "{name}: {}", event.name);
            seen += 1;
        }
        assert!(seen >= 20, "{seen}");
    }

    #[test]
    fn malformed_bodies_are_typed_errors() {
        assert!(matches!(
            Event::parse(b"data[x]=1", None),
            Err(EventError::NotAnEvent(_))
        ));
        assert!(matches!(
            Event::parse(b"{", Some("application/json")),
            Err(EventError::Json(_))
        ));
        assert!(matches!(
            Event::parse(b"event=X&auth=1", None),
            Err(EventError::NotAnEvent(_))
        ));
        assert!(matches!(
            Event::parse(&[0xff, 0xfe], None),
            Err(EventError::NotText)
        ));
        let limits = EventLimits {
            max_bytes: 10,
            ..EventLimits::default()
        };
        assert!(matches!(
            Event::parse_with(b"event=ONAPPINSTALL", None, &limits),
            Err(EventError::TooLarge { .. })
        ));
        let deep = format!("event=X&{}=1", "a".to_owned() + &"[a]".repeat(100));
        assert!(matches!(
            Event::parse(deep.as_bytes(), None),
            Err(EventError::Form(_))
        ));
        // JSON within the same budget of nesting and values.
        let nested = format!(
            "{{\"event\":\"X\",\"data\":{}1{}}}",
            "[".repeat(20),
            "]".repeat(20)
        );
        assert!(matches!(
            Event::parse(nested.as_bytes(), Some("application/json")),
            Err(EventError::Json(_))
        ));
        let many = format!("{{\"event\":\"X\",\"data\":[{}0]}}", "0,".repeat(30_000));
        assert!(matches!(
            Event::parse(many.as_bytes(), Some("application/json")),
            Err(EventError::Json(_))
        ));
        let fine = format!(
            "{{\"event\":\"X\",\"data\":{}1{}}}",
            "[".repeat(10),
            "]".repeat(10)
        );
        assert!(Event::parse(fine.as_bytes(), Some("application/json")).is_ok());
    }
}
