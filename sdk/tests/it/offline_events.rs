//! The offline event queue over real HTTP against the sandbox: records are reserved for the
//! process that took them, settled one by one (done, failed), taken again after a crash, and
//! arrive as the same typed events a webhook delivers.
#![cfg(feature = "full")]
#![allow(deprecated)] // crm.deal.* are the classic methods most integrations use.

use bitrix24::basic::EventKind;
use bitrix24::crm::DealFields;
use bitrix24::event_types::TypedEvent;
use bitrix24::events::offline::{Queued, Settled};
use bitrix24_sandbox::Sandbox;

/// The deal id an `ONCRMDEALADD` record names, read through the typed event.
fn deal_id(queued: &Queued) -> i64 {
    match queued.event.typed().unwrap() {
        TypedEvent::OnCrmDealAdd(data) => data.fields.unwrap().id.unwrap(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn offline_events_are_reserved_settled_and_taken_again_after_a_crash() {
    let portal = Sandbox::start().await.unwrap();
    let app = portal.oauth_client().unwrap();
    app.event_bind("ONCRMDEALADD", "https://app.example/offline")
        .event_type(EventKind::Offline)
        .await
        .unwrap();
    let admin = portal.webhook_client().unwrap();
    let mut deals = Vec::new();
    for n in 0..5 {
        let fields = DealFields::new().title(format!("Deal {n}"));
        deals.push(admin.crm_deal_add().fields(fields).await.unwrap());
    }

    // A consumer takes three records and crashes before settling them.
    let mut crashed = app.offline_events().limit(3);
    let taken = crashed.take().await.unwrap().unwrap();
    let reserved: Vec<i64> = taken.events.iter().map(deal_id).collect();
    assert_eq!(reserved, deals[..3]);
    let process_id = taken.process_id.clone();
    drop(crashed);

    // Another consumer gets only what nobody holds.
    let mut other = app.offline_events();
    let rest = other.take().await.unwrap().unwrap();
    assert_eq!(
        rest.events.iter().map(deal_id).collect::<Vec<_>>(),
        deals[3..]
    );
    let ids: Vec<i64> = rest.events.iter().map(|q| q.id).collect();
    other.done(&rest, &ids).await.unwrap();

    // Resumed, the crashed process gets its three again; one handler fails.
    let failing = deals[1];
    let mut resumed = app.offline_events().resume(process_id);
    let mut seen = Vec::new();
    let settled = resumed
        .run_once(|queued| {
            let id = deal_id(&queued);
            seen.push(id);
            async move {
                if id == failing {
                    Err("the external system is down")
                } else {
                    Ok(())
                }
            }
        })
        .await
        .unwrap();
    assert_eq!(seen, deals[..3]);
    assert_eq!((settled.done, settled.failed), (2, 1));

    // Left in the queue: the failed record alone, marked failed, taken by nobody.
    let left = app.event_offline_list().await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].error, Some(true));
    // The portal sends `""` for "no process"; the lenient string codec reads it as absent.
    assert!(
        left[0].process_id.as_deref().is_none_or(str::is_empty),
        "{left:?}"
    );
    let nothing = app
        .offline_events()
        .run_once(|_| async { Ok::<(), String>(()) })
        .await
        .unwrap();
    assert_eq!(nothing, Settled::default());
}

#[tokio::test]
async fn an_object_changed_twice_while_waiting_is_one_record() {
    let portal = Sandbox::start().await.unwrap();
    let app = portal.oauth_client().unwrap();
    for event in ["ONCRMDEALADD", "ONCRMDEALUPDATE"] {
        app.event_bind(event, "https://app.example/offline")
            .event_type(EventKind::Offline)
            .await
            .unwrap();
    }
    let admin = portal.webhook_client().unwrap();
    let id = admin
        .crm_deal_add()
        .fields(DealFields::new().title("A"))
        .await
        .unwrap();
    for title in ["B", "C"] {
        admin
            .crm_deal_update(id)
            .fields(DealFields::new().title(title))
            .await
            .unwrap();
    }
    let names: Vec<String> = app
        .event_offline_list()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.event_name.unwrap_or_default())
        .collect();
    assert_eq!(names, ["ONCRMDEALADD", "ONCRMDEALUPDATE"]);
}
