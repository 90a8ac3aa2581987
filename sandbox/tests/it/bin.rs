//! The standalone sandbox binary: it prints one line of JSON a client can connect with, and
//! serves the portal it describes.
#![allow(deprecated)] // crm.deal.list: the classic list every portal has.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use bitrix24::{Client, OAuthApp, Tokens};

#[tokio::test(flavor = "multi_thread")]
async fn the_printed_line_is_enough_to_connect() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bitrix24-sandbox"))
        .args(["--seed-deals", "120", "--plan", "enterprise"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).unwrap();
    let text = |k: &str| {
        info[k]
            .as_str()
            .unwrap_or_else(|| panic!("{k} in {line}"))
            .to_owned()
    };

    let webhook = Client::webhook(&text("webhook")).unwrap();
    let deals = webhook.crm_deal_list().await;
    let oauth = Client::builder()
        .portal(&text("portal"))
        .oauth(
            OAuthApp::new(text("client_id"), text("client_secret"))
                .with_token_url(text("token_url").parse().unwrap()),
            Tokens::new(text("access_token"), text("refresh_token")),
        )
        .build()
        .unwrap();
    let profile = oauth.profile().await;
    child.kill().unwrap();
    child.wait().unwrap();
    let deals = deals.unwrap();
    assert_eq!(deals.len(), 50, "a first page of the 120 seeded deals");
    assert_eq!(profile.unwrap().id, 1);
    assert_eq!(info["plan"], "enterprise");
    assert_eq!(info["deals"], 120);
}
