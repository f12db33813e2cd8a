//! The policy half of the configuration file: plans, applications, subscriptions and API keys
//! into an `eventgate_policy::Gate`.

use eventgate_policy::{
    ApplicationId, Gate, GateBuilder, IssuedApiKey, IssuerConfig, JwksCache, JwtValidator, KeySet,
    Plan, RandomUnavailable, Subscription, Timestamp,
};

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{ApiKeySecret, Config, ConfigError, JwksSource};
use crate::fetch::{FetchConfigError, HttpFetcher, HttpIntrospector};
use crate::{Gateway, GatewayBuilder, GatewayError, Registry};

/// Why [`Config::apply_policy`] could not load the policy half.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyConfigError {
    /// A plan's numbers were refused by the policy engine.
    #[error("plan {name}: {source}")]
    Plan {
        /// The plan.
        name: String,
        /// Why.
        #[source]
        source: eventgate_policy::ConfigError,
    },
    /// The OS random source failed while issuing an API key.
    #[error("cannot issue an API key: {0}")]
    Random(#[from] RandomUnavailable),
    /// A `[[jwt_issuers]]` entry was refused by the policy engine (a `jwks_file` that is not
    /// a JWKS document, say).
    #[error("JWT issuer {issuer}: {source}")]
    Issuer {
        /// The issuer.
        issuer: String,
        /// Why.
        #[source]
        source: eventgate_policy::ConfigError,
    },
    /// A `jwks_file` could not be read.
    #[error("JWT issuer {issuer}: cannot read {path}: {source}")]
    JwksFile {
        /// The issuer.
        issuer: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP client for JWKS and introspection, or the introspection endpoint, was refused.
    #[error("[introspection] / jwks_url: {0}")]
    Fetch(#[from] FetchConfigError),
}

/// Why [`Config::build_gateway`] could not make a gateway.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildGatewayError {
    /// The registry refused an environment or an API ([`Config::apply`]).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The gate refused a plan or an API key could not be issued ([`Config::apply_policy`]).
    #[error(transparent)]
    Policy(#[from] PolicyConfigError),
    /// The gateway itself could not be built.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
}

/// An API key issued while applying a configuration (`issue = true`): shown once.
#[derive(Debug)]
#[non_exhaustive]
pub struct IssuedKey {
    /// The application it belongs to.
    pub application: String,
    /// The key itself (`egk_...`); print it once, it is stored only hashed.
    pub key: IssuedApiKey,
}

impl Config {
    /// A gateway serving this configuration: a new [`Registry`] with its environments and
    /// APIs ([`Config::apply`]), `gate` with its plans, applications, subscriptions and API
    /// keys ([`Config::apply_policy`]), and `builder`'s other settings. Returns the API keys
    /// issued (`issue = true`), to show once. The set-up every embedding example repeats:
    ///
    /// ```
    /// use eventgate::config::Config;
    /// use eventgate::Gateway;
    ///
    /// let cfg = Config::from_str("gw.toml", r#"
    /// [[environments]]
    /// name = "Default"
    /// vhosts = [{ host = "localhost" }]
    ///
    /// [[apis]]
    /// name = "Observer"
    /// context = "/observer"
    /// version = "1.0.0"
    /// lifecycle = "PUBLISHED"
    /// plans = ["AsyncGold"]
    /// endpoints = { production = "http://localhost:8080" }
    /// deploy = [{ environment = "Default", vhost = "localhost" }]
    /// security = { api_key_header = "apikey" }
    ///
    /// [[applications]]
    /// id = "app-1"
    /// name = "Dashboard"
    /// owner = "alice"
    ///
    /// [[subscriptions]]
    /// application = "app-1"
    /// api = "Observer:1.0.0"
    /// plan = "AsyncGold"
    ///
    /// [[api_keys]]
    /// application = "app-1"
    /// issue = true
    /// "#)?;
    /// let gate = eventgate_policy::Gate::builder().build()?;
    /// let (gateway, keys) = cfg.build_gateway(Gateway::builder(), gate)?;
    /// assert_eq!(keys.len(), 1);
    /// assert_eq!(gateway.registry().apis().len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`BuildGatewayError`] naming the step that failed.
    pub fn build_gateway(
        &self,
        builder: GatewayBuilder,
        gate: Gate,
    ) -> Result<(Gateway, Vec<IssuedKey>), BuildGatewayError> {
        let registry = Arc::new(Registry::new());
        self.apply(&registry)?;
        let keys = self.apply_policy(&gate)?;
        let gateway = builder.registry(registry).gate(Arc::new(gate)).build()?;
        Ok((gateway, keys))
    }

    /// Sets up `builder`'s token checks from `[[jwt_issuers]]` and `[introspection]`: one JWT
    /// validator trusting the file's issuers and `also` (an embedding service's own, such as
    /// a local issuer), an [`HttpFetcher`] for remote JWKS, and an [`HttpIntrospector`].
    /// Leaves `builder` alone when there is nothing to set. A `jwks_file` is read now
    /// (blocking: call it before serving).
    ///
    /// ```
    /// use eventgate::config::Config;
    /// let cfg = Config::from_str("eventgate.toml", r#"
    /// [[jwt_issuers]]
    /// issuer = "https://idp.example/realms/acme"
    /// jwks_url = "https://idp.example/realms/acme/protocol/openid-connect/certs"
    /// audiences = ["eventgate"]
    /// "#)?;
    /// let mut builder = eventgate_policy::Gate::builder();
    /// cfg.configure_gate(&mut builder, &[])?;
    /// let gate = builder.build()?;
    /// # let _ = gate;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`PolicyConfigError`] naming the issuer or the endpoint refused.
    pub fn configure_gate(
        &self,
        builder: &mut GateBuilder,
        also: &[IssuerConfig],
    ) -> Result<(), PolicyConfigError> {
        if self.jwt_issuers.is_empty() && self.introspection.is_none() {
            if !also.is_empty() {
                builder.jwt(validator(also.iter().cloned())?);
            }
            return Ok(());
        }
        let mut issuers = also.to_vec();
        for j in &self.jwt_issuers {
            let bad = |source| PolicyConfigError::Issuer {
                issuer: j.issuer.clone(),
                source,
            };
            let keys = match &j.keys {
                JwksSource::Url(url) => JwksCache::remote(url.clone()).build().map_err(bad)?,
                JwksSource::File(path) => {
                    let json = read_jwks(path).map_err(|source| PolicyConfigError::JwksFile {
                        issuer: j.issuer.clone(),
                        path: path.clone(),
                        source,
                    })?;
                    let set = KeySet::from_jwks(
                        &json,
                        eventgate_policy::DEFAULT_MAX_JWKS_BYTES,
                        eventgate_policy::DEFAULT_MAX_JWKS_KEYS,
                    )
                    .map_err(bad)?;
                    JwksCache::fixed(set)
                }
            };
            let mut b = IssuerConfig::builder(j.issuer.clone(), j.algorithms.clone(), keys);
            for aud in &j.audiences {
                b.audience(aud.clone());
            }
            b.leeway(j.leeway)
                .require_exp(j.require_exp)
                .mapping(j.mapping.clone());
            issuers.push(b.build().map_err(bad)?);
        }
        let fetcher = HttpFetcher::builder().build()?;
        if !issuers.is_empty() {
            builder.jwt(validator(issuers)?);
        }
        builder.jwks_fetcher(Arc::new(fetcher.clone()));
        if let Some(i) = &self.introspection {
            let client = i.client.as_ref().map(|(id, s)| (id.as_str(), s.as_str()));
            builder.introspector(Arc::new(HttpIntrospector::new(
                fetcher,
                &i.endpoint,
                client,
            )?));
        }
        Ok(())
    }

    /// Loads plans, applications, subscriptions and API keys into `gate` (the environments
    /// and APIs go to the registry with [`Config::apply`]). Keys marked `issue = true` are
    /// issued now and returned, the only time their secret exists in clear.
    ///
    /// ```
    /// use eventgate::config::Config;
    /// let cfg = Config::from_str("eventgate.toml", r#"
    /// [[apis]]
    /// name = "Observer"
    /// context = "/observer"
    /// version = "1.0.0"
    /// plans = ["AsyncGold"]
    /// endpoints = { production = "http://localhost:8080" }
    /// topics = [{ path = "/memory" }]
    ///
    /// [[applications]]
    /// id = "app-1"
    ///
    /// [[subscriptions]]
    /// application = "app-1"
    /// api = "Observer:1.0.0"
    /// plan = "AsyncGold"
    ///
    /// [[api_keys]]
    /// application = "app-1"
    /// issue = true
    /// "#)?;
    /// let gate = eventgate_policy::Gate::builder().build()?;
    /// let issued = cfg.apply_policy(&gate)?;
    /// assert_eq!(issued.len(), 1);
    /// assert!(issued[0].key.expose_secret().starts_with("egk_"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`PolicyConfigError`] when a plan is refused or a key cannot be issued.
    pub fn apply_policy(&self, gate: &Gate) -> Result<Vec<IssuedKey>, PolicyConfigError> {
        for p in &self.plans {
            let bad = |source| PolicyConfigError::Plan {
                name: p.name.to_string(),
                source,
            };
            let mut plan = Plan::new(p.name.clone(), p.quota.events, p.quota.per).map_err(bad)?;
            if let Some(desc) = &p.description {
                plan.description.clone_from(desc);
            }
            if let Some(b) = p.burst {
                plan = plan.with_burst(b.events, b.per).map_err(bad)?;
            }
            if let Some(n) = p.max_connections {
                plan = plan.with_max_connections(n);
            }
            gate.put_plan(plan);
        }
        for a in &self.applications {
            let mut app =
                eventgate_policy::Application::new(&a.id, a.name.clone(), a.owner.clone());
            for (k, id) in &a.client_ids {
                app = app.client_id(*k, id.clone());
            }
            if let Some(p) = &a.plan {
                app = app.plan(p.clone());
            }
            gate.put_application(app);
        }
        for s in &self.subscriptions {
            gate.put_subscription(
                Subscription::new(&s.application, s.api.as_str(), s.plan.clone()).state(s.state),
            );
        }
        let mut issued = Vec::new();
        for k in &self.api_keys {
            let expires = k.expires_at.map(Timestamp::from_unix_secs);
            match &k.secret {
                ApiKeySecret::Issue => {
                    let key = gate.api_keys().issue(
                        ApplicationId::new(&k.application),
                        k.key_type,
                        k.scopes.clone(),
                        expires,
                    )?;
                    issued.push(IssuedKey {
                        application: k.application.clone(),
                        key,
                    });
                }
                ApiKeySecret::Hashed { id, sha256 } => {
                    let mut record = eventgate_policy::ApiKeyRecord::new(
                        id.clone(),
                        *sha256,
                        ApplicationId::new(&k.application),
                        k.key_type,
                        k.scopes.clone(),
                    );
                    record.expires_at = expires;
                    record.revoked = k.revoked;
                    gate.api_keys().insert(record);
                }
            }
        }
        Ok(issued)
    }
}

/// One validator for `issuers`.
fn validator(
    issuers: impl IntoIterator<Item = IssuerConfig>,
) -> Result<JwtValidator, PolicyConfigError> {
    let mut b = JwtValidator::builder();
    let mut first = None;
    for i in issuers {
        first.get_or_insert_with(|| i.issuer.clone());
        b.issuer(i);
    }
    b.build().map_err(|source| PolicyConfigError::Issuer {
        issuer: first.unwrap_or_default(),
        source,
    })
}

/// A JWKS file, at most the policy engine's JWKS size cap (plus one byte, so that a larger
/// file is refused by the key set's own check rather than read whole).
fn read_jwks(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut out = Vec::new();
    let cap = eventgate_policy::DEFAULT_MAX_JWKS_BYTES as u64 + 1;
    std::fs::File::open(path)?.take(cap).read_to_end(&mut out)?;
    Ok(out)
}
