//! Drive in the sandbox: one storage (id 1) whose root folder is folder 1, and file uploads
//! the ways the docs describe. With `fileContent` (`[name, base64]`) the upload methods create
//! the file at once. `disk.folder.uploadFile` without it answers where to send the content
//! (`field`, `uploadUrl`); a `multipart/form-data` POST of the file to that URL, under that
//! field, creates the file and answers it in an envelope. An upload URL is good for one file.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use super::Shared;
use super::data::{Portal, iso_now};
use super::params::{ApiErr, Outcome, Params, Reply, text};
use super::server::{Ctx, Handler, envelope_body, envelope_error, json_bytes, time_block};

pub(crate) const METHODS: &[(&str, &str, Handler)] = &[
    ("disk.folder.uploadFile", "disk", folder_upload),
    ("disk.storage.uploadFile", "disk", storage_upload),
    ("disk.file.get", "disk", file_get),
];

/// The storage every sandbox portal has, and its root folder.
const STORAGE_ID: i64 = 1;
const ROOT_FOLDER_ID: i64 = 1;
/// The form field the upload URL expects the file in.
const UPLOAD_FIELD: &str = "file";

/// Drive data of a portal.
#[derive(Debug, Default)]
pub(crate) struct Drive {
    files: BTreeMap<i64, StoredFile>,
    /// Upload URLs handed out and not used yet, by their token.
    pending: BTreeMap<String, Pending>,
    next_id: i64,
}

#[derive(Debug, Clone)]
struct StoredFile {
    name: String,
    parent_id: i64,
    content: Vec<u8>,
    created_by: i64,
    created: String,
}

/// What an upload URL was issued for.
#[derive(Debug, Clone)]
struct Pending {
    parent_id: i64,
    /// `data.NAME` of the first step, when given (else the multipart filename is used).
    name: Option<String>,
    unique_name: bool,
    user_id: i64,
}

impl Drive {
    pub(crate) fn new() -> Self {
        Self {
            next_id: 100,
            ..Self::default()
        }
    }

    /// A stored file's name and content.
    pub(crate) fn content(&self, id: i64) -> Option<(String, Vec<u8>)> {
        self.files
            .get(&id)
            .map(|f| (f.name.clone(), f.content.clone()))
    }

    /// Stores a file in `parent_id`, under a free name when `unique_name` (`a (1).txt`), or
    /// fails like a portal when the name is taken.
    fn create(
        &mut self,
        parent_id: i64,
        name: &str,
        unique_name: bool,
        content: Vec<u8>,
        user_id: i64,
    ) -> Result<i64, ApiErr> {
        let taken = |files: &BTreeMap<i64, StoredFile>, candidate: &str| {
            files
                .values()
                .any(|f| f.parent_id == parent_id && f.name == candidate)
        };
        let mut final_name = name.to_owned();
        if taken(&self.files, &final_name) {
            if !unique_name {
                return Err(ApiErr::bad(
                    "DISK_OBJ_22000",
                    format!("A file named \"{name}\" already exists in the folder"),
                ));
            }
            let (stem, ext) = match name.rfind('.') {
                Some(dot) if dot > 0 => name.split_at(dot),
                _ => (name, ""),
            };
            let mut n = 1;
            while taken(&self.files, &final_name) {
                final_name = format!("{stem} ({n}){ext}");
                n += 1;
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.files.insert(
            id,
            StoredFile {
                name: final_name,
                parent_id,
                content,
                created_by: user_id,
                created: iso_now(),
            },
        );
        Ok(id)
    }

    /// A file as the disk methods answer it.
    fn describe(&self, id: i64, base: &str) -> Option<Value> {
        let f = self.files.get(&id)?;
        Some(json!({
            "ID": id,
            "NAME": f.name,
            "CODE": null,
            "STORAGE_ID": STORAGE_ID.to_string(),
            "TYPE": "file",
            "PARENT_ID": f.parent_id.to_string(),
            "DELETED_TYPE": 0,
            "GLOBAL_CONTENT_VERSION": 1,
            "FILE_ID": id,
            "SIZE": f.content.len().to_string(),
            "CREATE_TIME": f.created,
            "UPDATE_TIME": f.created,
            "DELETE_TIME": null,
            "CREATED_BY": f.created_by.to_string(),
            "UPDATED_BY": f.created_by.to_string(),
            "DELETED_BY": null,
            "DOWNLOAD_URL": format!("{base}rest/download.json?id={id}"),
            "DETAIL_URL": format!("{base}docs/file/{}", f.name),
        }))
    }
}

fn folder_upload(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    let folder = params.req_int("id", "ERROR_ARGUMENT")?;
    if folder != ROOT_FOLDER_ID {
        return Err(not_found(folder));
    }
    upload(portal, ctx, params, folder, true)
}

fn storage_upload(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    let storage = params.req_int("id", "ERROR_ARGUMENT")?;
    if storage != STORAGE_ID {
        return Err(not_found(storage));
    }
    upload(portal, ctx, params, ROOT_FOLDER_ID, false)
}

/// Both upload methods: the file at once, or (`by_url`, the folder method) the URL to send it
/// to.
fn upload(
    portal: &mut Portal,
    ctx: &mut Ctx,
    params: &Params,
    parent_id: i64,
    by_url: bool,
) -> Outcome {
    let name = params.nested("data").str("NAME").filter(|n| !n.is_empty());
    let unique_name = params.flag("generateUniqueName").unwrap_or(false);
    let base = ctx.shared.base.as_str().to_owned();
    let content = params.list("fileContent");
    if content.is_empty() && !by_url {
        return Err(ApiErr::bad(
            "ERROR_ARGUMENT",
            "Invalid value of parameter { fileContent }",
        ));
    }
    if content.is_empty() {
        let token = portal.token(24);
        portal.drive.pending.insert(
            token.clone(),
            Pending {
                parent_id,
                name,
                unique_name,
                user_id: ctx.user_id,
            },
        );
        return Ok(Reply::of(json!({
            "field": UPLOAD_FIELD,
            "uploadUrl": format!("{base}rest/upload.json?auth={}&token=disk%7C{token}", portal.token(16)),
        })));
    }
    let Some(name) = name else {
        return Err(ApiErr::bad(
            "DISK_BASE_SERVICE_22001",
            "Error: required parameter NAME (DISK_BASE_SERVICE_22001)",
        ));
    };
    let data = content.get(1).and_then(text).unwrap_or_default();
    let bytes = BASE64
        .decode(data.trim())
        .map_err(|_| ApiErr::bad("ERROR_COULD_NOT_SAVE_FILE", "Could not save file"))?;
    let id = portal
        .drive
        .create(parent_id, &name, unique_name, bytes, ctx.user_id)?;
    ctx.shared.count_write("disk.folder.uploadfile");
    Ok(Reply::of(
        portal.drive.describe(id, &base).unwrap_or_default(),
    ))
}

fn file_get(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    let id = params.req_int("id", "ERROR_ARGUMENT")?;
    let base = ctx.shared.base.as_str().to_owned();
    portal
        .drive
        .describe(id, &base)
        .map(Reply::of)
        .ok_or_else(|| not_found(id))
}

fn not_found(id: i64) -> ApiErr {
    ApiErr::new(
        404,
        "ERROR_NOT_FOUND",
        format!("Could not find entity with id `{id}`"),
    )
}

/// `POST /rest/upload.json?auth=..&token=disk|..`: the second step of an upload.
pub(crate) async fn upload_content(
    State(shared): State<std::sync::Arc<Shared>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = tokio::time::Instant::now();
    let token = query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("token=disk%7C"))
        .unwrap_or_default()
        .to_owned();
    let part = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(boundary)
        .and_then(|boundary| form_file(&body, &boundary, UPLOAD_FIELD));
    let outcome = {
        let mut portal = shared.portal();
        // An upload URL is spent by its first use, even a malformed one, as a real one is.
        match (portal.drive.pending.remove(&token), part) {
            (None, _) => Err(ApiErr::new(
                401,
                "invalid_token",
                "The upload URL is unknown or already used",
            )),
            (Some(_), None) => Err(ApiErr::bad(
                "ERROR_COULD_NOT_SAVE_FILE",
                format!("No file in form field \"{UPLOAD_FIELD}\""),
            )),
            (Some(pending), Some((filename, content))) => {
                let name = pending.name.unwrap_or(filename);
                let base = shared.base.as_str().to_owned();
                portal
                    .drive
                    .create(
                        pending.parent_id,
                        &name,
                        pending.unique_name,
                        content,
                        pending.user_id,
                    )
                    .map(|id| portal.drive.describe(id, &base).unwrap_or_default())
            }
        }
    };
    match outcome {
        Ok(file) => {
            shared.count_write("disk.folder.uploadfile");
            let time = time_block(&shared, "disk.folder.uploadfile", started);
            json_bytes(StatusCode::OK, envelope_body(Reply::of(file), time))
        }
        Err(e) => envelope_error(&e),
    }
}

/// The `boundary` of a `multipart/form-data` content type.
fn boundary(content_type: &str) -> Option<String> {
    let (kind, rest) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    rest.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("boundary"))
            .then(|| v.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty())
    })
}

/// The filename and content of form field `field` in a multipart body; `None` for a body
/// without it or not well formed.
fn form_file(body: &[u8], boundary: &str, field: &str) -> Option<(String, Vec<u8>)> {
    let delimiter = format!("--{boundary}");
    let mut rest = body;
    loop {
        let start = find(rest, delimiter.as_bytes())? + delimiter.len();
        rest = &rest[start..];
        if rest.starts_with(b"--") {
            return None;
        }
        let headers_end = find(rest, b"\r\n\r\n")?;
        let headers = std::str::from_utf8(&rest[..headers_end]).ok()?;
        let content_start = headers_end + 4;
        let content_len = find(
            &rest[content_start..],
            format!("\r\n{delimiter}").as_bytes(),
        )?;
        let disposition = headers
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
        let attr = |name: &str| {
            disposition.split(';').find_map(|p| {
                let (k, v) = p.split_once('=')?;
                (k.trim() == name).then(|| v.trim().trim_matches('"').to_owned())
            })
        };
        if attr("name").as_deref() == Some(field) {
            let filename = attr("filename").unwrap_or_else(|| field.to_owned());
            let content = rest[content_start..content_start + content_len].to_vec();
            return Some((filename, content));
        }
        rest = &rest[content_start + content_len..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_named_part_of_a_form_is_found() {
        let body = b"--XY\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"r.txt\"\r\nContent-Type: text/plain\r\n\r\nhi\r\nthere\r\n--XY--\r\n";
        assert_eq!(
            form_file(body, "XY", "file"),
            Some(("r.txt".to_owned(), b"hi\r\nthere".to_vec()))
        );
        assert_eq!(form_file(body, "XY", "other"), None);
        assert_eq!(
            boundary("multipart/form-data; boundary=\"XY\"").as_deref(),
            Some("XY")
        );
        assert_eq!(boundary("application/json"), None);
    }

    #[test]
    fn malformed_forms_are_none_not_panics() {
        for body in [
            &b""[..],
            b"--XY",
            b"--XY\r\n",
            b"--XY\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nno end",
            b"--XY--",
        ] {
            assert_eq!(form_file(body, "XY", "file"), None);
        }
    }
}
