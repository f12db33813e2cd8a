//! Applications, subscriptions, business plans, APIs and principals.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use eventgate_types::{PlanName, Scope};

use crate::error::ConfigError;
use crate::time::Timestamp;

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Wrap a string.
            #[must_use]
            pub fn new(s: impl AsRef<str>) -> Self {
                Self(Arc::from(s.as_ref()))
            }

            /// The string form.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self::new(s)
            }
        }
    };
}

id_type!(
    /// An application's id (WSO2: application UUID).
    ApplicationId
);
id_type!(
    /// An API's id, as the gateway's router names it (e.g. `observer:1.0.0`).
    ApiId
);

/// Which keys of an application a credential belongs to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// Production keys (default).
    #[default]
    Production,
    /// Sandbox keys.
    Sandbox,
}

impl KeyType {
    /// `PRODUCTION` or `SANDBOX`, as WSO2 writes it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Production => "PRODUCTION",
            Self::Sandbox => "SANDBOX",
        }
    }
}

impl FromStr for KeyType {
    type Err = ConfigError;
    /// Case-insensitive `production` / `sandbox`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("production") {
            Ok(Self::Production)
        } else if s.eq_ignore_ascii_case("sandbox") {
            Ok(Self::Sandbox)
        } else {
            Err(ConfigError::Invalid(format!("key type {s:?}")))
        }
    }
}

/// The kind of credential a principal was authenticated with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialKind {
    /// A JWT verified locally.
    Jwt,
    /// An opaque OAuth2 token, introspected (RFC 7662).
    Opaque,
    /// An eventgate API key.
    ApiKey,
    /// No credential: a topic whose auth type is WSO2's `None`, admitted by
    /// [`Gate::admit_anonymous`](crate::Gate::admit_anonymous).
    Anonymous,
}

/// Who is calling: the outcome of authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Principal {
    /// `sub` (end user or client).
    pub subject: Option<String>,
    /// OAuth2 client id (consumer key) the token was issued to.
    pub client_id: Option<String>,
    /// The application, when the credential names it directly (API keys).
    pub application: Option<ApplicationId>,
    /// Production or sandbox.
    pub key_type: KeyType,
    /// Granted scopes, in the order the credential lists them, without duplicates. A scope
    /// token that is not a valid [`Scope`] (a comma, quote, backslash or control character,
    /// or longer than [`MAX_NAME_LEN`](eventgate_types::MAX_NAME_LEN) bytes) is left out:
    /// scopes only ever grant, so dropping one can refuse a topic but never open one.
    pub scopes: Vec<Scope>,
    /// When the credential stops being valid.
    pub expires_at: Option<Timestamp>,
    /// Issuer (`iss`) for JWTs.
    pub issuer: Option<String>,
    /// How the principal authenticated.
    pub credential: CredentialKind,
}

impl Principal {
    /// An empty principal of this credential kind (production keys, no scopes).
    #[must_use]
    pub fn new(credential: CredentialKind) -> Self {
        Self {
            subject: None,
            client_id: None,
            application: None,
            key_type: KeyType::Production,
            scopes: Vec::new(),
            expires_at: None,
            issuer: None,
            credential,
        }
    }

    /// Does the principal hold `scope`?
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s.as_str() == scope)
    }
}

/// An application: the subscriber.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Application {
    /// Id.
    pub id: ApplicationId,
    /// Display name.
    pub name: String,
    /// Owner (WSO2: the subscriber user).
    pub owner: String,
    /// OAuth2 client ids (consumer keys) by key type.
    pub client_ids: Vec<(KeyType, String)>,
    /// Application-level plan (WSO2 application throttling policy), if any.
    pub plan: Option<PlanName>,
}

impl Application {
    /// An application with no keys and no application plan.
    #[must_use]
    pub fn new(id: impl AsRef<str>, name: impl Into<String>, owner: impl Into<String>) -> Self {
        Self {
            id: ApplicationId::new(id),
            name: name.into(),
            owner: owner.into(),
            client_ids: Vec::new(),
            plan: None,
        }
    }

    /// Add an OAuth2 client id for a key type.
    #[must_use]
    pub fn client_id(mut self, key_type: KeyType, client_id: impl Into<String>) -> Self {
        self.client_ids.push((key_type, client_id.into()));
        self
    }

    /// Set the application-level plan.
    #[must_use]
    pub fn plan(mut self, plan: PlanName) -> Self {
        self.plan = Some(plan);
        self
    }
}

/// Subscription states, as WSO2 names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubscriptionState {
    /// Active.
    Unblocked,
    /// Blocked for all keys (denied with 900907).
    Blocked,
    /// Blocked for production keys only; sandbox keys pass (900907 for production).
    ProdOnlyBlocked,
    /// Awaiting approval (denied with 900909).
    OnHold,
    /// Approval refused (denied with 900909).
    Rejected,
}

impl SubscriptionState {
    /// WSO2's spelling (`UNBLOCKED`, `BLOCKED`, `PROD_ONLY_BLOCKED`, `ON_HOLD`, `REJECTED`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unblocked => "UNBLOCKED",
            Self::Blocked => "BLOCKED",
            Self::ProdOnlyBlocked => "PROD_ONLY_BLOCKED",
            Self::OnHold => "ON_HOLD",
            Self::Rejected => "REJECTED",
        }
    }
}

impl FromStr for SubscriptionState {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Self::Unblocked,
            Self::Blocked,
            Self::ProdOnlyBlocked,
            Self::OnHold,
            Self::Rejected,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
        .ok_or_else(|| ConfigError::Invalid(format!("subscription state {s:?}")))
    }
}

/// An application's subscription to an API under a business plan.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Subscription {
    /// Subscriber.
    pub application: ApplicationId,
    /// API subscribed to.
    pub api: ApiId,
    /// Business plan.
    pub plan: PlanName,
    /// State.
    pub state: SubscriptionState,
}

impl Subscription {
    /// An `UNBLOCKED` subscription.
    #[must_use]
    pub fn new(application: impl AsRef<str>, api: impl AsRef<str>, plan: PlanName) -> Self {
        Self {
            application: ApplicationId::new(application),
            api: ApiId::new(api),
            plan,
            state: SubscriptionState::Unblocked,
        }
    }

    /// Set the state.
    #[must_use]
    pub fn state(mut self, state: SubscriptionState) -> Self {
        self.state = state;
        self
    }
}

/// `events` per `per`: one fixed-window quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Quota {
    /// Events admitted per window (at most `u32::MAX - 1`).
    pub events: u64,
    /// Window length (at least 1 ms). Windows are aligned to the Unix epoch (UTC).
    pub per: Duration,
}

impl Quota {
    /// One day.
    pub const DAY: Duration = Duration::from_secs(86_400);

    /// `events` per `per`.
    #[must_use]
    pub const fn new(events: u64, per: Duration) -> Self {
        Self { events, per }
    }
}

/// The largest count a quota may have (the in-process counter packs it in 32 bits).
pub const MAX_QUOTA_EVENTS: u64 = u32::MAX as u64 - 1;

/// A business plan (WSO2 subscription or application throttling policy for events).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Plan {
    /// Name.
    pub name: PlanName,
    /// Description.
    pub description: String,
    /// Event quota; `None` counts nothing.
    pub quota: Option<Quota>,
    /// Burst control: a second, shorter window (WSO2's "burst control", e.g. 100/s).
    pub burst: Option<Quota>,
    /// Maximum concurrent connections (streams) under this plan, per subscription (or per
    /// application for an application plan).
    pub max_connections: Option<u32>,
}

impl Plan {
    /// A user-defined plan of `events` per `per`.
    ///
    /// # Errors
    /// [`ConfigError::InvalidPlan`] if `events` is 0 or above [`MAX_QUOTA_EVENTS`], or `per`
    /// is under a millisecond.
    pub fn new(name: PlanName, events: u64, per: Duration) -> Result<Self, ConfigError> {
        let q = check_quota(&name, Quota::new(events, per))?;
        Ok(Self {
            name,
            description: format!("Allows {events} events per {}s", per.as_secs_f64()),
            quota: Some(q),
            burst: None,
            max_connections: None,
        })
    }

    /// Add burst control.
    ///
    /// # Errors
    /// As [`Plan::new`].
    pub fn with_burst(mut self, events: u64, per: Duration) -> Result<Self, ConfigError> {
        self.burst = Some(check_quota(&self.name, Quota::new(events, per))?);
        Ok(self)
    }

    /// Limit concurrent connections.
    #[must_use]
    pub fn with_max_connections(mut self, n: u32) -> Self {
        self.max_connections = Some(n);
        self
    }

    fn wso2(name: &'static str, events: u64, description: &str) -> Self {
        Self {
            name: builtin_plan_name(name),
            description: description.to_owned(),
            quota: Some(Quota::new(events, Quota::DAY)),
            burst: None,
            max_connections: None,
        }
    }

    /// WSO2 `AsyncGold`: 50000 events per day.
    #[must_use]
    pub fn async_gold() -> Self {
        Self::wso2("AsyncGold", 50_000, "Allows 50000 events per day")
    }

    /// WSO2 `AsyncSilver`: 25000 events per day.
    #[must_use]
    pub fn async_silver() -> Self {
        Self::wso2("AsyncSilver", 25_000, "Allows 25000 events per day")
    }

    /// WSO2 `AsyncBronze`: 5000 events per day.
    #[must_use]
    pub fn async_bronze() -> Self {
        Self::wso2("AsyncBronze", 5_000, "Allows 5000 events per day")
    }

    /// WSO2 `AsyncUnlimited`: 2147483647 events per day.
    #[must_use]
    pub fn async_unlimited() -> Self {
        Self::wso2("AsyncUnlimited", 2_147_483_647, "Allows unlimited events")
    }

    /// WSO2 `AsyncDefaultSubscriptionless`: 10000 events per day, used when an API does not
    /// validate subscriptions.
    #[must_use]
    pub fn async_default_subscriptionless() -> Self {
        Self::wso2(SUBSCRIPTIONLESS_PLAN, 10_000, "Allows 10000 events per day")
    }

    /// All five WSO2 Async defaults.
    #[must_use]
    pub fn wso2_async_defaults() -> Vec<Self> {
        vec![
            Self::async_gold(),
            Self::async_silver(),
            Self::async_bronze(),
            Self::async_unlimited(),
            Self::async_default_subscriptionless(),
        ]
    }
}

/// WSO2's name of the plan used when an API does not validate subscriptions.
pub(crate) const SUBSCRIPTIONLESS_PLAN: &str = "AsyncDefaultSubscriptionless";

/// A built-in plan name (a string literal of this crate, checked by a unit test).
pub(crate) fn builtin_plan_name(name: &'static str) -> PlanName {
    match PlanName::new(name) {
        Ok(p) => p,
        // Every caller passes one of the five WSO2 names, all valid.
        Err(_) => unreachable!("built-in plan name {name:?} is valid"),
    }
}

pub(crate) fn check_quota(name: &PlanName, q: Quota) -> Result<Quota, ConfigError> {
    let bad = |reason| ConfigError::InvalidPlan {
        name: name.clone(),
        reason,
    };
    if q.events == 0 {
        return Err(bad("quota of zero events"));
    }
    if q.events > MAX_QUOTA_EVENTS {
        return Err(bad("quota above u32::MAX - 1 events"));
    }
    if q.per < Duration::from_millis(1) {
        return Err(bad("window shorter than 1 ms"));
    }
    Ok(q)
}

/// Where the credential is read from.
///
/// Sources are tried in the order an API lists them; the first present one is used.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialSource {
    /// `Authorization: Bearer <token>` (RFC 6750 §2.1). The default.
    Bearer,
    /// A named request header carrying the credential as its whole value, e.g. WSO2's
    /// `apikey`. Names match case-insensitively.
    Header(String),
    /// A query parameter, e.g. `access_token` (RFC 6750 §2.3), for browsers whose
    /// `EventSource` cannot set headers.
    ///
    /// **Leak risk:** URLs end up in access logs, proxy logs, browser history and
    /// `Referer` headers, so a token in the query string outlives the request. RFC 6750 §2.3
    /// says not to use it unless headers are impossible. When you enable it, keep such tokens
    /// short-lived and narrowly scoped, strip the parameter from logs, and set
    /// `Referrer-Policy: no-referrer`.
    Query(String),
}

/// Scope requirement semantics for a topic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeMatch {
    /// The principal must hold every listed scope (default).
    #[default]
    AllOf,
    /// Holding any one listed scope suffices (WSO2's behaviour for resources with several
    /// scopes).
    AnyOf,
}

/// One topic of an API and the scopes it requires.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicPolicy {
    /// The topic as the router names it (e.g. `/memory` or `/prices/{symbol}`).
    pub topic: String,
    /// Required scopes; empty means none.
    pub scopes: Vec<Scope>,
    /// How `scopes` are matched.
    pub scope_match: ScopeMatch,
}

impl TopicPolicy {
    /// A topic with no scope requirement.
    #[must_use]
    pub fn new(topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            scopes: Vec::new(),
            scope_match: ScopeMatch::AllOf,
        }
    }

    /// Require scopes (all of them, unless [`TopicPolicy::any_of`]).
    #[must_use]
    pub fn scopes<I: IntoIterator<Item = Scope>>(mut self, scopes: I) -> Self {
        self.scopes = scopes.into_iter().collect();
        self
    }

    /// Any one of the scopes suffices.
    #[must_use]
    pub fn any_of(mut self) -> Self {
        self.scope_match = ScopeMatch::AnyOf;
        self
    }

    pub(crate) fn allows(&self, p: &Principal) -> bool {
        match self.scope_match {
            _ if self.scopes.is_empty() => true,
            ScopeMatch::AllOf => self.scopes.iter().all(|s| p.has_scope(s.as_str())),
            ScopeMatch::AnyOf => self.scopes.iter().any(|s| p.has_scope(s.as_str())),
        }
    }
}

/// An API's security settings.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiPolicy {
    /// Id.
    pub id: ApiId,
    /// Credential sources, in order. Default `[Bearer]`.
    pub credential_sources: Vec<CredentialSource>,
    /// Key types accepted (an API deployed for production only refuses sandbox keys with
    /// 900905). Default both.
    pub key_types: Vec<KeyType>,
    /// Topics; a topic not listed is refused with 900906 unless the list is empty.
    pub topics: Vec<TopicPolicy>,
    /// Check subscriptions (default true). When false, any authenticated application may
    /// call, metered under `AsyncDefaultSubscriptionless` per application and API.
    pub subscription_required: bool,
    /// Lifecycle state `BLOCKED` (denied with 700700, 503).
    pub blocked: bool,
}

impl ApiPolicy {
    /// An API reading `Authorization: Bearer`, accepting both key types, subscriptions
    /// required, no topic list.
    #[must_use]
    pub fn new(id: impl AsRef<str>) -> Self {
        Self {
            id: ApiId::new(id),
            credential_sources: vec![CredentialSource::Bearer],
            key_types: vec![KeyType::Production, KeyType::Sandbox],
            topics: Vec::new(),
            subscription_required: true,
            blocked: false,
        }
    }

    /// Replace the credential sources.
    #[must_use]
    pub fn credential_sources(mut self, sources: Vec<CredentialSource>) -> Self {
        self.credential_sources = sources;
        self
    }

    /// Add a topic.
    #[must_use]
    pub fn topic(mut self, topic: TopicPolicy) -> Self {
        self.topics.push(topic);
        self
    }

    /// Replace the accepted key types.
    #[must_use]
    pub fn key_types(mut self, key_types: Vec<KeyType>) -> Self {
        self.key_types = key_types;
        self
    }

    /// Turn subscription validation off.
    #[must_use]
    pub fn without_subscriptions(mut self) -> Self {
        self.subscription_required = false;
        self
    }

    /// Mark the API blocked.
    #[must_use]
    pub fn blocked(mut self, blocked: bool) -> Self {
        self.blocked = blocked;
        self
    }
}
