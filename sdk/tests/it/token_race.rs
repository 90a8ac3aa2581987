//! Two OS processes share a token file and find their access token expired at the same moment:
//! exactly one renews, both continue. The children are this test binary run again with
//! `B24_RACE_ROLE` set (see `child`).
#![cfg(feature = "full")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use bitrix24::{Client, FileTokenStore, OAuthApp, TokenStore};
use bitrix24_sandbox::Sandbox;

/// Rounds of the race; each round starts two fresh processes.
const ROUNDS: usize = 100;

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn spawn_child(name: &str, dir: &Path, portal: &Sandbox) -> Child {
    let app = portal.oauth_app();
    Command::new(std::env::current_exe().unwrap())
        .args([
            "token_race::child",
            "--exact",
            "--ignored",
            "--quiet",
            "--test-threads=1",
        ])
        .env("B24_RACE_ROLE", name)
        .env("B24_RACE_DIR", dir)
        .env("B24_RACE_PORTAL", portal.url().as_str())
        .env("B24_RACE_CLIENT_ID", &app.client_id)
        .env("B24_RACE_CLIENT_SECRET", app.client_secret.expose())
        .env("B24_RACE_TOKEN_URL", app.token_url.as_str())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_renew_once_and_both_continue() {
    let portal = Sandbox::start().await.unwrap();
    let base: PathBuf = std::env::temp_dir().join(format!("b24-race-{}", std::process::id()));
    for round in 0..ROUNDS {
        let dir = base.join(round.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        FileTokenStore::new(dir.join("tokens.json"))
            .save(&portal.issue_tokens())
            .await
            .unwrap();
        let before = portal.stats();
        let children = [
            spawn_child("a", &dir, &portal),
            spawn_child("b", &dir, &portal),
        ];
        // Both children have loaded the pair and made a call with it; now it expires under them.
        let dir2 = dir.clone();
        tokio::task::spawn_blocking(move || {
            wait_for(&dir2.join("ready-a"));
            wait_for(&dir2.join("ready-b"));
        })
        .await
        .unwrap();
        portal.expire_access_tokens();
        std::fs::write(dir.join("go"), b"").unwrap();
        for mut child in children {
            let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
                .await
                .unwrap();
            assert!(status.success(), "round {round}: a child failed");
        }
        let after = portal.stats();
        assert_eq!(
            after.refreshes - before.refreshes,
            1,
            "round {round}: one renewal"
        );
        assert_eq!(
            after.refresh_failures, before.refresh_failures,
            "round {round}: no invalid_grant"
        );
    }
    std::fs::remove_dir_all(&base).unwrap();
}

/// One racing process: load the shared pair, signal readiness, wait for the go, call again.
#[tokio::test]
#[ignore = "run by two_processes_renew_once_and_both_continue as a child process"]
async fn child() {
    let (Ok(role), Ok(dir)) = (
        std::env::var("B24_RACE_ROLE"),
        std::env::var("B24_RACE_DIR"),
    ) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let var = |name: &str| std::env::var(name).unwrap();
    let app = OAuthApp::new(var("B24_RACE_CLIENT_ID"), var("B24_RACE_CLIENT_SECRET"))
        .with_token_url(var("B24_RACE_TOKEN_URL").parse().unwrap());
    let client = Client::builder()
        .portal(&var("B24_RACE_PORTAL"))
        .oauth_from_store(app, FileTokenStore::new(dir.join("tokens.json")))
        .build()
        .unwrap();
    client
        .profile()
        .await
        .expect("first call with the shared pair");
    std::fs::write(dir.join(format!("ready-{role}")), b"").unwrap();
    let go = dir.join("go");
    tokio::task::spawn_blocking(move || wait_for(&go))
        .await
        .unwrap();
    client.profile().await.expect("call after the expiry");
}
