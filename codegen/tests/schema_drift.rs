//! `drift` and `import` against the committed facts snapshot: the shipped schema has no
//! unexplained differences, and each kind of docs change shows up as one.

use std::path::{Path, PathBuf};

use bitrix24_codegen::{
    DriftKind, Exclusions, FactEvent, FactParam, Facts, Schema, drift, import, load_dir,
};

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema")
}

fn schema() -> Schema {
    load_dir(&schema_dir()).unwrap_or_else(|d| panic!("schema/ has errors:\n{d}"))
}

fn facts() -> Facts {
    Facts::load(&schema_dir().join("facts/methods.json")).expect("the committed facts load")
}

fn exclusions() -> Exclusions {
    Exclusions::load(&schema_dir().join("facts/excluded.toml")).expect("the exclusions load")
}

#[test]
fn the_schema_matches_the_committed_facts() {
    let report = drift(&schema(), &facts(), &exclusions());
    assert!(
        report.unexplained.is_empty(),
        "unexplained differences:\n{report}"
    );
    // Every explanation is the exclusion list or a note.
    assert!(report.explained.iter().all(|d| d.explanation.is_some()));
    assert!(
        report
            .explained
            .iter()
            .any(|d| d.method == "batch" && d.kind == DriftKind::MethodAdded)
    );
}

#[test]
fn every_documented_method_is_in_the_schema_or_excluded() {
    let schema = schema();
    let excluded = exclusions();
    let facts = facts();
    let mut missing = Vec::new();
    for m in &facts.methods {
        let found = schema
            .files
            .iter()
            .flat_map(|f| &f.methods)
            .any(|s| s.name == m.name && s.rest_v3 == m.rest_v3);
        if !found && !excluded.contains(&m.name) {
            missing.push(m.name.clone());
        }
    }
    assert!(missing.is_empty(), "not in the schema: {missing:?}");
    let names: std::collections::BTreeSet<&str> =
        facts.methods.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names.len(), 1662, "distinct documented names");
    // Exclusions are rare and each has a reason.
    assert!(excluded.entries.len() <= 5, "{:?}", excluded.entries);
}

#[test]
fn each_kind_of_docs_change_is_reported() {
    let mut facts = facts();
    // A new method.
    let mut added = bitrix24_codegen::FactMethod::new(
        "crm.deal.archive",
        "crm",
        "api-reference/crm/deals/crm-deal-archive.md",
    );
    added.params.push(FactParam::new("id", "integer", true));
    facts.methods.push(added);
    // A method gone from the docs.
    facts.methods.retain(|m| m.name != "im.chat.mute");
    // A param retyped: imbot.message.add's MESSAGE becomes an object.
    let message_add = facts
        .methods
        .iter_mut()
        .find(|m| m.name == "imbot.message.add")
        .expect("documented");
    for p in &mut message_add.params {
        if p.name == "MESSAGE" {
            *p = FactParam::new("MESSAGE", "object", true);
        }
    }
    // A deprecation: profile is now outdated in favour of user.current.
    let profile = facts
        .methods
        .iter_mut()
        .find(|m| m.name == "profile")
        .expect("documented");
    profile.deprecated = true;
    profile.use_instead = Some("user.current".to_owned());
    // The report survives a round trip through the file format.
    let facts = Facts::parse(&facts.to_json()).expect("written facts parse");

    let report = drift(&schema(), &facts, &exclusions());
    let found: Vec<(String, DriftKind)> = report
        .unexplained
        .iter()
        .map(|d| (d.method.clone(), d.kind))
        .collect();
    assert_eq!(
        found,
        [
            ("crm.deal.archive".to_owned(), DriftKind::MethodAdded),
            ("im.chat.mute".to_owned(), DriftKind::MethodRemoved),
            ("imbot.message.add".to_owned(), DriftKind::ParamRetyped),
            ("profile".to_owned(), DriftKind::DeprecationChanged),
        ],
        "{report}"
    );
    let text = report.to_string();
    assert!(
        text.contains(
            "imbot.message.add: param retyped: MESSAGE: schema string (text), docs object (object)"
        ),
        "{text}"
    );
    assert!(text.contains("profile: deprecation changed: schema: not deprecated, docs: deprecated for user.current"), "{text}");
}

#[test]
fn import_adds_a_new_method_to_its_scope_file() {
    let dir = std::env::temp_dir().join(format!("b24-import-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["common.toml", "crm.toml"] {
        std::fs::copy(schema_dir().join(file), dir.join(file)).unwrap();
    }
    let before = load_dir(&dir).expect("copied schema loads");
    let mut facts = Facts::parse(r#"{"source": "test", "methods": []}"#).unwrap();
    let mut added = bitrix24_codegen::FactMethod::new(
        "crm.deal.archive",
        "crm",
        "api-reference/crm/deals/crm-deal-archive.md",
    );
    added.params.push(FactParam::new("id", "integer", true));
    added.result = Some("boolean".to_owned());
    facts.methods.push(added);
    let mut other = bitrix24_codegen::FactMethod::new(
        "newscope.thing.get",
        "newscope",
        "api-reference/newscope/thing-get.md",
    );
    other.params.push(FactParam::new("id", "integer", true));
    facts.methods.push(other);

    let imported = import(&facts, &dir, Some(&before), &Exclusions::default()).unwrap();
    assert_eq!(imported.methods.len(), 2);
    imported.write().unwrap();
    let after = load_dir(&dir).unwrap_or_else(|d| panic!("imported schema loads:\n{d}"));
    assert_eq!(after.method_count(), before.method_count() + 2);
    let crm = std::fs::read_to_string(dir.join("crm.toml")).unwrap();
    assert!(
        crm.contains("name = \"crm.deal.archive\"\ndescription = \"Archives the deal.\""),
        "{}",
        &crm[crm.len() - 400..]
    );
    assert!(dir.join("newscope.toml").exists());
    assert_eq!(imported.new_scopes, ["newscope"]);
    // Importing again adds nothing.
    let again = import(&facts, &dir, Some(&after), &Exclusions::default()).unwrap();
    assert!(again.methods.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_documented_event_is_in_the_schema_or_excluded() {
    let schema = schema();
    let excluded = exclusions();
    let facts = facts();
    assert_eq!(facts.events.len(), 228, "documented events");
    let mut missing = Vec::new();
    for e in &facts.events {
        let found = schema
            .files
            .iter()
            .flat_map(|f| &f.events)
            .any(|s| s.name.eq_ignore_ascii_case(&e.name));
        if !found && !excluded.contains_event(&e.name) {
            missing.push(e.name.clone());
        }
    }
    assert!(missing.is_empty(), "not in the schema: {missing:?}");
    // The exclusions are widget placements, which the docs list among the events, and two
    // names the docs title differently from what portals send.
    let placements = facts
        .events
        .iter()
        .filter(|e| e.doc.contains("/widgets/") || e.doc.contains("/embedding/"))
        .count();
    assert_eq!(
        excluded.events.len(),
        placements + 2,
        "{:?}",
        excluded.events
    );
    assert_eq!(schema.event_count(), 228 - excluded.events.len() + 2 + 8);
}

#[test]
fn each_kind_of_event_change_is_reported() {
    let mut facts = facts();
    let mut added = FactEvent::new(
        "onCrmDealArchive",
        "crm",
        "api-reference/crm/deals/events/on-crm-deal-archive.md",
    );
    added.payload.push(FactParam::new("data", "object", true));
    facts.events.push(added);
    facts.events.retain(|e| e.name != "onCrmDealDelete");
    for e in &mut facts.events {
        match e.name.as_str() {
            // A data field retyped and one added.
            "OnAppUpdate" => {
                let data = e.payload.iter_mut().find(|p| p.name == "data").unwrap();
                for f in &mut data.fields {
                    if f.name == "VERSION" {
                        *f = FactParam::new("VERSION", "object", true);
                    }
                }
                data.fields.push(FactParam::new("CHANNEL", "string", true));
            }
            // Deprecated now, and moved.
            "onCrmDealUpdate" => {
                e.deprecated = true;
                e.doc = "api-reference/crm/deals/events/on-deal-update.md".to_owned();
            }
            _ => {}
        }
    }
    let facts = Facts::parse(&facts.to_json()).expect("written facts parse");
    let report = drift(&schema(), &facts, &exclusions());
    let found: Vec<(String, DriftKind)> = report
        .unexplained
        .iter()
        .map(|d| (d.method.clone(), d.kind))
        .collect();
    assert_eq!(
        found,
        [
            ("event OnAppUpdate".to_owned(), DriftKind::DataFieldAdded),
            ("event OnAppUpdate".to_owned(), DriftKind::DataFieldRetyped),
            ("event onCrmDealArchive".to_owned(), DriftKind::EventAdded),
            ("event onCrmDealDelete".to_owned(), DriftKind::EventRemoved),
            ("event onCrmDealUpdate".to_owned(), DriftKind::DocMoved),
            (
                "event onCrmDealUpdate".to_owned(),
                DriftKind::DeprecationChanged
            ),
        ],
        "{report}"
    );
    let text = report.to_string();
    assert!(
        text.contains("event OnAppUpdate: data field retyped: VERSION: schema string (text), docs object (object)"),
        "{text}"
    );
    // Placements are explained by the exclusion list.
    assert!(report.explained.iter().any(|d| {
        d.method == "event CALL_CARD"
            && d.kind == DriftKind::EventAdded
            && d.explanation
                .as_deref()
                .is_some_and(|e| e.starts_with("excluded: A widget placement"))
    }));
}

#[test]
fn import_adds_a_new_event_with_its_data_types() {
    let dir = std::env::temp_dir().join(format!("b24-import-events-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["common.toml", "imbot.toml"] {
        std::fs::copy(schema_dir().join(file), dir.join(file)).unwrap();
    }
    let before = load_dir(&dir).expect("copied schema loads");
    let facts = Facts::parse(
        r#"{"source": "test", "methods": [], "events": [
  {"name": "ONIMBOTTYPING", "scope": "imbot", "doc": "api-reference/chat-bots/outdated/events/on-imbot-typing.md",
   "deprecated": true, "payload": [
    {"name": "event", "type": "string", "required": true},
    {"name": "data", "type": "object", "required": true, "fields": [
      {"name": "BOT", "type": "object", "required": false, "fields": [
        {"name": "{BOT_ID}", "type": "object", "required": false, "fields": [
          {"name": "access_token", "type": "string", "required": false},
          {"name": "BOT_ID", "type": "integer", "required": false}]}]},
      {"name": "SILENT", "type": "string", "required": false, "values": ["Y", "N"]}]},
    {"name": "data.DIALOG_ID", "type": "string", "required": false},
    {"name": "ts", "type": "timestamp", "required": true}]},
  {"name": "onBotPing", "scope": "imbot", "doc": "api-reference/chat-bots/on-bot-ping.md", "payload": []}
]}"#,
    )
    .unwrap();
    let imported = import(&facts, &dir, Some(&before), &Exclusions::default()).unwrap();
    assert_eq!(imported.events.len(), 2);
    imported.write().unwrap();
    let after = load_dir(&dir).unwrap_or_else(|d| panic!("imported schema loads:\n{d}"));
    assert_eq!(after.event_count(), before.event_count() + 2);
    let imbot = std::fs::read_to_string(dir.join("imbot.toml")).unwrap();
    let tail = &imbot[imbot.len() - 1200..];
    for expected in [
        "name = \"ONIMBOTTYPING\"\nrust = \"OnImbotTyping\"\n",
        "data = \"OnImbotTypingData\"\ndeprecated = true\n",
        "name = \"onBotPing\"\ndescription = \"Bot ping.\"",
        "data = \"any\"",
        "{ name = \"BOT\", type = \"map<OnImbotTypingDataBot>\" }",
        "{ name = \"access_token\", type = \"secret\" }",
        "{ name = \"SILENT\", type = \"yn\" }",
        "{ name = \"DIALOG_ID\", type = \"string\" }",
    ] {
        assert!(imbot.contains(expected), "{expected}\n{tail}");
    }
    // Importing again adds nothing.
    let again = import(&facts, &dir, Some(&after), &Exclusions::default()).unwrap();
    assert!(again.events.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
