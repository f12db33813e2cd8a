//! The developer portal: a page served by the gateway at `/devportal` that lists the published
//! APIs (topics, parameters, scopes, plans, AsyncAPI 2.0.0 and 3.0.0 exports), a try-it
//! console that opens a stream with `fetch` (headers) or `EventSource` (query credential), a
//! live timeline of that stream, and a small live view of the gateway's counters.
//!
//! [`Front`] is a `tower` Service in front of a [`Gateway`]: requests under [`PREFIX`] are
//! answered here, every other request goes to the gateway unchanged. The page is plain HTML,
//! CSS and JavaScript compiled into the binary (`include_str!`): no CDN, no network at run
//! time. Its JSON API, under `/devportal/api/`:
//!
//! | path | answer |
//! |---|---|
//! | `apis` | `{"apis": [...]}`: the APIs in `PUBLISHED`, `PRE-RELEASED` or `DEPRECATED` |
//! | `apis/NAME:VERSION/asyncapi?version=2.0.0` | the API's AsyncAPI export (`2.0.0` or `3.0.0`) |
//! | `stats` | [`Gateway::stats`] as JSON: the numbers `GET /metrics` serves, plus `now_ms` |
//!
//! ```
//! use eventgate::Gateway;
//! use eventgate_cli::devportal::Front;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let front = Front::new(Gateway::builder().build()?);
//! let page = front.handle(http::Request::get("/devportal").body(())?).await;
//! assert_eq!(page.status(), 200);
//! // Anything else is the gateway's: nothing is deployed, WSO2's 404.
//! let api = front.handle(http::Request::get("/observer/1.0.0/memory").body(())?).await;
//! assert_eq!(api.status(), 404);
//! # Ok(()) }
//! ```
//!
//! An API whose context is `/devportal` is hidden behind the portal: turn the portal off
//! ([`Front::portal`], `--no-devportal`) to serve it.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use eventgate::{Api, ApiId, Gateway, GatewayBody, Lifecycle};
use eventgate_asyncapi::{ExportOptions, OutputVersion};
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{Either, Full};
use serde_json::{Value, json};

use crate::store::codec::{auth_type_name, delivery_name};

/// Where the portal is served.
pub const PREFIX: &str = "/devportal";

const INDEX_HTML: &str = include_str!("index.html");
const APP_JS: &str = include_str!("app.js");
const APP_CSS: &str = include_str!("app.css");

/// The page's Content-Security-Policy: its own scripts and styles only, no framing. Streams
/// are opened on this origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The body of a [`Front`] response: the gateway's, or a page or JSON document of the portal.
pub type FrontBody = Either<GatewayBody, Full<Bytes>>;

/// The gateway with the developer portal in front. Cheap to clone (the gateway is one `Arc`).
#[derive(Debug, Clone)]
pub struct Front {
    gateway: Gateway,
    portal: bool,
}

impl Front {
    /// The gateway with the portal on.
    #[must_use]
    pub fn new(gateway: Gateway) -> Self {
        Front {
            gateway,
            portal: true,
        }
    }

    /// Serve the portal (true, the default) or pass every request to the gateway.
    #[must_use]
    pub fn portal(mut self, on: bool) -> Self {
        self.portal = on;
        self
    }

    /// Whether the portal is served.
    #[must_use]
    pub fn is_portal_on(&self) -> bool {
        self.portal
    }

    /// The gateway behind.
    #[must_use]
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// Serves one request: the portal's when its path is under [`PREFIX`] and the portal is
    /// on, else the gateway's.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<FrontBody> {
        let path = req.uri().path();
        let ours = self.portal
            && (path == PREFIX
                || path
                    .strip_prefix(PREFIX)
                    .is_some_and(|r| r.starts_with('/')));
        if !ours {
            return self.gateway.handle(req).await.map(Either::Left);
        }
        let resp = self.portal_reply(req.method(), path, req.uri().query().unwrap_or(""));
        resp.map(Either::Right)
    }

    fn portal_reply(&self, method: &Method, path: &str, query: &str) -> Response<Full<Bytes>> {
        if method != Method::GET && method != Method::HEAD {
            let mut r = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "the developer portal answers GET and HEAD",
            );
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        let rest = path.strip_prefix(PREFIX).unwrap_or("");
        match rest {
            "" | "/" | "/index.html" => html(INDEX_HTML),
            "/app.js" => asset("text/javascript; charset=utf-8", APP_JS),
            "/app.css" => asset("text/css; charset=utf-8", APP_CSS),
            "/api/apis" => json_reply(&json!({"apis": self.apis()})),
            "/api/stats" => {
                let mut v = self.gateway.stats().to_json();
                if let Some(o) = v.as_object_mut() {
                    o.insert("now_ms".into(), json!(now_ms()));
                }
                json_reply(&v)
            }
            other => match other
                .strip_prefix("/api/apis/")
                .and_then(|r| r.strip_suffix("/asyncapi"))
            {
                Some(id) => self.asyncapi(&crate::admin::percent_decode(id), query),
                None => error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "no such page of the developer portal",
                ),
            },
        }
    }

    /// The APIs a developer can see, sorted by id.
    fn apis(&self) -> Vec<Value> {
        let registry = self.gateway.registry();
        let deployments = registry.deployments();
        let mut ids = registry.apis();
        ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        ids.iter()
            .filter_map(|id| {
                let lifecycle = registry.lifecycle(id).ok()?;
                if !visible(lifecycle) {
                    return None;
                }
                let api = registry.api(id)?;
                let on: Vec<Value> = deployments
                    .iter()
                    .filter(|d| &d.api == id)
                    .map(|d| {
                        json!({"environment": d.environment, "vhost": d.vhost.as_str(),
                               "revision": d.revision})
                    })
                    .collect();
                Some(api_json(&api, lifecycle, on))
            })
            .collect()
    }

    fn asyncapi(&self, id: &str, query: &str) -> Response<Full<Bytes>> {
        let mut version = "2.0.0".to_owned();
        for pair in query.split('&') {
            if let Some(v) = pair.strip_prefix("version=") {
                version = crate::admin::percent_decode(v);
            }
        }
        let out = match version.as_str() {
            "2.0.0" | "2" => OutputVersion::V2,
            "3.0.0" | "3" => OutputVersion::V3,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_version",
                    "AsyncAPI version: expected 2.0.0 or 3.0.0",
                );
            }
        };
        let registry = self.gateway.registry();
        let found = id.split_once(':').and_then(|(name, v)| {
            let v = eventgate_asyncapi::ApiVersion::new(v).ok()?;
            let id = ApiId::new(name, &v);
            let lifecycle = registry.lifecycle(&id).ok().filter(|l| visible(*l))?;
            Some((registry.api(&id)?, lifecycle))
        });
        match found {
            Some((api, lifecycle)) => {
                let doc = api.to_asyncapi(Some(lifecycle), ExportOptions::wso2(out));
                json_reply(&doc)
            }
            None => error(
                StatusCode::NOT_FOUND,
                "api_not_found",
                "no published API of that name and version",
            ),
        }
    }
}

/// The lifecycle states the portal shows (WSO2's Developer Portal lists published,
/// prototyped and deprecated APIs).
fn visible(l: Lifecycle) -> bool {
    matches!(
        l,
        Lifecycle::Published | Lifecycle::PreReleased | Lifecycle::Deprecated
    )
}

fn api_json(api: &Api, lifecycle: Lifecycle, deployments: Vec<Value>) -> Value {
    let topics: Vec<Value> = api
        .topics
        .iter()
        .map(|t| {
            json!({
                "topic": t.template.as_str(),
                "parameters": t.template.variables().collect::<Vec<_>>(),
                "scopes": t.scopes.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "auth_type": auth_type_name(t.auth_type),
                "delivery": delivery_name(t.delivery),
                "description": t.description,
            })
        })
        .collect();
    json!({
        "id": api.id().as_str(),
        "name": api.name,
        "version": api.version.as_str(),
        "context": api.context.as_str(),
        "path": api.versioned_path(),
        "default_version": api.default_version,
        "description": api.description,
        "lifecycle": lifecycle.as_str(),
        "transports": api.transports.as_wso2_list(),
        "security": {
            "bearer": api.security.bearer,
            "api_key_header": api.security.api_key_header.as_ref().map(|h| h.as_str()),
            "query_param": api.security.query_param,
        },
        "cors": api.cors.as_ref().map(|c| json!({"origins": c.origins})),
        "topics": topics,
        "plans": api.plans.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        "deployments": deployments,
    })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn with_type(mut r: Response<Full<Bytes>>, content_type: &'static str) -> Response<Full<Bytes>> {
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn html(body: &'static str) -> Response<Full<Bytes>> {
    let mut r = with_type(
        Response::new(Full::new(Bytes::from_static(body.as_bytes()))),
        "text/html; charset=utf-8",
    );
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn asset(content_type: &'static str, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = with_type(
        Response::new(Full::new(Bytes::from_static(body.as_bytes()))),
        content_type,
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn json_reply(v: &Value) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec_pretty(v).unwrap_or_default();
    let mut r = with_type(
        Response::new(Full::new(Bytes::from(body))),
        "application/json",
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn error(status: StatusCode, code: &str, description: &str) -> Response<Full<Bytes>> {
    let mut r = json_reply(&json!({"code": code, "description": description}));
    *r.status_mut() = status;
    r
}

impl<B> tower_service::Service<Request<B>> for Front
where
    B: Send + 'static,
{
    type Response = Response<FrontBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<FrontBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.handle(req).await) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body(r: Response<FrontBody>) -> String {
        let bytes = r
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn front(cfg: &str) -> Front {
        let cfg = eventgate::config::Config::from_str("test.toml", cfg).unwrap();
        let registry = std::sync::Arc::new(eventgate::Registry::new());
        cfg.apply(&registry).unwrap();
        Front::new(Gateway::builder().registry(registry).build().unwrap())
    }

    const TWO_APIS: &str = r#"
[[environments]]
name = "Default"
vhosts = [{ host = "localhost" }]

[[apis]]
name = "Observer"
context = "/observer"
version = "1.0.0"
lifecycle = "PUBLISHED"
plans = ["AsyncGold"]
endpoints = { production = "http://localhost:8080" }
deploy = [{ environment = "Default", vhost = "localhost" }]
[apis.security]
query_param = "access_token"
[[apis.topics]]
path = "/rooms/{room}"
scopes = ["read:rooms"]

[[apis]]
name = "Draft"
context = "/draft"
version = "0.1.0"
lifecycle = "CREATED"
deploy = []
endpoints = { production = "http://localhost:8080" }
"#;

    async fn get(f: &Front, uri: &str) -> (StatusCode, String) {
        let r = f.handle(Request::get(uri).body(()).unwrap()).await;
        (r.status(), body(r).await)
    }

    #[tokio::test]
    async fn the_api_list_shows_published_apis_with_topic_parameters_scopes_and_plans() {
        let f = front(TWO_APIS);
        let (status, text) = get(&f, "/devportal/api/apis").await;
        assert_eq!(status, 200);
        let v: Value = serde_json::from_str(&text).unwrap();
        let apis = v["apis"].as_array().unwrap();
        assert_eq!(apis.len(), 1, "the CREATED API is not listed: {text}");
        let a = &apis[0];
        assert_eq!(a["id"], "Observer:1.0.0");
        assert_eq!(a["path"], "/observer/1.0.0");
        assert_eq!(a["topics"][0]["topic"], "/rooms/{room}");
        assert_eq!(a["topics"][0]["parameters"], json!(["room"]));
        assert_eq!(a["topics"][0]["scopes"], json!(["read:rooms"]));
        assert_eq!(a["plans"], json!(["AsyncGold"]));
        assert_eq!(a["security"]["query_param"], "access_token");
        assert_eq!(a["deployments"][0]["vhost"], "localhost");
        assert!(
            !text.contains("8080"),
            "backend endpoints stay private: {text}"
        );
    }

    #[tokio::test]
    async fn asyncapi_exports_in_both_versions_and_hides_unpublished_apis() {
        let f = front(TWO_APIS);
        let (s2, d2) = get(&f, "/devportal/api/apis/Observer%3A1.0.0/asyncapi").await;
        assert_eq!(s2, 200);
        let d2: Value = serde_json::from_str(&d2).unwrap();
        assert_eq!(d2["asyncapi"], "2.0.0");
        let (s3, d3) = get(
            &f,
            "/devportal/api/apis/Observer:1.0.0/asyncapi?version=3.0.0",
        )
        .await;
        assert_eq!(s3, 200);
        let d3: Value = serde_json::from_str(&d3).unwrap();
        assert_eq!(d3["asyncapi"], "3.0.0");
        let (bad, _) = get(&f, "/devportal/api/apis/Observer:1.0.0/asyncapi?version=9").await;
        assert_eq!(bad, 400);
        let (hidden, _) = get(&f, "/devportal/api/apis/Draft:0.1.0/asyncapi").await;
        assert_eq!(hidden, 404);
        let (junk, _) = get(&f, "/devportal/api/apis/%ff%00::/asyncapi").await;
        assert_eq!(junk, 404);
    }

    #[tokio::test]
    async fn the_page_and_its_assets_are_served_with_a_strict_policy() {
        let f = front(TWO_APIS);
        let r = f
            .handle(Request::get("/devportal/").body(()).unwrap())
            .await;
        assert_eq!(r.status(), 200);
        let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        let page = body(r).await;
        assert!(page.contains("/devportal/app.js"), "{page}");
        for (path, kind) in [
            ("/devportal/app.js", "javascript"),
            ("/devportal/app.css", "css"),
        ] {
            let r = f.handle(Request::get(path).body(()).unwrap()).await;
            assert_eq!(r.status(), 200);
            let ct = r.headers()[header::CONTENT_TYPE].to_str().unwrap();
            assert!(ct.contains(kind), "{path}: {ct}");
        }
        let (missing, _) = get(&f, "/devportal/nothing").await;
        assert_eq!(missing, 404);
        let post = f
            .handle(Request::post("/devportal/").body(()).unwrap())
            .await;
        assert_eq!(post.status(), 405);
    }

    #[tokio::test]
    async fn stats_are_the_gateway_counters_and_other_paths_go_to_the_gateway() {
        let f = front(TWO_APIS);
        let (status, text) = get(&f, "/devportal/api/stats").await;
        assert_eq!(status, 200);
        let v: Value = serde_json::from_str(&text).unwrap();
        let mut want = f.gateway().stats().to_json();
        want.as_object_mut()
            .unwrap()
            .insert("now_ms".into(), v["now_ms"].clone());
        assert_eq!(v, want);
        assert!(v["now_ms"].as_u64().unwrap() > 0);
        // Not the portal: the gateway's answers.
        let (metrics, m) = get(&f, "/metrics").await;
        assert_eq!(metrics, 200);
        assert!(m.contains("eventgate_streams_open"), "{m}");
        let (other, _) = get(&f, "/devportalx").await;
        assert_eq!(other, 404);
        // Turned off, the portal's paths are the gateway's too.
        let off = f.clone().portal(false);
        let (gone, text) = get(&off, "/devportal").await;
        assert_eq!(gone, 404);
        assert!(text.contains("900906") || text.contains("code"), "{text}");
    }
}
