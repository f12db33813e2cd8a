//! The gateway's response body: a fixed body (errors, preflights, metrics) or an event stream
//! that can be ended from outside with one final frame.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use bytes::Bytes;
use eventgate_relay::DirectHandle;
use eventgate_types::BoxError;
use http_body::{Body, Frame, SizeHint};

/// Resolves to the last frame a stream sends before the gateway ends it (its credential
/// expired, its API was undeployed or blocked, the gateway shuts down).
pub(crate) type Ender = Pin<Box<dyn Future<Output = Bytes> + Send>>;

type Inner = Pin<Box<dyn Body<Data = Bytes, Error = BoxError> + Send>>;

/// The body of every response the [`Gateway`](crate::Gateway) gives.
///
/// Event streams pass frame by frame, as the relay yields them: nothing is buffered or
/// compressed, and [`Body::is_end_stream`] stays `false` until the stream really ends.
pub struct GatewayBody {
    kind: Kind,
}

enum Kind {
    Full(Option<Bytes>),
    Stream {
        inner: Inner,
        ender: Option<EnderSlot>,
        /// The feed's direct delivery, taken back before the ender's frame is given out
        /// (a push may be writing to the socket).
        direct: Option<DirectHandle>,
        /// The ender's frame, while the feed is being taken back from its sink.
        last: Option<Bytes>,
        done: bool,
    },
}

/// The ender with a waker of its own, so it is polled only when what it waits for (the
/// credential's timer, the deployment's signal) has woken it, not on every frame: a stream
/// delivers many frames and its ender fires at most once. Re-polling it per frame cost a
/// timer check and a lock of the route's shared `Notify` on every poll of every stream.
struct EnderSlot {
    fut: Ender,
    flag: Arc<EnderWaker>,
    /// `flag` as a [`Waker`], made once (the ender's timer and signal keep it registered).
    waker: Waker,
    /// The task waker last given to `flag` (compared with `will_wake` before locking).
    task: Option<Waker>,
}

/// Marks the ender as woken, then wakes the stream's task.
struct EnderWaker {
    fired: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Wake for EnderWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        let task = match self.task.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(w) = task.as_ref() {
            w.wake_by_ref();
        }
    }
}

impl EnderSlot {
    fn new(fut: Ender) -> Self {
        let flag = Arc::new(EnderWaker {
            // Polled once at the start, so it registers with its timer and signal.
            fired: AtomicBool::new(true),
            task: Mutex::new(None),
        });
        let waker = Waker::from(Arc::clone(&flag));
        Self {
            fut,
            flag,
            waker,
            task: None,
        }
    }

    /// The final frame, once the ender has resolved.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Bytes> {
        if !self.task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
            let w = cx.waker().clone();
            *match self.flag.task.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            } = Some(w.clone());
            self.task = Some(w);
        }
        // A plain load first (the common case: not woken); a wake that races it also wakes
        // the task, which polls again. Cleared before the poll: a wake during it sets it again.
        if !self.flag.fired.load(Ordering::Relaxed)
            || !self.flag.fired.swap(false, Ordering::Acquire)
        {
            return Poll::Pending;
        }
        self.fut
            .as_mut()
            .poll(&mut Context::from_waker(&self.waker))
    }
}

impl fmt::Debug for GatewayBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Full(b) => f
                .debug_struct("GatewayBody")
                .field("len", &b.as_ref().map_or(0, Bytes::len))
                .finish(),
            Kind::Stream { done, .. } => f
                .debug_struct("GatewayBody")
                .field("stream", &true)
                .field("done", done)
                .finish(),
        }
    }
}

impl GatewayBody {
    /// A complete body.
    pub(crate) fn full(bytes: Bytes) -> Self {
        Self {
            kind: Kind::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// An empty body.
    pub(crate) fn empty() -> Self {
        Self::full(Bytes::new())
    }

    /// A stream of frames from `inner`, ended early with the frame `ender` resolves to.
    #[cfg(test)]
    pub(crate) fn stream<B>(inner: B, ender: Option<Ender>) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Self::stream_direct(inner, ender, None)
    }

    /// [`GatewayBody::stream`] of a relay feed that a connection may give to a direct sink
    /// through `direct` (its handle).
    pub(crate) fn stream_direct<B>(
        inner: B,
        ender: Option<Ender>,
        direct: Option<DirectHandle>,
    ) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        use http_body_util::BodyExt as _;
        Self {
            kind: Kind::Stream {
                inner: Box::pin(inner.map_err(Into::into)),
                ender: ender.map(EnderSlot::new),
                direct,
                last: None,
                done: false,
            },
        }
    }
}

impl Body for GatewayBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().kind {
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream {
                inner,
                ender,
                direct,
                last,
                done,
            } => {
                if *done {
                    return Poll::Ready(None);
                }
                if let Some(e) = ender
                    && let Poll::Ready(frame) = e.poll(cx)
                {
                    *ender = None;
                    *last = Some(frame);
                }
                if last.is_some() {
                    // No push may write to the socket once this frame is out.
                    if let Some(d) = direct
                        && d.poll_leave(cx).is_pending()
                    {
                        return Poll::Pending;
                    }
                    *done = true;
                    let frame = last.take().unwrap_or_default();
                    return Poll::Ready((!frame.is_empty()).then(|| Ok(Frame::data(frame))));
                }
                match inner.as_mut().poll_frame(cx) {
                    Poll::Ready(None) => {
                        *done = true;
                        Poll::Ready(None)
                    }
                    other => other,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(b) => b.is_none(),
            Kind::Stream { done, .. } => *done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Stream { .. } => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    #[tokio::test]
    async fn a_full_body_is_one_frame_with_an_exact_size() {
        let b = GatewayBody::full(Bytes::from_static(b"{}"));
        assert_eq!(b.size_hint().exact(), Some(2));
        assert_eq!(b.collect().await.unwrap().to_bytes(), "{}");
        assert!(GatewayBody::empty().is_end_stream());
    }

    #[tokio::test]
    async fn the_ender_sends_one_last_frame_then_ends_the_stream() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(4);
        let inner = StreamBody::new(tokio_stream_shim(rx));
        let (end_tx, end_rx) = tokio::sync::oneshot::channel::<()>();
        let ender: Ender = Box::pin(async move {
            let _ = end_rx.await;
            Bytes::from_static(b"event: eventgate-error\ndata: bye\n\n")
        });
        let mut body = GatewayBody::stream(inner, Some(ender));
        tx.send(Ok(Frame::data(Bytes::from_static(b"data: 1\n\n"))))
            .await
            .unwrap();
        let f = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(f, "data: 1\n\n");
        assert!(!body.is_end_stream());
        end_tx.send(()).unwrap();
        tx.send(Ok(Frame::data(Bytes::from_static(b"data: 2\n\n"))))
            .await
            .unwrap();
        let f = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(f, "event: eventgate-error\ndata: bye\n\n");
        assert!(body.frame().await.is_none());
        assert!(body.is_end_stream());
    }

    #[tokio::test]
    async fn the_ender_is_polled_once_to_start_then_only_when_it_is_woken() {
        use std::sync::atomic::AtomicUsize;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(16);
        let inner = StreamBody::new(tokio_stream_shim(rx));
        let polls = Arc::new(AtomicUsize::new(0));
        let (end_tx, mut end_rx) = tokio::sync::oneshot::channel::<()>();
        let counted = Arc::clone(&polls);
        let ender: Ender = Box::pin(std::future::poll_fn(move |cx| {
            counted.fetch_add(1, Ordering::Relaxed);
            match Pin::new(&mut end_rx).poll(cx) {
                Poll::Ready(_) => Poll::Ready(Bytes::from_static(b"data: end\n\n")),
                Poll::Pending => Poll::Pending,
            }
        }));
        let mut body = GatewayBody::stream(inner, Some(ender));
        for i in 0..10 {
            tx.send(Ok(Frame::data(Bytes::from(format!("data: {i}\n\n")))))
                .await
                .unwrap();
            assert!(body.frame().await.unwrap().unwrap().is_data());
        }
        assert_eq!(
            polls.load(Ordering::Relaxed),
            1,
            "ten frames, one start poll"
        );
        end_tx.send(()).unwrap();
        let last = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(last, "data: end\n\n");
        assert_eq!(polls.load(Ordering::Relaxed), 2);
        assert!(body.frame().await.is_none());
    }

    fn tokio_stream_shim(
        mut rx: tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, BoxError>>,
    ) -> impl futures_core::Stream<Item = Result<Frame<Bytes>, BoxError>> {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }
}
