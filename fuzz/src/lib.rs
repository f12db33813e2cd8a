//! Checks shared by the fuzz targets and by the plain tests that replay the corpora.
//! The check code lives beside each crate's tests (so `cargo test --workspace` runs it on
//! the committed corpora) and is included here by path.

#![allow(missing_docs, unreachable_pub)]

pub mod asyncapi;
pub mod gateway;
pub mod policy;
pub mod sse;
