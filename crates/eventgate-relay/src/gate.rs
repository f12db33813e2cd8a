//! The per-delivery hook: asked before each event goes to a subscriber.

use bytes::Bytes;
use eventgate_sse::Frame;

/// What a [`DeliveryGate`] is asked about: one event about to go to one subscriber.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Delivery<'a> {
    /// The encoded event (`text/event-stream` bytes), e.g. to charge by size.
    pub frame: &'a Bytes,
    /// True if the event comes from the backlog (replay after `Last-Event-ID`).
    pub replay: bool,
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

/// A gate's refusal: the subscriber's stream stops here, after its final frame (if any).
///
/// The event that was refused is not sent. The final frame is an SSE frame built with
/// `eventgate-sse` (for example an `eventgate-error` event saying the quota ran out).
#[derive(Debug, Clone, Default)]
pub struct Cutoff {
    final_frame: Option<Frame>,
}

impl Cutoff {
    /// Stops the stream after sending `frame`.
    pub fn with_frame(frame: Frame) -> Cutoff {
        Cutoff {
            final_frame: Some(frame),
        }
    }

    /// Stops the stream without a final frame.
    pub fn silent() -> Cutoff {
        Cutoff { final_frame: None }
    }

    /// The frame sent before the stream ends, if any.
    pub fn final_frame(&self) -> Option<&Frame> {
        self.final_frame.as_ref()
    }

    pub(crate) fn into_frame(self) -> Option<Frame> {
        self.final_frame
    }
}

/// Asked before each event goes to a subscriber (replayed or live; heartbeats, comments
/// and `retry:` hints are not events and do not pass the gate).
///
/// This is where a gateway meters deliveries: the relay knows nothing of plans or quotas,
/// the gateway gives each subscriber a gate (typically holding the plan's counter) and the
/// gate answers [`Cutoff`] when the subscriber may have no more. A closure
/// `Fn(&Delivery<'_>) -> Result<(), Cutoff>` is a gate too. The call happens outside any
/// relay lock, on the subscriber's task (or, for a feed given to a
/// [`DirectSink`](crate::DirectSink), on the publishing task); it must not block.
///
/// ```
/// use eventgate_relay::{Cutoff, Delivery, DeliveryGate};
/// use eventgate_sse::Frame;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// const QUOTA: Frame = Frame::from_static("event: quota\ndata: exceeded\n\n");
/// let left = AtomicU32::new(2);
/// let gate = move |_: &Delivery<'_>| {
///     left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
///         .map(|_| ())
///         .map_err(|_| Cutoff::with_frame(QUOTA))
/// };
/// let frame = bytes::Bytes::from_static(b"data: x\n\n");
/// let delivery = Delivery::new(&frame);
/// assert!(gate.admit(&delivery).is_ok());
/// assert!(gate.admit(&delivery).is_ok());
/// assert!(gate.admit(&delivery).is_err());
/// ```
pub trait DeliveryGate: Send + Sync + 'static {
    /// Lets one delivery through (charging it), or stops the stream.
    fn admit(&self, delivery: &Delivery<'_>) -> Result<(), Cutoff>;

    /// As [`admit`](Self::admit), for a gate that may have to wait before it can decide
    /// (a quota leased from a shared store, being refilled): `Poll::Pending` holds the event
    /// (nothing is lost, nothing overtakes it) and the subscriber's stream waits until `cx`'s
    /// waker is woken, then asks again with the same delivery. Never asked again after an
    /// answer. The default answers [`admit`](Self::admit)'s at once.
    fn poll_admit(
        &self,
        cx: &mut std::task::Context<'_>,
        delivery: &Delivery<'_>,
    ) -> std::task::Poll<Result<(), Cutoff>> {
        let _ = cx;
        std::task::Poll::Ready(self.admit(delivery))
    }
}

impl<F> DeliveryGate for F
where
    F: Fn(&Delivery<'_>) -> Result<(), Cutoff> + Send + Sync + 'static,
{
    fn admit(&self, delivery: &Delivery<'_>) -> Result<(), Cutoff> {
        self(delivery)
    }
}
