//! Test support shared by the integration tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod fast;
pub mod fuzz_checks;
pub mod naive;

/// A proptest config of `cases` cases, or `PROPTEST_CASES` for a longer hunt.
pub fn proptest_config(cases: u32) -> proptest::prelude::ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    proptest::prelude::ProptestConfig {
        cases,
        ..proptest::prelude::ProptestConfig::default()
    }
}
