//! PHP's form encoding: `http_build_query` and its inverse, `parse_str`, byte for byte.
//!
//! Bitrix24 is a PHP application and its protocol carries PHP's conventions. Integrators POST
//! bodies built by `http_build_query($params)`; a batch sub-command is `method?` followed by the
//! same encoding of its parameters (`cmd[deals]=crm.deal.list?filter%5B%3EID%5D=5`); inbound
//! events arrive as `application/x-www-form-urlencoded` with bracketed keys
//! (`data[PARAMS][MESSAGE]=Hello&auth[access_token]=...`). [`encode`] produces the bytes PHP 8's
//! `http_build_query` produces for the same data, and [`decode`] produces what
//! `json_encode` of PHP's `parse_str` result is, so a Rust integration and a PHP one are
//! interchangeable on the wire. `sdk/tests/php_oracle.rs` checks both against a real `php`.
//!
//! # Encoding (`http_build_query($data)` with default arguments)
//!
//! - Nested keys are written `a[b][0][c]` with the brackets percent-encoded:
//!   `a%5Bb%5D%5B0%5D%5Bc%5D=v`. Arrays use their positions `0..n` as keys. Pairs are joined
//!   with `&`.
//! - Keys and strings are encoded as RFC 1738 (`urlencode`): ASCII letters, digits and `-_.`
//!   stay, a space becomes `+`, every other byte of the UTF-8 text becomes `%XX` (upper case).
//!   `~` is encoded (`%7E`), unlike RFC 3986.
//! - `true` is `1`, `false` is `0`. `null` and empty arrays or objects produce no pair at all.
//! - Integers are written in decimal. Floats are written the way PHP turns a float into a string:
//!   `precision` = 14 significant digits, correctly rounded, in the `%.14G` layout of PHP's own
//!   formatter: `0.1`, `-0`, `1` for `1.0`, `0.3` for `0.1 + 0.2`, `0.0001` but `1.0E-5`,
//!   `10000000000000` (1e13) but `1.0E+14` (the `+` is then encoded as `%2B`).
//!   PHP uses `precision`, not `serialize_precision`, here, so 15-17 digit floats lose digits
//!   exactly as they do in PHP.
//! - Integers beyond `i64::MAX` (which `serde_json` holds as `u64`) are written with all their
//!   digits. PHP cannot hold them as integers: `json_decode` would turn them into floats and print
//!   `1.844674407371E+19`; we write what PHP writes for the same digits held as a string
//!   (`json_decode(..., JSON_BIGINT_AS_STRING)`), because silently losing digits of an ID is
//!   never what a caller wants.
//! - A scalar at the top level is encoded as PHP would after an `(array)` cast, that is as the
//!   one-element list `[scalar]`: `"x"` gives `0=x`, `null` gives the empty string. PHP itself
//!   refuses scalars with a `TypeError`.
//!
//! # Decoding (`parse_str($body, $result); json_encode($result)`)
//!
//! - The body is split on `&`; empty pieces are skipped. Each piece is `name=value` split at the
//!   first `=`; a piece without `=` has the empty value. Both halves are `urldecode`d: `+` is a
//!   space, `%XX` with two hex digits is that byte, any other `%` stays as it is.
//! - The name is mangled as PHP mangles variable names: a NUL byte (`%00`) ends it, leading
//!   spaces are dropped, and before the first `[` every space and `.` becomes `_`. A `[` without
//!   a matching `]` becomes `_` too, and so do the spaces, dots and `[` after it (`a[b.c` is the
//!   key `a_b_c`); a name that ends up empty (`=1`, `[x]=1`) is ignored.
//! - Each `[index]` after the name goes one level deeper. `[]` (or `[ ]`) appends with the next
//!   free integer key, PHP style (one more than the largest integer key so far, so `a[5]=x&a[]=y`
//!   gives keys 5 and 6, and `a[-5]=x&a[]=y` keys -5 and -4). Text after a `]` that is not
//!   another `[` is ignored (`a[b]c=1` is `a[b]=1`); an unterminated `[` below the first level
//!   ends the name (`a[b][c=1` is `a[b]=1`). Inside an index, `.`, spaces and `[` are kept.
//! - Keys that look like canonical decimal integers (`0`, `42`, `-7`, not `007`, `-0` or `+1`)
//!   are integer keys, so `a[1]` and `a[01]` are different keys. A later value for the same key
//!   replaces the earlier one in its original position; a scalar where an array is needed is
//!   replaced by an array and vice versa.
//! - An array whose keys are exactly `0, 1, .., n-1` in this order becomes a JSON array, any
//!   other becomes a JSON object with string keys. Every leaf is a JSON string.
//! - A raw NUL byte in the body ends the body, as it does for PHP's C-string parsing.
//!
//! # Where we differ from PHP, on purpose
//!
//! - An empty body (or one with no usable pair) decodes to `{}`, not `[]`: callers deserialize
//!   events into structs, and an empty object is what "no fields" means to them.
//! - Invalid UTF-8 in the final result (from `%XX` escapes) is an error, [`FormError::InvalidUtf8`].
//!   PHP's `parse_str` accepts any bytes, and `json_encode` then fails as a whole, so this is the
//!   same outcome made explicit; a value that is overwritten later does not count, as in PHP.
//! - Limits ([`FormLimits`]) are errors, not silent truncation: PHP keeps the first
//!   `max_input_vars` (1000) pairs and drops a variable nested deeper than
//!   `max_input_nesting_level` (64) without telling anyone, which would make a forged or damaged
//!   event look like a valid but different one. A budget of values built bounds the memory a
//!   body can cost whatever its shape: `a[][][]...=` builds one array per `[]`.

use std::collections::HashMap;
use std::fmt::{self, Write as _};

use serde_json::{Map, Value};

/// Encodes `value` like PHP's `http_build_query($value)`.
///
/// See the [module documentation](self) for the rules. A scalar at the top level is treated as
/// the one-element list `[value]`.
///
/// ```
/// # use bitrix24::wire::php;
/// let body = php::encode(&serde_json::json!({
///     "DIALOG_ID": "chat42",
///     "MESSAGE": "Hello & welcome",
///     "ATTACH": [{"MESSAGE": "line 1"}],
///     "URL_PREVIEW": false,
/// }));
/// assert_eq!(
///     body,
///     "DIALOG_ID=chat42&MESSAGE=Hello+%26+welcome&ATTACH%5B0%5D%5BMESSAGE%5D=line+1&URL_PREVIEW=0"
/// );
/// ```
pub fn encode(value: &Value) -> String {
    let mut out = String::new();
    encode_into(&mut out, value);
    out
}

/// Appends the encoding of `value` (see [`encode`]) to `out`.
///
/// `out` may already hold the start of a body or of a batch command: an `&` is written before
/// the first pair unless `out` is empty or ends with `&` or `?`. So `"auth=T"` becomes
/// `"auth=T&a=1"`, `"crm.deal.list?"` becomes `"crm.deal.list?a=1"`, and when `value` produces
/// no pairs `out` is left as it was.
pub fn encode_into(out: &mut String, value: &Value) {
    let need_separator = !(out.is_empty() || out.ends_with(['&', '?']));
    let mut encoder = Encoder {
        out,
        key: String::new(),
        need_separator,
    };
    match value {
        Value::Object(map) => {
            for (name, child) in map {
                encoder.key.clear();
                push_urlencoded(&mut encoder.key, name);
                encoder.field(child);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                encoder.key.clear();
                push_display(&mut encoder.key, index);
                encoder.field(child);
            }
        }
        Value::Null => {}
        scalar => {
            encoder.key.push('0');
            encoder.field(scalar);
        }
    }
}

/// Appends `text` encoded like PHP's `urlencode` (RFC 1738: space as `+`, everything except
/// ASCII alphanumerics and `-_.` as `%XX`).
///
/// For callers that assemble a body by hand, e.g. an `auth=` prefix in front of [`encode_into`].
pub fn push_urlencoded(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(text.len());
    let bytes = text.as_bytes();
    // Copy runs of unescaped bytes as slices; they are ASCII, so every slice boundary used
    // below lies on a char boundary.
    let mut run_start = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        if is_unescaped(byte) {
            continue;
        }
        if run_start < i {
            out.push_str(&text[run_start..i]);
        }
        if byte == b' ' {
            out.push('+');
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        run_start = i + 1;
    }
    if run_start < bytes.len() {
        out.push_str(&text[run_start..]);
    }
}

fn is_unescaped(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.')
}

/// Walks a value depth first; `key` holds the encoded key of the current position and is
/// extended and truncated in place, so encoding allocates nothing per pair.
struct Encoder<'a> {
    out: &'a mut String,
    key: String,
    need_separator: bool,
}

impl Encoder<'_> {
    fn field(&mut self, value: &Value) {
        match value {
            Value::Null => {}
            Value::Object(map) => {
                for (name, child) in map {
                    let len = self.key.len();
                    self.key.push_str("%5B");
                    push_urlencoded(&mut self.key, name);
                    self.key.push_str("%5D");
                    self.field(child);
                    self.key.truncate(len);
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    let len = self.key.len();
                    self.key.push_str("%5B");
                    push_display(&mut self.key, index);
                    self.key.push_str("%5D");
                    self.field(child);
                    self.key.truncate(len);
                }
            }
            scalar => {
                if self.need_separator {
                    self.out.push('&');
                }
                self.need_separator = true;
                self.out.push_str(&self.key);
                self.out.push('=');
                push_scalar(self.out, scalar);
            }
        }
    }
}

fn push_scalar(out: &mut String, value: &Value) {
    match value {
        Value::String(text) => push_urlencoded(out, text),
        Value::Bool(true) => out.push('1'),
        Value::Bool(false) => out.push('0'),
        Value::Number(number) => {
            if let Some(n) = number.as_i64() {
                push_display(out, n);
            } else if let Some(n) = number.as_u64() {
                push_display(out, n);
            } else if let Some(n) = number.as_f64() {
                push_php_float(out, n);
            } else {
                // Only reachable with serde_json's `arbitrary_precision`: keep the digits.
                push_urlencoded(out, &number.to_string());
            }
        }
        Value::Null | Value::Array(_) | Value::Object(_) => {}
    }
}

fn push_display(out: &mut String, value: impl fmt::Display) {
    // Writing to a String cannot fail.
    let _ = write!(out, "{value}");
}

/// Significant digits PHP uses when it turns a float into a string (the `precision` ini
/// setting, 14 by default and in every stock php.ini).
const PHP_PRECISION: usize = 14;

/// Appends `value` as PHP's `(string)$float` renders it, already URL-encoded.
///
/// PHP rounds to 14 significant digits (`zend_gcvt`), drops trailing zeros and switches to
/// exponent form when the decimal exponent is below -4 or above 14, writing at least one digit
/// after the point (`1.0E+20`).
fn push_php_float(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NAN");
        return;
    }
    if value.is_infinite() {
        out.push_str(if value > 0.0 { "INF" } else { "-INF" });
        return;
    }
    // Rust's `{:.13e}` is correctly rounded (ties to even on the exact binary value), as is
    // `zend_dtoa` in mode 2: "d.ddddddddddddde<exp>".
    let mut scratch = StackText::<40>::new();
    if write!(scratch, "{:.*e}", PHP_PRECISION - 1, value.abs()).is_err() {
        // Unreachable: the longest such text is 19 bytes.
        push_display(out, value);
        return;
    }
    let (mantissa, exponent) = scratch.as_str().split_once('e').unwrap_or(("0", "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let mut digits = [b'0'; PHP_PRECISION];
    let mut len = 0;
    for byte in mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .take(PHP_PRECISION)
    {
        digits[len] = byte;
        len += 1;
    }
    while len > 1 && digits[len - 1] == b'0' {
        len -= 1;
    }
    let digits = &digits[..len.max(1)];
    // Position of the decimal point relative to the first digit, as zend_dtoa reports it.
    let point = exponent + 1;

    if value.is_sign_negative() {
        out.push('-');
    }
    let push_digits = |out: &mut String, digits: &[u8]| {
        out.extend(digits.iter().map(|&d| char::from(d)));
    };
    if point < -3 || point > PHP_PRECISION as i32 {
        push_digits(out, &digits[..1]);
        out.push('.');
        if digits.len() > 1 {
            push_digits(out, &digits[1..]);
        } else {
            out.push('0');
        }
        out.push('E');
        if exponent < 0 {
            out.push('-');
        } else {
            out.push_str("%2B");
        }
        push_display(out, exponent.unsigned_abs());
    } else if point <= 0 {
        out.push_str("0.");
        for _ in point..0 {
            out.push('0');
        }
        push_digits(out, digits);
    } else {
        let point = point as usize;
        for i in 0..point {
            out.push(char::from(digits.get(i).copied().unwrap_or(b'0')));
        }
        if digits.len() > point {
            out.push('.');
            push_digits(out, &digits[point..]);
        }
    }
}

/// A fixed-size text buffer for formatting a number without a heap allocation.
struct StackText<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> StackText<N> {
    fn new() -> Self {
        Self {
            bytes: [0; N],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in, so the prefix is valid UTF-8.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> fmt::Write for StackText<N> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let end = self.len + text.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        slot.copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Bounds on what [`decode_with`] accepts. Exceeding one is an error, never a silent cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormLimits {
    /// Most `name=value` pairs in one body (empty pieces between `&`s do not count).
    pub max_pairs: usize,
    /// Most `[index]` levels under one top-level name: `a[b][c]` has depth 2.
    ///
    /// The decoded value is this deep, and deep values are built and dropped recursively, so
    /// keep it in the hundreds at most.
    pub max_depth: usize,
    /// Longest body, in bytes.
    pub max_len: usize,
    /// Most values the pairs may name, every level of every pair counted (`a[b][c]=1` counts
    /// 3, even where an earlier pair built `a[b]`): a bound on what the decoded body costs in
    /// memory, a few hundred bytes a value, whatever its shape. The pair and depth limits alone
    /// allow `max_pairs * max_depth` arrays.
    pub max_nodes: usize,
}

impl Default for FormLimits {
    /// 10 000 pairs (ten times PHP's `max_input_vars`, since batch results and big CRM events
    /// are long), depth 64 (PHP's `max_input_nesting_level`), 8 MiB, 100 000 values.
    fn default() -> Self {
        Self {
            max_pairs: 10_000,
            max_depth: 64,
            max_len: 8 << 20,
            max_nodes: 100_000,
        }
    }
}

impl FormLimits {
    /// For bodies read before anything is verified (inbound events): 1 MiB, depth 16 (the
    /// documented events nest 5 deep), 20 000 values — a few MiB of memory at most for any
    /// body, where the defaults would allow hundreds.
    pub fn untrusted() -> Self {
        Self {
            max_pairs: 10_000,
            max_depth: 16,
            max_len: 1 << 20,
            max_nodes: 20_000,
        }
    }
}

/// Why a form body was rejected. Messages name keys and limits but never contain values,
/// which may be tokens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormError {
    /// The body is longer than [`FormLimits::max_len`].
    #[error("form body is {len} bytes long, over the limit of {limit}")]
    TooLong {
        /// Length of the body in bytes.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The body has more pairs than [`FormLimits::max_pairs`].
    #[error("form body has more than {limit} fields")]
    TooManyPairs {
        /// The configured limit.
        limit: usize,
    },
    /// The body builds more values than [`FormLimits::max_nodes`].
    #[error("form body builds more than {limit} values")]
    TooManyNodes {
        /// The configured limit.
        limit: usize,
    },
    /// A name has more `[index]` levels than [`FormLimits::max_depth`].
    #[error("form field `{field}` is nested more than {limit} levels deep")]
    TooDeep {
        /// The top-level name of the field, after PHP's name mangling.
        field: String,
        /// The configured limit.
        limit: usize,
        /// Byte offset of the offending pair in the body.
        offset: usize,
    },
    /// A key or value is not UTF-8 once percent-decoded (PHP's `json_encode` fails on it too).
    #[error(
        "form field `{field}`: the {part} is not valid UTF-8 after percent-decoding \
         (pair at byte {offset})"
    )]
    InvalidUtf8 {
        /// The field's path, `a[b][c]`, with invalid bytes shown as U+FFFD.
        field: String,
        /// Whether the key or the value is broken.
        part: FormPart,
        /// Byte offset of the pair in the body that wrote the broken key or value.
        offset: usize,
    },
}

/// Which half of a `name=value` pair an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormPart {
    /// The name (a key in the decoded value).
    Name,
    /// The value.
    Value,
}

impl fmt::Display for FormPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FormPart::Name => "name",
            FormPart::Value => "value",
        })
    }
}

/// Decodes a form body like PHP's `parse_str` followed by `json_encode`, within the default
/// [`FormLimits`].
///
/// See the [module documentation](self) for the rules and for where this differs from PHP.
///
/// ```
/// # use bitrix24::wire::php;
/// let event = php::decode("event=ONIMBOTMESSAGEADD&data[PARAMS][MESSAGE]=Hello+world&data[PARAMS][MENTIONED_LIST][]=7")?;
/// assert_eq!(
///     event,
///     serde_json::json!({
///         "event": "ONIMBOTMESSAGEADD",
///         "data": {"PARAMS": {"MESSAGE": "Hello world", "MENTIONED_LIST": ["7"]}}
///     })
/// );
/// # Ok::<(), php::FormError>(())
/// ```
pub fn decode(body: &str) -> Result<Value, FormError> {
    decode_with(body, &FormLimits::default())
}

/// Decodes a form body like [`decode`], within `limits`.
pub fn decode_with(body: &str, limits: &FormLimits) -> Result<Value, FormError> {
    if body.len() > limits.max_len {
        return Err(FormError::TooLong {
            len: body.len(),
            limit: limits.max_len,
        });
    }
    // PHP parses the body as a C string: a raw NUL ends it.
    let body = body.split('\0').next().unwrap_or("");

    let mut root = PhpArray::default();
    let mut nodes = Nodes {
        built: 0,
        limit: limits.max_nodes,
    };
    let mut pairs = 0usize;
    let mut name = Vec::new();
    let mut offset = 0;
    for piece in body.split('&') {
        let piece_offset = offset;
        offset += piece.len() + 1;
        if piece.is_empty() {
            continue;
        }
        pairs += 1;
        if pairs > limits.max_pairs {
            return Err(FormError::TooManyPairs {
                limit: limits.max_pairs,
            });
        }
        let (raw_name, raw_value) = piece.split_once('=').unwrap_or((piece, ""));
        name.clear();
        urldecode_into(&mut name, raw_name);
        let mut value = Vec::new();
        urldecode_into(&mut value, raw_value);
        register(
            &mut root,
            &name,
            value,
            piece_offset,
            limits.max_depth,
            &mut nodes,
        )?;
    }

    if root.entries.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let mut path = String::new();
    root.into_value(&mut path)
}

/// PHP's `urldecode`: `+` is a space, `%` and two hex digits is a byte, any other `%` is kept.
fn urldecode_into(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        match byte {
            b'+' => out.push(b' '),
            b'%' => {
                let high = bytes.get(i + 1).and_then(|&b| hex_value(b));
                let low = bytes.get(i + 2).and_then(|&b| hex_value(b));
                if let (Some(high), Some(low)) = (high, low) {
                    out.push(high << 4 | low);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            _ => out.push(byte),
        }
        i += 1;
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Values built so far, against [`FormLimits::max_nodes`].
struct Nodes {
    built: usize,
    limit: usize,
}

impl Nodes {
    /// Counts one more value; an error once past the limit.
    fn add(&mut self) -> Result<(), FormError> {
        self.built += 1;
        if self.built > self.limit {
            return Err(FormError::TooManyNodes { limit: self.limit });
        }
        Ok(())
    }
}

/// Stores one decoded pair the way PHP's `php_register_variable_ex` does.
fn register(
    root: &mut PhpArray,
    name: &[u8],
    value: Vec<u8>,
    offset: usize,
    max_depth: usize,
    nodes: &mut Nodes,
) -> Result<(), FormError> {
    // A NUL ends the name; `split` always yields at least one piece.
    let name = name.split(|&b| b == 0).next().unwrap_or_default();
    let first_non_space = name.iter().position(|&b| b != b' ').unwrap_or(name.len());
    let name = &name[first_non_space..];

    // The top-level variable name: spaces and dots become `_` up to the first `[`.
    let mut variable = Vec::with_capacity(name.len());
    let mut open = None;
    for (i, &byte) in name.iter().enumerate() {
        match byte {
            b' ' | b'.' => variable.push(b'_'),
            b'[' => {
                open = Some(i);
                break;
            }
            _ => variable.push(byte),
        }
    }
    if variable.is_empty() {
        return Ok(());
    }

    // The indices below it; `None` is `[]`, append.
    let mut path: Vec<Option<&[u8]>> = Vec::new();
    let mut depth = 0;
    while let Some(bracket) = open {
        depth += 1;
        if depth > max_depth {
            return Err(FormError::TooDeep {
                field: String::from_utf8_lossy(&variable).into_owned(),
                limit: max_depth,
                offset,
            });
        }
        let start = bracket + 1;
        // PHP skips one space when looking for the `]` of an empty index: `[ ]` appends.
        let probe = if name.get(start) == Some(&b' ') {
            start + 1
        } else {
            start
        };
        let (index, close) = if name.get(probe) == Some(&b']') {
            (None, probe)
        } else {
            match name[probe..].iter().position(|&b| b == b']') {
                Some(distance) => (Some(&name[start..probe + distance]), probe + distance),
                None => {
                    if path.is_empty() {
                        // Not an index after all: the `[` and what follows join the name.
                        variable.push(b'_');
                        variable.extend(name[start..].iter().map(|&b| match b {
                            b' ' | b'.' | b'[' => b'_',
                            other => other,
                        }));
                    }
                    // Deeper down, PHP stops at the last complete index.
                    break;
                }
            }
        };
        path.push(index);
        open = (name.get(close + 1) == Some(&b'[')).then_some(close + 1);
    }

    let mut table = root;
    let mut key = Some(Key::new(&variable));
    // Every level may build an array, and the value is one more.
    for _ in 0..=path.len() {
        nodes.add()?;
    }
    for index in path {
        table = match key {
            Some(key) => table.array_at(key, offset),
            None => match table.append_array(offset) {
                Some(child) => child,
                // PHP drops the pair when the next integer key would overflow.
                None => return Ok(()),
            },
        };
        key = index.map(Key::new);
    }
    let leaf = Node::Leaf(value);
    match key {
        Some(key) => {
            table.set(key, leaf, offset);
        }
        None => {
            // As above: no room for another integer key, PHP drops the value.
            let _ = table.append(leaf, offset);
        }
    }
    Ok(())
}

/// A PHP array key: canonical decimal integers are integers, everything else is a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Int(i64),
    Bytes(Vec<u8>),
}

impl Key {
    /// PHP's `ZEND_HANDLE_NUMERIC_STR`: `0`, `42`, `-7` are integers; `007`, `-0`, `+1`, ` 1`
    /// and anything outside `i64` are strings.
    fn new(bytes: &[u8]) -> Self {
        let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
        let canonical = !digits.is_empty()
            && digits.iter().all(u8::is_ascii_digit)
            && !(digits[0] == b'0' && bytes.len() > 1);
        if canonical {
            // The bytes are ASCII digits, so they are UTF-8; `parse` rejects overflow.
            if let Some(n) = std::str::from_utf8(bytes).ok().and_then(|s| s.parse().ok()) {
                return Key::Int(n);
            }
        }
        Key::Bytes(bytes.to_vec())
    }
}

enum Node {
    Leaf(Vec<u8>),
    Array(PhpArray),
}

impl Node {
    /// The array this node is, after replacing a scalar by an empty array as PHP does.
    fn make_array(&mut self) -> &mut PhpArray {
        if let Node::Leaf(_) = self {
            *self = Node::Array(PhpArray::default());
        }
        match self {
            Node::Array(array) => array,
            // Replaced just above.
            Node::Leaf(_) => unreachable!("a leaf was just replaced by an array"),
        }
    }
}

struct Entry {
    key: Key,
    node: Node,
    /// Where the pair that last wrote this entry starts in the body, for error messages.
    offset: usize,
}

/// An ordered hash map with PHP's rules for appending.
#[derive(Default)]
struct PhpArray {
    entries: Vec<Entry>,
    positions: HashMap<Key, usize>,
    /// The key `[]` uses next; `None` until an integer key exists (then `[]` uses 0).
    next_free: Option<i64>,
}

impl PhpArray {
    fn set(&mut self, key: Key, node: Node, offset: usize) -> &mut Node {
        let position = match self.positions.get(&key) {
            Some(&position) => {
                let entry = &mut self.entries[position];
                entry.node = node;
                entry.offset = offset;
                position
            }
            None => {
                if let Key::Int(n) = key
                    && self.next_free.is_none_or(|next| n >= next)
                {
                    self.next_free = Some(n.saturating_add(1));
                }
                self.positions.insert(key.clone(), self.entries.len());
                self.entries.push(Entry { key, node, offset });
                self.entries.len() - 1
            }
        };
        &mut self.entries[position].node
    }

    /// `$array[] = node`; `None` when the next key is taken (it saturates at `i64::MAX`).
    fn append(&mut self, node: Node, offset: usize) -> Option<&mut Node> {
        let key = Key::Int(self.next_free.unwrap_or(0));
        if self.positions.contains_key(&key) {
            return None;
        }
        Some(self.set(key, node, offset))
    }

    fn append_array(&mut self, offset: usize) -> Option<&mut PhpArray> {
        self.append(Node::Array(PhpArray::default()), offset)
            .map(Node::make_array)
    }

    /// The array at `key`, created (or replacing a scalar, keeping its position) if needed.
    fn array_at(&mut self, key: Key, offset: usize) -> &mut PhpArray {
        match self.positions.get(&key) {
            Some(&position) => self.entries[position].node.make_array(),
            None => self
                .set(key, Node::Array(PhpArray::default()), offset)
                .make_array(),
        }
    }

    /// `json_encode` of this array; `path` is the field path so far, for error messages.
    fn into_value(self, path: &mut String) -> Result<Value, FormError> {
        let is_list = self
            .entries
            .iter()
            .enumerate()
            .all(|(i, entry)| i64::try_from(i).is_ok_and(|i| entry.key == Key::Int(i)));
        let mut list = Vec::new();
        let mut map = Map::new();
        for Entry { key, node, offset } in self.entries {
            let path_len = path.len();
            let name = match key {
                Key::Int(n) => {
                    let name = n.to_string();
                    push_path_segment(path, name.as_bytes());
                    name
                }
                Key::Bytes(bytes) => {
                    push_path_segment(path, &bytes);
                    String::from_utf8(bytes).map_err(|_| FormError::InvalidUtf8 {
                        field: path.clone(),
                        part: FormPart::Name,
                        offset,
                    })?
                }
            };
            let value =
                match node {
                    Node::Leaf(bytes) => Value::String(String::from_utf8(bytes).map_err(|_| {
                        FormError::InvalidUtf8 {
                            field: path.clone(),
                            part: FormPart::Value,
                            offset,
                        }
                    })?),
                    Node::Array(array) => array.into_value(path)?,
                };
            path.truncate(path_len);
            if is_list {
                list.push(value);
            } else {
                map.insert(name, value);
            }
        }
        Ok(if is_list {
            Value::Array(list)
        } else {
            Value::Object(map)
        })
    }
}

fn push_path_segment(path: &mut String, key: &[u8]) {
    let nested = !path.is_empty();
    if nested {
        path.push('[');
    }
    path.push_str(&String::from_utf8_lossy(key));
    if nested {
        path.push(']');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(value: Value) -> String {
        encode(&value)
    }

    fn dec(body: &str) -> Value {
        decode(body).unwrap_or_else(|e| panic!("decode({body:?}) failed: {e}"))
    }

    // ---- encoding -------------------------------------------------------------------------

    #[test]
    fn encodes_flat_object_in_key_order() {
        assert_eq!(enc(json!({"b": "1", "a": "2"})), "b=1&a=2");
    }

    #[test]
    fn urlencodes_like_rfc1738() {
        assert_eq!(
            enc(json!({"s": "a b-c_d.e~f*g'h(i)j!k"})),
            "s=a+b-c_d.e%7Ef%2Ag%27h%28i%29j%21k"
        );
        assert_eq!(
            enc(json!({"s": "&=+%[]/?#"})),
            "s=%26%3D%2B%25%5B%5D%2F%3F%23"
        );
        assert_eq!(
            enc(json!({"s": "line\nnext\ttab\r"})),
            "s=line%0Anext%09tab%0D"
        );
        assert_eq!(enc(json!({"s": "\u{0}"})), "s=%00");
    }

    #[test]
    fn urlencodes_utf8_bytes_in_upper_case_hex() {
        assert_eq!(enc(json!({"s": "é"})), "s=%C3%A9");
        assert_eq!(
            enc(json!({"s": "Привет"})),
            "s=%D0%9F%D1%80%D0%B8%D0%B2%D0%B5%D1%82"
        );
        assert_eq!(enc(json!({"s": "😀"})), "s=%F0%9F%98%80");
    }

    #[test]
    fn encodes_keys_like_values() {
        assert_eq!(enc(json!({"a b&c=d": "x"})), "a+b%26c%3Dd=x");
        assert_eq!(enc(json!({"": "x"})), "=x");
        assert_eq!(
            enc(json!({"ключ": {"é": 1}})),
            "%D0%BA%D0%BB%D1%8E%D1%87%5B%C3%A9%5D=1"
        );
    }

    #[test]
    fn nests_with_percent_encoded_brackets() {
        assert_eq!(
            enc(json!({"a": {"b": [{"c": "v"}]}})),
            "a%5Bb%5D%5B0%5D%5Bc%5D=v"
        );
        assert_eq!(
            enc(json!({"filter": {">ID": 5, "=TYPE": "X"}})),
            "filter%5B%3EID%5D=5&filter%5B%3DTYPE%5D=X"
        );
        assert_eq!(enc(json!({"a": {"[x]": 1}})), "a%5B%5Bx%5D%5D=1");
    }

    #[test]
    fn numbers_arrays_by_position() {
        assert_eq!(
            enc(json!({"ids": [10, 20, 30]})),
            "ids%5B0%5D=10&ids%5B1%5D=20&ids%5B2%5D=30"
        );
        assert_eq!(
            enc(json!({"m": [[1, 2], [3]]})),
            "m%5B0%5D%5B0%5D=1&m%5B0%5D%5B1%5D=2&m%5B1%5D%5B0%5D=3"
        );
        // Positions count skipped nulls, as PHP's list keys do.
        assert_eq!(enc(json!({"a": [null, "x"]})), "a%5B1%5D=x");
    }

    #[test]
    fn writes_booleans_as_digits() {
        assert_eq!(enc(json!({"t": true, "f": false})), "t=1&f=0");
    }

    #[test]
    fn skips_nulls_and_empty_containers() {
        assert_eq!(
            enc(json!({"a": null, "b": [], "c": {}, "d": [[], {}, null], "e": ""})),
            "e="
        );
        assert_eq!(enc(json!({})), "");
        assert_eq!(enc(json!([])), "");
    }

    #[test]
    fn writes_integers_in_full() {
        assert_eq!(
            enc(json!({"a": 0, "b": -7, "c": i64::MIN, "d": i64::MAX})),
            "a=0&b=-7&c=-9223372036854775808&d=9223372036854775807"
        );
        // Beyond i64 PHP would go through a float; we keep the digits (see the module docs).
        assert_eq!(enc(json!({"u": u64::MAX})), "u=18446744073709551615");
    }

    #[test]
    fn writes_floats_with_php_precision_14() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (-3.0, "-3"),
            (0.1, "0.1"),
            (2.5, "2.5"),
            (0.1 + 0.2, "0.3"),
            (1.0 / 3.0, "0.33333333333333"),
            (2.0 / 3.0, "0.66666666666667"),
            (-0.0, "-0"),
            (0.0, "0"),
            (123.456, "123.456"),
            (0.0001, "0.0001"),
            (0.001, "0.001"),
            (1e-5, "1.0E-5"),
            (2.5e-5, "2.5E-5"),
            (1.5e-7, "1.5E-7"),
            (-1e-10, "-1.0E-10"),
            (1e13, "10000000000000"),
            (1e14, "1.0E%2B14"),
            (1e15, "1.0E%2B15"),
            (1e20, "1.0E%2B20"),
            (1e21, "1.0E%2B21"),
            (1e100, "1.0E%2B100"),
            (123_456_789.125, "123456789.125"),
            (12_345_678_901_234.5, "12345678901234"),
            (99_999_999_999_999.5, "1.0E%2B14"),
            (123_456_789_012_345.0, "1.2345678901234E%2B14"),
            (123_456_789_012_355.0, "1.2345678901236E%2B14"),
            (1.2345678901234567e29, "1.2345678901235E%2B29"),
            (18_446_744_073_709_551_615.0, "1.844674407371E%2B19"),
            (5e-324, "4.9406564584125E-324"),
            (f64::MAX, "1.7976931348623E%2B308"),
        ];
        for &(value, expected) in cases {
            let mut out = String::new();
            push_php_float(&mut out, value);
            assert_eq!(out, expected, "float {value:e}");
        }
        assert_eq!(enc(json!({"f": 1e20})), "f=1.0E%2B20");
    }

    #[test]
    fn non_finite_floats_print_like_php() {
        let mut out = String::new();
        push_php_float(&mut out, f64::INFINITY);
        push_php_float(&mut out, f64::NEG_INFINITY);
        push_php_float(&mut out, f64::NAN);
        assert_eq!(out, "INF-INFNAN");
    }

    #[test]
    fn top_level_scalar_is_a_one_element_list() {
        assert_eq!(enc(json!("a b")), "0=a+b");
        assert_eq!(enc(json!(5)), "0=5");
        assert_eq!(enc(json!(true)), "0=1");
        assert_eq!(enc(json!(null)), "");
        assert_eq!(enc(json!(["x", "y"])), "0=x&1=y");
    }

    #[test]
    fn encode_into_adds_a_separator_only_when_needed() {
        let mut out = String::from("auth=T");
        encode_into(&mut out, &json!({"a": 1}));
        assert_eq!(out, "auth=T&a=1");

        let mut out = String::from("auth=T&");
        encode_into(&mut out, &json!({"a": 1, "b": 2}));
        assert_eq!(out, "auth=T&a=1&b=2");

        let mut out = String::from("crm.deal.list?");
        encode_into(&mut out, &json!({"filter": {">ID": 5}}));
        assert_eq!(out, "crm.deal.list?filter%5B%3EID%5D=5");

        let mut out = String::from("auth=T");
        encode_into(&mut out, &json!({"a": null}));
        assert_eq!(out, "auth=T");
    }

    #[test]
    fn push_urlencoded_handles_multibyte_runs() {
        let mut out = String::new();
        push_urlencoded(&mut out, "aé b€c");
        assert_eq!(out, "a%C3%A9+b%E2%82%ACc");
    }

    // ---- decoding -------------------------------------------------------------------------

    #[test]
    fn decodes_plus_and_percent_escapes() {
        assert_eq!(
            dec("a=1+2%2B3&b=%C3%A9%20x"),
            json!({"a": "1 2+3", "b": "é x"})
        );
        assert_eq!(dec("a=%e2%82%ac"), json!({"a": "€"}));
    }

    #[test]
    fn keeps_malformed_percent_escapes_literally() {
        assert_eq!(
            dec("a=%&b=%2&c=%zz&d=%%41"),
            json!({"a": "%", "b": "%2", "c": "%zz", "d": "%A"})
        );
    }

    #[test]
    fn nested_keys_build_objects_and_lists() {
        assert_eq!(
            dec("data[PARAMS][MESSAGE]=Hi&data[PARAMS][CHAT_ID]=5&auth[domain]=x.bitrix24.com"),
            json!({"data": {"PARAMS": {"MESSAGE": "Hi", "CHAT_ID": "5"}}, "auth": {"domain": "x.bitrix24.com"}})
        );
        assert_eq!(
            dec("a%5Bb%5D%5B0%5D%5Bc%5D=v"),
            json!({"a": {"b": [{"c": "v"}]}})
        );
    }

    #[test]
    fn empty_brackets_append() {
        assert_eq!(dec("a[]=1&a[]=2"), json!({"a": ["1", "2"]}));
        assert_eq!(dec("a[ ]=1&a[ ]=2"), json!({"a": ["1", "2"]}));
        assert_eq!(dec("a[][]=1&a[][]=2"), json!({"a": [["1"], ["2"]]}));
        assert_eq!(
            dec("a[]=1&a[x]=2&a[]=3"),
            json!({"a": {"0": "1", "x": "2", "1": "3"}})
        );
    }

    #[test]
    fn append_continues_after_the_largest_integer_key() {
        assert_eq!(dec("a[5]=x&a[]=y"), json!({"a": {"5": "x", "6": "y"}}));
        assert_eq!(dec("a[-5]=x&a[]=y"), json!({"a": {"-5": "x", "-4": "y"}}));
        assert_eq!(
            dec("a[-9223372036854775808]=1&a[]=2"),
            json!({"a": {"-9223372036854775808": "1", "-9223372036854775807": "2"}})
        );
        // No integer key is left after i64::MAX: PHP drops the appended value.
        assert_eq!(
            dec("a[9223372036854775807]=1&a[]=2"),
            json!({"a": {"9223372036854775807": "1"}})
        );
    }

    #[test]
    fn last_value_wins_in_first_position() {
        assert_eq!(
            dec("a[x]=1&a[y]=2&a[x]=3"),
            json!({"a": {"x": "3", "y": "2"}})
        );
        assert_eq!(dec("a=1&b=2&a=3"), json!({"a": "3", "b": "2"}));
        assert_eq!(
            serde_json::to_string(&dec("a=1&b=2&a=3")).unwrap(),
            r#"{"a":"3","b":"2"}"#
        );
    }

    #[test]
    fn scalars_and_arrays_replace_each_other() {
        assert_eq!(dec("a=1&a[b]=2"), json!({"a": {"b": "2"}}));
        assert_eq!(dec("a[b]=2&a=1"), json!({"a": "1"}));
        assert_eq!(dec("a[b][c]=1&a[b]=2"), json!({"a": {"b": "2"}}));
    }

    #[test]
    fn integer_keys_must_be_canonical() {
        assert_eq!(dec("a[0]=x&a[1]=y"), json!({"a": ["x", "y"]}));
        assert_eq!(
            serde_json::to_string(&dec("a[1]=x&a[0]=y")).unwrap(),
            r#"{"a":{"1":"x","0":"y"}}"#
        );
        assert_eq!(
            serde_json::to_string(&dec("a[00]=1&a[0]=2&a[-0]=3&a[01]=4")).unwrap(),
            r#"{"a":{"00":"1","0":"2","-0":"3","01":"4"}}"#
        );
        assert_eq!(dec("a[1]=1&a[2]=2"), json!({"a": {"1": "1", "2": "2"}}));
        assert_eq!(
            dec("a[9223372036854775808]=1"),
            json!({"a": {"9223372036854775808": "1"}})
        );
        // `+` decodes to a space first, so `[+1]` is the string key " 1".
        assert_eq!(dec("a[+1]=1"), json!({"a": {" 1": "1"}}));
    }

    #[test]
    fn top_level_list_when_keys_are_positions() {
        assert_eq!(dec("0=a&1=b"), json!(["a", "b"]));
        assert_eq!(dec("1=a&0=b"), json!({"1": "a", "0": "b"}));
    }

    #[test]
    fn empty_body_is_an_empty_object() {
        assert_eq!(dec(""), json!({}));
        assert_eq!(dec("&&"), json!({}));
        assert_eq!(dec("=1&[x]=2"), json!({}));
    }

    #[test]
    fn pieces_without_equals_have_empty_values() {
        assert_eq!(dec("a&&b=2&"), json!({"a": "", "b": "2"}));
        assert_eq!(dec("a=b=c"), json!({"a": "b=c"}));
    }

    #[test]
    fn mangles_top_level_names_like_php() {
        assert_eq!(dec("a b=1&c.d=2"), json!({"a_b": "1", "c_d": "2"}));
        assert_eq!(dec(" a=1&%20b=2"), json!({"a": "1", "b": "2"}));
        assert_eq!(dec(". =1"), json!({"__": "1"}));
        assert_eq!(dec("a.b[c.d e]=1"), json!({"a_b": {"c.d e": "1"}}));
        assert_eq!(dec("a+b[c+d]=1"), json!({"a_b": {"c d": "1"}}));
        assert_eq!(dec("a%2Eb=1"), json!({"a_b": "1"}));
        assert_eq!(dec("?a=1&a;b=2"), json!({"?a": "1", "a;b": "2"}));
    }

    #[test]
    fn lone_open_bracket_becomes_underscore() {
        assert_eq!(dec("a[b=1"), json!({"a_b": "1"}));
        assert_eq!(dec("a[b.c d[e=1"), json!({"a_b_c_d_e": "1"}));
        assert_eq!(dec("a.[b=1"), json!({"a__b": "1"}));
        assert_eq!(dec("a[ =1"), json!({"a__": "1"}));
    }

    #[test]
    fn unterminated_deeper_index_ends_the_name() {
        assert_eq!(dec("a[b][c=1"), json!({"a": {"b": "1"}}));
        assert_eq!(dec("a[b][=1"), json!({"a": {"b": "1"}}));
        assert_eq!(dec("a[][c=1"), json!({"a": ["1"]}));
    }

    #[test]
    fn text_after_a_closing_bracket_is_ignored() {
        assert_eq!(dec("a[b]c=1"), json!({"a": {"b": "1"}}));
        assert_eq!(dec("a[b]]=1"), json!({"a": {"b": "1"}}));
        assert_eq!(dec("a[]b=1"), json!({"a": ["1"]}));
        assert_eq!(dec("a]b=1"), json!({"a]b": "1"}));
    }

    #[test]
    fn brackets_inside_an_index_are_kept() {
        assert_eq!(dec("a[[b]]=1"), json!({"a": {"[b": "1"}}));
        assert_eq!(dec("a[b[c]]=1"), json!({"a": {"b[c": "1"}}));
        assert_eq!(dec("a[b%5D=1"), json!({"a": {"b": "1"}}));
        assert_eq!(dec("a[ x]=1&a[  ]=2"), json!({"a": {" x": "1", "  ": "2"}}));
    }

    #[test]
    fn nul_ends_names_and_raw_nul_ends_the_body() {
        assert_eq!(dec("a%00b=1"), json!({"a": "1"}));
        assert_eq!(dec("a[x%00y]=1"), json!({"a_x": "1"}));
        assert_eq!(dec("a=x%00y"), json!({"a": "x\u{0}y"}));
        assert_eq!(dec("a=1\0&b=2"), json!({"a": "1"}));
        assert_eq!(dec("%00=1"), json!({}));
    }

    #[test]
    fn depth_limit_is_an_error_naming_the_field() {
        let ok = format!("a{}=1", "[x]".repeat(64));
        assert!(decode(&ok).is_ok());
        let deep = format!("z=0&a{}=1", "[x]".repeat(65));
        let err = decode(&deep).unwrap_err();
        assert_eq!(
            err,
            FormError::TooDeep {
                field: "a".into(),
                limit: 64,
                offset: 4
            }
        );
        assert_eq!(
            err.to_string(),
            "form field `a` is nested more than 64 levels deep"
        );

        let limits = FormLimits {
            max_depth: 1,
            ..FormLimits::default()
        };
        assert!(decode_with("a[b]=1", &limits).is_ok());
        assert!(matches!(
            decode_with("a[b][c]=1", &limits),
            Err(FormError::TooDeep { .. })
        ));
        // PHP counts the level before it knows the `[` is unterminated.
        let flat = FormLimits {
            max_depth: 0,
            ..FormLimits::default()
        };
        assert!(matches!(
            decode_with("a[b=1", &flat),
            Err(FormError::TooDeep { .. })
        ));
        assert!(decode_with("a=1", &flat).is_ok());
    }

    #[test]
    fn pair_and_length_limits_are_errors() {
        let limits = FormLimits {
            max_pairs: 2,
            max_depth: 64,
            max_len: 20,
            max_nodes: 100,
        };
        assert!(decode_with("a=1&&b=2&", &limits).is_ok());
        assert_eq!(
            decode_with("a=1&b=2&c=3", &limits),
            Err(FormError::TooManyPairs { limit: 2 })
        );
        assert_eq!(
            decode_with("a=123456789012345678901", &limits),
            Err(FormError::TooLong { len: 23, limit: 20 })
        );
    }

    #[test]
    fn the_value_budget_counts_every_level_of_every_pair() {
        let limits = FormLimits {
            max_nodes: 6,
            ..FormLimits::default()
        };
        assert!(decode_with("a[b][c]=1&a[b][d]=2", &limits).is_ok());
        assert_eq!(
            decode_with("a[b][c]=1&a[b][d]=2&e=3", &limits),
            Err(FormError::TooManyNodes { limit: 6 })
        );
        // Appending arrays, the shape that costs the most per byte.
        let appends = [
            format!("a{}=", "[]".repeat(4)),
            format!("a{}=", "[]".repeat(4)),
        ]
        .join("&");
        assert_eq!(
            decode_with(&appends, &limits),
            Err(FormError::TooManyNodes { limit: 6 })
        );
    }

    #[test]
    fn invalid_utf8_is_an_error_without_the_value() {
        let err = decode("ok=1&data[TOKEN]=secret%FF").unwrap_err();
        assert_eq!(
            err,
            FormError::InvalidUtf8 {
                field: "data[TOKEN]".into(),
                part: FormPart::Value,
                offset: 5
            }
        );
        let message = err.to_string();
        assert!(!message.contains("secret"), "{message}");
        assert_eq!(
            message,
            "form field `data[TOKEN]`: the value is not valid UTF-8 after percent-decoding (pair at byte 5)"
        );

        let err = decode("a[%FFx][b]=1").unwrap_err();
        assert_eq!(
            err,
            FormError::InvalidUtf8 {
                field: "a[\u{FFFD}x]".into(),
                part: FormPart::Name,
                offset: 0
            }
        );
        assert!(matches!(
            decode("%C3=1"),
            Err(FormError::InvalidUtf8 {
                part: FormPart::Name,
                ..
            })
        ));
    }

    #[test]
    fn overwritten_invalid_utf8_does_not_count() {
        assert_eq!(dec("a=%FF&a=ok"), json!({"a": "ok"}));
    }

    #[test]
    fn round_trips_nested_values_as_strings() {
        let value = json!({
            "event": "ONIMBOTMESSAGEADD",
            "data": {"PARAMS": {"MESSAGE": "1 + 1 = 2 & [ok] 😀", "IDS": [1, 2, 3], "FLAG": true}},
            "empty": [],
        });
        assert_eq!(
            dec(&encode(&value)),
            json!({
                "event": "ONIMBOTMESSAGEADD",
                "data": {"PARAMS": {"MESSAGE": "1 + 1 = 2 & [ok] 😀", "IDS": ["1", "2", "3"], "FLAG": "1"}},
            })
        );
    }

    // ---- properties -----------------------------------------------------------------------

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Keys that PHP's decoder gives back unchanged: no mangled characters, not numeric.
        fn plain_key() -> impl Strategy<Value = String> {
            "[a-zA-Z_][a-zA-Z0-9_é-]{0,6}"
        }

        fn plain_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                any::<String>().prop_map(Value::String),
                any::<i64>().prop_map(Value::from),
                any::<bool>().prop_map(Value::Bool),
            ];
            leaf.prop_recursive(4, 32, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 1..4).prop_map(Value::Array),
                    prop::collection::vec((plain_key(), inner), 1..4)
                        .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
                ]
            })
        }

        /// What PHP hands back for `value` after a round trip: leaves as strings, `true` as "1".
        fn as_php_strings(value: &Value) -> Value {
            match value {
                Value::String(s) => Value::String(s.clone()),
                Value::Bool(b) => Value::String(if *b { "1" } else { "0" }.into()),
                Value::Number(n) => Value::String(n.to_string()),
                Value::Array(items) => Value::Array(items.iter().map(as_php_strings).collect()),
                Value::Object(map) => Value::Object(
                    map.iter()
                        .map(|(k, v)| (k.clone(), as_php_strings(v)))
                        .collect(),
                ),
                Value::Null => Value::Null,
            }
        }

        proptest! {
            #[test]
            fn decode_is_total(body in "[a-z0-9\\[\\]&=%+. \\x00éA-F]{0,40}") {
                let _ = decode(&body);
            }

            #[test]
            fn decode_is_total_on_any_text(body in any::<String>()) {
                let _ = decode(&body);
            }

            #[test]
            fn decode_inverts_encode(
                fields in prop::collection::vec((plain_key(), plain_value()), 1..5)
            ) {
                let value = Value::Object(fields.into_iter().collect());
                let body = encode(&value);
                let decoded = decode(&body).map_err(|e| TestCaseError::fail(e.to_string()))?;
                // Compare as text: Map equality ignores order, PHP keeps it.
                prop_assert_eq!(
                    serde_json::to_string(&decoded).unwrap(),
                    serde_json::to_string(&as_php_strings(&value)).unwrap()
                );
            }

            #[test]
            fn encoded_output_is_ascii_without_raw_specials(value in plain_value()) {
                let body = encode(&value);
                prop_assert!(body.bytes().all(|b| b.is_ascii_graphic()), "{}", body);
                prop_assert!(!body.contains(['[', ']']), "{}", body);
            }

            #[test]
            fn floats_match_php_layout_and_round_trip_at_14_digits(bits in any::<u64>()) {
                let value = f64::from_bits(bits);
                prop_assume!(value.is_finite());
                let mut out = String::new();
                push_php_float(&mut out, value);
                let text = out.replace("%2B", "+");
                let parsed: f64 = text.parse().map_err(|_| TestCaseError::fail(text.clone()))?;
                // 14 significant digits: relative error at most half a unit in the 14th digit.
                if value != 0.0 {
                    prop_assert!(((parsed - value) / value).abs() <= 5e-14, "{} -> {}", value, text);
                }
                prop_assert_eq!(parsed.is_sign_negative(), value.is_sign_negative());
            }
        }
    }
}
