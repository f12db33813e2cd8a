//! eventgate-policy checks (from crates/eventgate-policy/tests/support).

#[path = "../../crates/eventgate-policy/tests/support/fuzz_checks.rs"]
pub mod fuzz_checks;
