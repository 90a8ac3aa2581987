//! The response envelope: `{result, time, total, next}` on success, `{error, error_description}`
//! (or REST 3.0's `{error: {code, message}}`) on failure.
//!
//! Parsing is non-generic and borrows: the envelope is scanned once, `result` is kept as a byte
//! range of the body, and the typed decode of that range happens in the small generic shell.

use std::borrow::Cow;
use std::ops::Range;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::Decoding;
use crate::codec::{As, Float, Int};
use crate::error::{ApiError, Error, ErrorCode};

/// How many bytes of an undecodable body an error keeps.
const BODY_START: usize = 200;

/// The `time` block of a response: server-side timing and the method's operating-time budget.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct Time {
    /// Unix time the portal started processing, with fractions.
    #[serde(default, with = "As::<Float>")]
    pub start: Option<f64>,
    /// Unix time the portal finished.
    #[serde(default, with = "As::<Float>")]
    pub finish: Option<f64>,
    /// Seconds spent, including waiting.
    #[serde(default, with = "As::<Float>")]
    pub duration: Option<f64>,
    /// Seconds spent executing.
    #[serde(default, with = "As::<Float>")]
    pub processing: Option<f64>,
    /// Execution seconds this method has used in the current 10-minute window.
    #[serde(default, with = "As::<Float>")]
    pub operating: Option<f64>,
    /// Unix time when the method's operating-time budget resets.
    #[serde(default, with = "As::<Int>")]
    pub operating_reset_at: Option<i64>,
}

/// A successful response whose `result` is not decoded yet.
#[derive(Debug)]
pub struct RawResponse {
    status: u16,
    body: String,
    result: Range<usize>,
    time: Option<Time>,
    total: Option<i64>,
    next: Option<i64>,
    decoding: Decoding,
}

impl RawResponse {
    /// HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }
    /// The whole answer as the portal sent it (JSON text).
    pub fn body(&self) -> &str {
        &self.body
    }
    /// The `result` member as JSON text.
    pub fn result_json(&self) -> &str {
        &self.body[self.result.clone()]
    }
    /// The `time` block, when the portal sent one.
    pub fn time(&self) -> Option<&Time> {
        self.time.as_ref()
    }
    /// Total number of rows of a list, when the portal counted them.
    pub fn total(&self) -> Option<i64> {
        self.total
    }
    /// The `start` value of the next page, when there is one.
    pub fn next(&self) -> Option<i64> {
        self.next
    }

    /// Reads a response body as the call path does: an error envelope becomes
    /// [`Error::Api`], anything that is not an envelope a decode or HTTP error.
    pub fn from_body(method: &str, status: u16, body: String) -> Result<Self, Error> {
        match parse(method, status, body)? {
            Outcome::Ok(response) => Ok(response),
            Outcome::Err(e) => Err(Error::Api(e)),
        }
    }

    /// Sets how [`RawResponse::decode_as`] treats values that do not fit their types (a
    /// response from a client has the client's
    /// [`strict_decoding`](crate::ClientBuilder::strict_decoding)).
    pub fn with_decoding(mut self, decoding: Decoding) -> Self {
        self.decoding = decoding;
        self
    }

    /// Decodes `result` as `T` with codec `C` (see [`crate::codec`]), e.g.
    /// `response.decode_as::<Vec<Deal>, List<Same>>()`.
    pub fn decode_as<T, C>(&self) -> Result<T, Error>
    where
        C: for<'de> serde_with::DeserializeAs<'de, T>,
    {
        self.decode::<T, C>("result")
    }

    /// Decodes `result` with a codec (see [`crate::codec`]); an error names the field path and
    /// quotes the start of the body.
    pub(crate) fn decode<T, C>(&self, method: &str) -> Result<T, Error>
    where
        C: for<'de> serde_with::DeserializeAs<'de, T>,
    {
        self.decoding
            .decode::<T, C>(method, "result", self.result_json())
            .map_err(|message| Error::Decode {
                method: method.to_owned(),
                status: self.status,
                message,
                body_start: body_start(&self.body),
            })
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    /// `Some` whenever the key is there, `null` included: methods that answer `"result": null`
    /// on success (most `*.delete` of the newer APIs) succeeded.
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<ErrorField<'a>>,
    #[serde(borrow, default)]
    error_description: Option<Cow<'a, str>>,
    #[serde(default)]
    time: Option<Time>,
    #[serde(default, with = "As::<Int>")]
    total: Option<i64>,
    #[serde(default, with = "As::<Int>")]
    next: Option<i64>,
}

/// A member that is there, whatever its value (serde reads a `null` `Option` as `None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Classic methods send `error` as a code string; REST 3.0 sends an object.
#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorField<'a> {
    Code(#[serde(borrow)] Cow<'a, str>),
    V3 {
        #[serde(borrow, default)]
        code: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        message: Option<Cow<'a, str>>,
        #[serde(default)]
        validation: Vec<Validation<'a>>,
    },
}

#[derive(Deserialize)]
struct Validation<'a> {
    #[serde(borrow, default)]
    field: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
}

/// What a response body turned out to be.
#[derive(Debug)]
pub(crate) enum Outcome {
    Ok(RawResponse),
    Err(ApiError),
}

/// Reads a response body. Only a body that is neither a success nor an error envelope is an
/// `Err`: a proxy's HTML page, truncated JSON, an empty body.
pub(crate) fn parse(method: &str, status: u16, body: String) -> Result<Outcome, Error> {
    let not_envelope = |message: String, body: &str| {
        if (200..300).contains(&status) {
            Error::Decode {
                method: method.to_owned(),
                status,
                message,
                body_start: body_start(body),
            }
        } else {
            Error::Http {
                method: method.to_owned(),
                status,
                body_start: body_start(body),
            }
        }
    };
    let envelope: Envelope = match serde_json::from_str(&body) {
        Ok(envelope) => envelope,
        Err(e) => {
            let message = if body.trim().is_empty() {
                "empty body".to_owned()
            } else {
                format!("not JSON: {e}")
            };
            return Err(not_envelope(message, &body));
        }
    };
    if let Some(error) = envelope.error {
        let (code, description) = match error {
            ErrorField::Code(code) => (
                code.into_owned(),
                envelope.error_description.unwrap_or_default().into_owned(),
            ),
            ErrorField::V3 {
                code,
                message,
                validation,
            } => {
                let mut description = message.unwrap_or_default().into_owned();
                for v in validation {
                    let field = v.field.unwrap_or_default();
                    let message = v.message.unwrap_or_default();
                    description.push_str(&format!("; {field}: {message}"));
                }
                (code.unwrap_or_default().into_owned(), description)
            }
        };
        return Ok(Outcome::Err(ApiError {
            method: method.to_owned(),
            code: ErrorCode::from(code.as_str()),
            description,
            status,
        }));
    }
    let Some(result) = envelope.result else {
        return Err(not_envelope(
            "neither `result` nor `error` in the envelope".to_owned(),
            &body,
        ));
    };
    let start = result.get().as_ptr() as usize - body.as_ptr() as usize;
    let range = start..start + result.get().len();
    let (time, total, next) = (envelope.time, envelope.total, envelope.next);
    Ok(Outcome::Ok(RawResponse {
        status,
        body,
        result: range,
        time,
        total,
        next,
        decoding: Decoding::default(),
    }))
}

/// The start of a body for an error message, cut on a character boundary.
pub(crate) fn body_start(body: &str) -> String {
    let mut end = body.len().min(BODY_START);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    body[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/examples");

    fn example(name: &str) -> String {
        std::fs::read_to_string(format!("{EXAMPLES}/{name}")).unwrap()
    }

    fn ok(status: u16, body: &str) -> RawResponse {
        match parse("m", status, body.to_owned()).unwrap() {
            Outcome::Ok(r) => r,
            Outcome::Err(e) => panic!("unexpected error {e}"),
        }
    }

    fn err(status: u16, body: &str) -> ApiError {
        match parse("m", status, body.to_owned()).unwrap() {
            Outcome::Err(e) => e,
            Outcome::Ok(r) => panic!("unexpected success {r:?}"),
        }
    }

    #[test]
    fn success_keeps_result_text_and_time() {
        let r = ok(200, &example("response.imbot.message.add.json"));
        assert_eq!(r.result_json(), "19880117");
        assert!(r.body().contains("\"operating_reset_at\""));
        assert_eq!(r.time().unwrap().operating_reset_at, Some(1762349466));
        assert_eq!(r.decode::<i64, Int>("m").unwrap(), 19880117);
    }

    #[test]
    fn list_envelope_has_total_and_next() {
        let r = ok(200, r#"{"result":[{"ID":"1"}],"total":"120","next":50}"#);
        assert_eq!((r.total(), r.next()), (Some(120), Some(50)));
        assert_eq!(r.result_json(), r#"[{"ID":"1"}]"#);
    }

    #[test]
    fn a_null_result_is_a_success() {
        // The documented answer of `crm.category.delete` and other newer `*.delete` methods.
        let r = ok(200, r#"{"result":null,"time":{"start":1718288046.04}}"#);
        assert_eq!(r.result_json(), "null");
        r.decode::<(), serde_with::Same>("m").unwrap();
    }

    #[test]
    fn classic_errors() {
        let e = err(400, &example("error.imbot.message.add.MESSAGE_EMPTY.json"));
        assert_eq!(e.code, ErrorCode::Other("MESSAGE_EMPTY".into()));
        assert_eq!(e.description, "Message can't be empty");
        let e = err(400, r#"{"error":"","error_description":"Not found"}"#);
        assert_eq!((e.code, e.status), (ErrorCode::Unspecified, 400));
    }

    #[test]
    fn rest_v3_errors_carry_validation_details() {
        let e = err(400, &example("response.rest-v3.error.json"));
        assert_eq!(
            e.code.as_str(),
            "BITRIX_REST_V3_EXCEPTION_VALIDATION_REQUESTVALIDATIONEXCEPTION"
        );
        assert!(
            e.description
                .contains("id: Required field `id` is not specified"),
            "{}",
            e.description
        );
    }

    #[test]
    fn non_envelopes_are_typed_errors() {
        let html = "<html><body><h1>502 Bad Gateway</h1></body></html>";
        assert!(matches!(
            parse("m", 502, html.into()),
            Err(Error::Http { status: 502, .. })
        ));
        assert!(matches!(
            parse("m", 200, "".into()),
            Err(Error::Decode { .. })
        ));
        assert!(matches!(
            parse("m", 200, "{\"result\": [1,".into()),
            Err(Error::Decode { .. })
        ));
        assert!(matches!(
            parse("m", 200, "{\"time\":{}}".into()),
            Err(Error::Decode { .. })
        ));
        let e = parse("m", 200, "x".repeat(10_000)).unwrap_err().to_string();
        assert!(e.len() < 600, "{e}");
    }

    #[test]
    fn body_start_respects_char_boundaries() {
        let s = "я".repeat(150);
        let cut = body_start(&s);
        assert!(cut.len() <= BODY_START && s.starts_with(&cut));
    }
}
