//! The response body the agent gets, streamed frame by frame. The request's
//! own body goes upstream as a [`RequestBody`](crate::request_body::RequestBody).
//!
//! [`ProxyBody`] passes the upstream's response to the agent through the
//! [`Scrubber`], and carries the request's [`AuditGuard`] so that the audit
//! record is written when the response ends, however it ends: dropping the
//! body (the agent went away) drops the upstream response with it, which
//! closes or resets the upstream stream.

use crate::port::{AuditRecord, Outcome, StandIns};
use crate::request_body::NextFrame;
use crate::scrub::Scrubber;
use crate::upstream::Lease;
use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

/// Writes a request's audit record exactly once: when dropped. Whatever is
/// known by then (status, bytes, outcome) is what the record says.
pub(crate) struct AuditGuard {
    pub(crate) port: Arc<dyn StandIns>,
    pub(crate) record: AuditRecord,
    pub(crate) started: Instant,
    pub(crate) sent_up: Option<Arc<AtomicU64>>,
}

impl Drop for AuditGuard {
    fn drop(&mut self) {
        self.record.duration = self.started.elapsed();
        if let Some(sent) = &self.sent_up {
            self.record.bytes_up = sent.load(Ordering::Relaxed);
        }
        let peer = self.record.peer;
        let record = std::mem::replace(
            &mut self.record,
            AuditRecord {
                time: std::time::UNIX_EPOCH,
                tool: String::new(),
                session: None,
                method: String::new(),
                host: None,
                path: String::new(),
                status: 0,
                bytes_up: 0,
                bytes_down: 0,
                duration: Default::default(),
                peer,
                outcome: Outcome::ClientGone,
            },
        );
        self.port.audit(record);
    }
}

/// The response body the agent gets.
pub(crate) struct ProxyBody(Inner);

enum Inner {
    /// An answer of the proxy's own (refusals, errors).
    Message(Option<Bytes>),
    Stream(Box<Streamed>),
}

struct Streamed {
    upstream: Incoming,
    /// The HTTP/1.1 connection `upstream` arrives on, given back to its
    /// pool when the upstream's body has ended.
    lease: Option<Lease>,
    scrubber: Scrubber,
    audit: AuditGuard,
    /// Trailers seen while the scrubber still held bytes back.
    trailers: Option<HeaderMap>,
    /// Scrubbed output taken from the upstream before the agent's side
    /// asked for it ([`ProxyBody::take_what_is_there`]).
    ready: Option<Bytes>,
    /// The upstream failed while its body was taken ahead; given to the
    /// agent's side after `ready`.
    failed: Option<hyper::Error>,
    /// The upstream's body has ended (the scrubber's tail is in `ready`).
    upstream_done: bool,
    /// Everything, trailers aside, was handed to the agent's side.
    ended: bool,
    exact_length: bool,
}

/// At most this much of a body is taken ahead of the agent's side.
const TAKE_AHEAD_MAX: usize = 64 * 1024;

/// At most this many turns of the runtime are given to the upstream's
/// connection to hand over what it already holds (it hands over one frame
/// a turn; the turns stop as soon as one brings nothing).
const TAKE_AHEAD_TURNS: usize = 16;

impl ProxyBody {
    pub(crate) fn message(bytes: Bytes) -> Self {
        ProxyBody(Inner::Message(Some(bytes)))
    }

    /// The body of a HEAD, 204 or 304 answer.
    pub(crate) fn no_body() -> Self {
        ProxyBody(Inner::Message(None))
    }

    pub(crate) fn streamed(
        upstream: Incoming,
        lease: Option<Lease>,
        scrubber: Scrubber,
        audit: AuditGuard,
    ) -> Self {
        let exact_length = scrubber.keeps_length();
        ProxyBody(Inner::Stream(Box::new(Streamed {
            upstream,
            lease,
            scrubber,
            audit,
            trailers: None,
            ready: None,
            failed: None,
            upstream_done: false,
            ended: false,
            exact_length,
        })))
    }

    /// Takes what the upstream's connection already holds of the body,
    /// before the response head goes to the agent (docs/proxy.md, "CPU").
    ///
    /// hyper writes the head as soon as the body has nothing ready, and
    /// the end of a chunked body as a write of its own when the end comes
    /// after the last data. The upstream's connection is a task of its own
    /// that hands the body over a frame at a time, so a small reply that
    /// arrived whole (head, data and end in one read) went to the agent in
    /// two or three writes, each a system call here and a wake-up and a
    /// read in the agent. Giving that task a few turns first, and only
    /// while it makes progress, lets the head, the data and the end leave
    /// in one write (with a `Content-Length` when the whole body is
    /// known). Nothing is waited for that has not arrived: when the
    /// upstream's connection has nothing (an SSE stream whose first event
    /// is still to come), the head goes out after one turn.
    pub(crate) async fn take_what_is_there(&mut self) {
        let Inner::Stream(s) = &mut self.0 else {
            return;
        };
        let mut turns = 0;
        std::future::poll_fn(|cx| {
            let mut progressed = false;
            while s.taking_ahead() && s.pull(cx).is_ready() {
                progressed = true;
            }
            turns += 1;
            // The first turn is given even without progress: this poll
            // woke the upstream's connection task, which may hold the body.
            if !s.taking_ahead() || turns > TAKE_AHEAD_TURNS || (turns > 1 && !progressed) {
                return Poll::Ready(());
            }
            // Back of the run queue, behind the upstream's connection task.
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await
    }
}

impl Streamed {
    fn end(&mut self) {
        self.ended = true;
        self.audit.record.outcome = Outcome::Completed;
    }

    fn ready_len(&self) -> usize {
        self.ready.as_ref().map_or(0, Bytes::len)
    }

    /// Whether more of the body may still be taken ahead.
    fn taking_ahead(&self) -> bool {
        !self.upstream_done && self.failed.is_none() && self.ready_len() < TAKE_AHEAD_MAX
    }

    /// Appends scrubbed output to what waits for the agent's side.
    fn keep(&mut self, out: Bytes) {
        if out.is_empty() {
            return;
        }
        self.ready = Some(match self.ready.take() {
            None => out,
            Some(before) => {
                let mut joined = bytes::BytesMut::with_capacity(before.len() + out.len());
                joined.extend_from_slice(&before);
                joined.extend_from_slice(&out);
                joined.freeze()
            }
        });
    }

    /// Takes one frame from the upstream and keeps what it comes to:
    /// scrubbed data in `ready`, trailers, the end (with the scrubber's
    /// tail), or the failure.
    fn pull(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match ready!(Pin::new(&mut self.upstream).poll_frame(cx)) {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    let out = self.scrubber.push(data);
                    self.keep(out);
                }
                Err(frame) => {
                    if let Ok(mut trailers) = frame.into_trailers() {
                        for value in trailers.values_mut() {
                            if let Some(clean) = self.scrubber.header(value) {
                                *value = clean;
                            }
                        }
                        self.trailers = Some(trailers);
                    }
                }
            },
            Some(Err(e)) => self.failed = Some(e),
            None => {
                self.upstream_done = true;
                if let Some(lease) = self.lease.take() {
                    lease.give_back();
                }
                let tail = self.scrubber.finish();
                self.keep(tail);
            }
        }
        Poll::Ready(())
    }
}

impl Drop for Streamed {
    fn drop(&mut self) {
        if !self.ended
            && self.trailers.is_none()
            && self.ready.is_none()
            && self.failed.is_none()
            && (self.upstream_done || self.upstream.is_end_stream())
        {
            // Everything was sent; the agent's side just did not poll for
            // the end.
            self.audit.record.outcome = Outcome::Completed;
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> NextFrame {
        let s = match &mut self.0 {
            Inner::Message(bytes) => return Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Inner::Stream(s) => s,
        };
        loop {
            if s.ended {
                return Poll::Ready(s.trailers.take().map(|t| Ok(Frame::trailers(t))));
            }
            if let Some(out) = s.ready.take() {
                if s.upstream_done {
                    // The last data: hyper sees the end with it and writes
                    // both at once.
                    s.end();
                }
                s.audit.record.bytes_down += out.len() as u64;
                return Poll::Ready(Some(Ok(Frame::data(out))));
            }
            if let Some(e) = s.failed.take() {
                s.audit.record.outcome = Outcome::UpstreamBroke;
                s.ended = true;
                return Poll::Ready(Some(Err(e)));
            }
            if s.upstream_done {
                s.end();
                continue;
            }
            ready!(s.pull(cx));
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Inner::Message(bytes) => bytes.is_none(),
            Inner::Stream(s) => s.ended && s.trailers.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Inner::Message(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            // The whole rest of the body is here: its length is known,
            // whatever the upstream's framing was (not with trailers: they
            // need a chunked body).
            Inner::Stream(s) if s.upstream_done && s.failed.is_none() && s.trailers.is_none() => {
                SizeHint::with_exact(s.ready_len() as u64)
            }
            Inner::Stream(s) if s.exact_length && !s.ended => {
                // What the upstream still sends, plus what the scrubber
                // holds back from it.
                let held = (s.scrubber.held() + s.ready_len()) as u64;
                let upstream = s.upstream.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(upstream.lower() + held);
                if let Some(upper) = upstream.upper() {
                    hint.set_upper(upper + held);
                }
                hint
            }
            Inner::Stream(_) => SizeHint::default(),
        }
    }
}
