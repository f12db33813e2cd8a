//! Encode arbitrary data / type / id, then parse: the same event comes back, or the
//! encoder reports the matching typed error.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| eventgate_fuzz::sse::fuzz_checks::roundtrip(data));
