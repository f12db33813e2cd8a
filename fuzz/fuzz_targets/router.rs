//! Arbitrary `Host` values and request targets through the router: never panics, and every
//! expanded backend URL stays under its endpoint with no dot segment or encoded slash.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| eventgate_fuzz::gateway::fuzz_router::router(data));
