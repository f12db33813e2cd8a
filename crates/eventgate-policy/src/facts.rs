//! Request facts: what the gateway tells the policy about one request (no HTTP types).

use crate::model::CredentialSource;

/// What the gateway knows about a request, as plain strings.
///
/// Header names match case-insensitively; query values must already be percent-decoded.
///
/// ```
/// use eventgate_policy::RequestFacts;
/// let facts = RequestFacts::new("observer:1.0.0", "/memory").authorization("Bearer abc");
/// assert_eq!(facts.topic, "/memory");
/// ```
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct RequestFacts<'a> {
    /// The API the router matched.
    pub api: &'a str,
    /// The topic (template) the router matched.
    pub topic: &'a str,
    /// The `Authorization` header value, if any.
    pub authorization: Option<&'a str>,
    /// Other request headers that may carry credentials (name, value).
    pub headers: &'a [(&'a str, &'a str)],
    /// Query parameters (name, decoded value).
    pub query: &'a [(&'a str, &'a str)],
}

impl<'a> RequestFacts<'a> {
    /// Facts for `api` and `topic`, no credentials.
    #[must_use]
    pub fn new(api: &'a str, topic: &'a str) -> Self {
        Self {
            api,
            topic,
            authorization: None,
            headers: &[],
            query: &[],
        }
    }

    /// Set the `Authorization` header value.
    #[must_use]
    pub fn authorization(mut self, value: &'a str) -> Self {
        self.authorization = Some(value);
        self
    }

    /// Set the headers.
    #[must_use]
    pub fn headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }

    /// Set the query parameters.
    #[must_use]
    pub fn query(mut self, query: &'a [(&'a str, &'a str)]) -> Self {
        self.query = query;
        self
    }

    /// The credential per `sources`, in order: the first source present wins. An
    /// `Authorization` header with another scheme than `Bearer` counts as absent for the
    /// `Bearer` source. Empty values count as absent.
    #[must_use]
    pub fn credential(&self, sources: &[CredentialSource]) -> Option<&'a str> {
        sources.iter().find_map(|s| {
            let v = match s {
                CredentialSource::Bearer => self.authorization.and_then(bearer_token),
                CredentialSource::Header(name) => self
                    .headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.trim()),
                CredentialSource::Query(name) => {
                    self.query.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
                }
            };
            v.filter(|v| !v.is_empty())
        })
    }
}

/// The token of an RFC 6750 `Bearer` credential (scheme case-insensitive).
fn bearer_token(value: &str) -> Option<&str> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_other_schemes_are_ignored() {
        let src = [CredentialSource::Bearer];
        assert_eq!(
            RequestFacts::new("a", "t")
                .authorization("bearer x.y.z")
                .credential(&src),
            Some("x.y.z")
        );
        assert_eq!(
            RequestFacts::new("a", "t")
                .authorization("Basic Zm9v")
                .credential(&src),
            None
        );
        assert_eq!(
            RequestFacts::new("a", "t")
                .authorization("Bearer ")
                .credential(&src),
            None
        );
    }

    #[test]
    fn sources_are_tried_in_order() {
        let h = [("APIKey", "k1")];
        let q = [("access_token", "q1")];
        let f = RequestFacts::new("a", "t").headers(&h).query(&q);
        let src = [
            CredentialSource::Bearer,
            CredentialSource::Header("apikey".into()),
            CredentialSource::Query("access_token".into()),
        ];
        assert_eq!(f.credential(&src), Some("k1"));
        assert_eq!(f.credential(&src[2..]), Some("q1"));
        assert_eq!(f.credential(&src[..1]), None);
    }
}
