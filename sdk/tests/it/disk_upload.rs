//! Drive uploads over real HTTP against the sandbox: the two-step upload behind
//! `Client::disk_upload` (an upload URL from the method, then a multipart POST of the file),
//! and the inline `fileContent` form the generated method sends, as the docs describe both.
#![cfg(feature = "disk")]

use bitrix24::disk::{DiskFolderUploadFile, DiskNewObject, DiskObjectType};
use bitrix24::{Error, File};
use bitrix24_sandbox::{Sandbox, SandboxConfig};

async fn portal() -> Sandbox {
    let config = SandboxConfig::default().scopes(["basic", "disk"]);
    Sandbox::start_with(config).await.unwrap()
}

/// Bytes that are not valid UTF-8 and contain what a multipart body uses as separators.
fn binary() -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..=255).collect();
    bytes.extend_from_slice(b"\r\n--b24-not-a-boundary\r\n\r\n");
    bytes
}

#[tokio::test]
async fn a_file_goes_up_in_two_steps_and_comes_back_as_the_created_file() {
    let portal = portal().await;
    let client = portal.webhook_client().unwrap();
    let file = File::new("report.bin", binary());
    let stored = client
        .disk_upload(DiskFolderUploadFile::new(1), file.clone())
        .await
        .unwrap();
    assert_eq!(stored.name.as_deref(), Some("report.bin"));
    assert_eq!(stored.type_, Some(DiskObjectType::File));
    assert_eq!(stored.size, Some(file.content.len() as i64));
    assert_eq!(stored.parent_id, Some(1));
    assert_eq!(portal.disk_file(stored.id), Some(file));
    assert_eq!(portal.writes().get("disk.folder.uploadFile"), 1);
    // What disk.file.get reads back is the same object.
    let read = client.disk_file_get(stored.id).await.unwrap();
    assert_eq!(read, stored);
}

#[tokio::test]
async fn a_file_read_from_a_path_keeps_its_name_and_the_first_steps_options_apply() {
    let portal = portal().await;
    let client = portal.oauth_client().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "first").unwrap();
    let first = client
        .disk_upload(
            DiskFolderUploadFile::new(1),
            File::read(&path).await.unwrap(),
        )
        .await
        .unwrap();
    std::fs::write(&path, "second").unwrap();
    // The same name again: refused, unless a unique name is asked for.
    let refused = client
        .disk_upload(
            DiskFolderUploadFile::new(1),
            File::read(&path).await.unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, Error::Api(e) if e.code.as_str() == "DISK_OBJ_22000"),
        "{refused}"
    );
    let second = client
        .disk_upload(
            DiskFolderUploadFile::new(1).generate_unique_name(true),
            File::read(&path).await.unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(first.name.as_deref(), Some("notes.txt"));
    assert_eq!(second.name.as_deref(), Some("notes (1).txt"));
    assert_eq!(portal.disk_file(second.id).unwrap().content, b"second");
}

#[tokio::test]
async fn inline_content_creates_the_file_in_one_call() {
    // Also the storage method, which only takes content inline.
    let portal = portal().await;
    let client = portal.webhook_client().unwrap();
    let stored = client
        .disk_folder_upload_file(1)
        .data(DiskNewObject::new("inline.bin"))
        .file_content(File::new("ignored-name.bin", binary()))
        .await
        .unwrap();
    assert_eq!(stored.name.as_deref(), Some("inline.bin"));
    assert_eq!(portal.disk_file(stored.id).unwrap().content, binary());
    let root = client
        .disk_storage_upload_file(
            1,
            DiskNewObject::new("root.txt"),
            File::new("x", b"r".to_vec()),
        )
        .await
        .unwrap();
    assert_eq!(root.parent_id, Some(1));
    assert_eq!(portal.writes().get("disk.folder.uploadFile"), 2);
}

#[tokio::test]
async fn an_unknown_folder_is_a_typed_error_and_nothing_is_uploaded() {
    let portal = portal().await;
    let client = portal.webhook_client().unwrap();
    let e = client
        .disk_upload(
            DiskFolderUploadFile::new(404),
            File::new("a.txt", b"a".to_vec()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Api(api) if api.code.as_str() == "ERROR_NOT_FOUND"),
        "{e}"
    );
    assert_eq!(portal.writes().get("disk.folder.uploadFile"), 0);
}

#[tokio::test]
async fn an_upload_url_is_good_for_one_file() {
    let portal = portal().await;
    let http = bitrix24::http_client_builder().unwrap().build().unwrap();
    let step1 = http
        .post(format!("{}disk.folder.uploadFile", portal.webhook_url()))
        .header("content-type", "application/json")
        .body(r#"{"id": 1}"#)
        .send()
        .await
        .unwrap();
    let step1: serde_json::Value = serde_json::from_slice(&step1.bytes().await.unwrap()).unwrap();
    let url = step1["result"]["uploadUrl"].as_str().unwrap().to_owned();
    assert_eq!(step1["result"]["field"], "file");
    let post = |name: &'static str| {
        let body = format!(
            "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\nx\r\n--B--\r\n"
        );
        http.post(&url)
            .header("content-type", "multipart/form-data; boundary=B")
            .body(body)
            .send()
    };
    assert_eq!(post("one.txt").await.unwrap().status(), 200);
    let again = post("two.txt").await.unwrap();
    assert_eq!(again.status(), 401);
    assert_eq!(portal.writes().get("disk.folder.uploadFile"), 1);
}
