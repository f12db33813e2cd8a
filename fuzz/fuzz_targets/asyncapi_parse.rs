//! Any bytes as an AsyncAPI document: bounded reading, no panic in validation, model,
//! conversion or API mapping, and an exact model round trip.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    eventgate_fuzz::asyncapi::fuzz_check::asyncapi_parse(data)
});
