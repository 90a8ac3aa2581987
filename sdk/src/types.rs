//! Value types for Bitrix24's own vocabulary: dialog ids and inline files.
//!
//! Bitrix24 takes a new file inline, base64-encoded, in one of four wire shapes depending on the
//! method (the docs' "How to upload files" table): [`File`] (`["name", "<base64>"]`, also what
//! the disk and catalog image methods take in their `fileContent` param), [`FileData`]
//! (`{"fileData": [..]}`, classic CRM and catalog picture fields), [`FileNameContent`]
//! (`{"NAME": .., "CONTENT": ..}`, `task.item.addfile`) and [`Base64`] (the content alone, the
//! name going in another param). Build a [`File`] from bytes ([`File::new`]) or a path
//! ([`File::read`]) and pass it wherever any of them is expected: each converts from it.

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

    /// Reads a file from disk (without blocking the runtime); its name is the path's last
    /// component.
    pub async fn read(path: impl AsRef<std::path::Path>) -> std::io::Result<Self> {
        let path = path.as_ref();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("{} names no file", path.display()),
                )
            })?;
        Ok(Self::new(name, tokio::fs::read(path).await?))
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
        let content = decode_base64(Some(&name), &data)?;
        Ok(Self { name, content })
    }
}

/// Decodes the base64 text of a file, named in the error when it has a name.
fn decode_base64<E: de::Error>(name: Option<&str>, data: &str) -> Result<Vec<u8>, E> {
    BASE64.decode(data.trim()).map_err(|e| match name {
        Some(name) => E::custom(format_args!("file {name:?}: invalid base64: {e}")),
        None => E::custom(format_args!("file content: invalid base64: {e}")),
    })
}

/// A file as classic CRM fields (`PHOTO`, `LOGO`, file user fields), `crm.item` (`photo`,
/// `logo`) and catalog pictures take it: `{"fileData": ["name.png", "<base64>"]}`. Reading
/// those fields gives back a stored file's description instead, typed by the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileData(pub File);

impl From<File> for FileData {
    fn from(file: File) -> Self {
        Self(file)
    }
}

impl Serialize for FileData {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry("fileData", &self.0)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for FileData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            #[serde(rename = "fileData")]
            file_data: File,
        }
        Wire::deserialize(d).map(|w| Self(w.file_data))
    }
}

/// A file as `task.item.addfile` takes it: `{"NAME": "name.png", "CONTENT": "<base64>"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileNameContent(pub File);

impl From<File> for FileNameContent {
    fn from(file: File) -> Self {
        Self(file)
    }
}

impl Serialize for FileNameContent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("NAME", &self.0.name)?;
        map.serialize_entry("CONTENT", &BASE64.encode(&self.0.content))?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for FileNameContent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            #[serde(rename = "NAME")]
            name: String,
            #[serde(rename = "CONTENT")]
            content: String,
        }
        let w = Wire::deserialize(d)?;
        let content = decode_base64(Some(&w.name), &w.content)?;
        Ok(Self(File::new(w.name, content)))
    }
}

/// A file's content alone, as a base64 string: for methods that take the name in a param of
/// its own (`note.file.add`: `fileName` + `fileContent`) or none at all
/// (`documentgenerator.template.add`'s `file`). Converting a [`File`] keeps its content only.
#[derive(Clone, PartialEq, Eq)]
pub struct Base64(pub Vec<u8>);

impl From<File> for Base64 {
    fn from(file: File) -> Self {
        Self(file.content)
    }
}

impl From<Vec<u8>> for Base64 {
    fn from(content: Vec<u8>) -> Self {
        Self(content)
    }
}

/// Shows the size only, like [`File`].
impl fmt::Debug for Base64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Base64")
            .field("bytes", &self.0.len())
            .finish()
    }
}

impl Serialize for Base64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&BASE64.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let data = String::deserialize(d)?;
        decode_base64(None, &data).map(Self)
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

    #[test]
    fn every_file_shape_is_built_from_one_file() {
        let f = File::new("a.txt", b"hi".to_vec());
        let shapes = [
            serde_json::to_string(&FileData::from(f.clone())).unwrap(),
            serde_json::to_string(&FileNameContent::from(f.clone())).unwrap(),
            serde_json::to_string(&Base64::from(f.clone())).unwrap(),
        ];
        assert_eq!(
            shapes,
            [
                r#"{"fileData":["a.txt","aGk="]}"#,
                r#"{"NAME":"a.txt","CONTENT":"aGk="}"#,
                r#""aGk=""#,
            ]
        );
        assert_eq!(serde_json::from_str::<FileData>(&shapes[0]).unwrap().0, f);
        assert_eq!(
            serde_json::from_str::<FileNameContent>(&shapes[1])
                .unwrap()
                .0,
            f
        );
        assert_eq!(
            serde_json::from_str::<Base64>(&shapes[2]).unwrap().0,
            f.content
        );
        assert!(serde_json::from_str::<Base64>(r#""!!""#).is_err());
        assert_eq!(format!("{:?}", Base64::from(f)), "Base64 { bytes: 2 }");
    }

    #[tokio::test]
    async fn a_file_is_read_from_a_path_under_its_own_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.pdf");
        std::fs::write(&path, b"%PDF").unwrap();
        assert_eq!(
            File::read(&path).await.unwrap(),
            File::new("report.pdf", b"%PDF".to_vec())
        );
        let missing = File::read(dir.path().join("gone.txt")).await.unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }
}
