//! Small helpers shared by the commands: failures with their exit codes, masking of secrets,
//! "did you mean" suggestions.

use std::fmt;
use std::process::ExitCode;

/// Why a command failed, and so which exit code it ends with.
#[derive(Debug)]
pub enum Failure {
    /// The command line or the input it names is wrong (exit 2): nothing was sent.
    Usage(String),
    /// The portal, the OAuth server or the network refused (exit 1).
    Api(bitrix24::Error),
    /// Anything else that stopped the command: a file that can't be written (exit 1).
    Other(String),
    /// Stopped by Ctrl-C or SIGTERM after saving what can be resumed (exit 130).
    Interrupted,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    pub fn other(message: impl Into<String>) -> Self {
        Self::Other(message.into())
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Usage(_) => ExitCode::from(2),
            // A client that can't be built from the configuration is a usage problem too.
            Self::Api(bitrix24::Error::Config(_)) => ExitCode::from(2),
            Self::Api(_) | Self::Other(_) => ExitCode::from(1),
            Self::Interrupted => ExitCode::from(130),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(message) | Self::Other(message) => f.write_str(message),
            Self::Api(e) => write!(f, "{e}"),
            Self::Interrupted => f.write_str("interrupted"),
        }
    }
}

impl From<bitrix24::Error> for Failure {
    fn from(e: bitrix24::Error) -> Self {
        Self::Api(e)
    }
}

pub type Outcome<T = ()> = Result<T, Failure>;

/// `abcd***`: the first four characters of a secret, or only `***` when the secret is so short
/// that four characters would give most of it away.
pub fn mask(secret: &str) -> String {
    if secret.is_empty() {
        return "(empty)".to_owned();
    }
    if secret.chars().count() < 12 {
        return "***".to_owned();
    }
    let head: String = secret.chars().take(4).collect();
    format!("{head}***")
}

/// A webhook URL with its code masked: `https://portal/rest/1/abcd***/`.
pub fn mask_webhook(url: &str) -> String {
    let Ok(parsed) = url::Url::parse(url) else {
        return "***".to_owned();
    };
    let segments: Vec<&str> = parsed
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    match segments.as_slice() {
        ["rest", user, code, ..] => format!("{}rest/{user}/{}/", portal_of(&parsed), mask(code)),
        _ => "***".to_owned(),
    }
}

/// The portal a URL on it belongs to: `https://host/` without path or query.
pub fn portal_of(url: &url::Url) -> url::Url {
    let mut portal = url.clone();
    portal.set_path("/");
    portal.set_query(None);
    portal
}

/// Levenshtein distance over characters, case-insensitively.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().flat_map(char::to_lowercase).collect();
    let b: Vec<char> = b.chars().flat_map(char::to_lowercase).collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// Up to `limit` of `candidates` close to `wanted`, closest first: a different case, a few
/// typos (about one per three characters), or one containing the other.
pub fn closest<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    limit: usize,
) -> Vec<&'a str> {
    let lower = wanted.to_lowercase();
    let budget = (wanted.chars().count() / 3).max(1);
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .filter_map(|candidate| {
            let distance = edit_distance(wanted, candidate);
            let contains = lower.len() >= 3 && candidate.to_lowercase().contains(&lower);
            (distance <= budget || contains).then_some((distance, candidate))
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(limit).map(|(_, c)| c).collect()
}

/// ` (did you mean X, Y?)`, or nothing.
pub fn did_you_mean(suggestions: &[&str]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!("; did you mean {one}?"),
        many => format!("; did you mean one of {}?", many.join(", ")),
    }
}

/// When tokens expire: `2026-11-27 14:38:00 UTC (in 59 min)`, or `unknown`.
pub fn expiry(at: Option<i64>) -> String {
    match at {
        Some(at) => format!("{} ({})", format_unix(at), relative_time(at)),
        None => "unknown".to_owned(),
    }
}

/// `in 59 min`, `3 h ago`: how far a unix time is from now.
fn relative_time(unix: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let delta = unix - now;
    let span = delta.unsigned_abs();
    let text = if span < 120 {
        format!("{span} s")
    } else if span < 2 * 3600 {
        format!("{} min", span / 60)
    } else if span < 2 * 86_400 {
        format!("{} h", span / 3600)
    } else {
        format!("{} days", span / 86_400)
    };
    if delta >= 0 {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// A unix time as `2026-11-27 14:38:00 UTC`.
fn format_unix(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| unix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_show_four_characters_at_most() {
        assert_eq!(mask("s1morf609228iwyjjpvfv6wsvuja4p8u"), "s1mo***");
        assert_eq!(mask("short"), "***");
        assert_eq!(
            mask_webhook("http://127.0.0.1:8080/rest/1/abcdefghijklmnop/"),
            "http://127.0.0.1:8080/rest/1/abcd***/"
        );
        assert_eq!(mask_webhook("not a url"), "***");
    }

    #[test]
    fn suggestions_are_close_names_closest_first() {
        assert_eq!(edit_distance("TITLE", "title"), 0);
        assert_eq!(edit_distance("TITEL", "TITLE"), 2);
        let names = ["ID", "FIELDS", "PARAMS", "TITLE"];
        assert_eq!(closest("FIELD", names, 3), vec!["FIELDS"]);
        assert_eq!(closest("id", names, 3), vec!["ID"]);
        assert!(closest("XYZZY", names, 3).is_empty());
    }
}
