//! eventgate-sse checks (from crates/eventgate-sse/tests/support).

#[path = "../../crates/eventgate-sse/tests/support/naive.rs"]
pub mod naive;

#[path = "../../crates/eventgate-sse/tests/support/fast.rs"]
pub mod fast;

#[path = "../../crates/eventgate-sse/tests/support/fuzz_checks.rs"]
pub mod fuzz_checks;
