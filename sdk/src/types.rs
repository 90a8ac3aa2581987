//! Value types for Bitrix24's own vocabulary: dialog ids and inline files.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// Where a chat message goes: a group chat (`"chat42"` on the wire) or a private dialog with a
/// user (`"42"`). Other dialog kinds (open lines, `sg12`, ...) are kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DialogId {
    /// A group chat by chat id.
    Chat(i64),
    /// A private dialog with the user of this id.
    User(i64),
    /// Any other spelling the portal uses, kept as is.
    Other(String),
}

impl DialogId {
    /// Reads a wire spelling; never fails, unknown shapes become [`DialogId::Other`].
    pub fn parse(s: &str) -> Self {
        let s = s.trim();
        if let Some(id) = s.strip_prefix("chat").and_then(|n| n.parse().ok()) {
            Self::Chat(id)
        } else if let Ok(id) = s.parse() {
            Self::User(id)
        } else {
            Self::Other(s.to_owned())
        }
    }
}

impl fmt::Display for DialogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Chat(id) => write!(f, "chat{id}"),
            Self::User(id) => write!(f, "{id}"),
            Self::Other(s) => f.write_str(s),
        }
    }
}

impl FromStr for DialogId {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::parse(s))
    }
}

impl From<&str> for DialogId {
    fn from(s: &str) -> Self {
        Self::parse(s)
    }
}

impl From<String> for DialogId {
    fn from(s: String) -> Self {
        Self::parse(&s)
    }
}

/// A bare number is a user id, as on the wire.
impl From<i64> for DialogId {
    fn from(user_id: i64) -> Self {
        Self::User(user_id)
    }
}

impl Serialize for DialogId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DialogId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = DialogId;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a dialog id (\"chat42\" or a user id)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DialogId, E> {
                Ok(DialogId::parse(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DialogId, E> {
                Ok(DialogId::User(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DialogId, E> {
                i64::try_from(v)
                    .map(DialogId::User)
                    .map_err(|_| E::custom("user id out of range"))
            }
        }
        d.deserialize_any(V)
    }
}

/// A file sent inline, as Bitrix24 expects it: `["name.png", "<base64 content>"]`.
#[derive(Clone, PartialEq, Eq)]
pub struct File {
    /// File name shown in Bitrix24, with extension.
    pub name: String,
    /// Raw content; encoded to base64 on the wire.
    pub content: Vec<u8>,
}

impl File {
    /// A file from its name and raw bytes.
    pub fn new(name: impl Into<String>, content: impl Into<Vec<u8>>) -> Self {
        Self {
            name: name.into(),
            content: content.into(),
        }
    }
}

/// Shows the name and size only: file contents can be large and private.
impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("name", &self.name)
            .field("bytes", &self.content.len())
            .finish()
    }
}

impl Serialize for File {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.name, BASE64.encode(&self.content)).serialize(s)
    }
}

impl<'de> Deserialize<'de> for File {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (name, data) = <(String, String)>::deserialize(d)?;
        let content = BASE64
            .decode(data.trim())
            .map_err(|e| de::Error::custom(format_args!("file {name:?}: invalid base64: {e}")))?;
        Ok(Self { name, content })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialog_ids_round_trip() {
        assert_eq!(DialogId::from("chat42"), DialogId::Chat(42));
        assert_eq!(DialogId::from("27"), DialogId::User(27));
        assert_eq!(DialogId::from("sg12"), DialogId::Other("sg12".into()));
        assert_eq!(
            serde_json::to_string(&DialogId::Chat(42)).unwrap(),
            "\"chat42\""
        );
        assert_eq!(
            serde_json::from_str::<DialogId>("27").unwrap(),
            DialogId::User(27)
        );
    }

    #[test]
    fn files_are_name_and_base64() {
        let f = File::new("a.txt", b"hi".to_vec());
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(json, r#"["a.txt","aGk="]"#);
        assert_eq!(serde_json::from_str::<File>(&json).unwrap(), f);
        assert!(serde_json::from_str::<File>(r#"["a","!!"]"#).is_err());
        assert_eq!(format!("{f:?}"), r#"File { name: "a.txt", bytes: 2 }"#);
    }
}
