//! WSO2's API lifecycle: states, actions and exactly the transitions WSO2 API Manager 4.x
//! allows.

use std::fmt;
use std::str::FromStr;

/// The lifecycle state of an API, as WSO2 API Manager names it.
///
/// | state | routable | new subscriptions |
/// |---|---|---|
/// | `CREATED` | no (404) | no |
/// | `PRE-RELEASED` | no (404) | no |
/// | `PUBLISHED` | yes | yes |
/// | `BLOCKED` | no: WSO2's 700700 (503) | no |
/// | `DEPRECATED` | yes | no |
/// | `RETIRED` | no (404) | no |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Lifecycle {
    /// `CREATED`: the state of a new API.
    #[default]
    Created,
    /// `PRE-RELEASED` (WSO2's "Prototyped": deployed as a prototype).
    PreReleased,
    /// `PUBLISHED`.
    Published,
    /// `BLOCKED`: requests are answered with WSO2's 700700.
    Blocked,
    /// `DEPRECATED`: still served, no new subscriptions.
    Deprecated,
    /// `RETIRED`: final; every deployment is removed.
    Retired,
}

/// What a request to an API in a given state gets from the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Routability {
    /// Served.
    Routable,
    /// Answered with WSO2's 700700 "API blocked" (503).
    Blocked,
    /// Answered 404, as if the API did not exist.
    NotFound,
}

/// A lifecycle action, named as WSO2's publisher portal names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LifecycleAction {
    /// `Publish`: CREATED or PRE-RELEASED -> PUBLISHED.
    Publish,
    /// `Deploy as a Prototype`: CREATED or PUBLISHED -> PRE-RELEASED.
    DeployAsPrototype,
    /// `Demote to Created`: PRE-RELEASED or PUBLISHED -> CREATED.
    DemoteToCreated,
    /// `Block`: PUBLISHED -> BLOCKED.
    Block,
    /// `Deprecate`: PUBLISHED or BLOCKED -> DEPRECATED.
    Deprecate,
    /// `Re-Publish`: BLOCKED -> PUBLISHED.
    RePublish,
    /// `Retire`: DEPRECATED -> RETIRED.
    Retire,
}

impl Lifecycle {
    /// Every state, in WSO2's order.
    pub const ALL: [Lifecycle; 6] = [
        Lifecycle::Created,
        Lifecycle::PreReleased,
        Lifecycle::Published,
        Lifecycle::Blocked,
        Lifecycle::Deprecated,
        Lifecycle::Retired,
    ];

    /// The state's name as WSO2 writes it (`PUBLISHED`, `PRE-RELEASED`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Created => "CREATED",
            Lifecycle::PreReleased => "PRE-RELEASED",
            Lifecycle::Published => "PUBLISHED",
            Lifecycle::Blocked => "BLOCKED",
            Lifecycle::Deprecated => "DEPRECATED",
            Lifecycle::Retired => "RETIRED",
        }
    }

    /// The state an action leads to from this one, or `None` when WSO2 does not allow the
    /// action in this state.
    ///
    /// ```
    /// use eventgate::{Lifecycle, LifecycleAction};
    /// assert_eq!(Lifecycle::Created.apply(LifecycleAction::Publish), Some(Lifecycle::Published));
    /// assert_eq!(Lifecycle::Retired.apply(LifecycleAction::Publish), None);
    /// ```
    #[must_use]
    pub const fn apply(self, action: LifecycleAction) -> Option<Lifecycle> {
        use Lifecycle as S;
        use LifecycleAction as A;
        match (self, action) {
            (S::Created, A::Publish) => Some(S::Published),
            (S::Created, A::DeployAsPrototype) => Some(S::PreReleased),
            (S::PreReleased, A::Publish) => Some(S::Published),
            (S::PreReleased, A::DemoteToCreated) => Some(S::Created),
            (S::Published, A::Block) => Some(S::Blocked),
            (S::Published, A::DeployAsPrototype) => Some(S::PreReleased),
            (S::Published, A::DemoteToCreated) => Some(S::Created),
            (S::Published, A::Deprecate) => Some(S::Deprecated),
            (S::Blocked, A::Deprecate) => Some(S::Deprecated),
            (S::Blocked, A::RePublish) => Some(S::Published),
            (S::Deprecated, A::Retire) => Some(S::Retired),
            _ => None,
        }
    }

    /// The actions allowed in this state.
    pub fn actions(self) -> impl Iterator<Item = LifecycleAction> {
        LifecycleAction::ALL
            .into_iter()
            .filter(move |a| self.apply(*a).is_some())
    }

    /// The shortest list of actions leading from this state to `target` (empty when they are
    /// equal), or `None` when `target` cannot be reached. The configuration loader uses it to
    /// bring a new API to the state its file declares.
    ///
    /// ```
    /// use eventgate::{Lifecycle, LifecycleAction as A};
    /// assert_eq!(Lifecycle::Created.path_to(Lifecycle::Retired),
    ///            Some(vec![A::Publish, A::Deprecate, A::Retire]));
    /// assert_eq!(Lifecycle::Retired.path_to(Lifecycle::Created), None);
    /// ```
    #[must_use]
    pub fn path_to(self, target: Lifecycle) -> Option<Vec<LifecycleAction>> {
        // Breadth-first search over six states.
        let mut paths: Vec<(Lifecycle, Vec<LifecycleAction>)> = vec![(self, Vec::new())];
        let mut seen = vec![self];
        let mut i = 0;
        while let Some((state, path)) = paths.get(i).cloned() {
            if state == target {
                return Some(path);
            }
            for action in state.actions() {
                if let Some(next) = state.apply(action)
                    && !seen.contains(&next)
                {
                    seen.push(next);
                    let mut p = path.clone();
                    p.push(action);
                    paths.push((next, p));
                }
            }
            i += 1;
        }
        None
    }

    /// What the router does with requests to an API in this state.
    #[must_use]
    pub const fn routability(self) -> Routability {
        match self {
            Lifecycle::Published | Lifecycle::Deprecated => Routability::Routable,
            Lifecycle::Blocked => Routability::Blocked,
            Lifecycle::Created | Lifecycle::PreReleased | Lifecycle::Retired => {
                Routability::NotFound
            }
        }
    }

    /// True when streams may be opened (PUBLISHED and DEPRECATED).
    #[must_use]
    pub const fn is_routable(self) -> bool {
        matches!(self.routability(), Routability::Routable)
    }

    /// True when applications may subscribe (PUBLISHED only: DEPRECATED takes no new
    /// subscriptions).
    #[must_use]
    pub const fn accepts_subscriptions(self) -> bool {
        matches!(self, Lifecycle::Published)
    }
}

impl LifecycleAction {
    /// Every action.
    pub const ALL: [LifecycleAction; 7] = [
        LifecycleAction::Publish,
        LifecycleAction::DeployAsPrototype,
        LifecycleAction::DemoteToCreated,
        LifecycleAction::Block,
        LifecycleAction::Deprecate,
        LifecycleAction::RePublish,
        LifecycleAction::Retire,
    ];

    /// The action's name as WSO2's publisher shows it (`Deploy as a Prototype`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            LifecycleAction::Publish => "Publish",
            LifecycleAction::DeployAsPrototype => "Deploy as a Prototype",
            LifecycleAction::DemoteToCreated => "Demote to Created",
            LifecycleAction::Block => "Block",
            LifecycleAction::Deprecate => "Deprecate",
            LifecycleAction::RePublish => "Re-Publish",
            LifecycleAction::Retire => "Retire",
        }
    }
}

/// A lifecycle state or action name that is not one of WSO2's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown lifecycle {kind} '{value}'")]
pub struct UnknownLifecycleName {
    /// `state` or `action`.
    pub kind: &'static str,
    /// The name given.
    pub value: String,
}

fn norm(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

impl FromStr for Lifecycle {
    type Err = UnknownLifecycleName;
    /// Case-insensitive; `-`, `_` and spaces are ignored; `PROTOTYPED` is accepted for
    /// `PRE-RELEASED`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let n = norm(s);
        if n == "prototyped" {
            return Ok(Lifecycle::PreReleased);
        }
        Lifecycle::ALL
            .into_iter()
            .find(|l| norm(l.as_str()) == n)
            .ok_or_else(|| UnknownLifecycleName {
                kind: "state",
                value: s.to_owned(),
            })
    }
}

impl FromStr for LifecycleAction {
    type Err = UnknownLifecycleName;
    /// Case-insensitive; `-`, `_` and spaces are ignored (`Re-Publish`, `re_publish`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let n = norm(s);
        LifecycleAction::ALL
            .into_iter()
            .find(|a| norm(a.as_str()) == n)
            .ok_or_else(|| UnknownLifecycleName {
                kind: "action",
                value: s.to_owned(),
            })
    }
}

impl fmt::Display for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for LifecycleAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Lifecycle as S;
    use LifecycleAction as A;

    /// The table of ../shared/reference/wso2.md, written out.
    const ALLOWED: [(Lifecycle, LifecycleAction, Lifecycle); 11] = [
        (S::Created, A::Publish, S::Published),
        (S::Created, A::DeployAsPrototype, S::PreReleased),
        (S::PreReleased, A::Publish, S::Published),
        (S::PreReleased, A::DemoteToCreated, S::Created),
        (S::Published, A::Block, S::Blocked),
        (S::Published, A::DeployAsPrototype, S::PreReleased),
        (S::Published, A::DemoteToCreated, S::Created),
        (S::Published, A::Deprecate, S::Deprecated),
        (S::Blocked, A::Deprecate, S::Deprecated),
        (S::Blocked, A::RePublish, S::Published),
        (S::Deprecated, A::Retire, S::Retired),
    ];

    #[test]
    fn every_allowed_transition_leads_where_wso2_says() {
        for (from, action, to) in ALLOWED {
            assert_eq!(from.apply(action), Some(to), "{from} {action}");
        }
    }

    #[test]
    fn every_other_state_action_pair_is_refused() {
        let mut refused = 0;
        for from in Lifecycle::ALL {
            for action in LifecycleAction::ALL {
                if !ALLOWED.iter().any(|(f, a, _)| *f == from && *a == action) {
                    assert_eq!(from.apply(action), None, "{from} {action}");
                    refused += 1;
                }
            }
        }
        assert_eq!(refused, 6 * 7 - ALLOWED.len());
    }

    #[test]
    fn routability_follows_the_state() {
        assert!(S::Published.is_routable() && S::Deprecated.is_routable());
        assert_eq!(S::Blocked.routability(), Routability::Blocked);
        for s in [S::Created, S::PreReleased, S::Retired] {
            assert_eq!(s.routability(), Routability::NotFound);
        }
        assert!(S::Published.accepts_subscriptions());
        assert!(!S::Deprecated.accepts_subscriptions());
    }

    #[test]
    fn names_parse_in_wso2_spellings() {
        assert_eq!("PRE-RELEASED".parse::<S>().unwrap(), S::PreReleased);
        assert_eq!("Prototyped".parse::<S>().unwrap(), S::PreReleased);
        assert_eq!("published".parse::<S>().unwrap(), S::Published);
        assert_eq!("Re-Publish".parse::<A>().unwrap(), A::RePublish);
        assert_eq!(
            "Deploy as a Prototype".parse::<A>().unwrap(),
            A::DeployAsPrototype
        );
        assert!("LIVE".parse::<S>().is_err());
        for s in Lifecycle::ALL {
            assert_eq!(s.as_str().parse::<S>().unwrap(), s);
        }
        for a in LifecycleAction::ALL {
            assert_eq!(a.as_str().parse::<A>().unwrap(), a);
        }
    }

    #[test]
    fn path_to_reaches_every_state_from_created() {
        for target in Lifecycle::ALL {
            let path = S::Created.path_to(target).unwrap();
            let end = path
                .iter()
                .try_fold(S::Created, |s, a| s.apply(*a))
                .unwrap();
            assert_eq!(end, target);
        }
        assert_eq!(S::Deprecated.path_to(S::Published), None);
    }
}
