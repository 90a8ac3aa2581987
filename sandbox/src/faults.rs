//! Injected faults: what can go wrong between a client and a portal, on demand.
//!
//! A fault is registered with an [`Injection`] (which method, how often, before or after the
//! call executes) and fires on matching REST requests, classic or REST 3.0. It acts on the
//! HTTP request: a fault aimed at `batch` hits the whole batch, and one aimed at
//! `crm.deal.add` does not fire for a `crm.deal.add` inside a batch.
//!
//! | fault | by default (the call is **not** executed) | with [`Injection::after_execution`] |
//! |---|---|---|
//! | [`Fault::Error`] | this error envelope instead of the call | the call runs, then this envelope replaces its answer |
//! | [`Fault::Body`] | this raw body (HTML page, cut or broken JSON, nothing) | the call runs, then this body replaces its answer |
//! | [`Fault::Reset`] | the connection is reset (TCP RST), no response | the call runs, then the connection is reset |
//! | [`Fault::Slow`] | waits, then answers `504` with an HTML page, never executes | the call runs, the answer is held back for the delay |
//! | [`Fault::Redirect`] | `302` to the renamed portal, never executes | (same) |
//!
//! A client with a timeout shorter than a [`Fault::Slow`] delay times out either way; the
//! executed-writes counters ([`super::Sandbox::writes`]) tell the two cases apart.
//!
//! A portal rename moves the portal to another host name; the sandbox's other name is a second
//! port of 127.0.0.1 ([`super::Sandbox::renamed_url`]), which serves the same portal from the
//! start: REST calls, REST 3.0 calls and `/oauth/token/` all work there. The redirect answers
//! `302 Found` with `Location:` the same path and query at the new address (for example
//! `http://127.0.0.1:<other port>/rest/1/<code>/profile`). It only fires for requests to the
//! original address, so an [`Injection::always`] rename makes the old address answer 302 for
//! good while the new one serves.

use std::time::Duration;

/// Something that goes wrong instead of (or after) a normal answer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Fault {
    /// An error envelope with this status and code.
    Error {
        /// HTTP status.
        status: u16,
        /// Bitrix24 error code.
        code: String,
        /// Description.
        description: String,
    },
    /// A raw body (HTML page, truncated or malformed JSON, empty) with this status.
    Body {
        /// HTTP status.
        status: u16,
        /// Content type header.
        content_type: String,
        /// The body, verbatim.
        body: String,
    },
    /// The TCP connection is reset without a response.
    Reset,
    /// The answer comes this late (see the table in [the module docs](self)).
    Slow(Duration),
    /// `302 Found` to the same request at the renamed portal's address.
    Redirect,
}

impl Fault {
    /// An error envelope.
    pub fn error(status: u16, code: &str, description: &str) -> Self {
        Self::Error {
            status,
            code: code.to_owned(),
            description: description.to_owned(),
        }
    }
    /// `500 INTERNAL_SERVER_ERROR`, as a portal answers when a method crashed.
    pub fn internal_error() -> Self {
        Self::error(500, "INTERNAL_SERVER_ERROR", "Internal server error")
    }
    /// `OVERLOAD_LIMIT`: REST is blocked on the portal (status 401, as the current docs list
    /// it).
    pub fn overload() -> Self {
        Self::error(401, "OVERLOAD_LIMIT", "REST API is blocked due to overload")
    }
    /// A proxy's HTML error page with this status (502 and 504 are the usual ones).
    pub fn html(status: u16) -> Self {
        let title = match status {
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            504 => "Gateway Time-out",
            _ => "Error",
        };
        Self::Body {
            status,
            content_type: "text/html".to_owned(),
            body: format!(
                "<html><head><title>{status} {title}</title></head><body><h1>{status} {title}</h1><hr>nginx</body></html>"
            ),
        }
    }
    /// A raw body with status 200 and a JSON content type.
    pub fn body(body: &str) -> Self {
        Self::Body {
            status: 200,
            content_type: "application/json".to_owned(),
            body: body.to_owned(),
        }
    }
    /// A JSON answer cut off in the middle.
    pub fn truncated_json() -> Self {
        Self::body(r#"{"result":{"ID":"1","TITLE":"Roof rep"#)
    }
    /// JSON that does not parse.
    pub fn malformed_json() -> Self {
        Self::body(r#"{"result": [1, 2,, "time": }"#)
    }
    /// Status 200 with an empty body.
    pub fn empty_body() -> Self {
        Self::body("")
    }
    /// A connection reset.
    pub fn reset() -> Self {
        Self::Reset
    }
    /// An answer `delay` late.
    pub fn slow(delay: Duration) -> Self {
        Self::Slow(delay)
    }
    /// A portal rename.
    pub fn redirect() -> Self {
        Self::Redirect
    }
}

/// How often an injection fires.
#[derive(Debug, Clone)]
enum Firing {
    Times(u64),
    Always,
    Chance { probability: f64, rng: u64 },
}

/// A fault with its target and schedule. [`Injection::new`] fires once, on any method, before
/// the call executes.
///
/// ```no_run
/// # async fn run(portal: bitrix24_sandbox::Sandbox) {
/// use bitrix24_sandbox::{Fault, Injection};
/// portal.inject_with(Injection::new(Fault::reset()).method("crm.deal.add").after_execution().times(2));
/// portal.inject_with(Injection::new(Fault::html(502)).probability(0.1, 42));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Injection {
    pub(crate) method: Option<String>,
    pub(crate) fault: Fault,
    pub(crate) after: bool,
    firing: Firing,
}

impl Injection {
    /// `fault`, once, on the next call of any method, before it executes.
    pub fn new(fault: Fault) -> Self {
        Self {
            method: None,
            fault,
            after: false,
            firing: Firing::Times(1),
        }
    }
    /// Only calls of `method` (compared ignoring case).
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_owned());
        self
    }
    /// Fires on the next `n` matching calls.
    pub fn times(mut self, n: u64) -> Self {
        self.firing = Firing::Times(n);
        self
    }
    /// Fires on every matching call until [`super::Sandbox::clear_faults`].
    pub fn always(mut self) -> Self {
        self.firing = Firing::Always;
        self
    }
    /// Fires on each matching call with `probability`, drawn from a generator seeded with
    /// `seed`: the same sequence of calls sees the same faults.
    pub fn probability(mut self, probability: f64, seed: u64) -> Self {
        self.firing = Firing::Chance {
            probability,
            // Spread small seeds; xorshift must not start at zero.
            rng: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
        };
        self
    }
    /// Lets the call execute first; see the table in [the module docs](self).
    pub fn after_execution(mut self) -> Self {
        self.after = true;
        self
    }

    /// Whether this injection fires now; consumes one firing.
    fn fire(&mut self) -> bool {
        match &mut self.firing {
            Firing::Times(0) => false,
            Firing::Times(n) => {
                *n -= 1;
                true
            }
            Firing::Always => true,
            Firing::Chance { probability, rng } => {
                *rng ^= *rng << 13;
                *rng ^= *rng >> 7;
                *rng ^= *rng << 17;
                let draw = (*rng >> 11) as f64 / (1_u64 << 53) as f64;
                draw < *probability
            }
        }
    }

    fn spent(&self) -> bool {
        matches!(self.firing, Firing::Times(0))
    }
}

/// The registered injections, in order.
#[derive(Debug, Default)]
pub(crate) struct Faults(Vec<Injection>);

impl Faults {
    pub(crate) fn push(&mut self, injection: Injection) {
        self.0.push(injection);
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    /// The first injection that matches `method` and fires, as (fault, after execution).
    /// Redirects only fire for requests to the original address.
    pub(crate) fn take(&mut self, method: &str, renamed: bool) -> Option<(Fault, bool)> {
        let mut fired = None;
        for injection in &mut self.0 {
            let targets = injection
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method));
            if !targets || (renamed && matches!(injection.fault, Fault::Redirect)) {
                continue;
            }
            if injection.fire() {
                fired = Some((injection.fault.clone(), injection.after));
                break;
            }
        }
        self.0.retain(|i| !i.spent());
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injections_fire_as_scheduled() {
        let mut faults = Faults::default();
        faults.push(
            Injection::new(Fault::reset())
                .method("crm.deal.add")
                .times(2),
        );
        faults.push(Injection::new(Fault::internal_error()));
        assert!(matches!(
            faults.take("CRM.DEAL.ADD", false),
            Some((Fault::Reset, false))
        ));
        assert!(matches!(
            faults.take("profile", false),
            Some((Fault::Error { .. }, false))
        ));
        assert!(matches!(
            faults.take("crm.deal.add", false),
            Some((Fault::Reset, false))
        ));
        assert!(faults.take("crm.deal.add", false).is_none());

        faults.push(Injection::new(Fault::redirect()).always());
        assert!(faults.take("profile", true).is_none());
        assert!(faults.take("profile", false).is_some());
        assert!(faults.take("profile", false).is_some());
    }

    #[test]
    fn chance_is_seeded() {
        let draws = |seed| {
            let mut faults = Faults::default();
            faults.push(Injection::new(Fault::reset()).probability(0.3, seed));
            (0..200)
                .map(|_| faults.take("x", false).is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        let fired = draws(7).iter().filter(|f| **f).count();
        assert!((30..=90).contains(&fired), "{fired}");
    }
}
