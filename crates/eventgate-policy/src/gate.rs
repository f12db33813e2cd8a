//! The decision API: [`Gate::authorize`] turns request facts into a [`Grant`] or a
//! [`Denial`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::apikey::{API_KEY_PREFIX, ApiKeyStore};
use crate::error::TokenError;
use crate::facts::RequestFacts;
use crate::introspect::{IntrospectionCache, Introspector, JwksFetcher};
use crate::jwt::{DEFAULT_MAX_TOKEN_BYTES, JwtValidator};
use crate::model::{
    ApiId, ApiPolicy, Application, ApplicationId, KeyType, Plan, PlanName, Principal, Quota,
    Subscription, SubscriptionState,
};
use crate::quota::{
    AtomicGauge, Counter, CounterStore, Gauge, InProcessCounters, Meter, QuotaExceeded, QuotaScope,
    SlotGuard,
};
use crate::time::Timestamp;

/// Why a request was refused. [`Denial`] carries the WSO2 code and HTTP status for it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenialReason {
    /// The API is not known to the gate (900906, 403).
    UnknownApi,
    /// The API does not list this topic (900906, 403).
    UnknownTopic,
    /// The API's lifecycle state is `BLOCKED` (700700, 503).
    ApiBlocked,
    /// No credential in any configured source (900902, 401).
    MissingCredentials,
    /// The credential was refused (900901, 401; wrong audience: 900914, 403).
    InvalidCredentials(TokenError),
    /// The API does not accept this key type (900905, 401).
    KeyTypeNotAllowed(KeyType),
    /// The credential's client belongs to no known application, or the application has no
    /// subscription to the API (900908, 403).
    NotSubscribed,
    /// The subscription is `BLOCKED`, or `PROD_ONLY_BLOCKED` for a production key
    /// (900907, 401).
    SubscriptionBlocked(SubscriptionState),
    /// The subscription is `ON_HOLD` or `REJECTED` (900909, 401).
    SubscriptionInactive(SubscriptionState),
    /// The principal lacks the topic's scopes (900910, 403).
    ScopeMissing,
    /// A quota is already exhausted (900804 subscription / 900803 application, 429).
    QuotaExceeded(QuotaExceeded),
    /// A connection limit is reached: subscription (900804, 429), application (900803, 429)
    /// or the gate's global limit (900801, 503).
    ConnectionLimit(ConnectionScope),
    /// The subscription names a plan the gate does not know (900900, 500).
    UnknownPlan(PlanName),
}

/// Which connection limit was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionScope {
    /// The subscription plan's `max_connections`.
    Subscription,
    /// The application plan's `max_connections`.
    Application,
    /// The gate's global limit.
    Global,
}

/// A refusal, in WSO2's terms: error code, message, description and HTTP status, plus the
/// headers the gateway must send.
///
/// ```
/// use eventgate_policy::{Gate, RequestFacts, Timestamp, ApiPolicy};
/// let gate = Gate::builder().build();
/// gate.put_api(ApiPolicy::new("observer:1.0.0"));
/// let d = gate.authorize(&RequestFacts::new("observer:1.0.0", "/memory"), Timestamp::EPOCH).unwrap_err();
/// assert_eq!((d.code, d.status), ("900902", 401));
/// assert!(d.www_authenticate.is_some());
/// assert!(d.to_json().contains(r#""code":"900902""#));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} {}: {}", .0.code, .0.message, .0.description)]
pub struct Denial(Box<DenialDetails>);

impl std::ops::Deref for Denial {
    type Target = DenialDetails;
    fn deref(&self) -> &DenialDetails {
        &self.0
    }
}

impl Denial {
    /// The details, owned.
    #[must_use]
    pub fn into_details(self) -> DenialDetails {
        *self.0
    }
}

fn deny(reason: DenialReason, realm: &str, now: Timestamp) -> Denial {
    Denial(Box::new(DenialDetails::from_reason(reason, realm, now)))
}

/// What a [`Denial`] says (reached through `Deref`: `denial.code`, `denial.status`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DenialDetails {
    /// Typed reason.
    pub reason: DenialReason,
    /// WSO2 error code (a string, as WSO2 4.x sends it).
    pub code: &'static str,
    /// WSO2 message.
    pub message: &'static str,
    /// Human description.
    pub description: String,
    /// HTTP status.
    pub status: u16,
    /// `WWW-Authenticate` value for 401 responses.
    pub www_authenticate: Option<String>,
    /// `Retry-After` seconds for throttled responses.
    pub retry_after: Option<u64>,
    /// When access is possible again (throttled responses; `nextAccessTime` in the body).
    pub next_access_time: Option<Timestamp>,
}

impl DenialDetails {
    fn new(
        reason: DenialReason,
        code: &'static str,
        message: &'static str,
        description: impl Into<String>,
        status: u16,
    ) -> Self {
        Self {
            reason,
            code,
            message,
            description: description.into(),
            status,
            www_authenticate: None,
            retry_after: None,
            next_access_time: None,
        }
    }

    fn from_reason(reason: DenialReason, realm: &str, now: Timestamp) -> Self {
        use DenialReason as R;
        let invalid_token = format!(
            "Bearer realm=\"{realm}\", error=\"invalid_token\", error_description=\"The provided token is invalid\""
        );
        let mut d = match &reason {
            R::UnknownApi | R::UnknownTopic => Self::new(
                reason.clone(),
                "900906",
                "No matching resource found in the API for the given request",
                "Access failure for API, check the API and topic of the request",
                403,
            ),
            R::ApiBlocked => Self::new(
                reason.clone(),
                "700700",
                "API blocked",
                "This API has been blocked temporarily. Please try again later or contact the system administrators.",
                503,
            ),
            R::MissingCredentials => {
                let mut d = Self::new(
                    reason.clone(),
                    "900902",
                    "Missing Credentials",
                    "Invalid Credentials. Make sure your API invocation call has a header: 'Authorization : Bearer ACCESS_TOKEN' or 'apikey: API_KEY', or the access_token query parameter where the API allows it",
                    401,
                );
                d.www_authenticate = Some(format!("Bearer realm=\"{realm}\""));
                return d;
            }
            R::InvalidCredentials(TokenError::WrongAudience) => Self::new(
                reason.clone(),
                "900914",
                "Access Denied",
                "The access token is not issued for this API (invalid audience)",
                403,
            ),
            R::InvalidCredentials(e) => {
                let description = match e {
                    TokenError::Expired => {
                        "Invalid Credentials. The access token has expired".to_owned()
                    }
                    other => format!(
                        "Invalid Credentials. Make sure you have provided the correct security credentials ({})",
                        other.kind()
                    ),
                };
                let mut d = Self::new(
                    reason.clone(),
                    "900901",
                    "Invalid Credentials",
                    description,
                    401,
                );
                d.www_authenticate = Some(invalid_token);
                return d;
            }
            R::KeyTypeNotAllowed(k) => {
                let mut d = Self::new(
                    reason.clone(),
                    "900905",
                    "Incorrect Access Token Type is provided",
                    format!("The API does not accept {} keys", k.as_str()),
                    401,
                );
                d.www_authenticate = Some(invalid_token);
                return d;
            }
            R::NotSubscribed => Self::new(
                reason.clone(),
                "900908",
                "Resource forbidden",
                "User is NOT authorized to access the Resource. API Subscription validation failed.",
                403,
            ),
            R::SubscriptionBlocked(s) => Self::new(
                reason.clone(),
                "900907",
                "The requested API is temporarily blocked",
                format!("The subscription is {}", s.as_str()),
                401,
            ),
            R::SubscriptionInactive(s) => Self::new(
                reason.clone(),
                "900909",
                "The subscription to the API is inactive",
                format!("The subscription is {}", s.as_str()),
                401,
            ),
            R::ScopeMissing => Self::new(
                reason.clone(),
                "900910",
                "The access token does not allow you to access the requested resource",
                "User is NOT authorized to access the Resource: scope validation failed",
                403,
            ),
            R::QuotaExceeded(q) => {
                let mut d = Self::new(
                    reason.clone(),
                    q.code(),
                    q.message(),
                    format!(
                        "You have exceeded your quota of {} events per {}s",
                        q.quota.events,
                        q.quota.per.as_secs_f64()
                    ),
                    429,
                );
                d.retry_after = Some(q.retry_after(now));
                d.next_access_time = Some(q.resets_at);
                d
            }
            R::ConnectionLimit(ConnectionScope::Subscription) => Self::new(
                reason.clone(),
                "900804",
                "Message throttled out",
                "Maximum concurrent connections of the subscription reached",
                429,
            ),
            R::ConnectionLimit(ConnectionScope::Application) => Self::new(
                reason.clone(),
                "900803",
                "Message throttled out",
                "Maximum concurrent connections of the application reached",
                429,
            ),
            R::ConnectionLimit(ConnectionScope::Global) => Self::new(
                reason.clone(),
                "900801",
                "API Limit Reached",
                "The gateway serves its maximum number of concurrent connections",
                503,
            ),
            R::UnknownPlan(p) => Self::new(
                reason.clone(),
                "900900",
                "Unclassified Authentication Failure",
                format!("Unknown business plan {p}"),
                500,
            ),
        };
        if d.status == 401 {
            d.www_authenticate = Some(invalid_token);
        }
        d
    }

    /// The JSON body WSO2 sends: `{"code":"…","message":"…","description":"…"}`, plus
    /// `"nextAccessTime"` on throttled responses.
    #[must_use]
    pub fn to_json(&self) -> String {
        crate::quota::wso2_error_json(
            self.code,
            self.message,
            &self.description,
            self.next_access_time,
        )
    }
}

/// Permission to open one stream: who, under which plan, the meter to charge per delivered
/// event, and the connection slots held (freed when the grant drops).
#[derive(Debug)]
#[non_exhaustive]
pub struct Grant {
    /// The authenticated principal.
    pub principal: Arc<Principal>,
    /// The application, when known.
    pub application: Option<ApplicationId>,
    /// The subscription plan the stream is metered under.
    pub plan: Option<PlanName>,
    meter: Arc<Meter>,
    _slots: Vec<SlotGuard>,
}

impl Grant {
    /// The stream's meter. Clone the `Arc` into the relay; call
    /// [`Meter::charge`] once per delivered event.
    #[must_use]
    pub fn meter(&self) -> &Arc<Meter> {
        &self.meter
    }

    /// Charge one delivered event (same as `self.meter().charge(now)`).
    ///
    /// # Errors
    /// [`QuotaExceeded`]: do not deliver; send [`QuotaExceeded::sse_event`]; close.
    #[inline]
    pub fn charge(&self, now: Timestamp) -> Result<(), QuotaExceeded> {
        self.meter.charge(now)
    }

    /// When the credential expires (the gateway may close the stream then).
    #[must_use]
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.principal.expires_at
    }
}

#[derive(Debug, Default)]
struct Registry {
    apis: HashMap<ApiId, ApiPolicy>,
    apps: HashMap<ApplicationId, Application>,
    by_client: HashMap<String, ApplicationId>,
    /// Subscriptions with their counter key (`sub:<application>:<api>`), built once.
    subs: HashMap<ApiId, HashMap<ApplicationId, (Subscription, Box<str>)>>,
    plans: HashMap<PlanName, Plan>,
}

const TOKEN_SHARDS: usize = 16;

/// The token cache's keys are already SipHash outputs: hash them as themselves.
#[derive(Default, Clone, Copy, Debug)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; fold anything else in anyway.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The token (to confirm a hash hit), its principal, and until when it may be served.
type CachedToken = (Box<str>, Arc<Principal>, Timestamp);

/// Verified JWTs, so a reconnecting client costs a map lookup, not a signature check.
#[derive(Debug)]
struct TokenCache {
    shards: [RwLock<HashMap<u64, CachedToken, BuildHasherDefault<PreHashed>>>; TOKEN_SHARDS],
    per_shard: usize,
    max_ttl: Duration,
}

impl TokenCache {
    fn new(capacity: usize, max_ttl: Duration) -> Self {
        Self {
            shards: Default::default(),
            per_shard: capacity.div_ceil(TOKEN_SHARDS).max(1),
            max_ttl,
        }
    }

    /// Hash of the token's tail (its signature: unique per token) and length; equality is
    /// confirmed on the whole token.
    fn key(token: &str) -> (usize, u64) {
        let b = token.as_bytes();
        let tail = b.get(b.len().saturating_sub(48)..).unwrap_or(b);
        let mut h = DefaultHasher::new();
        tail.hash(&mut h);
        b.len().hash(&mut h);
        let k = h.finish();
        #[allow(clippy::cast_possible_truncation)]
        let shard = (k >> 59) as usize % TOKEN_SHARDS;
        (shard, k)
    }

    fn get(&self, token: &str, now: Timestamp) -> Option<Arc<Principal>> {
        let (s, k) = Self::key(token);
        let g = self.shards.get(s)?.read().ok()?;
        match g.get(&k) {
            Some((t, p, until)) if &**t == token && now < *until => Some(Arc::clone(p)),
            _ => None,
        }
    }

    fn insert(&self, token: &str, p: &Arc<Principal>, now: Timestamp) {
        let mut until = now.saturating_add(self.max_ttl);
        if let Some(exp) = p.expires_at {
            until = until.min(exp);
        }
        let (s, k) = Self::key(token);
        let Some(Ok(mut g)) = self.shards.get(s).map(RwLock::write) else {
            return;
        };
        if g.len() >= self.per_shard && !g.contains_key(&k) {
            g.retain(|_, (_, _, u)| *u > now);
            if g.len() >= self.per_shard
                && let Some(victim) = g.keys().next().copied()
            {
                g.remove(&victim);
            }
        }
        g.insert(k, (token.into(), Arc::clone(p), until));
    }
}

/// Builds a [`Gate`].
#[must_use]
#[derive(Debug)]
pub struct GateBuilder {
    jwt: Option<JwtValidator>,
    introspector: Option<Arc<dyn Introspector>>,
    introspection_cache: IntrospectionCache,
    jwks_fetcher: Option<Arc<dyn JwksFetcher>>,
    counters: Option<Arc<dyn CounterStore>>,
    max_connections: Option<u32>,
    token_cache_capacity: usize,
    token_cache_ttl: Duration,
    max_credential_bytes: usize,
    realm: String,
    plans: Vec<Plan>,
}

impl GateBuilder {
    /// Accept JWTs verified by this validator. Default: none (JWTs refused).
    pub fn jwt(mut self, v: JwtValidator) -> Self {
        self.jwt = Some(v);
        self
    }

    /// Accept opaque tokens, introspected by this implementation. Default: none.
    pub fn introspector(mut self, i: Arc<dyn Introspector>) -> Self {
        self.introspector = Some(i);
        self
    }

    /// Replace the introspection cache. Default: [`IntrospectionCache::default`].
    pub fn introspection_cache(mut self, c: IntrospectionCache) -> Self {
        self.introspection_cache = c;
        self
    }

    /// Fetch remote JWKS with this implementation (used by
    /// [`Gate::authorize_async`]). Default: none.
    pub fn jwks_fetcher(mut self, f: Arc<dyn JwksFetcher>) -> Self {
        self.jwks_fetcher = Some(f);
        self
    }

    /// Where quota counters and connection gauges live. Default: [`InProcessCounters`].
    pub fn counters(mut self, c: Arc<dyn CounterStore>) -> Self {
        self.counters = Some(c);
        self
    }

    /// Global limit of concurrent streams. Default: none.
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = Some(n);
        self
    }

    /// Verified-JWT cache size. Default 65 536 entries.
    pub fn token_cache_capacity(mut self, n: usize) -> Self {
        self.token_cache_capacity = n;
        self
    }

    /// Longest time a verified JWT stays cached (never past its `exp`). Default 600 s.
    pub fn token_cache_ttl(mut self, d: Duration) -> Self {
        self.token_cache_ttl = d;
        self
    }

    /// Largest credential accepted from any source. Default
    /// [`DEFAULT_MAX_TOKEN_BYTES`](crate::DEFAULT_MAX_TOKEN_BYTES) (8 KiB).
    pub fn max_credential_bytes(mut self, n: usize) -> Self {
        self.max_credential_bytes = n;
        self
    }

    /// `realm` of `WWW-Authenticate`. Default `eventgate`.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Add (or replace) a business plan. The WSO2 Async defaults are always present unless
    /// replaced by name.
    pub fn plan(mut self, plan: Plan) -> Self {
        self.plans.push(plan);
        self
    }

    /// Build the gate.
    pub fn build(self) -> Gate {
        let counters = self
            .counters
            .unwrap_or_else(|| Arc::new(InProcessCounters::new()));
        let mut reg = Registry::default();
        for p in Plan::wso2_async_defaults().into_iter().chain(self.plans) {
            reg.plans.insert(p.name.clone(), p);
        }
        Gate {
            registry: RwLock::new(reg),
            jwt: self.jwt,
            api_keys: ApiKeyStore::new(),
            introspector: self.introspector,
            introspection_cache: self.introspection_cache,
            jwks_fetcher: self.jwks_fetcher,
            token_cache: TokenCache::new(self.token_cache_capacity, self.token_cache_ttl),
            global: self
                .max_connections
                .map(|n| Arc::new(AtomicGauge::new(n)) as Arc<dyn Gauge>),
            counters,
            max_credential_bytes: self.max_credential_bytes,
            realm: self.realm,
        }
    }
}

/// The policy decision point: applications, subscriptions, plans, APIs, credentials and
/// counters, deciding per request.
///
/// All methods take `&self`; share it in an `Arc`. Administrative updates
/// (`put_*`, `remove_*`) take a short write lock; decisions take read locks and never hold
/// them across I/O.
pub struct Gate {
    registry: RwLock<Registry>,
    jwt: Option<JwtValidator>,
    api_keys: ApiKeyStore,
    introspector: Option<Arc<dyn Introspector>>,
    introspection_cache: IntrospectionCache,
    jwks_fetcher: Option<Arc<dyn JwksFetcher>>,
    token_cache: TokenCache,
    counters: Arc<dyn CounterStore>,
    global: Option<Arc<dyn Gauge>>,
    max_credential_bytes: usize,
    realm: String,
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl Gate {
    /// A builder with the defaults each setter names.
    pub fn builder() -> GateBuilder {
        GateBuilder {
            jwt: None,
            introspector: None,
            introspection_cache: IntrospectionCache::default(),
            jwks_fetcher: None,
            counters: None,
            max_connections: None,
            token_cache_capacity: 65_536,
            token_cache_ttl: Duration::from_secs(600),
            max_credential_bytes: DEFAULT_MAX_TOKEN_BYTES,
            realm: "eventgate".into(),
            plans: Vec::new(),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        match self.registry.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        match self.registry.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Add or replace an API.
    pub fn put_api(&self, api: ApiPolicy) {
        self.write().apis.insert(api.id.clone(), api);
    }

    /// Add or replace an application (and its client ids).
    pub fn put_application(&self, app: Application) {
        let mut g = self.write();
        g.by_client.retain(|_, a| *a != app.id);
        for (_, c) in &app.client_ids {
            g.by_client.insert(c.clone(), app.id.clone());
        }
        g.apps.insert(app.id.clone(), app);
    }

    /// Add or replace a subscription.
    pub fn put_subscription(&self, sub: Subscription) {
        self.write()
            .subs
            .entry(sub.api.clone())
            .or_default()
            .insert(
                sub.application.clone(),
                (
                    sub.clone(),
                    format!("sub:{}:{}", sub.application, sub.api).into(),
                ),
            );
    }

    /// Remove a subscription; true if it existed.
    pub fn remove_subscription(&self, application: &str, api: &str) -> bool {
        self.write()
            .subs
            .get_mut(api)
            .and_then(|m| m.remove(application))
            .is_some()
    }

    /// Add or replace a plan.
    pub fn put_plan(&self, plan: Plan) {
        self.write().plans.insert(plan.name.clone(), plan);
    }

    /// The API key store (issue, revoke).
    #[must_use]
    pub fn api_keys(&self) -> &ApiKeyStore {
        &self.api_keys
    }

    /// Authenticate a credential from local state only (verified-JWT cache, JWT keys at
    /// hand, introspection cache, API keys). No I/O.
    ///
    /// Classification: `egk_…` is an eventgate API key; three dot-separated parts a JWT;
    /// anything else an opaque token.
    ///
    /// # Errors
    /// The [`TokenError`] that refused it.
    pub fn authenticate(
        &self,
        credential: &str,
        now: Timestamp,
    ) -> Result<Arc<Principal>, TokenError> {
        if credential.len() > self.max_credential_bytes {
            return Err(TokenError::TooLarge {
                len: credential.len(),
                limit: self.max_credential_bytes,
            });
        }
        if credential.starts_with(API_KEY_PREFIX) {
            return self.api_keys.verify(credential, now).map(Arc::new);
        }
        // Splitting on a char searches with memchr; a byte-by-byte count of the dots costs
        // more than the whole cache lookup.
        let mut parts = credential.splitn(4, '.');
        if parts.nth(2).is_some() && parts.next().is_none() {
            if let Some(p) = self.token_cache.get(credential, now) {
                return Ok(p);
            }
            let v = self.jwt.as_ref().ok_or(TokenError::WrongIssuer)?;
            let p = Arc::new(v.verify(credential, now)?);
            self.token_cache.insert(credential, &p, now);
            return Ok(p);
        }
        if self.introspector.is_none() {
            return Err(TokenError::OpaqueNotAccepted);
        }
        self.introspection_cache
            .get(credential, now)
            .unwrap_or(Err(TokenError::IntrospectionRequired))
    }

    /// Decide on a request at `now` from local state only (see [`Gate::authenticate`]).
    ///
    /// Checks, in order: API known and not blocked, topic known, credential present and
    /// valid, key type accepted, application and subscription (state), topic scopes, plan,
    /// connection slots (global, application, subscription), quota not already exhausted.
    ///
    /// # Errors
    /// A [`Denial`] with the WSO2 code and HTTP status of the first failed check.
    pub fn authorize(&self, facts: &RequestFacts<'_>, now: Timestamp) -> Result<Grant, Denial> {
        self.decide(facts, now)
            .map_err(|r| deny(r, &self.realm, now))
    }

    /// Like [`Gate::authorize`], but performs the I/O the local state lacks: a JWKS refresh
    /// when an issuer's keys are older than their `max_age` or a token names an unknown `kid`
    /// (both rate-limited per issuer), and introspection of an opaque token not in the cache. The future is `Send` and holds no lock across `.await`.
    ///
    /// # Errors
    /// As [`Gate::authorize`].
    pub async fn authorize_async(
        &self,
        facts: &RequestFacts<'_>,
        now: Timestamp,
    ) -> Result<Grant, Denial> {
        if let (Some(fetcher), Some(v)) = (&self.jwks_fetcher, &self.jwt) {
            for issuer in v.issuers() {
                if issuer.keys.is_stale(now)
                    && issuer.keys.try_begin_refresh(now)
                    && let Some(url) = issuer.keys.url()
                    && let Ok(body) = fetcher.fetch(url).await
                {
                    let _ = issuer.keys.install_jwks(&body, now);
                }
            }
        }
        match self.decide(facts, now) {
            Err(DenialReason::InvalidCredentials(
                TokenError::UnknownKid(_) | TokenError::KeysUnavailable,
            )) => {
                if let (Some(token), Some(fetcher), Some(v)) =
                    (self.credential_of(facts), &self.jwks_fetcher, &self.jwt)
                    && let Some(issuer) = v.issuer_of(token)
                    && let Some(url) = issuer.keys.url()
                    && issuer.keys.try_begin_refresh(now)
                    && let Ok(body) = fetcher.fetch(url).await
                {
                    let _ = issuer.keys.install_jwks(&body, now);
                }
            }
            Err(DenialReason::InvalidCredentials(TokenError::IntrospectionRequired)) => {
                if let (Some(token), Some(i)) = (self.credential_of(facts), &self.introspector) {
                    match i.introspect(token).await {
                        Ok(answer) => {
                            let _ = self.introspection_cache.insert(token, &answer, now);
                        }
                        Err(_) => {
                            return Err(deny(
                                DenialReason::InvalidCredentials(
                                    TokenError::IntrospectionUnavailable,
                                ),
                                &self.realm,
                                now,
                            ));
                        }
                    }
                }
            }
            other => return other.map_err(|r| deny(r, &self.realm, now)),
        }
        self.authorize(facts, now)
    }

    fn credential_of<'a>(&self, facts: &RequestFacts<'a>) -> Option<&'a str> {
        let g = self.read();
        let api = g.apis.get(facts.api)?;
        facts.credential(&api.credential_sources)
    }

    fn window(&self, key: &str, quota: Quota) -> Counter {
        match self.counters.local_window(key, quota) {
            Some(w) => Counter::Local(w),
            None => Counter::Shared(self.counters.window(key, quota)),
        }
    }

    fn decide(&self, facts: &RequestFacts<'_>, now: Timestamp) -> Result<Grant, DenialReason> {
        use DenialReason as R;
        let reg = self.read();
        let api = reg.apis.get(facts.api).ok_or(R::UnknownApi)?;
        if api.blocked {
            return Err(R::ApiBlocked);
        }
        let topic = if api.topics.is_empty() {
            None
        } else {
            Some(
                api.topics
                    .iter()
                    .find(|t| t.topic == facts.topic)
                    .ok_or(R::UnknownTopic)?,
            )
        };
        let credential = facts
            .credential(&api.credential_sources)
            .ok_or(R::MissingCredentials)?;
        let principal = self
            .authenticate(credential, now)
            .map_err(R::InvalidCredentials)?;
        if !api.key_types.contains(&principal.key_type) {
            return Err(R::KeyTypeNotAllowed(principal.key_type));
        }
        let app_id = principal.application.as_ref().or_else(|| {
            principal
                .client_id
                .as_ref()
                .and_then(|c| reg.by_client.get(c.as_str()))
        });
        let app = app_id.and_then(|id| reg.apps.get(id.as_str()));
        let mut meters: Vec<(Counter, QuotaScope)> = Vec::with_capacity(4);
        let mut slots = Vec::new();
        if let Some(g) = &self.global {
            slots.push(
                SlotGuard::acquire(Arc::clone(g))
                    .ok_or(R::ConnectionLimit(ConnectionScope::Global))?,
            );
        }
        let (plan_name, sub_key): (_, Cow<'_, str>) = if api.subscription_required {
            let id = app_id.ok_or(R::NotSubscribed)?;
            let (sub, key) = reg
                .subs
                .get(facts.api)
                .and_then(|m| m.get(id.as_str()))
                .ok_or(R::NotSubscribed)?;
            match sub.state {
                SubscriptionState::Unblocked => {}
                SubscriptionState::ProdOnlyBlocked if principal.key_type == KeyType::Sandbox => {}
                s @ (SubscriptionState::Blocked | SubscriptionState::ProdOnlyBlocked) => {
                    return Err(R::SubscriptionBlocked(s));
                }
                s => return Err(R::SubscriptionInactive(s)),
            }
            (sub.plan.clone(), Cow::Borrowed(&**key))
        } else {
            let who = app_id
                .map(ApplicationId::as_str)
                .or(principal.client_id.as_deref())
                .unwrap_or("anonymous");
            (
                PlanName::new("AsyncDefaultSubscriptionless"),
                Cow::Owned(format!("nosub:{who}:{}", facts.api)),
            )
        };
        if let Some(t) = topic
            && !t.allows(&principal)
        {
            return Err(R::ScopeMissing);
        }
        let plan = reg
            .plans
            .get(plan_name.as_str())
            .ok_or_else(|| R::UnknownPlan(plan_name.clone()))?;
        if let Some(app) = app
            && let Some(ap) = &app.plan
        {
            let ap = reg
                .plans
                .get(ap.as_str())
                .ok_or_else(|| R::UnknownPlan(ap.clone()))?;
            let key = format!("app:{}", app.id);
            if let Some(max) = ap.max_connections {
                let g = self.counters.gauge(&key, max);
                slots.push(
                    SlotGuard::acquire(g)
                        .ok_or(R::ConnectionLimit(ConnectionScope::Application))?,
                );
            }
            for q in ap.quota.iter().chain(&ap.burst) {
                meters.push((self.window(&key, *q), QuotaScope::Application));
            }
        }
        if let Some(max) = plan.max_connections {
            let g = self.counters.gauge(&sub_key, max);
            slots.push(
                SlotGuard::acquire(g).ok_or(R::ConnectionLimit(ConnectionScope::Subscription))?,
            );
        }
        for q in plan.quota.iter().chain(&plan.burst) {
            meters.push((self.window(&sub_key, *q), QuotaScope::Subscription));
        }
        // Subscription counters first: they are the ones most often exhausted.
        meters.reverse();
        let meter = Meter::from_counters(meters);
        if let Some(e) = meter.check(now) {
            return Err(R::QuotaExceeded(e));
        }
        Ok(Grant {
            principal,
            application: app.map(|a| a.id.clone()),
            plan: Some(plan_name),
            meter: Arc::new(meter),
            _slots: slots,
        })
    }
}
