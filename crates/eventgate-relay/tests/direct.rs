//! Direct delivery: a channel writing a caught-up feed's live frames to its sink itself
//! ([`DirectHandle`]), and giving the feed back to its task with nothing lost, repeated or
//! reordered.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use bytes::Bytes;
use eventgate_relay::{
    Channel, Cutoff, Delivery, DirectHandle, DirectSink, Error, Feed, Frame, Offer,
    SubscribeOptions,
};
use proptest::prelude::*;

mod support;

/// A sink that records what it takes and answers `Stop` at the frames it is told to.
#[derive(Default)]
struct Wire {
    got: Mutex<Vec<Bytes>>,
    /// Answer `Stop` at these offers (0-based over the sink's life).
    stop_at: Mutex<Vec<usize>>,
    /// Called inside `offer`, while the push holds the entry out.
    during: Mutex<Option<Box<dyn FnMut() + Send>>>,
}

impl DirectSink for Wire {
    fn offer(&self, frame: &Bytes) -> Offer {
        if let Some(f) = self.during.lock().unwrap().as_mut() {
            f();
        }
        let mut got = self.got.lock().unwrap();
        got.push(frame.clone());
        if self.stop_at.lock().unwrap().contains(&(got.len() - 1)) {
            Offer::Stop
        } else {
            Offer::Written
        }
    }
}

impl Wire {
    fn got(&self) -> Vec<Bytes> {
        self.got.lock().unwrap().clone()
    }
}

struct CountWake(AtomicUsize);

impl Wake for CountWake {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<CountWake>, Waker) {
    let c = Arc::new(CountWake(AtomicUsize::new(0)));
    (Arc::clone(&c), Waker::from(c))
}

fn poll(feed: &mut Feed, w: &Waker) -> Poll<Option<Result<Bytes, Error>>> {
    futures_core::Stream::poll_next(Pin::new(feed), &mut Context::from_waker(w))
}

fn event(n: u64) -> Frame {
    support::numbered(n)
}

fn publish(ch: &Channel, n: u64) {
    ch.publish(None, event(n));
}

/// Subscribes, polls until the feed parks with `w`, and gives it to `wire`.
fn parked(ch: &Channel, opts: &SubscribeOptions, w: &Waker) -> (Feed, DirectHandle, Arc<Wire>) {
    let mut feed = ch.subscribe(opts).unwrap();
    assert!(poll(&mut feed, w).is_pending());
    let handle = feed.direct_handle();
    let wire = Arc::new(Wire::default());
    let sink: Arc<dyn DirectSink> = wire.clone();
    assert!(
        handle.try_park(&sink, w),
        "a caught-up feed is given to the sink"
    );
    (feed, handle, wire)
}

/// What the feed itself yields until it is pending or ends.
fn drain(feed: &mut Feed, w: &Waker) -> Vec<Bytes> {
    let mut out = Vec::new();
    while let Poll::Ready(Some(r)) = poll(feed, w) {
        out.push(r.unwrap());
    }
    out
}

#[test]
fn a_direct_sink_gets_live_frames_without_a_wake_and_the_feed_goes_on_after_them() {
    let ch = Channel::builder().build().unwrap();
    let (wakes, w) = counting_waker();
    let (mut feed, handle, wire) = parked(&ch, &SubscribeOptions::new(), &w);
    for n in 0..3 {
        publish(&ch, n);
    }
    ch.heartbeat();
    assert_eq!(
        wire.got(),
        vec![
            event(0).into_bytes(),
            event(1).into_bytes(),
            event(2).into_bytes(),
            Frame::KEEP_ALIVE.into_bytes()
        ]
    );
    assert_eq!(wakes.0.load(Ordering::SeqCst), 0, "no wake per frame");
    assert!(
        poll(&mut feed, &w).is_pending(),
        "nothing for the feed itself"
    );
    assert!(handle.poll_leave(&mut Context::from_waker(&w)).is_ready());
    publish(&ch, 3);
    assert_eq!(drain(&mut feed, &w), vec![event(3).into_bytes()]);
    assert_eq!(wire.got().len(), 4, "the sink gets nothing once left");
}

#[test]
fn a_sink_that_stops_gives_the_feed_back_after_that_frame() {
    let ch = Channel::builder().build().unwrap();
    let (wakes, w) = counting_waker();
    let (mut feed, _handle, wire) = parked(&ch, &SubscribeOptions::new(), &w);
    wire.stop_at.lock().unwrap().push(1);
    for n in 0..4 {
        publish(&ch, n);
    }
    assert_eq!(
        wire.got(),
        vec![event(0).into_bytes(), event(1).into_bytes()]
    );
    assert_eq!(
        wakes.0.load(Ordering::SeqCst),
        1,
        "woken once, when given back"
    );
    assert_eq!(
        drain(&mut feed, &w),
        vec![event(2).into_bytes(), event(3).into_bytes()]
    );
}

#[test]
fn a_gate_refusal_while_direct_ends_the_feed_with_the_cutoff_and_asks_once_per_event() {
    const QUOTA: Frame = Frame::from_static("event: quota\ndata: out\n\n");
    let ch = Channel::builder().build().unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let a = Arc::clone(&asked);
    let gate = move |_: &Delivery<'_>| {
        if a.fetch_add(1, Ordering::SeqCst) < 2 {
            Ok(())
        } else {
            Err(Cutoff::with_frame(QUOTA))
        }
    };
    let mut opts = SubscribeOptions::new();
    opts.gate(Arc::new(gate));
    let (wakes, w) = counting_waker();
    let (mut feed, _handle, wire) = parked(&ch, &opts, &w);
    ch.heartbeat(); // not an event: the gate is not asked
    for n in 0..4 {
        publish(&ch, n);
    }
    assert_eq!(
        wire.got(),
        vec![
            Frame::KEEP_ALIVE.into_bytes(),
            event(0).into_bytes(),
            event(1).into_bytes()
        ]
    );
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    assert_eq!(drain(&mut feed, &w), vec![QUOTA.into_bytes()]);
    assert!(feed.is_done());
    assert_eq!(
        asked.load(Ordering::SeqCst),
        3,
        "the refused event is asked once"
    );
}

#[test]
fn close_while_direct_gives_the_final_frames_to_the_feed_which_then_ends() {
    let ch = Channel::builder().build().unwrap();
    let (wakes, w) = counting_waker();
    let (mut feed, _handle, wire) = parked(&ch, &SubscribeOptions::new(), &w);
    publish(&ch, 0);
    ch.close(&[Frame::retry(std::time::Duration::from_secs(3))]);
    assert_eq!(wire.got(), vec![event(0).into_bytes()]);
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    assert_eq!(
        drain(&mut feed, &w),
        vec![Frame::retry(std::time::Duration::from_secs(3)).into_bytes()]
    );
    assert!(matches!(poll(&mut feed, &w), Poll::Ready(None)));
}

#[test]
fn abort_while_direct_ends_the_feed() {
    let ch = Channel::builder().build().unwrap();
    let (wakes, w) = counting_waker();
    let (mut feed, _handle, _wire) = parked(&ch, &SubscribeOptions::new(), &w);
    ch.abort();
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    assert!(matches!(poll(&mut feed, &w), Poll::Ready(None)));
}

#[test]
fn a_dropped_direct_feed_frees_its_slot_and_its_stale_handle_parks_nothing() {
    let ch = Channel::builder().build().unwrap();
    let (_, w) = counting_waker();
    let (feed, old_handle, old_wire) = parked(&ch, &SubscribeOptions::new(), &w);
    drop(feed);
    assert_eq!(ch.subscriber_count(), 0);
    // The next subscriber gets the freed slot; the old handle must not reach it.
    let mut next = ch.subscribe(&SubscribeOptions::new()).unwrap();
    assert!(poll(&mut next, &w).is_pending());
    let sink: Arc<dyn DirectSink> = old_wire.clone();
    assert!(!old_handle.try_park(&sink, &w));
    publish(&ch, 0);
    assert_eq!(drain(&mut next, &w), vec![event(0).into_bytes()]);
    assert!(old_wire.got().is_empty());
}

#[test]
fn a_feed_behind_or_with_another_waker_is_not_given_to_a_sink() {
    let ch = Channel::builder().build().unwrap();
    let (_, w) = counting_waker();
    let (_, other) = counting_waker();
    let mut feed = ch.subscribe(&SubscribeOptions::new()).unwrap();
    let handle = feed.direct_handle();
    let wire = Arc::new(Wire::default());
    let sink: Arc<dyn DirectSink> = wire.clone();
    assert!(!handle.try_park(&sink, &w), "never polled: not parked");
    assert!(poll(&mut feed, &w).is_pending());
    assert!(!handle.try_park(&sink, &other), "parked with another waker");
    publish(&ch, 0);
    assert!(
        !handle.try_park(&sink, &w),
        "behind: event 0 is its own to deliver"
    );
    assert_eq!(drain(&mut feed, &w), vec![event(0).into_bytes()]);
    assert!(handle.try_park(&sink, &w));
    assert!(!handle.try_park(&sink, &w), "already given");
}

#[test]
fn a_feed_holding_an_event_for_a_waiting_gate_is_not_given_to_a_sink() {
    struct WaitOnce(AtomicUsize);
    impl eventgate_relay::DeliveryGate for WaitOnce {
        fn admit(&self, _: &Delivery<'_>) -> Result<(), Cutoff> {
            Ok(())
        }
        fn poll_admit(&self, _: &mut Context<'_>, _: &Delivery<'_>) -> Poll<Result<(), Cutoff>> {
            if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                Poll::Pending
            } else {
                Poll::Ready(Ok(()))
            }
        }
    }
    let ch = Channel::builder().build().unwrap();
    let mut opts = SubscribeOptions::new();
    opts.gate(Arc::new(WaitOnce(AtomicUsize::new(0))));
    let (_, w) = counting_waker();
    let mut feed = ch.subscribe(&opts).unwrap();
    assert!(poll(&mut feed, &w).is_pending());
    publish(&ch, 0);
    // Takes event 0 (parking early, under the lock), and the gate makes it wait.
    assert!(poll(&mut feed, &w).is_pending());
    let wire = Arc::new(Wire::default());
    let sink: Arc<dyn DirectSink> = wire.clone();
    assert!(!feed.direct_handle().try_park(&sink, &w));
    publish(&ch, 1);
    assert_eq!(
        drain(&mut feed, &w),
        vec![event(0).into_bytes(), event(1).into_bytes()]
    );
    assert!(wire.got().is_empty());
}

#[test]
fn taking_the_feed_back_while_a_push_writes_waits_for_that_write() {
    let ch = Channel::builder().build().unwrap();
    let (wakes, w) = counting_waker();
    let (mut feed, handle, wire) = parked(&ch, &SubscribeOptions::new(), &w);
    let (leave_wakes, lw) = counting_waker();
    let seen: Arc<Mutex<Vec<bool>>> = Arc::default();
    let (h, s, lw2) = (handle.clone(), Arc::clone(&seen), lw.clone());
    // During the first write, the task asks for the feed back (as an ender would).
    *wire.during.lock().unwrap() = Some(Box::new(move || {
        let pending = h.poll_leave(&mut Context::from_waker(&lw2)).is_pending();
        s.lock().unwrap().push(pending);
    }));
    publish(&ch, 0);
    *wire.during.lock().unwrap() = None;
    assert_eq!(
        *seen.lock().unwrap(),
        vec![true],
        "pending while the write is out"
    );
    assert_eq!(
        leave_wakes.0.load(Ordering::SeqCst),
        1,
        "woken when it ends"
    );
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    assert!(handle.poll_leave(&mut Context::from_waker(&lw)).is_ready());
    publish(&ch, 1);
    assert_eq!(wire.got(), vec![event(0).into_bytes()]);
    assert_eq!(drain(&mut feed, &w), vec![event(1).into_bytes()]);
}

/// One step of the model test.
#[derive(Debug, Clone)]
enum Step {
    /// Publish the next event.
    Publish,
    /// A heartbeat (a control frame).
    Heartbeat,
    /// The task polls its feed until it is pending, then tries to park it with the sink.
    Poll { park: bool },
    /// The sink answers `Stop` at its next offer.
    StopNext,
    /// The task takes the feed back (as before writing an ender's final frame).
    Leave,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => Just(Step::Publish),
        1 => Just(Step::Heartbeat),
        3 => any::<bool>().prop_map(|park| Step::Poll { park }),
        1 => Just(Step::StopNext),
        1 => Just(Step::Leave),
    ]
}

proptest! {
    /// Whatever the interleaving of pushes, parks, stops and leaves, the sink's frames and
    /// the feed's own, in the order they were taken, are every published frame once, in
    /// order (the connection writes both to one socket).
    #[test]
    fn sink_and_feed_together_get_every_frame_once_in_order(
        steps in proptest::collection::vec(step(), 1..80)
    ) {
        let ch = Channel::builder().queue_depth(1024).build().unwrap();
        let (_, w) = counting_waker();
        let mut feed = ch.subscribe(&SubscribeOptions::new()).unwrap();
        // A second subscriber, parked the usual way: pushes that wake it move the epoch, so
        // polls of the direct feed also take the locked path.
        let mut other = ch.subscribe(&SubscribeOptions::new()).unwrap();
        let mut other_got = Vec::new();
        let handle = feed.direct_handle();
        let wire = Arc::new(Wire::default());
        let sink: Arc<dyn DirectSink> = wire.clone();
        let mut published = Vec::new();
        let mut wire_seen = 0;
        let mut taken = Vec::new();
        let mut n = 0;
        for s in steps {
            match s {
                Step::Publish => {
                    publish(&ch, n);
                    published.push(event(n).into_bytes());
                    n += 1;
                }
                Step::Heartbeat => {
                    ch.heartbeat();
                    published.push(Frame::KEEP_ALIVE.into_bytes());
                }
                Step::Poll { park } => {
                    // What the sink wrote so far reached the socket before the task looks.
                    let got = wire.got();
                    taken.extend_from_slice(&got[wire_seen..]);
                    wire_seen = got.len();
                    taken.extend(drain(&mut feed, &w));
                    other_got.extend(drain(&mut other, &w));
                    if park {
                        handle.try_park(&sink, &w);
                    }
                }
                Step::StopNext => {
                    let at = wire.got().len();
                    wire.stop_at.lock().unwrap().push(at);
                }
                Step::Leave => {
                    prop_assert!(handle.poll_leave(&mut Context::from_waker(&w)).is_ready());
                }
            }
        }
        let _ = handle.poll_leave(&mut Context::from_waker(&w));
        let got = wire.got();
        taken.extend_from_slice(&got[wire_seen..]);
        taken.extend(drain(&mut feed, &w));
        other_got.extend(drain(&mut other, &w));
        prop_assert_eq!(&other_got, &published);
        prop_assert_eq!(taken, published);
    }
}
