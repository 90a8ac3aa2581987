//! Application pages and widgets (placements): every placement request the docs print parses
//! into its typed context; a portal's placement POST, over real HTTP, reaches the page function
//! with a client acting as the user; forged posts are refused before any call.
#![cfg(all(feature = "axum", feature = "full"))]
#![allow(deprecated)] // crm.deal.* are the classic methods most integrations use.

use std::sync::{Arc, Mutex};

use axum::response::Html;
use bitrix24::app::placement::{CrmEntity, Opened, PlacementOptions};
use bitrix24::app::{App, Installation, MemoryInstallations};
use bitrix24::crm::DealFields;
use bitrix24::events::EventError;
use bitrix24::wire::php;
use bitrix24::{DialogId, OAuthApp};
use bitrix24_sandbox::Sandbox;
use serde_json::{Map, Value, json};

use crate::recorder::Recorder;

/// The docs' print_r dumps of placement requests (`sdk/tests/fixtures/placements.json`: page,
/// line and the printed fields of each).
fn documented() -> Vec<(String, Map<String, Value>)> {
    let text = include_str!("../fixtures/placements.json");
    let file: Value = serde_json::from_str(text).unwrap();
    file["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let at = format!("{}:{}", e["doc"].as_str().unwrap(), e["line"]);
            (at, e["fields"].as_object().unwrap().clone())
        })
        .collect()
}

/// What the docs say each placement's context is (read from the widget pages).
fn expected(code: &str, options: &PlacementOptions) -> bool {
    use PlacementOptions as O;
    match code {
        "CRM_DEAL_DETAIL_TAB"
        | "CRM_DEAL_DETAIL_ACTIVITY"
        | "CRM_DEAL_DETAIL_TOOLBAR"
        | "CRM_DEAL_LIST_MENU" => {
            *options
                == O::CrmObject {
                    entity: CrmEntity::Deal,
                    id: 8061,
                }
        }
        "CRM_DEAL_DOCUMENTGENERATOR_BUTTON" => {
            *options
                == O::CrmObject {
                    entity: CrmEntity::Deal,
                    id: 5,
                }
        }
        "CRM_DEAL_ACTIVITY_TIMELINE_MENU" => {
            *options
                == O::CrmTimelineActivity {
                    entity: CrmEntity::Deal,
                    id: 8061,
                    associated_type_id: 6,
                    associated_id: 8097,
                }
        }
        "CRM_DETAIL_SEARCH" => {
            *options
                == O::Search {
                    query: "Daisy".into(),
                    entity_type: Some("COMPANY".into()),
                }
        }
        "CRM_REQUISITE_AUTOCOMPLETE" | "CRM_BANK_DETAIL_AUTOCOMPLETE" => {
            matches!(options, O::Search { entity_type: None, query } if !query.is_empty())
        }
        "CALL_CARD" => match options {
            O::Call(card) => {
                card.call_id.starts_with("externalCall.")
                    && card.phone_number.as_deref() == Some("+4930123456")
                    && card.crm_entity == Some(("COMPANY".into(), 17))
                    && card.crm_bindings == [("DEAL".into(), 25), ("COMPANY".into(), 17)]
            }
            _ => false,
        },
        "IM_CONTEXT_MENU" => {
            *options
                == O::Chat {
                    dialog_id: DialogId::from("chat2"),
                    message_id: Some(2431),
                }
        }
        "IM_TEXTAREA" | "IM_SIDEBAR" | "IMMOBILE_CONTEXT_MENU" => {
            matches!(
                options,
                O::Chat {
                    message_id: None,
                    ..
                }
            )
        }
        "TASK_VIEW_TOP_PANEL"
        | "TASK_VIEW_TAB"
        | "TASK_VIEW_SIDEBAR"
        | "TASK_LIST_CONTEXT_MENU" => *options == O::Task { task_id: 31 },
        "TASK_GROUP_LIST_TOOLBAR" | "TASK_ROBOT_DESIGNER_TOOLBAR" => {
            *options == O::Group { group_id: 11 }
        }
        "SONET_GROUP_DETAIL_TAB" | "SONET_GROUP_ROBOT_DESIGNER_TOOLBAR" => {
            *options == O::Group { group_id: 10 }
        }
        "TASK_USER_LIST_TOOLBAR" | "USER_PROFILE_MENU" => *options == O::User { user_id: 1 },
        "USER_PROFILE_TOOLBAR" => *options == O::User { user_id: 1401 },
        "CALENDAR_GRIDVIEW" => {
            *options
                == O::CalendarView {
                    from: "2026-07-26".parse().unwrap(),
                    to: "2026-09-06".parse().unwrap(),
                }
        }
        "CRM_ANALYTICS_MENU"
        | "CRM_ANALYTICS_TOOLBAR"
        | "CRM_FUNNELS_TOOLBAR"
        | "CRM_DEAL_LIST_TOOLBAR"
        | "CRM_DEAL_ROBOT_DESIGNER_TOOLBAR"
        | "IM_NAVIGATION"
        | "LEFT_MENU"
        | "TELEPHONY_ANALYTICS_MENU"
        | "SONET_GROUP_TOOLBAR"
        | "DEFAULT" => *options == O::None,
        // Contexts this crate does not type: their options stay in `raw_options`.
        "LANDING_BLOCK_*"
        | "LANDING_SETTINGS"
        | "CONTACT_CENTER"
        | "SETTING_CONNECTOR"
        | "REST_APP_URI"
        | "PAGE_BACKGROUND_WORKER" => *options == O::Other,
        _ => false,
    }
}

/// An application that stores one installation: the one a documented request names.
async fn app_installed_for(fields: &Map<String, Value>) -> App {
    let app = App::builder(
        OAuthApp::new("local.test", "test-secret"),
        MemoryInstallations::new(),
    )
    .build()
    .unwrap();
    let text = |key: &str| fields[key].as_str().unwrap().to_owned();
    let portal = format!("https://{}/", text("DOMAIN")).parse().unwrap();
    app.register(Installation::new(
        text("member_id"),
        portal,
        text("APPLICATION_TOKEN"),
    ))
    .await
    .unwrap();
    app
}

#[tokio::test]
async fn every_documented_placement_request_parses_into_its_typed_context() {
    let examples = documented();
    assert_eq!(examples.len(), 49, "the fixture lost examples");
    let mut wrong = Vec::new();
    for (at, fields) in examples {
        let app = app_installed_for(&fields).await;
        // The docs print query and body together; a portal sends DOMAIN, PROTOCOL, LANG and
        // APP_SID in the query string.
        let (mut query, mut body) = (Map::new(), Map::new());
        for (key, value) in fields.clone() {
            let part = if ["DOMAIN", "PROTOCOL", "LANG", "APP_SID"].contains(&key.as_str()) {
                &mut query
            } else {
                &mut body
            };
            part.insert(key, value);
        }
        let query = php::encode(&Value::Object(query));
        let opened = match app
            .open(Some(&query), php::encode(&Value::Object(body)).as_bytes())
            .await
        {
            Ok(opened) => opened,
            Err(e) => {
                wrong.push(format!("{at}: refused: {e}"));
                continue;
            }
        };
        let p = &opened.placement;
        let code = fields
            .get("PLACEMENT")
            .and_then(Value::as_str)
            .unwrap_or("DEFAULT");
        if p.code != code || !expected(code, &p.options) {
            wrong.push(format!("{at}: {code} read as {:?}", p.options));
        }
        if p.member_id != fields["member_id"] || p.lang.as_deref() != fields["LANG"].as_str() {
            wrong.push(format!("{at}: member_id or LANG lost"));
        }
        let documented_uri = fields
            .get("PLACEMENT_OPTIONS")
            .and_then(|o| serde_json::from_str::<Value>(o.as_str()?).ok())
            .and_then(|o| o.get("URI").and_then(Value::as_str).map(str::to_owned));
        if p.uri != documented_uri {
            wrong.push(format!("{at}: URI {:?}", p.uri));
        }
        let debug = format!("{opened:?}");
        if debug.contains(fields["AUTH_ID"].as_str().unwrap()) {
            wrong.push(format!("{at}: Debug shows the user's access token"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Serves the application's placement handler at `/widget` on 127.0.0.1; the page names the
/// deal the tab was opened for, read through the client acting as the user.
async fn serve(app: App, opened: Arc<Mutex<Vec<Opened>>>) -> String {
    let page = move |o: Opened| {
        let seen = opened.clone();
        async move {
            let html = match &o.placement.options {
                PlacementOptions::CrmObject { id, .. } => match o.client.crm_deal_get(*id).await {
                    Ok(deal) => format!("<h1>{}</h1>", deal.title.unwrap_or_default()),
                    Err(e) => format!("<p>error: {e}</p>"),
                },
                other => format!("<p>{other:?}</p>"),
            };
            seen.lock().unwrap().push(o);
            Html(html)
        }
    };
    let router =
        axum::Router::new().route("/widget", bitrix24::app::placement::axum::post(app, page));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/widget", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

#[tokio::test]
async fn a_deal_tab_opened_on_the_portal_reads_the_deal_as_the_user() {
    let portal = Sandbox::start().await.unwrap();
    let admin = portal.webhook_client().unwrap();
    let id = admin
        .crm_deal_add()
        .fields(DealFields::new().title("Tab deal"))
        .await
        .unwrap();
    let app = App::builder(portal.oauth_app(), MemoryInstallations::new())
        .build()
        .unwrap();
    app.register(portal.installation()).await.unwrap();
    let opened = Arc::new(Mutex::new(Vec::new()));
    let url = serve(app, opened.clone()).await;

    let (status, page) = portal
        .open_placement(
            &url,
            1,
            "CRM_DEAL_DETAIL_TAB",
            &json!({"ID": id.to_string(), "URI": "/crm/deal/details/1/"}),
        )
        .await
        .unwrap();
    assert_eq!((status, page.as_str()), (200, "<h1>Tab deal</h1>"));
    let opened = opened.lock().unwrap();
    let p = &opened[0].placement;
    assert_eq!(
        p.options,
        PlacementOptions::CrmObject {
            entity: CrmEntity::Deal,
            id
        }
    );
    assert_eq!(p.uri.as_deref(), Some("/crm/deal/details/1/"));
    assert_eq!(p.member_id, portal.member_id());
    assert!(p.scope.iter().any(|s| s == "crm"), "{:?}", p.scope);
}

#[tokio::test]
async fn forged_placement_posts_are_refused_before_any_call() {
    // The installation's portal is a recorder: any call the application made would show there.
    let recorder = Recorder::default();
    let addr = recorder.start().await;
    let app = App::builder(
        OAuthApp::new("local.test", "test-secret"),
        MemoryInstallations::new(),
    )
    .build()
    .unwrap();
    let domain = addr.to_string();
    app.register(Installation::new(
        "m0",
        format!("http://{domain}/").parse().unwrap(),
        "genuine-app-token",
    ))
    .await
    .unwrap();
    let url = serve(app, Arc::default()).await;
    let http = bitrix24::http_client_builder().unwrap().build().unwrap();
    let post = |member: &str, token: Option<&str>, domain: &str, pad: usize| {
        let mut body = json!({
            "AUTH_ID": "user-access",
            "REFRESH_ID": "user-refresh",
            "AUTH_EXPIRES": "3600",
            "member_id": member,
            "PLACEMENT": "CRM_DEAL_DETAIL_TAB",
            "PLACEMENT_OPTIONS": "{\"ID\":\"1\"}",
            "PAD": "x".repeat(pad),
        });
        if let Some(token) = token {
            body["APPLICATION_TOKEN"] = json!(token);
        }
        http.post(format!("{url}?DOMAIN={domain}&LANG=en"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(php::encode(&body))
            .send()
    };
    let cases = [
        (
            "forged token",
            post("m0", Some("attackers-token"), &domain, 0),
            403,
        ),
        ("no token", post("m0", None, &domain, 0), 401),
        (
            "foreign domain",
            post("m0", Some("genuine-app-token"), "evil.example", 0),
            403,
        ),
        (
            "unknown portal",
            post("m1", Some("genuine-app-token"), &domain, 0),
            403,
        ),
        (
            "huge body",
            post("m0", Some("genuine-app-token"), &domain, 2 << 20),
            413,
        ),
    ];
    for (what, request, status) in cases {
        let response = request.await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{what}");
        let text = response.text().await.unwrap();
        assert!(
            !text.contains("user-access") && !text.contains("genuine-app-token"),
            "{what}: {text}"
        );
    }
    assert!(recorder.seen().is_empty(), "{:?}", recorder.seen());

    // The genuine post reaches the page (which, for this tab, asks the portal for the deal).
    let response = post("m0", Some("genuine-app-token"), &domain, 0)
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(recorder.seen().len(), 1, "{:?}", recorder.seen());
    assert!(
        recorder.seen()[0].contains("user-access"),
        "the call is the user's"
    );
}

#[tokio::test]
async fn open_refuses_what_is_not_a_placement_request() {
    let fields = documented().remove(9).1;
    let app = app_installed_for(&fields).await;
    let mut body = fields.clone();
    body.remove("AUTH_ID");
    let err = app
        .open(None, php::encode(&Value::Object(body)).as_bytes())
        .await
        .unwrap_err();
    assert!(matches!(err, EventError::NotAnEvent(_)), "{err}");
    assert_eq!(err.status(), 400);
    let err = app.open(None, &[0xff, 0xfe]).await.unwrap_err();
    assert!(matches!(err, EventError::NotText), "{err}");
}
