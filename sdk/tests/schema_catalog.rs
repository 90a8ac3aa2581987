//! The method catalog (feature `method-catalog`) describes the generated methods as data.
#![cfg(feature = "method-catalog")]

use bitrix24::method_catalog::{CATALOG, find};

#[test]
fn the_catalog_lists_the_enabled_methods() {
    let add = find("imbot.message.add").expect("basic methods are always there");
    assert_eq!(add.scope, "imbot");
    assert_eq!(add.rust, "imbot_message_add");
    assert!(!add.idempotent && add.batchable);
    assert_eq!(add.replacement, Some("imbot.v2.Chat.Message.send"));
    let dialog = &add.params[0];
    assert_eq!(
        (dialog.name, dialog.ty, dialog.required),
        ("DIALOG_ID", "dialog_id", true)
    );

    let list = find("crm.deal.list").unwrap();
    assert_eq!((list.paging, list.result), ("keyset", "list<Deal>"));

    // The REST 3.0 twin of a classic name is listed separately.
    let twins: Vec<_> = CATALOG
        .iter()
        .filter(|m| m.name == "tasks.task.get")
        .collect();
    assert_eq!(twins.len(), 2);
    assert!(
        twins
            .iter()
            .any(|m| m.rest_v3 && m.rust == "tasks_task_get_v3")
    );
    assert!(!find("tasks.task.get").unwrap().rest_v3);

    let positional = find("task.commentitem.add").unwrap();
    assert!(positional.positional);
    assert_eq!(positional.params[0].name, "TASKID");
    #[cfg(feature = "full")]
    assert_eq!(CATALOG.len(), 1667);
}
