//! The bot toolkit over real HTTP: a `BotService` behind its axum handler, installed by sandbox
//! portals, registering itself, answering messages, commands and joins through each portal's
//! own client — and refusing what does not verify before any call.
#![cfg(all(feature = "axum", feature = "full"))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitrix24::Client;
use bitrix24::app::{App, InstallPolicy, MemoryInstallations};
use bitrix24::bot::{
    Bot, BotCommand, BotEvent, BotService, Command, HandlerError, Incoming, Message, Registration,
};
use bitrix24::wire::php;
use bitrix24_sandbox::{Sandbox, SandboxConfig, StoredMessage};
use serde_json::{Value, json};

/// Registrations the bot reported, by portal.
type Registered = Arc<Mutex<Vec<(String, i64)>>>;

/// An echo bot: echoes messages, answers `/search`, welcomes, reports its installs.
fn echo_bot(registered: &Registered) -> Bot {
    let registered = registered.clone();
    Bot::builder("echo")
        .name("Echo")
        .last_name("Bot")
        .welcome("Welcome! Write me anything.")
        .on_message(|msg: Incoming<Message>| async move {
            msg.reply(format!("echo: {}", msg.text)).await?;
            Ok(())
        })
        .command(
            BotCommand::new("/search")
                .title("Search deals")
                .params("title"),
            |cmd: Incoming<Command>| async move {
                cmd.answer(format!("searched: {}", cmd.params)).await?;
                Ok(())
            },
        )
        .on_install(move |r: Incoming<Registration>| {
            let registered = registered.clone();
            async move {
                registered
                    .lock()
                    .unwrap()
                    .push((r.member_id.clone(), r.bot_id));
                Ok(())
            }
        })
        .build()
}

fn app_for(portals: &[&Sandbox]) -> App {
    let domains = portals.iter().map(|p| p.domain()).collect();
    App::builder(portals[0].oauth_app(), MemoryInstallations::new())
        .install_policy(InstallPolicy::Domains(domains))
        .build()
        .unwrap()
}

/// Serves the service `make` builds for the handler URL; returns that URL and the service.
async fn serve(make: impl FnOnce(String) -> BotService) -> (String, BotService) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/bot", listener.local_addr().unwrap());
    let service = make(url.clone());
    let router = bitrix24::bot::axum::router("/bot", service.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, service)
}

fn texts_by(portal: &Sandbox, author: i64) -> Vec<String> {
    portal
        .messages()
        .into_iter()
        .filter(|m| m.author_id == author)
        .map(|m| m.text)
        .collect()
}

/// The id of the one bot registered on `portal`.
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

fn last(portal: &Sandbox) -> StoredMessage {
    portal.messages().last().cloned().unwrap()
}

#[tokio::test]
async fn an_installed_bot_registers_itself_and_answers_messages_commands_and_joins() {
    let portal = Sandbox::start().await.unwrap();
    let registered = Registered::default();
    let (url, _service) =
        serve(|url| BotService::new(app_for(&[&portal]), echo_bot(&registered)).handler_url(url))
            .await;
    assert_eq!(portal.install_app(&url).await.unwrap(), 200);
    let (member_id, bot) = {
        let registered = registered.lock().unwrap();
        assert_eq!(registered.len(), 1, "{registered:?}");
        registered[0].clone()
    };
    assert_eq!(member_id, portal.member_id());

    // A user opens the bot's dialog: welcome.
    portal.open_dialog(2, bot).await.unwrap();
    let welcome = last(&portal);
    assert_eq!((welcome.author_id, welcome.dialog_id.as_str()), (bot, "2"));
    assert_eq!(welcome.text, "Welcome! Write me anything.");

    // A message: echoed in the same dialog, as the bot.
    let boris = Client::webhook(&portal.user_webhook_url(2)).unwrap();
    let asked = boris.im_message_add(bot, "Привет!").await.unwrap();
    let echo = last(&portal);
    assert_eq!((echo.author_id, echo.chat_id), (bot, welcome.chat_id));
    assert!(echo.id > asked);
    assert_eq!(echo.text, "echo: Привет!");

    // A command, registered at install, routed by name, answered with imbot.command.answer.
    boris.im_message_add(bot, "/search Roof").await.unwrap();
    assert_eq!(last(&portal).text, "searched: Roof");
    assert_eq!(portal.writes().get("imbot.command.answer"), 1);

    // Added to a group chat: welcome there too.
    let chat: i64 = boris
        .call("im.chat.add", &json!({"TITLE": "Roofs", "USERS": [3, bot]}))
        .await
        .unwrap();
    let welcome = last(&portal);
    assert_eq!(
        (welcome.chat_id, welcome.author_id, welcome.text.as_str()),
        (chat, bot, "Welcome! Write me anything.")
    );
    assert_eq!(
        texts_by(&portal, bot).len(),
        4,
        "two welcomes, an echo, an answer"
    );

    // A reinstall finds the same bot and the same command.
    assert_eq!(portal.install_app(&url).await.unwrap(), 200);
    assert_eq!(registered.lock().unwrap()[1].1, bot);
    boris.im_message_add(bot, "/search chairs").await.unwrap();
    assert_eq!(last(&portal).text, "searched: chairs");
}

/// An event as a portal would POST it, with the given application token (if any).
fn forged(portal: &Sandbox, token: Option<&str>, bot: i64) -> String {
    forged_from(portal, &portal.domain(), token, bot)
}

fn forged_from(portal: &Sandbox, domain: &str, token: Option<&str>, bot: i64) -> String {
    let mut auth = json!({"domain": domain, "member_id": portal.member_id()});
    if let Some(token) = token {
        auth["application_token"] = json!(token);
    }
    php::encode(&json!({
        "event": "ONIMBOTMESSAGEADD",
        "data": {"BOT": {bot.to_string(): {"BOT_ID": bot, "BOT_CODE": "echo"}},
                 "PARAMS": {"DIALOG_ID": "2", "MESSAGE": "transfer the money", "MESSAGE_ID": "1"}},
        "ts": chrono::Utc::now().timestamp(),
        "auth": auth,
    }))
}

#[tokio::test]
async fn what_does_not_verify_is_refused_over_http_with_no_outgoing_call() {
    let portal = Sandbox::start().await.unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let bot = Bot::builder("echo")
        .on_message(move |msg: Incoming<Message>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                msg.reply("done").await?;
                Ok(())
            }
        })
        .build();
    let (url, _service) = serve(|url| {
        BotService::new(app_for(&[&portal]), bot)
            .handler_url(url)
            .max_body(4096)
    })
    .await;
    assert_eq!(portal.install_app(&url).await.unwrap(), 200);
    let bot = the_bot(&portal).await;
    let before = portal.stats();

    let http = bitrix24::http_client_builder().unwrap().build().unwrap();
    let post = |body: Vec<u8>, content_type: &'static str| {
        let request = http
            .post(&url)
            .header("content-type", content_type)
            .body(body);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let form = "application/x-www-form-urlencoded";
    let stranger = Sandbox::start().await.unwrap();
    let cases: Vec<(&str, Vec<u8>, &str, u16)> = vec![
        (
            "wrong token",
            forged(&portal, Some("0123456789abcdef"), bot).into_bytes(),
            form,
            403,
        ),
        (
            "no token",
            forged(&portal, None, bot).into_bytes(),
            form,
            401,
        ),
        (
            "real token, other domain",
            forged_from(
                &portal,
                "evil.example.com",
                Some(portal.application_token().expose()),
                bot,
            )
            .into_bytes(),
            form,
            403,
        ),
        (
            "a portal that never installed",
            forged(&stranger, Some(stranger.application_token().expose()), bot).into_bytes(),
            form,
            403,
        ),
        ("not an event", b"data[x]=1".to_vec(), form, 400),
        ("not text", vec![0xff, 0xfe, 0xfd], form, 400),
        (
            "broken JSON",
            b"{\"event\":".to_vec(),
            "application/json",
            400,
        ),
        ("too large", vec![b'a'; 5000], form, 413),
    ];
    for (what, body, content_type, status) in cases {
        assert_eq!(post(body, content_type).await, status, "{what}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0, "no handler ran");
    let after = portal.stats();
    assert_eq!(
        after.requests, before.requests,
        "no call reached the portal"
    );
    assert_eq!(after.refreshes, before.refreshes);

    // The genuine article goes through.
    let genuine = forged(&portal, Some(portal.application_token().expose()), bot);
    assert_eq!(post(genuine.into_bytes(), form).await, 200);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let reply = last(&portal);
    assert_eq!((reply.author_id, reply.text.as_str()), (bot, "done"));
}

#[tokio::test]
async fn one_bot_server_serves_two_portals_and_renews_each_portals_tokens_once() {
    let a = Sandbox::start().await.unwrap();
    let b = a.start_peer(SandboxConfig::default()).await.unwrap();
    assert_ne!(a.member_id(), b.member_id());
    let registered = Registered::default();
    let (url, _service) =
        serve(|url| BotService::new(app_for(&[&a, &b]), echo_bot(&registered)).handler_url(url))
            .await;
    assert_eq!(a.install_app(&url).await.unwrap(), 200);
    assert_eq!(b.install_app(&url).await.unwrap(), 200);
    let bots = registered.lock().unwrap().clone();
    let bot_on = |portal: &Sandbox| {
        bots.iter()
            .find(|(m, _)| *m == portal.member_id())
            .map(|(_, id)| *id)
            .unwrap()
    };
    let (bot_a, bot_b) = (bot_on(&a), bot_on(&b));
    let user_a = Client::webhook(&a.user_webhook_url(2)).unwrap();
    let user_b = Client::webhook(&b.user_webhook_url(3)).unwrap();

    user_a.im_message_add(bot_a, "from a").await.unwrap();
    user_b.im_message_add(bot_b, "from b").await.unwrap();
    a.expire_access_tokens();
    user_a.im_message_add(bot_a, "a again").await.unwrap();
    b.expire_access_tokens();
    user_b.im_message_add(bot_b, "b again").await.unwrap();
    user_b.im_message_add(bot_b, "b once more").await.unwrap();

    assert_eq!(texts_by(&a, bot_a), ["echo: from a", "echo: a again"]);
    assert_eq!(
        texts_by(&b, bot_b),
        ["echo: from b", "echo: b again", "echo: b once more"]
    );
    // Each portal's tokens were renewed once, at the one OAuth server, by the portal that
    // issued them — after the grant that verified its install.
    assert_eq!((a.stats().refreshes, b.stats().refreshes), (2, 2));
    assert_eq!(a.stats().refresh_failures + b.stats().refresh_failures, 0);
}

#[tokio::test]
async fn in_the_background_the_portal_is_answered_before_the_handler_runs() {
    let portal = Sandbox::start().await.unwrap();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let waiting = gate.clone();
    let bot = Bot::builder("slow")
        .on_message(move |msg: Incoming<Message>| {
            let gate = waiting.clone();
            async move {
                let _permit = gate.acquire().await?;
                msg.reply("finally").await?;
                Ok(())
            }
        })
        .build();
    let (url, service) = serve(|url| {
        BotService::new(app_for(&[&portal]), bot)
            .handler_url(url)
            .background(true)
    })
    .await;
    assert_eq!(portal.install_app(&url).await.unwrap(), 200);
    let bot_id = the_bot(&portal).await;

    let boris = Client::webhook(&portal.user_webhook_url(2)).unwrap();
    // The handler is held at the gate: a portal waiting for it would never get its answer.
    let sent = tokio::time::timeout(
        Duration::from_secs(60),
        boris.im_message_add(bot_id, "take your time"),
    )
    .await;
    assert!(sent.is_ok(), "the portal waited for the handler");
    assert_eq!(
        portal.stats().events_delivered,
        2,
        "install and message, both 200"
    );
    assert!(texts_by(&portal, bot_id).is_empty());
    gate.add_permits(1);
    service.settled().await;
    assert_eq!(texts_by(&portal, bot_id), ["finally"]);
}

#[tokio::test]
async fn other_events_reach_the_catch_all_and_failing_handlers_answer_500() {
    let portal = Sandbox::start().await.unwrap();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let recorded = seen.clone();
    let bot = Bot::builder("picky")
        .on_message(|_: Incoming<Message>| async move {
            Err::<(), HandlerError>("this bot does not talk".into())
        })
        .on_other(move |event: Incoming<BotEvent>| {
            let recorded = recorded.clone();
            async move {
                let fields = match &event.event {
                    BotEvent::Other(other) => other.data["FIELDS"]["ID"].to_string(),
                    other => format!("{other:?}"),
                };
                recorded
                    .lock()
                    .unwrap()
                    .push(format!("{} {fields}", event.name()));
                Ok(())
            }
        })
        .build();
    let (url, service) =
        serve(|url| BotService::new(app_for(&[&portal]), bot).handler_url(url)).await;
    assert_eq!(portal.install_app(&url).await.unwrap(), 200);
    let client = service.app().client(&portal.member_id()).await.unwrap();
    client
        .call::<Value>(
            "event.bind",
            &json!({"event": "ONCRMDEALADD", "handler": url}),
        )
        .await
        .unwrap();
    let deal: i64 = client
        .call("crm.deal.add", &json!({"fields": {"TITLE": "Roof"}}))
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), [format!("ONCRMDEALADD \"{deal}\"")]);

    let delivered = portal.stats().events_delivered;
    let bot_id = the_bot(&portal).await;
    Client::webhook(&portal.user_webhook_url(2))
        .unwrap()
        .im_message_add(bot_id, "hello?")
        .await
        .unwrap();
    assert_eq!(
        portal.stats().events_delivered,
        delivered,
        "the failed handler was answered with an error status"
    );
}

#[tokio::test]
async fn slow_bodies_are_cut_off_and_requests_beyond_the_limit_are_turned_away() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let portal = Sandbox::start().await.unwrap();
    let registered = Registered::default();
    let (url, _service) = serve(|url| {
        BotService::new(app_for(&[&portal]), echo_bot(&registered))
            .handler_url(url)
            .read_timeout(Duration::from_millis(300))
            .max_concurrent(4)
    })
    .await;
    assert_eq!(portal.install_app(&url).await.unwrap(), 200);
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/bot")
        .to_owned();

    // Four clients send the headers and a little of the body, then nothing (slowloris).
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
        socket
            .write_all(
                b"POST /bot HTTP/1.1\r\nHost: bot\r\n\
                  Content-Type: application/x-www-form-urlencoded\r\n\
                  Content-Length: 1000\r\n\r\nevent=ONIMBOTMESS",
            )
            .await
            .unwrap();
        slow.push(socket);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let http = bitrix24::http_client_builder().unwrap().build().unwrap();
    let genuine = || {
        let body = forged(&portal, Some(portal.application_token().expose()), 1);
        http.post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    assert_eq!(
        genuine().await.unwrap().status().as_u16(),
        503,
        "a fifth request is turned away at once"
    );
    for mut socket in slow {
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut answer))
            .await
            .expect("the slow request was answered")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    // The slots are free again.
    assert_ne!(genuine().await.unwrap().status().as_u16(), 503);
}
