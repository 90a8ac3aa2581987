//! `PLACEMENT_OPTIONS` read by placement code: the documented contexts typed, the rest kept raw.
//!
//! The portal sends the context as a JSON string whose keys depend on the placement (every
//! example in `api-reference/widgets/` of the docs is parsed by `sdk/tests/placement.rs`). Ids
//! arrive as strings (`"8061"`); they are read as numbers where the docs say they are ids.

use serde_json::{Map, Value};

use crate::DialogId;

/// The context of a placement, by what the docs say each one carries. Every placement's options
/// are also kept as they came in [`Placement::raw_options`](super::Placement::raw_options).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PlacementOptions {
    /// A CRM object's card or list row: `CRM_<TYPE>_DETAIL_TAB`, `_DETAIL_ACTIVITY`,
    /// `_DETAIL_TOOLBAR`, `_LIST_MENU` (`ID`) and `_DOCUMENTGENERATOR_BUTTON` (`ENTITY_ID`).
    CrmObject {
        /// The object's type, from the placement code.
        entity: CrmEntity,
        /// The object's id.
        id: i64,
    },
    /// The menu of an activity in a CRM object's timeline (`CRM_<TYPE>_ACTIVITY_TIMELINE_MENU`).
    CrmTimelineActivity {
        /// The object's type, from the placement code.
        entity: CrmEntity,
        /// The object's id (`ENTITY_ID`).
        id: i64,
        /// The CRM type id of the timeline item's entity (`ASSOCIATED_ENTITY_TYPE_ID`, `6`
        /// for an activity).
        associated_type_id: i64,
        /// Its id (`ASSOCIATED_ENTITY_ID`).
        associated_id: i64,
    },
    /// A search the user typed: `CRM_DETAIL_SEARCH`, `CRM_REQUISITE_AUTOCOMPLETE`,
    /// `CRM_BANK_DETAIL_AUTOCOMPLETE` (`searchQuery`, and `entityTypeName` for the first).
    Search {
        /// What the user typed.
        query: String,
        /// The CRM type searched for (`COMPANY`, ...), when the placement names one.
        entity_type: Option<String>,
    },
    /// The card of a telephony call (`CALL_CARD`).
    Call(CallCard),
    /// A chat: `IM_TEXTAREA`, `IM_CONTEXT_MENU` (with the message), the mobile chat widgets.
    Chat {
        /// The chat (`dialogId`).
        dialog_id: DialogId,
        /// The message whose menu was opened (`messageId`).
        message_id: Option<i64>,
    },
    /// A workgroup: `SONET_GROUP_DETAIL_TAB`, `SONET_GROUP_ROBOT_DESIGNER_TOOLBAR`, the task
    /// list toolbar of a group (`GROUP_ID`).
    Group {
        /// The workgroup's id.
        group_id: i64,
    },
    /// A user: `USER_PROFILE_MENU`, `USER_PROFILE_TOOLBAR`, a user's task list toolbar
    /// (`USER_ID`).
    User {
        /// The user's id.
        user_id: i64,
    },
    /// A task: `TASK_VIEW_TOP_PANEL` (`taskId`), `TASK_LIST_CONTEXT_MENU` (`ID`).
    Task {
        /// The task's id.
        task_id: i64,
    },
    /// The range shown by the calendar grid (`CALENDAR_GRIDVIEW`).
    CalendarView {
        /// First day shown (`viewRangeFrom`).
        from: chrono::NaiveDate,
        /// Last day shown (`viewRangeTo`).
        to: chrono::NaiveDate,
    },
    /// No context beyond the page's `URI`: toolbars, menus, the left menu, the application's
    /// own page (`DEFAULT`).
    None,
    /// A placement whose context is not typed here (or not as documented): read
    /// [`Placement::raw_options`](super::Placement::raw_options).
    Other,
}

/// The type of a CRM object, as a placement code names it (`CRM_DEAL_DETAIL_TAB`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CrmEntity {
    /// `LEAD`
    Lead,
    /// `DEAL`
    Deal,
    /// `CONTACT`
    Contact,
    /// `COMPANY`
    Company,
    /// `QUOTE` (an estimate)
    Quote,
    /// `SMART_INVOICE` (the new invoices)
    SmartInvoice,
    /// `ORDER` (an online store order; not a `crm.item` type)
    Order,
    /// `DYNAMIC_<id>`: a custom object type (smart process).
    Dynamic(i64),
    /// Any other name.
    Other(String),
}

impl CrmEntity {
    /// Reads the name between `CRM_` and the placement's suffix.
    fn parse(name: &str) -> Self {
        match name {
            "LEAD" => Self::Lead,
            "DEAL" => Self::Deal,
            "CONTACT" => Self::Contact,
            "COMPANY" => Self::Company,
            "QUOTE" => Self::Quote,
            "SMART_INVOICE" => Self::SmartInvoice,
            "ORDER" => Self::Order,
            other => match other.strip_prefix("DYNAMIC_").and_then(|n| n.parse().ok()) {
                Some(id) => Self::Dynamic(id),
                None => Self::Other(other.to_owned()),
            },
        }
    }

    /// The `entityTypeId` that `crm.item.*` methods take for this type, where it has one.
    pub fn entity_type_id(&self) -> Option<i64> {
        match self {
            Self::Lead => Some(1),
            Self::Deal => Some(2),
            Self::Contact => Some(3),
            Self::Company => Some(4),
            Self::Quote => Some(7),
            Self::SmartInvoice => Some(31),
            Self::Dynamic(id) => Some(*id),
            Self::Order | Self::Other(_) => None,
        }
    }
}

/// What `CALL_CARD` knows about the call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CallCard {
    /// `CALL_ID`
    pub call_id: String,
    /// `PHONE_NUMBER`: the other party.
    pub phone_number: Option<String>,
    /// `LINE_NUMBER`
    pub line_number: Option<String>,
    /// `CALL_DIRECTION`: `incoming` or `outgoing`.
    pub direction: Option<String>,
    /// `CALL_STATE`: `connected`, ...
    pub state: Option<String>,
    /// `CRM_ENTITY_TYPE` and `CRM_ENTITY_ID`: the CRM object the call is shown for.
    pub crm_entity: Option<(String, i64)>,
    /// `CRM_BINDINGS`: every CRM object the call is bound to, as (type, id).
    pub crm_bindings: Vec<(String, i64)>,
}

/// Suffixes of the CRM placements whose context is one object's id, and the key it is under.
const CRM_OBJECT: &[(&str, &str)] = &[
    ("_DETAIL_TAB", "ID"),
    ("_DETAIL_ACTIVITY", "ID"),
    ("_DETAIL_TOOLBAR", "ID"),
    ("_LIST_MENU", "ID"),
    ("_DOCUMENTGENERATOR_BUTTON", "ENTITY_ID"),
];

impl PlacementOptions {
    /// The typed context of placement `code`, from its options (without `URI`).
    pub(super) fn read(code: &str, options: &Map<String, Value>) -> Self {
        Self::typed(code, options).unwrap_or(Self::Other)
    }

    fn typed(code: &str, o: &Map<String, Value>) -> Option<Self> {
        let keys = o.keys().filter(|k| *k != "URI").count();
        if let Some(rest) = code.strip_prefix("CRM_") {
            if let Some(entity) = rest.strip_suffix("_ACTIVITY_TIMELINE_MENU") {
                return Some(Self::CrmTimelineActivity {
                    entity: CrmEntity::parse(entity),
                    id: id(o, "ENTITY_ID")?,
                    associated_type_id: id(o, "ASSOCIATED_ENTITY_TYPE_ID")?,
                    associated_id: id(o, "ASSOCIATED_ENTITY_ID")?,
                });
            }
            for (suffix, key) in CRM_OBJECT {
                if let Some(entity) = rest.strip_suffix(suffix) {
                    return Some(Self::CrmObject {
                        entity: CrmEntity::parse(entity),
                        id: id(o, key)?,
                    });
                }
            }
        }
        match code {
            "CALL_CARD" => return Some(Self::Call(call_card(o)?)),
            "CALENDAR_GRIDVIEW" => {
                return Some(Self::CalendarView {
                    from: date(o, "viewRangeFrom")?,
                    to: date(o, "viewRangeTo")?,
                });
            }
            _ => {}
        }
        if let Some(query) = text(o, "searchQuery") {
            return Some(Self::Search {
                query,
                entity_type: text(o, "entityTypeName"),
            });
        }
        if let Some(dialog) = text(o, "dialogId") {
            return Some(Self::Chat {
                dialog_id: DialogId::from(dialog),
                message_id: id(o, "messageId"),
            });
        }
        if code.starts_with("TASK_")
            && let Some(task_id) = id(o, "taskId").or_else(|| id(o, "ID"))
        {
            return Some(Self::Task { task_id });
        }
        if let Some(group_id) = id(o, "GROUP_ID") {
            return Some(Self::Group { group_id });
        }
        if let Some(user_id) = id(o, "USER_ID") {
            return Some(Self::User { user_id });
        }
        (keys == 0).then_some(Self::None)
    }
}

fn call_card(o: &Map<String, Value>) -> Option<CallCard> {
    let bindings = o
        .get("CRM_BINDINGS")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|b| {
            let b = b.as_object()?;
            Some((text(b, "ENTITY_TYPE")?, id(b, "ENTITY_ID")?))
        })
        .collect();
    Some(CallCard {
        call_id: text(o, "CALL_ID")?,
        phone_number: text(o, "PHONE_NUMBER"),
        line_number: text(o, "LINE_NUMBER"),
        direction: text(o, "CALL_DIRECTION"),
        state: text(o, "CALL_STATE"),
        crm_entity: text(o, "CRM_ENTITY_TYPE").zip(id(o, "CRM_ENTITY_ID")),
        crm_bindings: bindings,
    })
}

/// A non-empty string member (numbers spelled out), of the options or of the form around them.
pub(super) fn text(o: &Map<String, Value>, key: &str) -> Option<String> {
    match o.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An id: a number, or a string of digits (`"8061"`).
fn id(o: &Map<String, Value>, key: &str) -> Option<i64> {
    match o.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn date(o: &Map<String, Value>, key: &str) -> Option<chrono::NaiveDate> {
    text(o, key)?.parse().ok()
}
