//! AsyncAPI 3.0.0 (3.1.0 is read with the same model).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{
    Extensions, ExternalDocs, Info, Message, Parameter, RefOr, Reference, SecurityScheme,
    ServerVariable, Tag, nullable,
};

/// The root of an AsyncAPI 3.0 document.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AsyncApiV3 {
    /// `3.0.0`.
    pub asyncapi: String,
    /// Application identifier (URI).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// Metadata (tags and external docs live here in 3.0).
    pub info: Info,
    /// Servers by name.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub servers: Option<BTreeMap<String, RefOr<ServerV3>>>,
    /// Default content type of messages.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_content_type: Option<String>,
    /// Channels by id.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub channels: Option<BTreeMap<String, RefOr<ChannelV3>>>,
    /// Operations by id.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub operations: Option<BTreeMap<String, RefOr<OperationV3>>>,
    /// Reusable objects.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub components: Option<ComponentsV3>,
    /// Extensions and unknown fields.
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// A 3.0 server.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerV3 {
    /// Host, possibly with port and `{variables}`.
    pub host: String,
    /// Protocol, e.g. `sse`, `http`, `https`, `ws`, `kafka`.
    pub protocol: String,
    /// Protocol version.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub protocol_version: Option<String>,
    /// Path prefix.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub pathname: Option<String>,
    /// Description.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
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
    /// Variables.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub variables: Option<BTreeMap<String, RefOr<ServerVariable>>>,
    /// Security schemes that apply.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub security: Option<Vec<RefOr<SecurityScheme>>>,
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
    /// Extensions and unknown fields.
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// A 3.0 channel.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelV3 {
    /// Address (`None`: absent; `Some(None)`: explicit `null`, an unknown or dynamic address).
    #[serde(default, with = "nullable", skip_serializing_if = "Option::is_none")]
    #[allow(clippy::option_option)]
    pub address: Option<Option<String>>,
    /// Messages by id.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub messages: Option<BTreeMap<String, RefOr<Message>>>,
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
    /// Servers (references).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub servers: Option<Vec<Reference>>,
    /// Parameters of the address.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub parameters: Option<BTreeMap<String, RefOr<Parameter>>>,
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
    /// Extensions and unknown fields.
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// `send` or `receive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The application sends (2.x `subscribe` from the client's point of view is `send` from the server's).
    Send,
    /// The application receives.
    Receive,
}

/// A 3.0 operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationV3 {
    /// `send` or `receive`.
    pub action: Action,
    /// The channel (`#/channels/...`).
    pub channel: Reference,
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
    /// Security schemes.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub security: Option<Vec<RefOr<SecurityScheme>>>,
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
    /// Messages (references into the channel's messages).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub messages: Option<Vec<Reference>>,
    /// Reply.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub reply: Option<Value>,
    /// Extensions and unknown fields (WSO2: `x-scopes`, `x-uri-mapping`).
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// 3.0 `components`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentsV3 {
    /// Schemas (JSON values, or multi-format schema objects).
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub schemas: Option<BTreeMap<String, Value>>,
    /// Servers.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub servers: Option<BTreeMap<String, RefOr<ServerV3>>>,
    /// Channels.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub channels: Option<BTreeMap<String, RefOr<ChannelV3>>>,
    /// Operations.
    #[serde(
        default,
        deserialize_with = "crate::model::common::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub operations: Option<BTreeMap<String, RefOr<OperationV3>>>,
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
    /// Everything else and extensions.
    #[serde(flatten)]
    pub extensions: Extensions,
}
