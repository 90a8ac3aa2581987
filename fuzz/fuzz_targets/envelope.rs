//! Any response body: the envelope parser and the typed decoders answer with a value or a typed
//! error, never a panic.
#![no_main]

use bitrix24::RawResponse;
use bitrix24::codec::{List, Same};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data).into_owned();
    for status in [200, 401, 503] {
        if let Ok(response) = RawResponse::from_body("fuzz.method", status, body.clone()) {
            let _ = response.decode_as::<serde_json::Value, Same>();
            let _ = response.decode_as::<Vec<i64>, List<bitrix24::codec::Int>>();
            let _ = response.decode_as::<Vec<bool>, List<bitrix24::codec::YesNo>>();
            let _ = response.decode_as::<Option<String>, bitrix24::codec::Text>();
        }
    }
});
