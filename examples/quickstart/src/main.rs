//! Quickstart: the SDK doing what Bitrix24's PHP bot example does, typed.
//!
//! Offline by default: starts the sandbox portal, registers an echo bot (`bitrix24::bot`) whose
//! event handler is a real HTTP server, lets a colleague write to it, and prints the
//! conversation. Halfway through, every access token expires; the bot's next call renews it once
//! and carries on. The `echo_bot` example goes further: installation by event, a welcome, a
//! slash command, real portals.
//!
//! With credentials in the environment (`B24_WEBHOOK_URL`, or `B24_PORTAL` + `B24_ACCESS_TOKEN` +
//! `B24_REFRESH_TOKEN` + `B24_CLIENT_ID` + `B24_CLIENT_SECRET`) it makes read-only calls against
//! that portal instead: `profile`, `user.current`, and the first page of `crm.deal.list`.
#![allow(deprecated)] // crm.deal.* are the classic methods this example shows.

use std::error::Error;

use bitrix24::Client;
use bitrix24::app::{App, MemoryInstallations};
use bitrix24::bot::{Bot, BotService, Incoming, Message};
use bitrix24::crm::DealFields;
use bitrix24_sandbox::Sandbox;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let real_portal = ["B24_WEBHOOK_URL", "B24_PORTAL"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    if real_portal {
        read_only_tour().await
    } else {
        offline_echo_bot().await
    }
}

/// Read-only calls against the portal configured in the environment.
async fn read_only_tour() -> Result<(), Box<dyn Error>> {
    let client = Client::from_env()?;
    println!("bitrix24 quickstart: {}", client.portal());
    let profile = client.profile().await?;
    println!(
        "  profile: user {} {} (admin: {:?})",
        profile.id,
        display(&profile.name),
        profile.admin
    );
    let me = client.user_current().await?;
    println!(
        "  user.current: {} {} <{}>",
        display(&me.name),
        display(&me.last_name),
        display(&me.email)
    );
    let deals = client
        .crm_deal_list()
        .select(["ID", "TITLE", "OPPORTUNITY", "CURRENCY_ID"])
        .await?;
    println!("  crm.deal.list: {} deals on the first page", deals.len());
    for deal in deals.iter().take(10) {
        let amount = deal.opportunity.unwrap_or_default();
        println!(
            "    #{} {} ({amount} {})",
            deal.id.unwrap_or_default(),
            display(&deal.title),
            display(&deal.currency_id)
        );
    }
    Ok(())
}

async fn offline_echo_bot() -> Result<(), Box<dyn Error>> {
    let portal = Sandbox::start().await?;
    println!(
        "bitrix24 quickstart: offline sandbox portal at {}",
        portal.url()
    );

    // The application, installed on the portal. (`echo_bot` shows the install event
    // arriving; here the installation is registered directly, as an install page would.)
    let app = App::builder(portal.oauth_app(), MemoryInstallations::new()).build()?;
    app.register(portal.installation()).await?;
    let client = app.client(&portal.member_id()).await?;
    for title in ["Roof repair", "Roof inspection", "Office chairs"] {
        client
            .crm_deal_add()
            .fields(DealFields::new().title(title).opportunity(1200.0))
            .await?;
    }

    // The bot: the first message gets the prompt from Bitrix24's PHP example; later ones are
    // searched in deal titles.
    let bot = Bot::builder("echo_bot")
        .name("Echo")
        .last_name("Bot")
        .on_message(|msg: Incoming<Message>| async move {
            let reply = if msg.text.starts_with("Привет") {
                "Введите строку поиска".to_owned()
            } else {
                search(&msg.client, &msg.text).await?
            };
            msg.reply(reply).await?;
            Ok(())
        })
        .build();

    // Its event handler: a plain HTTP endpoint, as Bitrix24 requires, that verifies every
    // event (application token, portal) before the bot sees it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let handler_url = format!("http://{}/bot", listener.local_addr()?);
    let service = BotService::new(app, bot.clone());
    let router = bitrix24::bot::axum::router("/bot", service);
    tokio::spawn(async move { axum::serve(listener, router).await });

    let bot_id = bot.register(&client, &handler_url).await?.bot_id;
    println!("  bot \"Echo\" registered as user {bot_id}; its events go to {handler_url}");

    // Boris (user 2) writes to the bot through his own webhook; the portal POSTs each message to
    // the bot's handler, which answers before Boris's call returns.
    let boris = Client::webhook(&portal.user_webhook_url(2))?;
    let mut shown = 0;
    for (i, text) in ["Привет!", "Roof", "chairs"].into_iter().enumerate() {
        if i == 2 {
            portal.expire_access_tokens();
            println!("  ... an hour passes: the bot's access token has expired ...");
        }
        boris.im_message_add(bot_id, text).await?;
        for message in &portal.messages()[shown..] {
            let who = if message.author_id == bot_id {
                "Echo "
            } else {
                "Boris"
            };
            println!("    {who} > {}", message.text);
            shown += 1;
        }
    }
    let stats = portal.stats();
    println!(
        "  {} REST requests, {} events delivered, {} token renewal(s)",
        stats.requests, stats.events_delivered, stats.refreshes
    );
    Ok(())
}

async fn search(client: &Client, text: &str) -> Result<String, bitrix24::Error> {
    let deals = client
        .crm_deal_list()
        .filter("%TITLE", text)
        .select(["ID", "TITLE"])
        .await?;
    let titles: Vec<String> = deals
        .iter()
        .map(|d| format!("{} (#{})", display(&d.title), d.id.unwrap_or_default()))
        .collect();
    Ok(match titles.len() {
        0 => format!("No deals match \"{text}\""),
        n => format!("{n} deal(s) match \"{text}\": {}", titles.join(", ")),
    })
}

fn display(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("-")
}
