//! Any inbound request body, as form or JSON: the event parser, within the default (untrusted)
//! event limits — a budget of nesting and values for both encodings — returns an event or a
//! typed error, never panics.
#![no_main]

use bitrix24::events::Event;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for content_type in [None, Some("application/json")] {
        if let Ok(event) = Event::parse(data, content_type) {
            let _ = event.tokens();
            let _ = event.data_str(&["PARAMS", "DIALOG_ID"]);
            let _ = event.data_as::<serde_json::Value>();
            let _ = format!("{event:?}");
        }
    }
});
