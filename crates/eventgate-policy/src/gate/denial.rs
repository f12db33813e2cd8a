//! The WSO2 denial table: each reason a request is refused, with its code, message, HTTP
//! status and headers.

use crate::error::TokenError;
use crate::model::{KeyType, SubscriptionState};
use crate::quota::QuotaExceeded;
use crate::time::Timestamp;
use eventgate_types::PlanName;

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
    /// The counter store holds as many quota counters as it may, all in use
    /// ([`StoreFull`](crate::StoreFull); 900801, 503).
    CountersFull,
    /// The shared counter store (quotas and connection slots across nodes) could not be
    /// asked, or did not answer within the timeout ([`StoreUnavailable`](crate::StoreUnavailable);
    /// 900900, 500).
    StoreUnavailable,
    /// [`Gate::authorize`](crate::Gate::authorize) or
    /// [`Gate::admit_anonymous`](crate::Gate::admit_anonymous) (no I/O) was called on a
    /// gate whose counters are shared between nodes: use
    /// [`Gate::authorize_async`](crate::Gate::authorize_async) /
    /// [`Gate::admit_anonymous_async`](crate::Gate::admit_anonymous_async) (900900, 500).
    SharedStoreNeedsAsync,
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
/// let gate = Gate::builder().build()?;
/// gate.put_api(ApiPolicy::new("observer:1.0.0"));
/// let d = gate.authorize(&RequestFacts::new("observer:1.0.0", "/memory"), Timestamp::EPOCH).unwrap_err();
/// assert_eq!((d.code, d.status), ("900902", 401));
/// assert!(d.www_authenticate.is_some());
/// assert!(d.to_json().contains(r#""code":"900902""#));
/// # Ok::<(), eventgate_policy::ConfigError>(())
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

pub(super) fn deny(reason: DenialReason, realm: &str, now: Timestamp) -> Denial {
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
            R::CountersFull => Self::new(
                reason.clone(),
                "900801",
                "API Limit Reached",
                "The gateway holds its maximum number of quota counters",
                503,
            ),
            R::StoreUnavailable => Self::new(
                reason.clone(),
                "900900",
                "Unclassified Authentication Failure",
                "The quota store is unavailable; try again later",
                500,
            ),
            R::SharedStoreNeedsAsync => Self::new(
                reason.clone(),
                "900900",
                "Unclassified Authentication Failure",
                "The gate's counters are shared between nodes and need the asynchronous authorize",
                500,
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
