//! Rust names from Bitrix24 wire names, and the rules a Rust name must follow.
//!
//! Wire names come in every style Bitrix24 ever used (`DIALOG_ID`, `entityTypeId`,
//! `imbot.v2.Chat.Message.send`); the SDK spells them all the Rust way, so a name is split into
//! words on separators and camelCase humps and then joined again. Every check here is ASCII-only:
//! an identifier that passes them is always accepted by `proc_macro2::Ident::new`.

/// Rust keywords (strict and reserved, 2024 edition): a field or method with one of these names
/// gets a trailing `_` instead (`type` -> `type_`), since `self`, `super` and `crate` cannot be raw.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Type names generated code uses unqualified (prelude items and `Self`): a schema type with one
/// of these names would shadow it inside its module.
const PRELUDE_TYPES: &[&str] = &[
    "AsMut",
    "AsRef",
    "Box",
    "Clone",
    "Copy",
    "Default",
    "DoubleEndedIterator",
    "Drop",
    "Eq",
    "ExactSizeIterator",
    "Extend",
    "Fn",
    "FnMut",
    "FnOnce",
    "From",
    "FromIterator",
    "Into",
    "IntoIterator",
    "Iterator",
    "None",
    "Ok",
    "Option",
    "Ord",
    "PartialEq",
    "PartialOrd",
    "Result",
    "Self",
    "Send",
    "Sized",
    "Some",
    "String",
    "Sync",
    "ToOwned",
    "ToString",
    "TryFrom",
    "TryInto",
    "Unpin",
    "Vec",
    "Err",
];

pub(crate) fn is_keyword(name: &str) -> bool {
    KEYWORDS.contains(&name)
}

/// Whether `chars[i]` starts a camelCase hump: an uppercase letter after a lowercase letter or a
/// digit, or the last capital of an acronym before a lowercase letter (the `P` of `HTMLParser`).
pub(crate) fn is_hump(chars: &[char], i: usize) -> bool {
    let prev = i.checked_sub(1).and_then(|p| chars.get(p));
    let next = chars.get(i + 1);
    chars.get(i).is_some_and(char::is_ascii_uppercase)
        && match prev {
            Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
            Some(p) if p.is_ascii_uppercase() => next.is_some_and(char::is_ascii_lowercase),
            _ => false,
        }
}

/// Splits a wire name into lowercase words: on `.`, `_`, `-` and camelCase humps
/// (`entityTypeId` -> entity, type, id; `HTMLParser` -> html, parser). `None` when the name holds
/// any other character, since no Rust name can be derived from it.
fn words(wire: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    for chunk in wire.split(['.', '_', '-']) {
        let chars: Vec<char> = chunk.chars().collect();
        if !chars.iter().all(char::is_ascii_alphanumeric) {
            return None;
        }
        let mut word = String::new();
        for (i, &c) in chars.iter().enumerate() {
            if is_hump(&chars, i) && !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            word.push(c.to_ascii_lowercase());
        }
        if !word.is_empty() {
            words.push(word);
        }
    }
    Some(words)
}

/// The snake_case Rust name for a wire name (`DIALOG_ID` -> `dialog_id`, `type` -> `type_`), or
/// `None` when none can be derived (`>ID`, `...`, a leading digit).
pub(crate) fn snake_case(wire: &str) -> Option<String> {
    let name = words(wire)?.join("_");
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return None;
    }
    Some(if is_keyword(&name) { name + "_" } else { name })
}

/// PascalCase of a snake_case Rust name: `imbot_v2_chat_message_send` -> `ImbotV2ChatMessageSend`.
pub(crate) fn pascal_case(snake: &str) -> String {
    snake
        .split('_')
        .flat_map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase())
                .into_iter()
                .chain(chars)
        })
        .collect()
}

/// The PascalCase variant name for an event name (`onCrmDealAdd` -> `OnCrmDealAdd`,
/// `CATALOG.PRICE.ON.ADD` -> `CatalogPriceOnAdd`), or `None` when the name has no word
/// boundaries to split on (`ONIMBOTMESSAGEADD`: one upper-case run) or gives no Rust name.
pub(crate) fn event_rust_name(name: &str) -> Option<String> {
    let has_boundaries =
        name.bytes().any(|b| b.is_ascii_lowercase()) || name.contains(['.', '_', '-']);
    if !has_boundaries {
        return None;
    }
    let snake = words(name)?.join("_");
    snake
        .starts_with(|c: char| c.is_ascii_lowercase())
        .then(|| pascal_case(&snake))
}

/// Checks a snake_case Rust name given in the schema (`rust = "..."`) or derived from a scope.
pub(crate) fn check_snake(name: &str) -> Result<(), String> {
    let well_formed = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.contains("__");
    if !well_formed {
        return Err(format!("{name:?} is not a snake_case Rust name"));
    }
    if is_keyword(name) {
        return Err(format!("{name:?} is a Rust keyword; use \"{name}_\""));
    }
    Ok(())
}

/// Checks a PascalCase Rust type or variant name.
pub(crate) fn check_pascal(name: &str) -> Result<(), String> {
    let well_formed = name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.bytes().all(|b| b.is_ascii_alphanumeric());
    if !well_formed {
        return Err(format!("{name:?} is not a PascalCase Rust name"));
    }
    if PRELUDE_TYPES.contains(&name) {
        return Err(format!("{name:?} would shadow Rust's own `{name}`"));
    }
    Ok(())
}

/// Whether `s` is an ASCII identifier (keywords included): what `Ident::new` accepts from us.
pub(crate) fn is_ascii_ident(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && s != "_"
}

/// Levenshtein distance, for "did you mean" hints on short keys.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_splits_separators_and_humps() {
        let cases = [
            ("DIALOG_ID", "dialog_id"),
            ("botId", "bot_id"),
            ("entityTypeId", "entity_type_id"),
            ("imbot.v2.Chat.Message.send", "imbot_v2_chat_message_send"),
            ("crm.item.list", "crm_item_list"),
            ("UF_CRM_1234", "uf_crm_1234"),
            ("HTMLParser", "html_parser"),
            ("ID", "id"),
            ("type", "type_"),
            ("SELF", "self_"),
            ("sonet_group.create", "sonet_group_create"),
            ("__x", "x"),
        ];
        for (wire, rust) in cases {
            assert_eq!(snake_case(wire).as_deref(), Some(rust), "{wire}");
        }
        for wire in [">ID", "...", "", "1C_ID", "a b", "ÄRGER", "_"] {
            assert_eq!(snake_case(wire), None, "{wire}");
        }
    }

    #[test]
    fn pascal_case_of_snake_names() {
        assert_eq!(
            pascal_case("imbot_v2_chat_message_send"),
            "ImbotV2ChatMessageSend"
        );
        assert_eq!(pascal_case("type_"), "Type");
        assert_eq!(pascal_case("profile"), "Profile");
    }

    #[test]
    fn event_names_become_variants_where_they_have_words() {
        let cases = [
            ("onCrmDealAdd", "OnCrmDealAdd"),
            ("OnImConnectorDialogFinish", "OnImConnectorDialogFinish"),
            ("CATALOG.PRICE.TYPE.ON.ADD", "CatalogPriceTypeOnAdd"),
            ("onAppUninstall", "OnAppUninstall"),
        ];
        for (name, rust) in cases {
            assert_eq!(event_rust_name(name).as_deref(), Some(rust), "{name}");
        }
        for name in ["ONIMBOTMESSAGEADD", "ONAPPINSTALL", "1.X", "on add", ""] {
            assert_eq!(event_rust_name(name), None, "{name}");
        }
    }

    #[test]
    fn rust_name_checks() {
        assert!(check_snake("type_").is_ok());
        assert!(check_snake("bot_id2").is_ok());
        assert_eq!(
            check_snake("type").unwrap_err(),
            "\"type\" is a Rust keyword; use \"type_\""
        );
        for bad in ["Bot", "a__b", "_a", "1a", "a-b", ""] {
            assert!(check_snake(bad).is_err(), "{bad}");
        }
        assert!(check_pascal("BotType").is_ok());
        assert!(check_pascal("String").is_err());
        assert!(check_pascal("Bot_Type").is_err());
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("requried", "required"), 2);
        assert_eq!(edit_distance("nam", "name"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
