//! eventgate (gateway) checks (from crates/eventgate/tests/support).

#[path = "../../crates/eventgate/tests/support/fuzz_router.rs"]
pub mod fuzz_router;
