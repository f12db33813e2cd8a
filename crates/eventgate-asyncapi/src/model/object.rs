//! The `object!` macro every model struct is written with, and the field table it derives.
//!
//! One declaration gives the serde struct and the list of its JSON fields, which the validator
//! uses for the allowed, required and string-typed keys of the object: a field added to the
//! model is known to validation without being listed a second time.

use std::collections::BTreeMap;

use serde_json::Value;

/// One JSON field of a model object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field {
    /// The key as written in documents (`protocolVersion`).
    pub(crate) name: &'static str,
    /// The model requires it (its type is not an `Option`).
    pub(crate) required: bool,
    /// Its value must be a JSON string.
    pub(crate) string: bool,
}

/// What the field table needs to know about a field's Rust type.
pub(crate) trait FieldType {
    /// The value is a JSON string (`String`, or `Option<String>`; a nullable `Option<Option<String>>`
    /// is not, its `null` being allowed).
    const STRING: bool = false;
    /// A missing key fails deserialization.
    const REQUIRED: bool = true;
}

impl FieldType for String {
    const STRING: bool = true;
}
impl<T: FieldType> FieldType for Option<T> {
    const STRING: bool = T::STRING && T::REQUIRED;
    const REQUIRED: bool = false;
}
impl FieldType for Value {}
impl<T> FieldType for Vec<T> {}
impl<K, V> FieldType for BTreeMap<K, V> {}

/// Defines a model object: a serde struct whose `Option` fields are skipped when absent and keep
/// an explicit `null` apart from absence (an error for a typed field, `Some(Value::Null)` for a JSON
/// value), with every other key in `extensions`; and its field table, `Self::FIELDS`.
///
/// Each field is `/// doc` then `pub name: Type` with `= "jsonName"` when the key is not the Rust
/// name. `Option<Option<T>>` is a nullable field (`Some(None)` is an explicit `null`).
macro_rules! object {
    ($(#[$meta:meta])* pub struct $name:ident { $($body:tt)* }) => {
        object!(@munch [$(#[$meta])*] $name [] [] $($body)*);
    };
    (@munch [$($meta:tt)*] $name:ident [$($out:tt)*] [$($fields:expr,)*]) => {
        $($meta)*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        pub struct $name {
            $($out)*
            /// Extensions (`x-*`) and unknown fields, kept verbatim.
            #[serde(flatten)]
            pub extensions: $crate::model::common::Extensions,
        }
        impl $crate::model::object::FieldType for $name {}
        impl $name {
            /// The JSON fields the model names.
            #[allow(dead_code)]
            pub(crate) const FIELDS: &'static [$crate::model::object::Field] = &[$($fields,)*];
        }
    };
    (@munch $meta:tt $name:ident [$($out:tt)*] [$($fields:tt)*]
        $(#[$fm:meta])* pub $field:ident: Option<Option<$ty:ty>> $(= $json:literal)?, $($rest:tt)*) => {
        object!(@munch $meta $name [$($out)*
            $(#[$fm])* $(#[serde(rename = $json)])?
            #[serde(default, with = "crate::model::common::nullable", skip_serializing_if = "Option::is_none")]
            #[allow(clippy::option_option)]
            pub $field: Option<Option<$ty>>,
        ] [$($fields)* object!(@field $field, Option<Option<$ty>> $(, $json)?),] $($rest)*);
    };
    (@munch $meta:tt $name:ident [$($out:tt)*] [$($fields:tt)*]
        $(#[$fm:meta])* pub $field:ident: Option<$ty:ty> $(= $json:literal)?, $($rest:tt)*) => {
        object!(@munch $meta $name [$($out)*
            $(#[$fm])* $(#[serde(rename = $json)])?
            #[serde(default, deserialize_with = "crate::model::common::present", skip_serializing_if = "Option::is_none")]
            pub $field: Option<$ty>,
        ] [$($fields)* object!(@field $field, Option<$ty> $(, $json)?),] $($rest)*);
    };
    (@munch $meta:tt $name:ident [$($out:tt)*] [$($fields:tt)*]
        $(#[$fm:meta])* pub $field:ident: $ty:ty $(= $json:literal)?, $($rest:tt)*) => {
        object!(@munch $meta $name [$($out)*
            $(#[$fm])* $(#[serde(rename = $json)])?
            pub $field: $ty,
        ] [$($fields)* object!(@field $field, $ty $(, $json)?),] $($rest)*);
    };
    (@field $field:ident, $ty:ty) => { object!(@field $field, $ty, stringify!($field)) };
    (@field $field:ident, $ty:ty, $json:expr) => {
        $crate::model::object::Field {
            name: $json,
            required: <$ty as $crate::model::object::FieldType>::REQUIRED,
            string: <$ty as $crate::model::object::FieldType>::STRING,
        }
    };
}
