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
    scrubber: Scrubber,
    audit: AuditGuard,
    /// Trailers seen while the scrubber still held bytes back.
    trailers: Option<HeaderMap>,
    ended: bool,
    exact_length: bool,
}

impl ProxyBody {
    pub(crate) fn message(bytes: Bytes) -> Self {
        ProxyBody(Inner::Message(Some(bytes)))
    }

    /// The body of a HEAD, 204 or 304 answer.
    pub(crate) fn no_body() -> Self {
        ProxyBody(Inner::Message(None))
    }

    pub(crate) fn streamed(upstream: Incoming, scrubber: Scrubber, audit: AuditGuard) -> Self {
        let exact_length = scrubber.keeps_length();
        ProxyBody(Inner::Stream(Box::new(Streamed {
            upstream,
            scrubber,
            audit,
            trailers: None,
            ended: false,
            exact_length,
        })))
    }
}

impl Streamed {
    fn end(&mut self) {
        self.ended = true;
        self.audit.record.outcome = Outcome::Completed;
    }
}

impl Drop for Streamed {
    fn drop(&mut self) {
        if !self.ended && self.trailers.is_none() && self.upstream.is_end_stream() {
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
            match ready!(Pin::new(&mut s.upstream).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        let out = s.scrubber.push(data);
                        if out.is_empty() {
                            continue;
                        }
                        s.audit.record.bytes_down += out.len() as u64;
                        return Poll::Ready(Some(Ok(Frame::data(out))));
                    }
                    Err(frame) => {
                        if let Ok(mut trailers) = frame.into_trailers() {
                            for value in trailers.values_mut() {
                                if let Some(clean) = s.scrubber.header(value) {
                                    *value = clean;
                                }
                            }
                            s.trailers = Some(trailers);
                        }
                    }
                },
                Some(Err(e)) => {
                    s.audit.record.outcome = Outcome::UpstreamBroke;
                    s.ended = true;
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    s.end();
                    let tail = s.scrubber.finish();
                    if !tail.is_empty() {
                        s.audit.record.bytes_down += tail.len() as u64;
                        return Poll::Ready(Some(Ok(Frame::data(tail))));
                    }
                }
            }
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
            Inner::Stream(s) if s.exact_length && !s.ended => {
                // What the upstream still sends, plus what the scrubber
                // holds back from it.
                let held = s.scrubber.held() as u64;
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
