//! Every documented event example decodes into the bot toolkit's view: the bot events into
//! their typed variants with the fields a handler needs, everything else into `Other`.
#![cfg(feature = "imbot")]

use bitrix24::DialogId;
use bitrix24::bot::{BotApi, BotEvent, ChatType};
use bitrix24::events::Event;
use serde_json::Value;

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/examples");

fn example(name: &str) -> Vec<u8> {
    std::fs::read(format!("{EXAMPLES}/{name}")).unwrap()
}

fn parse(name: &str) -> BotEvent {
    let ct = name.ends_with(".json").then_some("application/json");
    BotEvent::from_event(&Event::parse(&example(name), ct).unwrap())
}

/// Both spellings of an example (JSON as documented, the form body a portal sends).
fn both(stem: &str) -> [BotEvent; 2] {
    let json = parse(&format!("{stem}.json"));
    let form = parse(&format!("{stem}.form-urlencoded.txt"));
    assert_eq!(json, form, "{stem}: JSON and form decode alike");
    [json, form]
}

#[test]
fn every_documented_event_decodes_into_the_view() {
    let mut seen = 0;
    for entry in std::fs::read_dir(EXAMPLES).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !name.starts_with("event.") || name.ends_with(".data.json") {
            continue;
        }
        let event = parse(&name);
        let wire = name.split('.').nth(1).unwrap();
        assert_eq!(event.name(), wire, "{name}");
        let bot_event = wire.starts_with("ONIMBOT") || wire == "ONIMCOMMANDADD";
        assert_eq!(
            !matches!(event, BotEvent::Other(_)),
            bot_event && !wire.starts_with("ONIMBOTV2"),
            "{name}: {event:?}"
        );
        seen += 1;
    }
    assert!(seen >= 20, "{seen}");
}

#[test]
fn a_personal_message() {
    for event in both("event.ONIMBOTMESSAGEADD.personal") {
        let BotEvent::Message(m) = event else {
            panic!("{event:?}")
        };
        assert_eq!(m.api, BotApi::Classic);
        assert_eq!((m.bot.id, m.bot.code.as_str()), (567, "BOT1"));
        assert_eq!(m.dialog_id, DialogId::User(27));
        assert_eq!((m.message_id, m.chat_id), (84331, Some(1407)));
        assert_eq!(m.chat_type, ChatType::Private);
        assert_eq!((m.text.as_str(), m.from_user_id), ("Hello", 27));
        assert_eq!(m.user.name, "Svetlana Ivanova");
        assert_eq!(m.user.gender.as_deref(), Some("F"));
        assert!(!m.user.is_bot);
        assert_eq!(m.language.as_deref(), Some("en"));
    }
}

#[test]
fn a_group_message() {
    for event in both("event.ONIMBOTMESSAGEADD.group") {
        let BotEvent::Message(m) = event else {
            panic!("{event:?}")
        };
        assert_eq!(m.dialog_id, DialogId::Chat(1157));
        assert_eq!(m.chat_type, ChatType::Group);
        assert_eq!(m.chat_id, Some(1157));
        assert_eq!(m.text, ", how to set up the left menu");
    }
}

#[test]
fn a_command() {
    for event in both("event.ONIMCOMMANDADD.personal") {
        let BotEvent::Command(c) = event else {
            panic!("{event:?}")
        };
        assert_eq!((c.bot.id, c.bot.code.as_str()), (1291, "BOT_GM"));
        assert_eq!((c.command_id, c.command.as_str()), (103, "echo"));
        assert_eq!((c.params.as_str(), c.message_id), ("test", 33899));
        assert_eq!(c.context.as_deref(), Some("TEXTAREA"));
        assert_eq!(c.dialog_id, DialogId::User(1269));
        assert_eq!((c.from_user_id, c.user.first_name.as_str()), (1269, "John"));
    }
}

#[test]
fn joins_of_a_private_dialog_and_a_group() {
    for event in both("event.ONIMBOTJOINCHAT.personal") {
        let BotEvent::Join(j) = event else {
            panic!("{event:?}")
        };
        assert_eq!(j.bot.id, 571);
        assert_eq!(j.dialog_id, DialogId::User(27));
        assert_eq!(j.chat_type, ChatType::Private);
        assert_eq!(j.user.id, 27);
        assert_eq!(j.language.as_deref(), Some("de"));
    }
    for event in both("event.ONIMBOTJOINCHAT.group") {
        let BotEvent::Join(j) = event else {
            panic!("{event:?}")
        };
        assert_eq!(j.dialog_id, DialogId::Chat(1157));
        assert_eq!(
            (j.chat_id, j.chat_type.clone()),
            (Some(1157), ChatType::Group)
        );
    }
}

#[test]
fn a_deleted_bot() {
    for event in both("event.ONIMBOTDELETE") {
        let BotEvent::BotDelete(d) = event else {
            panic!("{event:?}")
        };
        assert_eq!((d.bot.id, d.bot.code.as_str()), (567, "BOT"));
    }
}

#[test]
fn v2_events_as_fetched_and_as_posted() {
    let data: Value =
        serde_json::from_slice(&example("event.ONIMBOTV2MESSAGEADD.data.json")).unwrap();
    let BotEvent::Message(m) = BotEvent::from_parts("ONIMBOTV2MESSAGEADD", &data) else {
        panic!()
    };
    assert_eq!(m.api, BotApi::V2);
    assert_eq!((m.bot.id, m.bot.code.as_str()), (456, "support_bot"));
    assert_eq!((m.message_id, m.text.as_str()), (789, "Hello bot!"));
    assert_eq!(m.dialog_id, DialogId::Chat(5));
    assert_eq!((m.chat_id, m.chat_type), (Some(5), ChatType::Group));
    assert_eq!((m.from_user_id, m.user.last_name.as_str()), (1, "Smith"));

    let data: Value =
        serde_json::from_slice(&example("event.ONIMBOTV2COMMANDADD.data.json")).unwrap();
    let event = BotEvent::from_parts("ONIMBOTV2COMMANDADD", &data);
    assert_eq!(event.name(), "ONIMBOTV2COMMANDADD");
    let BotEvent::Command(c) = event else {
        panic!()
    };
    assert_eq!((c.command.as_str(), c.params.as_str()), ("help", "topic"));
    assert_eq!((c.command_id, c.message_id), (78, 790));

    // The webhook example leaves message, chat and user empty: without a dialog there is
    // nothing to answer, so it stays raw, with its tokens hidden from Debug.
    for name in [
        "event.ONIMBOTV2MESSAGEADD.webhook.json",
        "event.ONIMBOTV2MESSAGEADD.webhook.form-urlencoded.txt",
    ] {
        let event = parse(name);
        let BotEvent::Other(other) = &event else {
            panic!("{event:?}")
        };
        assert_eq!(other.name, "ONIMBOTV2MESSAGEADD");
        assert_eq!(other.data["bot"]["code"], "support_bot");
    }
}

#[test]
fn debug_output_of_views_carries_no_token() {
    for name in [
        "event.ONIMBOTMESSAGEADD.group.json",
        "event.ONIMCOMMANDADD.personal.json",
        "event.ONIMBOTJOINCHAT.group.json",
        "event.ONAPPINSTALL.json",
        "event.ONCRMDEALADD.app.json",
    ] {
        let shown = format!("{:?}", parse(name));
        for token in [
            "access_token\": \"",
            "831c76b092f9f135d9b6b36c3a720757",
            "4s386p3q",
        ] {
            assert!(!shown.contains(token), "{name}: {shown}");
        }
    }
}
