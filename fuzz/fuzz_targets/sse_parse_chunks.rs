//! Parse arbitrary bytes in arbitrary chunks: never panics, stays within its limits, and
//! agrees with the naive reference parser.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| eventgate_fuzz::sse::fuzz_checks::parse_chunks(data));
