//! CORS for browser pages on other origins (the Fetch standard's CORS protocol): exact
//! origins, optional credentials, preflight answers.

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};

use crate::model::Cors;

/// Request headers a browser sends on an SSE request and a preflight allows by default.
const DEFAULT_ALLOW_HEADERS: &str = "authorization, last-event-id, cache-control, apikey";

/// The origin of a cross-origin request that `cors` allows, if any.
pub(crate) fn allowed_origin<'a>(cors: Option<&Cors>, headers: &'a HeaderMap) -> Option<&'a str> {
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    cors.filter(|c| c.allows_origin(origin)).map(|_| origin)
}

/// Adds the response headers of an allowed cross-origin request.
pub(crate) fn decorate(cors: &Cors, origin: &str, headers: &mut HeaderMap) {
    let value = if cors.origins.iter().any(|o| o == "*") && !cors.allow_credentials {
        HeaderValue::from_static("*")
    } else {
        match HeaderValue::from_str(origin) {
            Ok(v) => v,
            Err(_) => return,
        }
    };
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    if cors.allow_credentials {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
}

/// The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`): 204 with the
/// allowed method and headers when the origin is allowed and the method is `GET`, else 403
/// without CORS headers (the browser then refuses the request).
pub(crate) fn preflight<B>(cors: Option<&Cors>, req_headers: &HeaderMap, body: B) -> Response<B> {
    let mut resp = Response::new(body);
    let method_ok = req_headers
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|m| m.to_str().ok())
        .is_some_and(|m| m == Method::GET.as_str() || m == Method::HEAD.as_str());
    let (Some(cors), Some(origin)) = (cors, allowed_origin(cors, req_headers)) else {
        *resp.status_mut() = StatusCode::FORBIDDEN;
        return resp;
    };
    if !method_ok {
        *resp.status_mut() = StatusCode::FORBIDDEN;
        return resp;
    }
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let h = resp.headers_mut();
    decorate(cors, origin, h);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    let allow = if cors.allow_headers.is_empty() {
        HeaderValue::from_static(DEFAULT_ALLOW_HEADERS)
    } else {
        let list: Vec<&str> = cors.allow_headers.iter().map(|h| h.as_str()).collect();
        HeaderValue::from_str(&list.join(", "))
            .unwrap_or(HeaderValue::from_static(DEFAULT_ALLOW_HEADERS))
    };
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow);
    if let Some(age) = cors.max_age {
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from(age.as_secs()),
        );
    }
    resp
}
