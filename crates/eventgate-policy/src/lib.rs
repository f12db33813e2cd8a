//! Policy decisions for an SSE API gateway: who is calling, may they open this stream, and
//! how many events may it carry.
//!
//! `eventgate-policy` authenticates credentials (JWTs against JWKS or PEM keys, opaque
//! OAuth2 tokens through RFC 7662 introspection, API keys it issues itself), checks the
//! caller's application, its subscription to the API and the topic's scopes, admits the
//! stream against connection limits and hands back a [`Grant`] whose [`Meter`] counts every
//! delivered event against the business plans, exactly. It copies WSO2 API Manager's
//! contract (plans, subscription states, error codes) and improves on its metering (WSO2
//! overshoots and cuts streams silently; this stops at the quota and says why).
//!
//! **Should I use this crate?** Yes if you build a gateway (or any server) that needs these
//! decisions without adopting an HTTP stack: the crate knows nothing of HTTP types, sockets
//! or async runtimes (no tokio, no hyper; the optional `redis` feature brings tokio and the
//! Redis client for counters shared between nodes). Time is an argument (`now`), I/O sits behind the
//! [`JwksFetcher`] and [`Introspector`] traits, counters behind [`CounterStore`].
//!
//! ```
//! use eventgate_policy::*;
//! use std::time::Duration;
//!
//! let gate = Gate::builder().build()?; // WSO2 Async plans built in
//! let read_memory = Scope::new("read:memory")?;
//! gate.put_api(ApiPolicy::new("observer:1.0.0")
//!     .credential_sources(vec![CredentialSource::Header("apikey".into())])
//!     .topic(TopicPolicy::new("/memory").scopes([read_memory.clone()])));
//! gate.put_application(Application::new("app-1", "Dashboard", "alice"));
//! gate.put_subscription(Subscription::new("app-1", "observer:1.0.0", PlanName::new("AsyncBronze")?));
//! let key = gate.api_keys()
//!     .issue(ApplicationId::new("app-1"), KeyType::Production, vec![read_memory], None)
//!     .unwrap();
//!
//! let now = Timestamp::from_unix_secs(1_800_000_000);
//! let headers = [("apikey", key.expose_secret())];
//! let facts = RequestFacts::new("observer:1.0.0", "/memory").headers(&headers);
//! let grant = gate.authorize(&facts, now).unwrap();
//! for _ in 0..5000 {
//!     grant.charge(now).unwrap(); // AsyncBronze: 5000 events per day
//! }
//! let over = grant.charge(now).unwrap_err();
//! assert_eq!(over.code(), "900804");
//! // The gateway sends this last event (an eventgate-sse Frame), then closes the stream.
//! let last = over.sse_event(now);
//! assert!(last.as_bytes().ends_with(b"\n\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Credentials
//! * **JWT** ([`JwtValidator`], [`IssuerConfig`]): HS256/384/512, RS256/384/512,
//!   PS256/384/512, ES256/384, EdDSA, verified with `jsonwebtoken`'s pure-Rust (RustCrypto)
//!   backend. Keys from PEM, a JWK or a JWKS ([`VerificationKey`], [`KeySet`],
//!   [`JwksCache`]); a remote JWKS is fetched through [`JwksFetcher`], cached, refreshed
//!   when a token names an unknown `kid` and once an hour, at most once per 30 s per issuer
//!   (defaults); [`Gate::authorize_async_with`] bounds each fetch (and each introspection
//!   call) with a timeout future the caller brings. Per issuer: allowed algorithms (never
//!   taken from the token), audiences, leeway, claims mapping ([`ClaimsMapping`]: client id
//!   from `azp` or `client_id`, scopes from the `scope` string or the `scp` array, key type
//!   from `keytype`; a scope token that is not a valid [`Scope`] is left out, never
//!   granted). Verified tokens are cached until their `exp`.
//! * **Opaque tokens**: [`Introspector`] (RFC 7662) with a bounded [`IntrospectionCache`]
//!   (positive and negative entries, never past the token's `exp`).
//! * **API keys** ([`ApiKeyStore`]): `egk_<id>_<secret>`, 256 random bits from the OS,
//!   stored as SHA-256, compared in constant time, revocable, optional expiry.
//! * **Where from** ([`CredentialSource`], per API): `Authorization: Bearer` (default), a
//!   named header (WSO2's `apikey`), or a query parameter (`access_token`; read the leak
//!   warning on [`CredentialSource::Query`]).
//!
//! # Token error kinds
//! [`TokenError::kind`] names, stable, printed by the `jwt-check` example as `err <kind>`:
//!
//! | kind | when |
//! |---|---|
//! | `malformed` | not three parts; bad base64url (padding, bad characters, non-canonical bits); header or claims not a JSON object; duplicate header member; signature not base64url |
//! | `too_large` | longer than the limit (default 8 KiB) |
//! | `algorithm_not_allowed` | `alg` is `none`, unknown, misspelled, or not in the issuer's list |
//! | `unsupported_crit` | the header has `crit` (no extension is understood) |
//! | `unknown_kid` | `kid` names no key (after the allowed refresh) |
//! | `key_algorithm_mismatch` | key confusion: the key's family does not fit `alg` (e.g. `HS256` against an RSA key), or no key fits |
//! | `bad_signature` | the signature does not verify |
//! | `expired` | `exp` ≤ now − leeway (also expired API keys) |
//! | `not_yet_valid` | `nbf` > now + leeway |
//! | `wrong_issuer` | `iss` missing or not configured |
//! | `wrong_audience` | `aud` missing or not accepted |
//! | `missing_claim` | `exp` missing (required by default) |
//! | `invalid_claim` | a claim of the wrong type (`exp`, `nbf`, `sub`, `scope`, `keytype`) |
//! | `keys_unavailable` | no key loaded for the issuer |
//! | `inactive` | introspection says `active: false` |
//! | `introspection_required` | opaque token not cached (synchronous path only) |
//! | `introspection_unavailable` | the introspection call failed |
//! | `opaque_not_accepted` | opaque token, no introspection configured |
//! | `unknown_api_key` | API key unknown or wrong secret |
//! | `revoked` | API key revoked |
//!
//! # Decisions and WSO2 error codes
//! [`Gate::authorize`] returns a [`Grant`] or a [`Denial`] (`code`, `message`,
//! `description`, HTTP `status`, `WWW-Authenticate` for 401, `Retry-After` and
//! `nextAccessTime` for 429); see [`DenialReason`] for the code of each reason. Subscription
//! states: `UNBLOCKED` passes; `BLOCKED` → 900907; `PROD_ONLY_BLOCKED` → 900907 for
//! production keys, passes for sandbox keys; `ON_HOLD`, `REJECTED` → 900909.
//!
//! # Quotas: the contract
//! Business plans ([`Plan`]) count delivered events in fixed windows aligned to the epoch
//! (a daily plan resets at 00:00 UTC; see the [`quota` module docs](crate::quota) for why
//! fixed windows rather than GCRA). WSO2's defaults are built in: AsyncGold 50000/day,
//! AsyncSilver 25000/day, AsyncBronze 5000/day, AsyncUnlimited 2147483647/day,
//! AsyncDefaultSubscriptionless 10000/day. User plans add any events-per-window quota, an
//! optional burst window and an optional connection limit. A subscription's plan is counted
//! per subscription (application × API, WSO2's `<appId>:<context>:<version>`); an
//! application plan per application (WSO2 keys it per application and end user; here one
//! budget covers the application's streams whoever the user).
//!
//! The relay calls [`Meter::charge`] once per event it is about to deliver:
//! * `Ok(())`: deliver it. Exactly `N` events pass per window, across all streams and threads
//!   sharing the plan (no overshoot).
//! * `Err(ChargeError::Exceeded(_))`: do not deliver it; write [`ChargeError::sse_event`]
//!   ([`QuotaExceeded::sse_event`]), an
//!   `eventgate_sse::Frame` (`retry:` = milliseconds until the reset, `event:
//!   eventgate-error`, `data:` =
//!   `{"code":"900804"|"900803","message":"Message throttled out","description":…,"nextAccessTime":…}`)
//!   and close the stream. A reconnect before the reset gets 429 with `Retry-After`.
//!
//! Connection slots are held by the [`Grant`] and freed when it is dropped. Quota and slots
//! are taken only after every other check passed.
//!
//! With counters shared between nodes ([`CounterStore::is_shared`], e.g. the `redis`
//! feature's `redis::RedisCounters`), decide with [`Gate::authorize_async_with`] /
//! [`Gate::admit_anonymous_async`] (the sync ones refuse with
//! [`DenialReason::SharedStoreNeedsAsync`]); `charge` then also answers
//! [`ChargeError::Pending`] (wait for [`Meter::ready`], charge again) and
//! [`ChargeError::StoreUnavailable`] (end the stream, 900900). See `docs/shared-quotas.md`.
//!
//! The in-process counters ([`InProcessCounters`]) hold at most
//! [`DEFAULT_MAX_COUNTER_ENTRIES`] counters and gauges; expired, unheld ones make room, and a
//! store full of live ones refuses the new stream (503, 900801) rather than forget a count.
//!
//! # Builders
//! [`GateBuilder`], [`JwtValidatorBuilder`], [`IssuerConfigBuilder`], [`JwksCacheBuilder`],
//! [`IntrospectionCacheBuilder`] and [`InProcessCountersBuilder`] take `&mut self` setters,
//! each naming its default (a `DEFAULT_*` constant), and check every limit in `build()`,
//! which returns [`ConfigError::Limit`] naming the setting.
//!
//! # Crate features
//! `default = []`. Implement [`JwksFetcher`] / [`Introspector`] over your HTTP client.
//! * `redis`: `redis::RedisCounters`, quotas and connection limits shared between gateway
//!   nodes through Redis (leased blocks, exact; expiring slot leases).
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)
)]

mod apikey;
mod error;
mod facts;
mod gate;
mod introspect;
mod jwt;
mod model;
pub mod quota;
#[cfg(feature = "redis")]
pub mod redis;
mod time;

pub use apikey::{API_KEY_PREFIX, ApiKeyRecord, ApiKeyStore, IssuedApiKey, RandomUnavailable};
pub use error::{ConfigError, IoError, TokenError};
/// The names shared with `eventgate-asyncapi` and the gateway, from `eventgate-types`.
pub use eventgate_types::{BoxFuture, NameError, PlanName, Scope};
pub use facts::RequestFacts;
pub use gate::{
    ConnectionScope, DEFAULT_REALM, DEFAULT_TOKEN_CACHE_CAPACITY, DEFAULT_TOKEN_CACHE_TTL, Denial,
    DenialDetails, DenialReason, Gate, GateBuilder, Grant,
};
pub use introspect::{
    DEFAULT_INTROSPECTION_CAPACITY, DEFAULT_INTROSPECTION_NEGATIVE_TTL,
    DEFAULT_INTROSPECTION_POSITIVE_TTL, Introspection, IntrospectionCache,
    IntrospectionCacheBuilder, Introspector, JwksFetcher,
};
pub use jwt::{
    Algorithm, ClaimsMapping, DEFAULT_JWKS_MAX_AGE, DEFAULT_JWKS_MIN_REFRESH, DEFAULT_LEEWAY,
    DEFAULT_MAX_JWKS_BYTES, DEFAULT_MAX_JWKS_KEYS, DEFAULT_MAX_TOKEN_BYTES, IssuerConfig,
    IssuerConfigBuilder, JwksCache, JwksCacheBuilder, JwtValidator, JwtValidatorBuilder, KeyFamily,
    KeySet, MAX_LEEWAY, MAX_TOKEN_BYTES_CAP, ParsedToken, VerificationKey, parse_token,
};
pub use model::{
    ApiId, ApiPolicy, Application, ApplicationId, CredentialKind, CredentialSource, KeyType,
    MAX_QUOTA_EVENTS, Plan, Principal, Quota, ScopeMatch, Subscription, SubscriptionState,
    TopicPolicy,
};
pub use quota::{
    AtomicGauge, AtomicWindow, ChargeError, CounterStore, DEFAULT_MAX_COUNTER_ENTRIES, ERROR_EVENT,
    Exhausted, Gauge, InProcessCounters, InProcessCountersBuilder, Meter, QuotaExceeded,
    QuotaScope, SlotGuard, StoreFull, StoreUnavailable, TakeError, WindowCounter,
};
pub use time::Timestamp;
