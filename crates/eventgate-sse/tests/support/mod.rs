//! Test support shared by the integration tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod fast;
pub mod fuzz_checks;
pub mod naive;
