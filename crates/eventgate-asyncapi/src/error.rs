//! Error types of the crate, one per step of the pipeline: reading text ([`ReadError`], and
//! [`RefError`] for references), fitting the typed model ([`ModelError`]); validation reports
//! problems in a [`Report`](crate::Report), conversion and the API view have their own
//! ([`ConvertError`](crate::ConvertError), [`ApiError`](crate::ApiError)).

use std::fmt;

/// The concrete syntax a document was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// JSON (the text starts with `{` after optional whitespace and byte order mark).
    Json,
    /// YAML 1.2 (everything else).
    Yaml,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Json => "JSON",
            Format::Yaml => "YAML",
        })
    }
}

/// A document could not be read at all (as opposed to being read and found invalid): too large,
/// too deep, not UTF-8, or not well-formed JSON or YAML (YAML alias expansion past serde_norway's
/// repetition limit included).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The input is larger than [`Limits::max_bytes`](crate::Limits).
    #[error("document is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input in bytes.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The document nests deeper than [`Limits::max_depth`](crate::Limits).
    #[error("document nests deeper than the limit of {limit} levels")]
    TooDeep {
        /// The configured limit.
        limit: usize,
    },
    /// The input is not UTF-8.
    #[error("document is not valid UTF-8 (at byte {valid_up_to})")]
    NotUtf8 {
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// The text is not well-formed JSON or YAML.
    #[error("invalid {format}{}: {message}", position(*line, *column))]
    Syntax {
        /// The syntax the text was read as.
        format: Format,
        /// 1-based line of the error, when known.
        line: Option<usize>,
        /// 1-based column of the error, when known.
        column: Option<usize>,
        /// What the underlying reader said.
        message: String,
    },
}

fn position(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" at line {l} column {c}"),
        (Some(l), None) => format!(" at line {l}"),
        _ => String::new(),
    }
}

/// A `$ref` that cannot be followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefError {
    /// The reference points outside the document (a file or URL): not supported.
    #[error(
        "external reference '{reference}' is not supported: only references inside the document ('#/...') are"
    )]
    External {
        /// The reference as written.
        reference: String,
    },
    /// The fragment is not a valid JSON pointer.
    #[error("'{reference}' JSON pointer is invalid")]
    InvalidPointer {
        /// The reference as written.
        reference: String,
    },
    /// Nothing in the document at that pointer.
    #[error("'{reference}' does not exist")]
    Dangling {
        /// The reference as written.
        reference: String,
    },
    /// Following the reference leads back to itself.
    #[error("'{reference}' is part of a reference cycle")]
    Cycle {
        /// The reference as written.
        reference: String,
    },
    /// Inlining the references would produce more than the allowed number of values.
    #[error("inlining references would exceed {limit} values")]
    TooLarge {
        /// The configured limit.
        limit: usize,
    },
}

/// The document is a well-formed JSON value but does not fit the typed model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The `asyncapi` field is missing or names a version this crate does not model.
    #[error(
        "unsupported AsyncAPI version {0:?} (supported: 2.0.0 to 2.6.0, 3.0.0, and 3.1.0 read as 3.0)"
    )]
    UnsupportedVersion(Option<String>),
    /// A value does not fit the model (run [`validate`](crate::Document::validate) for every
    /// problem at once).
    #[error("document does not fit the AsyncAPI {version} model at '{pointer}': {message}")]
    Shape {
        /// The declared version.
        version: String,
        /// JSON pointer of the value at fault (of the object, for a missing field).
        pointer: String,
        /// What is wrong there: the kind of value expected and found, or the missing field.
        message: String,
    },
}
