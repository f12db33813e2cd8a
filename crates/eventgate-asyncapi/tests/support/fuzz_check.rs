//! The check behind the `asyncapi_parse` fuzz target (fuzz/fuzz_targets/asyncapi_parse.rs),
//! also run by tests/fuzz_replay.rs on every file of fuzz/corpus/asyncapi_parse.
//!
//! On any input: reading is bounded (64 KiB, 48 levels), nothing panics, and a document that fits
//! the typed model serializes back to an equal JSON value.

#![allow(unreachable_pub)]

use eventgate_asyncapi::{
    ApiDefinition, Document, ExportOptions, Limits, OutputVersion, convert, dereference,
};

/// Input bound for fuzzing.
pub const MAX_BYTES: usize = 64 * 1024;

/// Runs every entry point on `data`.
pub fn asyncapi_parse(data: &[u8]) {
    let limits = Limits::new().max_bytes(MAX_BYTES).max_depth(48);
    let Ok(doc) = Document::from_slice(data, &limits) else {
        return;
    };
    let report = doc.validate();
    if let Ok(model) = doc.to_model() {
        assert_eq!(
            model.to_value(),
            *doc.value(),
            "typed model must round-trip"
        );
    }
    let _ = dereference(doc.value());
    let _ = convert::to_v3(doc.value());
    let _ = convert::to_v2(doc.value());
    if report.is_valid()
        && let Ok(api) = ApiDefinition::from_asyncapi(&doc)
    {
        for v in [OutputVersion::V2, OutputVersion::V3] {
            let out = api.to_asyncapi(ExportOptions::eventgate(v));
            let _ = ApiDefinition::from_asyncapi(&Document::from_value(out));
            let _ = api.to_asyncapi(ExportOptions::wso2(v));
        }
    }
}
