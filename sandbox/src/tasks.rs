//! REST 3.0 tasks: `tasks.task.add`, `get`, `update`, `delete` and `list` over an in-memory
//! store, with the documented validation errors, `select` of own and related (`responsible.*`,
//! `creator.*`) fields, the REST 3.0 filter (`[field, op, value]` conditions, `in`, `between`,
//! `{"logic": "or", "conditions": [...]}` groups; only `id` is filterable), `order` and
//! `pagination` (`page`, `limit` up to 1000, `offset`).

use std::cmp::Ordering;

use serde_json::{Map, Value, json};

use super::data::{Portal, iso_now};
use super::params::{ApiErr, Outcome, Params, Reply};
use super::server::Ctx;
use super::v3::{err, invalid};

/// How a task field is typed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    NullableInt,
    Str,
    DateTime,
    Bool,
    StrList,
}

/// Task fields: name, type, writable.
const FIELDS: &[(&str, Kind, bool)] = &[
    ("id", Kind::Int, false),
    ("title", Kind::Str, true),
    ("description", Kind::Str, true),
    ("creatorId", Kind::Int, true),
    ("responsibleId", Kind::Int, true),
    ("deadline", Kind::DateTime, true),
    ("needsControl", Kind::Bool, true),
    ("startPlan", Kind::DateTime, true),
    ("endPlan", Kind::DateTime, true),
    ("priority", Kind::Str, true),
    ("status", Kind::Str, true),
    ("parentId", Kind::NullableInt, true),
    ("groupId", Kind::Int, true),
    ("crmItemIds", Kind::StrList, true),
    ("created", Kind::DateTime, false),
    ("changed", Kind::DateTime, false),
    ("closed", Kind::DateTime, false),
    ("activity", Kind::DateTime, false),
    ("guid", Kind::Str, false),
    ("link", Kind::Str, false),
];

/// Fields `order` accepts.
const SORTABLE: &[&str] = &[
    "id",
    "title",
    "creatorId",
    "created",
    "responsibleId",
    "deadline",
    "startPlan",
    "endPlan",
    "groupId",
    "priority",
    "status",
    "started",
    "estimatedTime",
    "changed",
    "closed",
    "activity",
    "mark",
    "allowsChangeDeadline",
    "allowsTimeTracking",
];

/// Fields of a related user (`responsible.name`, `creator.email`).
const USER_FIELDS: &[(&str, &str)] = &[
    ("id", "ID"),
    ("name", "NAME"),
    ("lastName", "LAST_NAME"),
    ("secondName", "SECOND_NAME"),
    ("email", "EMAIL"),
    ("workPosition", "WORK_POSITION"),
];

const RELATIONS: &[(&str, &str)] = &[("responsible", "responsibleId"), ("creator", "creatorId")];

const MAX_LIMIT: i64 = 1000;

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Int | Kind::NullableInt => "int",
        Kind::Str => "string",
        Kind::DateTime => "DateTime",
        Kind::Bool => "bool",
        Kind::StrList => "array",
    }
}

fn type_error(field: &str, kind: Kind) -> ApiErr {
    invalid(
        field,
        format!(
            "Field `{field}` requires data type `{}` for this request",
            kind_name(kind)
        ),
    )
}

fn required(field: &str) -> ApiErr {
    invalid(field, format!("Required field `{field}` is missing"))
}

/// Whether `value` has the field's type.
fn typed(kind: Kind, value: &Value) -> bool {
    match kind {
        Kind::Int => value.as_i64().is_some(),
        Kind::NullableInt => value.is_null() || value.as_i64().is_some(),
        Kind::Str => value.is_string(),
        Kind::DateTime => {
            value.is_null()
                || value
                    .as_str()
                    .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
        }
        Kind::Bool => value.is_boolean(),
        Kind::StrList => value
            .as_array()
            .is_some_and(|items| items.iter().all(Value::is_string)),
    }
}

/// A required integer parameter (`id`): present, and a JSON integer.
fn id_param(params: &Params) -> Result<i64, ApiErr> {
    match params.0.get("id") {
        None | Some(Value::Null) => Err(required("id")),
        Some(v) => v.as_i64().ok_or_else(|| type_error("id", Kind::Int)),
    }
}

fn user_exists(portal: &Portal, id: i64) -> bool {
    portal.users.contains_key(&id)
}

/// Checks and copies the writable fields of `fields` into `task`.
fn write_fields(
    portal: &Portal,
    task: &mut Map<String, Value>,
    fields: &Map<String, Value>,
    creating: bool,
) -> Result<(), ApiErr> {
    for (name, value) in fields {
        let Some((_, kind, writable)) = FIELDS.iter().find(|(n, _, _)| n == name) else {
            // Unknown fields are ignored, as for `select`.
            continue;
        };
        if !writable || (!creating && name == "creatorId") {
            return Err(invalid(
                name,
                format!(
                    "In DTO `TaskDto`, the field `{name}` requires the presence of the `Editable` attribute for such a request"
                ),
            ));
        }
        if !typed(*kind, value) {
            return Err(type_error(name, *kind));
        }
        match name.as_str() {
            "responsibleId" if !value.as_i64().is_some_and(|u| user_exists(portal, u)) => {
                return Err(invalid(
                    name,
                    "User specified in the \"Executor\" field not found",
                ));
            }
            "creatorId" if !value.as_i64().is_some_and(|u| user_exists(portal, u)) => {
                return Err(invalid(
                    name,
                    "User specified in the \"Creator\" field not found",
                ));
            }
            "parentId" => {
                if let Some(parent) = value.as_i64() {
                    if task.get("id").and_then(Value::as_i64) == Some(parent) {
                        return Err(invalid(name, "Cannot bind a node to itself"));
                    }
                    if !portal.tasks.contains_key(&parent) {
                        return Err(invalid(
                            name,
                            "The task specified in the \"Parent Task\" field was not found",
                        ));
                    }
                }
            }
            _ => {}
        }
        task.insert(name.clone(), value.clone());
    }
    Ok(())
}

fn fields_param(params: &Params) -> Result<Map<String, Value>, ApiErr> {
    match params.0.get("fields") {
        None | Some(Value::Null) => Err(required("fields")),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(_) => Err(invalid(
            "fields",
            "Field `fields` requires data type `object` for this request",
        )),
    }
}

pub(crate) fn add(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let fields = fields_param(params)?;
    for field in ["title", "creatorId", "responsibleId"] {
        if fields.get(field).is_none_or(Value::is_null) {
            return Err(required(field));
        }
    }
    let id = portal.next_task_id;
    let now = iso_now();
    let mut task = Map::new();
    for (name, value) in [
        ("id", json!(id)),
        ("title", json!("")),
        ("description", json!("")),
        ("creatorId", json!(0)),
        ("responsibleId", json!(0)),
        ("deadline", Value::Null),
        ("needsControl", json!(false)),
        ("startPlan", Value::Null),
        ("endPlan", Value::Null),
        ("priority", json!("average")),
        ("status", json!("pending")),
        ("parentId", Value::Null),
        ("groupId", json!(0)),
        ("crmItemIds", json!([])),
        ("created", json!(now)),
        ("changed", json!(now)),
        ("closed", Value::Null),
        ("activity", json!(now)),
    ] {
        task.insert(name.to_owned(), value);
    }
    write_fields(portal, &mut task, &fields, true)?;
    let responsible = task
        .get("responsibleId")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    task.insert(
        "guid".into(),
        json!(format!("{{00000000-0000-4000-8000-{id:012x}}}")),
    );
    task.insert(
        "link".into(),
        json!(format!(
            "/company/personal/user/{responsible}/tasks/task/view/{id}/"
        )),
    );
    close_if_completed(&mut task);
    portal.next_task_id += 1;
    portal.tasks.insert(id, task.clone());
    Ok(Reply::of(json!({ "item": task })))
}

fn close_if_completed(task: &mut Map<String, Value>) {
    let completed = task.get("status").and_then(Value::as_str) == Some("completed");
    let closed = task.get("closed").is_some_and(|c| !c.is_null());
    if completed && !closed {
        task.insert("closed".into(), json!(iso_now()));
    } else if !completed && closed {
        task.insert("closed".into(), Value::Null);
    }
}

pub(crate) fn get(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let id = id_param(params)?;
    let select = Select::parse(params, true)?;
    let task = portal.tasks.get(&id).ok_or_else(|| {
        err(
            400,
            "ENTITYNOTFOUNDEXCEPTION",
            format!("Record with ID = `{id}` not found"),
        )
    })?;
    Ok(Reply::of(json!({ "item": select.apply(portal, task) })))
}

fn access_denied() -> ApiErr {
    err(403, "ACCESSDENIEDEXCEPTION", "Access denied")
}

pub(crate) fn update(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let id = id_param(params)?;
    let fields = fields_param(params)?;
    let mut task = portal.tasks.get(&id).cloned().ok_or_else(access_denied)?;
    write_fields(portal, &mut task, &fields, false)?;
    let now = iso_now();
    task.insert("changed".into(), json!(now));
    task.insert("activity".into(), json!(now));
    close_if_completed(&mut task);
    portal.tasks.insert(id, task);
    Ok(Reply::of(json!({ "result": true })))
}

pub(crate) fn delete(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let id = id_param(params)?;
    portal.tasks.remove(&id).ok_or_else(access_denied)?;
    Ok(Reply::of(json!({ "result": true })))
}

pub(crate) fn list(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    let select = Select::parse(params, false)?;
    let filter = match params.0.get("filter") {
        None | Some(Value::Null) => Filter::All(Vec::new()),
        Some(Value::Array(items)) => Filter::group(items, false)?,
        Some(_) => {
            return Err(invalid(
                "filter",
                "Field `filter` requires data type `array` for this request",
            ));
        }
    };
    let order = parse_order(params)?;
    let (offset, limit) = parse_pagination(params)?;
    let mut rows: Vec<&Map<String, Value>> = Vec::new();
    for task in portal.tasks.values() {
        ctx.examined += 1;
        if filter.matches(task) {
            rows.push(task);
        }
    }
    if !order.is_empty() {
        rows.sort_by(|a, b| {
            for (field, desc) in &order {
                let ord = compare(
                    a.get(field).unwrap_or(&Value::Null),
                    b.get(field).unwrap_or(&Value::Null),
                );
                if ord != Ordering::Equal {
                    return if *desc { ord.reverse() } else { ord };
                }
            }
            Ordering::Equal
        });
    }
    let items: Vec<Value> = rows
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|task| Value::Object(select.apply(portal, task)))
        .collect();
    Ok(Reply::of(json!({ "items": items })))
}

/// Orders JSON scalars: numbers as numbers, everything else as text, null first.
fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

fn parse_order(params: &Params) -> Result<Vec<(String, bool)>, ApiErr> {
    let bad = |what: &Value| {
        err(
            400,
            "INVALIDORDEREXCEPTION",
            format!("Unable to recognize sorting parameter `{what}`"),
        )
    };
    let Some(order) = params.0.get("order").filter(|o| !o.is_null()) else {
        return Ok(Vec::new());
    };
    let Value::Object(map) = order else {
        return Err(bad(order));
    };
    let mut out = Vec::new();
    for (field, direction) in map {
        let desc = match direction.as_str().map(str::to_ascii_uppercase).as_deref() {
            Some("ASC") => false,
            Some("DESC") => true,
            _ => return Err(bad(order)),
        };
        if !SORTABLE.contains(&field.as_str()) {
            return Err(bad(order));
        }
        out.push((field.clone(), desc));
    }
    Ok(out)
}

/// `pagination` -> (offset, limit).
fn parse_pagination(params: &Params) -> Result<(usize, usize), ApiErr> {
    let Some(pagination) = params.0.get("pagination").filter(|p| !p.is_null()) else {
        return Ok((0, 50));
    };
    let bad = || {
        err(
            400,
            "INVALIDPAGINATIONEXCEPTION",
            format!("Unable to recognize the pagination parameter `{pagination}`"),
        )
    };
    let Value::Object(map) = pagination else {
        return Err(bad());
    };
    let number = |key: &str| -> Result<Option<i64>, ApiErr> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => super::params::int(v).map(Some).ok_or_else(bad),
        }
    };
    let limit = number("limit")?.unwrap_or(50);
    if limit <= 0 {
        return Err(bad());
    }
    let limit = limit.min(MAX_LIMIT);
    let offset = match (number("page")?, number("offset")?) {
        (Some(page), _) if page < 1 => return Err(bad()),
        (Some(page), _) => (page - 1).saturating_mul(limit),
        (None, Some(offset)) if offset < 0 => return Err(bad()),
        (None, Some(offset)) => offset,
        (None, None) => 0,
    };
    Ok((
        usize::try_from(offset).unwrap_or(usize::MAX),
        usize::try_from(limit).unwrap_or(50),
    ))
}

/// A REST 3.0 filter.
enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Id { op: &'static str, values: Vec<i64> },
}

const FILTER_OPS: &[&str] = &["=", "!=", ">", ">=", "<", "<=", "in", "between"];

impl Filter {
    fn group(items: &[Value], or: bool) -> Result<Self, ApiErr> {
        let parts = items
            .iter()
            .map(Self::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(if or {
            Self::Any(parts)
        } else {
            Self::All(parts)
        })
    }

    fn parse(item: &Value) -> Result<Self, ApiErr> {
        match item {
            Value::Object(map) => {
                let or = match map.get("logic").and_then(Value::as_str) {
                    Some(l) if l.eq_ignore_ascii_case("or") => true,
                    Some(l) if l.eq_ignore_ascii_case("and") => false,
                    None => false,
                    Some(other) => {
                        return Err(err(
                            400,
                            "UNKNOWNFILTEROPERATOREXCEPTION",
                            format!("Unknown filter logic `{other}`"),
                        ));
                    }
                };
                match map.get("conditions") {
                    Some(Value::Array(items)) => Self::group(items, or),
                    _ => Err(invalid("filter", "A condition group needs `conditions`")),
                }
            }
            Value::Array(parts) => Self::condition(parts),
            _ => Err(invalid("filter", "A filter condition must be an array")),
        }
    }

    fn condition(parts: &[Value]) -> Result<Self, ApiErr> {
        let (field, op, value) = match parts {
            [field, value] => {
                let op = if value.is_array() { "in" } else { "=" };
                (field, op.to_owned(), value)
            }
            [field, op, value] => (field, op.as_str().unwrap_or("").to_owned(), value),
            _ => return Err(invalid("filter", "A condition is [field, operator, value]")),
        };
        let field = field.as_str().unwrap_or("");
        let Some(op) = FILTER_OPS.iter().find(|o| o.eq_ignore_ascii_case(&op)) else {
            return Err(err(
                400,
                "UNKNOWNFILTEROPERATOREXCEPTION",
                format!("Unknown filter operator `{op}`"),
            ));
        };
        if !FIELDS.iter().any(|(n, _, _)| *n == field) {
            return Err(err(
                400,
                "UNKNOWNDTOPROPERTYEXCEPTION",
                format!("Unknown field `{field}` for entity `TaskDto`"),
            ));
        }
        if field != "id" {
            return Err(invalid(
                field,
                format!(
                    "In DTO `TaskDto`, the `{field}` field requires the `Filterable` attribute for such a request"
                ),
            ));
        }
        let values: Vec<i64> = match (*op, value) {
            ("in" | "between", Value::Array(items)) => items
                .iter()
                .map(|v| v.as_i64().ok_or_else(|| type_error("id", Kind::Int)))
                .collect::<Result<_, _>>()?,
            ("in" | "between", _) => return Err(type_error("id", Kind::StrList)),
            (_, v) => vec![v.as_i64().ok_or_else(|| type_error("id", Kind::Int))?],
        };
        if *op == "between" && values.len() != 2 {
            return Err(invalid("id", "`between` takes two values"));
        }
        Ok(Self::Id { op, values })
    }

    fn matches(&self, task: &Map<String, Value>) -> bool {
        match self {
            Self::All(parts) => parts.iter().all(|p| p.matches(task)),
            Self::Any(parts) => parts.iter().any(|p| p.matches(task)),
            Self::Id { op, values } => {
                let id = task.get("id").and_then(Value::as_i64).unwrap_or(0);
                let first = values.first().copied().unwrap_or(0);
                match *op {
                    "=" => id == first,
                    "!=" => id != first,
                    ">" => id > first,
                    ">=" => id >= first,
                    "<" => id < first,
                    "<=" => id <= first,
                    "in" => values.contains(&id),
                    "between" => values.len() == 2 && id >= values[0] && id <= values[1],
                    _ => false,
                }
            }
        }
    }
}

/// A relation in `select` (`responsible`), the task field holding its id, and the user fields
/// asked for as (name in the answer, stored name).
type Related = (&'static str, &'static str, Vec<(String, &'static str)>);

/// `select`: own fields (unknown ones are dropped) and related user fields.
struct Select {
    /// `None`: every own field.
    own: Option<Vec<String>>,
    related: Vec<Related>,
}

impl Select {
    /// `all_by_default`: `get` returns every field without `select`, `list` only the id.
    fn parse(params: &Params, all_by_default: bool) -> Result<Self, ApiErr> {
        let names: Vec<String> = match params.0.get("select") {
            None | Some(Value::Null) => {
                let own = (!all_by_default).then(|| vec!["id".to_owned()]);
                return Ok(Self {
                    own,
                    related: Vec::new(),
                });
            }
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| type_error("select", Kind::StrList))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(type_error("select", Kind::StrList)),
        };
        let mut own = Vec::new();
        let mut related: Vec<Related> = Vec::new();
        for name in names {
            let Some((relation, field)) = name.split_once('.') else {
                own.push(name);
                continue;
            };
            let Some((relation, id_field)) = RELATIONS.iter().find(|(r, _)| *r == relation) else {
                return Err(err(
                    400,
                    "UNKNOWNDTOPROPERTYEXCEPTION",
                    format!("Unknown field `{relation}` for entity `TaskDto`"),
                ));
            };
            let Some((_, upper)) = USER_FIELDS.iter().find(|(f, _)| *f == field) else {
                return Err(err(
                    400,
                    "UNKNOWNDTOPROPERTYEXCEPTION",
                    format!("Unknown field `{field}` for entity `UserDto`"),
                ));
            };
            match related.iter_mut().find(|(r, _, _)| r == relation) {
                Some((_, _, fields)) => fields.push((field.to_owned(), upper)),
                None => related.push((relation, id_field, vec![(field.to_owned(), upper)])),
            }
        }
        Ok(Self {
            own: Some(own),
            related,
        })
    }

    fn apply(&self, portal: &Portal, task: &Map<String, Value>) -> Map<String, Value> {
        let mut out: Map<String, Value> = match &self.own {
            None => task.clone(),
            Some(own) => task
                .iter()
                .filter(|(k, _)| own.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        for (relation, id_field, fields) in &self.related {
            let user = task
                .get(*id_field)
                .and_then(Value::as_i64)
                .and_then(|id| portal.users.get(&id));
            let object: Map<String, Value> = fields
                .iter()
                .map(|(field, upper)| {
                    let value = user
                        .and_then(|u| u.get(*upper))
                        .cloned()
                        .unwrap_or(Value::Null);
                    let value = if *field == "id" {
                        super::params::int(&value).map_or(Value::Null, Value::from)
                    } else {
                        value
                    };
                    (field.clone(), value)
                })
                .collect();
            out.insert((*relation).to_owned(), Value::Object(object));
        }
        out
    }
}
