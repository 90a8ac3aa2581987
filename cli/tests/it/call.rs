//! `b24 call`, `b24 methods`, `b24 describe`, help and completions, run as a user would: the
//! binary against a sandbox portal started by the test.

use crate::support::{Portal, b24, b24_webhook, run};
use assert_cmd::assert::OutputAssertExt;
use bitrix24_sandbox::SandboxConfig;
use serde_json::Value;

fn portal() -> Portal {
    Portal::start(SandboxConfig::default().seed_deals(20))
}

#[test]
fn call_prints_the_result_as_pretty_json() {
    let home = tempfile::tempdir().unwrap();
    let portal = portal();
    let (code, out, err) =
        run(b24_webhook(home.path(), &portal).args(["call", "crm.deal.get", "ID=7"]));
    assert_eq!(code, 0, "{err}");
    let deal: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(deal["ID"], "7");
    assert_eq!(deal["TITLE"], "Deal #7");
    assert!(out.contains("\n  \"TITLE\""), "pretty-printed: {out}");
    // The schema marks crm.deal.get outdated: a warning on stderr, not an error.
    assert!(err.contains("deprecated; use crm.item.get"), "{err}");
}

#[test]
fn raw_prints_the_whole_envelope() {
    let home = tempfile::tempdir().unwrap();
    let portal = portal();
    let (code, out, err) = run(b24_webhook(home.path(), &portal).args([
        "call",
        "crm.deal.list",
        "select[]=ID",
        "select[]=TITLE",
        "--raw",
    ]));
    assert_eq!(code, 0, "{err}");
    let envelope: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(envelope["result"].as_array().unwrap().len(), 20);
    assert_eq!(
        envelope["result"][0],
        serde_json::json!({"ID": "1", "TITLE": "Deal #1"})
    );
    assert_eq!(envelope["total"], 20);
    assert!(envelope["time"]["duration"].is_number(), "{out}");
    assert!(
        envelope.get("next").is_none(),
        "20 rows fit one page: {out}"
    );
}

#[test]
fn php_bracket_keys_nest_and_values_get_their_types() {
    let home = tempfile::tempdir().unwrap();
    let portal = portal();
    let (code, out, err) = run(b24_webhook(home.path(), &portal).args([
        "call",
        "crm.deal.add",
        "FIELDS[TITLE]=Roof repair",
        "FIELDS[OPPORTUNITY]:=1500",
        "FIELDS[COMMENTS]=a=b, [c]",
    ]));
    assert_eq!(code, 0, "{err}");
    let id: i64 = out.trim().parse().expect("the new deal's id");
    let deal = portal.sandbox.deal(id).expect("the deal exists");
    assert_eq!(deal["TITLE"], "Roof repair");
    assert_eq!(deal["COMMENTS"], "a=b, [c]");
    assert_eq!(
        deal["OPPORTUNITY"].as_str().map(|s| s.starts_with("1500")),
        Some(true)
    );
}

#[test]
fn unknown_params_are_refused_with_the_closest_names_and_nothing_is_sent() {
    let home = tempfile::tempdir().unwrap();
    let portal = portal();
    let before = portal.sandbox.stats().requests;
    let (code, out, err) = run(b24_webhook(home.path(), &portal).args([
        "call",
        "crm.deal.list",
        "selectt[]=ID",
        "fitler[ID]=1",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    assert!(
        err.contains("crm.deal.list: unknown parameter selectt; did you mean select?"),
        "{err}"
    );
    assert!(
        err.contains("unknown parameter fitler; did you mean filter?"),
        "{err}"
    );
    assert_eq!(portal.sandbox.stats().requests, before, "nothing was sent");
}

#[test]
fn wrong_types_name_the_expected_type() {
    let home = tempfile::tempdir().unwrap();
    let portal = portal();
    let (code, _, err) =
        run(b24_webhook(home.path(), &portal).args(["call", "crm.deal.get", "ID=seven"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("crm.deal.get: id: expected int, got \"seven\""),
        "{err}"
    );
    assert!(
        !err.contains("missing"),
        "a given param is not also missing: {err}"
    );
    let (code, _, err) =
        run(b24_webhook(home.path(), &portal).args(["call", "crm.deal.list", "select=ID"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("select: expected list<string>, got \"ID\" (give select[]=A"),
        "{err}"
    );
    let (code, _, err) =
        run(b24_webhook(home.path(), &portal).args(["call", "crm.deal.list", "filter=x"]));
    assert_eq!(code, 2);
    assert!(err.contains("filter: expected filter, got \"x\""), "{err}");
}

#[test]
fn missing_required_params_are_refused() {
    let home = tempfile::tempdir().unwrap();
    let portal = portal();
    let (code, _, err) = run(b24_webhook(home.path(), &portal).args(["call", "crm.deal.get"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("crm.deal.get: missing required parameter id (int)"),
        "{err}"
    );
    assert!(err.contains("b24 describe crm.deal.get"), "{err}");
}

#[test]
fn validation_needs_no_credentials() {
    let home = tempfile::tempdir().unwrap();
    let (code, _, err) = run(b24(home.path()).args(["call", "crm.deal.get", "IDD=1"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown parameter IDD; did you mean id?"),
        "{err}"
    );
    let (code, _, err) = run(b24(home.path()).args(["call", "profile"]));
    assert_eq!(code, 2, "no credentials is a usage error");
    assert!(err.contains("B24_WEBHOOK_URL"), "{err}");
}

#[test]
fn bad_argument_shapes_are_usage_errors() {
    let home = tempfile::tempdir().unwrap();
    let portal = portal();
    for args in [
        vec!["call", "profile", "novalue"],
        vec!["call", "profile", "X:={broken"],
        vec!["call", "crm.deal.list", "select=ID", "select=TITLE"],
    ] {
        let (code, _, err) = run(b24_webhook(home.path(), &portal).args(&args));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{err}");
    }
}

#[test]
fn methods_outside_the_catalog_are_sent_unchecked() {
    let home = tempfile::tempdir().unwrap();
    let portal = portal();
    // A REST 3.0 method the sandbox serves and the schema does not have.
    let (code, out, err) = run(b24_webhook(home.path(), &portal).args([
        "call",
        "rest.documentation.openapi",
        "ANY_PARAM=1",
        "--v3",
    ]));
    assert_eq!(code, 0, "{err}");
    let document: Value = serde_json::from_str(&out).unwrap();
    assert!(document.is_object(), "{out}");
    // Unknown to both: the portal's typed error, exit 1, with the closest catalog names.
    let (code, out, err) =
        run(b24_webhook(home.path(), &portal).args(["call", "crm.deal.gett", "ID=1"]));
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.contains("crm.deal.gett: ERROR_METHOD_NOT_FOUND (404)"),
        "{err}"
    );
    assert!(err.contains("did you mean one of crm.deal.get"), "{err}");
}

#[test]
fn api_errors_exit_1_with_the_typed_error_and_no_secret() {
    let home = tempfile::tempdir().unwrap();
    let portal = portal();
    let (code, out, err) =
        run(b24_webhook(home.path(), &portal).args(["call", "crm.deal.get", "ID=999999"]));
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.contains("error: crm.deal.get: (no code) (400): Deal is not found"),
        "{err}"
    );
    let code_part = portal.webhook();
    let secret = code_part.trim_end_matches('/').rsplit('/').next().unwrap();
    assert!(!err.contains(secret), "the webhook code never shows: {err}");
    // A bad webhook: the portal refuses it, and the message still hides the code.
    let (code, _, err) = run(b24(home.path())
        .env(
            "B24_WEBHOOK_URL",
            format!("{}rest/1/wrongcode123456/", portal.sandbox.url()),
        )
        .args(["call", "profile"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("INVALID_CREDENTIALS") || err.contains("401"),
        "{err}"
    );
    assert!(!err.contains("wrongcode123456"), "{err}");
}

#[test]
fn describe_shows_params_types_paging_deprecation_and_docs() {
    let home = tempfile::tempdir().unwrap();
    let (code, out, err) = run(b24(home.path()).args(["describe", "crm.deal.list"]));
    assert_eq!(code, 0, "{err}");
    for expected in [
        "crm.deal.list - Lists deals matching a filter, fifty per page.",
        "DEPRECATED   use crm.item.list instead",
        "result       list<Deal>",
        "paging       keyset",
        "idempotent   yes",
        "https://apidocs.bitrix24.com/api-reference/crm/deals/crm-deal-list.html",
        "filter  filter",
        "select  list<string>",
    ] {
        assert!(out.contains(expected), "{expected:?} in\n{out}");
    }
    let (code, out, _) = run(b24(home.path()).args(["describe", "imbot.message.add", "--json"]));
    assert_eq!(code, 0);
    let info: Value = serde_json::from_str(&out).unwrap();
    let dialog = info["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "DIALOG_ID")
        .expect("DIALOG_ID");
    assert_eq!(dialog["required"], true);
    assert_eq!(dialog["type"], "dialog_id");
    assert_eq!(info["idempotent"], false);
    let (code, _, err) = run(b24(home.path()).args(["describe", "crm.deal.lst"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("crm.deal.lst is not in the method catalog; did you mean"),
        "{err}"
    );
    assert!(err.contains("crm.deal.list"), "{err}");
}

#[test]
fn methods_lists_by_scope_and_search_with_deprecation_markers() {
    let home = tempfile::tempdir().unwrap();
    let (code, out, err) =
        run(b24(home.path()).args(["methods", "--scope", "crm", "--search", "deal", "list"]));
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("NAME")
            && lines[0].contains("SCOPE")
            && lines[0].contains("DESCRIPTION")
    );
    let deal_list = lines
        .iter()
        .find(|l| l.starts_with("crm.deal.list "))
        .expect("crm.deal.list listed");
    assert!(
        deal_list.contains("[deprecated: use crm.item.list]"),
        "{deal_list}"
    );
    assert!(lines[1..].iter().all(|l| l.contains(" crm ")), "{out}");
    assert!(err.contains(" methods"), "a count on stderr: {err}");
    let (code, out, _) = run(b24(home.path()).args(["methods", "--scope", "imbot", "--json"]));
    assert_eq!(code, 0);
    let list: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert!(list.len() > 10);
    assert!(list.iter().all(|m| m["scope"] == "imbot"));
    let (code, _, err) = run(b24(home.path()).args(["methods", "--scope", "crmm"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown scope crmm; did you mean crm?"),
        "{err}"
    );
}

#[test]
fn every_command_has_help_with_examples() {
    let home = tempfile::tempdir().unwrap();
    for command in [
        vec!["--help"],
        vec!["call", "--help"],
        vec!["list", "--help"],
        vec!["methods", "--help"],
        vec!["describe", "--help"],
        vec!["auth", "--help"],
        vec!["auth", "code", "--help"],
        vec!["auth", "refresh", "--help"],
        vec!["auth", "show", "--help"],
        vec!["sandbox", "--help"],
        vec!["completions", "--help"],
    ] {
        let (code, out, _) = run(b24(home.path()).args(&command));
        assert_eq!(code, 0, "{command:?}");
        assert!(out.contains("Example"), "{command:?} has examples:\n{out}");
        assert!(out.contains("b24 "), "{command:?}");
    }
    // clap's own usage errors are exit 2 too.
    b24(home.path())
        .args(["list", "crm.deal.list"])
        .assert()
        .code(2);
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    let home = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef b24"),
        ("fish", "complete -c b24"),
    ] {
        let (code, out, err) = run(b24(home.path()).args(["completions", shell]));
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains(marker),
            "{shell}: {}",
            &out[..out.len().min(200)]
        );
        assert!(
            out.contains("describe") && out.contains("sandbox"),
            "{shell}"
        );
    }
}

#[test]
fn what_is_sent_has_the_schema_names_types_and_positions() {
    let home = tempfile::tempdir().unwrap();
    // Text becomes the declared type; names get the schema's spelling.
    let (url, server) = crate::support::capture_one_request();
    let (code, out, err) = run(b24(home.path()).env("B24_WEBHOOK_URL", &url).args([
        "call",
        "imbot.message.add",
        "dialog_id=chat5",
        "MESSAGE=hello",
        "BOT_ID=7",
        "SYSTEM=true",
        "ATTACH[0][MESSAGE]=line",
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "true");
    let (path, body) = server.join().unwrap();
    assert_eq!(path, "/rest/1/capturedcode123/imbot.message.add");
    let sent: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        sent,
        serde_json::json!({
            "DIALOG_ID": "chat5",
            "MESSAGE": "hello",
            "BOT_ID": 7,
            "SYSTEM": "Y",
            "ATTACH": [{"MESSAGE": "line"}],
        })
    );
    // Positional methods get "0", "1", ... in schema order, whatever the order given.
    let (url, server) = crate::support::capture_one_request();
    let (code, _, err) = run(b24(home.path()).env("B24_WEBHOOK_URL", &url).args([
        "call",
        "task.commentitem.add",
        "FIELDS[POST_MESSAGE]=hi",
        "TASKID=5",
        "-q",
    ]));
    assert_eq!(code, 0, "{err}");
    let (_, body) = server.join().unwrap();
    let sent: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        sent,
        serde_json::json!({"0": 5, "1": {"POST_MESSAGE": "hi"}})
    );
}
