//! Documented methods the schema leaves out on purpose (`schema/facts/excluded.toml`), each with
//! its reason. `import` skips them and `drift` lists them as explained.

use std::path::Path;

use toml::{Table, Value};

/// The exclusion list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exclusions {
    /// `(wire name, reason)`, in file order.
    pub entries: Vec<(String, String)>,
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

    /// Parses `[[exclude]] name = "..." reason = "..."` entries.
    pub fn parse(text: &str) -> Result<Exclusions, String> {
        let table: Table = text
            .parse()
            .map_err(|e: toml::de::Error| e.message().to_owned())?;
        let mut entries = Vec::new();
        if let Some(key) = table.keys().find(|k| *k != "exclude") {
            return Err(format!(
                "unknown key {key:?} (expected [[exclude]] entries)"
            ));
        }
        let items = match table.get("exclude") {
            None => return Ok(Exclusions::default()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err("\"exclude\" must be an array of tables".to_owned()),
        };
        for (i, item) in items.iter().enumerate() {
            let get = |key: &str| item.get(key).and_then(Value::as_str).map(str::to_owned);
            match (get("name"), get("reason")) {
                (Some(name), Some(reason)) if !reason.trim().is_empty() => {
                    entries.push((name, reason))
                }
                _ => return Err(format!("exclude #{}: needs a name and a reason", i + 1)),
            }
        }
        Ok(Exclusions { entries })
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
