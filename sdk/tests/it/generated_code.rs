//! The generated API as a user meets it: names and constants from the schema, requests on the
//! wire, lenient decoding of named types, and client methods that build typed requests.

use bitrix24::Method;

#[test]
fn basic_scope_is_generated_by_default() {
    // `basic` is a default feature; `common` is always generated.
    assert_eq!(<bitrix24::basic::Profile as Method>::NAME, "profile");
    assert_eq!(<bitrix24::basic::Profile as Method>::SCOPE, "basic");
    const { assert!(<bitrix24::basic::Profile as Method>::IDEMPOTENT) };
    assert_eq!(bitrix24::common::SortOrder::from("ASC").as_str(), "ASC");
}

#[cfg(all(feature = "imbot", feature = "user"))]
#[allow(deprecated)] // imbot.message.add is outdated in the docs, and still the best-known method.
mod imbot_and_user {
    use bitrix24::codec::Same;
    use bitrix24::imbot::{Bot, BotType, ImbotMessageAdd};
    use bitrix24::user::UserGet;
    use bitrix24::{Decoding, Method, Paging, RawResponse};
    use serde_json::json;

    #[test]
    fn method_constants_come_from_the_schema() {
        assert_eq!(<ImbotMessageAdd as Method>::NAME, "imbot.message.add");
        assert_eq!(<ImbotMessageAdd as Method>::SCOPE, "imbot");
        const {
            assert!(
                !<ImbotMessageAdd as Method>::IDEMPOTENT && <ImbotMessageAdd as Method>::BATCHABLE
            )
        };
        assert_eq!(<ImbotMessageAdd as Method>::PAGING, Paging::None);
        assert_eq!(<UserGet as Method>::PAGING, Paging::Start);
    }

    #[test]
    fn requests_use_wire_names_and_skip_unset_params() {
        let request = ImbotMessageAdd::new("chat42", "Hi").bot_id(7).system(true);
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({ "DIALOG_ID": "chat42", "MESSAGE": "Hi", "BOT_ID": 7, "SYSTEM": "Y" })
        );
    }

    #[test]
    fn map_setters_add_entries_and_list_setters_replace() {
        let request = UserGet::new()
            .filter(">=ID", 10)
            .filter("ACTIVE", true)
            .select(["ID"])
            .select(["ID", "NAME"]);
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({ "FILTER": { ">=ID": 10, "ACTIVE": true }, "select": ["ID", "NAME"] })
        );
    }

    #[test]
    fn named_types_decode_leniently_and_keep_unknown_keys() {
        let bot: Bot =
            serde_json::from_value(json!({ "ID": "7", "NAME": "", "OPENLINE": "Y", "UF_X": 1 }))
                .unwrap();
        assert_eq!(bot.id, 7);
        assert_eq!(bot.name, None, "an empty string is an absent value");
        assert_eq!(bot.openline, Some(true));
        assert_eq!(bot.extra.get("UF_X"), Some(&json!(1)));
    }

    #[test]
    fn an_optional_field_of_another_shape_is_kept_as_json_not_an_error() {
        let bot: Bot = serde_json::from_value(json!({ "ID": 7, "OPENLINE": { "mode": "odd" } }))
            .expect("one odd field does not fail the answer");
        assert_eq!(bot.openline, None);
        assert_eq!(bot.extra.get("OPENLINE"), Some(&json!({ "mode": "odd" })));
        let strict = RawResponse::from_body(
            "imbot.bot.list",
            200,
            json!({ "result": { "ID": 7, "OPENLINE": {} } }).to_string(),
        )
        .unwrap()
        .with_decoding(Decoding::Strict)
        .decode_as::<Bot, Same>();
        let e = strict.unwrap_err().to_string();
        assert!(
            e.contains("result.OPENLINE: expected a boolean (Y/N), found object"),
            "{e}"
        );
        // A required field is still required.
        let e = serde_json::from_value::<Bot>(json!({ "ID": "seven" })).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("ID: expected an integer, found string \"seven\""),
            "{e}"
        );
    }

    #[test]
    fn enums_keep_values_the_schema_does_not_know() {
        assert_eq!(BotType::from("H"), BotType::Human);
        assert_eq!(serde_json::to_value(BotType::Human).unwrap(), json!("H"));
        let new: BotType = serde_json::from_value(json!("Z")).unwrap();
        assert_eq!(new, BotType::Unknown("Z".to_owned()));
        assert_eq!(new.as_str(), "Z");
    }

    #[test]
    fn client_methods_build_the_same_typed_request() {
        let client =
            bitrix24::Client::webhook("https://example.bitrix24.com/rest/1/secret/").unwrap();
        let request = client.imbot_message_add("chat42", "Hi").bot_id(7);
        assert_eq!(
            request.params(),
            &ImbotMessageAdd::new("chat42", "Hi").bot_id(7)
        );
        let list = client.user_get().filter("ACTIVE", true);
        assert_eq!(list.params(), &UserGet::new().filter("ACTIVE", true));
    }
}

#[cfg(all(feature = "task", feature = "tasks"))]
#[allow(deprecated)] // task.commentitem.add is outdated, and the reason positional methods exist.
mod rest_v3_and_positional {
    use bitrix24::Method;
    use bitrix24::task::{TaskCommentitemAdd, TaskCommentitemAddFields, TasksTaskGet};
    use bitrix24::tasks::TasksTaskGetV3;
    use serde_json::json;

    #[test]
    fn a_name_in_both_apis_is_two_methods() {
        assert_eq!(<TasksTaskGet as Method>::NAME, "tasks.task.get");
        assert_eq!(<TasksTaskGetV3 as Method>::NAME, "tasks.task.get");
        const { assert!(<TasksTaskGetV3 as Method>::REST_V3 && !<TasksTaskGet as Method>::REST_V3) };
        let client =
            bitrix24::Client::webhook("https://example.bitrix24.com/rest/1/secret/").unwrap();
        assert_eq!(
            client.tasks_task_get_v3(7).params(),
            &TasksTaskGetV3::new(7)
        );
    }

    #[test]
    fn positional_params_go_under_their_index() {
        let request = TaskCommentitemAdd::new(8017, TaskCommentitemAddFields::new("Hi"));
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({ "0": 8017, "1": { "POST_MESSAGE": "Hi" } })
        );
        assert_eq!(
            request.taskid, 8017,
            "the Rust names stay the documented ones"
        );
    }
}

/// Events are typed for the scopes a build enables, and only for them.
mod typed_events {
    use bitrix24::event_types::{NAMES, TypedEvent};
    use bitrix24::events::Event;
    use serde_json::json;

    fn event(name: &str) -> Event {
        Event::from_value(json!({ "event": name, "data": { "FIELDS": { "ID": "5" } } })).unwrap()
    }

    #[test]
    fn events_of_enabled_scopes_have_variants_others_are_unknown() {
        // `basic` is a default feature.
        let install = event("ONAPPINSTALL").typed().unwrap();
        assert!(matches!(install, TypedEvent::OnAppInstall(_)));
        assert!(NAMES.contains(&"ONAPPINSTALL"));

        let deal = event("ONCRMDEALADD").typed().unwrap();
        #[cfg(feature = "crm")]
        assert!(
            matches!(&deal, TypedEvent::OnCrmDealAdd(data) if data.fields.as_ref().unwrap().id == Some(5))
        );
        #[cfg(not(feature = "crm"))]
        assert!(matches!(&deal, TypedEvent::Unknown(raw) if raw.data["FIELDS"]["ID"] == "5"));
        assert_eq!(deal.name(), "ONCRMDEALADD");
        assert_eq!(NAMES.contains(&"ONCRMDEALADD"), cfg!(feature = "crm"));
    }
}

#[cfg(all(feature = "entity", feature = "crm"))]
#[allow(deprecated)] // crm.contact.add is outdated in the docs (crm.item.add replaces it).
mod open_requests_and_files {
    use bitrix24::File;
    use bitrix24::crm::{CrmContactAddFields, CrmMultifield};
    use bitrix24::entity::EntityItemAdd;
    use serde_json::json;

    #[test]
    fn an_open_request_sends_the_params_the_docs_allow_by_name() {
        let request = EntityItemAdd::new("dish")
            .name("Soup")
            .param("UF_COLOR", "red")
            .param("UF_SPICY", true);
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({ "ENTITY": "dish", "NAME": "Soup", "UF_COLOR": "red", "UF_SPICY": true })
        );
    }

    #[test]
    fn classic_crm_pictures_and_multifields_go_in_the_documented_shapes() {
        let mut phone = CrmMultifield::new();
        phone.value = Some("555888".to_owned());
        phone.value_type = Some("WORK".to_owned());
        let fields = CrmContactAddFields::new()
            .photo(File::new("me.png", b"hi".to_vec()))
            .phone([phone]);
        assert_eq!(
            serde_json::to_value(&fields).unwrap(),
            json!({
                "PHOTO": { "fileData": ["me.png", "aGk="] },
                "PHONE": [{ "VALUE": "555888", "VALUE_TYPE": "WORK" }],
            })
        );
    }
}
