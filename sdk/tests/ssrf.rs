//! Resolve, then check: an application's clients connect only to addresses its network policy
//! allows, whatever a portal's host name resolves to when the connection is made.
#![cfg(all(feature = "sandbox", feature = "full"))]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use bitrix24::app::{App, InstallPolicy, Installation, MemoryInstallations, NetworkPolicy};
use bitrix24::sandbox::Sandbox;
use bitrix24::{Error, Tokens, TransportKind};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// A DNS server the attacker controls: answers from a table, and never the real network.
struct TableDns(HashMap<&'static str, IpAddr>);

impl Resolve for TableDns {
    fn resolve(&self, name: Name) -> Resolving {
        let found = self.0.get(name.as_str()).copied();
        Box::pin(async move {
            let ip = found.ok_or("no such name")?;
            Ok(Box::new(std::iter::once(SocketAddr::new(ip, 0))) as Addrs)
        })
    }
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Recorder {
    async fn start(&self) -> SocketAddr {
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
}

#[tokio::test]
async fn a_name_that_resolves_to_an_internal_address_is_not_connected_to() {
    let recorder = Recorder::default();
    let internal = recorder.start().await;
    let sandbox = Sandbox::start().await.unwrap();
    let dns: Arc<dyn Resolve> = Arc::new(TableDns(HashMap::from([(
        "rebound.example.com",
        internal.ip(),
    )])));
    // Everything but the address class is allowed: plain HTTP, the recorder's port.
    let network = NetworkPolicy::public()
        .allow_http()
        .allow_ports([internal.port()]);
    let portal = format!("http://rebound.example.com:{}/", internal.port());
    let app_with = |network: NetworkPolicy| {
        App::builder(sandbox.oauth_app(), MemoryInstallations::new())
            .install_policy(InstallPolicy::TrustFirst)
            .network(network)
            .resolver(dns.clone())
            .build()
            .unwrap()
    };
    let register = |app: App| {
        let portal = portal.clone();
        async move {
            app.register(
                Installation::new("rebound", portal.parse().unwrap(), "app-token")
                    .with_tokens(Tokens::new("access", "refresh")),
            )
            .await
            .unwrap();
            app.client("rebound").await.unwrap()
        }
    };

    let client = register(app_with(network.clone())).await;
    let e = client.profile().await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        recorder.0.lock().unwrap().is_empty(),
        "the internal host was reached"
    );

    // The same with loopback allowed reaches it: the address check, not the name, stopped it.
    let client = register(app_with(network.allow_loopback())).await;
    assert_eq!(client.profile().await.unwrap().id, 1);
    assert_eq!(recorder.0.lock().unwrap().len(), 1);
}
