//! Installation identity for an application installed on many portals, over real HTTP: who may
//! install, reinstall and uninstall, what a replay or a squatter gets, where calls may go, and
//! what forged installs cost. The OAuth server that vouches for an installation is the sandbox's
//! (or, where a test needs a portal the sandbox cannot be, a small one of the test's own).
#![cfg(feature = "full")]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::recorder::Recorder;
use axum::extract::State;
use axum::http::Uri;
use bitrix24::app::{
    App, FileInstallations, InstallPolicy, Installation, InstallationStore, MemoryInstallations,
    NetworkPolicy,
};
use bitrix24::events::EventError;
use bitrix24::wire::php;
use bitrix24::{Error, OAuthApp, Tokens, TransportKind};
use bitrix24_sandbox::{Fault, Sandbox, SandboxConfig};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde_json::{Value, json};

/// An event body as a portal POSTs it; every part can be set to what an attacker would send.
#[derive(Clone)]
struct Ev {
    name: &'static str,
    member_id: Option<String>,
    domain: String,
    application_token: String,
    tokens: Option<(String, String)>,
    client_endpoint: Option<String>,
    ts: i64,
}

impl Ev {
    /// `name` from `portal`, with the portal's own identity and a fresh genuine token pair.
    fn from(name: &'static str, portal: &Sandbox) -> Self {
        let tokens = portal.issue_tokens();
        Self {
            name,
            member_id: Some(portal.member_id()),
            domain: portal.domain(),
            application_token: portal.application_token().expose().to_owned(),
            tokens: Some((
                tokens.access_token.expose().to_owned(),
                tokens.refresh_token.expose().to_owned(),
            )),
            client_endpoint: Some(format!("{}rest/", portal.url())),
            ts: chrono::Utc::now().timestamp(),
        }
    }

    fn member_id(mut self, member_id: &str) -> Self {
        self.member_id = Some(member_id.to_owned());
        self
    }

    fn no_member_id(mut self) -> Self {
        self.member_id = None;
        self
    }

    fn domain(mut self, domain: &str) -> Self {
        self.domain = domain.to_owned();
        self
    }

    fn application_token(mut self, token: &str) -> Self {
        self.application_token = token.to_owned();
        self
    }

    fn tokens(mut self, tokens: &Tokens) -> Self {
        self.tokens = Some((
            tokens.access_token.expose().to_owned(),
            tokens.refresh_token.expose().to_owned(),
        ));
        self
    }

    fn garbage_tokens(mut self, n: usize) -> Self {
        self.tokens = Some((format!("forged-access-{n}"), format!("forged-refresh-{n}")));
        self
    }

    fn no_tokens(mut self) -> Self {
        self.tokens = None;
        self
    }

    fn client_endpoint(mut self, endpoint: &str) -> Self {
        self.client_endpoint = Some(endpoint.to_owned());
        self
    }

    fn ts(mut self, ts: i64) -> Self {
        self.ts = ts;
        self
    }

    fn body(&self) -> String {
        let mut auth = json!({
            "domain": self.domain,
            "application_token": self.application_token,
            "scope": "crm,imbot",
        });
        if let Some(member_id) = &self.member_id {
            auth["member_id"] = json!(member_id);
        }
        if let Some(endpoint) = &self.client_endpoint {
            auth["client_endpoint"] = json!(endpoint);
            auth["server_endpoint"] = json!("https://oauth.bitrix.info/rest/");
        }
        if let Some((access, refresh)) = &self.tokens {
            auth["access_token"] = json!(access);
            auth["refresh_token"] = json!(refresh);
            auth["expires_in"] = json!(3600);
        }
        php::encode(&json!({
            "event": self.name,
            "data": {"VERSION": "1", "LANGUAGE_ID": "en"},
            "ts": self.ts,
            "auth": auth,
        }))
    }
}

async fn receive(app: &App, event: &Ev) -> Result<bitrix24::app::Delivery, EventError> {
    app.receive(event.body().as_bytes(), None).await
}

fn app_with(
    oauth: OAuthApp,
    store: impl InstallationStore + 'static,
    policy: InstallPolicy,
) -> App {
    App::builder(oauth, store)
        .install_policy(policy)
        .build()
        .unwrap()
}

/// An app allowing exactly these portals, keeping installations in memory.
fn app_for(portals: &[&Sandbox]) -> App {
    let domains = portals.iter().map(|p| p.domain()).collect();
    app_with(
        portals[0].oauth_app(),
        MemoryInstallations::new(),
        InstallPolicy::Domains(domains),
    )
}

/// Token grants the sandbox's OAuth server answered or refused so far.
fn grants(portal: &Sandbox) -> u64 {
    let stats = portal.stats();
    stats.refreshes + stats.refresh_failures
}

/// An OAuth server that vouches for one portal (`member_id` at `client_endpoint`), for portals
/// the sandbox cannot stand in for; counts the grants it was asked for.
#[derive(Clone)]
struct Vouching {
    member_id: String,
    client_endpoint: String,
    asked: Arc<AtomicUsize>,
}

impl Vouching {
    async fn start(member_id: &str, client_endpoint: &str) -> (Self, OAuthApp) {
        let server = Self {
            member_id: member_id.to_owned(),
            client_endpoint: client_endpoint.to_owned(),
            asked: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/oauth/token/", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .fallback(|State(s): State<Vouching>| async move {
                let n = s.asked.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({
                    "access_token": format!("vouched-access-{n}"),
                    "refresh_token": format!("vouched-refresh-{n}"),
                    "expires_in": 3600,
                    "member_id": s.member_id,
                    "client_endpoint": s.client_endpoint,
                    "server_endpoint": "https://oauth.bitrix.info/rest/",
                    "domain": "oauth.bitrix.info",
                    "scope": "crm",
                    "status": "L",
                }))
            })
            .with_state(server.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let oauth = OAuthApp::new("local.test", "test-secret").with_token_url(url.parse().unwrap());
        (server, oauth)
    }

    fn asked(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }
}

/// An app keeping installations in `dir`, allowing `portal`, which has installed it.
async fn installed_in(dir: &std::path::Path, portal: &Sandbox) -> App {
    let app = app_with(
        portal.oauth_app(),
        FileInstallations::new(dir),
        InstallPolicy::Domains(vec![portal.domain()]),
    );
    receive(&app, &Ev::from("ONAPPINSTALL", portal))
        .await
        .unwrap();
    app
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("b24-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

// ------------------------------------------------------------------ 1. domain squatting

#[tokio::test]
async fn squatters_claiming_a_portals_domain_are_refused_and_its_events_still_verify() {
    let victim = Sandbox::start().await.unwrap();
    // The attacker installed the application on a portal of their own: genuine tokens, for
    // another portal.
    let attacker = victim.start_peer(SandboxConfig::default()).await.unwrap();
    let app = app_for(&[&victim]);
    let genuine = receive(&app, &Ev::from("ONAPPINSTALL", &victim))
        .await
        .unwrap();
    assert!(genuine.installed);

    for n in 0..50 {
        let forged = Ev::from("ONAPPINSTALL", &victim)
            .member_id(&format!("squatter{n}"))
            .application_token("attackers-application-token");
        let forged = if n % 2 == 0 {
            forged.tokens(&attacker.issue_tokens())
        } else {
            forged.garbage_tokens(n)
        };
        let refused = receive(&app, &forged).await;
        assert!(refused.is_err(), "forged install {n} was accepted");
    }

    // imbot.v2 webhook events name the portal by domain only.
    let v2 = |token: &str| {
        Ev::from("ONIMBOTV2MESSAGEADD", &victim)
            .no_member_id()
            .no_tokens()
            .application_token(token)
    };
    let forged = receive(&app, &v2("attackers-application-token")).await;
    assert!(forged.is_err(), "the attacker's event was accepted");
    let delivery = receive(&app, &v2(victim.application_token().expose()))
        .await
        .expect("the genuine event passes");
    assert_eq!(delivery.member_id, victim.member_id());
}

#[tokio::test]
async fn a_member_id_learned_before_its_portal_installs_cannot_be_squatted() {
    let victim = Sandbox::start().await.unwrap();
    let attacker = victim.start_peer(SandboxConfig::default()).await.unwrap();
    let app = app_for(&[&victim, &attacker]);
    // The attacker knows the victim's member_id and installs first, with their own tokens.
    let squat = Ev::from("ONAPPINSTALL", &victim)
        .application_token("attackers-application-token")
        .tokens(&attacker.issue_tokens());
    assert!(receive(&app, &squat).await.is_err());
    let genuine = receive(&app, &Ev::from("ONAPPINSTALL", &victim))
        .await
        .unwrap();
    assert!(genuine.installed);
    assert_eq!(genuine.client.profile().await.unwrap().id, 1);
}

// ------------------------------------------------------------------ 2. replay

#[tokio::test]
async fn a_replayed_install_does_not_bring_back_rotated_tokens() {
    let portal = Sandbox::start().await.unwrap();
    let app = app_for(&[&portal]);
    let install = Ev::from("ONAPPINSTALL", &portal);
    let client = receive(&app, &install).await.unwrap().client;
    // The tokens expire and are renewed: the refresh token the install brought is spent.
    portal.expire_access_tokens();
    client.profile().await.unwrap();

    let replayed = receive(&app, &install).await;
    assert!(replayed.is_err(), "the replayed install was accepted");

    portal.expire_access_tokens();
    let after = app.client(&portal.member_id()).await.unwrap();
    assert_eq!(
        after
            .profile()
            .await
            .expect("the stored tokens still renew")
            .id,
        1
    );
}

// ------------------------------------------------------------------ 3. reinstall, uninstall

#[tokio::test]
async fn a_reinstall_with_a_new_application_token_is_verified_and_replaces_it() {
    let portal = Sandbox::start().await.unwrap();
    let app = app_for(&[&portal]);
    let old_token = portal.application_token().expose().to_owned();
    receive(&app, &Ev::from("ONAPPINSTALL", &portal))
        .await
        .unwrap();

    // Someone without the portal's tokens claims a reinstall with a token of their own.
    let forged = Ev::from("ONAPPINSTALL", &portal)
        .application_token("forged-new-application-token")
        .garbage_tokens(1);
    assert!(receive(&app, &forged).await.is_err());

    // The portal reinstalls the application: a new application token, a fresh genuine pair.
    let reinstall = Ev::from("ONAPPINSTALL", &portal).application_token("genuine-new-token");
    let delivery = receive(&app, &reinstall)
        .await
        .expect("the reinstall verifies");
    assert_eq!(delivery.client.profile().await.unwrap().id, 1);

    let event = |token: &str| {
        Ev::from("ONCRMDEALADD", &portal)
            .no_tokens()
            .application_token(token)
    };
    assert!(matches!(
        receive(&app, &event(&old_token)).await,
        Err(EventError::Forged { .. })
    ));
    receive(&app, &event("genuine-new-token"))
        .await
        .expect("events carry the new token now");
    assert!(matches!(
        receive(&app, &event("forged-new-application-token")).await,
        Err(EventError::Forged { .. })
    ));
}

#[tokio::test]
async fn an_uninstall_removes_the_portal_and_a_forged_one_is_refused() {
    let portal = Sandbox::start().await.unwrap();
    let app = app_for(&[&portal]);
    let installed_at = chrono::Utc::now().timestamp() - 100;
    receive(&app, &Ev::from("ONAPPINSTALL", &portal).ts(installed_at))
        .await
        .unwrap();
    // As documented: no tokens, the application token is the only proof.
    let uninstall = Ev::from("ONAPPUNINSTALL", &portal)
        .no_tokens()
        .ts(installed_at + 50);
    let forged = uninstall.clone().application_token("0000000000000000");
    assert!(matches!(
        receive(&app, &forged).await,
        Err(EventError::Forged { .. })
    ));
    receive(&app, &Ev::from("ONCRMDEALADD", &portal).no_tokens())
        .await
        .expect("still installed after a forged uninstall");

    receive(&app, &uninstall)
        .await
        .expect("the uninstall verifies");
    assert!(matches!(
        receive(&app, &Ev::from("ONCRMDEALADD", &portal).no_tokens()).await,
        Err(EventError::UnknownPortal { .. })
    ));
    assert!(app.client(&portal.member_id()).await.is_err());

    // Installed again; the old uninstall, replayed, changes nothing.
    receive(&app, &Ev::from("ONAPPINSTALL", &portal))
        .await
        .unwrap();
    assert!(receive(&app, &uninstall).await.is_err());
    receive(&app, &Ev::from("ONCRMDEALADD", &portal).no_tokens())
        .await
        .expect("installed");
}

// ------------------------------------------------------------------ 4. scheme

#[tokio::test]
async fn a_loopback_portal_served_over_https_is_installed_with_https() {
    // A portal on 127.0.0.1 that speaks TLS: the listener sees what the client sends first.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let domain = listener.local_addr().unwrap().to_string();
    let first_byte = Arc::new(Mutex::new(None));
    let seen = first_byte.clone();
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut byte = [0u8; 1];
        if socket.read_exact(&mut byte).await.is_ok() {
            *seen.lock().unwrap() = Some(byte[0]);
        }
    });
    let endpoint = format!("https://{domain}/rest/");
    let (oauth_server, oauth) = Vouching::start("loopbackmember1", &endpoint).await;
    let app = app_with(
        oauth,
        MemoryInstallations::new(),
        InstallPolicy::Domains(vec![domain.clone()]),
    );
    let install = Ev {
        name: "ONAPPINSTALL",
        member_id: Some("loopbackmember1".to_owned()),
        domain: domain.clone(),
        application_token: "loopback-app-token".to_owned(),
        tokens: Some(("a".to_owned(), "r".to_owned())),
        client_endpoint: Some(endpoint.clone()),
        ts: chrono::Utc::now().timestamp(),
    };
    let delivery = receive(&app, &install).await.unwrap();
    assert_eq!(oauth_server.asked(), 1, "the install was verified");
    assert_eq!(
        delivery.client.portal().as_str(),
        format!("https://{domain}/")
    );
    // The call fails (no certificate here), but it was a TLS handshake, not plain HTTP.
    let _ = delivery.client.profile().await;
    assert_eq!(*first_byte.lock().unwrap(), Some(0x16), "a TLS ClientHello");
}

#[tokio::test]
async fn the_scheme_is_the_events_not_the_host_names() {
    let portal = Sandbox::start().await.unwrap();
    let app = app_for(&[&portal]);
    // The sandbox says http in its endpoints; the allowed exact domain may use it.
    let delivery = receive(&app, &Ev::from("ONAPPINSTALL", &portal))
        .await
        .unwrap();
    assert_eq!(delivery.client.portal().scheme(), "http");
    assert_eq!(delivery.client.profile().await.unwrap().id, 1);
}

// ------------------------------------------------------------------ 5. SSRF

#[tokio::test]
async fn internal_names_addresses_and_ports_are_refused_before_any_call() {
    let portal = Sandbox::start().await.unwrap();
    let app = app_with(
        portal.oauth_app(),
        MemoryInstallations::new(),
        InstallPolicy::TrustFirst,
    );
    let before = grants(&portal);
    for domain in [
        "127.0.0.1.nip.io:6379",
        "localhost.:8080",
        "localhost.",
        "LOCALHOST",
        "api.localhost",
        "portal.example.com:6379",
        "10.0.0.1",
        "169.254.169.254",
        "[::1]",
        "0x7f000001",
    ] {
        let install = Ev::from("ONAPPINSTALL", &portal)
            .member_id("internalprobe")
            .domain(domain)
            .client_endpoint(&format!("https://{domain}/rest/"));
        let refused = receive(&app, &install).await;
        assert!(
            matches!(refused, Err(EventError::InstallRefused(_))),
            "{domain}: {refused:?}"
        );
    }
    assert_eq!(grants(&portal), before, "no OAuth request for any of them");
}

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
    assert!(recorder.seen().is_empty(), "the internal host was reached");

    // The same with loopback allowed reaches it: the address check, not the name, stopped it.
    let client = register(app_with(network.allow_loopback())).await;
    assert_eq!(client.profile().await.unwrap().id, 1);
    assert_eq!(recorder.seen().len(), 1);
}

#[tokio::test]
async fn a_portal_redirecting_to_another_host_does_not_move_an_apps_calls() {
    let recorder = Recorder::default();
    let recorder_addr = recorder.start().await;
    // A "portal" that answers every call with a 307 to the recorder, same path.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let portal_addr = listener.local_addr().unwrap();
    let redirect = axum::Router::new().fallback(move |uri: Uri| async move {
        (
            axum::http::StatusCode::TEMPORARY_REDIRECT,
            [("location", format!("http://{recorder_addr}{uri}"))],
        )
    });
    tokio::spawn(async move { axum::serve(listener, redirect).await });

    let sandbox = Sandbox::start().await.unwrap();
    let app = app_with(
        sandbox.oauth_app(),
        MemoryInstallations::new(),
        InstallPolicy::Domains(vec![portal_addr.to_string()]),
    );
    app.register(
        Installation::new(
            "redirectingportal",
            format!("http://{portal_addr}/").parse().unwrap(),
            "app-token",
        )
        .with_tokens(Tokens::new("access-for-the-portal", "refresh")),
    )
    .await
    .unwrap();
    let client = app.client("redirectingportal").await.unwrap();
    assert!(client.profile().await.is_err());
    assert!(
        recorder.seen().is_empty(),
        "the redirect target got {:?}",
        recorder.seen()
    );
}

#[tokio::test]
async fn a_rename_the_policy_allows_is_followed_and_kept_in_the_installation() {
    let portal = Sandbox::start().await.unwrap();
    let renamed = portal
        .renamed_url()
        .as_str()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let dir = scratch("renamed-portal");
    let policy = InstallPolicy::Domains(vec![portal.domain(), renamed.clone()]);
    let app = app_with(
        portal.oauth_app(),
        FileInstallations::new(&dir),
        policy.clone(),
    );
    let client = receive(&app, &Ev::from("ONAPPINSTALL", &portal))
        .await
        .unwrap()
        .client;
    portal.inject(None, Fault::redirect());
    assert_eq!(client.profile().await.unwrap().id, 1);
    assert_eq!(client.portal(), *portal.renamed_url());

    let stored = FileInstallations::new(&dir)
        .get(&portal.member_id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.portal, *portal.renamed_url(), "the rename is stored");
    // The portal's events now name the new domain.
    receive(
        &app,
        &Ev::from("ONCRMDEALADD", &portal)
            .no_tokens()
            .domain(&renamed),
    )
    .await
    .expect("events from the renamed portal verify");
    // So does a restarted application.
    let restarted = app_with(portal.oauth_app(), FileInstallations::new(&dir), policy);
    let again = restarted.client(&portal.member_id()).await.unwrap();
    assert_eq!(again.portal(), *portal.renamed_url());
    std::fs::remove_dir_all(&dir).unwrap();
}

// ------------------------------------------------------------------ 8. bounded cost

#[tokio::test]
async fn forged_installs_store_nothing_and_their_verifications_are_bounded() {
    let portal = Sandbox::start().await.unwrap();
    let dir = scratch("forged-installs");
    let app = installed_in(&dir, &portal).await;
    let before = grants(&portal);
    let forged = (0..200).map(|n| {
        let app = app.clone();
        let event = Ev::from("ONAPPINSTALL", &portal)
            .member_id(&format!("forged{n}"))
            .application_token("attacker")
            .garbage_tokens(n);
        async move { receive(&app, &event).await }
    });
    let results = futures::future::join_all(forged).await;
    assert!(
        results.iter().all(Result::is_err),
        "every forgery is refused"
    );
    let files = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("forged")
        })
        .count();
    assert_eq!(files, 0, "no record for a forged install");
    let asked = grants(&portal) - before;
    assert!(
        asked <= 20,
        "{asked} OAuth requests for 200 forged installs"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn events_found_by_domain_do_not_read_every_installation_file() {
    let portal = Sandbox::start().await.unwrap();
    let dir = scratch("by-domain");
    let app = installed_in(&dir, &portal).await;
    // A file nobody should open: reading a FIFO blocks until someone writes to it.
    let fifo = dir.join("zzzzzzzz.json");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);

    let unknown = Ev::from("ONIMBOTV2MESSAGEADD", &portal)
        .no_member_id()
        .no_tokens()
        .domain("elsewhere.bitrix24.com");
    let answer = tokio::time::timeout(Duration::from_secs(5), receive(&app, &unknown)).await;
    assert!(
        matches!(answer, Ok(Err(EventError::UnknownPortal { .. }))),
        "{answer:?}"
    );
    let known = Ev::from("ONIMBOTV2MESSAGEADD", &portal)
        .no_member_id()
        .no_tokens();
    let answer = tokio::time::timeout(Duration::from_secs(5), receive(&app, &known)).await;
    assert!(matches!(answer, Ok(Ok(_))), "{answer:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

// ------------------------------------------------------------------ 17. integers from the network

#[tokio::test]
async fn timestamps_at_the_ends_of_the_range_are_stale_not_a_panic() {
    let portal = Sandbox::start().await.unwrap();
    let app = App::builder(portal.oauth_app(), MemoryInstallations::new())
        .install_policy(InstallPolicy::Domains(vec![portal.domain()]))
        .freshness(Duration::from_secs(300))
        .build()
        .unwrap();
    receive(&app, &Ev::from("ONAPPINSTALL", &portal))
        .await
        .unwrap();
    for ts in [i64::MIN, i64::MAX, i64::MIN + 1] {
        let event = Ev::from("ONCRMDEALADD", &portal).no_tokens().ts(ts);
        assert!(
            matches!(receive(&app, &event).await, Err(EventError::Stale { .. })),
            "{ts}"
        );
    }
}

/// The JSON form of the same checks: members a form body cannot express.
#[tokio::test]
async fn json_events_are_verified_the_same_way() {
    let portal = Sandbox::start().await.unwrap();
    let app = app_for(&[&portal]);
    receive(&app, &Ev::from("ONAPPINSTALL", &portal))
        .await
        .unwrap();
    let body: Value = php::decode(
        &Ev::from("ONCRMDEALADD", &portal)
            .no_tokens()
            .application_token("0000")
            .body(),
    )
    .unwrap();
    let forged = serde_json::to_vec(&body).unwrap();
    assert!(matches!(
        app.receive(&forged, Some("application/json")).await,
        Err(EventError::Forged { .. })
    ));
}
