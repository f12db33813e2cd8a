//! eventgate-asyncapi checks (from crates/eventgate-asyncapi/tests/support).

#[path = "../../crates/eventgate-asyncapi/tests/support/fuzz_check.rs"]
pub mod fuzz_check;
