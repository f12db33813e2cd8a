//! Objects shared by AsyncAPI 2.x and 3.0.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::FromValue;

/// Every field a model object does not know by name: `x-*` extensions and unknown keys, kept verbatim.
pub type Extensions = BTreeMap<String, Value>;

/// A `$ref` object (`{"$ref": "#/components/..."}`).
///
/// Only an object with exactly the one key `$ref` (a string) is a reference.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Reference {
    /// The reference, e.g. `#/components/messages/Tick`.
    #[serde(rename = "$ref")]
    pub reference: String,
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
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RefOr<T> {
    /// A reference.
    Ref(Reference),
    /// The object inline.
    Item(T),
}

impl<T> super::object::FieldType for RefOr<T> {}
impl super::object::FieldType for Reference {}

impl<T> RefOr<T> {
    /// The inline object, if this is not a reference.
    pub fn item(&self) -> Option<&T> {
        match self {
            RefOr::Item(t) => Some(t),
            RefOr::Ref(_) => None,
        }
    }
}

impl<T: DeserializeOwned + Clone> RefOr<T> {
    /// The object, inline or the target of the reference inside `doc` (the document's JSON
    /// value); `None` when the reference cannot be followed or its target does not fit `T`.
    pub fn resolve(&self, doc: &Value) -> Option<Cow<'_, T>> {
        match self {
            RefOr::Item(t) => Some(Cow::Borrowed(t)),
            RefOr::Ref(r) => r.resolve(doc).map(Cow::Owned),
        }
    }
}

impl<T> RefOr<T> {
    /// [`RefOr::resolve`] for a model type, read without a copy of the target.
    pub(crate) fn follow(&self, doc: &Value) -> Option<Cow<'_, T>>
    where
        T: FromValue + Clone,
    {
        match self {
            RefOr::Item(t) => Some(Cow::Borrowed(t)),
            RefOr::Ref(r) => r.follow(doc).map(Cow::Owned),
        }
    }
}

impl Reference {
    /// The target of the reference inside `doc` (the document's JSON value) read as a `T`;
    /// `None` when the reference cannot be followed or its target does not fit `T`.
    ///
    /// ```
    /// use eventgate_asyncapi::model::common::{Reference, Tag};
    /// let doc = serde_json::json!({"components": {"tags": {"t": {"name": "quotes"}}}});
    /// let tag: Tag = Reference::new("#/components/tags/t").resolve(&doc).unwrap();
    /// assert_eq!(tag.name, "quotes");
    /// ```
    #[must_use]
    pub fn resolve<T: DeserializeOwned>(&self, doc: &Value) -> Option<T> {
        T::deserialize(crate::refs::resolve(doc, &self.reference).ok()?).ok()
    }

    /// [`Reference::resolve`] for a model type, read without a copy of the target.
    pub(crate) fn follow<T: FromValue>(&self, doc: &Value) -> Option<T> {
        T::from_value(crate::refs::resolve(doc, &self.reference).ok()?).ok()
    }
}

object! {
    /// `info`.
    pub struct Info {
        /// Title of the API.
        pub title: String,
        /// Version of the API (not of AsyncAPI).
        pub version: String,
        /// Description (CommonMark).
        pub description: Option<String>,
        /// Terms of service URL.
        pub terms_of_service: Option<String> = "termsOfService",
        /// Contact.
        pub contact: Option<Value>,
        /// License.
        pub license: Option<Value>,
        /// Tags (3.0; at the root in 2.x).
        pub tags: Option<Vec<RefOr<Tag>>>,
        /// External documentation (3.0; at the root in 2.x).
        pub external_docs: Option<RefOr<ExternalDocs>> = "externalDocs",
    }
}

object! {
    /// A tag.
    pub struct Tag {
        /// Name, unique within its list.
        pub name: String,
        /// Description.
        pub description: Option<String>,
        /// External documentation.
        pub external_docs: Option<RefOr<ExternalDocs>> = "externalDocs",
    }
}

object! {
    /// External documentation.
    pub struct ExternalDocs {
        /// URL.
        pub url: String,
        /// Description.
        pub description: Option<String>,
    }
}

object! {
    /// A server variable.
    pub struct ServerVariable {
        /// Allowed values.
        pub enum_values: Option<Vec<String>> = "enum",
        /// Default value.
        pub default: Option<String>,
        /// Description.
        pub description: Option<String>,
        /// Examples.
        pub examples: Option<Vec<String>>,
    }
}

object! {
    /// A channel parameter.
    pub struct Parameter {
        /// Description.
        pub description: Option<String>,
        /// Schema of the value (2.x).
        pub schema: Option<Value>,
        /// Runtime expression of where the value comes from.
        pub location: Option<String>,
        /// Allowed values (3.0).
        pub enum_values: Option<Vec<String>> = "enum",
        /// Default value (3.0).
        pub default: Option<String>,
        /// Examples (3.0).
        pub examples: Option<Vec<String>>,
    }
}

object! {
    /// A message (2.x and 3.0 share the shape; 2.x adds `schemaFormat` and `messageId`).
    pub struct Message {
        /// Headers schema.
        pub headers: Option<Value>,
        /// Payload schema (kept as written, never reinterpreted).
        pub payload: Option<Value>,
        /// Correlation id object or reference.
        pub correlation_id: Option<Value> = "correlationId",
        /// Schema format of the payload (2.x).
        pub schema_format: Option<String> = "schemaFormat",
        /// Content type.
        pub content_type: Option<String> = "contentType",
        /// Machine name.
        pub name: Option<String>,
        ..titled,
        /// Identifier (2.4 to 2.6).
        pub message_id: Option<String> = "messageId",
        ..documented,
        /// Protocol bindings.
        pub bindings: Option<Value>,
        /// Examples.
        pub examples: Option<Vec<Value>>,
        /// Traits.
        pub traits: Option<Vec<Value>>,
    }
}

object! {
    /// A security scheme.
    pub struct SecurityScheme {
        /// `userPassword`, `apiKey`, `X509`, `httpApiKey`, `http`, `oauth2`, `openIdConnect`, ...
        pub kind: String = "type",
        /// Description.
        pub description: Option<String>,
        /// Header, query or cookie name (`httpApiKey`).
        pub name: Option<String>,
        /// Where the key goes (`user`, `password`, `query`, `header`, `cookie`).
        pub location: Option<String> = "in",
        /// HTTP authorization scheme (`http`), e.g. `bearer`.
        pub scheme: Option<String>,
        /// Bearer format hint, e.g. `JWT`.
        pub bearer_format: Option<String> = "bearerFormat",
        /// OAuth2 flows.
        pub flows: Option<OAuthFlows>,
        /// OpenID Connect discovery URL.
        pub open_id_connect_url: Option<String> = "openIdConnectUrl",
        /// Scopes required (3.0).
        pub scopes: Option<Vec<String>>,
    }
}

object! {
    /// OAuth2 flows.
    pub struct OAuthFlows {
        /// Implicit flow.
        pub implicit: Option<OAuthFlow>,
        /// Password flow.
        pub password: Option<OAuthFlow>,
        /// Client credentials flow.
        pub client_credentials: Option<OAuthFlow> = "clientCredentials",
        /// Authorization code flow.
        pub authorization_code: Option<OAuthFlow> = "authorizationCode",
    }
}

object! {
    /// One OAuth2 flow. WSO2 keeps `x-scopes-bindings` (scope to roles) in its extensions.
    pub struct OAuthFlow {
        /// Authorization URL (implicit, authorizationCode).
        pub authorization_url: Option<String> = "authorizationUrl",
        /// Token URL (password, clientCredentials, authorizationCode).
        pub token_url: Option<String> = "tokenUrl",
        /// Refresh URL.
        pub refresh_url: Option<String> = "refreshUrl",
        /// Scopes and their descriptions (2.x).
        pub scopes: Option<BTreeMap<String, String>>,
        /// Scopes and their descriptions (3.0).
        pub available_scopes: Option<BTreeMap<String, String>> = "availableScopes",
    }
}

/// A 2.x security requirement: scheme name to scopes.
pub type SecurityRequirement = BTreeMap<String, Vec<String>>;

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::read::via_value(d)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for RefOr<T> {
    /// A reference when the value is exactly `{"$ref": string}`, else a `T`.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match v.as_object().and_then(Reference::of) {
            Some(r) => Ok(RefOr::Ref(r)),
            None => T::deserialize(v)
                .map(RefOr::Item)
                .map_err(serde::de::Error::custom),
        }
    }
}
