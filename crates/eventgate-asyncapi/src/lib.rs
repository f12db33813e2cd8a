//! AsyncAPI 2.x and 3.0 documents for Rust: lossless typed models, JSON and YAML parsing with
//! limits, validation that reports every problem with a JSON pointer, conversion between 2.x and
//! 3.0, and the mapping to and from an SSE API definition (the shape WSO2 API Manager writes).
//!
//! This crate has no networking and no async runtime: it depends on serde, serde_json, thiserror
//! and one YAML reader (serde_norway). Take it alone as an AsyncAPI library; eventgate uses it to
//! read its API definitions.
//!
//! # Layers
//! One pipeline with one error type per step (regex-syntax's `Ast` -> `Hir` split):
//! - read: [`Document::parse`] turns text into a JSON value bounded by [`Limits`] ([`ReadError`];
//!   references are followed by [`resolve`] and [`dereference`], [`RefError`]).
//! - validate: [`Document::validate`] gives a [`Report`] with every [`Problem`] and the object
//!   [`Counts`]; the keys it checks come from the typed model's field tables.
//! - model: [`AsyncApi`] (`model::v2`, `model::v3`), the typed document ([`ModelError`]); unknown
//!   fields and `x-*` extensions are kept, so a read-then-write gives back an equal JSON value.
//! - map: [`ApiDefinition`], the SSE API view (context, topics, scopes, plans...), imported from
//!   and exported to the model ([`ApiError`], [`ExportOptions`]), with [`TopicTemplate`] matching
//!   for routing; and [`convert`], 2.x to 3.0 and 3.0 to 2.6 ([`ConvertError`], a
//!   [`ConversionReport`] of what was dropped).
//!
//! # Example
//! ```
//! use eventgate_asyncapi::Document;
//!
//! let doc = Document::parse(r#"
//! asyncapi: 2.6.0
//! info: { title: Observer, version: 1.0.0 }
//! servers:
//!   production: { url: "http://localhost:8080", protocol: sse }
//! channels:
//!   /memory/{kind}:
//!     parameters: {}
//!     subscribe: { operationId: memory }
//! "#).unwrap();
//! let report = doc.validate();
//! assert!(!report.is_valid());
//! assert_eq!(report.problems[0].pointer, "/channels/~1memory~1{kind}/parameters");
//! assert_eq!(report.counts.channels, 1);
//! ```
//!
//! # Crate features
//! None: everything is always built.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)
)]
#![deny(missing_docs)]

mod api;
pub mod convert;
mod error;
pub mod model;
mod parse;
mod pointer;
mod refs;
pub mod topic;
mod validate;

pub use api::{
    ApiDefinition, ApiError, ApiVersion, AuthType, Context, DeliveryMode, EndpointUrl, Endpoints,
    ExportOptions, Lifecycle, NameError, OAuth2, OutputVersion, PlanName, Scope, ScopeInfo,
    Security, Topic, TopicParameter, Transport,
};
pub use convert::{ConversionReport, ConvertError, Dropped};
pub use error::{Format, ModelError, ReadError, RefError};
pub use model::{AsyncApi, SUPPORTED_VERSIONS, SpecVersion};
pub use parse::Limits;
pub use pointer::escape_token;
pub use refs::{DEFAULT_MAX_INLINED_VALUES, dereference, resolve};
pub use topic::{Captures, TopicError, TopicSet, TopicTemplate};
pub use validate::{Counts, Problem, ProblemKind, Report};

use serde_json::Value;

/// An AsyncAPI document read from text: its JSON value and the syntax it came in.
///
/// Reading only checks that the text is well-formed JSON or YAML within the [`Limits`]; call
/// [`Document::validate`] for the AsyncAPI rules and [`Document::to_model`] for typed access.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    value: Value,
    format: Format,
}

impl Document {
    /// Reads JSON or YAML (auto-detected) with the default [`Limits`].
    ///
    /// # Errors
    /// [`ReadError`] when the text is too large, too deep, or not well-formed.
    pub fn parse(text: &str) -> Result<Self, ReadError> {
        Self::parse_with(text, &Limits::new())
    }

    /// Reads JSON or YAML (auto-detected) with the given limits.
    ///
    /// # Errors
    /// [`ReadError`] when the text is too large, too deep, or not well-formed.
    pub fn parse_with(text: &str, limits: &Limits) -> Result<Self, ReadError> {
        let (value, format) = parse::read(text, limits)?;
        Ok(Document { value, format })
    }

    /// Reads bytes (UTF-8 JSON or YAML) with the given limits.
    ///
    /// # Errors
    /// [`ReadError::NotUtf8`] or any error of [`Document::parse_with`].
    pub fn from_slice(bytes: &[u8], limits: &Limits) -> Result<Self, ReadError> {
        parse::check_size(bytes.len(), limits)?;
        let text = std::str::from_utf8(bytes).map_err(|e| ReadError::NotUtf8 {
            valid_up_to: e.valid_up_to(),
        })?;
        Self::parse_with(text, limits)
    }

    /// Wraps an already parsed JSON value.
    #[must_use]
    pub fn from_value(value: Value) -> Self {
        Document {
            value,
            format: Format::Json,
        }
    }

    /// The document as a JSON value.
    #[must_use]
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// Consumes the document, giving its JSON value.
    #[must_use]
    pub fn into_value(self) -> Value {
        self.value
    }

    /// The syntax the document was read from.
    #[must_use]
    pub fn format(&self) -> Format {
        self.format
    }

    /// The declared `asyncapi` version, if present.
    #[must_use]
    pub fn version(&self) -> Option<&str> {
        self.value.get("asyncapi").and_then(Value::as_str)
    }

    /// Checks every rule and returns all problems at once, with the object counts.
    #[must_use]
    pub fn validate(&self) -> Report {
        validate::validate(&self.value)
    }

    /// The typed model of the document.
    ///
    /// # Errors
    /// [`ModelError`] when the version is unsupported or the value does not fit the model.
    pub fn to_model(&self) -> Result<AsyncApi, ModelError> {
        AsyncApi::from_value(&self.value)
    }

    /// Follows a `#/...` reference inside this document.
    ///
    /// # Errors
    /// [`RefError`] for external, malformed, dangling or cyclic references.
    pub fn resolve(&self, reference: &str) -> Result<&Value, RefError> {
        refs::resolve(&self.value, reference)
    }
}
