//! AsyncAPI 3.0.0 (3.1.0 is read with the same model).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::common::{Message, Parameter, RefOr, Reference, SecurityScheme, ServerVariable};

object! {
    /// The root of an AsyncAPI 3.0 document.
    pub struct AsyncApiV3 {
        ..root(ServerV3),
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
    pub struct ServerV3 {
        /// Host, possibly with port and `{variables}`.
        pub host: String,
        ..protocol,
        /// Path prefix.
        pub pathname: Option<String>,
        ..titled,
        /// Variables.
        pub variables: Option<BTreeMap<String, RefOr<ServerVariable>>>,
        /// Security schemes that apply.
        pub security: Option<Vec<RefOr<SecurityScheme>>>,
        ..documented,
        /// Protocol bindings.
        pub bindings: Option<Value>,
    }
}

object! {
    /// A 3.0 channel.
    pub struct ChannelV3 {
        /// Address (`None`: absent; `Some(None)`: explicit `null`, an unknown or dynamic address).
        pub address: Option<Option<String>>,
        /// Messages by id.
        pub messages: Option<BTreeMap<String, RefOr<Message>>>,
        ..titled,
        /// Servers (references).
        pub servers: Option<Vec<Reference>>,
        /// Parameters of the address.
        pub parameters: Option<BTreeMap<String, RefOr<Parameter>>>,
        ..documented,
        /// Protocol bindings.
        pub bindings: Option<Value>,
    }
}

/// `send` or `receive`. Default is `receive`, the direction of an SSE topic as WSO2 writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The application sends (2.x `subscribe` from the client's point of view is `send` from the server's).
    Send,
    /// The application receives.
    #[default]
    Receive,
}

impl super::object::FieldType for Action {}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::read::via_value(d)
    }
}

impl super::FromValue for Action {
    fn from_value(v: &Value) -> Result<Self, super::read::ShapeError> {
        match v.as_str() {
            Some("send") => Ok(Action::Send),
            Some("receive") => Ok(Action::Receive),
            _ => Err(super::read::ShapeError::expected(
                "\"send\" or \"receive\"",
                v,
            )),
        }
    }
}

object! {
    /// A 3.0 operation.
    pub struct OperationV3 {
        /// `send` or `receive`.
        pub action: Action,
        /// The channel (`#/channels/...`).
        pub channel: Reference,
        ..titled,
        /// Security schemes.
        pub security: Option<Vec<RefOr<SecurityScheme>>>,
        ..documented,
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
    pub struct ComponentsV3 {
        ..components(ServerV3, ChannelV3),
        /// Operations.
        pub operations: Option<BTreeMap<String, RefOr<OperationV3>>>,
    }
}
