//! The echo bot binary end to end over real HTTP: offline it tells its whole story; pointed at
//! two sandbox portals sharing one application (as a real portal would install it), one bot
//! process serves both, each reply lands in the portal it belongs to, and an expired token is
//! renewed once in the middle of the conversation.
#![allow(deprecated)] // crm.deal.add: the classic method every portal has.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bitrix24::Client;
use bitrix24::crm::DealFields;
use bitrix24_sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

const VARS: &[&str] = &[
    "B24_CLIENT_ID",
    "B24_CLIENT_SECRET",
    "B24_OAUTH_URL",
    "B24_LISTEN",
    "B24_PUBLIC_URL",
    "B24_ALLOWED_DOMAINS",
    "B24_INSTALL_DIR",
];

fn echo_bot() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_echo_bot"));
    for var in VARS {
        command.env_remove(var);
    }
    command
}

#[test]
fn offline_it_installs_itself_and_tells_the_story() {
    let output = echo_bot().output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "installed: bot registered as user 101, commands {\"search\": 1}",
        "Echo  > Hello! I find deals by title: write me a word, or use /search <title>.",
        "Boris > Привет!",
        "Echo  > Введите строку поиска",
        "Echo  > 2 deal(s) match \"Roof\": Roof repair (#1), Roof inspection (#2)",
        "Boris > /search chairs",
        "Echo  > 1 deal(s) match \"chairs\": Office chairs (#3)",
        "Echo  > You wrote \"Desks\"; no deal matches",
        // One grant verified the install, one renewed the expired token.
        "6 events delivered, 2 OAuth grant(s)",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
}

/// The bot process, killed when dropped; its output kept for failure messages.
struct BotProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl BotProcess {
    fn spawn(vars: &[(&str, String)]) -> Self {
        let mut command = echo_bot();
        command.envs(vars.iter().map(|(k, v)| (*k, v.as_str())));
        let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for the line starting with `prefix` and returns the rest of it.
    fn wait_for(&mut self, prefix: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.to_owned();
                    }
                }
                Err(e) => panic!(
                    "no {prefix:?} ({e}); the bot said:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Everything the bot printed so far.
    fn log(&mut self) -> String {
        self.seen.extend(self.lines.try_iter());
        self.seen.join("\n")
    }
}

impl Drop for BotProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn add_deals(portal: &Sandbox, titles: &[&str]) {
    let admin = portal.webhook_client().unwrap();
    for title in titles {
        admin
            .crm_deal_add()
            .fields(DealFields::new().title(*title))
            .await
            .unwrap();
    }
}

async fn the_bot(portal: &Sandbox) -> i64 {
    let bots: Value = portal
        .oauth_client()
        .unwrap()
        .call("imbot.bot.list", &())
        .await
        .unwrap();
    let ids: Vec<i64> = bots
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.parse().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "{bots}");
    ids[0]
}

fn replies(portal: &Sandbox, bot: i64) -> Vec<String> {
    portal
        .messages()
        .into_iter()
        .filter(|m| m.author_id == bot)
        .map(|m| m.text)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_bot_process_serves_two_portals_and_renews_a_token_mid_conversation() {
    let a = Sandbox::start().await.unwrap();
    let b = a.start_peer(SandboxConfig::default()).await.unwrap();
    add_deals(&a, &["Roof repair", "Roof inspection"]).await;
    add_deals(&b, &["Office chairs"]).await;
    let oauth = a.oauth_app();
    let dir = std::env::temp_dir().join(format!("b24-echo-bot-{}", std::process::id()));
    let mut bot = BotProcess::spawn(&[
        ("B24_CLIENT_ID", oauth.client_id.clone()),
        ("B24_CLIENT_SECRET", oauth.client_secret.expose().to_owned()),
        ("B24_OAUTH_URL", oauth.token_url.to_string()),
        ("B24_LISTEN", "127.0.0.1:0".to_owned()),
        (
            "B24_ALLOWED_DOMAINS",
            format!("{},{}", a.domain(), b.domain()),
        ),
        ("B24_INSTALL_DIR", dir.display().to_string()),
    ]);
    let url = bot.wait_for("echo bot: handler URL ");

    // Both portals install the application; the bot registers itself on each.
    assert_eq!(a.install_app(&url).await.unwrap(), 200, "{}", bot.log());
    assert_eq!(b.install_app(&url).await.unwrap(), 200, "{}", bot.log());
    let (bot_a, bot_b) = (the_bot(&a).await, the_bot(&b).await);
    for portal in [&a, &b] {
        assert!(
            dir.join(format!("{}.json", portal.member_id())).exists(),
            "installation stored"
        );
    }

    // User 2 of each portal: the same dialog id on both, two separate conversations.
    let user_a = Client::webhook(&a.user_webhook_url(2)).unwrap();
    let user_b = Client::webhook(&b.user_webhook_url(2)).unwrap();
    a.open_dialog(2, bot_a).await.unwrap();
    user_a.im_message_add(bot_a, "Привет!").await.unwrap();
    user_b.im_message_add(bot_b, "Привет!").await.unwrap();
    a.expire_access_tokens();
    user_a.im_message_add(bot_a, "Roof").await.unwrap();
    user_b
        .im_message_add(bot_b, "/search chairs")
        .await
        .unwrap();
    user_b.im_message_add(bot_b, "Roof").await.unwrap();

    let log = bot.log();
    assert_eq!(
        replies(&a, bot_a),
        [
            "Hello! I find deals by title: write me a word, or use /search <title>.",
            "Введите строку поиска",
            "2 deal(s) match \"Roof\": Roof repair (#1), Roof inspection (#2)",
        ],
        "{log}"
    );
    assert_eq!(
        replies(&b, bot_b),
        [
            "Введите строку поиска",
            "1 deal(s) match \"chairs\": Office chairs (#1)",
            "You wrote \"Roof\"; no deal matches",
        ],
        "{log}"
    );
    // Each install was verified with one grant; then portal A's expired token was renewed once,
    // by its next reply; B's never expired.
    assert_eq!((a.stats().refreshes, b.stats().refreshes), (2, 1), "{log}");
    assert!(
        log.contains(&format!("[bot @ {}]", &a.member_id()[..8])),
        "{log}"
    );
    assert!(
        !log.contains(oauth.client_secret.expose()),
        "no secret in the log"
    );
    drop(bot);
    let _ = std::fs::remove_dir_all(&dir);
}
