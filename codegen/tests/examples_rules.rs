//! `import` and `drift` with the docs' examples learned into the facts
//! (`Facts::learn_from_examples`): array or object judged from the request examples, the full
//! answer examples, deprecation notes in any case, params under an unusual heading, event names
//! as portals send them, and shape differences against the examples.

use std::path::{Path, PathBuf};

use bitrix24_codegen::{DriftKind, Examples, Exclusions, Facts, Schema, drift, import, load_dir};

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema")
}

/// A scratch schema directory holding copies of the given files of the real schema.
fn scratch(name: &str, files: &[&str]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("b24-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for file in files {
        std::fs::copy(schema_dir().join(file), dir.join(file)).unwrap();
    }
    dir
}

/// Facts for two new methods and a new event, as the facts file would have them: `fields` is
/// an `array` in the table, `rpa.thing.get` has no params (its table is under "Thing
/// Parameters"), and nothing is deprecated.
fn new_facts() -> Facts {
    Facts::parse(
        r#"{"source": "test", "methods": [
  {"name": "crm.thing.add", "scope": "crm", "doc": "api-reference/crm/thing-add.md",
   "params": [{"name": "fields", "type": "array", "required": true}], "result": "integer"},
  {"name": "crm.thing.get", "scope": "crm", "doc": "api-reference/crm/thing-get.md",
   "params": [], "result": "object"}
 ],
 "events": [
  {"name": "onThingDelete", "scope": "crm", "doc": "api-reference/crm/events/on-crm-thing-delete.md",
   "payload": [{"name": "data", "type": "object", "required": false,
                "fields": [{"name": "ID", "type": "integer", "required": false}]}]}
 ]}"#,
    )
    .unwrap()
}

/// What `bitrix24-codegen examples` would have read from those pages.
const EXAMPLES: &str = r#"{"kind":"source","source":"test"}
{"kind":"request","scope":"crm","name":"crm.thing.add","doc":"api-reference/crm/thing-add.md","line":40,"from":["curl"],"body":{"fields":{"TITLE":"A thing","PHONE":[{"VALUE":"555","VALUE_TYPE":"WORK"}]}}}
{"kind":"response","scope":"crm","name":"crm.thing.get","doc":"api-reference/crm/thing-get.md","line":90,"from":["json"],"body":{"result":{"ID":"7","NAME":"A thing","TAGS":["a","b"]}}}
{"kind":"page","scope":"crm","name":"crm.thing.get","doc":"api-reference/crm/thing-get.md","deprecation":"Deprecated method","use_instead":"crm.item.get","params_heading":"Thing Parameters","params":[{"name":"id","type":"integer","required":true}]}
{"kind":"event","scope":"crm","name":"onThingDelete","doc":"api-reference/crm/events/on-crm-thing-delete.md","line":25,"from":["json"],"body":{"event":"ONCRMTHINGDELETE","data":{"ID":"10"},"ts":"1751285952"}}
"#;

fn learned() -> Facts {
    let mut facts = new_facts();
    facts.learn_from_examples(&Examples::parse(EXAMPLES).unwrap());
    facts
}

#[test]
fn the_examples_correct_the_facts() {
    let facts = learned();
    let add = facts.find("crm.thing.add", false).unwrap();
    assert_eq!(
        add.params[0].ty.as_deref(),
        Some("object"),
        "the examples send an object"
    );
    assert_eq!(add.params[0].table_ty.as_deref(), Some("array"));
    let get = facts.find("crm.thing.get", false).unwrap();
    assert!(get.deprecated);
    assert_eq!(get.use_instead.as_deref(), Some("crm.item.get"));
    assert_eq!(get.params.len(), 1, "the params under the unusual heading");
    assert_eq!(get.results.len(), 1);
    assert!(get.result_example.is_some());
    let event = facts
        .find_event("ONCRMTHINGDELETE")
        .expect("found by the name portals send");
    assert_eq!(event.name, "onThingDelete");
    assert_eq!(event.wire_name(), "ONCRMTHINGDELETE");
}

#[test]
fn import_types_new_entries_by_the_examples() {
    let dir = scratch("import-examples", &["common.toml", "crm.toml"]);
    let before = load_dir(&dir).expect("copied schema loads");
    let imported = import(&learned(), &dir, Some(&before), &Exclusions::default()).unwrap();
    assert_eq!(imported.methods.len(), 2);
    assert_eq!(
        imported.events,
        [("crm".to_owned(), "ONCRMTHINGDELETE".to_owned())]
    );
    imported.write().unwrap();
    let after = load_dir(&dir).unwrap_or_else(|d| panic!("imported schema loads:\n{d}"));
    let crm = std::fs::read_to_string(dir.join("crm.toml")).unwrap();
    let tail = &crm[crm.len() - 2500..];
    for expected in [
        // An object, not `list<any>`, for the table's `array`.
        "{ name = \"fields\", type = \"map<any>\", required = true }",
        "deprecated = \"crm.item.get\"",
        "{ name = \"id\", type = \"int\", required = true }",
        "name = \"ONCRMTHINGDELETE\"\nrust = \"OnCrmThingDelete\"",
        // The result struct inferred from the full answer example.
        "{ name = \"TAGS\", type = \"list<string>\" }",
    ] {
        assert!(crm.contains(expected), "{expected}\n{tail}");
    }
    // Importing again adds nothing: the event is known by either name.
    let again = import(&learned(), &dir, Some(&after), &Exclusions::default()).unwrap();
    assert!(again.methods.is_empty() && again.events.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A schema with the two methods and the event typed the way the issue found them: `fields` a
/// list, `result` a list, the event under the heading's name, nothing deprecated.
fn stale_schema() -> (PathBuf, Schema) {
    let dir = scratch("drift-examples", &["common.toml"]);
    std::fs::write(
        dir.join("crm.toml"),
        r#"scope = "crm"

[[method]]
name = "crm.thing.add"
description = "Adds a thing."
doc = "api-reference/crm/thing-add.md"
result = "int"
params = [{ name = "fields", type = "ThingFields", required = true }]

[[method]]
name = "crm.thing.get"
description = "Gets a thing."
doc = "api-reference/crm/thing-get.md"
result = "list<Thing>"
idempotent = true
params = [{ name = "id", type = "int", required = true }]

[[event]]
name = "onThingDelete"
description = "A thing was deleted."
doc = "api-reference/crm/events/on-crm-thing-delete.md"
data = "ThingRef"

[[type]]
name = "ThingFields"
description = "A thing to add."
fields = [{ name = "TITLE", type = "string" }, { name = "PHONE", type = "Phone" }]

[[type]]
name = "Phone"
description = "One phone."
fields = [{ name = "VALUE", type = "string" }]

[[type]]
name = "Thing"
description = "A thing."
fields = [{ name = "ID", type = "int" }]

[[type]]
name = "ThingRef"
description = "Which thing."
fields = [{ name = "ID", type = "int" }]
"#,
    )
    .unwrap();
    let schema = load_dir(&dir).unwrap_or_else(|d| panic!("{d}"));
    (dir, schema)
}

#[test]
fn drift_reports_shapes_names_and_notes_against_the_examples() {
    let (dir, schema) = stale_schema();
    let report = drift(&schema, &learned(), &Exclusions::default());
    let found: Vec<String> = report.unexplained.iter().map(ToString::to_string).collect();
    for expected in [
        "crm.thing.add: shape differs: fields.PHONE: schema `Phone` (object), the docs' example is a list",
        "crm.thing.get: shape differs: result: schema `list<Thing>` (list), the docs' example is an object",
        "crm.thing.get: deprecation changed: schema: not deprecated, docs: deprecated for crm.item.get",
        "event onThingDelete: event renamed: portals send ONCRMTHINGDELETE; the schema names it onThingDelete (as the page heading does)",
    ] {
        assert!(
            found.iter().any(|f| f == expected),
            "{expected}\nin:\n{}",
            found.join("\n")
        );
    }
    assert!(
        report
            .unexplained
            .iter()
            .all(|d| d.kind != DriftKind::EventAdded && d.kind != DriftKind::EventRemoved)
    );
    // Without the examples, the same facts see none of it.
    let blind = drift(&schema, &new_facts(), &Exclusions::default());
    assert!(
        blind
            .unexplained
            .iter()
            .all(|d| d.kind != DriftKind::ShapeDiffers && d.kind != DriftKind::EventRenamed)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn drift_with_the_committed_examples_runs_from_the_cli() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bitrix24-codegen"))
        .args(["drift", "--examples"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let facts = schema_dir().join("facts/methods.json");
    let examples = schema_dir().join("facts/examples");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bitrix24-codegen"))
        .args([
            "drift",
            facts.to_str().unwrap(),
            schema_dir().to_str().unwrap(),
            "--examples",
        ])
        .arg(&examples)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("unexplained differences: "), "{stdout}");
    // The exit status says whether the schema agrees with the examples; either way it is
    // drift's verdict, not an error reading them.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
