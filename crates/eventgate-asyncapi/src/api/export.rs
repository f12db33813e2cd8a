//! Export: an [`ApiDefinition`] to the typed model of an AsyncAPI document.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{
    ApiDefinition, AuthType, ExportOptions, OutputVersion, Security, Topic, X_BACKEND, X_CONTEXT,
    X_DELIVERY, X_LIFECYCLE, X_NAME, X_PLANS, X_SCHEMA, X_TRANSPORTS, X_URL,
};
use crate::model::AsyncApi;
use crate::model::common::{
    Extensions, Info, Message, OAuthFlow, OAuthFlows, Parameter, RefOr, Reference, SecurityScheme,
};
use crate::model::v2::{
    AsyncApiV2, ChannelV2, ComponentsV2, OperationMessage, OperationV2, ServerV2,
};
use crate::model::v3::{AsyncApiV3, ChannelV3, ComponentsV3, OperationV3, ServerV3};
use crate::pointer::escape_token;

impl ApiDefinition {
    /// Exports the API as an AsyncAPI document (a JSON value).
    ///
    /// ```
    /// use eventgate_asyncapi::{ApiDefinition, ApiVersion, Context, EndpointUrl, ExportOptions, OutputVersion};
    /// let mut api = ApiDefinition::new("Observer", Context::new("/observer").unwrap(), ApiVersion::new("1.0.0").unwrap());
    /// api.endpoints.production = Some(EndpointUrl::new("http://localhost:8080").unwrap());
    /// api.endpoints.sandbox = api.endpoints.production.clone();
    /// let doc = api.to_asyncapi(ExportOptions::wso2(OutputVersion::V2));
    /// assert_eq!(doc, serde_json::json!({"asyncapi":"2.0.0","info":{"title":"Observer","version":"1.0.0"},
    ///  "servers":{"production":{"url":"http://localhost:8080","protocol":"sse"},
    ///             "sandbox":{"url":"http://localhost:8080","protocol":"sse"}},
    ///  "channels":{"/*":{"subscribe":{}}},
    ///  "components":{"securitySchemes":{"oauth2":{"type":"oauth2","flows":{"implicit":{
    ///    "authorizationUrl":"http://localhost:9999","scopes":{},"x-scopes-bindings":{}}}}}}}));
    /// ```
    #[must_use]
    pub fn to_asyncapi(&self, options: ExportOptions) -> Value {
        let wso2 = options.wso2;
        let info = Info {
            title: self.name.clone(),
            version: self.version.to_string(),
            description: self.description.clone(),
            ..Info::default()
        };
        let endpoints = [
            ("production", &self.endpoints.production),
            ("sandbox", &self.endpoints.sandbox),
        ];
        let endpoints = endpoints
            .into_iter()
            .filter_map(|(k, e)| Some((k.to_owned(), e.as_ref()?)));
        let doc = match options.version {
            OutputVersion::V2 => {
                let servers = endpoints.map(|(k, ep)| {
                    let url = ep.to_string();
                    let protocol = "sse".to_owned();
                    (
                        k,
                        RefOr::Item(ServerV2 {
                            url,
                            protocol,
                            ..ServerV2::default()
                        }),
                    )
                });
                let channels = self.topics.iter().map(|topic| {
                    let message = topic.message_schema.as_ref().map(|schema| {
                        let message = Message {
                            payload: Some(schema.clone()),
                            ..Message::default()
                        };
                        OperationMessage::Single(Box::new(RefOr::Item(message)))
                    });
                    let subscribe = OperationV2 {
                        message,
                        extensions: operation_extensions(topic),
                        ..OperationV2::default()
                    };
                    let channel = ChannelV2 {
                        description: topic.description.clone(),
                        parameters: parameters(topic, false, wso2),
                        subscribe: Some(subscribe),
                        extensions: channel_extensions(topic, wso2),
                        ..ChannelV2::default()
                    };
                    (topic.template.as_str().to_owned(), RefOr::Item(channel))
                });
                let security_schemes = security(&self.security, false);
                AsyncApi::V2(Box::new(AsyncApiV2 {
                    asyncapi: if wso2 { "2.0.0" } else { "2.6.0" }.to_owned(),
                    info,
                    servers: non_empty(servers.collect()),
                    channels: channels.collect(),
                    components: security_schemes.map(|s| ComponentsV2 {
                        security_schemes: Some(s),
                        ..ComponentsV2::default()
                    }),
                    extensions: self.root_extensions(wso2),
                    ..AsyncApiV2::default()
                }))
            }
            OutputVersion::V3 => {
                let servers = endpoints.map(|(k, ep)| {
                    let (scheme, host, path) = ep.parts();
                    let rebuilt =
                        format!("{scheme}://{host}{}", if path == "/" { "" } else { path });
                    let mut extensions = Extensions::new();
                    if !wso2 && (scheme != "http" || rebuilt != ep.as_str()) {
                        extensions.insert(X_URL.into(), json!(ep.as_str()));
                    }
                    let server = ServerV3 {
                        host: host.to_owned(),
                        pathname: Some(path.to_owned()),
                        protocol: "sse".to_owned(),
                        extensions,
                        ..ServerV3::default()
                    };
                    (k, RefOr::Item(server))
                });
                let mut channels = BTreeMap::new();
                let mut operations = BTreeMap::new();
                for topic in &self.topics {
                    let t = topic.template.as_str();
                    let key = t.strip_prefix('/').unwrap_or(t).to_owned();
                    let channel_ref = format!("#/channels/{}", escape_token(&key));
                    let schema = topic.message_schema.as_ref();
                    let message = schema.map(|s| Message {
                        payload: Some(s.clone()),
                        ..Message::default()
                    });
                    let receive = OperationV3 {
                        channel: Reference::new(&channel_ref),
                        messages: schema
                            .map(|_| vec![Reference::new(format!("{channel_ref}/messages/event"))]),
                        extensions: operation_extensions(topic),
                        ..OperationV3::default()
                    };
                    operations.insert(format!("receive_{t}"), RefOr::Item(receive));
                    let channel = ChannelV3 {
                        address: Some(Some(t.to_owned())),
                        description: topic.description.clone(),
                        parameters: parameters(topic, true, wso2),
                        messages: message
                            .map(|m| BTreeMap::from([("event".to_owned(), RefOr::Item(m))])),
                        extensions: channel_extensions(topic, wso2),
                        ..ChannelV3::default()
                    };
                    channels.insert(key, RefOr::Item(channel));
                }
                let security_schemes = security(&self.security, true);
                AsyncApi::V3(Box::new(AsyncApiV3 {
                    asyncapi: "3.0.0".to_owned(),
                    info,
                    servers: non_empty(servers.collect()),
                    channels: Some(channels),
                    operations: Some(operations),
                    components: security_schemes.map(|s| ComponentsV3 {
                        security_schemes: Some(s),
                        ..ComponentsV3::default()
                    }),
                    extensions: self.root_extensions(wso2),
                    ..AsyncApiV3::default()
                }))
            }
        };
        doc.to_value()
    }

    /// The root's `x-eventgate-*` extensions (none in WSO2's shape).
    fn root_extensions(&self, wso2: bool) -> Extensions {
        if wso2 {
            return Extensions::new();
        }
        let transports: Vec<_> = self.transports.iter().map(|t| t.as_str()).collect();
        let plans: Vec<_> = self.plans.iter().map(|p| p.as_str()).collect();
        let mut x = Extensions::from([
            (X_NAME.to_owned(), json!(self.name)),
            (X_CONTEXT.to_owned(), json!(self.context.as_str())),
            (X_TRANSPORTS.to_owned(), json!(transports)),
            (X_PLANS.to_owned(), json!(plans)),
            (X_DELIVERY.to_owned(), json!(self.delivery.as_str())),
        ]);
        if let Some(l) = self.lifecycle {
            x.insert(X_LIFECYCLE.to_owned(), json!(l.as_str()));
        }
        x
    }
}

/// The topic's parameters; 3.0 parameters have no schema, so eventgate keeps it in an extension.
fn parameters(topic: &Topic, v3: bool, wso2: bool) -> Option<BTreeMap<String, RefOr<Parameter>>> {
    let params = topic.parameters.iter().map(|(name, p)| {
        let mut parameter = Parameter {
            description: p.description.clone(),
            ..Parameter::default()
        };
        match (&p.schema, v3, wso2) {
            (Some(s), false, _) => parameter.schema = Some(s.clone()),
            (Some(s), true, false) => {
                parameter.extensions.insert(X_SCHEMA.into(), s.clone());
            }
            _ => {}
        }
        (name.clone(), RefOr::Item(parameter))
    });
    non_empty(params.collect())
}

/// WSO2's `x-auth-type` and eventgate's backend path of a topic's channel.
fn channel_extensions(topic: &Topic, wso2: bool) -> Extensions {
    let mut x = Extensions::new();
    if topic.auth_type != AuthType::Any {
        x.insert("x-auth-type".into(), json!(topic.auth_type.as_str()));
    }
    if let Some(b) = topic.backend.as_ref().filter(|_| !wso2) {
        x.insert(X_BACKEND.into(), json!(b.as_str()));
    }
    x
}

/// WSO2's `x-scopes` of a topic's operation.
fn operation_extensions(topic: &Topic) -> Extensions {
    let mut x = Extensions::new();
    if !topic.scopes.is_empty() {
        let scopes: Vec<_> = topic.scopes.iter().map(|s| s.as_str()).collect();
        x.insert("x-scopes".into(), json!(scopes));
    }
    x
}

/// The security schemes: OAuth2 as WSO2 writes it (an implicit flow with `x-scopes-bindings`),
/// an API key header, a bearer JWT.
fn security(sec: &Security, v3: bool) -> Option<BTreeMap<String, RefOr<SecurityScheme>>> {
    let mut schemes = BTreeMap::new();
    let scheme = |kind: &str| SecurityScheme {
        kind: kind.to_owned(),
        ..SecurityScheme::default()
    };
    if let Some(o) = &sec.oauth2 {
        let scopes = o
            .scopes
            .iter()
            .map(|(k, i)| (k.to_string(), i.description.clone()));
        let roles = o.scopes.iter().filter(|(_, i)| !i.roles.is_empty());
        let bindings: serde_json::Map<_, _> = roles
            .map(|(k, i)| (k.to_string(), json!(i.roles.join(","))))
            .collect();
        let mut implicit = OAuthFlow {
            authorization_url: Some(o.authorization_url.clone()),
            extensions: Extensions::from([(
                "x-scopes-bindings".to_owned(),
                Value::Object(bindings),
            )]),
            ..OAuthFlow::default()
        };
        *if v3 {
            &mut implicit.available_scopes
        } else {
            &mut implicit.scopes
        } = Some(scopes.collect());
        let flows = OAuthFlows {
            implicit: Some(implicit),
            ..OAuthFlows::default()
        };
        let oauth2 = SecurityScheme {
            flows: Some(flows),
            ..scheme("oauth2")
        };
        schemes.insert("oauth2".to_owned(), RefOr::Item(oauth2));
    }
    if let Some(h) = &sec.api_key_header {
        let key = SecurityScheme {
            name: Some(h.clone()),
            location: Some("header".into()),
            ..scheme("httpApiKey")
        };
        schemes.insert("apiKey".to_owned(), RefOr::Item(key));
    }
    if sec.bearer_jwt {
        let jwt = SecurityScheme {
            scheme: Some("bearer".into()),
            bearer_format: Some("JWT".into()),
            ..scheme("http")
        };
        schemes.insert("jwt".to_owned(), RefOr::Item(jwt));
    }
    non_empty(schemes)
}

fn non_empty<K, V>(map: BTreeMap<K, V>) -> Option<BTreeMap<K, V>> {
    (!map.is_empty()).then_some(map)
}
