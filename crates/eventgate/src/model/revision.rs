//! Revisions (immutable snapshots of an API) and deployments (a revision on a vhost).

use std::sync::Arc;

use eventgate_asyncapi::TopicSet;

use super::api::{Api, ApiId};
use super::environment::Hostname;

/// WSO2's default limit of revisions per API.
pub const DEFAULT_MAX_REVISIONS: usize = 5;

/// An immutable snapshot of an API, numbered from 1 (each new one takes the highest
/// existing number plus one). Only the [`Registry`](crate::Registry) creates them; what is
/// deployed is always a revision, never the working copy.
#[derive(Debug)]
pub struct Revision {
    number: u32,
    id: ApiId,
    api: Api,
    description: Option<String>,
    topics: TopicSet,
}

impl Revision {
    pub(crate) fn new(number: u32, api: Api, description: Option<String>) -> Self {
        let topics = TopicSet::new(api.topics.iter().map(|t| t.template.clone()));
        Revision {
            number,
            id: api.id(),
            api,
            description,
            topics,
        }
    }

    /// The revision number.
    #[must_use]
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The API id.
    #[must_use]
    pub fn id(&self) -> &ApiId {
        &self.id
    }

    /// The API as it was when the revision was made.
    #[must_use]
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// The description given when it was made.
    #[must_use]
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The API's topics indexed for matching (precedence order; see
    /// [`eventgate_asyncapi::topic`]).
    #[must_use]
    pub fn topic_set(&self) -> &TopicSet {
        &self.topics
    }
}

/// A revision deployed to a vhost of an environment (plain data, as listed by
/// [`Registry::deployments`](crate::Registry::deployments)).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Deployment {
    /// The API.
    pub api: ApiId,
    /// The revision number.
    pub revision: u32,
    /// Environment name.
    pub environment: String,
    /// Vhost.
    pub vhost: Hostname,
}

/// A revision shared by the registry and every routing snapshot.
pub type SharedRevision = Arc<Revision>;
