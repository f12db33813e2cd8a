//! Import: the typed model of a valid document to an [`ApiDefinition`].

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::Value;

use super::{
    ApiDefinition, ApiError, ApiVersion, AuthType, Context, DeliveryMode, EndpointUrl, Lifecycle,
    OAuth2, PlanName, Scope, ScopeInfo, Security, Topic, TopicParameter, Transport, X_BACKEND,
    X_CONTEXT, X_DELIVERY, X_LIFECYCLE, X_NAME, X_PLANS, X_SCHEMA, X_TRANSPORTS, X_URL, bad,
};
use crate::convert::Objects;
use crate::model::AsyncApi;
use crate::model::common::{Extensions, Message, Parameter, RefOr, SecurityScheme};
use crate::model::v2::OperationMessage;
use crate::model::v3::{Action, ChannelV3};
use crate::topic::TopicTemplate;
use crate::{Document, refs};

fn ext<'e>(extensions: &'e Extensions, key: &str) -> Option<&'e str> {
    extensions.get(key).and_then(Value::as_str)
}

fn list<'e>(extensions: &'e Extensions, key: &str) -> impl Iterator<Item = &'e str> {
    let items = extensions.get(key).and_then(Value::as_array);
    items.into_iter().flatten().filter_map(Value::as_str)
}

impl ApiDefinition {
    /// Imports an SSE API from an AsyncAPI 2.x or 3.0 document (WSO2's included).
    ///
    /// Name, context and version come from `x-eventgate-*` when present, else from `info.title`
    /// (context derived from it, see [`Context::from_name`]) and `info.version`.
    ///
    /// ```
    /// use eventgate_asyncapi::{ApiDefinition, Document};
    /// let doc = Document::parse(r#"{"asyncapi":"2.0.0","info":{"title":"Observer","version":"1.0.0"},
    ///   "servers":{"production":{"url":"http://localhost:8080","protocol":"sse"}},
    ///   "channels":{"/*":{"subscribe":{}}}}"#).unwrap();
    /// let api = ApiDefinition::from_asyncapi(&doc).unwrap();
    /// assert_eq!(api.context.as_str(), "/observer");
    /// assert_eq!(api.endpoints.production.unwrap().as_str(), "http://localhost:8080");
    /// ```
    ///
    /// # Errors
    /// [`ApiError::Invalid`] with every problem when the document is invalid,
    /// [`ApiError::PublishOperation`] for a publish/send operation, or a value error.
    pub fn from_asyncapi(doc: &Document) -> Result<Self, ApiError> {
        let report = doc.validate();
        if !report.is_valid() {
            return Err(ApiError::Invalid(report.problems));
        }
        let root = doc.value();
        let model = doc.to_model()?;
        let (info, x) = match &model {
            AsyncApi::V2(d) => (&d.info, &d.extensions),
            AsyncApi::V3(d) => (&d.info, &d.extensions),
        };
        let name = ext(x, X_NAME).unwrap_or(&info.title).to_owned();
        let context = match ext(x, X_CONTEXT) {
            Some(c) => Context::new(c)?,
            None => Context::from_name(&name),
        };
        let mut api = ApiDefinition::new(name, context, ApiVersion::new(&info.version)?);
        api.description.clone_from(&info.description);
        api.topics.clear();
        if x.get(X_TRANSPORTS).is_some_and(Value::is_array) {
            api.transports = list(x, X_TRANSPORTS)
                .map(|s| Transport::parse(s).ok_or_else(|| bad("transport", s)))
                .collect::<Result<_, _>>()?;
        }
        api.plans = list(x, X_PLANS)
            .map(PlanName::new)
            .collect::<Result<_, _>>()?;
        if let Some(l) = ext(x, X_LIFECYCLE) {
            api.lifecycle =
                Some(Lifecycle::parse(&l.to_ascii_uppercase()).ok_or_else(|| bad("lifecycle", l))?);
        }
        if let Some(d) = ext(x, X_DELIVERY) {
            api.delivery = DeliveryMode::parse(d).ok_or_else(|| bad("delivery mode", d))?;
        }
        let (urls, schemes) = match &model {
            AsyncApi::V2(d) => {
                for (name, ch) in &d.channels {
                    let Some(ch) = ch.follow(root) else { continue };
                    if ch.publish.is_some() {
                        let channel = name.clone();
                        return Err(ApiError::PublishOperation { channel });
                    }
                    let Some(op) = &ch.subscribe else { continue };
                    let message = op.message.as_ref().and_then(|m| first_message(root, m));
                    let ch = (&ch.description, &ch.parameters, &ch.extensions);
                    api.topics
                        .push(import_topic(root, name, ch, &op.extensions, message)?);
                }
                let urls = d.servers.iter().flatten().map(|(k, s)| {
                    let s = s.follow(root);
                    let url = s.map(|s| ext(&s.extensions, X_URL).unwrap_or(&s.url).to_owned());
                    (k.as_str(), url)
                });
                (
                    urls.collect(),
                    d.components.as_ref().map(|c| &c.security_schemes),
                )
            }
            AsyncApi::V3(d) => {
                for op in d.operations.iter().flatten().map(|(_, o)| o) {
                    let Some(op) = op.follow(root) else { continue };
                    let Some(ch) = op.channel.follow::<ChannelV3>(root) else {
                        continue;
                    };
                    let address = ch.address.clone().flatten().unwrap_or_default();
                    if op.action == Action::Send {
                        return Err(ApiError::PublishOperation { channel: address });
                    }
                    let first = op.messages.as_ref().and_then(|m| m.first());
                    let message = first.and_then(|m| m.follow::<Message>(root)).or_else(|| {
                        let first = ch.messages.as_ref().and_then(|m| m.values().next());
                        first.and_then(|m| m.follow(root)).map(Cow::into_owned)
                    });
                    let ch = (&ch.description, &ch.parameters, &ch.extensions);
                    api.topics
                        .push(import_topic(root, &address, ch, &op.extensions, message)?);
                }
                let urls = d.servers.iter().flatten().map(|(k, s)| {
                    let url = s.follow(root).map(|s| match ext(&s.extensions, X_URL) {
                        Some(u) => u.to_owned(),
                        None => {
                            let scheme = match s.protocol.as_str() {
                                "https" | "wss" => "https",
                                _ => "http",
                            };
                            let path = s.pathname.as_deref().filter(|p| *p != "/");
                            format!("{scheme}://{}{}", s.host, path.unwrap_or_default())
                        }
                    });
                    (k.as_str(), url)
                });
                (
                    urls.collect(),
                    d.components.as_ref().map(|c| &c.security_schemes),
                )
            }
        };
        api.endpoints.production = endpoint(&urls, true);
        api.endpoints.sandbox = endpoint(&urls, false);
        let v3 = matches!(model, AsyncApi::V3(_));
        api.security = import_security(root, schemes.and_then(Option::as_ref), v3)?;
        api.sort_topics();
        let mut pairs = api.topics.iter().zip(api.topics.iter().skip(1));
        match pairs.find(|(a, b)| a.template == b.template) {
            Some((a, _)) => Err(ApiError::DuplicateTopic(a.template.to_string())),
            None => Ok(api),
        }
    }
}

/// The production endpoint (the server named `production`, else the first one not named
/// `sandbox`) or the sandbox one. URLs that are not http(s) (an MQTT broker, say) are not SSE
/// endpoints and are left out.
fn endpoint(urls: &BTreeMap<&str, Option<String>>, production: bool) -> Option<EndpointUrl> {
    let url = if production {
        let first = || urls.iter().find(|(k, _)| **k != "sandbox").map(|(_, v)| v);
        urls.get("production").or_else(first)
    } else {
        urls.get("sandbox")
    };
    EndpointUrl::new(url?.as_deref()?).ok()
}

/// The first message of a 2.x operation (the first of a `oneOf`).
fn first_message(root: &Value, message: &OperationMessage) -> Option<Message> {
    match message {
        OperationMessage::OneOf(o) => o.one_of.first()?.follow(root).map(Cow::into_owned),
        OperationMessage::Single(m) => match &**m {
            RefOr::Item(m) => Some(m.clone()),
            RefOr::Ref(r) => first_message(root, &r.follow(root)?),
        },
    }
}

/// A topic from its channel (name; description, parameters, extensions), its operation's
/// extensions and its first message.
fn import_topic(
    root: &Value,
    name: &str,
    (description, params, channel): (&Option<String>, &Objects<Parameter>, &Extensions),
    operation: &Extensions,
    message: Option<Message>,
) -> Result<Topic, ApiError> {
    let mut topic = Topic::new(TopicTemplate::new(name)?);
    topic.description.clone_from(description);
    for (pname, p) in params.iter().flatten() {
        let p = p.follow(root).unwrap_or_default();
        let schema = p.schema.as_ref().or_else(|| p.extensions.get(X_SCHEMA));
        let parameter = TopicParameter {
            description: p.description.clone(),
            schema: schema.cloned(),
        };
        topic.parameters.insert(pname.clone(), parameter);
    }
    if let Some(a) = ext(channel, "x-auth-type") {
        topic.auth_type = AuthType::parse(a).ok_or_else(|| bad("x-auth-type", a))?;
    }
    let backend = ext(channel, X_BACKEND).or_else(|| ext(operation, "x-uri-mapping"));
    topic.backend = backend.map(TopicTemplate::new).transpose()?;
    let scopes = list(operation, "x-scopes").map(Scope::new);
    topic.scopes = scopes.collect::<Result<_, _>>()?;
    let payload = message.as_ref().and_then(|m| m.payload.as_ref()).map(|p| {
        // 3.0 multi-format schema: take the schema.
        p.get("schemaFormat").and(p.get("schema")).unwrap_or(p)
    });
    topic.message_schema = payload.and_then(|p| refs::deref(root, p)).cloned();
    Ok(topic)
}

fn import_security(
    root: &Value,
    schemes: Option<&BTreeMap<String, RefOr<SecurityScheme>>>,
    v3: bool,
) -> Result<Security, ApiError> {
    let mut sec = Security {
        oauth2: None,
        ..Security::default()
    };
    let schemes = schemes.into_iter().flatten();
    for s in schemes.filter_map(|(_, s)| s.follow(root)) {
        let bearer = s.scheme.as_deref();
        let bearer = bearer.is_some_and(|x| x.eq_ignore_ascii_case("bearer"));
        match s.kind.as_str() {
            "oauth2" if sec.oauth2.is_none() => {
                let flow = s.flows.as_ref().and_then(|f| {
                    let (i, a, c) = (&f.implicit, &f.authorization_code, &f.client_credentials);
                    [i, a, c, &f.password].into_iter().find_map(Option::as_ref)
                });
                let url = flow.and_then(|f| f.authorization_url.as_ref().or(f.token_url.as_ref()));
                let mut o = OAuth2::default();
                o.authorization_url = url.map_or(o.authorization_url, Clone::clone);
                let bindings = flow.and_then(|f| f.extensions.get("x-scopes-bindings"));
                let scopes =
                    flow.and_then(|f| if v3 { &f.available_scopes } else { &f.scopes }.as_ref());
                for (k, description) in scopes.into_iter().flatten() {
                    let roles = bindings.and_then(|b| b.get(k)).and_then(Value::as_str);
                    let roles = roles.into_iter().flat_map(|r| r.split(',')).map(str::trim);
                    let roles = roles.filter(|r| !r.is_empty()).map(str::to_owned).collect();
                    let info = ScopeInfo {
                        description: description.clone(),
                        roles,
                    };
                    o.scopes.insert(Scope::new(k)?, info);
                }
                sec.oauth2 = Some(o);
            }
            "httpApiKey" if s.location.as_deref() == Some("header") => {
                sec.api_key_header.clone_from(&s.name);
            }
            "http" if bearer => sec.bearer_jwt = true,
            _ => {}
        }
    }
    Ok(sec)
}
