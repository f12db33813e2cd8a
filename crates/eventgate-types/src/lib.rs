//! The vocabulary shared by the eventgate crates.
//!
//! A concept that crosses crate boundaries is defined once, here, in the lowest crate every
//! user of it can depend on: `eventgate-asyncapi` reads plan and scope names out of AsyncAPI
//! documents, `eventgate-policy` checks them on every request, and the gateway moves them
//! from one to the other without converting. Both crates re-export these types, so
//! `eventgate_asyncapi::PlanName` and `eventgate_policy::PlanName` are the same type.
//!
//! **Should I use this crate?** Only through the crates that re-export it; it has no
//! behaviour of its own beyond checking names.
//!
//! ```
//! use eventgate_types::{NameError, PlanName, Scope};
//!
//! let gold = PlanName::new("AsyncGold")?;
//! assert_eq!(gold.as_str(), "AsyncGold");
//! assert_eq!(gold, "AsyncGold");
//! assert!(matches!(PlanName::new("Async Gold"), Err(NameError::InvalidChar { .. })));
//!
//! let scope: Scope = "read:memory".parse()?;
//! assert_eq!(scope.to_string(), "read:memory");
//! # Ok::<(), NameError>(())
//! ```
//!
//! # Crate features
//!
//! - `serde` (off by default): `Serialize` and `Deserialize` for [`PlanName`] and [`Scope`];
//!   deserializing applies the same checks as `new`.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)
)]

use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

/// A boxed error from a source outside the crate that reports it (an HTTP body, a transport,
/// a store). Every eventgate crate uses this one alias.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A boxed, `Send` future: what the I/O traits of the eventgate crates return, so that they
/// stay object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The longest name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 256;

/// A plan or scope name that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("{kind} name is empty")]
    Empty {
        /// `plan` or `scope`.
        kind: &'static str,
    },
    /// The name is longer than [`MAX_NAME_LEN`] bytes.
    #[error("{kind} name is {len} bytes long, longer than {max}")]
    TooLong {
        /// `plan` or `scope`.
        kind: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit, [`MAX_NAME_LEN`].
        max: usize,
    },
    /// The name holds a character names may not hold: whitespace, a control character, a
    /// comma (names are written comma-separated in lists) or a double quote or backslash
    /// (outside OAuth2's `scope-token`, RFC 6749 section 3.3).
    #[error("{kind} name holds {ch:?}, which names may not hold")]
    InvalidChar {
        /// `plan` or `scope`.
        kind: &'static str,
        /// The first offending character.
        ch: char,
    },
}

fn check(kind: &'static str, s: &str) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty { kind });
    }
    if s.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong {
            kind,
            len: s.len(),
            max: MAX_NAME_LEN,
        });
    }
    match s
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, ',' | '"' | '\\'))
    {
        Some(ch) => Err(NameError::InvalidChar { kind, ch }),
        None => Ok(()),
    }
}

macro_rules! name_type {
    ($(#[$m:meta])* $name:ident, $kind:literal) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Checks and wraps a name: non-empty, at most [`MAX_NAME_LEN`] bytes, no
            /// whitespace, control character, comma, double quote or backslash.
            ///
            /// # Errors
            /// [`NameError`] says which rule the name breaks.
            pub fn new(s: &str) -> Result<Self, NameError> {
                check($kind, s)?;
                Ok(Self(Arc::from(s)))
            }

            /// The name as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = NameError;
            fn try_from(s: &str) -> Result<Self, NameError> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, NameError> {
                Self::new(&s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                &*self.0 == *other
            }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                Self::new(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_type!(
    /// A business plan's name, such as `AsyncGold`.
    ///
    /// Cloning is a reference-count increment; comparing with a `&str` needs no allocation.
    PlanName,
    "plan"
);

name_type!(
    /// An OAuth2 scope, such as `read:memory`: a `scope-token` of RFC 6749 (section 3.3)
    /// without commas.
    Scope,
    "scope"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_wso2_plan_names_and_scopes() {
        for s in [
            "AsyncGold",
            "AsyncUnlimited",
            "Plan-1_x.y",
            "read:memory",
            "urn:a/b",
        ] {
            assert_eq!(PlanName::new(s).unwrap().as_str(), s);
            assert_eq!(Scope::new(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn rejects_each_rule_with_its_variant() {
        assert_eq!(PlanName::new(""), Err(NameError::Empty { kind: "plan" }));
        assert_eq!(
            Scope::new(&"a".repeat(MAX_NAME_LEN + 1)),
            Err(NameError::TooLong {
                kind: "scope",
                len: MAX_NAME_LEN + 1,
                max: MAX_NAME_LEN
            })
        );
        assert!(Scope::new(&"a".repeat(MAX_NAME_LEN)).is_ok());
        for (s, ch) in [
            ("a b", ' '),
            ("a,b", ','),
            ("a\"", '"'),
            ("a\\", '\\'),
            ("a\u{7f}", '\u{7f}'),
            ("a\tb", '\t'),
        ] {
            assert_eq!(
                PlanName::new(s),
                Err(NameError::InvalidChar { kind: "plan", ch })
            );
        }
    }

    #[test]
    fn borrows_as_str_for_map_lookups() {
        let mut m = std::collections::HashMap::new();
        m.insert(PlanName::new("AsyncGold").unwrap(), 1);
        assert_eq!(m.get("AsyncGold"), Some(&1));
    }

    #[cfg(feature = "serde")]
    #[test]
    fn deserializing_applies_the_same_checks() {
        let ok: PlanName = serde_json::from_str("\"AsyncGold\"").unwrap();
        assert_eq!(ok, "AsyncGold");
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"AsyncGold\"");
        let err = serde_json::from_str::<Scope>("\"a b\"").unwrap_err();
        assert!(err.to_string().contains("scope name holds ' '"), "{err}");
    }

    #[test]
    fn debug_shows_the_name_quoted() {
        assert_eq!(format!("{:?}", Scope::new("read").unwrap()), "\"read\"");
    }
}
