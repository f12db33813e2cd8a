//! [`GateBuilder`]: the gate's credentials, I/O, counters and limits.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::cache::TokenCache;
use super::{Gate, Registry};
use crate::apikey::ApiKeyStore;
use crate::error::ConfigError;
use crate::introspect::{IntrospectionCache, Introspector, JwksFetcher};
use crate::jwt::{DEFAULT_MAX_TOKEN_BYTES, JwtValidator, MAX_TOKEN_BYTES_CAP};
use crate::model::{Plan, SUBSCRIPTIONLESS_PLAN, builtin_plan_name};
use crate::quota::{AtomicGauge, CounterStore, Gauge, InProcessCounters};

/// Default number of verified JWTs the gate caches: 65 536.
pub const DEFAULT_TOKEN_CACHE_CAPACITY: usize = 65_536;
/// Default longest time a verified JWT stays cached (never past its `exp`): 600 s.
pub const DEFAULT_TOKEN_CACHE_TTL: Duration = Duration::from_secs(600);
/// Default `realm` of `WWW-Authenticate`: `eventgate`.
pub const DEFAULT_REALM: &str = "eventgate";

/// Builds a [`Gate`].
///
/// ```
/// use eventgate_policy::{ConfigError, Gate};
/// let gate = Gate::builder().max_connections(10_000).realm("observer").build()?;
/// assert!(matches!(
///     Gate::builder().realm("a \"quoted\" realm").build(),
///     Err(ConfigError::Limit { setting: "realm", .. })
/// ));
/// # drop(gate);
/// # Ok::<(), ConfigError>(())
/// ```
#[must_use]
#[derive(Debug, Clone)]
pub struct GateBuilder {
    jwt: Option<Arc<JwtValidator>>,
    introspector: Option<Arc<dyn Introspector>>,
    introspection_cache: Option<Arc<IntrospectionCache>>,
    jwks_fetcher: Option<Arc<dyn JwksFetcher>>,
    counters: Option<Arc<dyn CounterStore>>,
    max_connections: Option<u32>,
    token_cache_capacity: usize,
    token_cache_ttl: Duration,
    max_credential_bytes: usize,
    realm: String,
    plans: Vec<Plan>,
}

impl Default for GateBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl GateBuilder {
    /// A builder with the defaults each setter names.
    pub fn new() -> Self {
        Self {
            jwt: None,
            introspector: None,
            introspection_cache: None,
            jwks_fetcher: None,
            counters: None,
            max_connections: None,
            token_cache_capacity: DEFAULT_TOKEN_CACHE_CAPACITY,
            token_cache_ttl: DEFAULT_TOKEN_CACHE_TTL,
            max_credential_bytes: DEFAULT_MAX_TOKEN_BYTES,
            realm: DEFAULT_REALM.to_owned(),
            plans: Vec::new(),
        }
    }

    /// Accept JWTs verified by this validator. Default is none (JWTs refused as
    /// `wrong_issuer`).
    pub fn jwt(&mut self, v: JwtValidator) -> &mut Self {
        self.jwt = Some(Arc::new(v));
        self
    }

    /// Accept opaque tokens, introspected by this implementation. Default is none (opaque
    /// tokens refused as `opaque_not_accepted`).
    pub fn introspector(&mut self, i: Arc<dyn Introspector>) -> &mut Self {
        self.introspector = Some(i);
        self
    }

    /// Cache introspection answers here. Default is [`IntrospectionCache::default`] (the
    /// `DEFAULT_INTROSPECTION_*` bounds).
    pub fn introspection_cache(&mut self, c: IntrospectionCache) -> &mut Self {
        self.introspection_cache = Some(Arc::new(c));
        self
    }

    /// Fetch remote JWKS with this implementation (used by
    /// [`Gate::authorize_async`]). Default is none (remote issuers keep no keys).
    pub fn jwks_fetcher(&mut self, f: Arc<dyn JwksFetcher>) -> &mut Self {
        self.jwks_fetcher = Some(f);
        self
    }

    /// Where quota counters and connection gauges live. Default is
    /// [`InProcessCounters::new`].
    pub fn counters(&mut self, c: Arc<dyn CounterStore>) -> &mut Self {
        self.counters = Some(c);
        self
    }

    /// Global limit of concurrent streams. Default is none (no global limit); at least 1.
    pub fn max_connections(&mut self, n: u32) -> &mut Self {
        self.max_connections = Some(n);
        self
    }

    /// Verified-JWT cache size. Default is [`DEFAULT_TOKEN_CACHE_CAPACITY`] (65 536
    /// entries); at least 1.
    pub fn token_cache_capacity(&mut self, n: usize) -> &mut Self {
        self.token_cache_capacity = n;
        self
    }

    /// Longest time a verified JWT stays cached (never past its `exp`). Default is
    /// [`DEFAULT_TOKEN_CACHE_TTL`] (600 s); at least 1 ms.
    pub fn token_cache_ttl(&mut self, d: Duration) -> &mut Self {
        self.token_cache_ttl = d;
        self
    }

    /// Largest credential accepted from any source. Default is
    /// [`DEFAULT_MAX_TOKEN_BYTES`] (8 KiB); between 1 and
    /// [`MAX_TOKEN_BYTES_CAP`] (1 MiB).
    pub fn max_credential_bytes(&mut self, n: usize) -> &mut Self {
        self.max_credential_bytes = n;
        self
    }

    /// `realm` of `WWW-Authenticate`. Default is [`DEFAULT_REALM`] (`eventgate`); not
    /// empty, and no double quote, backslash or control character (it is written inside
    /// a quoted string).
    pub fn realm(&mut self, realm: impl Into<String>) -> &mut Self {
        self.realm = realm.into();
        self
    }

    /// Add (or replace, by name) a business plan. Default is the five WSO2 Async plans
    /// ([`Plan::wso2_async_defaults`]), always present unless replaced by name.
    pub fn plan(&mut self, plan: Plan) -> &mut Self {
        self.plans.push(plan);
        self
    }

    /// Builds the gate.
    ///
    /// # Errors
    /// [`ConfigError::Limit`] naming the setting out of its range.
    pub fn build(&self) -> Result<Gate, ConfigError> {
        let bad = |setting, reason| Err(ConfigError::Limit { setting, reason });
        if self.max_connections == Some(0) {
            return bad("max_connections", "0 would refuse every stream");
        }
        if self.token_cache_capacity == 0 {
            return bad("token_cache_capacity", "must be at least 1");
        }
        if self.token_cache_ttl < Duration::from_millis(1) {
            return bad("token_cache_ttl", "shorter than 1 ms");
        }
        if self.max_credential_bytes == 0 || self.max_credential_bytes > MAX_TOKEN_BYTES_CAP {
            return bad(
                "max_credential_bytes",
                "outside 1..=MAX_TOKEN_BYTES_CAP (1 MiB)",
            );
        }
        if self.realm.is_empty()
            || self
                .realm
                .chars()
                .any(|c| c.is_control() || matches!(c, '"' | '\\'))
        {
            return bad(
                "realm",
                "empty, or holds a double quote, backslash or control character",
            );
        }
        let counters = self
            .counters
            .clone()
            .unwrap_or_else(|| Arc::new(InProcessCounters::new()));
        let mut reg = Registry::default();
        for p in Plan::wso2_async_defaults()
            .into_iter()
            .chain(self.plans.iter().cloned())
        {
            reg.plans.insert(p.name.clone(), p);
        }
        Ok(Gate {
            registry: RwLock::new(reg),
            jwt: self.jwt.clone(),
            api_keys: ApiKeyStore::new(),
            introspector: self.introspector.clone(),
            introspection_cache: self.introspection_cache.clone().unwrap_or_default(),
            jwks_fetcher: self.jwks_fetcher.clone(),
            token_cache: TokenCache::new(self.token_cache_capacity, self.token_cache_ttl),
            global: self
                .max_connections
                .map(|n| Arc::new(AtomicGauge::new(n)) as Arc<dyn Gauge>),
            counters,
            max_credential_bytes: self.max_credential_bytes,
            realm: self.realm.clone(),
            subscriptionless: builtin_plan_name(SUBSCRIPTIONLESS_PLAN),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(b: &GateBuilder) -> &'static str {
        match b.build() {
            Err(ConfigError::Limit { setting, .. }) => setting,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn build_refuses_each_limit_out_of_range() {
        assert_eq!(
            setting(GateBuilder::new().max_connections(0)),
            "max_connections"
        );
        assert_eq!(
            setting(GateBuilder::new().token_cache_capacity(0)),
            "token_cache_capacity"
        );
        assert_eq!(
            setting(GateBuilder::new().token_cache_ttl(Duration::ZERO)),
            "token_cache_ttl"
        );
        for n in [0, MAX_TOKEN_BYTES_CAP + 1] {
            assert_eq!(
                setting(GateBuilder::new().max_credential_bytes(n)),
                "max_credential_bytes"
            );
        }
        for realm in ["", "a\"b", "a\\b", "a\r\nSet-Cookie: x"] {
            assert_eq!(setting(GateBuilder::new().realm(realm)), "realm");
        }
        assert!(
            GateBuilder::new()
                .max_connections(1)
                .token_cache_capacity(1)
                .max_credential_bytes(MAX_TOKEN_BYTES_CAP)
                .realm("observer api")
                .build()
                .is_ok()
        );
    }

    #[test]
    fn one_builder_builds_several_gates() {
        let mut b = GateBuilder::new();
        b.realm("r");
        let (g1, g2) = (b.build().unwrap(), b.build().unwrap());
        assert_eq!(format!("{g1:?}"), format!("{g2:?}"));
    }
}
