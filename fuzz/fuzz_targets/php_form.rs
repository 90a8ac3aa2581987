//! Any form body: the PHP bracket decoder returns a value or a typed error within its limits
//! (the defaults, and the untrusted ones events are read with), and whatever it returns encodes
//! and decodes back to itself.
#![no_main]

use bitrix24::wire::php;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else { return };
    // The default limits and the tighter ones for unverified bodies (inbound events): within
    // either, whatever decodes re-encodes to itself.
    for limits in [php::FormLimits::default(), php::FormLimits::untrusted()] {
        if let Ok(value) = php::decode_with(body, &limits) {
            let encoded = php::encode(&value);
            let again = php::decode(&encoded).expect("our own encoding decodes");
            assert_eq!(php::encode(&again), encoded, "encode(decode(encode(x))) is stable");
        }
    }
});
