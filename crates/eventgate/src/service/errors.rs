//! Standard error responses: WSO2 API Manager's JSON bodies and statuses, so clients written
//! against WSO2 read eventgate's refusals unchanged.
//!
//! | when | status | body `code` |
//! |---|---|---|
//! | no API, topic or vhost matches | 404 | `404` (`"type":"Status report"`) |
//! | the path is malformed (dot segment, encoded slash) | 400 | `400` |
//! | the transport (http/https) is not allowed for the API | 403 | `403` |
//! | the API is blocked (lifecycle) | 503 | `700700` |
//! | a policy refusal (credentials, subscription, scope, quota, limits) | its own | `9009xx`, `9008xx` |
//! | the API has reached its cap on open upstream channels | 503 | `900801` |
//! | the backend could not be reached, or answered wrongly | 502 / 504 | `101503` / `101504` |
//! | method other than `GET`/`HEAD`/`OPTIONS` | 405 | `405` |

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};

use eventgate_policy::Denial;

/// One refusal, ready to be turned into a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorReply {
    pub(crate) status: StatusCode,
    pub(crate) body: String,
    pub(crate) www_authenticate: Option<String>,
    pub(crate) retry_after: Option<u64>,
}

fn json_str(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

impl ErrorReply {
    fn status_report(status: StatusCode, message: &str, description: &str) -> Self {
        let code = status.as_str();
        Self {
            status,
            body: format!(
                "{{\"code\":{},\"type\":\"Status report\",\"message\":{},\"description\":{}}}",
                json_str(code),
                json_str(message),
                json_str(description)
            ),
            www_authenticate: None,
            retry_after: None,
        }
    }

    /// 404: nothing is served at this host and path.
    pub(crate) fn not_found() -> Self {
        Self::status_report(
            StatusCode::NOT_FOUND,
            "Not Found",
            "The requested resource is not available.",
        )
    }

    /// 400: the path cannot be routed safely (dot segments, encoded slashes, bad escapes).
    pub(crate) fn bad_path(why: &str) -> Self {
        Self::status_report(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            &format!("The request path is not acceptable: {why}."),
        )
    }

    /// 403: the API does not accept this transport.
    pub(crate) fn unsupported_transport(transport: &str) -> Self {
        Self::status_report(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!(
                "Unsupported Transport [ {transport} ]. The requested resource is not available."
            ),
        )
    }

    /// 405: SSE topics are read with `GET`.
    pub(crate) fn method_not_allowed() -> Self {
        Self::status_report(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed",
            "SSE topics are subscribe-only: use GET.",
        )
    }

    /// 503 700700: the API's lifecycle state is BLOCKED.
    pub(crate) fn api_blocked() -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: "{\"code\":\"700700\",\"type\":\"API blocked\",\"message\":\"API blocked\",\"description\":\"This API has been blocked temporarily. Please try again later or contact the system administrators.\"}".to_owned(),
            www_authenticate: None,
            retry_after: None,
        }
    }

    /// 403 900906: the API matched but none of its topics.
    pub(crate) fn no_topic() -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            body: "{\"code\":\"900906\",\"message\":\"No matching resource found in the API for the given request\",\"description\":\"Access failure for API, check the API and topic of the request\"}".to_owned(),
            www_authenticate: None,
            retry_after: None,
        }
    }

    /// 401 900905: the credential's key type is not served by this environment.
    pub(crate) fn key_type(k: eventgate_policy::KeyType) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            body: format!(
                "{{\"code\":\"900905\",\"message\":\"Incorrect Access Token Type is provided\",\"description\":\"This gateway environment does not serve {} keys\"}}",
                k.as_str()
            ),
            www_authenticate: Some(
                "Bearer error=\"invalid_token\", error_description=\"The provided token is invalid\"".to_owned(),
            ),
            retry_after: None,
        }
    }

    /// 503: the gateway is shutting down.
    pub(crate) fn shutting_down() -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: "{\"code\":\"503\",\"type\":\"Status report\",\"message\":\"Service Unavailable\",\"description\":\"The gateway is shutting down; reconnect shortly.\"}".to_owned(),
            www_authenticate: None,
            retry_after: Some(1),
        }
    }

    /// 503 900801: the API has as many upstream channels open as it may.
    pub(crate) fn channel_limit() -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: "{\"code\":\"900801\",\"message\":\"API Limit Reached\",\"description\":\"The API serves its maximum number of distinct upstream streams; try again later\"}".to_owned(),
            www_authenticate: None,
            retry_after: Some(5),
        }
    }

    /// 502 101503 / 504 101504: the backend failed (unreachable, bad status, not SSE) or
    /// timed out.
    pub(crate) fn backend(timeout: bool) -> Self {
        let (status, code, description) = if timeout {
            (
                StatusCode::GATEWAY_TIMEOUT,
                "101504",
                "Connection to the back end timed out",
            )
        } else {
            (
                StatusCode::BAD_GATEWAY,
                "101503",
                "Error connecting to the back end",
            )
        };
        Self {
            status,
            body: format!(
                "{{\"code\":\"{code}\",\"message\":\"Runtime Error\",\"description\":\"{description}\"}}"
            ),
            www_authenticate: None,
            retry_after: None,
        }
    }

    /// A policy refusal, with WSO2's body, status, `WWW-Authenticate` and `Retry-After`.
    pub(crate) fn denial(d: &Denial) -> Self {
        Self {
            status: StatusCode::from_u16(d.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: d.to_json(),
            www_authenticate: d.www_authenticate.clone(),
            retry_after: d.retry_after,
        }
    }

    /// The body's `code` member (for logs and metrics labels).
    pub(crate) fn code(&self) -> &str {
        self.body
            .strip_prefix("{\"code\":\"")
            .and_then(|rest| rest.split('"').next())
            .unwrap_or("")
    }

    /// The response, with a body of the caller's type.
    pub(crate) fn into_response<B>(self, body: impl FnOnce(Bytes) -> B) -> Response<B> {
        let mut resp = Response::new(body(Bytes::from(self.body)));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(v) = self
            .www_authenticate
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            h.insert(WWW_AUTHENTICATE, v);
        }
        if let Some(secs) = self.retry_after {
            h.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_is_wso2s_status_report() {
        let r = ErrorReply::not_found();
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(
            r.body,
            r#"{"code":"404","type":"Status report","message":"Not Found","description":"The requested resource is not available."}"#
        );
        assert_eq!(r.code(), "404");
    }

    #[test]
    fn unsupported_transport_names_it() {
        let r = ErrorReply::unsupported_transport("http");
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.body.contains(r#""description":"Unsupported Transport [ http ]. The requested resource is not available.""#));
    }

    #[test]
    fn blocked_is_700700_with_503() {
        let r = ErrorReply::api_blocked();
        assert_eq!((r.status.as_u16(), r.code()), (503, "700700"));
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["type"], "API blocked");
    }

    #[test]
    fn responses_carry_json_and_retry_after() {
        let resp = ErrorReply::channel_limit().into_response(|b| b);
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(resp.headers()[RETRY_AFTER], "5");
        let v: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
        assert_eq!(v["code"], "900801");
    }
}
