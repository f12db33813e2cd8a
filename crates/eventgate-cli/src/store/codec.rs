//! The serde forms the store keeps documents in, versioned by a `format` field (1 today).
//!
//! [`StoredApi`] holds what the admin API can set on an API (name, context, version,
//! endpoints, transports, topics, plans, credential sources); CORS, relay and strip settings
//! are the model's defaults (the configuration file sets those, not the admin API).

use eventgate::{
    Api, ApiContext, Endpoint, Environment, EnvironmentType, Hostname, ModelError, Topic,
    Transports, Vhost,
};
use eventgate_asyncapi::{ApiVersion, AuthType, DeliveryMode, TopicTemplate};
use eventgate_types::{PlanName, Scope};
use serde::{Deserialize, Serialize};

/// The format number written today.
pub const FORMAT: u32 = 1;

/// A stored document cannot be turned back into the model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// Not the JSON of the form.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// A newer format than this build reads.
    #[error("format {0} is newer than this build reads ({FORMAT})")]
    Format(u32),
    /// A value breaks the model's rules.
    #[error("{0}")]
    Model(String),
}

fn model<E: std::fmt::Display>(e: E) -> CodecError {
    CodecError::Model(e.to_string())
}

/// An API's serde form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct StoredApi {
    pub format: u32,
    pub name: String,
    pub context: String,
    pub version: String,
    #[serde(default)]
    pub default_version: bool,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub production: Option<String>,
    #[serde(default)]
    pub sandbox: Option<String>,
    pub http: bool,
    pub https: bool,
    pub topics: Vec<StoredTopic>,
    #[serde(default)]
    pub plans: Vec<String>,
    pub bearer: bool,
    #[serde(default)]
    pub api_key_header: Option<String>,
    #[serde(default)]
    pub query_param: Option<String>,
}

/// A topic's serde form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct StoredTopic {
    pub template: String,
    #[serde(default)]
    pub backend: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `any`, `none`, `application`, `application_user`, `application_and_user`.
    pub auth_type: String,
    /// `shared` or `per-client`.
    pub delivery: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// The admin API's and the store's name of an auth type.
#[must_use]
pub fn auth_type_name(a: AuthType) -> &'static str {
    #[allow(unreachable_patterns)]
    match a {
        AuthType::None => "none",
        AuthType::Application => "application",
        AuthType::ApplicationUser => "application_user",
        AuthType::ApplicationAndUser => "application_and_user",
        _ => "any",
    }
}

/// The inverse of [`auth_type_name`].
#[must_use]
pub fn auth_type_of(s: &str) -> Option<AuthType> {
    Some(match s {
        "any" => AuthType::Any,
        "none" => AuthType::None,
        "application" => AuthType::Application,
        "application_user" => AuthType::ApplicationUser,
        "application_and_user" => AuthType::ApplicationAndUser,
        _ => return None,
    })
}

/// `shared` (fan-out) or `per-client` (proxy).
#[must_use]
pub fn delivery_name(d: DeliveryMode) -> &'static str {
    #[allow(unreachable_patterns)]
    match d {
        DeliveryMode::PerClient => "per-client",
        _ => "shared",
    }
}

/// The inverse of [`delivery_name`].
#[must_use]
pub fn delivery_of(s: &str) -> Option<DeliveryMode> {
    match s {
        "shared" => Some(DeliveryMode::Shared),
        "per-client" => Some(DeliveryMode::PerClient),
        _ => None,
    }
}

impl StoredApi {
    /// The form of `api`.
    #[must_use]
    pub fn from_api(api: &Api) -> Self {
        StoredApi {
            format: FORMAT,
            name: api.name.clone(),
            context: api.context.to_string(),
            version: api.version.as_str().to_owned(),
            default_version: api.default_version,
            description: api.description.clone(),
            production: api.endpoints.production.as_ref().map(|e| e.to_string()),
            sandbox: api.endpoints.sandbox.as_ref().map(|e| e.to_string()),
            http: api.transports.http,
            https: api.transports.https,
            topics: api
                .topics
                .iter()
                .map(|t| StoredTopic {
                    template: t.template.as_str().to_owned(),
                    backend: t.backend.as_ref().map(|b| b.as_str().to_owned()),
                    scopes: t.scopes.iter().map(|s| s.to_string()).collect(),
                    auth_type: auth_type_name(t.auth_type).to_owned(),
                    delivery: delivery_name(t.delivery).to_owned(),
                    description: t.description.clone(),
                })
                .collect(),
            plans: api.plans.iter().map(|p| p.as_str().to_owned()).collect(),
            bearer: api.security.bearer,
            api_key_header: api
                .security
                .api_key_header
                .as_ref()
                .map(|h| h.as_str().to_owned()),
            query_param: api.security.query_param.clone(),
        }
    }

    /// The JSON of `api`.
    #[must_use]
    pub fn json(api: &Api) -> String {
        serde_json::to_string(&Self::from_api(api)).unwrap_or_default()
    }

    /// The API back from its JSON, checked by [`Api::validate`].
    ///
    /// # Errors
    /// [`CodecError`].
    pub fn parse(json: &str) -> Result<Api, CodecError> {
        let s: StoredApi = serde_json::from_str(json)?;
        if s.format > FORMAT {
            return Err(CodecError::Format(s.format));
        }
        s.into_api()
    }

    /// The API.
    ///
    /// # Errors
    /// [`CodecError::Model`].
    pub fn into_api(self) -> Result<Api, CodecError> {
        let version = ApiVersion::new(&self.version).map_err(model)?;
        let mut api = Api::new(self.name, ApiContext::new(&self.context)?, version);
        api.default_version = self.default_version;
        api.description = self.description;
        api.endpoints.production = self.production.as_deref().map(Endpoint::new).transpose()?;
        api.endpoints.sandbox = self.sandbox.as_deref().map(Endpoint::new).transpose()?;
        api.transports = Transports::default();
        api.transports.http = self.http;
        api.transports.https = self.https;
        api.topics = self
            .topics
            .into_iter()
            .map(|t| {
                let mut topic = Topic::new(TopicTemplate::new(&t.template).map_err(model)?);
                topic.backend = t
                    .backend
                    .as_deref()
                    .map(TopicTemplate::new)
                    .transpose()
                    .map_err(model)?;
                topic.scopes = t
                    .scopes
                    .iter()
                    .map(|s| s.parse::<Scope>().map_err(model))
                    .collect::<Result<_, _>>()?;
                topic.auth_type = auth_type_of(&t.auth_type)
                    .ok_or_else(|| CodecError::Model(format!("auth type {:?}", t.auth_type)))?;
                topic.delivery = delivery_of(&t.delivery)
                    .ok_or_else(|| CodecError::Model(format!("delivery {:?}", t.delivery)))?;
                topic.description = t.description;
                Ok(topic)
            })
            .collect::<Result<_, CodecError>>()?;
        api.plans = self
            .plans
            .iter()
            .map(|p| PlanName::new(p).map_err(model))
            .collect::<Result<_, _>>()?;
        api.security.bearer = self.bearer;
        api.security.api_key_header = self
            .api_key_header
            .as_deref()
            .map(|h| http::HeaderName::try_from(h).map_err(model))
            .transpose()?;
        api.security.query_param = self.query_param;
        api.validate()?;
        Ok(api)
    }
}

impl From<ModelError> for CodecError {
    fn from(e: ModelError) -> Self {
        model(e)
    }
}

/// An environment's serde form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct StoredEnvironment {
    pub format: u32,
    pub name: String,
    /// `production`, `sandbox` or `hybrid`.
    pub kind: String,
    pub vhosts: Vec<StoredVhost>,
    #[serde(default)]
    pub fallback: bool,
    #[serde(default)]
    pub description: Option<String>,
}

/// A vhost's serde form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct StoredVhost {
    pub host: String,
    pub http_port: Option<u16>,
    pub https_port: Option<u16>,
}

impl StoredEnvironment {
    /// The JSON of `env`.
    #[must_use]
    pub fn json(env: &Environment) -> String {
        serde_json::to_string(&StoredEnvironment {
            format: FORMAT,
            name: env.name.clone(),
            kind: env.kind.as_str().to_owned(),
            vhosts: env
                .vhosts
                .iter()
                .map(|v| StoredVhost {
                    host: v.host.to_string(),
                    http_port: v.http_port,
                    https_port: v.https_port,
                })
                .collect(),
            fallback: env.fallback,
            description: env.description.clone(),
        })
        .unwrap_or_default()
    }

    /// The environment back from its JSON.
    ///
    /// # Errors
    /// [`CodecError`].
    pub fn parse(json: &str) -> Result<Environment, CodecError> {
        let s: StoredEnvironment = serde_json::from_str(json)?;
        if s.format > FORMAT {
            return Err(CodecError::Format(s.format));
        }
        let kind: EnvironmentType = s.kind.parse()?;
        let mut env = Environment::new(s.name, kind);
        for v in s.vhosts {
            let mut vhost = Vhost::new(Hostname::new(&v.host)?);
            vhost.http_port = v.http_port;
            vhost.https_port = v.https_port;
            env.vhosts.push(vhost);
        }
        env.fallback = s.fallback;
        env.description = s.description;
        env.validate()?;
        Ok(env)
    }
}

/// An application's serde form. Its name is its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct StoredApplication {
    pub format: u32,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub owner: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_with_every_stored_field_set_reads_back_equal() {
        let mut api = Api::new(
            "Observer",
            ApiContext::new("/observer").unwrap(),
            ApiVersion::new("1.0.0").unwrap(),
        );
        api.endpoints.production = Some(Endpoint::new("http://localhost:8080").unwrap());
        api.endpoints.sandbox = Some(Endpoint::new("https://sb.example:8443/base").unwrap());
        let mut t = Topic::new(TopicTemplate::new("/orders/{id}").unwrap());
        t.backend = Some(TopicTemplate::new("/o/{id}").unwrap());
        t.scopes = vec!["read:orders".parse().unwrap()];
        t.auth_type = AuthType::None;
        t.delivery = DeliveryMode::PerClient;
        t.description = Some("orders".into());
        api.topics = vec![t];
        api.plans = vec![PlanName::new("AsyncGold").unwrap()];
        api.security.api_key_header = Some(http::HeaderName::from_static("apikey"));
        api.description = Some("memory".into());
        let back = StoredApi::parse(&StoredApi::json(&api)).unwrap();
        assert_eq!(back, api);
    }

    #[test]
    fn a_newer_format_is_refused() {
        let api = Api::new(
            "A",
            ApiContext::new("/a").unwrap(),
            ApiVersion::new("1").unwrap(),
        );
        let json = StoredApi::json(&api).replace("\"format\":1", "\"format\":9");
        assert!(matches!(
            StoredApi::parse(&json),
            Err(CodecError::Format(9))
        ));
    }
}
