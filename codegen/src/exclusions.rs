//! Documented methods and events the schema leaves out on purpose (`schema/facts/excluded.toml`),
//! each with its reason. `import` skips them and `drift` lists them as explained.

use std::path::Path;

use toml::{Table, Value};

/// The exclusion list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exclusions {
    /// Methods: `(wire name, reason)`, in file order.
    pub entries: Vec<(String, String)>,
    /// Events: `(name as documented, reason)`, in file order.
    pub events: Vec<(String, String)>,
}

impl Exclusions {
    /// Reads an exclusion file; a missing file is an empty list.
    pub fn load(path: &Path) -> Result<Exclusions, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Exclusions::parse(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Exclusions::default()),
            Err(e) => Err(format!("{}: cannot read: {e}", path.display())),
        }
    }

    /// Parses `[[exclude]]` (methods) and `[[exclude_event]]` entries, each
    /// `name = "..." reason = "..."`.
    pub fn parse(text: &str) -> Result<Exclusions, String> {
        let table: Table = text
            .parse()
            .map_err(|e: toml::de::Error| e.message().to_owned())?;
        if let Some(key) = table
            .keys()
            .find(|k| *k != "exclude" && *k != "exclude_event")
        {
            return Err(format!(
                "unknown key {key:?} (expected [[exclude]] and [[exclude_event]] entries)"
            ));
        }
        Ok(Exclusions {
            entries: entries(&table, "exclude")?,
            events: entries(&table, "exclude_event")?,
        })
    }

    /// Whether an event is excluded (names compare without regard to case).
    pub fn contains_event(&self, name: &str) -> bool {
        self.event_reason(name).is_some()
    }

    /// The reason an event is excluded.
    pub fn event_reason(&self, name: &str) -> Option<&str> {
        self.events
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, r)| r.as_str())
    }

    /// Whether a wire name is excluded.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.iter().any(|(n, _)| n == name)
    }

    /// The reason a wire name is excluded.
    pub fn reason(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r.as_str())
    }
}

fn entries(table: &Table, key: &str) -> Result<Vec<(String, String)>, String> {
    let items = match table.get(key) {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(format!("\"{key}\" must be an array of tables")),
    };
    let mut entries = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let get = |key: &str| item.get(key).and_then(Value::as_str).map(str::to_owned);
        match (get("name"), get("reason")) {
            (Some(name), Some(reason)) if !reason.trim().is_empty() => entries.push((name, reason)),
            _ => return Err(format!("{key} #{}: needs a name and a reason", i + 1)),
        }
    }
    Ok(entries)
}
