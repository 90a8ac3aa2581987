//! Credentials in the schema are typed `secret`, so that `Debug` of a request or a result prints
//! `***` instead of a bot token or a password.

use std::path::Path;

use bitrix24_codegen::{Field, Ty, TypeKind, load_dir};

/// Names that hold a credential: bot tokens, event tokens, iframe hashes, passwords, keys.
fn credential_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    // Paging cursors and flags that only mention a credential.
    let not_a_credential = ["sync_token", "page_token", "smtp_password_as_imap"];
    if not_a_credential.contains(&lower.as_str()) {
        return false;
    }
    ["token", "password", "passwd", "secret", "api_key", "apikey"]
        .iter()
        .any(|word| lower.contains(word))
        || lower == "hash"
}

/// Our one-line docs say what a field is for: a credential says so.
fn credential_doc(doc: Option<&str>) -> bool {
    let Some(doc) = doc.map(str::to_ascii_lowercase) else {
        return false;
    };
    ["token", "password", "secret key", "api key"]
        .iter()
        .any(|word| doc.contains(word))
}

/// A string where a secret belongs (also inside `list<..>`).
fn plain_text(ty: &Ty) -> bool {
    match ty {
        Ty::String => true,
        Ty::List(inner) => plain_text(inner),
        _ => false,
    }
}

fn offenders(owner: &str, fields: &[Field], out: &mut Vec<String>) {
    for f in fields {
        if plain_text(&f.ty) && (credential_name(&f.name) || credential_doc(f.doc.as_deref())) {
            out.push(format!("{owner}: {}", f.name));
        }
    }
}

#[test]
fn credential_like_params_and_fields_are_typed_secret() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema");
    let schema = load_dir(&dir).unwrap_or_else(|d| panic!("{d}"));
    let mut found = Vec::new();
    let mut secrets = 0;
    for file in &schema.files {
        for m in &file.methods {
            offenders(&m.name, &m.params, &mut found);
            secrets += m.params.iter().filter(|p| p.ty == Ty::Secret).count();
        }
        for t in &file.types {
            if let TypeKind::Struct { fields, .. } = &t.kind {
                offenders(&t.name, fields, &mut found);
                secrets += fields.iter().filter(|p| p.ty == Ty::Secret).count();
            }
        }
    }
    assert!(
        found.is_empty(),
        "credential-like params typed as plain strings (type them `secret`):\n{}",
        found.join("\n")
    );
    // The ones found by name and by the docs' descriptions when this test was written.
    assert!(secrets >= 45, "{secrets} secrets");
}
