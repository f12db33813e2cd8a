//! Objects shared by AsyncAPI 2.x and 3.0.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Every field a model object does not know by name: `x-*` extensions and unknown keys, kept verbatim.
pub type Extensions = BTreeMap<String, Value>;

/// A `$ref` object (`{"$ref": "#/components/..."}`).
///
/// Only an object with exactly the one key `$ref` (a string) is a reference (serde's derive would
/// also accept a one-element array, which would not round-trip).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Map<String, Value>")]
pub struct Reference {
    /// The reference, e.g. `#/components/messages/Tick`.
    #[serde(rename = "$ref")]
    pub reference: String,
}

impl TryFrom<serde_json::Map<String, Value>> for Reference {
    type Error = &'static str;

    fn try_from(m: serde_json::Map<String, Value>) -> Result<Self, Self::Error> {
        match (m.len(), m.get("$ref")) {
            (1, Some(Value::String(r))) => Ok(Reference {
                reference: r.clone(),
            }),
            _ => Err("a reference is an object with exactly one key, \"$ref\", a string"),
        }
    }
}

impl Reference {
    /// A reference to the given target.
    #[must_use]
    pub fn new(reference: impl Into<String>) -> Self {
        Reference {
            reference: reference.into(),
        }
    }
}

/// Either a `$ref` object or the object itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RefOr<T> {
    /// A reference.
    Ref(Reference),
    /// The object inline.
    Item(T),
}

impl<T> RefOr<T> {
    /// The inline object, if this is not a reference.
    pub fn item(&self) -> Option<&T> {
        match self {
            RefOr::Item(t) => Some(t),
            RefOr::Ref(_) => None,
        }
    }
}

/// `info`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    /// Title of the API.
    pub title: String,
    /// Version of the API (not of AsyncAPI).
    pub version: String,
    /// Description (CommonMark).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    /// Terms of service URL.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub terms_of_service: Option<String>,
    /// Contact.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub contact: Option<Value>,
    /// License.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub license: Option<Value>,
    /// Tags (3.0; at the root in 2.x).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub tags: Option<Vec<RefOr<Tag>>>,
    /// External documentation (3.0; at the root in 2.x).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub external_docs: Option<RefOr<ExternalDocs>>,
    /// Extensions and unknown fields.
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// A tag.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tag {
    /// Name, unique within its list.
    pub name: String,
    /// Description.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    /// External documentation.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub external_docs: Option<RefOr<ExternalDocs>>,
    /// Extensions and unknown fields.
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// External documentation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ExternalDocs {
    /// URL.
    pub url: String,
    /// Description.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    /// Extensions and unknown fields.
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// A server variable.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServerVariable {
    /// Allowed values.
    #[serde(
        default,
        rename = "enum",
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub enum_values: Option<Vec<String>>,
    /// Default value.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub default: Option<String>,
    /// Description.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    /// Examples.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub examples: Option<Vec<String>>,
    /// Extensions and unknown fields.
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// A channel parameter.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Parameter {
    /// Description.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    /// Schema of the value (2.x).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub schema: Option<Value>,
    /// Runtime expression of where the value comes from.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub location: Option<String>,
    /// Allowed values (3.0).
    #[serde(
        default,
        rename = "enum",
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub enum_values: Option<Vec<String>>,
    /// Default value (3.0).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub default: Option<String>,
    /// Examples (3.0).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub examples: Option<Vec<String>>,
    /// Extensions and unknown fields.
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// A message (2.x and 3.0 share the shape; 2.x adds `schemaFormat` and `messageId`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Headers schema.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub headers: Option<Value>,
    /// Payload schema (kept as written, never reinterpreted).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub payload: Option<Value>,
    /// Correlation id object or reference.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub correlation_id: Option<Value>,
    /// Schema format of the payload (2.x).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub schema_format: Option<String>,
    /// Content type.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub content_type: Option<String>,
    /// Machine name.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// Title.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub title: Option<String>,
    /// Summary.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub summary: Option<String>,
    /// Description.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    /// Identifier (2.4 to 2.6).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub message_id: Option<String>,
    /// Tags.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub tags: Option<Vec<RefOr<Tag>>>,
    /// External documentation.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub external_docs: Option<RefOr<ExternalDocs>>,
    /// Protocol bindings.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub bindings: Option<Value>,
    /// Examples.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub examples: Option<Vec<Value>>,
    /// Traits.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub traits: Option<Vec<Value>>,
    /// Extensions and unknown fields.
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// A security scheme.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityScheme {
    /// `userPassword`, `apiKey`, `X509`, `httpApiKey`, `http`, `oauth2`, `openIdConnect`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Description.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    /// Header, query or cookie name (`httpApiKey`).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// Where the key goes (`user`, `password`, `query`, `header`, `cookie`).
    #[serde(
        default,
        rename = "in",
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub location: Option<String>,
    /// HTTP authorization scheme (`http`), e.g. `bearer`.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub scheme: Option<String>,
    /// Bearer format hint, e.g. `JWT`.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub bearer_format: Option<String>,
    /// OAuth2 flows.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub flows: Option<OAuthFlows>,
    /// OpenID Connect discovery URL.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub open_id_connect_url: Option<String>,
    /// Scopes required (3.0).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub scopes: Option<Vec<String>>,
    /// Extensions and unknown fields.
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// OAuth2 flows.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthFlows {
    /// Implicit flow.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub implicit: Option<OAuthFlow>,
    /// Password flow.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub password: Option<OAuthFlow>,
    /// Client credentials flow.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_credentials: Option<OAuthFlow>,
    /// Authorization code flow.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub authorization_code: Option<OAuthFlow>,
    /// Extensions and unknown fields.
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// One OAuth2 flow. WSO2 keeps `x-scopes-bindings` (scope to roles) in its extensions.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthFlow {
    /// Authorization URL (implicit, authorizationCode).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub authorization_url: Option<String>,
    /// Token URL (password, clientCredentials, authorizationCode).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub token_url: Option<String>,
    /// Refresh URL.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub refresh_url: Option<String>,
    /// Scopes and their descriptions (2.x).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub scopes: Option<BTreeMap<String, String>>,
    /// Scopes and their descriptions (3.0).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub available_scopes: Option<BTreeMap<String, String>>,
    /// Extensions and unknown fields.
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// Deserializes a present optional field: an explicit `null` is `Some(Value::Null)` for JSON
/// values and an error for typed fields (never silently dropped, so round trips stay exact).
pub(crate) fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A 2.x security requirement: scheme name to scopes.
pub type SecurityRequirement = BTreeMap<String, Vec<String>>;

/// `Option<Option<T>>` that keeps an explicit `null` (`Some(None)`) apart from absence (`None`).
pub(crate) mod nullable {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[allow(clippy::option_option)]
    pub(crate) fn serialize<S: Serializer, T: Serialize>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    #[allow(clippy::option_option)]
    pub(crate) fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}
