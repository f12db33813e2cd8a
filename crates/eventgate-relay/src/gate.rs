//! The per-event meter hook.

use bytes::Bytes;

/// What a [`Meter`] is asked about: one event about to go to one subscriber.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Delivery<'a> {
    /// The encoded event (`text/event-stream` bytes), e.g. to charge by size.
    pub frame: &'a Bytes,
    /// True if the event comes from the backlog (replay after `Last-Event-ID`).
    pub replay: bool,
}

/// A meter's refusal: the stream ends after sending `final_frame` (if any).
#[derive(Debug, Clone, Default)]
pub struct Denial {
    final_frame: Option<Bytes>,
}

impl Denial {
    /// A denial that ends the stream after sending `frame` (an encoded SSE event or comment,
    /// for example `event: quota-exceeded\ndata: {...}\n\n`).
    pub fn with_frame(frame: Bytes) -> Denial {
        Denial {
            final_frame: Some(frame),
        }
    }

    /// A denial that ends the stream without a final frame.
    pub fn silent() -> Denial {
        Denial { final_frame: None }
    }

    pub(crate) fn into_frame(self) -> Option<Bytes> {
        self.final_frame
    }
}

/// Asked before each event goes to a subscriber (replayed or live; heartbeats, comments
/// and `retry:` hints are not events and are not metered).
///
/// The relay knows nothing of plans or quotas: the gateway gives each subscriber a meter
/// (typically holding the plan's counter). A closure `Fn(&Delivery<'_>) -> Result<(), Denial>`
/// is a meter too. The call happens on the subscriber's task, outside any relay lock; it must
/// not block.
///
/// ```
/// use eventgate_relay::{Delivery, Denial, Meter};
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// let left = AtomicU32::new(2);
/// let meter = move |_: &Delivery<'_>| {
///     left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
///         .map(|_| ())
///         .map_err(|_| Denial::with_frame("event: quota\ndata: exceeded\n\n".into()))
/// };
/// let frame = bytes::Bytes::from_static(b"data: x\n\n");
/// let delivery = Delivery::new(&frame);
/// assert!(meter.charge(&delivery).is_ok());
/// assert!(meter.charge(&delivery).is_ok());
/// assert!(meter.charge(&delivery).is_err());
/// ```
pub trait Meter: Send + Sync + 'static {
    /// Charges one delivery, or refuses it.
    fn charge(&self, delivery: &Delivery<'_>) -> Result<(), Denial>;
}

impl<F> Meter for F
where
    F: Fn(&Delivery<'_>) -> Result<(), Denial> + Send + Sync + 'static,
{
    fn charge(&self, delivery: &Delivery<'_>) -> Result<(), Denial> {
        self(delivery)
    }
}

impl<'a> Delivery<'a> {
    /// A live delivery of `frame`.
    pub fn new(frame: &'a Bytes) -> Delivery<'a> {
        Delivery {
            frame,
            replay: false,
        }
    }
}
