//! Conversion between AsyncAPI 2.x and 3.0 for the parts an SSE API uses (info, servers,
//! channels with parameters, operations, messages, security schemes, components), with a
//! [`ConversionReport`] listing what could not be carried over.
//!
//! Operations map the way WSO2 maps them (and the way [`crate::ApiDefinition`] reads them): a 2.x
//! `subscribe` becomes a 3.0 `receive` operation and `publish` becomes `send`, and back. (The
//! AsyncAPI project's own converter uses the opposite pairing; eventgate follows WSO2 because its
//! SSE documents are WSO2-shaped.) 3.0 operation ids are the 2.x `operationId`, else
//! `{action}_{channel name}` as WSO2 writes them; 3.0 channel ids are the 2.x channel name
//! without its leading `/`.

mod common;
mod v2;
mod v3;

pub(crate) use common::Objects;

use serde_json::Value;

use crate::error::ModelError;
use crate::model::{FromValue, SpecVersion};

/// The input is not of the version the conversion starts from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// The document's `asyncapi` version is not the expected line.
    #[error("expected an AsyncAPI {expected} document, found version {found:?}")]
    WrongVersion {
        /// `2.x` or `3.0`.
        expected: &'static str,
        /// What the document declares.
        found: Option<String>,
    },
    /// The document does not fit the typed model (validate it for the list of problems).
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// One thing a conversion left out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dropped {
    /// Pointer in the source document.
    pub pointer: String,
    /// Why it was not carried over.
    pub reason: String,
}

/// What a conversion could not carry over.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ConversionReport {
    /// Everything left out, in document order.
    pub dropped: Vec<Dropped>,
}

impl ConversionReport {
    /// True when nothing was left out.
    #[must_use]
    pub fn is_lossless(&self) -> bool {
        self.dropped.is_empty()
    }

    pub(super) fn drop(&mut self, pointer: impl Into<String>, reason: impl Into<String>) {
        self.dropped.push(Dropped {
            pointer: pointer.into(),
            reason: reason.into(),
        });
    }
}

/// Converts a 2.x document to 3.0.0.
///
/// ```
/// use serde_json::json;
/// let v2 = json!({"asyncapi": "2.0.0", "info": {"title": "Observer", "version": "1.0.0"},
///   "servers": {"production": {"url": "http://localhost:8080", "protocol": "sse"}},
///   "channels": {"/*": {"subscribe": {}}}});
/// let (v3, report) = eventgate_asyncapi::convert::to_v3(&v2).unwrap();
/// assert_eq!(v3["operations"]["receive_/*"]["channel"], json!({"$ref": "#/channels/*"}));
/// assert_eq!(v3["servers"]["production"]["host"], "localhost:8080");
/// assert!(report.is_lossless());
/// ```
///
/// # Errors
/// [`ConvertError::WrongVersion`] unless the input declares a 2.x version, [`ConvertError::Model`]
/// when it does not fit the typed model.
pub fn to_v3(doc: &Value) -> Result<(Value, ConversionReport), ConvertError> {
    Ok(v2::to_v3(doc, &typed(doc, SpecVersion::V2, "2.x")?))
}

/// Converts a 3.0 document to 2.6.0.
///
/// ```
/// use serde_json::json;
/// let v3 = json!({"asyncapi": "3.0.0", "info": {"title": "Observer", "version": "1.0.0"},
///   "servers": {"production": {"host": "localhost:8080", "pathname": "/", "protocol": "sse"}},
///   "channels": {"*": {"address": "/*"}},
///   "operations": {"receive_/*": {"action": "receive", "channel": {"$ref": "#/channels/*"}}}});
/// let (v2, report) = eventgate_asyncapi::convert::to_v2(&v3).unwrap();
/// assert_eq!(v2["channels"]["/*"]["subscribe"]["operationId"], "receive_/*");
/// assert_eq!(v2["servers"]["production"]["url"], "http://localhost:8080/");
/// assert!(report.is_lossless());
/// ```
///
/// # Errors
/// [`ConvertError::WrongVersion`] unless the input declares a 3.x version, [`ConvertError::Model`]
/// when it does not fit the typed model.
pub fn to_v2(doc: &Value) -> Result<(Value, ConversionReport), ConvertError> {
    Ok(v3::to_v2(doc, &typed(doc, SpecVersion::V3, "3.0")?))
}

/// The typed model of a document of the `line` a conversion starts from (read as
/// [`AsyncApi::from_value`](crate::AsyncApi::from_value) reads it).
fn typed<T: FromValue>(
    doc: &Value,
    line: SpecVersion,
    expected: &'static str,
) -> Result<T, ConvertError> {
    let found = doc.get("asyncapi").and_then(Value::as_str);
    match found {
        Some(v) if SpecVersion::of(v) == Some(line) => Ok(crate::model::typed(doc, v)?),
        _ => {
            let found = found.map(str::to_owned);
            Err(ConvertError::WrongVersion { expected, found })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Document;
    use serde_json::json;

    #[test]
    fn wrong_version_is_an_error() {
        assert!(to_v3(&json!({"asyncapi": "3.0.0"})).is_err());
        assert!(to_v2(&json!({"asyncapi": "2.6.0"})).is_err());
        assert!(to_v2(&json!(1)).is_err());
    }

    #[test]
    fn v2_to_v3_to_v2_keeps_sse_parts_and_stays_valid() {
        let v2 = json!({"asyncapi": "2.6.0", "info": {"title": "Q", "version": "1"},
            "servers": {"production": {"url": "http://localhost:8080", "protocol": "sse"}},
            "channels": {"/stocks/{symbol}": {
                "parameters": {"symbol": {"description": "ticker", "schema": {"type": "string"}}},
                "x-auth-type": "Application",
                "subscribe": {"operationId": "quotes", "x-scopes": ["read"],
                    "message": {"name": "quote", "payload": {"type": "object"}}}}},
            "components": {"securitySchemes": {"oauth2": {"type": "oauth2", "flows": {"implicit": {
                "authorizationUrl": "http://localhost:9999", "scopes": {"read": "r"}}}}}}});
        let (v3, report) = to_v3(&v2).unwrap();
        assert!(report.is_lossless(), "{report:?}");
        let rep3 = Document::from_value(v3.clone()).validate();
        assert!(rep3.is_valid(), "{:?}", rep3.problems);
        assert_eq!(rep3.counts.messages, 1);
        let (back, report) = to_v2(&v3).unwrap();
        assert!(report.is_lossless(), "{report:?}");
        let rep2 = Document::from_value(back.clone()).validate();
        assert!(rep2.is_valid(), "{:?}", rep2.problems);
        let ch = &back["channels"]["/stocks/{symbol}"];
        assert_eq!(ch["x-auth-type"], "Application");
        assert_eq!(ch["subscribe"]["x-scopes"], json!(["read"]));
        assert_eq!(
            ch["subscribe"]["message"]["payload"],
            json!({"type": "object"})
        );
        assert_eq!(
            back["components"]["securitySchemes"]["oauth2"]["flows"]["implicit"]["scopes"],
            json!({"read": "r"})
        );
    }

    #[test]
    fn dropped_parts_are_reported_with_pointers() {
        let v3 = json!({"asyncapi": "3.0.0", "info": {"title": "Q", "version": "1"},
            "channels": {"a": {"address": "/a"}},
            "operations": {
                "r1": {"action": "receive", "channel": {"$ref": "#/channels/a"}},
                "r2": {"action": "receive", "channel": {"$ref": "#/channels/a"}, "reply": {}}}});
        let (_, report) = to_v2(&v3).unwrap();
        let ptrs: Vec<&str> = report.dropped.iter().map(|d| d.pointer.as_str()).collect();
        assert_eq!(ptrs, vec!["/operations/r2"]);
    }
}
