//! Parse and verify arbitrary bytes as a JWT: never panics, bounded by the 8 KiB token limit.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| eventgate_fuzz::policy::fuzz_checks::token(data));
