//! Gateway environments and their virtual hosts.

use std::fmt;
use std::str::FromStr;

use eventgate_policy::KeyType;

use crate::error::ModelError;

/// WSO2's default HTTP port of a gateway vhost.
pub const DEFAULT_HTTP_PORT: u16 = 8280;
/// WSO2's default HTTPS port of a gateway vhost.
pub const DEFAULT_HTTPS_PORT: u16 = 8243;

/// Which keys an environment serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EnvironmentType {
    /// Production keys only.
    Production,
    /// Sandbox keys only.
    Sandbox,
    /// Both (WSO2's `Default` environment). The default.
    #[default]
    Hybrid,
}

impl EnvironmentType {
    /// `production`, `sandbox` or `hybrid`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            EnvironmentType::Production => "production",
            EnvironmentType::Sandbox => "sandbox",
            EnvironmentType::Hybrid => "hybrid",
        }
    }

    /// True when credentials of this key type are served here.
    #[must_use]
    pub const fn accepts(self, key_type: KeyType) -> bool {
        matches!(
            (self, key_type),
            (EnvironmentType::Hybrid, _)
                | (EnvironmentType::Production, KeyType::Production)
                | (EnvironmentType::Sandbox, KeyType::Sandbox)
        )
    }
}

impl FromStr for EnvironmentType {
    type Err = ModelError;
    /// Case-insensitive `production`, `sandbox` or `hybrid`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            EnvironmentType::Production,
            EnvironmentType::Sandbox,
            EnvironmentType::Hybrid,
        ]
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| ModelError::invalid("environment type", s))
    }
}

/// A host name a vhost answers to: lower-case, without port or trailing dot. An IPv6
/// literal keeps its brackets (`[::1]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hostname(Box<str>);

impl Hostname {
    /// Checks and normalises a host name (ASCII letters, digits, `-` and `.`, or a bracketed
    /// IPv6 literal; at most 253 bytes; lower-cased; one trailing dot removed).
    ///
    /// ```
    /// use eventgate::Hostname;
    /// assert_eq!(Hostname::new("API.Example.com.").unwrap().as_str(), "api.example.com");
    /// assert!(Hostname::new("localhost:8280").is_err());
    /// ```
    ///
    /// # Errors
    /// [`ModelError::Invalid`] naming the host.
    pub fn new(host: &str) -> Result<Self, ModelError> {
        let h = host.strip_suffix('.').unwrap_or(host);
        let ipv6 = h.len() > 2
            && h.starts_with('[')
            && h.ends_with(']')
            && h[1..h.len() - 1]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        let name = !h.is_empty()
            && h.len() <= 253
            && h.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if ipv6 || name {
            Ok(Hostname(h.to_ascii_lowercase().into_boxed_str()))
        } else {
            Err(ModelError::invalid("host", host))
        }
    }

    /// The host name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A virtual host of an environment: the host name clients use and the ports the gateway
/// advertises for it (used to build the URLs shown to users; the listener configuration
/// decides what is actually bound).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Vhost {
    /// Host name.
    pub host: Hostname,
    /// HTTP port. Default is [`DEFAULT_HTTP_PORT`] (8280); `None`: not served over HTTP.
    pub http_port: Option<u16>,
    /// HTTPS port. Default is [`DEFAULT_HTTPS_PORT`] (8243); `None`: not served over HTTPS.
    pub https_port: Option<u16>,
}

impl Vhost {
    /// A vhost with WSO2's default ports.
    #[must_use]
    pub fn new(host: Hostname) -> Self {
        Vhost {
            host,
            http_port: Some(DEFAULT_HTTP_PORT),
            https_port: Some(DEFAULT_HTTPS_PORT),
        }
    }
}

/// A gateway environment (WSO2's "gateway environment"): a name, the keys it serves and its
/// vhosts. An API revision is deployed to one vhost of one environment.
///
/// ```
/// use eventgate::{Environment, EnvironmentType, Hostname, Vhost};
/// let mut env = Environment::new("Default", EnvironmentType::Hybrid);
/// env.vhosts.push(Vhost::new(Hostname::new("localhost").unwrap()));
/// env.fallback = true;
/// assert!(env.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Environment {
    /// Name (unique in a registry), e.g. `Default`.
    pub name: String,
    /// Which keys it serves.
    pub kind: EnvironmentType,
    /// Its vhosts; host names are unique across every environment of a registry.
    pub vhosts: Vec<Vhost>,
    /// When true, requests whose `Host` matches no vhost of any environment (or that carry
    /// none) are routed as if sent to this environment's first vhost. At most one environment
    /// of a registry may set it. Default is false: an unknown host gets 404.
    pub fallback: bool,
    /// Description.
    pub description: Option<String>,
}

impl Environment {
    /// An environment with no vhost.
    #[must_use]
    pub fn new(name: impl Into<String>, kind: EnvironmentType) -> Self {
        Environment {
            name: name.into(),
            kind,
            vhosts: Vec::new(),
            fallback: false,
            description: None,
        }
    }

    /// The vhost with this host name.
    #[must_use]
    pub fn vhost(&self, host: &Hostname) -> Option<&Vhost> {
        self.vhosts.iter().find(|v| &v.host == host)
    }

    /// Checks the environment's own rules: a name (1 to 256 bytes, no control character),
    /// at least one vhost, no host twice.
    ///
    /// # Errors
    /// [`ModelError`] naming the rule.
    pub fn validate(&self) -> Result<(), ModelError> {
        check_name("environment name", &self.name)?;
        if self.vhosts.is_empty() {
            return Err(ModelError::NoVhost(self.name.clone()));
        }
        for (i, v) in self.vhosts.iter().enumerate() {
            if self.vhosts[..i].iter().any(|w| w.host == v.host) {
                return Err(ModelError::Duplicate {
                    kind: "vhost",
                    value: v.host.to_string(),
                });
            }
        }
        Ok(())
    }
}

pub(crate) fn check_name(kind: &'static str, s: &str) -> Result<(), ModelError> {
    if s.is_empty() || s.len() > 256 || s.chars().any(char::is_control) || s.trim() != s {
        Err(ModelError::invalid(kind, s))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostname_is_lowercased_and_rejects_ports_and_junk() {
        assert_eq!(Hostname::new("LocalHost").unwrap().as_str(), "localhost");
        assert_eq!(Hostname::new("[::1]").unwrap().as_str(), "[::1]");
        for bad in ["", "a..b", "-a", "a b", "a:80", "a/b", "[zz]", "."] {
            assert!(Hostname::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn environment_type_decides_key_types() {
        assert!(EnvironmentType::Hybrid.accepts(KeyType::Sandbox));
        assert!(EnvironmentType::Production.accepts(KeyType::Production));
        assert!(!EnvironmentType::Production.accepts(KeyType::Sandbox));
        assert!(!EnvironmentType::Sandbox.accepts(KeyType::Production));
    }

    #[test]
    fn environment_needs_a_vhost_and_unique_hosts() {
        let mut env = Environment::new("Default", EnvironmentType::Hybrid);
        assert!(matches!(env.validate(), Err(ModelError::NoVhost(_))));
        let v = Vhost::new(Hostname::new("localhost").unwrap());
        env.vhosts = vec![v.clone(), v];
        assert!(matches!(env.validate(), Err(ModelError::Duplicate { .. })));
    }
}
