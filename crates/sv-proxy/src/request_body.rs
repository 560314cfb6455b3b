//! The agent's request body on its way upstream, counted. It sits below
//! both the upstream client, which is typed on it, and the server, which
//! makes it; it knows nothing of grants or audit records.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

/// What `poll_frame` returns, for this body and the response's.
pub(crate) type NextFrame = Poll<Option<Result<Frame<Bytes>, hyper::Error>>>;

/// The agent's request body on its way upstream, counted.
pub(crate) struct RequestBody {
    inner: Incoming,
    sent: Arc<AtomicU64>,
}

impl RequestBody {
    pub(crate) fn new(inner: Incoming, sent: Arc<AtomicU64>) -> Self {
        RequestBody { inner, sent }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> NextFrame {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(f)) = &frame {
            if let Some(data) = f.data_ref() {
                self.sent.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
