//! imbot.v2 bots: the polling stream over `imbot.v2.Event.get` (fetch mode), and webhook mode
//! through a `BotService`, against the sandbox over real HTTP.
#![cfg(all(feature = "axum", feature = "full"))]

use std::time::Duration;

use bitrix24::app::{App, InstallPolicy, MemoryInstallations};
use bitrix24::bot::{
    self, Bot, BotApi, BotCommand, BotEvent, BotService, Incoming, Message, Polled, V2Delivery,
};
use bitrix24::{Client, ErrorCode};
use bitrix24_sandbox::Sandbox;
use futures::{Stream, StreamExt};

/// The next item, or a failure instead of a hang if the stream never yields.
async fn next<S: Stream<Item = Result<Polled, bitrix24::Error>> + Unpin>(stream: &mut S) -> Polled {
    tokio::time::timeout(Duration::from_secs(30), stream.next())
        .await
        .expect("the stream yielded nothing")
        .expect("the stream ended")
        .expect("the poll failed")
}

fn helper() -> Bot {
    Bot::builder("helper")
        .name("Helper")
        .command(BotCommand::new("help").title("Help"), |_| async { Ok(()) })
        .build()
}

fn texts_by(portal: &Sandbox, author: i64) -> Vec<String> {
    portal
        .messages()
        .into_iter()
        .filter(|m| m.author_id == author)
        .map(|m| m.text)
        .collect()
}

#[tokio::test]
async fn a_fetch_mode_bot_polls_its_events_and_answers_through_v2_methods() {
    let portal = Sandbox::start().await.unwrap();
    let client = portal.oauth_client().unwrap();
    let registration = helper()
        .register_v2(&client, V2Delivery::Fetch)
        .await
        .unwrap();
    let bot_id = registration.bot_id;
    assert!(registration.commands.contains_key("help"));
    let boris = Client::webhook(&portal.user_webhook_url(2)).unwrap();
    boris.im_message_add(bot_id, "hello").await.unwrap();
    boris.im_message_add(bot_id, "/help topic").await.unwrap();
    assert_eq!(portal.queued_events(bot_id), 2);

    let mut events = bot::poll(client.clone(), bot_id)
        .idle_backoff(Duration::from_millis(1), Duration::from_millis(20))
        .stream();
    let first = next(&mut events).await;
    let BotEvent::Message(message) = &first.event else {
        panic!("{first:?}")
    };
    assert_eq!((message.api, message.text.as_str()), (BotApi::V2, "hello"));
    assert_eq!(message.bot.id, bot_id);
    message.reply(&client, "hi there").await.unwrap();

    let second = next(&mut events).await;
    let BotEvent::Command(command) = &second.event else {
        panic!("{second:?}")
    };
    assert_eq!(
        (command.command.as_str(), command.params.as_str()),
        ("help", "topic")
    );
    assert_eq!(command.answer(&client, "here is help").await.unwrap(), None);
    assert_eq!(texts_by(&portal, bot_id), ["hi there", "here is help"]);
    assert_eq!(portal.writes().get("imbot.v2.chat.message.send"), 1);
    assert_eq!(portal.writes().get("imbot.v2.command.answer"), 1);

    // The stream goes on asking (the empty answers confirm the two events) and yields what
    // comes next.
    boris.im_message_add(bot_id, "later").await.unwrap();
    let later = next(&mut events).await;
    assert!(matches!(&later.event, BotEvent::Message(m) if m.text == "later"));
    assert!(later.event_id > second.event_id);
    assert_eq!(
        portal.queued_events(bot_id),
        1,
        "only `later` is unconfirmed"
    );
    drop(events);

    // Delivery is at least once: a new stream gets `later` again, unless it resumes from a
    // persisted offset.
    let mut again = bot::poll(client.clone(), bot_id).stream();
    assert_eq!(next(&mut again).await.event_id, later.event_id);
    boris.im_message_add(bot_id, "last").await.unwrap();
    let mut resumed = bot::poll(client.clone(), bot_id)
        .offset(later.offset())
        .limit(10)
        .stream();
    let last = next(&mut resumed).await;
    assert!(
        matches!(&last.event, BotEvent::Message(m) if m.text == "last"),
        "{last:?}"
    );
}

#[tokio::test]
async fn a_failed_poll_is_yielded_and_retried() {
    let portal = Sandbox::start().await.unwrap();
    let mut events = bot::poll(portal.oauth_client().unwrap(), 4242)
        .idle_backoff(Duration::from_millis(1), Duration::from_millis(5))
        .stream();
    for _ in 0..2 {
        let e = tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(&e, bitrix24::Error::Api(a) if a.code == ErrorCode::Other("BOT_NOT_FOUND".into())),
            "{e}"
        );
    }
}

#[tokio::test]
async fn a_webhook_mode_bot_is_served_like_a_classic_one() {
    let portal = Sandbox::start().await.unwrap();
    let app = App::builder(portal.oauth_app(), MemoryInstallations::new())
        .install_policy(InstallPolicy::Domains(vec![portal.domain()]))
        .build()
        .unwrap();
    let bot = Bot::builder("v2echo")
        .name("V2 Echo")
        .welcome("v2 welcome")
        .on_message(|msg: Incoming<Message>| async move {
            msg.reply(format!("v2 echo: {}", msg.text)).await?;
            Ok(())
        })
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v2", listener.local_addr().unwrap());
    let service = BotService::new(app, bot)
        .handler_url(&url)
        .register_with(BotApi::V2);
    let router = bitrix24::bot::axum::router("/v2", service.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    assert_eq!(portal.install_app(&url).await.unwrap(), 200);
    let client = service.app().client(&portal.member_id()).await.unwrap();
    let bots: serde_json::Value = client
        .call("imbot.v2.Bot.list", &serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(bots["bots"][0]["eventMode"], "webhook", "{bots}");
    let bot_id = bots["bots"][0]["id"].as_i64().unwrap();

    portal.open_dialog(2, bot_id).await.unwrap();
    Client::webhook(&portal.user_webhook_url(2))
        .unwrap()
        .im_message_add(bot_id, "ping")
        .await
        .unwrap();
    assert_eq!(texts_by(&portal, bot_id), ["v2 welcome", "v2 echo: ping"]);
    assert_eq!(portal.writes().get("imbot.v2.chat.message.send"), 2);
    assert_eq!(
        portal.queued_events(bot_id),
        0,
        "webhook mode queues nothing"
    );
}

#[tokio::test]
async fn an_event_id_at_the_top_of_the_range_is_not_an_overflow() {
    let portal = Sandbox::start().await.unwrap();
    let client = portal.oauth_client().unwrap();
    // A portal (or a proxy) reporting the largest id there is, and no next offset.
    portal.inject(
        Some("imbot.v2.Event.get"),
        bitrix24_sandbox::Fault::body(&format!(
            r#"{{"result":{{"events":[{{"eventId":{},"type":"ONIMBOTV2MESSAGEADD","data":{{}}}}],"hasMore":false}}}}"#,
            i64::MAX
        )),
    );
    let mut events = bot::poll(client, 7)
        .idle_backoff(Duration::from_millis(1), Duration::from_millis(5))
        .stream();
    let polled = next(&mut events).await;
    assert_eq!(polled.event_id, i64::MAX);
    assert_eq!(polled.offset(), i64::MAX);
}
