//! One-line descriptions for imported methods, in our own words, built from what the method's
//! name, params and result say: `crm.deal.add` with an integer result becomes "Creates a deal
//! and returns its id." They are a starting point for review, never copied doc prose.

use std::collections::BTreeSet;

use crate::names::is_hump;

/// Words the lowercase run-together names of the API are made of (`getfieldsbytype`,
/// `productrows`), for splitting them into words. Longer words win.
const VOCABULARY: &[&str] = &[
    "access",
    "accesses",
    "action",
    "actions",
    "activity",
    "add",
    "additional",
    "address",
    "after",
    "allowed",
    "all",
    "anchor",
    "answer",
    "app",
    "as",
    "attrs",
    "available",
    "basket",
    "before",
    "binding",
    "block",
    "by",
    "calendar",
    "can",
    "card",
    "change",
    "chat",
    "check",
    "checklist",
    "clone",
    "comm",
    "comment",
    "commit",
    "complete",
    "config",
    "contact",
    "content",
    "contacts",
    "copy",
    "count",
    "countries",
    "create",
    "crm",
    "data",
    "delete",
    "deleted",
    "depends",
    "depend",
    "description",
    "direction",
    "document",
    "down",
    "elapsed",
    "employees",
    "enable",
    "entity",
    "event",
    "execution",
    "external",
    "favorite",
    "feed",
    "field",
    "fields",
    "file",
    "files",
    "fill",
    "filter",
    "find",
    "folder",
    "for",
    "forward",
    "from",
    "get",
    "hide",
    "id",
    "import",
    "is",
    "item",
    "items",
    "link",
    "list",
    "log",
    "manifest",
    "mark",
    "merge",
    "message",
    "mode",
    "move",
    "multi",
    "department",
    "nodes",
    "notify",
    "on",
    "order",
    "owner",
    "payment",
    "planner",
    "post",
    "preview",
    "priority",
    "product",
    "property",
    "public",
    "rows",
    "row",
    "remove",
    "renew",
    "repository",
    "requisite",
    "section",
    "send",
    "set",
    "show",
    "start",
    "status",
    "strings",
    "task",
    "tasks",
    "to",
    "type",
    "types",
    "up",
    "update",
    "upload",
    "url",
    "user",
    "userfield",
    "value",
    "wait",
    "waitlist",
    "booking",
    "storage",
    "stage",
    "stages",
    "site",
    "landing",
    "lang",
    "langs",
    "element",
    "elements",
    "ticket",
    "variant",
    "variants",
    "template",
    "templates",
    "currency",
    "recurring",
    "expose",
    "enabled",
    "active",
    "activate",
    "deactivate",
    "bot",
    "command",
    "dialog",
    "note",
    "notes",
    "calendar",
    "event",
    "events",
    "sub",
    "option",
    "options",
    "settings",
    "card",
    "cards",
];

/// Splits a name segment into lowercase words: camelCase humps first, then run-together
/// lowercase words by the vocabulary (`getfieldsbytype` -> get fields by type).
pub(crate) fn words(segment: &str) -> Vec<String> {
    let mut humps = Vec::new();
    let mut word = String::new();
    let chars: Vec<char> = segment.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if (is_hump(&chars, i) || c == '_' || c == '-') && !word.is_empty() {
            humps.push(std::mem::take(&mut word));
        }
        if c != '_' && c != '-' {
            word.push(c.to_ascii_lowercase());
        }
    }
    if !word.is_empty() {
        humps.push(word);
    }
    humps.into_iter().flat_map(|w| split_run(&w)).collect()
}

/// Splits a run of lowercase letters into vocabulary words when it is made of them entirely.
fn split_run(run: &str) -> Vec<String> {
    let vocab: BTreeSet<&str> = VOCABULARY.iter().copied().collect();
    if run.len() <= 4 || vocab.contains(run) {
        return vec![run.to_owned()];
    }
    // Fewest words wins; best[i] is the best split of run[..i].
    let n = run.len();
    let mut best: Vec<Option<Vec<&str>>> = vec![None; n + 1];
    best[0] = Some(Vec::new());
    for end in 1..=n {
        for start in 0..end {
            let (Some(prefix), Some(word)) = (&best[start], run.get(start..end)) else {
                continue;
            };
            if !vocab.contains(word) {
                continue;
            }
            let candidate: Vec<&str> = prefix.iter().copied().chain([word]).collect();
            if best[end].as_ref().is_none_or(|b| candidate.len() < b.len()) {
                best[end] = Some(candidate);
            }
        }
    }
    match &best[n] {
        Some(split) => split.iter().map(|w| (*w).to_owned()).collect(),
        None => vec![run.to_owned()],
    }
}

/// What a description can use besides the name.
pub(crate) struct Shape<'a> {
    pub name: &'a str,
    pub has_id_param: bool,
    pub has_filter: bool,
    pub paged: bool,
    /// The result's type expression.
    pub result: &'a str,
    pub rest_v3: bool,
}

/// Names whose words say too little for the template.
const SPECIAL: &[(&str, &str)] = &[
    (
        "profile",
        "Returns the profile of the user the call is made for.",
    ),
    ("methods", "Lists the REST methods available to the caller."),
    (
        "method.get",
        "Tells whether a REST method exists and may be called.",
    ),
    (
        "scope",
        "Lists the permission scopes of the application or webhook.",
    ),
    ("server.time", "Returns the portal server's current time."),
    (
        "app.info",
        "Returns the application's registration and licence details.",
    ),
    ("access.name", "Returns readable names of access codes."),
    (
        "user.access",
        "Tells whether the current user holds the given access codes.",
    ),
    (
        "feature.get",
        "Tells whether a portal feature is available.",
    ),
    (
        "events",
        "Lists the events an application can bind handlers to.",
    ),
    ("event.bind", "Binds a handler URL to an event."),
    ("event.unbind", "Removes an event handler binding."),
    (
        "event.get",
        "Lists the event handlers the application has bound.",
    ),
    ("event.offline.get", "Takes queued offline events."),
    (
        "event.offline.clear",
        "Removes processed offline events from the queue.",
    ),
    (
        "event.offline.error",
        "Marks offline events as failed to process.",
    ),
    (
        "imconnector.send.messages",
        "Passes messages from the connector's messenger into an open channel.",
    ),
    (
        "imconnector.update.messages",
        "Changes messages the connector passed into an open channel.",
    ),
    (
        "imconnector.delete.messages",
        "Deletes messages the connector passed into an open channel.",
    ),
    (
        "timeman.status",
        "Returns the state of the current user's work day.",
    ),
    (
        "user.admin",
        "Tells whether the current user is a portal administrator.",
    ),
    (
        "event.offline.list",
        "Lists queued offline events without taking them.",
    ),
];

/// Last name segments (lowercased) whose words say too little, as a sentence about `{a} {e}`
/// (the article and the object).
const SPECIAL_VERBS: &[(&str, &str)] = &[
    ("moveto", "Moves {a} {e} into another folder."),
    ("copyto", "Copies {a} {e} into another folder."),
    (
        "restorefromversion",
        "Restores {a} {e} from one of its versions.",
    ),
    ("markdeleted", "Moves {a} {e} to the recycle bin."),
    ("markdelete", "Moves {a} {e} to the recycle bin."),
    ("markundeleted", "Brings {a} {e} back from the recycle bin."),
    ("markundelete", "Brings {a} {e} back from the recycle bin."),
    (
        "markdeletedblock",
        "Moves a block of {a} {e} to the recycle bin.",
    ),
    (
        "markundeletedblock",
        "Brings a block of {a} {e} back from the recycle bin.",
    ),
    (
        "forcecommonscopeforall",
        "Makes the common {e} the one every user sees.",
    ),
    (
        "availabletoadd",
        "Lists the fields that can still be added to {a} {e}.",
    ),
    ("publication", "Publishes {a} {e}."),
    ("unpublic", "Withdraws {a} {e} from publication."),
    ("upblock", "Moves a block of {a} {e} one place up."),
    ("downblock", "Moves a block of {a} {e} one place down."),
    ("silent", "Switches {a} {e} to silent mode."),
    ("unset", "Clears {a} {e}."),
];

/// Words that name a thing, not an action, when they end a method name.
const NOUNS: &[&str] = &[
    "publication",
    "delivery",
    "mode",
    "name",
    "info",
    "text",
    "data",
    "content",
    "version",
    "url",
    "id",
    "manifest",
    "preview",
    "description",
    "activity",
    "direction",
    "priority",
    "type",
];

/// The description of an imported method.
pub(crate) fn describe(s: &Shape<'_>) -> String {
    if let Some((_, d)) = SPECIAL.iter().find(|(n, _)| *n == s.name) {
        return (*d).to_owned();
    }
    let segments: Vec<&str> = s.name.split('.').collect();
    let (verb_segment, rest) = segments.split_last().unwrap_or((&"", &[]));
    let mut verb = words(verb_segment);
    // The first segment is the product area (`crm`, `im`); the object is what follows it.
    let object_segments: Vec<&str> = match rest {
        [] => Vec::new(),
        [only] => vec![only],
        [_, more @ ..] => more.iter().copied().filter(|s| !is_version(s)).collect(),
    };
    let mut object: Vec<String> = object_segments.iter().flat_map(|s| words(s)).collect();
    object.dedup();
    if object.is_empty() {
        object = verb.split_off(verb.len().min(1));
        if object.is_empty() {
            object.push("item".to_owned());
        }
    }
    let entity = object.join(" ");
    let special = SPECIAL_VERBS
        .iter()
        .find(|(v, _)| verb_segment.eq_ignore_ascii_case(v))
        .map(|(_, template)| {
            template
                .replace("{a}", article(&entity))
                .replace("{e}", &entity)
        });
    // `crm.enum.activitytype`: the values of an enumeration.
    let values_of: Vec<&str> = verb
        .iter()
        .map(String::as_str)
        .skip_while(|w| *w == "get")
        .collect();
    let enumeration = rest
        .last()
        .filter(|s| s.eq_ignore_ascii_case("enum") && values_of != ["fields"])
        .map(|_| {
            format!(
                "Lists the values of the {} enumeration.",
                values_of.join(" ")
            )
        });
    let sentence = special
        .or(enumeration)
        .unwrap_or_else(|| sentence(&verb, &entity, s));
    let sentence = if s.rest_v3 {
        format!("{} (REST 3.0).", sentence.trim_end_matches('.'))
    } else {
        sentence
    };
    capitalize(&sentence)
}

fn is_version(segment: &str) -> bool {
    let lower = segment.to_ascii_lowercase();
    lower.len() >= 2 && lower.starts_with('v') && lower[1..].bytes().all(|b| b.is_ascii_digit())
}

fn sentence(verb: &[String], entity: &str, s: &Shape<'_>) -> String {
    let first = verb.first().map(String::as_str).unwrap_or("");
    let tail: Vec<String> = verb.iter().skip(1).cloned().collect();
    let tail = tail.join(" ");
    let a = article(entity);
    let returns = match s.result {
        "int" | "int_str" => " and returns its id",
        "bool" | "any" => "",
        r if r.starts_with("list<") => "",
        _ => " and returns it",
    };
    let by_id = if s.has_id_param { " by id" } else { "" };
    let plural = plural(entity);
    let listing = |what: &str| {
        let filter = if s.has_filter {
            " matching a filter"
        } else {
            ""
        };
        let paged = if s.paged { ", fifty per page" } else { "" };
        format!("Lists {what}{filter}{paged}.")
    };
    match (first, tail.as_str()) {
        ("add" | "create", "") => format!("Creates {a} {entity}{returns}."),
        ("add", t) => format!("Adds {} to {a} {entity}.", with_article(t)),
        ("create", t) => format!("Creates {} from {a} {entity}.", with_article(t)),
        ("update" | "edit" | "modify", "") => format!("Updates {a} {entity}."),
        ("update", t) => format!("Updates the {t} of {a} {entity}."),
        ("delete" | "remove", "") => format!("Deletes {a} {entity}."),
        ("delete" | "remove", t) => format!("Removes {} from {a} {entity}.", with_article(t)),
        ("get", "") | ("get", "by id") => format!("Returns {a} {entity}{by_id}."),
        ("get", "list") | ("list", "") | ("get", "all") | ("all", "") => listing(&plural),
        ("list", t) => listing(&format!("{} of {a} {entity}", plural_words(t))),
        ("get", "fields") | ("fields", "") => format!("Describes the fields of {a} {entity}."),
        ("get", t) if t.starts_with("fields") => {
            format!("Describes the fields of {a} {entity} ({t}).")
        }
        ("get", t)
            if PREPOSITIONS
                .iter()
                .chain(&["by"])
                .any(|p| t.starts_with(&format!("{p} "))) =>
        {
            format!("Returns {a} {entity} {t}.")
        }
        ("get", t) => format!("Returns the {t} of {a} {entity}."),
        ("count", "") => format!("Counts {plural}."),
        ("search", "") => format!("Searches {plural}."),
        ("set", "") => format!("Sets {a} {entity}."),
        ("set", t) => format!("Sets the {t} of {a} {entity}."),
        ("is", t) => format!("Tells whether {a} {entity} is {t}."),
        ("can", t) => format!("Tells whether {a} {entity} can {t}."),
        ("types", "") => format!("Lists the types of {entity}."),
        // A noun where a verb should be (`bizproc.workflow.instances`): what it returns.
        (noun, _)
            if (noun.ends_with('s') && !VERBS_IN_S.contains(&noun)) || NOUNS.contains(&noun) =>
        {
            let words = verb.join(" ");
            format!("Returns the {words} of {a} {entity}.")
        }
        (verb_word, "list") => {
            let verb_word = third_person(verb_word);
            format!("{verb_word} a list of {plural}.")
        }
        // `moveToFolder`, `bindingToGroup`: the object goes first, the rest of the name after it.
        (verb_word, t) if PREPOSITIONS.iter().any(|p| t.starts_with(&format!("{p} "))) => {
            let verb_word = third_person(verb_word.strip_suffix("ing").unwrap_or(verb_word));
            let (preposition, rest) = t.split_once(' ').unwrap_or((t, ""));
            format!(
                "{verb_word} {a} {entity} {preposition} {} {rest}.",
                article(rest)
            )
        }
        (verb_word, t) => {
            let verb_word = third_person(verb_word);
            if t.is_empty() {
                format!("{verb_word} the {entity}.")
            } else {
                format!("{verb_word} the {t} of {a} {entity}.")
            }
        }
    }
}

/// Words that start the rest of a name after its verb (`moveTo`, `restoreFrom`).
const PREPOSITIONS: &[&str] = &["to", "from", "into", "for", "with"];

/// Verbs that end in `s`, unlike the plural nouns some method names end with.
const VERBS_IN_S: &[&str] = &[
    "access", "process", "pass", "press", "dismiss", "discuss", "bypass",
];

fn article(noun: &str) -> &'static str {
    if noun.ends_with('s') {
        return "the";
    }
    match noun.chars().next() {
        Some('a' | 'e' | 'i' | 'o') => "an",
        Some('u') if !noun.starts_with("user") && !noun.starts_with("uni") => "an",
        _ => "a",
    }
}

fn with_article(noun: &str) -> String {
    if noun.ends_with('s') {
        noun.to_owned()
    } else {
        format!("{} {noun}", article(noun))
    }
}

fn plural(noun: &str) -> String {
    let (head, last) = match noun.rsplit_once(' ') {
        Some((head, last)) => (format!("{head} "), last),
        None => (String::new(), noun),
    };
    format!("{head}{}", plural_word(last))
}

fn plural_words(words: &str) -> String {
    plural(words)
}

fn plural_word(word: &str) -> String {
    if word.ends_with('s') || word.ends_with("data") || word.ends_with("info") {
        word.to_owned()
    } else if let Some(stem) = word
        .strip_suffix('y')
        .filter(|s| !s.ends_with(['a', 'e', 'o', 'u']))
    {
        format!("{stem}ies")
    } else if word.ends_with("sh") || word.ends_with("ch") || word.ends_with('x') {
        format!("{word}es")
    } else {
        format!("{word}s")
    }
}

fn third_person(verb: &str) -> String {
    match verb {
        "" => "Handles".to_owned(),
        "do" => "does".to_owned(),
        "go" => "goes".to_owned(),
        "un" => "undoes".to_owned(),
        v if v.ends_with('s')
            || v.ends_with("sh")
            || v.ends_with("ch")
            || v.ends_with('x')
            || v.ends_with('z')
            || v.ends_with('o') =>
        {
            format!("{v}es")
        }
        v => match v.strip_suffix('y') {
            Some(stem) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{stem}ies"),
            _ => format!("{v}s"),
        },
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(name: &str, result: &str) -> String {
        describe(&Shape {
            name,
            has_id_param: true,
            has_filter: true,
            paged: true,
            result,
            rest_v3: false,
        })
    }

    #[test]
    fn splits_run_together_names() {
        assert_eq!(words("getfieldsbytype"), ["get", "fields", "by", "type"]);
        assert_eq!(words("productrows"), ["product", "rows"]);
        assert_eq!(
            words("getFieldsByFilter"),
            ["get", "fields", "by", "filter"]
        );
        assert_eq!(words("HTMLParser"), ["html", "parser"]);
    }

    #[test]
    fn reads_naturally() {
        assert_eq!(
            d("crm.deal.add", "int"),
            "Creates a deal and returns its id."
        );
        assert_eq!(
            d("crm.deal.list", "list<X>"),
            "Lists deals matching a filter, fifty per page."
        );
        assert_eq!(
            d("crm.deal.productrows.set", "bool"),
            "Sets the deal product rows."
        );
        assert_eq!(d("im.chat.mute", "bool"), "Mutes the chat.");
        assert_eq!(d("user.get", "any"), "Returns a user by id.");
        assert_eq!(
            d("crm.activity.type.add", "bool"),
            "Creates an activity type."
        );
        assert_eq!(
            d("landing.block.getcontent", "any"),
            "Returns the content of a block."
        );
    }
}
