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
        let (wso2, v3) = (options.wso2, options.version == OutputVersion::V3);
        let info = Info {
            title: self.name.clone(),
            version: self.version.to_string(),
            description: self.description.clone(),
            ..Info::default()
        };
        let (production, sandbox) = (&self.endpoints.production, &self.endpoints.sandbox);
        let endpoints = [("production", production), ("sandbox", sandbox)].into_iter();
        let endpoints = endpoints.filter_map(|(k, e)| Some((k.to_owned(), e.as_ref()?)));
        let (schemes, root_x) = (security(&self.security, v3), self.root_extensions(wso2));
        let message = |schema: &Value| Message {
            payload: Some(schema.clone()),
            ..Message::default()
        };
        let doc = if v3 {
            let servers = endpoints.map(|(k, ep)| {
                let (scheme, host, path) = ep.parts();
                let rebuilt = format!("{scheme}://{host}{}", if path == "/" { "" } else { path });
                let lossy = !wso2 && (scheme != "http" || rebuilt != ep.as_str());
                let url = extensions([lossy.then(|| (X_URL, json!(ep.as_str())))]);
                let server = ServerV3 {
                    host: host.to_owned(),
                    pathname: Some(path.to_owned()),
                    protocol: "sse".to_owned(),
                    extensions: url,
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
                let event = || Reference::new(format!("{channel_ref}/messages/event"));
                let receive = OperationV3 {
                    channel: Reference::new(&channel_ref),
                    messages: schema.map(|_| vec![event()]),
                    extensions: operation_extensions(topic),
                    ..OperationV3::default()
                };
                operations.insert(format!("receive_{t}"), RefOr::Item(receive));
                let event = schema.map(|s| ("event".to_owned(), RefOr::Item(message(s))));
                let channel = ChannelV3 {
                    address: Some(Some(t.to_owned())),
                    description: topic.description.clone(),
                    parameters: parameters(topic, true, wso2),
                    messages: event.map(|e| BTreeMap::from([e])),
                    extensions: channel_extensions(topic, wso2),
                    ..ChannelV3::default()
                };
                channels.insert(key, RefOr::Item(channel));
            }
            AsyncApi::V3(Box::new(AsyncApiV3 {
                asyncapi: "3.0.0".to_owned(),
                info,
                servers: non_empty(servers.collect()),
                channels: Some(channels),
                operations: Some(operations),
                components: schemes.map(|s| ComponentsV3 {
                    security_schemes: Some(s),
                    ..ComponentsV3::default()
                }),
                extensions: root_x,
                ..AsyncApiV3::default()
            }))
        } else {
            let servers = endpoints.map(|(k, ep)| {
                let server = ServerV2 {
                    url: ep.to_string(),
                    protocol: "sse".to_owned(),
                    ..ServerV2::default()
                };
                (k, RefOr::Item(server))
            });
            let channels = self.topics.iter().map(|topic| {
                let message = topic.message_schema.as_ref().map(message);
                let message = message.map(|m| OperationMessage::Single(Box::new(RefOr::Item(m))));
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
                (topic.template.to_string(), RefOr::Item(channel))
            });
            AsyncApi::V2(Box::new(AsyncApiV2 {
                asyncapi: if wso2 { "2.0.0" } else { "2.6.0" }.to_owned(),
                info,
                servers: non_empty(servers.collect()),
                channels: channels.collect(),
                components: schemes.map(|s| ComponentsV2 {
                    security_schemes: Some(s),
                    ..ComponentsV2::default()
                }),
                extensions: root_x,
                ..AsyncApiV2::default()
            }))
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
        extensions([
            Some((X_NAME, json!(self.name))),
            Some((X_CONTEXT, json!(self.context.as_str()))),
            Some((X_TRANSPORTS, json!(transports))),
            Some((X_PLANS, json!(plans))),
            Some((X_DELIVERY, json!(self.delivery.as_str()))),
            self.lifecycle.map(|l| (X_LIFECYCLE, json!(l.as_str()))),
        ])
    }
}

/// The extensions map of the entries given.
fn extensions<const N: usize>(entries: [Option<(&str, Value)>; N]) -> Extensions {
    let entries = entries.into_iter().flatten();
    entries.map(|(k, v)| (k.to_owned(), v)).collect()
}

/// The topic's parameters; 3.0 parameters have no schema, so eventgate keeps it in an extension.
fn parameters(topic: &Topic, v3: bool, wso2: bool) -> Option<BTreeMap<String, RefOr<Parameter>>> {
    let params = topic.parameters.iter().map(|(name, p)| {
        let x_schema = p.schema.clone().filter(|_| v3 && !wso2);
        let parameter = Parameter {
            description: p.description.clone(),
            schema: p.schema.clone().filter(|_| !v3),
            extensions: extensions([x_schema.map(|s| (X_SCHEMA, s))]),
            ..Parameter::default()
        };
        (name.clone(), RefOr::Item(parameter))
    });
    non_empty(params.collect())
}

/// WSO2's `x-auth-type` and eventgate's backend path of a topic's channel.
fn channel_extensions(topic: &Topic, wso2: bool) -> Extensions {
    let auth = topic.auth_type.as_str();
    let auth = (topic.auth_type != AuthType::Any).then(|| ("x-auth-type", json!(auth)));
    let backend = topic.backend.as_ref().filter(|_| !wso2);
    extensions([auth, backend.map(|b| (X_BACKEND, json!(b.as_str())))])
}

/// WSO2's `x-scopes` of a topic's operation.
fn operation_extensions(topic: &Topic) -> Extensions {
    let scopes: Vec<_> = topic.scopes.iter().map(|s| s.as_str()).collect();
    extensions([(!scopes.is_empty()).then(|| ("x-scopes", json!(scopes)))])
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
        let scopes = Some(scopes.collect());
        let (available_scopes, scopes) = if v3 { (scopes, None) } else { (None, scopes) };
        let roles = o.scopes.iter().filter(|(_, i)| !i.roles.is_empty());
        let bindings = roles.map(|(k, i)| (k.to_string(), json!(i.roles.join(","))));
        let bindings = Value::Object(bindings.collect());
        let implicit = OAuthFlow {
            authorization_url: Some(o.authorization_url.clone()),
            scopes,
            available_scopes,
            extensions: extensions([Some(("x-scopes-bindings", bindings))]),
            ..OAuthFlow::default()
        };
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
