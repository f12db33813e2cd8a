//! The admin API: JSON over HTTP, a bearer admin token on every request, changing the live
//! [`Registry`] and [`Gate`] and the [`Store`] together. Endpoints: `docs/admin-api.md`.
//!
//! Each change is validated by the registry's or the gate's rules, written to the store in
//! one transaction, then published to the live state (the registry's atomic swap), all
//! under one lock so changes are applied in the order they are stored. A change the store
//! cannot write is not applied. Errors are JSON `{"code", "message", "description"}`, with
//! WSO2's code where it has one (`900351` too many revisions, `900348` deployed revision,
//! `900901`/`900902` bad or missing admin token).

pub mod client;
mod handlers;

/// The longest lifetime `app token` mints (a year and a day).
pub const MAX_TOKEN_TTL: std::time::Duration = handlers::MAX_TOKEN_TTL;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use eventgate::{Registry, RegistryError, Transaction};
use eventgate_policy::Gate;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use serde_json::{Value, json};
use subtle::ConstantTimeEq as _;

use crate::issuer::LocalIssuer;
use crate::store::codec::StoredApplication;
use crate::store::{Change, Snapshot, Store};

/// The largest request body the admin API reads (an AsyncAPI document to import).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// File holding the admin token in the data directory (mode 0600).
pub const TOKEN_FILE: &str = "admin-token";
/// File holding the admin API's URL in the data directory.
pub const URL_FILE: &str = "admin-url";

/// Makes `dir` (if needed), returns its admin token (read from `dir/admin-token`, or 256
/// random bits, in hex, written there with mode 0600 on first start) and writes the admin API's URL
/// for `admin_addr` to `dir/admin-url` (an unspecified address is written as loopback).
///
/// # Errors
/// The file system's error.
pub fn prepare_data_dir(dir: &Path, admin_addr: SocketAddr) -> std::io::Result<String> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(TOKEN_FILE);
    let token = match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => t.trim().to_owned(),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {
            let mut raw = [0u8; 32];
            getrandom::getrandom(&mut raw).map_err(std::io::Error::other)?;
            // Hex: a token that began with '-' (as base64url may) read as a flag after
            // `--admin-token`.
            let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&path)?;
            f.write_all(token.as_bytes())?;
            f.sync_all()?;
            token
        }
    };
    let mut addr = admin_addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    std::fs::write(dir.join(URL_FILE), format!("http://{addr}\n"))?;
    Ok(token)
}

/// An admin API error: HTTP status and the JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminError {
    /// Status.
    pub status: StatusCode,
    /// WSO2's code where one exists, else a name (`api_not_found`).
    pub code: String,
    /// Short message.
    pub message: String,
    /// What exactly is wrong.
    pub description: String,
}

impl AdminError {
    pub(crate) fn new(
        status: StatusCode,
        code: &str,
        message: &str,
        description: impl Into<String>,
    ) -> Self {
        AdminError {
            status,
            code: code.to_owned(),
            message: message.to_owned(),
            description: description.into(),
        }
    }

    pub(crate) fn bad_request(code: &str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, "Bad Request", description)
    }

    pub(crate) fn not_found(code: &str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, "Not Found", description)
    }

    /// The JSON body.
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({"code": self.code, "message": self.message, "description": self.description})
    }
}

impl From<RegistryError> for AdminError {
    fn from(e: RegistryError) -> Self {
        use RegistryError as R;
        let (status, name, message) = match &e {
            R::Model(_) => (StatusCode::BAD_REQUEST, "invalid_api", "Bad Request"),
            R::ApiExists(_) => (StatusCode::CONFLICT, "api_exists", "Conflict"),
            R::ApiNotFound(_) => (StatusCode::NOT_FOUND, "api_not_found", "Not Found"),
            R::ContextTaken { .. } => (StatusCode::CONFLICT, "context_taken", "Conflict"),
            R::ApiDeployed(_) => (StatusCode::CONFLICT, "api_deployed", "Conflict"),
            R::Transition { .. } => (StatusCode::BAD_REQUEST, "invalid_transition", "Bad Request"),
            R::Retired(_) => (StatusCode::CONFLICT, "api_retired", "Conflict"),
            R::RevisionLimit { .. } => (
                StatusCode::BAD_REQUEST,
                "revision_limit",
                "Maximum number of revisions exceeded",
            ),
            R::RevisionNotFound { .. } => {
                (StatusCode::NOT_FOUND, "revision_not_found", "Not Found")
            }
            R::RevisionDeployed { .. } => (
                StatusCode::BAD_REQUEST,
                "revision_deployed",
                "Revision is deployed",
            ),
            R::EnvironmentNotFound(_) => {
                (StatusCode::NOT_FOUND, "environment_not_found", "Not Found")
            }
            R::VhostNotFound { .. } => (StatusCode::NOT_FOUND, "vhost_not_found", "Not Found"),
            R::MissingEndpoint { .. } => {
                (StatusCode::BAD_REQUEST, "missing_endpoint", "Bad Request")
            }
            R::RouteConflict { .. } => (StatusCode::CONFLICT, "route_conflict", "Conflict"),
            R::NotDeployed { .. } => (StatusCode::NOT_FOUND, "not_deployed", "Not Found"),
            _ => (StatusCode::CONFLICT, "conflict", "Conflict"),
        };
        let code = e
            .wso2_code()
            .map_or_else(|| name.to_owned(), |c| c.to_string());
        AdminError {
            status,
            code,
            message: message.to_owned(),
            description: e.to_string(),
        }
    }
}

/// An application as the admin API keeps it.
#[derive(Debug, Clone)]
pub(crate) struct AppEntry {
    pub(crate) stored: StoredApplication,
    /// API id -> plan.
    pub(crate) subscriptions: BTreeMap<String, String>,
    pub(crate) keys: Vec<String>,
}

/// The admin API's state: the live registry and gate, the store, the issuer.
#[derive(Debug)]
pub struct Admin {
    pub(crate) registry: Arc<Registry>,
    pub(crate) gate: Arc<Gate>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) issuer: Arc<LocalIssuer>,
    token: String,
    /// Serialises changes (store order = publication order).
    pub(crate) writes: Mutex<()>,
    pub(crate) apps: Mutex<BTreeMap<String, AppEntry>>,
    /// The stored state the live registry and gate reflect, at its version.
    synced: Mutex<Snapshot>,
}

/// The applications as the admin API keeps them, from a snapshot.
fn apps_of(snap: &Snapshot) -> Result<BTreeMap<String, AppEntry>, crate::store::StoreError> {
    let mut apps = BTreeMap::new();
    for (name, body) in &snap.applications {
        let stored: StoredApplication =
            serde_json::from_str(body).map_err(|e| crate::store::StoreError::Corrupt {
                what: "application",
                key: name.clone(),
                reason: e.to_string(),
            })?;
        apps.insert(
            name.clone(),
            AppEntry {
                stored,
                subscriptions: BTreeMap::new(),
                keys: Vec::new(),
            },
        );
    }
    for s in &snap.subscriptions {
        if let Some(a) = apps.get_mut(&s.application) {
            a.subscriptions.insert(s.api.clone(), s.plan.clone());
        }
    }
    for k in &snap.api_keys {
        if let Some(a) = apps.get_mut(&k.application) {
            a.keys.push(k.id.clone());
        }
    }
    Ok(apps)
}

impl Admin {
    /// The admin API over live state already loaded from `store` (see
    /// [`crate::control::load`]); reads the applications back from the store.
    ///
    /// # Errors
    /// The store's error.
    pub fn new(
        registry: Arc<Registry>,
        gate: Arc<Gate>,
        store: Arc<dyn Store>,
        issuer: Arc<LocalIssuer>,
        token: String,
    ) -> Result<Self, crate::store::StoreError> {
        let snapshot = store.load()?;
        Self::from_snapshot(registry, gate, store, issuer, token, snapshot)
    }

    /// [`Admin::new`] over live state loaded from `snapshot` (read from `store`): the
    /// admin API writes on top of that snapshot's version ([`Store::apply_if`]).
    ///
    /// # Errors
    /// A row of the snapshot that cannot be read.
    pub fn from_snapshot(
        registry: Arc<Registry>,
        gate: Arc<Gate>,
        store: Arc<dyn Store>,
        issuer: Arc<LocalIssuer>,
        token: String,
        snapshot: Snapshot,
    ) -> Result<Self, crate::store::StoreError> {
        let apps = apps_of(&snapshot)?;
        Ok(Admin {
            registry,
            gate,
            store,
            issuer,
            token,
            writes: Mutex::new(()),
            apps: Mutex::new(apps),
            synced: Mutex::new(snapshot),
        })
    }

    /// The write lock, after catching up with changes other nodes stored (see
    /// [`Admin::refresh`]): a change is checked against the state it will be written on.
    /// A node that cannot catch up writes nothing.
    pub(crate) fn write_lock(&self) -> Result<std::sync::MutexGuard<'_, ()>, AdminError> {
        let guard = self.lock_writes();
        match self.catch_up() {
            Ok(_) => Ok(guard),
            Err(crate::control::ControlError::Store(e)) => Err(store_error(&e)),
            Err(e) => Err(AdminError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "sync_failed",
                "Internal Server Error",
                format!(
                    "this node cannot apply the shared state other nodes stored, so it \
                     writes nothing: {e}"
                ),
            )),
        }
    }

    fn lock_writes(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn synced(&self) -> std::sync::MutexGuard<'_, Snapshot> {
        self.synced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Brings the live registry and gate (and this API's view of the applications) up to
    /// the store, if another node wrote since: loads the snapshot and applies what changed
    /// ([`crate::control::sync`]). Returns whether anything was applied. Waits for a write
    /// in progress here. Blocking: call it off the async workers.
    ///
    /// # Errors
    /// The store's error, or a stored change the registry refuses (nothing is applied then;
    /// the next refresh tries again).
    pub fn refresh(&self) -> Result<bool, crate::control::ControlError> {
        let _w = self.lock_writes();
        self.catch_up()
    }

    /// [`Admin::refresh`] with the write lock held.
    fn catch_up(&self) -> Result<bool, crate::control::ControlError> {
        let mut synced = self.synced();
        if self.store.version()? == synced.version {
            return Ok(false);
        }
        let new = self.store.load()?;
        if new.version == synced.version {
            return Ok(false);
        }
        crate::control::sync(&self.registry, &self.gate, &synced, &new)?;
        *self.apps() = apps_of(&new)?;
        *synced = new;
        Ok(true)
    }

    /// Writes `changes` on top of the version the live state reflects; the live state is
    /// then at the new version. Call with the write lock held.
    pub(crate) fn persist(&self, changes: &[Change]) -> Result<(), crate::store::StoreError> {
        let mut synced = self.synced();
        let version = self.store.apply_if(synced.version, changes)?;
        synced.apply(changes);
        synced.version = version;
        Ok(())
    }

    /// The store version the live state reflects.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.synced().version
    }

    pub(crate) fn apps(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, AppEntry>> {
        self.apps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` in a registry transaction; if it succeeds, writes its changes to the store
    /// before the registry publishes. A store failure aborts the transaction.
    pub(crate) fn commit<T>(
        &self,
        f: impl FnOnce(&mut Transaction) -> Result<(T, Vec<Change>), AdminError>,
    ) -> Result<T, AdminError> {
        let mut failure: Option<AdminError> = None;
        let out = self.registry.transaction(|tx| {
            let abort = || RegistryError::EnvironmentNotFound(String::new());
            let (value, changes) = match f(tx) {
                Ok(v) => v,
                Err(e) => {
                    failure = Some(e);
                    return Err(abort());
                }
            };
            if let Err(e) = self.persist(&changes) {
                failure = Some(store_error(&e));
                return Err(abort());
            }
            Ok(value)
        });
        match (out, failure) {
            (Ok(v), _) => Ok(v),
            (Err(_), Some(e)) => Err(e),
            (Err(e), None) => Err(e.into()),
        }
    }

    fn authorized(&self, header: Option<&http::HeaderValue>) -> Result<(), AdminError> {
        let Some(value) = header else {
            return Err(AdminError::new(
                StatusCode::UNAUTHORIZED,
                "900902",
                "Missing Credentials",
                "the admin API needs 'Authorization: Bearer <admin token>'",
            ));
        };
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .unwrap_or("")
            .trim();
        if bool::from(presented.as_bytes().ct_eq(self.token.as_bytes())) {
            Ok(())
        } else {
            Err(AdminError::new(
                StatusCode::UNAUTHORIZED,
                "900901",
                "Invalid Credentials",
                "the admin token is not this gateway's (see DATA/admin-token)",
            ))
        }
    }
}

pub(crate) fn store_error(e: &crate::store::StoreError) -> AdminError {
    if let crate::store::StoreError::Conflict { .. } = e {
        // Another node wrote between our catch-up and our write: nothing was written.
        return AdminError::new(
            StatusCode::CONFLICT,
            "store_conflict",
            "Conflict",
            format!("the change was not applied: {e}"),
        );
    }
    AdminError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "store_failed",
        "Internal Server Error",
        format!("the change was not applied: {e}"),
    )
}

/// A response of the admin API.
pub(crate) enum Reply {
    Json(StatusCode, Value),
    Text(&'static str, String),
}

fn respond(reply: Result<Reply, AdminError>) -> Response<Full<Bytes>> {
    let (status, ctype, body) = match reply {
        Ok(Reply::Json(s, v)) => (s, "application/json", v.to_string()),
        Ok(Reply::Text(ctype, text)) => (StatusCode::OK, ctype, text),
        Err(e) => (e.status, "application/json", e.to_json().to_string()),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(ctype),
    );
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    resp
}

/// Decodes `%XX` escapes (a malformed escape is kept as written).
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The admin API as a `tower` service (for [`eventgate::server::Server`]).
#[derive(Debug, Clone)]
pub struct AdminService {
    admin: Arc<Admin>,
}

impl AdminService {
    /// The service over `admin`.
    #[must_use]
    pub fn new(admin: Arc<Admin>) -> Self {
        AdminService { admin }
    }
}

impl<B> tower_service::Service<Request<B>> for AdminService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let admin = Arc::clone(&self.admin);
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            if let Err(e) = admin.authorized(parts.headers.get(http::header::AUTHORIZATION)) {
                return Ok(respond(Err(e)));
            }
            let bytes = match Limited::new(body, MAX_BODY_BYTES).collect().await {
                Ok(c) => c.to_bytes(),
                Err(e) => {
                    return Ok(respond(Err(AdminError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        "Payload Too Large",
                        format!(
                            "the request body could not be read (limit {MAX_BODY_BYTES} bytes): {e}"
                        ),
                    ))));
                }
            };
            let method = parts.method.clone();
            let path = parts.uri.path().to_owned();
            let query = parts.uri.query().unwrap_or("").to_owned();
            // Changes write to the database: run them off the async workers.
            let reply = tokio::task::spawn_blocking(move || {
                handlers::route(&admin, &method, &path, &query, &bytes)
            })
            .await
            .unwrap_or_else(|e| {
                Err(AdminError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal Server Error",
                    e.to_string(),
                ))
            });
            Ok(respond(reply))
        })
    }
}

pub(crate) fn method_not_allowed(method: &Method, path: &str) -> AdminError {
    AdminError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Method Not Allowed",
        format!("{method} is not allowed on {path}"),
    )
}

#[cfg(test)]
mod store_error_tests {
    use super::*;

    #[test]
    fn a_lost_race_between_nodes_is_a_409_and_other_store_failures_a_500() {
        let e = store_error(&crate::store::StoreError::Conflict {
            expected: 3,
            found: 4,
        });
        assert_eq!(
            (e.status, e.code.as_str()),
            (StatusCode::CONFLICT, "store_conflict")
        );
        let e = store_error(&crate::store::StoreError::Database("down".into()));
        assert_eq!(
            (e.status, e.code.as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, "store_failed")
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_new_admin_token_is_64_hex_digits_so_it_never_reads_as_a_flag() {
        let dir = tempfile::tempdir().unwrap();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 9443));
        let token = super::prepare_data_dir(dir.path(), addr).unwrap();
        assert_eq!(token.len(), 64, "{token}");
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
        // Kept across starts.
        assert_eq!(super::prepare_data_dir(dir.path(), addr).unwrap(), token);
    }
}
