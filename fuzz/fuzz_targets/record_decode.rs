//! Store records: decoding arbitrary bytes never panics, honours the size cap, and whatever
//! decodes encodes and decodes back to the same record.
//!
//! The first two bytes (little-endian) are the size limit given to `Record::decode`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame::record::MAX_REMEMBER_RECORD;
use sesame::{Record, RememberRecord};

fuzz_target!(|data: &[u8]| {
    let (limit, bytes) = match data {
        [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), rest),
        _ => (0, data),
    };
    for (limit, bytes) in [(limit, bytes), (1 << 20, data)] {
        if let Ok(record) = Record::decode(bytes, limit) {
            assert!(bytes.len() <= limit, "a record over the limit decoded");
            let encoded = record.encode().expect("a decoded record encodes");
            let again = Record::decode(&encoded, usize::MAX).expect("an encoded record decodes");
            assert_eq!(again, record);
        }
    }
    if let Ok(record) = RememberRecord::decode(data) {
        assert!(data.len() <= MAX_REMEMBER_RECORD);
        let encoded = record.encode().expect("a decoded remember record encodes");
        let again = RememberRecord::decode(&encoded).expect("an encoded remember record decodes");
        assert_eq!(again, record);
    }
});
