//! The cargo features of the crate are the scopes of the schema: one per scope file, `full`
//! enabling all of them, nothing stale.

use std::collections::BTreeSet;
use std::path::Path;

/// `scope = "..."` of every schema file but common.toml.
fn schema_scopes() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
    let mut scopes = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("schema/ is readable") {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let scope = text
            .lines()
            .find_map(|l| l.strip_prefix("scope = \""))
            .and_then(|rest| rest.strip_suffix('"'))
            .unwrap_or_else(|| panic!("{} has no scope line", path.display()));
        if scope != "common" {
            scopes.insert(scope.to_owned());
        }
    }
    scopes
}

/// The `[features]` table of sdk/Cargo.toml, as `name -> [enabled features]`.
fn features() -> Vec<(String, Vec<String>)> {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let section = manifest
        .split("\n[features]\n")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("a [features] section");
    section
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && l.contains(" = ["))
        .map(|l| {
            let (name, list) = l.split_once(" = ").unwrap();
            let items = list
                .trim_matches(|c| c == '[' || c == ']')
                .split(',')
                .map(|s| s.trim().trim_matches('"').to_owned())
                .filter(|s| !s.is_empty())
                .collect();
            (name.trim().trim_matches('"').to_owned(), items)
        })
        .collect()
}

#[test]
fn one_feature_per_scope_and_full_enables_them_all() {
    let scopes = schema_scopes();
    let features = features();
    let names: BTreeSet<String> = features.iter().map(|(name, _)| name.clone()).collect();
    let missing: Vec<&String> = scopes.difference(&names).collect();
    assert!(missing.is_empty(), "scopes without a feature: {missing:?}");
    for (name, enables) in &features {
        if scopes.contains(name) {
            assert!(
                enables.is_empty(),
                "scope feature {name} enables {enables:?}"
            );
        }
    }
    let full: BTreeSet<String> = features
        .iter()
        .find(|(name, _)| name == "full")
        .map(|(_, enables)| enables.iter().cloned().collect())
        .expect("a full feature");
    // `full` is exactly the scopes: a scope missing from it, or a stale one (a scope file that
    // was removed), fails here. Runtime features (`redis`, `axum`, ...) stay out.
    assert_eq!(full, scopes, "full enables every scope and nothing else");
    assert_eq!(scopes.len(), 47);
}

#[cfg(feature = "full")]
#[test]
fn dotted_scopes_are_features_too() {
    // `sign.b2e` is a feature named like its scope; its module is `sign_b2e`.
    use bitrix24::Method;
    assert_eq!(
        <bitrix24::sign_b2e::SignB2eDocumentSend as Method>::SCOPE,
        "sign.b2e"
    );
}
