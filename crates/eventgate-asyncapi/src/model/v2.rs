//! AsyncAPI 2.0.0 to 2.6.0.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::common::{Message, Parameter, RefOr, SecurityRequirement, ServerVariable, Tag};

object! {
    /// The root of an AsyncAPI 2.x document.
    pub struct AsyncApiV2 {
        ..root(ServerV2),
        /// Channels by name (the channel name is the address, e.g. `/stocks/{symbol}`). Required.
        pub channels: BTreeMap<String, RefOr<ChannelV2>>,
        /// Reusable objects.
        pub components: Option<ComponentsV2>,
        ..documented,
    }
}

object! {
    /// A 2.x server.
    pub struct ServerV2 {
        /// URL, possibly with `{variables}`.
        pub url: String,
        ..protocol,
        /// Description.
        pub description: Option<String>,
        /// URL variables.
        pub variables: Option<BTreeMap<String, RefOr<ServerVariable>>>,
        /// Security requirements.
        pub security: Option<Vec<SecurityRequirement>>,
        /// Tags.
        pub tags: Option<Vec<RefOr<Tag>>>,
        /// Protocol bindings.
        pub bindings: Option<Value>,
    }
}

object! {
    /// A 2.x channel item.
    pub struct ChannelV2 {
        /// Description.
        pub description: Option<String>,
        /// Names of the servers this channel is available on.
        pub servers: Option<Vec<String>>,
        /// What a client receives (the SSE direction).
        pub subscribe: Option<OperationV2>,
        /// What a client sends.
        pub publish: Option<OperationV2>,
        /// Parameters of the channel name.
        pub parameters: Option<BTreeMap<String, RefOr<Parameter>>>,
        /// Protocol bindings.
        pub bindings: Option<Value>,
    }
}

object! {
    /// A 2.x operation (`subscribe` or `publish`).
    pub struct OperationV2 {
        /// Unique identifier.
        pub operation_id: Option<String> = "operationId",
        /// Summary.
        pub summary: Option<String>,
        /// Description.
        pub description: Option<String>,
        /// Security requirements (2.4+).
        pub security: Option<Vec<SecurityRequirement>>,
        ..documented,
        /// Protocol bindings.
        pub bindings: Option<Value>,
        /// Traits.
        pub traits: Option<Vec<Value>>,
        /// The message, a reference, or `oneOf` several.
        pub message: Option<OperationMessage>,
    }
}

/// The `message` of a 2.x operation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum OperationMessage {
    /// `{"oneOf": [...]}`.
    OneOf(OneOfMessages),
    /// One message or a reference to one.
    Single(Box<RefOr<Message>>),
}

impl super::object::FieldType for OperationMessage {}

/// `{"oneOf": [...]}` in a 2.x operation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OneOfMessages {
    /// The alternatives.
    pub one_of: Vec<RefOr<Message>>,
}

object! {
    /// 2.x `components`.
    pub struct ComponentsV2 {
        ..components(ServerV2, ChannelV2),
    }
}

impl super::FromValue for OneOfMessages {
    fn from_value(v: &Value) -> Result<Self, super::read::ShapeError> {
        let m = super::read::object(v)?;
        match (m.len(), m.get("oneOf")) {
            (1, Some(one_of)) => match super::FromValue::from_value(one_of) {
                Ok(one_of) => Ok(OneOfMessages { one_of }),
                Err(e) => Err(e.at("oneOf")),
            },
            _ => Err(super::read::ShapeError::expected(
                "an object with exactly one key, \"oneOf\"",
                v,
            )),
        }
    }
}

impl super::FromValue for OperationMessage {
    /// `{"oneOf": [...]}` when it reads as one, else a message (an unreadable `oneOf` is then
    /// one of its extensions, as before).
    fn from_value(v: &Value) -> Result<Self, super::read::ShapeError> {
        match OneOfMessages::from_value(v) {
            Ok(o) => Ok(OperationMessage::OneOf(o)),
            Err(_) => RefOr::from_value(v).map(|m| OperationMessage::Single(Box::new(m))),
        }
    }
}

impl<'de> Deserialize<'de> for OperationMessage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::read::via_value(d)
    }
}

impl<'de> Deserialize<'de> for OneOfMessages {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::read::via_value(d)
    }
}
