//! An echo bot that searches deals, as in Bitrix24's chat-bot example, on the bot toolkit
//! (`bitrix24::bot`): a real HTTP server that portals install and POST events to.
//!
//! - When a user opens its dialog (or adds it to a chat) it introduces itself.
//! - The first message of a dialog gets the prompt "Введите строку поиска"; every later one is
//!   searched in deal titles, and echoed when nothing matches.
//! - `/search <title>` searches straight away (a registered slash command).
//!
//! **Offline** (the default, no variables set): starts a sandbox portal with a few deals, serves
//! the bot on 127.0.0.1, lets the portal install it (`ONAPPINSTALL` to the handler; the bot
//! registers itself and its command), then has a colleague talk to it, with an expired token
//! halfway — and prints what each side did.
//!
//! **A real portal**: with `B24_CLIENT_ID` and `B24_CLIENT_SECRET` (your application's
//! credentials) set, it serves until killed; set the application's handler URL (and install
//! URL) to the public URL, and portals that install the application get the bot.
//!
//! | variable | default | |
//! | --- | --- | --- |
//! | `B24_LISTEN` | `0.0.0.0:8080` | address to listen on |
//! | `B24_PUBLIC_URL` | `http://<listen address>/bot` | the handler URL portals POST to |
//! | `B24_OAUTH_URL` | `https://oauth.bitrix.info/oauth/token/` | where tokens are renewed |
//! | `B24_ALLOWED_DOMAINS` | any public portal | comma-separated `host[:port]`s (`.bitrix24.com` for a suffix) |
//! | `B24_INSTALL_DIR` | `./b24-installations` | where installations (tokens included) are kept, mode 0600 |
#![allow(deprecated)] // crm.deal.* are the classic methods every portal has.

use std::collections::HashSet;
use std::error::Error;
use std::sync::{Arc, Mutex};

use bitrix24::app::{App, FileInstallations, InstallPolicy, MemoryInstallations};
use bitrix24::bot::{Bot, BotCommand, BotService, Command, Incoming, Join, Message, Registration};
use bitrix24::crm::DealFields;
use bitrix24::{Client, OAuthApp};
use bitrix24_sandbox::{Sandbox, StoredMessage};

const PROMPT: &str = "Введите строку поиска";
const WELCOME: &str = "Hello! I find deals by title: write me a word, or use /search <title>.";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    match (var("B24_CLIENT_ID"), var("B24_CLIENT_SECRET")) {
        (Some(id), Some(secret)) => serve(OAuthApp::new(id, secret), var).await,
        _ => offline().await,
    }
}

/// The bot: its profile, its command and what it does with each event.
fn echo_bot() -> Bot {
    // Dialogs that got the prompt, per portal: the next message there is a search.
    let prompted: Arc<Mutex<HashSet<(String, String)>>> = Arc::default();
    Bot::builder("echo_bot")
        .name("Echo")
        .last_name("Bot")
        .work_position("Finds deals by title")
        .on_install(|r: Incoming<Registration>| async move {
            log(
                &r.member_id,
                format!(
                    "installed: bot registered as user {}, commands {:?}",
                    r.bot_id, r.commands
                ),
            );
            Ok(())
        })
        .on_join(|join: Incoming<Join>| async move {
            log(
                &join.member_id,
                format!(
                    "joined dialog {} (user {}): welcome",
                    join.dialog_id, join.user.id
                ),
            );
            join.reply(WELCOME).await?;
            Ok(())
        })
        .on_message(move |msg: Incoming<Message>| {
            let prompted = prompted.clone();
            async move {
                let first = prompted
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert((msg.member_id.clone(), msg.dialog_id.to_string()));
                let reply = if first {
                    PROMPT.to_owned()
                } else {
                    search(&msg.client, &msg.text).await?
                };
                log(
                    &msg.member_id,
                    format!(
                        "message {} from user {} in dialog {}: {:?} -> {:?}",
                        msg.message_id, msg.from_user_id, msg.dialog_id, msg.text, reply
                    ),
                );
                msg.reply(reply).await?;
                Ok(())
            }
        })
        .command(
            BotCommand::new("search")
                .title("Search deals by title")
                .params("title"),
            |cmd: Incoming<Command>| async move {
                let reply = search(&cmd.client, &cmd.params).await?;
                log(
                    &cmd.member_id,
                    format!(
                        "/search {:?} from user {} -> {reply:?}",
                        cmd.params, cmd.from_user_id
                    ),
                );
                cmd.answer(reply).await?;
                Ok(())
            },
        )
        .build()
}

/// Deals whose title contains `text`; the text echoed back when none does.
async fn search(client: &Client, text: &str) -> Result<String, bitrix24::Error> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(PROMPT.to_owned());
    }
    let deals = client
        .crm_deal_list()
        .filter("%TITLE", text)
        .select(["ID", "TITLE"])
        .await?;
    let titles: Vec<String> = deals
        .iter()
        .map(|d| {
            format!(
                "{} (#{})",
                d.title.as_deref().unwrap_or("-"),
                d.id.unwrap_or_default()
            )
        })
        .collect();
    Ok(match titles.len() {
        0 => format!("You wrote \"{text}\"; no deal matches"),
        n => format!("{n} deal(s) match \"{text}\": {}", titles.join(", ")),
    })
}

/// A line of the bot's log, tagged with the portal.
fn log(member_id: &str, line: impl std::fmt::Display) {
    let short: String = member_id.chars().take(8).collect();
    println!("  [bot @ {short}] {line}");
}

/// Serves portals that install the application, until killed.
async fn serve(
    oauth: OAuthApp,
    var: impl Fn(&str) -> Option<String>,
) -> Result<(), Box<dyn Error>> {
    let oauth = match var("B24_OAUTH_URL") {
        Some(url) => oauth.with_token_url(url.parse()?),
        None => oauth,
    };
    let policy = match var("B24_ALLOWED_DOMAINS") {
        Some(list) => InstallPolicy::Domains(
            list.split(',')
                .map(|d| d.trim().to_owned())
                .filter(|d| !d.is_empty())
                .collect(),
        ),
        None => InstallPolicy::TrustFirst,
    };
    let dir = var("B24_INSTALL_DIR").unwrap_or_else(|| "b24-installations".to_owned());
    let app = App::builder(oauth, FileInstallations::new(&dir))
        .install_policy(policy)
        .build()?;
    let listen = var("B24_LISTEN").unwrap_or_else(|| "0.0.0.0:8080".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let url = var("B24_PUBLIC_URL")
        .unwrap_or_else(|| format!("http://{}/bot", listener.local_addr().expect("bound")));
    let service = BotService::new(app, echo_bot()).handler_url(&url);
    // The path of http://host[:port]/path: where the router listens.
    let path = match url.splitn(4, '/').nth(3) {
        Some(path) => format!("/{}", path.split(['?', '#']).next().unwrap_or_default()),
        None => "/".to_owned(),
    };
    println!("echo bot: listening on {}", listener.local_addr()?);
    println!("echo bot: handler URL {url}");
    println!("echo bot: installations in {dir}");
    axum::serve(listener, bitrix24::bot::axum::router(&path, service)).await?;
    Ok(())
}

/// The whole story against an offline sandbox portal.
async fn offline() -> Result<(), Box<dyn Error>> {
    let portal = Sandbox::start().await?;
    println!("echo bot: offline sandbox portal at {}", portal.url());
    let admin = portal.webhook_client()?;
    for title in ["Roof repair", "Roof inspection", "Office chairs"] {
        admin
            .crm_deal_add()
            .fields(DealFields::new().title(title).opportunity(1200.0))
            .await?;
    }

    // The bot's server: verifies every request, then routes it to the bot.
    let app = App::builder(portal.oauth_app(), MemoryInstallations::new())
        .install_policy(InstallPolicy::Domains(vec![portal.domain()]))
        .build()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/bot", listener.local_addr()?);
    let service = BotService::new(app, echo_bot()).handler_url(&url);
    let router = bitrix24::bot::axum::router("/bot", service.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    println!("echo bot: serving {url}");

    // The administrator installs the application: the portal POSTs ONAPPINSTALL.
    println!("portal: installing the application");
    portal.install_app(&url).await?;
    let client = service.app().client(&portal.member_id()).await?;
    let bots: serde_json::Value = client.call("imbot.bot.list", &()).await?;
    let bot_id: i64 = bots
        .as_object()
        .and_then(|b| b.keys().next())
        .and_then(|id| id.parse().ok())
        .ok_or("the bot did not register")?;

    let mut transcript = Transcript::new(bot_id);
    println!("portal: Boris opens the bot's dialog");
    portal.open_dialog(2, bot_id).await?;
    transcript.show(&portal);
    let boris = Client::webhook(&portal.user_webhook_url(2))?;
    for (i, text) in ["Привет!", "Roof", "/search chairs", "Desks"]
        .into_iter()
        .enumerate()
    {
        if i == 3 {
            portal.expire_access_tokens();
            println!("portal: ... an hour passes: the bot's access token has expired ...");
        }
        println!("portal: Boris writes {text:?}");
        boris.im_message_add(bot_id, text).await?;
        transcript.show(&portal);
    }
    let stats = portal.stats();
    println!(
        "echo bot: {} REST requests, {} events delivered, {} OAuth grant(s) (the install's \
         verification, then token renewals)",
        stats.requests, stats.events_delivered, stats.refreshes
    );
    Ok(())
}

/// Prints the conversation as it grows.
struct Transcript {
    bot_id: i64,
    shown: usize,
}

impl Transcript {
    fn new(bot_id: i64) -> Self {
        Self { bot_id, shown: 0 }
    }

    fn show(&mut self, portal: &Sandbox) {
        let messages: Vec<StoredMessage> = portal.messages();
        for message in messages.iter().skip(self.shown) {
            let who = if message.author_id == self.bot_id {
                "Echo "
            } else {
                "Boris"
            };
            println!("    {who} > {}", message.text);
        }
        self.shown = messages.len();
    }
}
