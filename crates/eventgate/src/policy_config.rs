//! The policy half of the configuration file: plans, applications, subscriptions and API keys
//! into an `eventgate_policy::Gate`.

use eventgate_policy::{
    ApplicationId, Gate, IssuedApiKey, Plan, RandomUnavailable, Subscription, Timestamp,
};

use std::sync::Arc;

use crate::config::{ApiKeySecret, Config, ConfigError};
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
