//! Typed, lossless models of AsyncAPI 2.x and 3.0 documents, read from a JSON value in one pass
//! (serde `Serialize` writes them; their serde `Deserialize` goes through the same reader).
//!
//! Every object keeps the fields it does not know by name (all `x-*` extensions and any unknown
//! key) in an `extensions` map, and schemas are `serde_json::Value`s, so
//! `AsyncApi::from_value(v)?.to_value() == v` for every document that fits the model.

#[macro_use]
mod object;
pub mod common;
mod read;
#[cfg(test)]
mod read_tests;
pub mod v2;
pub mod v3;

use serde_json::Value;

use crate::error::ModelError;
pub(crate) use object::Field;
pub(crate) use read::FromValue;

/// The major AsyncAPI line a document belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpecVersion {
    /// 2.0.0 to 2.6.0.
    V2,
    /// 3.0.0 (and 3.1.0, read with the 3.0 model).
    V3,
}

/// Versions this crate reads.
pub const SUPPORTED_VERSIONS: &[&str] = &[
    "2.0.0", "2.1.0", "2.2.0", "2.3.0", "2.4.0", "2.5.0", "2.6.0", "3.0.0", "3.1.0",
];

impl SpecVersion {
    /// The line of a declared `asyncapi` version string, if supported.
    ///
    /// ```
    /// use eventgate_asyncapi::SpecVersion;
    /// assert_eq!(SpecVersion::of("2.6.0"), Some(SpecVersion::V2));
    /// assert_eq!(SpecVersion::of("3.0.0"), Some(SpecVersion::V3));
    /// assert_eq!(SpecVersion::of("1.2.0"), None);
    /// ```
    #[must_use]
    pub fn of(version: &str) -> Option<Self> {
        if !SUPPORTED_VERSIONS.contains(&version) {
            return None;
        }
        if version.starts_with("2.") {
            Some(SpecVersion::V2)
        } else {
            Some(SpecVersion::V3)
        }
    }
}

/// A typed AsyncAPI document of either line.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AsyncApi {
    /// 2.x.
    V2(Box<v2::AsyncApiV2>),
    /// 3.0.
    V3(Box<v3::AsyncApiV3>),
}

impl AsyncApi {
    /// Maps a JSON value onto the model of its declared version.
    ///
    /// # Errors
    /// [`ModelError::UnsupportedVersion`] or [`ModelError::Shape`] (validate first for a full list
    /// of problems with pointers).
    pub fn from_value(value: &Value) -> Result<Self, ModelError> {
        let declared = value.get("asyncapi").and_then(Value::as_str);
        let (Some(found), Some(line)) = (declared, declared.and_then(SpecVersion::of)) else {
            return Err(ModelError::UnsupportedVersion(declared.map(str::to_owned)));
        };
        Ok(match line {
            SpecVersion::V2 => AsyncApi::V2(Box::new(typed(value, found)?)),
            SpecVersion::V3 => AsyncApi::V3(Box::new(typed(value, found)?)),
        })
    }

    /// The document as a JSON value (equal to the value it was read from).
    #[must_use]
    pub fn to_value(&self) -> Value {
        let r = match self {
            AsyncApi::V2(d) => serde_json::to_value(d),
            AsyncApi::V3(d) => serde_json::to_value(d),
        };
        // Serializing these types to a Value cannot fail (string keys, no custom errors).
        r.unwrap_or(Value::Null)
    }

    /// The declared `asyncapi` version string.
    #[must_use]
    pub fn version(&self) -> &str {
        match self {
            AsyncApi::V2(d) => &d.asyncapi,
            AsyncApi::V3(d) => &d.asyncapi,
        }
    }

    /// The `info` object.
    #[must_use]
    pub fn info(&self) -> &common::Info {
        match self {
            AsyncApi::V2(d) => &d.info,
            AsyncApi::V3(d) => &d.info,
        }
    }
}

/// Reads `value`, a document declaring `version`, as the model type `T` of that version.
pub(crate) fn typed<T: FromValue>(value: &Value, version: &str) -> Result<T, ModelError> {
    T::from_value(value).map_err(|e| e.into_model(version))
}
