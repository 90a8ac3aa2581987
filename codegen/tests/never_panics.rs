//! A cheap, deterministic fuzz: cut, drop lines from and scramble the fixture schema. Loading
//! must never panic, and whatever loads must emit code that parses as Rust.

use std::path::Path;

use bitrix24_codegen::{EmitOptions, Source, emit, load_sources};

fn fixture() -> Vec<Source> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ok");
    ["common.toml", "alpha.toml", "sign.b2e.toml"]
        .iter()
        .map(|name| Source {
            path: format!("schema/{name}"),
            text: std::fs::read_to_string(dir.join(name)).expect("fixture file"),
        })
        .collect()
}

/// Loads `sources`; if they are valid, the code for them must parse. `sdk` picks the options.
fn check(sources: &[Source], sdk: bool) -> bool {
    match load_sources(sources) {
        Ok(schema) => {
            let opts = if sdk {
                EmitOptions::sdk(None)
            } else {
                EmitOptions::default()
            };
            let code = emit(&schema, &opts);
            if let Err(e) = syn::parse_file(&code) {
                panic!("generated code does not parse: {e}\n{code}");
            }
            true
        }
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty());
            false
        }
    }
}

/// Every variant of file `index` that `mutate` produces, checked with the other files intact.
fn each_variant(mutate: impl Fn(&str) -> Vec<String>) -> (usize, usize) {
    let sources = fixture();
    let (mut valid, mut total) = (0, 0);
    for index in 0..sources.len() {
        for text in mutate(&sources[index].text) {
            let mut variant = sources.clone();
            variant[index].text = text;
            total += 1;
            valid += usize::from(check(&variant, total % 2 == 0));
        }
    }
    (valid, total)
}

#[test]
fn the_fixture_itself_loads() {
    assert!(check(&fixture(), true) && check(&fixture(), false));
}

#[test]
fn truncated_files() {
    let (valid, total) = each_variant(|text| {
        text.char_indices()
            .map(|(i, _)| i)
            .step_by(3)
            .map(|i| text[..i].to_owned())
            .collect()
    });
    assert!(valid > 0 && valid < total, "{valid} of {total}");
}

#[test]
fn files_with_a_line_removed() {
    let (valid, total) = each_variant(|text| {
        let lines: Vec<&str> = text.lines().collect();
        (0..lines.len())
            .map(|skip| {
                let kept = lines
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != skip)
                    .map(|(_, l)| *l);
                kept.collect::<Vec<_>>().join("\n")
            })
            .collect()
    });
    assert!(valid > 0 && valid < total, "{valid} of {total}");
}

#[test]
fn files_with_characters_replaced() {
    const NOISE: &[&str] = &[
        "<", ">", "\"", ".", " ", "\n", "[", "=", "é", "_", "0", "A", "z", "list<", "\\u0000", "#",
        "{", ",",
    ];
    let (valid, total) = each_variant(|text| {
        // A small linear congruential generator keeps the test deterministic without a dependency.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |bound: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize % bound.max(1)
        };
        let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        (0..200)
            .map(|_| {
                let at = boundaries[next(boundaries.len())];
                let end = text[at..].chars().next().map_or(at, |c| at + c.len_utf8());
                format!(
                    "{}{}{}",
                    &text[..at],
                    NOISE[next(NOISE.len())],
                    &text[end..]
                )
            })
            .collect()
    });
    assert!(valid > 0 && valid < total, "{valid} of {total}");
}
