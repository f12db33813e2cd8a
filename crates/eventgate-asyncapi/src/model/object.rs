//! The `object!` macro every model struct is written with, and the field table it derives.
//!
//! One declaration gives the struct (serde `Serialize`), its reader from a JSON value
//! ([`FromValue`](super::read::FromValue), and serde `Deserialize` through it) and the list of its
//! JSON fields, which the validator uses for the allowed, required and string-typed keys of the
//! object: a field added to the model is known to reading and validation without being listed a
//! second time.

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
    /// A missing key fails reading.
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

/// Defines a model object: a struct (with `Default` and serde `Serialize`) whose `Option` fields
/// are skipped when absent and keep an explicit `null` apart from absence (an error for a typed
/// field, `Some(Value::Null)` for a JSON value), with every other key in `extensions`; its reader,
/// one `match` on each key of the JSON map; and its field table, `Self::FIELDS`.
///
/// Each field is `/// doc` then `pub name: Type` with `= "jsonName"` when the key is not the Rust
/// name. `Option<Option<T>>` is a nullable field (`Some(None)` is an explicit `null`). A group of
/// fields several objects share is written `..documented,` (tags, external docs), `..titled,`
/// (title, summary, description), `..protocol,` (protocol and its version), `..root(Server),`
/// (the root fields both lines have) or `..components(Server, Channel),`.
macro_rules! object {
    ($(#[$meta:meta])* pub struct $name:ident { $($body:tt)* }) => {
        object!(@munch [$(#[$meta])*] $name [] [] [] $($body)*);
    };
    (@munch [$($meta:tt)*] $name:ident [$($out:tt)*] [$($fields:expr,)*]
        [$(($kind:ident $f:ident [$($json:tt)?] $ty:ty))*]) => {
        $($meta)*
        #[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
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
        impl $crate::model::read::FromValue for $name {
            fn from_value(v: &serde_json::Value) -> Result<Self, $crate::model::read::ShapeError> {
                let map = $crate::model::read::object(v)?;
                $(let mut $f = None;)*
                let mut extensions = $crate::model::common::Extensions::new();
                for (key, value) in map {
                    match key.as_str() {
                        $(object!(@name $f $($json)?) => {
                            $f = Some(object!(@read $kind $ty, value).map_err(|e| e.at(key))?);
                        })*
                        _ => {
                            extensions.insert(key.clone(), value.clone());
                        }
                    }
                }
                Ok($name {
                    $($f: object!(@finish $kind $f, object!(@name $f $($json)?)),)*
                    extensions,
                })
            }
        }
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::model::read::via_value(d)
            }
        }
    };
    // Field groups, written once for the objects that share them.
    (@munch $meta:tt $name:ident $out:tt $fields:tt $reads:tt ..documented, $($rest:tt)*) => {
        object!(@munch $meta $name $out $fields $reads
            /// Tags.
            pub tags: Option<Vec<$crate::model::common::RefOr<$crate::model::common::Tag>>>,
            /// External documentation.
            pub external_docs: Option<$crate::model::common::RefOr<$crate::model::common::ExternalDocs>> = "externalDocs",
            $($rest)*);
    };
    (@munch $meta:tt $name:ident $out:tt $fields:tt $reads:tt ..titled, $($rest:tt)*) => {
        object!(@munch $meta $name $out $fields $reads
            /// Title.
            pub title: Option<String>,
            /// Summary.
            pub summary: Option<String>,
            /// Description.
            pub description: Option<String>,
            $($rest)*);
    };
    (@munch $meta:tt $name:ident $out:tt $fields:tt $reads:tt ..protocol, $($rest:tt)*) => {
        object!(@munch $meta $name $out $fields $reads
            /// Protocol, e.g. `sse`, `http`, `https`, `ws`, `kafka`.
            pub protocol: String,
            /// Protocol version.
            pub protocol_version: Option<String> = "protocolVersion",
            $($rest)*);
    };
    (@munch $meta:tt $name:ident $out:tt $fields:tt $reads:tt ..root($server:ty), $($rest:tt)*) => {
        object!(@munch $meta $name $out $fields $reads
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
    (@munch $meta:tt $name:ident $out:tt $fields:tt $reads:tt ..components($server:ty, $channel:ty), $($rest:tt)*) => {
        object!(@munch $meta $name $out $fields $reads
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
    (@munch $meta:tt $name:ident [$($out:tt)*] [$($fields:tt)*] [$($reads:tt)*]
        $(#[$fm:meta])* pub $field:ident: Option<Option<$ty:ty>> $(= $json:literal)?, $($rest:tt)*) => {
        object!(@munch $meta $name [$($out)*
            $(#[$fm])* $(#[serde(rename = $json)])?
            #[serde(skip_serializing_if = "Option::is_none")]
            #[allow(clippy::option_option)]
            pub $field: Option<Option<$ty>>,
        ] [$($fields)* object!(@field $field, Option<Option<$ty>> $(, $json)?),]
        [$($reads)* (nullable $field [$($json)?] $ty)] $($rest)*);
    };
    (@munch $meta:tt $name:ident [$($out:tt)*] [$($fields:tt)*] [$($reads:tt)*]
        $(#[$fm:meta])* pub $field:ident: Option<$ty:ty> $(= $json:literal)?, $($rest:tt)*) => {
        object!(@munch $meta $name [$($out)*
            $(#[$fm])* $(#[serde(rename = $json)])?
            #[serde(skip_serializing_if = "Option::is_none")]
            pub $field: Option<$ty>,
        ] [$($fields)* object!(@field $field, Option<$ty> $(, $json)?),]
        [$($reads)* (optional $field [$($json)?] $ty)] $($rest)*);
    };
    (@munch $meta:tt $name:ident [$($out:tt)*] [$($fields:tt)*] [$($reads:tt)*]
        $(#[$fm:meta])* pub $field:ident: $ty:ty $(= $json:literal)?, $($rest:tt)*) => {
        object!(@munch $meta $name [$($out)*
            $(#[$fm])* $(#[serde(rename = $json)])?
            pub $field: $ty,
        ] [$($fields)* object!(@field $field, $ty $(, $json)?),]
        [$($reads)* (required $field [$($json)?] $ty)] $($rest)*);
    };
    // Reading one field: its JSON name, its present value, and the field once the map is read.
    (@name $field:ident) => { stringify!($field) };
    (@name $field:ident $json:literal) => { $json };
    (@read nullable $ty:ty, $v:ident) => { $crate::model::read::nullable::<$ty>($v) };
    (@read $kind:ident $ty:ty, $v:ident) => { <$ty as $crate::model::read::FromValue>::from_value($v) };
    (@finish required $f:ident, $name:expr) => {
        $f.ok_or_else(|| $crate::model::read::ShapeError::missing($name))?
    };
    (@finish $kind:ident $f:ident, $name:expr) => { $f };
    (@field $field:ident, $ty:ty) => { object!(@field $field, $ty, stringify!($field)) };
    (@field $field:ident, $ty:ty, $json:expr) => {
        $crate::model::object::Field {
            name: $json,
            required: <$ty as $crate::model::object::FieldType>::REQUIRED,
            string: <$ty as $crate::model::object::FieldType>::STRING,
        }
    };
}
