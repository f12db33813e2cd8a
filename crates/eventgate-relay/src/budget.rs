//! A bound on the channels one group of subscriptions may hold open (one API's, say).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A shared bound on the channels opened by the subscriptions that carry it
/// ([`SubscribeOptions::channel_budget`](crate::SubscribeOptions::channel_budget)).
///
/// The relay's own [`max_channels`](crate::RelayBuilder::max_channels) bounds every channel
/// together; a budget bounds a group of them, so one API whose topic template lets clients
/// pick the backend path (`/stocks/{symbol}`) cannot take every upstream connection. A channel
/// takes one unit when it opens (a fan-out key seen for the first time, or a proxy-mode
/// subscription) and gives it back when it retires, lingering included; joining a channel
/// that is already open takes nothing. Clones share the same count.
///
/// ```
/// use eventgate_relay::ChannelBudget;
///
/// let budget = ChannelBudget::new(100).expect("at least 1");
/// assert_eq!((budget.open(), budget.max()), (0, 100));
/// assert!(ChannelBudget::new(0).is_none());
/// ```
#[derive(Clone)]
pub struct ChannelBudget(Arc<Inner>);

struct Inner {
    max: usize,
    open: AtomicUsize,
}

impl fmt::Debug for ChannelBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelBudget")
            .field("open", &self.open())
            .field("max", &self.max())
            .finish()
    }
}

impl ChannelBudget {
    /// A budget of `max` channels; `None` for zero (a group that may open nothing is a
    /// configuration mistake, not a bound).
    #[must_use]
    pub fn new(max: usize) -> Option<ChannelBudget> {
        (max > 0).then(|| {
            ChannelBudget(Arc::new(Inner {
                max,
                open: AtomicUsize::new(0),
            }))
        })
    }

    /// Channels of this budget open now.
    #[must_use]
    pub fn open(&self) -> usize {
        self.0.open.load(Ordering::Relaxed)
    }

    /// The bound.
    #[must_use]
    pub fn max(&self) -> usize {
        self.0.max
    }

    /// Takes one unit if one is left.
    pub(crate) fn try_take(&self) -> Option<BudgetSlot> {
        self.0
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.0.max).then_some(n + 1)
            })
            .ok()
            .map(|_| BudgetSlot(self.clone()))
    }
}

/// One unit of a [`ChannelBudget`], given back on drop.
pub(crate) struct BudgetSlot(ChannelBudget);

impl Drop for BudgetSlot {
    fn drop(&mut self) {
        self.0.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}
