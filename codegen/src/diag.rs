//! Schema errors that name the file and the item in it, so a schema author can fix every one of
//! them from a single `check` run.

use std::fmt;

/// One problem in the schema.
///
/// Displays as `schema/imbot.toml: method imbot.message.add: param ATTACH: unknown type "Atach"`,
/// or, for TOML syntax errors, as `schema/imbot.toml:3:7: ...` (line and column, from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Diagnostic {
    /// The file, spelled as it was given to the loader.
    pub file: String,
    /// Line and column (from 1) when the error has a position in the text.
    pub position: Option<(usize, usize)>,
    /// The item inside the file, e.g. `method imbot.message.add: param ATTACH`; empty for the
    /// file itself.
    pub item: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        if !self.item.is_empty() {
            write!(f, ": {}", self.item)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in a schema, in file order; displays one per line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    /// The problems, in the order they were found.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// How many problems there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn push(&mut self, file: &str, item: &str, message: impl Into<String>) {
        self.0.push(Diagnostic {
            file: file.to_owned(),
            position: None,
            item: item.to_owned(),
            message: message.into(),
        });
    }

    pub(crate) fn push_at(&mut self, file: &str, position: (usize, usize), message: String) {
        self.0.push(Diagnostic {
            file: file.to_owned(),
            position: Some(position),
            item: String::new(),
            message,
        });
    }

    pub(crate) fn extend(&mut self, more: Diagnostics) {
        self.0.extend(more.0);
    }

    /// `Ok(value)` when nothing was reported, else every report.
    pub(crate) fn into_result<T>(self, value: impl FnOnce() -> T) -> Result<T, Self> {
        if self.0.is_empty() {
            Ok(value())
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
