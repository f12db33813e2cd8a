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

/// Defines a model object: a serde struct (with `Default`) whose `Option` fields are skipped when
/// absent and keep an explicit `null` apart from absence (an error for a typed field,
/// `Some(Value::Null)` for a JSON value), with every other key in `extensions`; and its field
/// table, `Self::FIELDS`.
///
/// Each field is `/// doc` then `pub name: Type` with `= "jsonName"` when the key is not the Rust
/// name. `Option<Option<T>>` is a nullable field (`Some(None)` is an explicit `null`). A group of
/// fields several objects share is written `..documented,` (tags, external docs), `..titled,`
/// (title, summary, description), `..protocol,` (protocol and its version), `..root(Server),`
/// (the root fields both lines have) or `..components(Server, Channel),`.
macro_rules! object {
    ($(#[$meta:meta])* pub struct $name:ident { $($body:tt)* }) => {
        object!(@munch [$(#[$meta])*] $name [] [] $($body)*);
    };
    (@munch [$($meta:tt)*] $name:ident [$($out:tt)*] [$($fields:expr,)*]) => {
        $($meta)*
        #[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
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
    // Field groups, written once for the objects that share them.
    (@munch $meta:tt $name:ident $out:tt $fields:tt ..documented, $($rest:tt)*) => {
        object!(@munch $meta $name $out $fields
            /// Tags.
            pub tags: Option<Vec<$crate::model::common::RefOr<$crate::model::common::Tag>>>,
            /// External documentation.
            pub external_docs: Option<$crate::model::common::RefOr<$crate::model::common::ExternalDocs>> = "externalDocs",
            $($rest)*);
    };
    (@munch $meta:tt $name:ident $out:tt $fields:tt ..titled, $($rest:tt)*) => {
        object!(@munch $meta $name $out $fields
            /// Title.
            pub title: Option<String>,
            /// Summary.
            pub summary: Option<String>,
            /// Description.
            pub description: Option<String>,
            $($rest)*);
    };
    (@munch $meta:tt $name:ident $out:tt $fields:tt ..protocol, $($rest:tt)*) => {
        object!(@munch $meta $name $out $fields
            /// Protocol, e.g. `sse`, `http`, `https`, `ws`, `kafka`.
            pub protocol: String,
            /// Protocol version.
            pub protocol_version: Option<String> = "protocolVersion",
            $($rest)*);
    };
    (@munch $meta:tt $name:ident $out:tt $fields:tt ..root($server:ty), $($rest:tt)*) => {
        object!(@munch $meta $name $out $fields
            /// The AsyncAPI version: `2.0.0` to `2.6.0`, or `3.0.0`.
            pub asyncapi: String,
            /// Application identifier (URI).
            pub id: Option<String>,
            /// Metadata (in 3.0 with the tags and external docs that 2.x has at the root).
            pub info: $crate::model::common::Info,
            /// Servers by name.
            pub servers: Option<std::collections::BTreeMap<String, $crate::model::common::RefOr<$server>>>,
            /// Default content type of messages.
            pub default_content_type: Option<String> = "defaultContentType",
            $($rest)*);
    };
    (@munch $meta:tt $name:ident $out:tt $fields:tt ..components($server:ty, $channel:ty), $($rest:tt)*) => {
        object!(@munch $meta $name $out $fields
            /// Schemas (JSON values; in 3.0 also multi-format schema objects).
            pub schemas: Option<std::collections::BTreeMap<String, serde_json::Value>>,
            /// Servers (2.3+ in 2.x).
            pub servers: Option<std::collections::BTreeMap<String, $crate::model::common::RefOr<$server>>>,
            /// Channels (2.5+ in 2.x).
            pub channels: Option<std::collections::BTreeMap<String, $crate::model::common::RefOr<$channel>>>,
            /// Messages.
            pub messages: Option<std::collections::BTreeMap<String, $crate::model::common::RefOr<$crate::model::common::Message>>>,
            /// Security schemes.
            pub security_schemes: Option<std::collections::BTreeMap<String, $crate::model::common::RefOr<$crate::model::common::SecurityScheme>>> = "securitySchemes",
            /// Parameters.
            pub parameters: Option<std::collections::BTreeMap<String, $crate::model::common::RefOr<$crate::model::common::Parameter>>>,
            $($rest)*);
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
