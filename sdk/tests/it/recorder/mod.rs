//! Shared by the sandbox tests: a server on 127.0.0.1 that records every request it gets, in
//! the role of an attacker's host or an internal one that must see nothing.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;

/// The requests seen so far, as `"<uri> <body>"`.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<String>>>);

impl Recorder {
    /// Starts serving on a free port; every request is answered as a portal answers `profile`.
    pub async fn start(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(
                |State(r): State<Recorder>, uri: Uri, body: Bytes| async move {
                    r.0.lock()
                        .unwrap()
                        .push(format!("{uri} {}", String::from_utf8_lossy(&body)));
                    r#"{"result":{"ID":1}}"#
                },
            )
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    pub fn seen(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}
