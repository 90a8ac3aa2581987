//! Broken schemas and the exact diagnostics they produce: each names the file and the item, and
//! every problem is reported, not just the first.

use std::path::Path;

use bitrix24_codegen::{Source, load_dir, load_sources};

/// Loads in-memory files that must fail, and returns the diagnostics as text.
fn errors(files: &[(&str, &str)]) -> Vec<String> {
    let sources: Vec<Source> = files
        .iter()
        .map(|(path, text)| Source {
            path: (*path).to_owned(),
            text: (*text).to_owned(),
        })
        .collect();
    match load_sources(&sources) {
        Ok(_) => panic!("the schema should not load"),
        Err(diagnostics) => diagnostics.iter().map(ToString::to_string).collect(),
    }
}

/// An imbot.toml with one method whose params (TOML array body) are given.
fn imbot_with_params(params: &str) -> String {
    format!(
        r#"scope = "imbot"

[[method]]
name = "imbot.message.add"
description = "Posts a message."
doc = "api-reference/imbot-message-add.md"
result = "int"
params = [{params}]
"#
    )
}

const IMBOT: &str = "schema/imbot.toml";

#[test]
fn unknown_type() {
    let text = imbot_with_params(r#"{ name = "ATTACH", type = "Atach" }"#);
    assert_eq!(
        errors(&[(IMBOT, &text)]),
        ["schema/imbot.toml: method imbot.message.add: param ATTACH: unknown type \"Atach\""]
    );
}

#[test]
fn unknown_lowercase_type_lists_the_scalars() {
    let text = imbot_with_params(r#"{ name = "BOT_ID", type = "integer" }"#);
    assert_eq!(
        errors(&[(IMBOT, &text)]),
        [
            "schema/imbot.toml: method imbot.message.add: param BOT_ID: unknown type \"integer\" (scalar types are: \
             string, int, int_str, float, bool, yn, date, datetime, file, file_data, file_name_content, base64, \
             filter, dialog_id, secret, any, null)"
        ]
    );
}

#[test]
fn malformed_type_expressions() {
    let text = imbot_with_params(
        r#"{ name = "A", type = "list<" }, { name = "B", type = "map<int" }, { name = "C", type = "Bot<int>" }"#,
    );
    assert_eq!(
        errors(&[(IMBOT, &text)]),
        [
            "schema/imbot.toml: method imbot.message.add: param A: malformed type \"list<\": expected a type after \"list<\"",
            "schema/imbot.toml: method imbot.message.add: param B: malformed type \"map<int\": missing \">\" to close \"map<\"",
            "schema/imbot.toml: method imbot.message.add: param C: malformed type \"Bot<int>\": only list<T>, map<T> and \
             option<T> take a type argument, not \"Bot\"",
        ]
    );
}

#[test]
fn null_and_option_describe_whole_results_only() {
    let text = imbot_with_params(
        r#"{ name = "A", type = "option<int>" }, { name = "B", type = "list<null>" }"#,
    )
    .replace(r#"result = "int""#, r#"result = "list<option<int>>""#);
    assert_eq!(
        errors(&[(IMBOT, &text)]),
        [
            "schema/imbot.toml: method imbot.message.add: param A: \"option\" is only for method results; leave the \"option<int>\" value optional instead",
            "schema/imbot.toml: method imbot.message.add: param B: \"null\" is only for method results; leave the \"list<null>\" value optional instead",
            "schema/imbot.toml: method imbot.message.add: result: \"option\" may only stand for the whole result, not inside \"list<option<int>>\"",
        ]
    );
}

#[test]
fn unknown_keys_anywhere() {
    let text = r#"scope = "imbot"
methods = []

[[method]]
name = "imbot.message.add"
description = "Posts a message."
doc = "api-reference/imbot-message-add.md"
result = "int"
retries = 3
params = [{ name = "BOT_ID", type = "int", requried = true }]

[[type]]
name = "Kind"
description = "A kind."
values = [{ value = "A", name = "A", description = "Oops." }]
"#;
    assert_eq!(
        errors(&[(IMBOT, text)]),
        [
            "schema/imbot.toml: unknown key \"methods\" (did you mean \"method\"?)",
            "schema/imbot.toml: method imbot.message.add: unknown key \"retries\" (expected one of: name, rust, \
             description, doc, params, result, paging, items, id_field, idempotent, batchable, deprecated, rest_v3, positional, open, note, untyped)",
            "schema/imbot.toml: method imbot.message.add: param BOT_ID: unknown key \"requried\" (did you mean \"required\"?)",
            "schema/imbot.toml: type Kind: value A: unknown key \"description\" (expected one of: value, name, doc)",
        ]
    );
}

#[test]
fn wrong_value_kinds() {
    let text = r#"scope = "imbot"

[[method]]
name = "imbot.message.add"
description = "Posts a message."
doc = "api-reference/imbot-message-add.md"
result = "int"
idempotent = "yes"
deprecated = 1
params = { name = "X" }
"#;
    assert_eq!(
        errors(&[(IMBOT, text)]),
        [
            "schema/imbot.toml: method imbot.message.add: \"deprecated\" must be true or the name of the replacement \
             method, not an integer",
            "schema/imbot.toml: method imbot.message.add: \"params\" must be an array of tables, not a table",
            "schema/imbot.toml: method imbot.message.add: \"idempotent\" must be true or false, not a string",
        ]
    );
}

#[test]
fn duplicate_method_across_files() {
    let im = r#"scope = "im"

[[method]]
name = "imbot.message.add"
description = "Posts a message."
doc = "api-reference/imbot-message-add.md"
result = "int"
"#;
    let imbot = imbot_with_params("");
    assert_eq!(
        errors(&[("schema/im.toml", im), (IMBOT, &imbot)]),
        [
            "schema/imbot.toml: method imbot.message.add: duplicate method (first declared in schema/im.toml)"
        ]
    );
}

#[test]
fn duplicate_rust_names() {
    let text = r#"scope = "imbot"

[[method]]
name = "imbot.message.add"
description = "Posts a message."
doc = "api-reference/imbot-message-add.md"
result = "int"
params = [{ name = "DIALOG_ID", type = "dialog_id" }, { name = "dialogId", type = "string" }]

[[method]]
name = "imbot.messageAdd"
description = "The same, spelled differently."
doc = "api-reference/imbot-message-add.md"
result = "int"
"#;
    assert_eq!(
        errors(&[(IMBOT, text)]),
        [
            "schema/imbot.toml: method imbot.message.add: param dialogId: Rust name \"dialog_id\" is also used by param DIALOG_ID",
            "schema/imbot.toml: method imbot.messageAdd: Rust name \"imbot_message_add\" is also used by method imbot.message.add",
        ]
    );
}

#[test]
fn duplicate_params_and_types() {
    let text = r#"scope = "imbot"

[[method]]
name = "imbot.message.add"
description = "Posts a message."
doc = "api-reference/imbot-message-add.md"
result = "int"
params = [{ name = "BOT_ID", type = "int" }, { name = "BOT_ID", rust = "bot", type = "int" }]

[[type]]
name = "Bot"
description = "A bot."
fields = []

[[type]]
name = "Bot"
description = "Another bot."
fields = []
"#;
    assert_eq!(
        errors(&[(IMBOT, text)]),
        [
            "schema/imbot.toml: method imbot.message.add: param BOT_ID: duplicate param name",
            "schema/imbot.toml: type Bot: duplicate type name (first declared in schema/imbot.toml)",
        ]
    );
}

#[test]
fn type_of_another_scope() {
    let crm = r#"scope = "crm"

[[type]]
name = "Deal"
description = "A deal."
fields = [{ name = "ID", type = "int", required = true }]
"#;
    let imbot = r#"scope = "imbot"

[[method]]
name = "imbot.deal.get"
description = "Reads a deal."
doc = "api-reference/imbot-deal-get.md"
result = "list<Deal>"
"#;
    assert_eq!(
        errors(&[("schema/crm.toml", crm), (IMBOT, imbot)]),
        [
            "schema/imbot.toml: method imbot.deal.get: result: type \"Deal\" is declared in schema/crm.toml; a type \
             used by two scopes belongs in common.toml"
        ]
    );
}

#[test]
fn common_toml_holds_types_only() {
    let common = r#"scope = "common"

[[method]]
name = "app.info"
description = "Describes the app."
doc = "api-reference/app-info.md"
result = "any"
"#;
    let other = "scope = \"common\"\n";
    assert_eq!(
        errors(&[
            ("schema/common.toml", common),
            ("schema/shared.toml", other)
        ]),
        [
            "schema/common.toml: method app.info: methods are not allowed in common.toml (it holds shared types only)",
            "schema/shared.toml: scope \"common\" is reserved for common.toml",
            "schema/shared.toml: scope \"common\" is also declared in schema/common.toml",
        ]
    );
}

#[test]
fn toml_syntax_error_has_line_and_column() {
    let text = "scope = \"imbot\"\n\n[[method]\nname = \"x\"\n";
    assert_eq!(
        errors(&[(IMBOT, text)]),
        ["schema/imbot.toml:3:10: TOML syntax error: unclosed array table, expected `]`"]
    );
}

#[test]
fn missing_and_empty_descriptions() {
    let text = r#"scope = "imbot"
description = ""

[[method]]
name = "imbot.message.add"
doc = "api-reference/imbot-message-add.md"
result = "int"

[[type]]
name = "Bot"
description = "  "
fields = []

[[type]]
name = "Kind"
description = """Two
lines."""
values = [{ value = "A", name = "A" }]
"#;
    assert_eq!(
        errors(&[(IMBOT, text)]),
        [
            "schema/imbot.toml: empty description",
            "schema/imbot.toml: method imbot.message.add: missing required key \"description\"",
            "schema/imbot.toml: type Bot: empty description",
            "schema/imbot.toml: type Kind: description must be one line",
        ]
    );
}

#[test]
fn names_that_cannot_become_rust() {
    let text = r#"scope = "imbot"

[[method]]
name = "imbot.message.add"
description = "Posts a message."
doc = "api-reference/imbot-message-add.md"
result = "int"
params = [
  { name = ">ID", type = "int" },
  { name = "TYPE", rust = "type", type = "string" },
  { name = "PARAMS", type = "any" },
  { name = "NEW", type = "any" },
  { name = "FOO", rust = "Foo", type = "any" },
]

[[method]]
name = "batch"
description = "Runs many methods."
doc = "api-reference/batch.md"
result = "any"
"#;
    assert_eq!(
        errors(&[(IMBOT, text)]),
        [
            "schema/imbot.toml: method imbot.message.add: param >ID: cannot derive a Rust name from \">ID\"; set \"rust\"",
            "schema/imbot.toml: method imbot.message.add: param TYPE: rust \"type\" is a Rust keyword; use \"type_\"",
            "schema/imbot.toml: method imbot.message.add: param PARAMS: Rust name \"params\" is taken by the request's \
             own methods; set \"rust\" to another name",
            "schema/imbot.toml: method imbot.message.add: param NEW: Rust name \"new\" is taken by the request's own \
             methods; set \"rust\" to another name",
            "schema/imbot.toml: method imbot.message.add: param FOO: rust \"Foo\" is not a snake_case Rust name",
            "schema/imbot.toml: method batch: Rust name \"batch\" is taken by the runtime's Client; set \"rust\" to \
             another name",
        ]
    );
}

#[test]
fn method_level_values() {
    let text = r#"scope = "imbot"

[[method]]
name = "imbot.message.add"
description = "Posts a message."
doc = "https://apidocs.bitrix24.com/imbot-message-add.html"
result = "int"
paging = "offset"
deprecated = "imbot.message.add"
"#;
    assert_eq!(
        errors(&[(IMBOT, text)]),
        [
            "schema/imbot.toml: method imbot.message.add: doc \"https://apidocs.bitrix24.com/imbot-message-add.html\" \
             must be a page path in the docs repository, ending in \".md\"",
            "schema/imbot.toml: method imbot.message.add: paging \"offset\" must be \"none\", \"start\" or \"keyset\"",
            "schema/imbot.toml: method imbot.message.add: deprecated names the method itself as its replacement",
        ]
    );
}

#[test]
fn named_type_rules() {
    let text = r#"scope = "imbot"

[[type]]
name = "Empty"
description = "An enum without values."
values = []

[[type]]
name = "Both"
description = "Fields and values."
fields = []
values = [{ value = "A", name = "A" }]

[[type]]
name = "Neither"
description = "No shape."

[[type]]
name = "Kind"
description = "Bad variants."
open = true
values = [
  { value = "A", name = "Unknown" },
  { value = "A", name = "Second" },
  { value = "", name = "third" },
]

[[type]]
name = "String"
description = "Shadows std."
fields = []

[[type]]
name = "Node"
description = "Holds itself."
fields = [{ name = "NEXT", type = "Node" }, { name = "ALL", type = "list<Node>" }]
"#;
    assert_eq!(
        errors(&[(IMBOT, text)]),
        [
            "schema/imbot.toml: type Empty: an enum needs at least one value",
            "schema/imbot.toml: type Both: a type has \"fields\" (a struct) or \"values\" (an enum), not both",
            "schema/imbot.toml: type Neither: missing \"fields\" (for a struct) or \"values\" (for an enum)",
            "schema/imbot.toml: type Kind: \"open\" is only for structs",
            "schema/imbot.toml: type Kind: value A: name \"Unknown\" is reserved for values the schema does not know",
            "schema/imbot.toml: type Kind: value A: duplicate value",
            "schema/imbot.toml: type Kind: value #3: \"\" is not an enum value",
            "schema/imbot.toml: type Kind: value #3: name \"third\" is not a PascalCase Rust name",
            "schema/imbot.toml: type String: type name \"String\" would shadow Rust's own `String`",
            "schema/imbot.toml: type Node: contains itself (Node -> Node) without a list or map in between",
        ]
    );
}

#[test]
fn request_type_clashes_with_a_type() {
    let text = r#"scope = "basic"

[[method]]
name = "profile"
description = "The caller's profile."
doc = "api-reference/profile.md"
result = "Profile"

[[type]]
name = "Profile"
description = "A profile."
fields = []
"#;
    assert_eq!(
        errors(&[("schema/basic.toml", text)]),
        [
            "schema/basic.toml: method profile: request type \"Profile\" clashes with the type of that name in this \
             file; rename the type (or set \"rust\" on the method)"
        ]
    );
}

#[test]
fn scope_rules() {
    assert_eq!(
        errors(&[
            ("schema/common.toml", "scope = \"shared\"\n"),
            ("schema/x.toml", "scope = \"Sign B2E\"\n")
        ]),
        [
            "schema/common.toml: common.toml must declare scope = \"common\", not \"shared\"",
            "schema/x.toml: scope \"Sign B2E\" does not make a module name (\"Sign B2E\" is not a snake_case Rust \
             name); use lowercase letters, digits, \"_\" and \".\"",
        ]
    );
    assert_eq!(
        errors(&[("schema/x.toml", "description = \"No scope.\"\n")]),
        ["schema/x.toml: missing required key \"scope\""]
    );
    assert_eq!(
        errors(&[("schema/wire.toml", "scope = \"wire\"\n")]),
        ["schema/wire.toml: scope \"wire\" would be hidden by the runtime's own `wire` module"]
    );
}

#[test]
fn every_problem_in_every_file_is_reported() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/broken");
    let diagnostics = load_dir(&dir).expect_err("the broken fixture must not load");
    let text = diagnostics
        .to_string()
        .replace(&format!("{}/", dir.display()), "");
    assert_eq!(
        text,
        "\
a.toml:4:14: TOML syntax error: invalid basic string, expected `\"`
b.toml: method b.one: param X: unknown type \"Nope\"
b.toml: method b.two: missing required key \"description\"
b.toml: method b.two: result: malformed type \"map<\": expected a type after \"map<\""
    );
}

#[test]
fn a_missing_directory_is_a_diagnostic() {
    let diagnostics = load_dir(Path::new("/nonexistent/schema")).expect_err("no such directory");
    let text = diagnostics.to_string();
    assert!(
        text.starts_with("/nonexistent/schema: cannot read the schema directory: "),
        "{text}"
    );
}

#[test]
fn paged_methods_must_say_where_their_rows_are() {
    let method = |extra: &str, result: &str| {
        format!(
            "scope = \"crm\"\n\n[[method]]\nname = \"crm.thing.list\"\ndescription = \"Lists things.\"\n\
             doc = \"api-reference/crm-thing-list.md\"\nresult = \"{result}\"\n{extra}\n\n\
             [[type]]\nname = \"Page\"\ndescription = \"A page.\"\nfields = [{{ name = \"rows\", type = \"list<int>\" }}]\n"
        )
    };
    assert_eq!(
        errors(&[("schema/crm.toml", &method("paging = \"start\"", "int"))]),
        [
            "schema/crm.toml: method crm.thing.list: a paged method's result must be list<T>, or name its row list with \"items\""
        ]
    );
    assert_eq!(
        errors(&[(
            "schema/crm.toml",
            &method("paging = \"keyset\"\nitems = \"items\"", "list<int>")
        )]),
        [
            "schema/crm.toml: method crm.thing.list: \"items\" names a field of the result, so the result must be a named struct"
        ]
    );
    assert_eq!(
        errors(&[(
            "schema/crm.toml",
            &method("paging = \"keyset\"\nitems = \"items\"", "Page")
        )]),
        [
            "schema/crm.toml: method crm.thing.list: items \"items\": the result type Page has no list<T> field \"items\""
        ]
    );
    assert_eq!(
        errors(&[("schema/crm.toml", &method("id_field = \"id\"", "Page"))]),
        [
            "schema/crm.toml: method crm.thing.list: \"items\" and \"id_field\" only apply to methods with paging"
        ]
    );
}

#[test]
fn a_name_may_exist_once_per_api_and_rest_v3_is_never_positional() {
    let method = |rust: &str, extra: &str| {
        format!(
            "[[method]]\nname = \"tasks.task.get\"\nrust = \"{rust}\"\ndescription = \"Returns a task.\"\ndoc = \"api-reference/t.md\"\nresult = \"any\"\n{extra}\n"
        )
    };
    let text = format!(
        "scope = \"tasks\"\n{}{}{}",
        method("tasks_task_get", ""),
        method("tasks_task_get_v3", "rest_v3 = true"),
        method("tasks_task_get_again", "rest_v3 = true\npositional = true"),
    );
    assert_eq!(
        errors(&[("schema/tasks.toml", &text)]),
        [
            "schema/tasks.toml: method tasks.task.get: duplicate method (first declared in schema/tasks.toml)",
            "schema/tasks.toml: method tasks.task.get: a REST 3.0 method reads JSON by name; \"positional\" is for classic methods",
        ]
    );
}

/// An imbot.toml with a `Bot` data type and the given `[[event]]` tables after it.
fn imbot_with_events(events: &str) -> String {
    format!(
        r#"scope = "imbot"

[[type]]
name = "BotData"
description = "What a bot event sends."
open = true
fields = [{{ name = "BOT_ID", type = "int" }}]
{events}"#
    )
}

#[test]
fn event_diagnostics_name_the_event_and_its_data() {
    let text = imbot_with_events(
        r#"
[[event]]
name = "ONIMBOTMESSAGEADD"
rust = "OnImbotMessageAdd"
description = "A message."
doc = "api-reference/on-imbot-message-add.md"
data = "BotDta"
retries = 3

[[event]]
name = "ONIMBOTDELETE"
description = "The bot was deleted."
doc = "api-reference/on-imbot-delete.md"
data = "BotData"

[[event]]
name = "onImbot Join"
description = "Two\nlines."
doc = "on-imbot-join"
data = "list<"
deprecated = 7
"#,
    );
    assert_eq!(
        errors(&[(IMBOT, &text)]),
        [
            "schema/imbot.toml: event ONIMBOTMESSAGEADD: unknown key \"retries\" (expected one of: name, rust, \
             description, doc, data, deprecated, note)",
            "schema/imbot.toml: event ONIMBOTMESSAGEADD: data: unknown type \"BotDta\"",
            "schema/imbot.toml: event ONIMBOTDELETE: cannot derive a Rust name from \"ONIMBOTDELETE\" (no word \
             boundaries); set \"rust\" to its PascalCase words",
            "schema/imbot.toml: event onImbot Join: \"deprecated\" must be true or the name of the replacement event, \
             not an integer",
            "schema/imbot.toml: event onImbot Join: name \"onImbot Join\" is not an event name (letters, digits, \".\", \"_\")",
            "schema/imbot.toml: event onImbot Join: data: malformed type \"list<\": expected a type after \"list<\"",
            "schema/imbot.toml: event onImbot Join: description must be one line",
            "schema/imbot.toml: event onImbot Join: doc \"on-imbot-join\" must be a page path in the docs repository, \
             ending in \".md\"",
        ]
    );
}

#[test]
fn event_names_are_unique_without_regard_to_case() {
    let text = imbot_with_events(
        r#"
[[event]]
name = "onImbotDelete"
description = "The bot was deleted."
doc = "api-reference/on-imbot-delete.md"
data = "BotData"

[[event]]
name = "ONIMBOTDELETE"
rust = "OnImbotDeleted"
description = "The same event, upper case."
doc = "api-reference/on-imbot-delete.md"
data = "BotData"

[[event]]
name = "onImbotRemove"
rust = "OnImbotDelete"
description = "Another event with the first one's variant."
doc = "api-reference/on-imbot-remove.md"
data = "any"

[[event]]
name = "onUnknown"
rust = "Unknown"
description = "Would hide the enum's fallback."
doc = "api-reference/on-unknown.md"
data = "any"
"#,
    );
    let im = r#"scope = "im"

[[event]]
name = "onImbotDelete"
description = "Declared again in another scope."
doc = "api-reference/on-imbot-delete.md"
data = "any"
"#;
    assert_eq!(
        errors(&[(IMBOT, &text), ("schema/im.toml", im)]),
        [
            "schema/imbot.toml: event ONIMBOTDELETE: duplicate event: \"ONIMBOTDELETE\" is \"onImbotDelete\" in \
             another case (first declared in schema/imbot.toml); portals send names upper-cased",
            "schema/imbot.toml: event onImbotRemove: Rust name \"OnImbotDelete\" is also used by event onImbotDelete",
            "schema/imbot.toml: event onUnknown: Rust name \"Unknown\" is reserved for events the schema does not know",
            "schema/im.toml: event onImbotDelete: duplicate event (first declared in schema/imbot.toml)",
        ]
    );
}

#[test]
fn event_rules_for_data_deprecation_and_common() {
    let text = imbot_with_events(
        r#"
[[event]]
name = "onImbotJoin"
rust = "on_imbot_join"
description = "The bot joined."
doc = "api-reference/on-imbot-join.md"
data = "ChatData"
deprecated = "ONIMBOTJOIN"
"#,
    );
    let im = r#"scope = "im"

[[type]]
name = "ChatData"
description = "A chat."
fields = [{ name = "ID", type = "int" }]
"#;
    let common = r#"scope = "common"

[[event]]
name = "onAppInstall"
description = "Installed."
doc = "api-reference/on-app-install.md"
data = "any"
"#;
    assert_eq!(
        errors(&[
            ("schema/common.toml", common),
            (IMBOT, &text),
            ("schema/im.toml", im)
        ]),
        [
            "schema/common.toml: event onAppInstall: events are not allowed in common.toml (it holds shared types only)",
            "schema/imbot.toml: event onImbotJoin: rust \"on_imbot_join\" is not a PascalCase Rust name",
            "schema/imbot.toml: event onImbotJoin: data: type \"ChatData\" is declared in schema/im.toml; a type \
             used by two scopes belongs in common.toml",
            "schema/imbot.toml: event onImbotJoin: deprecated names the event itself as its replacement",
        ]
    );
}

#[test]
fn an_untyped_reason_needs_an_any_type_and_one_line() {
    let text = imbot_with_params(
        r#"{ name = "ATTACH", type = "list<any>", untyped = "docs give no fields and no example" },
           { name = "BOT_ID", type = "int", untyped = "no fields" },
           { name = "KEYBOARD", type = "any", untyped = "two\nlines" }"#,
    );
    assert_eq!(
        errors(&[(IMBOT, &text)]),
        [
            "schema/imbot.toml: method imbot.message.add: param BOT_ID: \"untyped\" gives a reason for an `any` type, but the type is `int`",
            "schema/imbot.toml: method imbot.message.add: param KEYBOARD: untyped must be one line",
        ]
    );
    let typed_result = imbot_with_params("").replace(
        "result = \"int\"",
        "result = \"int\"\nuntyped = \"the docs show no answer\"",
    );
    assert_eq!(
        errors(&[(IMBOT, &typed_result)]),
        [
            "schema/imbot.toml: method imbot.message.add: \"untyped\" gives a reason for an `any` result, but the result is `int`"
        ]
    );
}
