//! The listener and the request path: route, authenticate the stand-in,
//! rewrite one header (or query value), stream both bodies.
//!
//! Routing is by path prefix: a tool's base URL is
//! `http://127.0.0.1:PORT/t/<tool>` (docs/design.md §10), so one loopback port
//! serves every tool and the tool is known before any header is read. The
//! request's `Host` header, an absolute-form target, `CONNECT` and `Upgrade`
//! never choose where a request goes: the only destination is the upstream
//! that the daemon's grant pins.

use crate::body::{AuditGuard, ProxyBody};
use crate::port::{AuditRecord, AuthPlace, Grant, Outcome, Refusal, StandIns};
use crate::reply::Reply;
use crate::request_body::RequestBody;
use crate::scrub::Scrubber;
use crate::upstream::Lease;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

/// The proxy's tunables. `Default` is what the daemon should use.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// How long the upstream may take to send its response head. Generous:
    /// a provider may think for minutes before a non-streamed answer.
    pub response_timeout: Duration,
    /// Open agent connections beyond this wait to be accepted.
    pub max_connections: usize,
    /// An agent connection that sends no request head for this long is
    /// closed (idle keep-alive, or a head that never completes). Longer
    /// than common clients' own idle pools (reqwest keeps idle connections
    /// 90 s), so that a client rarely reuses a connection the proxy just
    /// closed.
    pub idle_timeout: Duration,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            response_timeout: Duration::from_secs(600),
            max_connections: 4096,
            idle_timeout: Duration::from_secs(120),
        }
    }
}

/// The proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error(
        "the proxy listens on loopback only; {0} is not a loopback address (use 127.0.0.1:PORT)"
    )]
    NotLoopback(SocketAddr),
    #[error(
        "cannot listen on {addr}: {source}; choose another port with `proxy_listen` in config.toml"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running proxy. Dropping it stops it as [`ProxyServer::shutdown`] does.
pub struct ProxyServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
}

struct Shared {
    port: Arc<dyn StandIns>,
    config: ProxyConfig,
}

impl ProxyServer {
    /// Binds `listen` (a loopback address; port 0 picks a free one) and
    /// serves on the current tokio runtime.
    pub async fn start(
        listen: SocketAddr,
        port: Arc<dyn StandIns>,
        config: ProxyConfig,
    ) -> Result<Self, ProxyError> {
        if !listen.ip().is_loopback() {
            return Err(ProxyError::NotLoopback(listen));
        }
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| ProxyError::Bind {
                addr: listen,
                source,
            })?;
        Self::serve(listener, port, config)
    }

    /// Serves on a listener the caller bound (it must be on loopback).
    pub fn serve(
        listener: TcpListener,
        port: Arc<dyn StandIns>,
        config: ProxyConfig,
    ) -> Result<Self, ProxyError> {
        let addr = listener.local_addr().map_err(|source| ProxyError::Bind {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            source,
        })?;
        if !addr.ip().is_loopback() {
            return Err(ProxyError::NotLoopback(addr));
        }
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared { port, config });
        tokio::spawn(keep_a_timer_due(stopped.clone()));
        let accept = tokio::spawn(accept_loop(listener, shared, stopped));
        Ok(ProxyServer {
            addr,
            stop,
            accept: Some(accept),
        })
    }

    /// The address agents are pointed at.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and closes every connection (streams in flight are
    /// cut, and their upstream requests dropped).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
    }
}

impl Drop for ProxyServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// How soon the proxy's runtime always has a timer due
/// ([`keep_a_timer_due`]).
const TIMER_DUE_WITHIN: Duration = Duration::from_secs(30);

/// Keeps a timer due within [`TIMER_DUE_WITHIN`] on the proxy's runtime,
/// until the proxy stops. Tokio wakes its driver (a write to an eventfd, a
/// system call) whenever a timer is set that is due before every other one.
/// Each request sets timers minutes away (hyper's head-read timeout on the
/// agent's connection, the response timeout), and on a runtime with no
/// earlier timer one of them was the earliest every time: a system call per
/// request for nothing. With this timer always due sooner, setting theirs
/// costs none; an idle proxy's thread wakes once per
/// [`TIMER_DUE_WITHIN`] for it (docs/proxy.md, "CPU").
async fn keep_a_timer_due(mut stopped: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TIMER_DUE_WITHIN) => {}
            _ = stopped.changed() => return,
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(shared.config.max_connections.max(1)));
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stopped.changed() => return,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or a connection reset before
                    // accept: wait a moment rather than spin.
                    tracing::warn!("proxy accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        shared.port.accepted(peer);
        let shared = shared.clone();
        let mut stopped = stopped.clone();
        let idle_timeout = shared.config.idle_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(&shared, peer, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(idle_timeout)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = stopped.changed() => {}
            }
        });
    }
}

/// One request, start to response head. The audit guard travels with the
/// response body when the request was forwarded.
async fn handle(shared: &Shared, peer: SocketAddr, req: Request<Incoming>) -> Response<ProxyBody> {
    let mut audit = AuditGuard {
        port: shared.port.clone(),
        record: AuditRecord {
            time: SystemTime::now(),
            tool: String::new(),
            session: None,
            method: req.method().as_str().to_owned(),
            host: None,
            // Set when the request is forwarded (its upstream path) or
            // answered here (the path it asked for, from `target`).
            path: String::new(),
            status: 0,
            bytes_up: 0,
            bytes_down: 0,
            duration: Duration::ZERO,
            peer,
            outcome: Outcome::ClientGone,
        },
        started: Instant::now(),
        sent_up: None,
    };
    let head = req.method() == Method::HEAD;
    // A clone shares the request's bytes (no copy): for the audit record's
    // path when the request is not forwarded.
    let target = req.uri().clone();
    let asked_path = || without_query_values(target.path_and_query().map_or("", |pq| pq.as_str()));
    if let Some(tool) = preconnect(&req) {
        // Claude Code opens its connection with a bare `HEAD <base URL>`
        // and no key before its first call: answered here (200, no body),
        // so each launch does not leave a refusal in the audit log. Nothing
        // goes upstream without a stand-in.
        audit.record.tool = tool.to_owned();
        audit.record.path = asked_path();
        audit.record.status = StatusCode::OK.as_u16();
        audit.record.outcome = Outcome::Completed;
        let mut response = Response::new(ProxyBody::no_body());
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        return response;
    }
    // Boxed: hyper keeps each connection's service future in a box sized
    // for its largest state for as long as the connection lives, and the
    // upstream send inside `forward` is most of that (about 3 KiB, needed
    // only until the response head). An open stream then holds a few
    // hundred bytes here instead (docs/proxy.md, "Memory").
    match Box::pin(forward(shared, req, &mut audit)).await {
        Ok((response, upstream_body, lease, scrubber)) => {
            let status = response.status();
            audit.record.status = status.as_u16();
            if head || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
                // No body follows (RFC 9110 §6.4.1), whatever the upstream's
                // stream says; the agent's server side never polls one.
                audit.record.outcome = Outcome::Completed;
                if let Some(lease) =
                    lease.filter(|_| http_body::Body::is_end_stream(&upstream_body))
                {
                    lease.give_back();
                }
                return response.map(|()| ProxyBody::no_body());
            }
            let mut body = ProxyBody::streamed(upstream_body, lease, scrubber, audit);
            body.take_what_is_there().await;
            response.map(|()| body)
        }
        Err(reply) => {
            if audit.record.path.is_empty() {
                audit.record.path = asked_path();
            }
            audit.record.status = reply.status.as_u16();
            audit.record.outcome = if audit.sent_up.is_some() {
                Outcome::UpstreamFailed
            } else {
                Outcome::Refused
            };
            reply.into_response()
        }
    }
}

type Forwarded = (Response<()>, Incoming, Option<Lease>, Scrubber);

async fn forward(
    shared: &Shared,
    req: Request<Incoming>,
    audit: &mut AuditGuard,
) -> Result<Forwarded, Reply> {
    if req.method() == Method::CONNECT {
        return Err(Reply::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "session-vault's proxy is not a forward proxy: CONNECT is refused; set the tool's \
             base URL to the value `session-vault exec --proxy` gives it",
        ));
    }
    if req.uri().scheme().is_some() || req.uri().authority().is_some() {
        return Err(Reply::new(
            StatusCode::BAD_REQUEST,
            "session-vault's proxy is not a forward proxy: absolute request targets are refused; \
             set the tool's base URL (not HTTP_PROXY) to the value `session-vault exec --proxy` gives it",
        ));
    }
    if req.headers().contains_key(header::UPGRADE) {
        // Codex opens its Responses stream with a WebSocket upgrade first
        // and falls back to HTTPS on 426 Upgrade Required.
        return Err(Reply::new(
            StatusCode::UPGRADE_REQUIRED,
            "session-vault's proxy does not carry WebSocket or other upgrades; send the request \
             over plain HTTP (Codex falls back by itself)",
        ));
    }
    let (tool, rest_path) = route(req.uri().path())?;
    audit.record.tool = tool.to_owned();
    let query = req.uri().query();
    let (grant, stand_in) = authenticate(shared.port.as_ref(), tool, req.headers(), query)?;

    let rest = Zeroizing::new(match query {
        None => rest_path.to_owned(),
        Some(q) if grant.auth == AuthPlace::QueryKey => {
            let q = with_query_key(q, &stand_in, grant.key.expose());
            format!("{rest_path}?{}", q.as_str())
        }
        Some(q) => format!("{rest_path}?{q}"),
    });
    let uri = grant.upstream.uri_for(&rest).map_err(|_| {
        Reply::new(
            StatusCode::BAD_REQUEST,
            "session-vault: the request path is not a valid URL path",
        )
    })?;
    audit.record.session = Some(grant.session.clone());
    audit.record.host = Some(grant.upstream.host().to_owned());
    audit.record.path = without_query_values(uri.path_and_query().map_or("", |pq| pq.as_str()));

    let (parts, body) = req.into_parts();
    let headers = upstream_headers(parts.headers, &grant, &stand_in)?;
    let sent = Arc::new(AtomicU64::new(0));
    audit.sent_up = Some(sent.clone());
    let mut upstream_req = Request::new(RequestBody::new(body, sent));
    *upstream_req.method_mut() = parts.method;
    *upstream_req.uri_mut() = uri;
    *upstream_req.version_mut() = Version::HTTP_11;
    *upstream_req.headers_mut() = headers;

    let sending = grant.upstream.send(upstream_req);
    let (response, lease) =
        match tokio::time::timeout(shared.config.response_timeout, sending).await {
            Err(_) => {
                return Err(Reply::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!(
                        "session-vault: the upstream {} did not answer within {} s; retry later",
                        grant.upstream.host(),
                        shared.config.response_timeout.as_secs()
                    ),
                ))
            }
            Ok(Err(e)) => return Err(upstream_failed(grant.upstream.host(), &*e)),
            Ok(Ok(sent)) => sent,
        };

    let scrubber = Scrubber::new(grant.key.expose().as_bytes(), stand_in.as_bytes());
    let (mut parts, upstream_body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    for value in parts.headers.values_mut() {
        if let Some(clean) = scrubber.header(value) {
            *value = clean;
        }
    }
    if !scrubber.keeps_length() {
        parts.headers.remove(header::CONTENT_LENGTH);
    }
    parts.version = Version::HTTP_11;
    Ok((
        Response::from_parts(parts, ()),
        upstream_body,
        lease,
        scrubber,
    ))
}

/// `/t/<tool>/rest…` → (`tool`, `/rest…`).
fn route(path: &str) -> Result<(&str, &str), Reply> {
    let not_found = || {
        Reply::new(
            StatusCode::NOT_FOUND,
            "session-vault's proxy serves /t/<tool>/…; set the tool's base URL to the value \
             `session-vault exec --proxy` gives it",
        )
    };
    let after = path.strip_prefix("/t/").ok_or_else(not_found)?;
    let (tool, rest) = match after.find('/') {
        Some(i) => after.split_at(i),
        None => (after, ""),
    };
    if !sv_core::tools::valid_tool_name(tool) {
        return Err(not_found());
    }
    let dot_segment = rest.split('/').any(is_dot_segment);
    if dot_segment {
        return Err(Reply::new(
            StatusCode::BAD_REQUEST,
            "session-vault: `.` and `..` path segments are refused; send the request's path as the API documents it",
        ));
    }
    Ok((tool, rest))
}

/// Whether a path segment is `.` or `..`, any dot of it percent-encoded
/// (`%2e`, `%2E`). Checked without decoding (no allocation per segment).
fn is_dot_segment(seg: &str) -> bool {
    let mut rest = seg.as_bytes();
    let mut dots = 0;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix(b".") {
            rest = r;
        } else if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"%2e") {
            rest = &rest[3..];
        } else {
            return false;
        }
        dots += 1;
    }
    dots == 1 || dots == 2
}

/// The tool of a preconnect: `HEAD /t/<tool>` (or `/t/<tool>/`) with no
/// query and no credential at any auth place.
fn preconnect<B>(req: &Request<B>) -> Option<&str> {
    if req.method() != Method::HEAD
        || req.uri().query().is_some()
        || req.uri().scheme().is_some()
        || req.uri().authority().is_some()
    {
        return None;
    }
    let (tool, rest) = route(req.uri().path()).ok()?;
    let bare = rest.is_empty() || rest == "/";
    let no_credential = AuthPlace::ALL
        .iter()
        .all(|&place| credential_at(place, req.headers(), None).is_none());
    (bare && no_credential).then_some(tool)
}

/// Finds the stand-in, asks the daemon for its grant, and checks it came in
/// the tool's auth place.
fn authenticate(
    port: &dyn StandIns,
    tool: &str,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<(Grant, Zeroizing<String>), Reply> {
    let mut first_refusal: Option<Refusal> = None;
    for place in AuthPlace::ALL {
        let Some(candidate) = credential_at(place, headers, query) else {
            continue;
        };
        match port.resolve(tool, candidate) {
            Ok(grant) if grant.auth == place => {
                return Ok((grant, Zeroizing::new(candidate.to_owned())))
            }
            Ok(grant) => {
                return Err(Reply::new(
                    StatusCode::UNAUTHORIZED,
                    format!(
                    "session-vault: the stand-in for `{tool}` was sent in {}, but `{tool}`'s key \
                         goes in {}; set `auth` for the tool in config.toml to match its client",
                    place.describe(),
                    grant.auth.describe()
                ),
                ))
            }
            Err(refusal) => {
                if first_refusal.is_none() || refusal == Refusal::Locked {
                    first_refusal = Some(refusal);
                }
            }
        }
    }
    Err(match first_refusal {
        Some(refusal) => Reply::refused(&refusal, tool),
        None => Reply::new(
            StatusCode::UNAUTHORIZED,
            format!(
                "session-vault: the request carries no key; run the agent with `session-vault exec \
                 --proxy --tool {tool} -- CMD` so it gets a stand-in"
            ),
        ),
    })
}

/// Longest stand-in worth asking the daemon about.
const MAX_STAND_IN: usize = 512;

fn credential_at<'a>(
    place: AuthPlace,
    headers: &'a HeaderMap,
    query: Option<&'a str>,
) -> Option<&'a str> {
    let value = match place {
        AuthPlace::XApiKey => headers.get(X_API_KEY)?.to_str().ok()?,
        AuthPlace::XGoogApiKey => headers.get(X_GOOG_API_KEY)?.to_str().ok()?,
        AuthPlace::Bearer => bearer(headers.get(header::AUTHORIZATION)?)?,
        AuthPlace::QueryKey => query?
            .split('&')
            .find_map(|pair| pair.strip_prefix("key="))?,
    };
    (!value.is_empty() && value.len() <= MAX_STAND_IN).then_some(value)
}

fn bearer(value: &HeaderValue) -> Option<&str> {
    let v = value.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
const X_GOOG_API_KEY: HeaderName = HeaderName::from_static("x-goog-api-key");

/// The request's headers as the upstream gets them: hop-by-hop headers and
/// `Host` dropped (the client sets `Host`/`:authority` from the pinned
/// upstream), the real key at the grant's place, the stand-in nowhere.
fn upstream_headers(
    mut headers: HeaderMap,
    grant: &Grant,
    stand_in: &str,
) -> Result<HeaderMap, Reply> {
    strip_hop_by_hop(&mut headers);
    headers.remove(header::HOST);
    // The scrubber only sees plain bytes: ask for an uncompressed answer.
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    // A client may send its key in more than one place (Claude Code sends
    // `x-api-key` and, with a helper, `Authorization`): the stand-in is
    // nobody's credential upstream, so drop it wherever else it is.
    for place in AuthPlace::ALL {
        if place == grant.auth || place == AuthPlace::QueryKey {
            continue;
        }
        if credential_at(place, &headers, None) == Some(stand_in) {
            headers.remove(auth_header(place));
        }
    }
    let bad_key = || {
        Reply::new(
            StatusCode::BAD_GATEWAY,
            "session-vault: the stored key has characters an HTTP header cannot carry; store the key again",
        )
    };
    let key = grant.key.expose();
    let value = match grant.auth {
        AuthPlace::QueryKey => return Ok(headers),
        AuthPlace::Bearer => {
            let text = Zeroizing::new(format!("Bearer {key}"));
            HeaderValue::from_str(&text).map_err(|_| bad_key())?
        }
        AuthPlace::XApiKey | AuthPlace::XGoogApiKey => {
            HeaderValue::from_str(key).map_err(|_| bad_key())?
        }
    };
    let mut value = value;
    value.set_sensitive(true);
    headers.insert(auth_header(grant.auth), value);
    Ok(headers)
}

fn auth_header(place: AuthPlace) -> HeaderName {
    match place {
        AuthPlace::XApiKey => X_API_KEY,
        AuthPlace::XGoogApiKey => X_GOOG_API_KEY,
        AuthPlace::Bearer | AuthPlace::QueryKey => header::AUTHORIZATION,
    }
}

/// `query` with `key=<stand-in>` replaced by `key=<real, percent-encoded>`.
fn with_query_key(query: &str, stand_in: &str, real: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(query.len() + real.len()));
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        if pair.strip_prefix("key=") == Some(stand_in) {
            out.push_str("key=");
            for b in real.bytes() {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    out.push(char::from(b));
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        } else {
            out.push_str(pair);
        }
    }
    out
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) and the ones `Connection` names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages have none: one pass over the names instead of a
    // lookup per hop-by-hop name.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::TE,
    header::TRAILER,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
];

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(name)
}

/// The path with each query parameter's name kept and its value dropped:
/// `/m?alt=sse&key=X` → `/m?alt&key`.
pub(crate) fn without_query_values(path_and_query: &str) -> String {
    match path_and_query.split_once('?') {
        None => path_and_query.to_owned(),
        Some((path, query)) => {
            let names: Vec<&str> = query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| p.split('=').next().unwrap_or(""))
                .collect();
            format!("{path}?{}", names.join("&"))
        }
    }
}

/// 502 (or 504 when connecting timed out), with the cause in words.
fn upstream_failed(host: &str, error: &(dyn std::error::Error + 'static)) -> Reply {
    let mut cause = String::new();
    let mut timed_out = false;
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            timed_out |= io.kind() == std::io::ErrorKind::TimedOut;
        }
        let text = e.to_string();
        if !cause.contains(&text) {
            if !cause.is_empty() {
                cause.push_str(": ");
            }
            cause.push_str(&text);
        }
        source = e.source();
    }
    if cause.is_empty() {
        cause = error.to_string();
    }
    if timed_out {
        Reply::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!("session-vault: connecting to the upstream {host} timed out ({cause}); check the network"),
        )
    } else {
        Reply::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "session-vault: the upstream {host} could not be reached ({cause}); check the \
                 network, or the tool's `upstream` and `ca_file` in config.toml"
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_head_of_the_base_url_without_a_key_is_a_preconnect() {
        let req = |method: Method, uri: &str, key: Option<&str>| {
            let mut b = Request::builder().method(method).uri(uri);
            if let Some(k) = key {
                b = b.header("x-api-key", k);
            }
            b.body(()).unwrap()
        };
        // Claude Code 2.1's first request.
        assert_eq!(
            preconnect(&req(Method::HEAD, "/t/claude", None)),
            Some("claude")
        );
        assert_eq!(
            preconnect(&req(Method::HEAD, "/t/claude/", None)),
            Some("claude")
        );
        // A HEAD with a stand-in, of an API path, with a query, of no tool,
        // or another method: not a preconnect (forwarded or refused as ever).
        assert_eq!(
            preconnect(&req(Method::HEAD, "/t/claude", Some("sk-x"))),
            None
        );
        assert_eq!(
            preconnect(&req(Method::HEAD, "/t/claude/v1/messages", None)),
            None
        );
        assert_eq!(
            preconnect(&req(Method::HEAD, "/t/gemini?key=x", None)),
            None
        );
        assert_eq!(preconnect(&req(Method::HEAD, "/", None)), None);
        assert_eq!(preconnect(&req(Method::HEAD, "/t/Bad", None)), None);
        assert_eq!(preconnect(&req(Method::GET, "/t/claude", None)), None);
        assert_eq!(
            preconnect(&req(Method::HEAD, "http://evil/t/claude", None)),
            None
        );
    }

    #[test]
    fn routes() {
        assert_eq!(
            route("/t/claude/v1/messages").unwrap(),
            ("claude", "/v1/messages")
        );
        assert_eq!(route("/t/claude").unwrap(), ("claude", ""));
        assert_eq!(route("/t/claude/").unwrap(), ("claude", "/"));
        assert_eq!(
            route("/v1/messages").unwrap_err().status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(route("/t/Bad/x").unwrap_err().status, StatusCode::NOT_FOUND);
        assert_eq!(route("/t//x").unwrap_err().status, StatusCode::NOT_FOUND);
        assert_eq!(
            route("/t/claude/../x").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            route("/t/claude/%2E%2e/x").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        for dots in [".", "..", "%2e", "%2E", ".%2e", "%2e.", "%2E%2E"] {
            assert!(is_dot_segment(dots), "{dots}");
        }
        for other in [
            "",
            "...",
            "%2e%2e%2e",
            "%2",
            "%2f",
            ".a",
            "a.",
            "%2ex",
            "é.",
            "v1",
        ] {
            assert!(!is_dot_segment(other), "{other}");
        }
        assert_eq!(
            route("/t/claude/v1/.well-known").unwrap().1,
            "/v1/.well-known"
        );
    }

    #[test]
    fn query_values_are_dropped() {
        assert_eq!(without_query_values("/a/b"), "/a/b");
        assert_eq!(without_query_values("/m?alt=sse&key=SECRET"), "/m?alt&key");
        assert_eq!(without_query_values("/m?"), "/m?");
    }

    #[test]
    fn query_key_is_replaced_only_where_it_is_the_stand_in() {
        let q = with_query_key("alt=sse&key=STAND&x=key=STAND", "STAND", "AIza/+real");
        assert_eq!(&*q, "alt=sse&key=AIza%2F%2Breal&x=key=STAND");
    }

    #[test]
    fn hop_by_hop_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("anthropic-version"));
    }
}
