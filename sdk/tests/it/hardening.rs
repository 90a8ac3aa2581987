//! Smaller defences: a bounded OAuth answer, and no `unsafe` in the workspace's crates.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bitrix24::{Error, OAuthApp, Secret};

/// An OAuth server whose answer never ends (until 256 MiB): it counts what it got to send.
async fn endless_oauth_server() -> (String, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/oauth/token/", listener.local_addr().unwrap());
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 4096];
        let _ = socket.read(&mut request).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"access_token\":\"";
        if socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = vec![b'a'; 64 * 1024];
        for _ in 0..4096 {
            if socket.write_all(&chunk).await.is_err() {
                return;
            }
            counter.fetch_add(chunk.len(), Ordering::Relaxed);
        }
    });
    (url, sent)
}

#[tokio::test]
async fn an_endless_oauth_answer_is_cut_off() {
    let (url, sent) = endless_oauth_server().await;
    let app = OAuthApp::new("id", "secret").with_token_url(url.parse().unwrap());
    let e = app
        .refresh_tokens(&Secret::new("refresh"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::TooLarge { .. }), "{e:?}");
    // The client stopped reading; the server could only fill the socket buffers after that.
    let sent = sent.load(Ordering::Relaxed);
    assert!(sent < 32 * 1024 * 1024, "{sent} bytes were read");
}

#[test]
fn the_crates_forbid_unsafe_code() {
    for lib in [
        "src/lib.rs",
        "../codegen/src/lib.rs",
        "../sandbox/src/lib.rs",
        "../cli/src/main.rs",
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(lib);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.lines().any(|l| l.trim() == "#![forbid(unsafe_code)]"),
            "{lib} does not forbid unsafe code"
        );
    }
}
