//! Inbound events over real HTTP: installation, verification, and where secrets may go.
#![cfg(feature = "full")]

use crate::recorder::Recorder;
use bitrix24::app::{App, InstallPolicy, MemoryInstallations};
use bitrix24::events::EventError;
use bitrix24::wire::php;
use bitrix24_sandbox::Sandbox;
use serde_json::{Value, json};

fn domain(portal: &Sandbox) -> String {
    portal
        .url()
        .as_str()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// An event as the portal would POST it (form-encoded, PHP brackets).
fn event(
    name: &str,
    portal: &Sandbox,
    application_token: &str,
    with_tokens: bool,
    domain_override: Option<&str>,
) -> String {
    let tokens = portal.issue_tokens();
    let mut auth = json!({
        "domain": domain_override.map(str::to_owned).unwrap_or_else(|| domain(portal)),
        "member_id": tokens.member_id.clone().unwrap(),
        "application_token": application_token,
        "client_endpoint": format!("{}rest/", portal.url()),
        "server_endpoint": format!("{}rest/", portal.url()),
        "scope": "crm,imbot",
    });
    if with_tokens {
        auth["access_token"] = json!(tokens.access_token.expose());
        auth["refresh_token"] = json!(tokens.refresh_token.expose());
        auth["expires_in"] = json!(3600);
    }
    php::encode(
        &json!({"event": name, "data": {"VERSION": "1"}, "ts": chrono::Utc::now().timestamp(), "auth": auth}),
    )
}

fn app_for(portal: &Sandbox, policy: InstallPolicy) -> App {
    App::builder(portal.oauth_app(), MemoryInstallations::new())
        .install_policy(policy)
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_install_event_registers_the_portal_and_later_events_verify() {
    let portal = Sandbox::start().await.unwrap();
    let token = portal.application_token();
    let app = app_for(&portal, InstallPolicy::Domains(vec![domain(&portal)]));
    let install = event("ONAPPINSTALL", &portal, token.expose(), true, None);
    let delivery = app.receive(install.as_bytes(), None).await.unwrap();
    assert!(delivery.installed);
    assert_eq!(
        delivery.client.profile().await.unwrap().id,
        1,
        "the stored tokens work"
    );

    let next = event("ONCRMDEALADD", &portal, token.expose(), false, None);
    let delivery = app
        .receive(next.as_bytes(), Some("application/x-www-form-urlencoded"))
        .await
        .unwrap();
    assert!(!delivery.installed);
    assert_eq!(delivery.event.name, "ONCRMDEALADD");
}

#[tokio::test]
async fn forged_events_are_refused_and_cause_no_call() {
    let portal = Sandbox::start().await.unwrap();
    let token = portal.application_token();
    let app = app_for(&portal, InstallPolicy::Domains(vec![domain(&portal)]));
    app.receive(
        event("ONAPPINSTALL", &portal, token.expose(), true, None).as_bytes(),
        None,
    )
    .await
    .unwrap();
    let before = portal.stats().requests;

    let wrong = app
        .receive(
            event("ONIMBOTMESSAGEADD", &portal, "0000000000000000", true, None).as_bytes(),
            None,
        )
        .await;
    assert!(matches!(wrong, Err(EventError::Forged { .. })), "{wrong:?}");
    let missing = php::encode(&json!({"event": "ONIMBOTMESSAGEADD", "auth": {"member_id": "x"}}));
    assert!(matches!(
        app.receive(missing.as_bytes(), None).await,
        Err(EventError::MissingToken { .. })
    ));
    let tampered = event(
        "ONIMBOTMESSAGEADD",
        &portal,
        token.expose(),
        true,
        Some("evil.example.com"),
    );
    assert!(matches!(
        app.receive(tampered.as_bytes(), None).await,
        Err(EventError::WrongDomain { .. })
    ));
    let reinstall = event(
        "ONAPPINSTALL",
        &portal,
        "0000000000000000",
        true,
        Some("evil.example.com"),
    );
    assert!(matches!(
        app.receive(reinstall.as_bytes(), None).await,
        Err(EventError::Forged { .. })
    ));
    assert_eq!(
        portal.stats().requests,
        before,
        "no call was made for any of them"
    );

    // Another portal's member id, never installed.
    let stranger = Sandbox::start().await.unwrap();
    let unknown = event(
        "ONCRMDEALADD",
        &stranger,
        stranger.application_token().expose(),
        false,
        None,
    );
    assert!(matches!(
        app.receive(unknown.as_bytes(), None).await,
        Err(EventError::UnknownPortal { .. })
    ));
}

#[tokio::test]
async fn installs_follow_the_policy() {
    let portal = Sandbox::start().await.unwrap();
    let token = portal.application_token();
    let install = event("ONAPPINSTALL", &portal, token.expose(), true, None);
    // A local address is not a public portal: refused under TrustFirst.
    let trusting = app_for(&portal, InstallPolicy::TrustFirst);
    assert!(matches!(
        trusting.receive(install.as_bytes(), None).await,
        Err(EventError::InstallRefused(_))
    ));
    let refusing = app_for(&portal, InstallPolicy::Refuse);
    assert!(matches!(
        refusing.receive(install.as_bytes(), None).await,
        Err(EventError::InstallRefused(_))
    ));
    let elsewhere = app_for(
        &portal,
        InstallPolicy::Domains(vec![".bitrix24.com".into()]),
    );
    assert!(matches!(
        elsewhere.receive(install.as_bytes(), None).await,
        Err(EventError::InstallRefused(_))
    ));
    for domain in ["evil.com/rest", "user@evil.com", "127.0.0.1:1/../x"] {
        let odd = event("ONAPPINSTALL", &portal, token.expose(), true, Some(domain));
        assert!(
            app_for(&portal, InstallPolicy::TrustFirst)
                .receive(odd.as_bytes(), None)
                .await
                .is_err(),
            "{domain}"
        );
    }
}

#[tokio::test]
async fn the_client_secret_reaches_the_oauth_server_only() {
    let portal = Sandbox::start().await.unwrap();
    let attacker = Recorder::default();
    let attacker_host = attacker.start().await.to_string();
    let token = portal.application_token();
    let app = app_for(&portal, InstallPolicy::Domains(vec![domain(&portal)]));
    app.receive(
        event("ONAPPINSTALL", &portal, token.expose(), true, None).as_bytes(),
        None,
    )
    .await
    .unwrap();

    // A forged install pointing at the attacker: refused before anything is stored or sent.
    let forged = event(
        "ONAPPINSTALL",
        &portal,
        token.expose(),
        true,
        Some(&attacker_host),
    );
    assert!(app.receive(forged.as_bytes(), None).await.is_err());
    // A genuine event whose endpoints were rewritten to the attacker: accepted (the token and
    // domain match) but its endpoints route nothing.
    let mut body: Value =
        php::decode(&event("ONCRMDEALADD", &portal, token.expose(), false, None)).unwrap();
    body["auth"]["client_endpoint"] = json!(format!("http://{attacker_host}/rest/"));
    body["auth"]["server_endpoint"] = json!(format!("http://{attacker_host}/rest/"));
    let delivery = app
        .receive(php::encode(&body).as_bytes(), None)
        .await
        .unwrap();
    // The token expires; the renewal goes to the configured OAuth server (which also verified
    // the install).
    let before = portal.stats().refreshes;
    portal.expire_access_tokens();
    delivery.client.profile().await.unwrap();
    assert_eq!(portal.stats().refreshes, before + 1);
    assert!(
        attacker.seen().is_empty(),
        "the attacker's host got: {:?}",
        attacker.seen()
    );
}

#[tokio::test]
async fn stale_events_are_refused_when_freshness_is_on() {
    let portal = Sandbox::start().await.unwrap();
    let token = portal.application_token();
    let app = App::builder(portal.oauth_app(), MemoryInstallations::new())
        .install_policy(InstallPolicy::Domains(vec![domain(&portal)]))
        .freshness(std::time::Duration::from_secs(300))
        .build()
        .unwrap();
    app.receive(
        event("ONAPPINSTALL", &portal, token.expose(), true, None).as_bytes(),
        None,
    )
    .await
    .unwrap();
    let mut old: Value =
        php::decode(&event("ONCRMDEALADD", &portal, token.expose(), false, None)).unwrap();
    old["ts"] = json!(chrono::Utc::now().timestamp() - 3_600);
    assert!(matches!(
        app.receive(php::encode(&old).as_bytes(), None).await,
        Err(EventError::Stale { .. })
    ));
}

#[tokio::test]
async fn a_renewal_lost_in_a_crash_is_recovered_from_the_next_event() {
    use bitrix24::{Error, ErrorCode, FileTokenStore, TokenStore};
    let portal = Sandbox::start().await.unwrap();
    let dir = std::env::temp_dir().join(format!("b24-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tokens.json");
    let stored = portal.issue_tokens();
    FileTokenStore::new(&path).save(&stored).await.unwrap();
    // A process renewed with the stored refresh token and died before saving the new pair:
    // the OAuth server rotated it, the file still holds the used one.
    let crashed = bitrix24::Client::builder()
        .portal(portal.url().as_str())
        .oauth(portal.oauth_app(), stored.clone())
        .build()
        .unwrap();
    portal.expire_access_tokens();
    crashed.profile().await.unwrap();
    // The next process starts from the file and cannot renew.
    let restarted = bitrix24::Client::builder()
        .portal(portal.url().as_str())
        .oauth_from_store(portal.oauth_app(), FileTokenStore::new(&path))
        .build()
        .unwrap();
    portal.expire_access_tokens();
    let e = restarted.profile().await.unwrap_err();
    assert!(
        matches!(&e, Error::Refresh(r) if r.code == ErrorCode::InvalidGrant),
        "{e:?}"
    );
    // The portal's next event brings a fresh pair; adopting it recovers, and it is stored.
    let body = event(
        "ONIMBOTMESSAGEADD",
        &portal,
        portal.application_token().expose(),
        true,
        None,
    );
    let fresh = bitrix24::events::Event::parse(body.as_bytes(), None)
        .unwrap()
        .tokens()
        .unwrap();
    restarted.adopt_tokens(fresh.clone()).await.unwrap();
    assert_eq!(restarted.profile().await.unwrap().id, 1);
    assert_eq!(
        FileTokenStore::new(&path).load().await.unwrap(),
        Some(fresh)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn events_without_a_member_id_are_matched_by_domain() {
    let portal = Sandbox::start().await.unwrap();
    let token = portal.application_token();
    let app = app_for(&portal, InstallPolicy::Domains(vec![domain(&portal)]));
    app.receive(
        event("ONAPPINSTALL", &portal, token.expose(), true, None).as_bytes(),
        None,
    )
    .await
    .unwrap();
    // The documented imbot.v2 webhook event: `auth` holds the domain and the token only.
    let v2 = php::encode(&json!({
        "event": "ONIMBOTV2MESSAGEADD",
        "data": {"bot": {"id": "456"}},
        "auth": {"domain": domain(&portal), "application_token": token.expose()},
    }));
    let delivery = app.receive(v2.as_bytes(), None).await.unwrap();
    assert_eq!(Some(delivery.member_id), portal.issue_tokens().member_id);
    let forged = php::encode(&json!({
        "event": "ONIMBOTV2MESSAGEADD",
        "auth": {"domain": domain(&portal), "application_token": "0000000000000000"},
    }));
    assert!(matches!(
        app.receive(forged.as_bytes(), None).await,
        Err(EventError::Forged { .. })
    ));
    let elsewhere = php::encode(&json!({
        "event": "ONIMBOTV2MESSAGEADD",
        "auth": {"domain": "other.bitrix24.com", "application_token": token.expose()},
    }));
    assert!(matches!(
        app.receive(elsewhere.as_bytes(), None).await,
        Err(EventError::UnknownPortal { .. })
    ));
}
