//! AsyncAPI 3.0.0 (3.1.0 is read with the same model).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{
    ExternalDocs, Info, Message, Parameter, RefOr, Reference, SecurityScheme, ServerVariable, Tag,
};

object! {
    /// The root of an AsyncAPI 3.0 document.
    #[derive(Default)]
    pub struct AsyncApiV3 {
        /// `3.0.0`.
        pub asyncapi: String,
        /// Application identifier (URI).
        pub id: Option<String>,
        /// Metadata (tags and external docs live here in 3.0).
        pub info: Info,
        /// Servers by name.
        pub servers: Option<BTreeMap<String, RefOr<ServerV3>>>,
        /// Default content type of messages.
        pub default_content_type: Option<String> = "defaultContentType",
        /// Channels by id.
        pub channels: Option<BTreeMap<String, RefOr<ChannelV3>>>,
        /// Operations by id.
        pub operations: Option<BTreeMap<String, RefOr<OperationV3>>>,
        /// Reusable objects.
        pub components: Option<ComponentsV3>,
    }
}

object! {
    /// A 3.0 server.
    #[derive(Default)]
    pub struct ServerV3 {
        /// Host, possibly with port and `{variables}`.
        pub host: String,
        /// Protocol, e.g. `sse`, `http`, `https`, `ws`, `kafka`.
        pub protocol: String,
        /// Protocol version.
        pub protocol_version: Option<String> = "protocolVersion",
        /// Path prefix.
        pub pathname: Option<String>,
        /// Description.
        pub description: Option<String>,
        /// Title.
        pub title: Option<String>,
        /// Summary.
        pub summary: Option<String>,
        /// Variables.
        pub variables: Option<BTreeMap<String, RefOr<ServerVariable>>>,
        /// Security schemes that apply.
        pub security: Option<Vec<RefOr<SecurityScheme>>>,
        /// Tags.
        pub tags: Option<Vec<RefOr<Tag>>>,
        /// External documentation.
        pub external_docs: Option<RefOr<ExternalDocs>> = "externalDocs",
        /// Protocol bindings.
        pub bindings: Option<Value>,
    }
}

object! {
    /// A 3.0 channel.
    #[derive(Default)]
    pub struct ChannelV3 {
        /// Address (`None`: absent; `Some(None)`: explicit `null`, an unknown or dynamic address).
        pub address: Option<Option<String>>,
        /// Messages by id.
        pub messages: Option<BTreeMap<String, RefOr<Message>>>,
        /// Title.
        pub title: Option<String>,
        /// Summary.
        pub summary: Option<String>,
        /// Description.
        pub description: Option<String>,
        /// Servers (references).
        pub servers: Option<Vec<Reference>>,
        /// Parameters of the address.
        pub parameters: Option<BTreeMap<String, RefOr<Parameter>>>,
        /// Tags.
        pub tags: Option<Vec<RefOr<Tag>>>,
        /// External documentation.
        pub external_docs: Option<RefOr<ExternalDocs>> = "externalDocs",
        /// Protocol bindings.
        pub bindings: Option<Value>,
    }
}

/// `send` or `receive`. Default is `receive`, the direction of an SSE topic as WSO2 writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The application sends (2.x `subscribe` from the client's point of view is `send` from the server's).
    Send,
    /// The application receives.
    #[default]
    Receive,
}

impl super::object::FieldType for Action {}

object! {
    /// A 3.0 operation.
    #[derive(Default)]
    pub struct OperationV3 {
        /// `send` or `receive`.
        pub action: Action,
        /// The channel (`#/channels/...`).
        pub channel: Reference,
        /// Title.
        pub title: Option<String>,
        /// Summary.
        pub summary: Option<String>,
        /// Description.
        pub description: Option<String>,
        /// Security schemes.
        pub security: Option<Vec<RefOr<SecurityScheme>>>,
        /// Tags.
        pub tags: Option<Vec<RefOr<Tag>>>,
        /// External documentation.
        pub external_docs: Option<RefOr<ExternalDocs>> = "externalDocs",
        /// Protocol bindings.
        pub bindings: Option<Value>,
        /// Traits.
        pub traits: Option<Vec<Value>>,
        /// Messages (references into the channel's messages).
        pub messages: Option<Vec<Reference>>,
        /// Reply.
        pub reply: Option<Value>,
    }
}

object! {
    /// 3.0 `components`.
    #[derive(Default)]
    pub struct ComponentsV3 {
        /// Schemas (JSON values, or multi-format schema objects).
        pub schemas: Option<BTreeMap<String, Value>>,
        /// Servers.
        pub servers: Option<BTreeMap<String, RefOr<ServerV3>>>,
        /// Channels.
        pub channels: Option<BTreeMap<String, RefOr<ChannelV3>>>,
        /// Operations.
        pub operations: Option<BTreeMap<String, RefOr<OperationV3>>>,
        /// Messages.
        pub messages: Option<BTreeMap<String, RefOr<Message>>>,
        /// Security schemes.
        pub security_schemes: Option<BTreeMap<String, RefOr<SecurityScheme>>> = "securitySchemes",
        /// Parameters.
        pub parameters: Option<BTreeMap<String, RefOr<Parameter>>>,
    }
}
