//! The one place where the gateway's [`Api`] meets eventgate-asyncapi's [`ApiDefinition`]:
//! import from and export to AsyncAPI documents.

use eventgate_asyncapi::{
    ApiDefinition, Context, DeliveryMode, Document, EndpointUrl, ExportOptions, OAuth2,
    TopicParameter, Transport,
};
use eventgate_types::{PlanName, Scope};
use http::HeaderName;

use super::api::{Api, ApiContext, Endpoint, Topic, Transports};
use super::lifecycle::Lifecycle;
use crate::error::ModelError;

impl Api {
    /// Imports an API from an AsyncAPI 2.x or 3.0 document (JSON or YAML), WSO2's included:
    /// see [`ApiDefinition::from_asyncapi`] for what is read. Every topic gets the document's
    /// delivery mode.
    ///
    /// ```
    /// use eventgate::Api;
    /// let api = Api::from_asyncapi(r#"{"asyncapi":"2.0.0","info":{"title":"Observer","version":"1.0.0"},
    ///   "servers":{"production":{"url":"http://localhost:8080","protocol":"sse"}},
    ///   "channels":{"/memory":{"subscribe":{}}}}"#)?;
    /// assert_eq!(api.context.as_str(), "/observer");
    /// assert_eq!(api.topics[0].template.as_str(), "/memory");
    /// # Ok::<(), eventgate::ModelError>(())
    /// ```
    ///
    /// # Errors
    /// [`ModelError::AsyncApiRead`] when the text is not a readable document,
    /// [`ModelError::AsyncApi`] when it is not an SSE API, or a value that does not fit
    /// the gateway's model.
    pub fn from_asyncapi(text: &str) -> Result<Api, ModelError> {
        let doc = Document::parse(text).map_err(|e| ModelError::AsyncApiRead(Box::new(e)))?;
        let def = ApiDefinition::from_asyncapi(&doc)?;
        Api::from_definition(&def)
    }

    /// Converts an [`ApiDefinition`].
    ///
    /// Security: OAuth2 or a bearer JWT scheme turns [`Security::bearer`](crate::Security)
    /// on, an `httpApiKey` header scheme sets the API-key header.
    ///
    /// # Errors
    /// [`ModelError`] when a value does not fit the gateway's model.
    pub fn from_definition(def: &ApiDefinition) -> Result<Api, ModelError> {
        let mut api = Api::new(
            def.name.clone(),
            ApiContext::new(def.context.as_str())?,
            def.version.clone(),
        );
        api.description.clone_from(&def.description);
        let endpoint =
            |e: &Option<EndpointUrl>| e.as_ref().map(|u| Endpoint::new(u.as_str())).transpose();
        api.endpoints.production = endpoint(&def.endpoints.production)?;
        api.endpoints.sandbox = endpoint(&def.endpoints.sandbox)?;
        api.transports = Transports {
            http: def.transports.contains(&Transport::Http),
            https: def.transports.contains(&Transport::Https),
        };
        api.topics = def
            .topics
            .iter()
            .map(|t| {
                let mut topic = Topic::new(t.template.clone());
                topic.backend.clone_from(&t.backend);
                topic.scopes = t
                    .scopes
                    .iter()
                    .map(|s| scope_in(s.as_str()))
                    .collect::<Result<_, _>>()?;
                topic.auth_type = t.auth_type;
                topic.delivery = def.delivery;
                topic.description.clone_from(&t.description);
                Ok(topic)
            })
            .collect::<Result<_, ModelError>>()?;
        api.plans = def
            .plans
            .iter()
            .map(|p| plan_in(p.as_str()))
            .collect::<Result<_, _>>()?;
        api.security.bearer = def.security.oauth2.is_some() || def.security.bearer_jwt;
        api.security.api_key_header = def
            .security
            .api_key_header
            .as_deref()
            .map(|h| HeaderName::try_from(h).map_err(|_| ModelError::invalid("API-key header", h)))
            .transpose()?;
        Ok(api)
    }

    /// Converts to an [`ApiDefinition`]. What AsyncAPI cannot say is left out: CORS, relay
    /// and strip settings, the default-version flag, the query-parameter credential, and a
    /// `{version}` context (written without its `{version}` segment). The delivery mode is
    /// the first topic's.
    #[must_use]
    pub fn to_definition(&self, lifecycle: Option<Lifecycle>) -> ApiDefinition {
        let context = Context::new(&self.context.default_path())
            .unwrap_or_else(|_| Context::from_name(&self.name));
        let mut def = ApiDefinition::new(self.name.clone(), context, self.version.clone());
        def.description.clone_from(&self.description);
        let url = |e: &Option<Endpoint>| e.as_ref().and_then(|e| EndpointUrl::new(e.as_str()).ok());
        def.endpoints.production = url(&self.endpoints.production);
        def.endpoints.sandbox = url(&self.endpoints.sandbox);
        def.transports = [
            (self.transports.http, Transport::Http),
            (self.transports.https, Transport::Https),
        ]
        .into_iter()
        .filter_map(|(on, t)| on.then_some(t))
        .collect();
        def.delivery = self
            .topics
            .first()
            .map_or(DeliveryMode::Shared, |t| t.delivery);
        def.topics = self
            .topics
            .iter()
            .map(|t| {
                let mut topic = eventgate_asyncapi::Topic::new(t.template.clone());
                topic.backend.clone_from(&t.backend);
                // AsyncAPI requires every channel parameter to be declared.
                for v in t.template.variables() {
                    topic
                        .parameters
                        .insert(v.to_owned(), TopicParameter::default());
                }
                topic.scopes = t.scopes.iter().filter_map(scope_out).collect();
                topic.auth_type = t.auth_type;
                topic.description.clone_from(&t.description);
                topic
            })
            .collect();
        def.sort_topics();
        def.plans = self.plans.iter().filter_map(plan_out).collect();
        def.security.oauth2 = self.security.bearer.then(OAuth2::default);
        def.security.api_key_header = self
            .security
            .api_key_header
            .as_ref()
            .map(|h| h.as_str().to_owned());
        def.lifecycle = lifecycle.map(|l| {
            use eventgate_asyncapi::Lifecycle as L;
            match l {
                Lifecycle::Created => L::Created,
                Lifecycle::PreReleased => L::Prototyped,
                Lifecycle::Published => L::Published,
                Lifecycle::Blocked => L::Blocked,
                Lifecycle::Deprecated => L::Deprecated,
                Lifecycle::Retired => L::Retired,
            }
        });
        def
    }

    /// Exports as an AsyncAPI document (see [`Api::to_definition`] and
    /// [`ApiDefinition::to_asyncapi`]).
    #[must_use]
    pub fn to_asyncapi(
        &self,
        lifecycle: Option<Lifecycle>,
        options: ExportOptions,
    ) -> serde_json::Value {
        self.to_definition(lifecycle).to_asyncapi(options)
    }
}

/// The lifecycle state an [`ApiDefinition`] carries as a hint (`x-eventgate-lifecycle`).
#[must_use]
pub fn lifecycle_of(def: &ApiDefinition) -> Option<Lifecycle> {
    def.lifecycle.and_then(|l| l.as_str().parse().ok())
}

// Names cross from eventgate-asyncapi's types to eventgate-types' here and only here.
fn plan_in(s: &str) -> Result<PlanName, ModelError> {
    PlanName::new(s).map_err(|_| ModelError::invalid("plan", s))
}

fn scope_in(s: &str) -> Result<Scope, ModelError> {
    Scope::new(s).map_err(|_| ModelError::invalid("scope", s))
}

fn plan_out(p: &PlanName) -> Option<eventgate_asyncapi::PlanName> {
    eventgate_asyncapi::PlanName::new(p.as_str()).ok()
}

fn scope_out(s: &Scope) -> Option<eventgate_asyncapi::Scope> {
    eventgate_asyncapi::Scope::new(s.as_str()).ok()
}

#[cfg(test)]
mod tests {
    use eventgate_asyncapi::OutputVersion;

    use super::*;

    const WSO2_OBSERVER: &str = r#"{"asyncapi":"2.0.0","info":{"title":"Observer","version":"1.0.0"},
 "servers":{"production":{"url":"http://localhost:8080","protocol":"sse"},
            "sandbox":{"url":"http://localhost:8080","protocol":"sse"}},
 "channels":{"/*":{"subscribe":{}}},
 "components":{"securitySchemes":{"oauth2":{"type":"oauth2","flows":{"implicit":{
   "authorizationUrl":"http://localhost:9999","scopes":{},"x-scopes-bindings":{}}}}}}}"#;

    #[test]
    fn wso2_observer_document_imports_with_both_endpoints_and_oauth2() {
        let api = Api::from_asyncapi(WSO2_OBSERVER).unwrap();
        assert_eq!(api.id().as_str(), "Observer:1.0.0");
        assert_eq!(
            api.endpoints.sandbox.as_ref().map(Endpoint::as_str),
            Some("http://localhost:8080")
        );
        assert!(api.security.bearer);
        assert_eq!(api.topics[0].template.as_str(), "/*");
        api.validate().unwrap();
    }

    #[test]
    fn export_then_import_keeps_topics_scopes_plans_and_endpoints() {
        let mut api = Api::from_asyncapi(WSO2_OBSERVER).unwrap();
        let mut t = Topic::new("/stocks/{symbol}".parse().unwrap());
        t.backend = Some("/feed/{symbol}".parse().unwrap());
        t.scopes = vec![Scope::new("read:stocks").unwrap()];
        t.auth_type = eventgate_asyncapi::AuthType::None;
        api.topics.push(t);
        api.plans = vec![PlanName::new("AsyncGold").unwrap()];
        let doc = api.to_asyncapi(
            Some(Lifecycle::Published),
            ExportOptions::eventgate(OutputVersion::V3),
        );
        let back = Api::from_asyncapi(&doc.to_string()).unwrap();
        let mut want = api.topics.clone();
        want.sort_by(|a, b| a.template.precedence(&b.template));
        assert_eq!(back.topics, want);
        assert_eq!(back.plans, api.plans);
        assert_eq!(back.endpoints, api.endpoints);
        let def = ApiDefinition::from_asyncapi(&Document::from_value(doc)).unwrap();
        assert_eq!(lifecycle_of(&def), Some(Lifecycle::Published));
    }

    #[test]
    fn unreadable_document_is_a_read_error() {
        assert!(matches!(
            Api::from_asyncapi("{not json"),
            Err(ModelError::AsyncApiRead(_))
        ));
        assert!(matches!(
            Api::from_asyncapi(
                r#"{"asyncapi":"2.0.0","info":{"title":"T","version":"1"},"channels":{"/in":{"publish":{}}}}"#
            ),
            Err(ModelError::AsyncApi(_))
        ));
    }
}
