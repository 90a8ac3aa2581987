//! CRM: classic `crm.deal.*` (UPPER_CASE fields, every scalar a string) and universal
//! `crm.item.*` (camelCase fields, typed scalars). Deals are one store seen through both, as on
//! a real portal where `crm.item.*` with `entityTypeId=2` reads and writes deals.

use serde_json::{Map, Value, json};

use super::data::{Portal, iso_now, unix_now};
use super::params::{ApiErr, Outcome, Params, Reply, Res, float, int, text};
use super::query::ListQuery;
use super::server::{Ctx, Handler};
use super::store::{Deal, DealStore};

pub(crate) const METHODS: &[(&str, &str, Handler)] = &[
    ("crm.deal.add", "crm", deal_add),
    ("crm.deal.get", "crm", deal_get),
    ("crm.deal.update", "crm", deal_update),
    ("crm.deal.delete", "crm", deal_delete),
    ("crm.deal.list", "crm", deal_list),
    ("crm.deal.fields", "crm", deal_fields),
    ("crm.item.add", "crm", item_add),
    ("crm.item.get", "crm", item_get),
    ("crm.item.update", "crm", item_update),
    ("crm.item.delete", "crm", item_delete),
    ("crm.item.list", "crm", item_list),
    ("crm.item.fields", "crm", item_fields),
];

/// The deal entity type id of the universal methods.
const DEAL_TYPE: i64 = 2;

/// Deal fields with their type, for `*.fields` and for typing item values.
const DEAL_FIELDS: &[(&str, &str)] = &[
    ("ID", "integer"),
    ("TITLE", "string"),
    ("TYPE_ID", "crm_status"),
    ("STAGE_ID", "crm_status"),
    ("STAGE_SEMANTIC_ID", "string"),
    ("CATEGORY_ID", "crm_category"),
    ("PROBABILITY", "integer"),
    ("CURRENCY_ID", "crm_currency"),
    ("OPPORTUNITY", "double"),
    ("IS_MANUAL_OPPORTUNITY", "char"),
    ("TAX_VALUE", "double"),
    ("COMPANY_ID", "crm_company"),
    ("CONTACT_ID", "crm_contact"),
    ("BEGINDATE", "date"),
    ("CLOSEDATE", "date"),
    ("OPENED", "char"),
    ("CLOSED", "char"),
    ("COMMENTS", "string"),
    ("ASSIGNED_BY_ID", "user"),
    ("CREATED_BY_ID", "user"),
    ("MODIFY_BY_ID", "user"),
    ("DATE_CREATE", "datetime"),
    ("DATE_MODIFY", "datetime"),
    ("SOURCE_ID", "crm_status"),
    ("IS_NEW", "char"),
    ("IS_RECURRING", "char"),
    ("IS_RETURN_CUSTOMER", "char"),
    ("IS_REPEATED_APPROACH", "char"),
    ("ORIGINATOR_ID", "string"),
    ("ORIGIN_ID", "string"),
];

/// Fields the system maintains; writes to them are ignored.
const READ_ONLY: &[&str] = &[
    "ID",
    "DATE_CREATE",
    "DATE_MODIFY",
    "CREATED_BY_ID",
    "MODIFY_BY_ID",
    "STAGE_SEMANTIC_ID",
    "IS_NEW",
];

/// Names whose camelCase form is not the mechanical one.
const CAMEL_EXCEPTIONS: &[(&str, &str)] = &[
    ("DATE_CREATE", "createdTime"),
    ("DATE_MODIFY", "updatedTime"),
    ("CREATED_BY_ID", "createdBy"),
    ("MODIFY_BY_ID", "updatedBy"),
    ("MOVED_BY_ID", "movedBy"),
    ("BEGINDATE", "begindate"),
    ("CLOSEDATE", "closedate"),
];

fn deal_add(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    let fields = writable(params.nested("fields").0);
    let id = portal.deals.insert(fields, ctx.user_id, unix_now());
    deal_event(portal, ctx, "ONCRMDEALADD", id);
    Ok(Reply::of(id))
}

/// `ONCRMDEAL*` for the handlers bound to it.
fn deal_event(portal: &mut Portal, ctx: &mut Ctx, event: &str, id: i64) {
    if portal.handlers.iter().any(|h| h.event == event) {
        let data = json!({"FIELDS": {"ID": id}});
        super::events::bound(
            portal,
            ctx.shared,
            event,
            ctx.user_id,
            &data,
            &mut ctx.events,
        );
    }
}

fn deal_get(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let id = deal_id(params)?;
    let deal = portal
        .deals
        .get(id)
        .ok_or_else(|| ApiErr::not_found("Deal"))?;
    Ok(Reply::of(Value::Object(deal)))
}

fn deal_update(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    let id = deal_id(params)?;
    let fields = writable(params.nested("fields").0);
    if !portal.deals.update(id, fields, ctx.user_id, unix_now()) {
        return Err(ApiErr::not_found("Deal"));
    }
    deal_event(portal, ctx, "ONCRMDEALUPDATE", id);
    Ok(Reply::of(true))
}

fn deal_delete(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    let id = deal_id(params)?;
    if !portal.deals.remove(id) {
        return Err(ApiErr::not_found("Deal"));
    }
    deal_event(portal, ctx, "ONCRMDEALDELETE", id);
    Ok(Reply::of(true))
}

fn deal_list(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    let query = ListQuery::parse(params, "ID")?;
    let store = &portal.deals;
    let rows = store.range(query.lo, query.hi, query.descending());
    let page = query.run(rows, |(id, deal), field| store.field(*id, deal, field));
    ctx.examined = page.examined;
    let select = Select::new(&params.list("select"), true);
    let mut out = Vec::with_capacity(page.rows.len() * 800 + 2);
    out.push(b'[');
    for (i, (id, deal)) in page.rows.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        store.write_classic(&mut out, id, deal, |k| select.keeps(k));
    }
    out.push(b']');
    Ok(Reply {
        result: Res::Raw(String::from_utf8_lossy(&out).into_owned()),
        total: page.total,
        next: page.next,
    })
}

fn deal_fields(_: &mut Portal, _: &mut Ctx, _: &Params) -> Outcome {
    let fields: Map<String, Value> = DEAL_FIELDS
        .iter()
        .map(|(name, kind)| ((*name).to_owned(), field_description(name, kind)))
        .collect();
    Ok(Reply::of(Value::Object(fields)))
}

fn deal_id(params: &Params) -> Result<i64, ApiErr> {
    match params.int("id")? {
        Some(id) if id > 0 => Ok(id),
        _ => Err(ApiErr::bad("", "ID is not defined or invalid.")),
    }
}

fn writable(fields: Map<String, Value>) -> Map<String, Value> {
    fields
        .into_iter()
        .map(|(k, v)| (k.to_ascii_uppercase(), v))
        .filter(|(k, _)| !READ_ONLY.contains(&k.as_str()))
        .collect()
}

/// [`writable`] for `crm.item.*` fields of a deal (camelCase names).
fn writable_item(fields: Map<String, Value>) -> Map<String, Value> {
    writable(
        fields
            .into_iter()
            .map(|(k, v)| (upper_name(&k), v))
            .collect(),
    )
}

fn field_description(name: &str, kind: &str) -> Value {
    json!({
        "type": kind,
        "isRequired": false,
        "isReadOnly": READ_ONLY.contains(&name),
        "isImmutable": name == "CATEGORY_ID",
        "isMultiple": false,
        "isDynamic": false,
        "title": name,
        "upperName": name,
    })
}

// ------------------------------------------------------------------ universal items

fn entity_type(params: &Params) -> Result<i64, ApiErr> {
    match params.int("entityTypeId")? {
        Some(t) if t > 0 => Ok(t),
        _ => Err(ApiErr::bad("NOT_FOUND", "Smart process not found")),
    }
}

fn item_id(params: &Params) -> Result<i64, ApiErr> {
    params
        .int("id")?
        .filter(|id| *id > 0)
        .ok_or_else(item_not_found)
}

fn item_not_found() -> ApiErr {
    ApiErr::bad("NOT_FOUND", "Element not found")
}

fn item_add(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    let entity = entity_type(params)?;
    let fields = params.nested("fields").0;
    let item = if entity == DEAL_TYPE {
        let id = portal
            .deals
            .insert(writable_item(fields), ctx.user_id, unix_now());
        deal_as_item(&portal.deals.get(id).unwrap_or_default())
    } else {
        let id = portal.next_item_id;
        portal.next_item_id += 1;
        let mut item = fields;
        item.insert("id".into(), json!(id));
        item.insert("entityTypeId".into(), json!(entity));
        item.insert("createdBy".into(), json!(ctx.user_id));
        item.insert("createdTime".into(), json!(iso_now()));
        item.insert("updatedTime".into(), json!(iso_now()));
        portal.items.insert((entity, id), item.clone());
        item
    };
    Ok(Reply::of(json!({ "item": item })))
}

fn item_get(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let (entity, id) = (entity_type(params)?, item_id(params)?);
    let item = if entity == DEAL_TYPE {
        portal.deals.get(id).map(|d| deal_as_item(&d))
    } else {
        portal.items.get(&(entity, id)).cloned()
    };
    Ok(Reply::of(
        json!({ "item": item.ok_or_else(item_not_found)? }),
    ))
}

fn item_update(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    let (entity, id) = (entity_type(params)?, item_id(params)?);
    let fields = params.nested("fields").0;
    let item = if entity == DEAL_TYPE {
        if !portal
            .deals
            .update(id, writable_item(fields), ctx.user_id, unix_now())
        {
            return Err(item_not_found());
        }
        deal_as_item(&portal.deals.get(id).unwrap_or_default())
    } else {
        let item = portal
            .items
            .get_mut(&(entity, id))
            .ok_or_else(item_not_found)?;
        item.extend(fields.into_iter().filter(|(k, _)| k != "id"));
        item.insert("updatedBy".into(), json!(ctx.user_id));
        item.insert("updatedTime".into(), json!(iso_now()));
        item.clone()
    };
    Ok(Reply::of(json!({ "item": item })))
}

fn item_delete(portal: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let (entity, id) = (entity_type(params)?, item_id(params)?);
    let removed = if entity == DEAL_TYPE {
        portal.deals.remove(id)
    } else {
        portal.items.remove(&(entity, id)).is_some()
    };
    if !removed {
        return Err(item_not_found());
    }
    Ok(Reply::of(json!([])))
}

fn item_list(portal: &mut Portal, ctx: &mut Ctx, params: &Params) -> Outcome {
    let entity = entity_type(params)?;
    let query = ListQuery::parse(params, "id")?;
    let select = Select::new(&params.list("select"), false);
    let (items, page) = if entity == DEAL_TYPE {
        let store = &portal.deals;
        let rows = store.range(query.lo, query.hi, query.descending());
        let page = query.run(rows, |(id, deal), field| {
            deal_item_field(store, *id, deal, field)
        });
        let items: Vec<Value> = page
            .rows
            .iter()
            .map(|(id, deal)| Value::Object(select.apply(&deal_as_item(&store.classic(*id, deal)))))
            .collect();
        (items, (page.total, page.next, page.examined))
    } else {
        let rows: Box<dyn Iterator<Item = &Map<String, Value>>> = if query.lo > query.hi {
            Box::new(std::iter::empty())
        } else {
            let range = portal
                .items
                .range((entity, query.lo)..=(entity, query.hi))
                .map(|(_, item)| item);
            if query.descending() {
                Box::new(range.rev())
            } else {
                Box::new(range)
            }
        };
        let page = query.run(rows, |item, field| {
            item.get(field).cloned().unwrap_or(Value::Null)
        });
        let items: Vec<Value> = page
            .rows
            .iter()
            .map(|item| Value::Object(select.apply(item)))
            .collect();
        (items, (page.total, page.next, page.examined))
    };
    let (total, next, examined) = page;
    ctx.examined = examined;
    Ok(Reply {
        result: Res::Value(json!({ "items": items })),
        total,
        next,
    })
}

fn item_fields(_: &mut Portal, _: &mut Ctx, params: &Params) -> Outcome {
    let _ = entity_type(params)?;
    let fields: Map<String, Value> = DEAL_FIELDS
        .iter()
        .map(|(name, kind)| (camel_name(name), field_description(name, kind)))
        .collect();
    Ok(Reply::of(json!({ "fields": fields })))
}

/// A deal field by its `crm.item.*` name, typed as `crm.item.*` shows it.
fn deal_item_field(store: &DealStore, id: i64, deal: &Deal, camel: &str) -> Value {
    if camel == "entityTypeId" {
        return json!(DEAL_TYPE);
    }
    let upper = match DEAL_FIELDS.iter().find(|(n, _)| camel_name(n) == camel) {
        Some((name, _)) => (*name).to_owned(),
        None => match store.extra_names(deal).find(|k| camel_name(k) == camel) {
            Some(name) => name.clone(),
            None => return Value::Null,
        },
    };
    let value = store.field(id, deal, &upper);
    typed_item_value(&upper, &value)
}

/// A stored deal as `crm.item.*` shows it: camelCase names, numbers as numbers.
fn deal_as_item(deal: &Map<String, Value>) -> Map<String, Value> {
    let mut item = Map::with_capacity(deal.len() + 1);
    item.insert("entityTypeId".into(), json!(DEAL_TYPE));
    for (key, value) in deal {
        item.insert(camel_name(key), typed_item_value(key, value));
    }
    item
}

fn typed_item_value(key: &str, value: &Value) -> Value {
    let kind = DEAL_FIELDS
        .iter()
        .find(|(n, _)| *n == key)
        .map(|(_, k)| *k)
        .unwrap_or("string");
    match kind {
        "integer" | "user" | "crm_company" | "crm_contact" | "crm_category" => {
            int(value).map(Value::from).unwrap_or(Value::Null)
        }
        "double" => float(value).map(Value::from).unwrap_or(Value::Null),
        _ => value.clone(),
    }
}

/// `ASSIGNED_BY_ID` -> `assignedById`, `UF_CRM_1_X` -> `ufCrm1X`.
pub(crate) fn camel_name(upper: &str) -> String {
    if let Some((_, camel)) = CAMEL_EXCEPTIONS.iter().find(|(u, _)| *u == upper) {
        return (*camel).to_owned();
    }
    let mut out = String::with_capacity(upper.len());
    for (i, part) in upper.split('_').filter(|p| !p.is_empty()).enumerate() {
        let lower = part.to_ascii_lowercase();
        if i == 0 {
            out.push_str(&lower);
        } else {
            let mut chars = lower.chars();
            if let Some(first) = chars.next() {
                out.push(first.to_ascii_uppercase());
                out.extend(chars);
            }
        }
    }
    out
}

/// The inverse of [`camel_name`].
pub(crate) fn upper_name(camel: &str) -> String {
    if let Some((upper, _)) = CAMEL_EXCEPTIONS.iter().find(|(_, c)| *c == camel) {
        return (*upper).to_owned();
    }
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

// ------------------------------------------------------------------ list machinery

/// `select`: the fields to return. Empty or `*` means every standard field; `UF_*` adds
/// user fields; the id is always returned.
struct Select {
    all: bool,
    user_fields: bool,
    fields: Vec<String>,
}

impl Select {
    fn new(select: &[Value], classic: bool) -> Self {
        let names: Vec<String> = select.iter().filter_map(text).collect();
        let all = names.is_empty() || names.iter().any(|n| n == "*");
        let user_fields = names
            .iter()
            .any(|n| n.eq_ignore_ascii_case("UF_*") || n == "uf*");
        let mut fields: Vec<String> = names.into_iter().filter(|n| n != "*").collect();
        fields.push(if classic { "ID" } else { "id" }.to_owned());
        Self {
            all,
            user_fields,
            fields,
        }
    }

    fn keeps(&self, key: &str) -> bool {
        let user_field = key.starts_with("UF_") || key.starts_with("uf");
        (self.all && !user_field)
            || (user_field && self.user_fields)
            || self.fields.iter().any(|f| f == key)
    }

    fn apply(&self, row: &Map<String, Value>) -> Map<String, Value> {
        row.iter()
            .filter(|(k, _)| self.keeps(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_names_round_trip() {
        for upper in [
            "ASSIGNED_BY_ID",
            "TITLE",
            "DATE_CREATE",
            "IS_MANUAL_OPPORTUNITY",
            "BEGINDATE",
        ] {
            assert_eq!(upper_name(&camel_name(upper)), upper);
        }
        assert_eq!(camel_name("ASSIGNED_BY_ID"), "assignedById");
        assert_eq!(camel_name("DATE_MODIFY"), "updatedTime");
    }
}
