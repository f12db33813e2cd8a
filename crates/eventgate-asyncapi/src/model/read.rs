//! Reading the typed model from a borrowed JSON value.
//!
//! Every model object is read in one pass over its JSON map: each key is matched against the
//! object's field names (a `match` the `object!` macro generates from the same declaration as the
//! field table) and every other key is copied into `extensions`. Nothing is buffered and read a
//! second time, which serde's `flatten` and `untagged` would do.
//!
//! The rules are the model's: an `Option` field may be absent, and an explicit `null` is an error
//! unless the field is a JSON value (`Some(Value::Null)`) or nullable (`Option<Option<T>>`,
//! `Some(None)`); a [`RefOr`] is a reference only when it is exactly `{"$ref": string}`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::common::{RefOr, Reference};
use crate::error::ModelError;

/// A model type read from a borrowed JSON value.
pub(crate) trait FromValue: Sized {
    /// Reads `v`.
    fn from_value(v: &Value) -> Result<Self, ShapeError>;
}

/// Where and why a value does not fit the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShapeError {
    /// Reference tokens from the value at fault up to the document root, innermost first: each
    /// container adds its key while the error propagates, so reading costs nothing for them.
    path: Vec<String>,
    problem: Problem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Problem {
    /// The value is of the wrong kind.
    Expected {
        expected: &'static str,
        found: &'static str,
    },
    /// A required field is absent from this object.
    Missing(&'static str),
}

impl ShapeError {
    /// `v` is not what was expected.
    pub(crate) fn expected(expected: &'static str, v: &Value) -> Self {
        let found = match v {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        };
        let problem = Problem::Expected { expected, found };
        ShapeError {
            path: Vec::new(),
            problem,
        }
    }

    /// The required field `name` is absent.
    pub(crate) fn missing(name: &'static str) -> Self {
        let problem = Problem::Missing(name);
        ShapeError {
            path: Vec::new(),
            problem,
        }
    }

    /// The same error one level up, inside the member `token` (a key or an array index).
    #[must_use]
    pub(crate) fn at(mut self, token: &str) -> Self {
        self.path.push(token.to_owned());
        self
    }

    /// The JSON pointer of the value at fault.
    pub(crate) fn pointer(&self) -> String {
        let tokens = self.path.iter().rev();
        tokens.fold(String::new(), |p, t| crate::pointer::push(&p, t))
    }

    /// The public error, for a document declaring `version`.
    pub(crate) fn into_model(self, version: &str) -> ModelError {
        let message = match self.problem {
            Problem::Expected { expected, found } => format!("expected {expected}, found {found}"),
            Problem::Missing(name) => format!("missing field `{name}`"),
        };
        ModelError::Shape {
            version: version.to_owned(),
            pointer: self.pointer(),
            message,
        }
    }
}

impl std::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = self.pointer();
        match self.problem {
            Problem::Expected { expected, found } => {
                write!(f, "at '{at}': expected {expected}, found {found}")
            }
            Problem::Missing(name) => write!(f, "at '{at}': missing field `{name}`"),
        }
    }
}

/// serde's `Deserialize` of a model type: the JSON value, then the reader (so that model types
/// still deserialize with serde: [`Reference::resolve`], `serde_json::from_value`).
pub(crate) fn via_value<'de, D: serde::Deserializer<'de>, T: FromValue>(
    d: D,
) -> Result<T, D::Error> {
    use serde::Deserialize as _;
    let v = Value::deserialize(d)?;
    T::from_value(&v).map_err(serde::de::Error::custom)
}

/// `v` as a JSON object.
pub(crate) fn object(v: &Value) -> Result<&Map<String, Value>, ShapeError> {
    v.as_object()
        .ok_or_else(|| ShapeError::expected("an object", v))
}

/// A nullable field's value: `null` is `None`.
pub(crate) fn nullable<T: FromValue>(v: &Value) -> Result<Option<T>, ShapeError> {
    match v {
        Value::Null => Ok(None),
        v => T::from_value(v).map(Some),
    }
}

impl FromValue for String {
    fn from_value(v: &Value) -> Result<Self, ShapeError> {
        match v {
            Value::String(s) => Ok(s.clone()),
            v => Err(ShapeError::expected("a string", v)),
        }
    }
}

impl FromValue for Value {
    fn from_value(v: &Value) -> Result<Self, ShapeError> {
        Ok(v.clone())
    }
}

impl<T: FromValue> FromValue for Box<T> {
    fn from_value(v: &Value) -> Result<Self, ShapeError> {
        T::from_value(v).map(Box::new)
    }
}

impl<T: FromValue> FromValue for Vec<T> {
    fn from_value(v: &Value) -> Result<Self, ShapeError> {
        let Value::Array(items) = v else {
            return Err(ShapeError::expected("an array", v));
        };
        let read = |(i, item)| T::from_value(item).map_err(|e: ShapeError| e.at(&format!("{i}")));
        items.iter().enumerate().map(read).collect()
    }
}

impl<T: FromValue> FromValue for BTreeMap<String, T> {
    fn from_value(v: &Value) -> Result<Self, ShapeError> {
        let read = |(k, item): (&String, _)| match T::from_value(item) {
            Ok(t) => Ok((k.clone(), t)),
            Err(e) => Err(e.at(k)),
        };
        object(v)?.iter().map(read).collect()
    }
}

impl FromValue for Reference {
    fn from_value(v: &Value) -> Result<Self, ShapeError> {
        match v.as_object().and_then(Reference::of) {
            Some(r) => Ok(r),
            None => Err(ShapeError::expected(
                "a reference (an object with exactly one key, \"$ref\", a string)",
                v,
            )),
        }
    }
}

impl<T: FromValue> FromValue for RefOr<T> {
    fn from_value(v: &Value) -> Result<Self, ShapeError> {
        match v.as_object().and_then(Reference::of) {
            Some(r) => Ok(RefOr::Ref(r)),
            None => T::from_value(v).map(RefOr::Item),
        }
    }
}

impl Reference {
    /// The reference an object is, if it is exactly `{"$ref": string}`.
    pub(crate) fn of(m: &Map<String, Value>) -> Option<Self> {
        match (m.len(), m.get("$ref")) {
            (1, Some(Value::String(r))) => Some(Reference::new(r.clone())),
            _ => None,
        }
    }
}
