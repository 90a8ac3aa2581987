//! Typed inbound events: every documented example payload (`tests/fixtures/examples/event.*`, in
//! its JSON and its form-encoded form) parses into its variant of `TypedEvent` with the key
//! fields in place; tokens stay in `auth` (and, for bots, in `Secret`s); unknown names give the
//! generic variant; data of the wrong shape is an error naming the event.
#![cfg(all(
    feature = "basic",
    feature = "crm",
    feature = "imbot",
    feature = "imconnector",
    feature = "task"
))]
#![allow(deprecated)] // The classic bot events are outdated in the docs and still what most bots get.

use bitrix24::event_types::{NAMES, TypedEvent};
use bitrix24::events::{Event, EventError};
use bitrix24::imbot::{CommandContext, MessageChatType};
use bitrix24::task::TaskEventAccess;
use bitrix24::{Decoding, DialogId};
use serde_json::{Value, json};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/examples");

fn example(file: &str) -> Vec<u8> {
    std::fs::read(format!("{EXAMPLES}/{file}")).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The example in both of its forms, parsed.
fn both_forms(stem: &str) -> [Event; 2] {
    let json = Event::parse(&example(&format!("{stem}.json")), Some("application/json"))
        .unwrap_or_else(|e| panic!("{stem}.json: {e}"));
    let form = Event::parse(&example(&format!("{stem}.form-urlencoded.txt")), None)
        .unwrap_or_else(|e| panic!("{stem}.form-urlencoded.txt: {e}"));
    [json, form]
}

fn typed(event: &Event) -> TypedEvent {
    event
        .typed()
        .unwrap_or_else(|e| panic!("{}: {e}", event.name))
}

#[test]
fn every_example_event_parses_into_its_typed_event_in_both_forms() {
    let mut seen = 0;
    for entry in std::fs::read_dir(EXAMPLES).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        let content_type = if file.ends_with(".json") {
            Some("application/json")
        } else if file.ends_with(".form-urlencoded.txt") {
            None
        } else {
            continue;
        };
        if !file.starts_with("event.") || file.ends_with(".data.json") {
            continue;
        }
        let event =
            Event::parse(&example(&file), content_type).unwrap_or_else(|e| panic!("{file}: {e}"));
        // Strict: every documented example fits the schema's types, not only leniently; except
        // the imbot.v2 webhook example, whose `message: {}` and `"..."` are placeholders.
        let decoding = if file.contains(".webhook.") {
            Decoding::Lenient
        } else {
            Decoding::Strict
        };
        let typed = event.typed_with(decoding);
        let typed = typed.unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            !matches!(typed, TypedEvent::Unknown(_)),
            "{file}: no type for {}",
            event.name
        );
        assert_eq!(typed.name(), event.name, "{file}");
        assert!(file.contains(typed.name()), "{file}: {}", typed.name());
        seen += 1;
    }
    assert_eq!(seen, 22, "every event example, JSON and form");
}

#[test]
fn imbot_message_add_has_dialog_text_bot_and_author() {
    for (stem, dialog, text, bot) in [
        ("event.ONIMBOTMESSAGEADD.personal", "27", "Hello", 567),
        (
            "event.ONIMBOTMESSAGEADD.group",
            "chat1157",
            ", how to set up the left menu",
            567,
        ),
    ] {
        for event in both_forms(stem) {
            let TypedEvent::OnImbotMessageAdd(data) = typed(&event) else {
                panic!("{stem}: not OnImbotMessageAdd")
            };
            let params = data.params.as_ref().expect("PARAMS");
            assert_eq!(params.dialog_id, Some(DialogId::from(dialog)), "{stem}");
            assert_eq!(params.message.as_deref(), Some(text), "{stem}");
            assert_eq!(params.from_user_id, Some(27));
            assert_eq!(params.system, Some(false));
            let bots = data.bot.as_ref().expect("BOT");
            let (key, entry) = bots.iter().next().expect("one bot");
            assert_eq!((key.as_str(), entry.bot_id), ("567", Some(bot)), "{stem}");
            let auth = entry.auth.as_ref().expect("the bot's tokens");
            assert!(auth.access_token.as_ref().is_some_and(|t| !t.is_empty()));
            assert_eq!(auth.user_id, Some(bot));
            let user = data.user.as_ref().expect("USER");
            assert_eq!(
                (user.id, user.first_name.as_deref()),
                (Some(27), Some("Svetlana"))
            );
            assert_eq!(user.is_bot, Some(false));
        }
    }
    let [group, _] = both_forms("event.ONIMBOTMESSAGEADD.group");
    let TypedEvent::OnImbotMessageAdd(data) = typed(&group) else {
        unreachable!()
    };
    let params = data.params.unwrap();
    assert_eq!(params.chat_type, Some(MessageChatType::Group));
    assert_eq!(params.chat_id, Some(1157));
    assert_eq!(params.command_context, Some(CommandContext::Textarea));
    assert_eq!(
        params.mentioned_list.unwrap().get("567"),
        Some(&567),
        "MENTIONED_LIST by user id"
    );
}

#[test]
fn bot_tokens_in_typed_data_are_secrets() {
    let [event, _] = both_forms("event.ONIMBOTMESSAGEADD.personal");
    let debug = format!("{:?}", typed(&event));
    let token = "a98b9d690000071b0000084400000237f0f107589d1e";
    assert!(
        String::from_utf8_lossy(&example("event.ONIMBOTMESSAGEADD.personal.json")).contains(token)
    );
    assert!(!debug.contains(token), "an access token in Debug output");
    assert!(
        !debug.contains("990ac5690000071b0000084400000237"),
        "a refresh token"
    );
    assert!(
        !debug.contains("831c76b092f9f135d9b6b36c3a720757"),
        "the application token"
    );
    assert!(debug.contains("Svetlana"), "the rest is shown");
}

#[test]
fn imbot_join_chat_and_delete() {
    for (stem, dialog, chat_type) in [
        (
            "event.ONIMBOTJOINCHAT.personal",
            "27",
            MessageChatType::Private,
        ),
        (
            "event.ONIMBOTJOINCHAT.group",
            "chat1157",
            MessageChatType::Group,
        ),
    ] {
        for event in both_forms(stem) {
            let TypedEvent::OnImbotJoinChat(data) = typed(&event) else {
                panic!("{stem}: not OnImbotJoinChat")
            };
            let params = data.params.as_ref().unwrap();
            assert_eq!(params.dialog_id, Some(DialogId::from(dialog)));
            assert_eq!(params.chat_type.as_ref(), Some(&chat_type));
            assert_eq!(params.bot_id, Some(571));
            assert_eq!(
                data.bot.as_ref().unwrap()["571"].bot_code.as_deref(),
                Some("BOT")
            );
            assert_eq!(data.user.as_ref().unwrap().id, Some(27));
        }
    }
    for event in both_forms("event.ONIMBOTDELETE") {
        let TypedEvent::OnImbotDelete(data) = typed(&event) else {
            panic!("not OnImbotDelete")
        };
        assert_eq!(
            (data.bot_id, data.bot_code.as_deref()),
            (Some(567), Some("BOT"))
        );
    }
}

#[test]
fn im_command_add_has_the_command_and_its_message() {
    for event in both_forms("event.ONIMCOMMANDADD.personal") {
        let TypedEvent::OnImCommandAdd(data) = typed(&event) else {
            panic!("not OnImCommandAdd")
        };
        let command = &data.command.as_ref().unwrap()["103"];
        assert_eq!(command.command.as_deref(), Some("echo"));
        assert_eq!(command.command_params.as_deref(), Some("test"));
        assert_eq!(command.command_context, Some(CommandContext::Textarea));
        assert_eq!(
            (command.bot_id, command.message_id),
            (Some(1291), Some(33899))
        );
        assert!(command.auth.as_ref().unwrap().refresh_token.is_some());
        let params = data.params.as_ref().unwrap();
        assert_eq!(params.message.as_deref(), Some("/echo test"));
        assert_eq!(params.dialog_id, Some(DialogId::from("1269")));
        assert_eq!(params.chat_type, Some(MessageChatType::Private));
    }
}

#[test]
fn imbot_v2_webhook_event_has_the_bot_and_its_tokens() {
    for event in both_forms("event.ONIMBOTV2MESSAGEADD.webhook") {
        let TypedEvent::OnImbotV2MessageAdd(data) = typed(&event) else {
            panic!("not OnImbotV2MessageAdd")
        };
        let bot = data.bot.as_ref().expect("bot");
        assert_eq!((bot.id, bot.code.as_deref()), (456, Some("support_bot")));
        let auth = bot.auth.as_ref().expect("webhook tokens");
        assert!(auth.access_token.is_some() && auth.application_token.is_some());
        // `message: {}` is an empty object in JSON and no key at all in a form body.
        assert!(data.message.is_none(), "{:?}", data.message);
    }
}

/// The imbot.v2 data examples (what FETCH mode returns and webhook mode posts in `data`).
#[test]
fn imbot_v2_data_examples_decode_in_an_event() {
    for (file, name) in [
        ("event.ONIMBOTV2MESSAGEADD.data.json", "ONIMBOTV2MESSAGEADD"),
        ("event.ONIMBOTV2COMMANDADD.data.json", "ONIMBOTV2COMMANDADD"),
    ] {
        let data: Value = serde_json::from_slice(&example(file)).unwrap();
        let event = Event::from_value(json!({ "event": name, "data": data, "ts": 1 })).unwrap();
        let typed = event.typed_with(Decoding::Strict);
        let (TypedEvent::OnImbotV2MessageAdd(data) | TypedEvent::OnImbotV2CommandAdd(data)) =
            typed.unwrap_or_else(|e| panic!("{file}: {e}"))
        else {
            panic!("{file}: another variant")
        };
        let message = data.message.as_ref().unwrap();
        assert_eq!(message.chat_id, Some(5));
        let chat = data.chat.as_ref().unwrap();
        assert_eq!(chat.dialog_id, Some(DialogId::from("chat5")));
        assert_eq!(
            data.user.as_ref().unwrap().first_name.as_deref(),
            Some("John")
        );
        assert_eq!(data.language.as_deref(), Some("en"));
        if name == "ONIMBOTV2COMMANDADD" {
            let command = data.command.as_ref().unwrap();
            assert_eq!(command.command.as_deref(), Some("/help"));
            assert_eq!(command.params.as_deref(), Some("topic"));
            assert_eq!(message.text.as_deref(), Some("/help topic"));
        } else {
            assert_eq!(message.text.as_deref(), Some("Hello bot!"));
        }
    }
}

#[test]
fn crm_deal_add_has_the_deal_id_and_the_token_stays_in_auth() {
    for stem in [
        "event.ONCRMDEALADD.app",
        "event.ONCRMDEALADD.outgoing-webhook",
    ] {
        for event in both_forms(stem) {
            let TypedEvent::OnCrmDealAdd(data) = typed(&event) else {
                panic!("{stem}: not OnCrmDealAdd")
            };
            assert_eq!(data.fields.as_ref().unwrap().id, Some(7405), "{stem}");
            assert!(data.extra.is_empty(), "{stem}: {:?}", data.extra);
            assert!(event.auth.application_token.is_some(), "{stem}");
            assert!(!format!("{data:?}").contains("application_token"));
        }
    }
}

#[test]
fn app_install_has_version_and_flags() {
    for event in both_forms("event.ONAPPINSTALL") {
        let TypedEvent::OnAppInstall(data) = typed(&event) else {
            panic!("not OnAppInstall")
        };
        assert_eq!(data.version.as_deref(), Some("1.0.0"));
        assert_eq!((data.active, data.installed), (Some(true), Some(true)));
        assert_eq!(data.language_id.as_deref(), Some("de"));
        assert!(data.extra.is_empty());
        assert!(event.auth.application_token.is_some() && event.tokens().is_some());
    }
}

#[test]
fn offline_event_with_an_empty_list_or_no_data_at_all() {
    // `"data": []` in JSON; nothing at all in the form body.
    for event in both_forms("event.ONOFFLINEEVENT") {
        let TypedEvent::OnOfflineEvent(data) = typed(&event) else {
            panic!("not OnOfflineEvent")
        };
        assert_eq!(data.event, None);
    }
    let event = Event::from_value(json!({
        "event": "ONOFFLINEEVENT",
        "data": { "type": "add", "event": "onTaskAdd", "handler": "https://example.com/h", "minTimeout": "5" },
    }))
    .unwrap();
    let TypedEvent::OnOfflineEvent(data) = typed(&event) else {
        unreachable!()
    };
    assert_eq!(
        (
            data.kind.as_deref(),
            data.event.as_deref(),
            data.min_timeout
        ),
        (Some("add"), Some("onTaskAdd"), Some(5))
    );
}

#[test]
fn crm_item_and_task_events_from_the_docs() {
    let event = Event::parse(
        b"event=ONCRMDYNAMICITEMADD&event_handler_id=4&data%5BFIELDS%5D%5BID%5D=22&data%5BFIELDS%5D%5BENTITY_TYPE_ID%5D=1220&ts=1723534033",
        None,
    )
    .unwrap();
    let TypedEvent::OnCrmDynamicItemAdd(data) = typed(&event) else {
        panic!("not OnCrmDynamicItemAdd")
    };
    let fields = data.fields.unwrap();
    assert_eq!((fields.id, fields.entity_type_id), (Some(22), Some(1220)));

    // A task event: a side that does not exist, or was not checked, comes as `undefined`.
    let event = Event::from_value(json!({
        "event": "ONTASKADD",
        "data": {
            "FIELDS_BEFORE": "undefined",
            "FIELDS_AFTER": { "ID": "123" },
            "IS_ACCESSIBLE_BEFORE": "N",
            "IS_ACCESSIBLE_AFTER": "undefined",
        },
    }))
    .unwrap();
    // Strict: every field has the shape the schema gives it.
    let TypedEvent::OnTaskAdd(data) = event.typed_with(Decoding::Strict).unwrap() else {
        panic!("not OnTaskAdd")
    };
    assert_eq!(data.fields_after, Some(json!({ "ID": "123" })));
    assert_eq!(data.fields_before, Some(json!("undefined")));
    assert_eq!(
        (data.is_accessible_before, data.is_accessible_after),
        (Some(TaskEventAccess::No), Some(TaskEventAccess::Undefined))
    );

    let event = Event::from_value(json!({
        "event": "OnTaskCommentAdd",
        "data": { "FIELDS_AFTER": { "ID": 0, "TASK_ID": 555, "MESSAGE_ID": 1458 } },
    }))
    .unwrap();
    let TypedEvent::OnTaskCommentAdd(data) = typed(&event) else {
        panic!("names are matched upper-cased")
    };
    let after = data.fields_after.unwrap();
    assert_eq!((after.task_id, after.message_id), (Some(555), Some(1458)));
}

#[test]
fn an_unknown_event_name_gives_the_generic_variant_with_the_raw_data() {
    let event = Event::parse(
        b"event=ONSOMETHINGNEW&data%5BX%5D%5BY%5D=1&ts=1&auth%5Bapplication_token%5D=t",
        None,
    )
    .unwrap();
    let TypedEvent::Unknown(raw) = event.typed().expect("never an error") else {
        panic!("not Unknown")
    };
    assert_eq!(raw.name, "ONSOMETHINGNEW");
    assert_eq!(raw.data, json!({ "X": { "Y": "1" } }));
    assert!(raw.auth.application_token.is_some());
    assert_eq!(TypedEvent::Unknown(raw).name(), "ONSOMETHINGNEW");
}

#[test]
fn a_known_event_whose_data_does_not_fit_is_an_error_naming_it() {
    let event = Event::from_value(json!({ "event": "ONCRMDEALADD", "data": "7405" })).unwrap();
    match event.typed() {
        Err(EventError::Data { event, message }) => {
            assert_eq!(event, "ONCRMDEALADD");
            assert!(message.ends_with(", found string \"7405\""), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // An optional field of another shape degrades: `None`, the value kept in `extra`.
    let event = Event::from_value(json!({ "event": "ONCRMDEALADD", "data": { "FIELDS": "7405" } }))
        .unwrap();
    let TypedEvent::OnCrmDealAdd(data) = typed(&event) else {
        unreachable!()
    };
    assert_eq!(data.fields, None);
    assert_eq!(data.extra.get("FIELDS"), Some(&json!("7405")));
    // A required field is still required: the v2 bot's id.
    let event = Event::from_value(
        json!({ "event": "ONIMBOTV2DELETE", "data": { "bot": { "code": "x" } } }),
    )
    .unwrap();
    let strict = event.typed_with(Decoding::Strict);
    let message = strict.unwrap_err().to_string();
    assert!(
        message.starts_with("event ONIMBOTV2DELETE: data: bot.id: missing"),
        "{message}"
    );
}

#[test]
fn every_typed_event_name_dispatches_to_its_own_variant() {
    assert!(NAMES.len() >= 190, "{}", NAMES.len());
    let mut not_objects = Vec::new();
    for name in NAMES {
        // Empty data, and none at all (a form body without `data[...]`).
        for data in [json!({}), Value::Null] {
            let event = Event::from_value(json!({ "event": name, "data": data })).unwrap();
            match event.typed() {
                Ok(typed) => {
                    assert!(!matches!(typed, TypedEvent::Unknown(_)), "{name}");
                    assert_eq!(typed.name(), *name);
                }
                Err(EventError::Data { event, .. }) => {
                    assert_eq!(event, *name);
                    not_objects.push(event);
                }
                Err(e) => panic!("{name}: {e}"),
            }
        }
    }
    // The one event whose data is not an object: a line id.
    assert_eq!(not_objects, ["ONIMCONNECTORLINEDELETE"; 2]);
    let event =
        Event::from_value(json!({ "event": "OnImConnectorLineDelete", "data": "107" })).unwrap();
    assert!(matches!(typed(&event), TypedEvent::OnImConnectorLineDelete(line) if *line == 107));
    for name in [
        "ONIMBOTMESSAGEADD",
        "ONIMBOTV2MESSAGEADD",
        "ONIMCOMMANDADD",
        "ONAPPINSTALL",
        "ONAPPUNINSTALL",
        "ONAPPUPDATE",
        "ONOFFLINEEVENT",
        "ONCRMDEALADD",
        "ONCRMLEADDELETE",
        "ONCRMCONTACTUPDATE",
        "ONCRMCOMPANYDELETE",
        "ONCRMDYNAMICITEMUPDATE",
        "ONTASKUPDATE",
        "ONTASKCOMMENTDELETE",
    ] {
        assert!(NAMES.contains(&name), "{name}");
    }
}
