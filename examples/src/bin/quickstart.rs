//! Quickstart: the SDK doing what Bitrix24's PHP bot example does, typed.
//!
//! Offline by default: starts the sandbox portal, registers an echo bot whose event handler is a
//! real HTTP server, lets a colleague write to it, and prints the conversation. Halfway through,
//! every access token expires; the bot's next call renews it once and carries on.
//!
//! With credentials in the environment (`B24_WEBHOOK_URL`, or `B24_PORTAL` + `B24_ACCESS_TOKEN` +
//! `B24_REFRESH_TOKEN` + `B24_CLIENT_ID` + `B24_CLIENT_SECRET`) it makes read-only calls against
//! that portal instead: `profile`, `user.current`, and the first page of `crm.deal.list`.
#![allow(deprecated)] // imbot.message.add and crm.deal.* are the classic methods this example shows.

use std::error::Error;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use bitrix24::crm::DealFields;
use bitrix24::imbot::BotProperties;
use bitrix24::sandbox::Sandbox;
use bitrix24::{Client, Secret};

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

/// What the bot's event handler needs: a client to answer with and the token to check events by.
#[derive(Clone)]
struct Bot {
    client: Client,
    application_token: Secret,
}

async fn offline_echo_bot() -> Result<(), Box<dyn Error>> {
    let portal = Sandbox::start().await?;
    println!(
        "bitrix24 quickstart: offline sandbox portal at {}",
        portal.url()
    );
    let app = portal.oauth_client()?;
    for title in ["Roof repair", "Roof inspection", "Office chairs"] {
        app.crm_deal_add()
            .fields(DealFields::new().title(title).opportunity(1200.0))
            .await?;
    }

    // The bot's event handler: a plain HTTP endpoint, as Bitrix24 requires.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let handler_url = format!("http://{}/bot", listener.local_addr()?);
    let bot = Bot {
        client: app.clone(),
        application_token: portal.application_token(),
    };
    let router = axum::Router::new()
        .route("/bot", post(on_event))
        .with_state(bot);
    tokio::spawn(async move { axum::serve(listener, router).await });

    let bot_id = app
        .imbot_register(
            "echo_bot",
            BotProperties::new().name("Echo").last_name("Bot"),
        )
        .event_handler(&handler_url)
        .await?;
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

/// Handles `ONIMBOTMESSAGEADD`: checks the event came from our portal, then answers. The first
/// message gets the prompt from Bitrix24's PHP example; later ones are searched in deal titles.
async fn on_event(State(bot): State<Bot>, body: String) -> StatusCode {
    let Ok(event) = bitrix24::wire::php::decode(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let token = event["auth"]["application_token"]
        .as_str()
        .unwrap_or_default();
    if !bot.application_token.ct_eq(token) {
        return StatusCode::FORBIDDEN;
    }
    if event["event"] != "ONIMBOTMESSAGEADD" {
        return StatusCode::OK;
    }
    let params = &event["data"]["PARAMS"];
    let dialog = params["DIALOG_ID"].as_str().unwrap_or_default();
    let text = params["MESSAGE"].as_str().unwrap_or_default();
    let bot_id = event["data"]["BOT"]
        .as_object()
        .and_then(|bots| bots.keys().next())
        .and_then(|id| id.parse::<i64>().ok());
    let reply = if text.starts_with("Привет") {
        "Введите строку поиска".to_owned()
    } else {
        match search(&bot.client, text).await {
            Ok(reply) => reply,
            Err(e) => format!("search failed: {e}"),
        }
    };
    let mut request = bot.client.imbot_message_add(dialog, reply);
    if let Some(id) = bot_id {
        request = request.bot_id(id);
    }
    match request.await {
        Ok(_) => StatusCode::OK,
        Err(e) => {
            eprintln!("bot could not answer: {e}");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
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
