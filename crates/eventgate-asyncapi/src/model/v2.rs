//! AsyncAPI 2.0.0 to 2.6.0.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{
    Extensions, ExternalDocs, Info, Message, Parameter, RefOr, SecurityRequirement, SecurityScheme,
    ServerVariable, Tag,
};

/// The root of an AsyncAPI 2.x document.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AsyncApiV2 {
    /// `2.0.0` ... `2.6.0`.
    pub asyncapi: String,
    /// Application identifier (URI).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// Metadata.
    pub info: Info,
    /// Servers by name.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub servers: Option<BTreeMap<String, RefOr<ServerV2>>>,
    /// Default content type of messages.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_content_type: Option<String>,
    /// Channels by name (the channel name is the address, e.g. `/stocks/{symbol}`). Required.
    pub channels: BTreeMap<String, RefOr<ChannelV2>>,
    /// Reusable objects.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub components: Option<ComponentsV2>,
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
    /// Extensions and unknown fields.
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// A 2.x server.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerV2 {
    /// URL, possibly with `{variables}`.
    pub url: String,
    /// Protocol, e.g. `sse`, `http`, `https`, `ws`, `kafka`.
    pub protocol: String,
    /// Protocol version.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub protocol_version: Option<String>,
    /// Description.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    /// URL variables.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub variables: Option<BTreeMap<String, RefOr<ServerVariable>>>,
    /// Security requirements.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub security: Option<Vec<SecurityRequirement>>,
    /// Tags.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub tags: Option<Vec<RefOr<Tag>>>,
    /// Protocol bindings.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub bindings: Option<Value>,
    /// Extensions and unknown fields.
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// A 2.x channel item.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelV2 {
    /// Description.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    /// Names of the servers this channel is available on.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub servers: Option<Vec<String>>,
    /// What a client receives (the SSE direction).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub subscribe: Option<OperationV2>,
    /// What a client sends.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub publish: Option<OperationV2>,
    /// Parameters of the channel name.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub parameters: Option<BTreeMap<String, RefOr<Parameter>>>,
    /// Protocol bindings.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub bindings: Option<Value>,
    /// Extensions and unknown fields (WSO2: `x-auth-type`).
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// A 2.x operation (`subscribe` or `publish`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationV2 {
    /// Unique identifier.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub operation_id: Option<String>,
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
    /// Security requirements (2.4+).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub security: Option<Vec<SecurityRequirement>>,
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
    /// Traits.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub traits: Option<Vec<Value>>,
    /// The message, a reference, or `oneOf` several.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub message: Option<OperationMessage>,
    /// Extensions and unknown fields (WSO2: `x-scopes`, `x-uri-mapping`).
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// The `message` of a 2.x operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OperationMessage {
    /// `{"oneOf": [...]}`.
    OneOf(OneOfMessages),
    /// One message or a reference to one.
    Single(Box<RefOr<Message>>),
}

/// `{"oneOf": [...]}` in a 2.x operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "serde_json::Map<String, Value>")]
pub struct OneOfMessages {
    /// The alternatives.
    pub one_of: Vec<RefOr<Message>>,
}

/// 2.x `components`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentsV2 {
    /// Schemas (kept as JSON values).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub schemas: Option<BTreeMap<String, Value>>,
    /// Servers (2.3+).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub servers: Option<BTreeMap<String, RefOr<ServerV2>>>,
    /// Channels (2.5+).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub channels: Option<BTreeMap<String, RefOr<ChannelV2>>>,
    /// Messages.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub messages: Option<BTreeMap<String, RefOr<Message>>>,
    /// Security schemes.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub security_schemes: Option<BTreeMap<String, RefOr<SecurityScheme>>>,
    /// Parameters.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub parameters: Option<BTreeMap<String, RefOr<Parameter>>>,
    /// Everything else (traits, bindings, correlation ids, server variables) and extensions.
    #[serde(flatten)]
    pub extensions: Extensions,
}

impl TryFrom<serde_json::Map<String, Value>> for OneOfMessages {
    type Error = String;

    fn try_from(mut m: serde_json::Map<String, Value>) -> Result<Self, Self::Error> {
        match (m.len(), m.remove("oneOf")) {
            (1, Some(v)) => serde_json::from_value(v)
                .map(|one_of| OneOfMessages { one_of })
                .map_err(|e| e.to_string()),
            _ => Err("a oneOf message is an object with exactly one key, \"oneOf\"".to_owned()),
        }
    }
}
