//! `Error::is_not_found` and its siblings against the error answers the Bitrix24 docs document
//! (`tests/fixtures/error_codes.json`: code, description and status as the docs' error tables
//! and examples give them, with the page and line each was copied from, and what the docs say
//! it means). Each answer goes through the envelope parser as a real one would.

use bitrix24::{Error, RawResponse};
use serde_json::{Value, json};

const FIXTURE: &str = include_str!("../fixtures/error_codes.json");

/// The error a call gets for a documented answer: classic envelopes carry the code as a string,
/// REST 3.0 ones as an object.
fn answer(code: &str, description: &str, status: u16) -> Error {
    let body = if code.starts_with("BITRIX_REST_V3_") {
        json!({ "error": { "code": code, "message": description } })
    } else {
        json!({ "error": code, "error_description": description })
    };
    RawResponse::from_body("some.method", status, body.to_string())
        .expect_err("an error envelope is an error")
}

#[test]
fn helpers_agree_with_every_documented_error() {
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    let mut checked = 0;
    for entry in fixture["errors"].as_array().unwrap() {
        let field = |name: &str| entry[name].as_str().unwrap().to_owned();
        let (code, description, kind) = (field("code"), field("description"), field("kind"));
        let status = entry["status"].as_u64().unwrap() as u16;
        let e = answer(&code, &description, status);
        let got = [
            ("not_found", e.is_not_found()),
            ("access_denied", e.is_access_denied()),
            ("rate_limited", e.is_rate_limited()),
            ("auth", e.is_auth()),
            ("expired_token", e.is_expired_token()),
        ];
        let want = |name: &str| name == kind || (name == "auth" && kind == "expired_token");
        for (name, value) in got {
            assert_eq!(
                value,
                want(name),
                "{}: {code:?} {description:?}: is_{name}",
                field("source")
            );
        }
        checked += 1;
    }
    assert!(checked >= 35, "{checked}");
}

#[test]
fn localized_classic_answers_are_read_too() {
    // Russian portals send the same empty code with the description in Russian.
    assert!(answer("", "Не найдено", 400).is_not_found());
    assert!(answer("", "Доступ запрещен", 400).is_access_denied());
    assert!(!answer("", "Не найдено поле 'TITLE'", 400).is_not_found());
}

#[test]
fn only_answers_have_a_kind() {
    let e = Error::Config("x".into());
    assert!(!e.is_not_found() && !e.is_access_denied() && !e.is_rate_limited() && !e.is_auth());
}
