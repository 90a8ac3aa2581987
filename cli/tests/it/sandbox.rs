//! `b24 sandbox`: the printed credentials connect, from the SDK and from `b24` itself.
#![cfg(unix)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use crate::support::{b24, run};
use bitrix24::{Client, OAuthApp, Tokens};
use serde_json::Value;

/// Starts `b24 sandbox ARGS` and reads stdout up to the line `until` starts with.
fn start(home: &std::path::Path, args: &[&str], until: &str) -> (Child, Vec<String>) {
    let mut child = b24(home)
        .arg("sandbox")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "sandbox output ended: {lines:?}"
        );
        let line = line.trim_end().to_owned();
        let done = line.starts_with(until);
        lines.push(line);
        if done {
            break;
        }
    }
    (child, lines)
}

fn stop(mut child: Child) {
    // SAFETY: signals our own child process.
    unsafe { libc::kill(i32::try_from(child.id()).unwrap(), libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "Ctrl-C stops the sandbox cleanly");
}

#[test]
fn json_credentials_connect_by_webhook_and_oauth() {
    let home = tempfile::tempdir().unwrap();
    let (child, lines) = start(
        home.path(),
        &["--json", "--seed-deals", "120", "--plan", "unlimited"],
        "{",
    );
    let line: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(line["deals"], 120);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let webhook = Client::webhook(line["webhook"].as_str().unwrap()).unwrap();
        let me = webhook.user_current().await.unwrap();
        assert_eq!(me.id, Some(1));
        let app = OAuthApp::new(
            line["client_id"].as_str().unwrap(),
            line["client_secret"].as_str().unwrap(),
        )
        .with_token_url(line["token_url"].as_str().unwrap().parse().unwrap());
        let tokens = Tokens::new(
            line["access_token"].as_str().unwrap(),
            line["refresh_token"].as_str().unwrap(),
        );
        let oauth = Client::builder()
            .portal(line["portal"].as_str().unwrap())
            .oauth(app, tokens)
            .build()
            .unwrap();
        let deals: Value = oauth
            .call("crm.deal.list", &serde_json::json!({"select": ["ID"]}))
            .await
            .unwrap();
        assert_eq!(deals.as_array().unwrap().len(), 50);
    });
    // And b24 itself, through the webhook.
    let (code, out, err) = run(b24(home.path())
        .env("B24_WEBHOOK_URL", line["webhook"].as_str().unwrap())
        .args(["call", "crm.deal.get", "ID=120"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"Deal #120\""), "{out}");
    stop(child);
}

/// `export A='x' B='y'` -> {A: x, B: y}.
fn exports(line: &str) -> HashMap<String, String> {
    line.trim_start_matches("export ")
        .split("' ")
        .filter_map(|pair| {
            let (name, value) = pair.split_once("='")?;
            Some((name.to_owned(), value.trim_end_matches('\'').to_owned()))
        })
        .collect()
}

#[test]
fn printed_export_lines_work_when_pasted() {
    let home = tempfile::tempdir().unwrap();
    let (child, lines) = start(
        home.path(),
        &["--plan", "enterprise"],
        "Serving until Ctrl-C",
    );
    assert!(
        lines[0].starts_with("Sandbox portal at http://127.0.0.1:"),
        "{lines:?}"
    );
    assert!(lines[0].contains("250 requests burst"), "{lines:?}");
    let webhook_line = lines
        .iter()
        .find(|l| l.starts_with("export B24_WEBHOOK_URL="))
        .expect("webhook export line");
    let oauth_line = lines
        .iter()
        .find(|l| l.starts_with("export B24_PORTAL="))
        .expect("OAuth export line");
    let webhook = exports(webhook_line);
    let (code, out, err) = run(b24(home.path()).envs(&webhook).args(["call", "profile"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"ADMIN\": true"), "{out}");
    let oauth = exports(oauth_line);
    for name in [
        "B24_PORTAL",
        "B24_CLIENT_ID",
        "B24_CLIENT_SECRET",
        "B24_OAUTH_URL",
        "B24_ACCESS_TOKEN",
        "B24_REFRESH_TOKEN",
    ] {
        assert!(oauth.contains_key(name), "{name} in {oauth_line}");
    }
    let (code, out, err) = run(b24(home.path()).envs(&oauth).args(["call", "user.current"]));
    assert_eq!(code, 0, "{err}");
    let me: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(me["ID"], "1");
    // `auth show` sees the OAuth application and masks what it printed in full.
    let (code, out, _) = run(b24(home.path()).envs(&oauth).args(["auth", "show"]));
    assert_eq!(code, 0);
    assert!(!out.contains(&oauth["B24_CLIENT_SECRET"]), "{out}");
    stop(child);
}
