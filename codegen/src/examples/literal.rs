//! A tolerant reader for the literals in the docs' examples: JSON as the docs write it (comments,
//! trailing commas, `...` for "and so on"), JavaScript object literals and PHP arrays.
//!
//! It converts data and nothing else. A value that is code (a variable, `new Date()`, a string
//! built with `+` or `.`, a shell substitution) or a placeholder the docs ask the reader to fill
//! in (`**put_your_id_here**`, `"..."`) is kept as its source text and its JSON pointer is
//! listed in [`Parsed::placeholders`], so the example is never mistaken for real data. Elided
//! items (`[1, 2, ...]`) are dropped. What cannot be read as a literal at all is an error, and
//! the caller counts it as skipped.

use crate::json::Json;

/// Marks the start of text the shell would substitute (`$(date)`, `$id`) in a cURL body; see
/// [`SUBST_END`]. Private-use characters, so they never occur in the docs themselves.
pub(crate) const SUBST_START: char = '\u{E000}';
/// Marks the end of a shell substitution.
pub(crate) const SUBST_END: char = '\u{E001}';

const MAX_DEPTH: usize = 64;

/// The language a literal is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// JSON, with comments, trailing commas, single quotes and `...` tolerated.
    Json,
    /// A JavaScript expression: unquoted keys, `'` and `` ` `` strings.
    Js,
    /// A PHP expression: `[ 'k' => v ]` and `array(...)`.
    Php,
}

/// A literal read from example code.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Parsed {
    /// The data. A placeholder is a string holding its source text.
    pub value: Json,
    /// JSON pointers (`/fields/DEADLINE`) of the values that are placeholders or code.
    pub placeholders: Vec<String>,
    /// Byte offset just past the literal.
    pub end: usize,
}

/// Reads a whole text as one literal (an optional `;` and comments may follow).
pub(crate) fn parse_document(text: &str, dialect: Dialect) -> Result<Parsed, String> {
    let mut p = Parser::new(text, 0, dialect);
    let value = p.top()?;
    p.ws();
    if p.peek() == Some(';') {
        p.pos += 1;
        p.ws();
    }
    if p.pos < text.len() {
        return Err(p.error("text after the value"));
    }
    Ok(p.finish(value))
}

/// Reads one literal starting at byte `start` of `text` (a call's argument) and says where it
/// ends.
pub(crate) fn parse_at(text: &str, start: usize, dialect: Dialect) -> Result<Parsed, String> {
    let mut p = Parser::new(text, start, dialect);
    let value = p.top()?;
    Ok(p.finish(value))
}

/// A value, or an elision (`...`) that the container drops.
enum Item {
    Value(Json),
    Elided,
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    dialect: Dialect,
    /// The JSON pointer segments of the value being read.
    path: Vec<String>,
    placeholders: Vec<String>,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, pos: usize, dialect: Dialect) -> Self {
        Self {
            text,
            pos,
            dialect,
            path: Vec::new(),
            placeholders: Vec::new(),
        }
    }

    fn finish(self, value: Json) -> Parsed {
        Parsed {
            value,
            placeholders: self.placeholders,
            end: self.pos,
        }
    }

    fn top(&mut self) -> Result<Json, String> {
        self.ws();
        match self.item(0)? {
            Item::Value(v) => Ok(v),
            Item::Elided => Err(self.error("the example is only `...`")),
        }
    }

    fn error(&self, what: &str) -> String {
        let line = self.text[..self.pos.min(self.text.len())]
            .matches('\n')
            .count();
        format!("{what} (line {} of the literal)", line + 1)
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// Skips white space and comments (`//`, `/* */`, and PHP's `#`).
    fn ws(&mut self) {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start();
            self.pos += rest.len() - trimmed.len();
            if trimmed.starts_with("//")
                || (self.dialect == Dialect::Php && trimmed.starts_with('#'))
            {
                self.pos += trimmed.find('\n').unwrap_or(trimmed.len());
            } else if trimmed.starts_with("/*") {
                self.pos += trimmed.find("*/").map_or(trimmed.len(), |at| at + 2);
            } else {
                return;
            }
        }
    }

    fn pointer(&self) -> String {
        self.path
            .iter()
            .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
            .collect()
    }

    fn placeholder(&mut self, source: &str) -> Json {
        self.placeholders.push(self.pointer());
        let text: String = source
            .chars()
            .filter(|c| *c != SUBST_START && *c != SUBST_END)
            .collect();
        Json::String(text.trim().to_owned())
    }

    fn item(&mut self, depth: usize) -> Result<Item, String> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.ws();
        let start = self.pos;
        if self.eat("...") || self.eat("…") {
            // `...` alone is an elision; `...rest` (a JavaScript spread) is code.
            if self.at_end_of_value() {
                return Ok(Item::Elided);
            }
            self.pos = start;
            return self.expression(start).map(Item::Value);
        }
        let Some(c) = self.peek() else {
            return Err(self.error("expected a value"));
        };
        let value = match c {
            '{' if self.dialect != Dialect::Php => self.object(depth)?,
            '[' if self.dialect == Dialect::Php => {
                self.pos += 1;
                self.php_array(']', depth)?
            }
            '[' => self.array(depth)?,
            'a' | 'A' if self.dialect == Dialect::Php && self.php_array_call() => {
                self.php_array(')', depth)?
            }
            '"' | '\'' | '`' => {
                let (text, is_code) = self.string()?;
                if !self.at_end_of_value() {
                    return self.code_after_literal(start).map(Item::Value);
                }
                if is_code || is_placeholder_text(&text) {
                    self.placeholder(&text)
                } else {
                    Json::String(text)
                }
            }
            SUBST_START => {
                self.pos += self
                    .rest()
                    .find(SUBST_END)
                    .map_or(self.rest().len(), |at| at + SUBST_END.len_utf8());
                if !self.at_end_of_value() {
                    return self.expression(start).map(Item::Value);
                }
                let source = &self.text[start..self.pos];
                self.placeholder(source)
            }
            '*' if self.rest().starts_with("**") => {
                let close = self.rest()[2..]
                    .find("**")
                    .map_or(self.rest().len(), |at| at + 4);
                self.pos += close;
                let source = &self.text[start..self.pos];
                self.placeholder(source)
            }
            _ => match self.scalar() {
                Some(value) if self.at_end_of_value() => value,
                Some(_) => return self.code_after_literal(start).map(Item::Value),
                None => return self.expression(start).map(Item::Value),
            },
        };
        Ok(Item::Value(value))
    }

    /// Whether the next token ends a value: a separator, a closing bracket or the end.
    fn at_end_of_value(&mut self) -> bool {
        let save = self.pos;
        self.ws();
        let rest = self.rest();
        let end = rest.is_empty()
            || rest.starts_with([',', '}', ']', ')', ';'])
            || (self.dialect == Dialect::Php && rest.starts_with("=>"));
        if !end {
            self.pos = save;
        }
        end
    }

    /// A number or a keyword (`true`, `null`, ...), or `None` when the text is neither.
    fn scalar(&mut self) -> Option<Json> {
        let rest = self.rest();
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '+')))
            .unwrap_or(rest.len());
        let word = &rest[..len];
        let value = match word {
            "true" | "TRUE" | "True" => Json::Bool(true),
            "false" | "FALSE" | "False" => Json::Bool(false),
            "null" | "NULL" | "Null" => Json::Null,
            _ if is_json_number(word) => Json::Number(word.to_owned()),
            _ => return None,
        };
        self.pos += len;
        Some(value)
    }

    /// A literal followed by more than a separator (`'a' + b`, `10 * day`): code in JavaScript
    /// and PHP, a syntax error in JSON.
    fn code_after_literal(&mut self, start: usize) -> Result<Json, String> {
        if self.dialect == Dialect::Json {
            return Err(self.error("expected ',' or a closing bracket after a value"));
        }
        self.expression(start)
    }

    /// Code in a value position: read up to the next separator or closing bracket at the
    /// same depth, and keep the text as a placeholder. JSON allows a bare name only
    /// (`"OWNER_ID": selectedEntityId`), not a stretch of JSON that lost its punctuation.
    fn expression(&mut self, start: usize) -> Result<Json, String> {
        self.pos = start;
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' if depth == 0 => break,
                ')' | ']' | '}' => depth -= 1,
                ',' | ';' if depth == 0 => break,
                '=' if depth == 0
                    && self.dialect == Dialect::Php
                    && self.rest().starts_with("=>") =>
                {
                    break;
                }
                '"' | '\'' | '`' => {
                    self.string()?;
                    continue;
                }
                '/' if self.rest().starts_with("//") || self.rest().starts_with("/*") => {
                    self.ws();
                    continue;
                }
                _ => {}
            }
            self.pos += c.len_utf8();
        }
        let source = self.text[start..self.pos].trim();
        if source.is_empty() {
            return Err(self.error("expected a value"));
        }
        if self.dialect == Dialect::Json && source.contains([':', '"']) {
            return Err(self.error("expected a value"));
        }
        Ok(self.placeholder(source))
    }

    /// A quoted string; the flag is set when it holds code (a template or PHP interpolation
    /// of a variable, or a shell substitution).
    fn string(&mut self) -> Result<(String, bool), String> {
        let quote = self.peek().unwrap_or('"');
        self.pos += quote.len_utf8();
        let mut out = String::new();
        let mut code = false;
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error("unterminated string"));
            };
            self.pos += c.len_utf8();
            match c {
                c if c == quote => return Ok((out, code)),
                '\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.error("unterminated string"));
                    };
                    self.pos += e.len_utf8();
                    // PHP's single quotes know only `\'` and `\\`.
                    if quote == '\'' && self.dialect == Dialect::Php && e != '\'' && e != '\\' {
                        out.push('\\');
                        out.push(e);
                        continue;
                    }
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        '0' => out.push('\0'),
                        'u' => out.push(self.unicode_escape()?),
                        '\n' => {}
                        e => out.push(e),
                    }
                }
                '$' if quote == '`' && self.peek() == Some('{') => {
                    code = true;
                    out.push(c);
                }
                '$' if quote == '"'
                    && self.dialect == Dialect::Php
                    && self
                        .peek()
                        .is_some_and(|n| n == '{' || n == '_' || n.is_ascii_alphabetic()) =>
                {
                    code = true;
                    out.push(c);
                }
                SUBST_START => {
                    code = true;
                    out.push(c);
                }
                c => out.push(c),
            }
        }
    }

    fn unicode_escape(&mut self) -> Result<char, String> {
        let hex = |p: &mut Self| -> Result<u32, String> {
            let digits = p.rest().get(..4).ok_or_else(|| p.error("bad \\u escape"))?;
            let code = u32::from_str_radix(digits, 16).map_err(|_| p.error("bad \\u escape"))?;
            p.pos += 4;
            Ok(code)
        };
        let mut code = hex(self)?;
        if (0xD800..0xDC00).contains(&code) && self.eat("\\u") {
            let low = hex(self)?;
            code = 0x10000 + ((code - 0xD800) << 10) + (low.saturating_sub(0xDC00) & 0x3FF);
        }
        Ok(char::from_u32(code).unwrap_or('\u{fffd}'))
    }

    /// `{ key: value, ... }` in JSON or JavaScript.
    fn object(&mut self, depth: usize) -> Result<Json, String> {
        self.pos += 1;
        let mut entries: Vec<(String, Json)> = Vec::new();
        loop {
            self.ws();
            if self.eat("}") {
                return Ok(Json::Object(entries));
            }
            if self.eat(",") {
                continue;
            }
            let key_start = self.pos;
            if self.eat("...") || self.eat("…") {
                if self.at_end_of_value() {
                    continue;
                }
                // A spread of another object: its keys are unknown, the entry is code.
                self.expression(key_start)?;
                self.placeholders.pop();
                let key = self.text[key_start..self.pos].trim().to_owned();
                self.path.push(key.clone());
                let value = self.placeholder(&key);
                self.path.pop();
                entries.push((key, value));
                continue;
            }
            let (key, key_is_code) = self.key()?;
            self.path.push(key.clone());
            self.ws();
            let before = self.placeholders.len();
            let value = if self.eat(":") {
                match self.item(depth + 1)? {
                    Item::Value(v) if !key_is_code => v,
                    Item::Value(_) => {
                        // A computed key: the whole entry is code.
                        self.placeholders.truncate(before);
                        let source = self.text[key_start..self.pos].to_owned();
                        self.placeholder(&source)
                    }
                    Item::Elided => {
                        self.path.pop();
                        continue;
                    }
                }
            } else if self.dialect == Dialect::Js && matches!(self.peek(), Some(',' | '}')) {
                // `{ fields }`: the value of a variable of that name.
                let source = self.text[key_start..self.pos].to_owned();
                self.placeholder(&source)
            } else {
                self.path.pop();
                return Err(self.error("expected ':' after a key"));
            };
            self.path.pop();
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = value,
                None => entries.push((key, value)),
            }
            self.ws();
            if !self.eat(",") && self.peek() != Some('}') {
                return Err(self.error("expected ',' or '}'"));
            }
        }
    }

    /// An object key: a quoted string, a bare word or number, a computed `[key]`, or a shell
    /// substitution; the flag is set when the key is code.
    fn key(&mut self) -> Result<(String, bool), String> {
        match self.peek() {
            Some('"' | '\'' | '`') => {
                let (key, code) = self.string()?;
                let code = code || is_placeholder_text_strict(&key);
                Ok((key, code))
            }
            Some('[') if self.dialect == Dialect::Js => {
                let start = self.pos;
                let mut depth = 0;
                while let Some(c) = self.peek() {
                    self.pos += c.len_utf8();
                    match c {
                        '[' => depth += 1,
                        ']' if depth <= 1 => break,
                        ']' => depth -= 1,
                        _ => {}
                    }
                }
                Ok((self.text[start..self.pos].to_owned(), true))
            }
            Some(SUBST_START) => {
                let start = self.pos;
                self.pos += self
                    .rest()
                    .find(SUBST_END)
                    .map_or(self.rest().len(), |at| at + SUBST_END.len_utf8());
                Ok((self.text[start..self.pos].to_owned(), true))
            }
            _ => {
                let rest = self.rest();
                let len = rest
                    .find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '$' | '-' | '.')))
                    .unwrap_or(rest.len());
                if len == 0 {
                    return Err(self.error("expected a key"));
                }
                self.pos += len;
                Ok((rest[..len].to_owned(), false))
            }
        }
    }

    /// `[ value, ... ]` in JSON or JavaScript.
    fn array(&mut self, depth: usize) -> Result<Json, String> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.ws();
            if self.eat("]") {
                return Ok(Json::Array(items));
            }
            if self.eat(",") {
                continue;
            }
            self.path.push(items.len().to_string());
            let item = self.item(depth + 1)?;
            self.path.pop();
            if let Item::Value(v) = item {
                items.push(v);
            }
            self.ws();
            if !self.eat(",") && self.peek() != Some(']') {
                return Err(self.error("expected ',' or ']'"));
            }
        }
    }

    /// At `array(`: consumes it.
    fn php_array_call(&mut self) -> bool {
        let rest = self.rest();
        if rest.len() >= 5 && rest[..5].eq_ignore_ascii_case("array") {
            let after = rest[5..].trim_start();
            if after.starts_with('(') {
                self.pos += rest.len() - after.len() + 1;
                return true;
            }
        }
        false
    }

    /// The entries of a PHP array up to `close`; `[` or `array(` is already consumed. A list
    /// (no keys, or keys 0, 1, 2, ... in order) becomes a JSON array, anything else an object,
    /// as `json_encode` does.
    fn php_array(&mut self, close: char, depth: usize) -> Result<Json, String> {
        let mut entries: Vec<(String, Json)> = Vec::new();
        let mut next_index: i64 = 0;
        let mut is_list = true;
        loop {
            self.ws();
            if self.peek() == Some(close) {
                self.pos += 1;
                break;
            }
            if self.eat(",") {
                continue;
            }
            let start = self.pos;
            let before = self.placeholders.len();
            self.path.push(next_index.to_string());
            let first = self.item(depth + 1)?;
            self.path.pop();
            let first_is_code = self.placeholders.len() > before;
            self.ws();
            let arrow = self.pos;
            let (key, value) = if self.eat("=>") {
                let key = match first {
                    Item::Value(_) if first_is_code => {
                        // A constant or a variable as the key: the entry is code.
                        self.placeholders.truncate(before);
                        None
                    }
                    Item::Value(Json::String(s)) => Some(s),
                    Item::Value(Json::Number(n)) => Some(n),
                    Item::Value(Json::Bool(b)) => Some(i64::from(b).to_string()),
                    Item::Value(Json::Null) => Some(String::new()),
                    Item::Value(_) | Item::Elided => return Err(self.error("an array as a key")),
                };
                let key_text = key
                    .clone()
                    .unwrap_or_else(|| self.text[start..arrow].trim().to_owned());
                self.path.push(key_text.clone());
                let before_value = self.placeholders.len();
                let value = self.item(depth + 1)?;
                let value = match (value, key) {
                    (Item::Elided, _) => {
                        self.path.pop();
                        continue;
                    }
                    (Item::Value(v), Some(_)) => v,
                    (Item::Value(_), None) => {
                        self.placeholders.truncate(before_value);
                        let source = self.text[start..self.pos].to_owned();
                        self.placeholder(&source)
                    }
                };
                self.path.pop();
                (key_text, value)
            } else {
                match first {
                    Item::Value(v) => (next_index.to_string(), v),
                    Item::Elided => continue,
                }
            };
            if key != next_index.to_string() {
                is_list = false;
            }
            if let Ok(index) = key.parse::<i64>() {
                next_index = next_index.max(index.saturating_add(1));
            }
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = value,
                None => entries.push((key, value)),
            }
            self.ws();
            if !self.eat(",") && self.peek() != Some(close) {
                return Err(self.error(&format!("expected ',' or '{close}'")));
            }
        }
        Ok(if is_list {
            Json::Array(entries.into_iter().map(|(_, v)| v).collect())
        } else {
            Json::Object(entries)
        })
    }
}

/// A string value the docs mean as "fill this in" (`...`, `**put_your_id_here**`,
/// `your_id_here`) or that they cut short (`iVBORw0KGgo...rk5CYII=`, file content elided).
fn is_placeholder_text(s: &str) -> bool {
    let t = s.trim();
    let is_word = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    let elided_content = t.len() >= 20
        && t.contains("...")
        && t.replace("...", "")
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    t == "..."
        || t == "…"
        || is_placeholder_text_strict(t)
        || (is_word(t) && (t.starts_with("your_") || t.starts_with("put_") || t.ends_with("_here")))
        || elided_content
}

/// A `**put_..._here**` marker, the docs' way of writing a value the reader supplies.
fn is_placeholder_text_strict(s: &str) -> bool {
    let t = s.trim();
    (t.len() > 4 && t.starts_with("**") && t.ends_with("**")) || t.contains(SUBST_START)
}

/// Whether `word` is a number as JSON writes it (so it can be written back unchanged).
fn is_json_number(word: &str) -> bool {
    let digits = word.strip_prefix('-').unwrap_or(word);
    let int_part = digits.split(['.', 'e', 'E']).next().unwrap_or("");
    let leading_zero = int_part.len() > 1 && int_part.starts_with('0');
    let well_formed = !int_part.is_empty()
        && int_part.bytes().all(|b| b.is_ascii_digit())
        && !word.ends_with('.')
        && !digits.contains(".e");
    well_formed && !leading_zero && word.parse::<f64>().is_ok_and(f64::is_finite)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, dialect: Dialect) -> (String, Vec<String>) {
        let parsed = parse_document(text, dialect).unwrap_or_else(|e| panic!("{text}: {e}"));
        (parsed.value.to_json(), parsed.placeholders)
    }

    #[test]
    fn docs_json_with_comments_trailing_commas_and_elisions() {
        let (json, marks) = read(
            "{\n  // the answer\n  \"result\": [{\"ID\": \"1\"}, ...],\n  \"total\": 2,\n}",
            Dialect::Json,
        );
        assert_eq!(json, r#"{"result":[{"ID":"1"}],"total":2}"#);
        assert!(marks.is_empty());
    }

    #[test]
    fn placeholders_are_marked_not_invented() {
        let (json, marks) = read(
            r#"{"id": **put_id_here**, "a": "...", "b": ["x", "**put_value**"], "c": "your_id_here", "f": ["a.png", "iVBORw0KGgoAAAANSUhEUg...rk5CYII="], "d": "Some text..."}"#,
            Dialect::Json,
        );
        assert_eq!(
            json,
            r#"{"id":"**put_id_here**","a":"...","b":["x","**put_value**"],"c":"your_id_here","f":["a.png","iVBORw0KGgoAAAANSUhEUg...rk5CYII="],"d":"Some text..."}"#
        );
        assert_eq!(marks, ["/id", "/a", "/b/1", "/c", "/f/1"]);
    }

    #[test]
    fn javascript_objects_keep_data_and_mark_code() {
        let (json, marks) = read(
            "{ fields: { TITLE: 'Deal', 'SUM': -1.5, DATE: new Date().toISOString(), NOTE: 'a' + b, photo: document.getElementById('photo') }, select: [`ID`], filter, }",
            Dialect::Js,
        );
        assert_eq!(
            json,
            r#"{"fields":{"TITLE":"Deal","SUM":-1.5,"DATE":"new Date().toISOString()","NOTE":"'a' + b","photo":"document.getElementById('photo')"},"select":["ID"],"filter":"filter"}"#
        );
        assert_eq!(
            marks,
            ["/fields/DATE", "/fields/NOTE", "/fields/photo", "/filter"]
        );
    }

    #[test]
    fn php_arrays_become_lists_or_objects_as_json_encode_makes_them() {
        let (json, marks) = read(
            "[ 'FIELDS' => [ 'TITLE' => \"It's\", 'IDS' => [84, 83], 'ON' => TRUE, 'AT' => date('c'), 'NAME' => \"Hi $name\" ], 'LIST' => array(0 => 'a', 1 => 'b'), 'MAP' => [2 => 'x'] ]",
            Dialect::Php,
        );
        assert_eq!(
            json,
            r#"{"FIELDS":{"TITLE":"It's","IDS":[84,83],"ON":true,"AT":"date('c')","NAME":"Hi $name"},"LIST":["a","b"],"MAP":{"2":"x"}}"#
        );
        assert_eq!(marks, ["/FIELDS/AT", "/FIELDS/NAME"]);
    }

    #[test]
    fn a_constant_as_a_php_key_makes_the_entry_code() {
        let (json, marks) = read("['A' => 1, SomeClass::KEY => 2]", Dialect::Php);
        assert_eq!(json, r#"{"A":1,"SomeClass::KEY":"SomeClass::KEY => 2"}"#);
        assert_eq!(marks, ["/SomeClass::KEY"]);
    }

    #[test]
    fn shell_substitutions_are_placeholders() {
        let text = format!(
            "{{\"id\": {SUBST_START}$id{SUBST_END}, \"at\": \"{SUBST_START}$(date){SUBST_END}\"}}"
        );
        let (json, marks) = read(&text, Dialect::Json);
        assert_eq!(json, r#"{"id":"$id","at":"$(date)"}"#);
        assert_eq!(marks, ["/id", "/at"]);
    }

    #[test]
    fn a_call_argument_ends_where_the_literal_does() {
        let text = "f('crm.deal.get', { id: 2 }, function(r) {})";
        let name = parse_at(text, 2, Dialect::Js).unwrap();
        assert_eq!(name.value, Json::String("crm.deal.get".to_owned()));
        let params = parse_at(text, name.end + 1, Dialect::Js).unwrap();
        assert_eq!(params.value.to_json(), r#"{"id":2}"#);
        assert_eq!(&text[params.end..], ", function(r) {})");
    }

    #[test]
    fn broken_literals_are_errors_not_guesses() {
        for (bad, dialect) in [
            (r#"{"a": 1 "b": 2}"#, Dialect::Json),
            (r#"{"result": { {"id": 1} }}"#, Dialect::Json),
            ("[ 'a' => [ 'b' => 1 }, ]", Dialect::Php),
            ("{ a: 'unterminated }", Dialect::Js),
            (&"[".repeat(200), Dialect::Json),
        ] {
            assert!(parse_document(bad, dialect).is_err(), "{bad}");
        }
    }
}
