//! A pinned upstream: one `https://` origin (and base path) with its own
//! connection pool and trust anchors.
//!
//! TLS is rustls with the `ring` provider. The trust anchors are the
//! system's roots (`rustls-native-certs`, loaded once per process) plus, when
//! the tool names one, the certificates of its `ca_file`. Verification is
//! never turned off: there is no switch for it. ALPN offers `h2` and
//! `http/1.1`, so the request goes over HTTP/2 where the upstream offers it.
//!
//! Until the first connection has told which protocol the upstream speaks,
//! requests go one at a time through the connect step: otherwise a burst of
//! first requests (an agent starting, a load test) would each open its own
//! TLS connection to an upstream that could have carried them all on one
//! HTTP/2 connection. Once HTTP/2 is known, requests share one connection.
//! What was learned stays for the upstream's lifetime (the daemon builds a
//! new `Upstream` when the configuration changes): before anything is
//! learned no connection exists, so the first request must connect and its
//! connection is what tells.
//!
//! Once HTTP/1.1 is known, requests go over this upstream's own pool of
//! HTTP/1.1 connections ([`Http1Pool`]) rather than the general client's:
//! a connection is taken for one request and given back by the response
//! body when the upstream's body has ended, with no pool key, no task
//! spawned per request to wait for the connection to be free again, and no
//! shared lock held across the request (docs/proxy.md, "CPU").

use crate::request_body::RequestBody;
use http::uri::{Authority, Scheme};
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::Connection;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::watch;

/// How long a TCP connect to an upstream may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a shared HTTP/2 connection is pinged while it carries
/// requests.
const H2_PING: Duration = Duration::from_secs(20);

/// An idle pooled upstream connection is closed after this long.
const POOL_IDLE: Duration = Duration::from_secs(90);

/// Most idle HTTP/1.1 connections kept per upstream; one more given back is
/// closed.
const POOL_MAX_IDLE: usize = 128;

type Https = HttpsConnector<HttpConnector>;

/// What the upstream's connections have negotiated so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Learned {
    Unknown,
    Http1,
    Http2,
}

/// Why an upstream could not be set up. Every message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("upstream `{0}` is not a URL; write it as https://host[:port][/base/path]")]
    BadUrl(String),
    #[error("upstream `{0}` is not https://; the key only travels over verified TLS")]
    NotHttps(String),
    #[error("upstream `{0}` has a query or fragment; give only https://host[:port][/base/path]")]
    QueryInUrl(String),
    #[error("ca_file {path}: {reason}; give a PEM file with the CA certificate to trust")]
    CaFile { path: PathBuf, reason: String },
    #[error("no trusted CA certificates: the system has none ({0}); install the ca-certificates package or give the tool a ca_file")]
    NoRoots(String),
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

/// One upstream: where a tool's requests go, and the pool they share.
pub struct Upstream {
    scheme: Scheme,
    authority: Authority,
    /// The upstream URL's path without its trailing `/` (often empty).
    base_path: String,
    ca_file: Option<PathBuf>,
    /// Offers h2 and http/1.1; records what each connection negotiated.
    auto: Client<LearningConnector, RequestBody>,
    /// HTTP/2 only, one shared connection; used once h2 is known.
    h2: Client<Https, RequestBody>,
    /// HTTP/1.1 only; used once HTTP/1.1 is known.
    http1: Arc<Http1Pool>,
    learned: Arc<watch::Sender<Learned>>,
    /// Held by the one request allowed to connect while `learned` is
    /// unknown.
    learning: tokio::sync::Mutex<()>,
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field(
                "origin",
                &format_args!("{}://{}", self.scheme, self.authority),
            )
            .field("base_path", &self.base_path)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl Upstream {
    /// An upstream at `url` (`https://host[:port][/base/path]`), trusting
    /// the system's roots and, when given, the certificates in `ca_file`
    /// (PEM). Reads `ca_file` now, so a bad one is reported when the
    /// configuration is loaded, not on the first request.
    pub fn new(url: &str, ca_file: Option<&Path>) -> Result<Self, UpstreamError> {
        let shown = url.escape_debug().to_string();
        let uri: Uri = url
            .parse()
            .map_err(|_| UpstreamError::BadUrl(shown.clone()))?;
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return Err(UpstreamError::BadUrl(shown));
        };
        if *scheme != Scheme::HTTPS {
            return Err(UpstreamError::NotHttps(shown));
        }
        if uri.query().is_some() || url.contains('#') || authority.as_str().contains('@') {
            return Err(UpstreamError::QueryInUrl(shown));
        }
        let base_path = uri.path().trim_end_matches('/').to_owned();
        let origin = Uri::builder()
            .scheme(Scheme::HTTPS)
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|_| UpstreamError::BadUrl(shown.clone()))?;
        let host = http::HeaderValue::from_str(authority.as_str())
            .map_err(|_| UpstreamError::BadUrl(shown.clone()))?;
        let roots = trust_anchors(ca_file)?;
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| UpstreamError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let auto_tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls.clone())
            .https_only()
            .enable_all_versions()
            .wrap_connector(http.clone());
        let h2_tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls.clone())
            .https_only()
            .enable_http2()
            .wrap_connector(http.clone());
        let http1_tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        let learned = Arc::new(watch::Sender::new(Learned::Unknown));
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_idle_timeout(POOL_IDLE)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            // A shared HTTP/2 connection that died silently (a NAT or
            // laptop sleep) is noticed by its pings, not by a hung request.
            .http2_keep_alive_interval(H2_PING)
            .http2_keep_alive_timeout(H2_PING / 2);
        let auto = builder.build(LearningConnector {
            inner: auto_tls,
            learned: learned.clone(),
        });
        let h2 = builder.http2_only(true).build(h2_tls);
        Ok(Upstream {
            scheme: scheme.clone(),
            authority: authority.clone(),
            base_path,
            ca_file: ca_file.map(Path::to_path_buf),
            auto,
            h2,
            http1: Arc::new(Http1Pool {
                connector: http1_tls,
                origin,
                host,
                idle: std::sync::Mutex::new(Vec::new()),
            }),
            learned,
            learning: tokio::sync::Mutex::new(()),
        })
    }

    /// Sends `req` (already aimed at this upstream) and waits for the
    /// response head. The [`Lease`], when there is one, is the HTTP/1.1
    /// connection the response's body arrives on: give it back when the
    /// body has ended.
    pub(crate) async fn send(&self, req: Request<RequestBody>) -> Result<Sent, SendError> {
        let known = *self.learned.borrow();
        match known {
            Learned::Http2 => Ok((self.h2.request(req).await?, None)),
            Learned::Http1 => self.http1.send(req).await,
            // Boxed: once per upstream, and most of the future's size. A
            // request's future is moved a few times before it runs; kept
            // small, the moves are cheap (docs/proxy.md, "Memory").
            Learned::Unknown => Box::pin(self.send_learning(req)).await,
        }
    }

    /// [`Self::send`] while the upstream's protocol is not known yet: one
    /// request at a time connects, and says what the connection
    /// negotiated; the others then take the path it found.
    async fn send_learning(&self, req: Request<RequestBody>) -> Result<Sent, SendError> {
        let gate = self.learning.lock().await;
        if *self.learned.borrow() != Learned::Unknown {
            drop(gate);
            return self.send(req).await;
        }
        let mut learned = self.learned.subscribe();
        let sending = self.auto.request(req);
        tokio::pin!(sending);
        tokio::select! {
            result = &mut sending => return Ok((result?, None)),
            _ = learned.changed() => drop(gate),
            // A TLS handshake that hangs must not hold the others back
            // for longer than a connect may take.
            _ = tokio::time::sleep(CONNECT_TIMEOUT) => drop(gate),
        }
        Ok((sending.await?, None))
    }

    /// `host` or `host:port`, as the audit log shows it.
    pub fn host(&self) -> &str {
        self.authority.as_str()
    }

    /// The URI for `rest` (the request's path after `/t/<tool>`, with its
    /// query) on this upstream.
    pub(crate) fn uri_for(&self, rest: &str) -> Result<Uri, http::Error> {
        let mut path_and_query = String::with_capacity(self.base_path.len() + rest.len() + 1);
        path_and_query.push_str(&self.base_path);
        if !rest.starts_with('/') {
            path_and_query.push('/');
        }
        path_and_query.push_str(rest);
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
    }
}

/// A response head, and the HTTP/1.1 connection its body comes on.
pub(crate) type Sent = (Response<Incoming>, Option<Lease>);

/// Why a request got no response head; its causes say more.
pub(crate) type SendError = Box<dyn std::error::Error + Send + Sync>;

/// An upstream's idle HTTP/1.1 connections, most recently used last.
struct Http1Pool {
    connector: Https,
    /// `https://host[:port]/`, what the connector is asked for.
    origin: Uri,
    /// `host[:port]`, the `Host` of every request.
    host: http::HeaderValue,
    idle: std::sync::Mutex<Vec<(http1::SendRequest<RequestBody>, std::time::Instant)>>,
}

/// One HTTP/1.1 connection, taken from its pool for one request.
pub(crate) struct Lease {
    pool: Arc<Http1Pool>,
    sender: http1::SendRequest<RequestBody>,
}

impl Lease {
    /// The response's body has ended: the connection may carry the next
    /// request (once its task has read past the end; the next taker waits
    /// for that). Dropping a lease instead closes the connection, as a
    /// body cut short must.
    pub(crate) fn give_back(self) {
        let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < POOL_MAX_IDLE && !self.sender.is_closed() {
            idle.push((self.sender, std::time::Instant::now()));
        }
    }
}

impl Http1Pool {
    /// The most recently used idle connection that is still open.
    fn take(&self) -> Option<http1::SendRequest<RequestBody>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        // Connections idle too long are closed (dropping the sender ends
        // the connection's task), the oldest first.
        let fresh = idle.partition_point(|(_, at)| at.elapsed() >= POOL_IDLE);
        idle.drain(..fresh);
        while let Some((sender, _)) = idle.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    async fn connect(&self) -> Result<http1::SendRequest<RequestBody>, SendError> {
        let mut connector = self.connector.clone();
        let io = tower_service::Service::call(&mut connector, self.origin.clone()).await?;
        let (sender, conn) = http1::Builder::new().handshake(io).await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("upstream connection ended: {e}");
            }
        });
        Ok(sender)
    }

    /// Sends `req` on an idle connection, or a new one. A request that a
    /// pooled connection could not take (the upstream had closed it while
    /// idle) goes on another; one that was sent and failed is not sent
    /// again.
    async fn send(self: &Arc<Self>, mut req: Request<RequestBody>) -> Result<Sent, SendError> {
        // As an HTTP/1.1 client sends it: the path and query as the
        // target, the upstream in `Host`.
        let target = req.uri().path_and_query().cloned();
        *req.uri_mut() = target.map_or_else(|| Uri::from_static("/"), Uri::from);
        req.headers_mut()
            .insert(http::header::HOST, self.host.clone());
        loop {
            let (mut sender, pooled) = match self.take() {
                Some(s) => (s, true),
                // Boxed: rare, and most of this future's size.
                None => (Box::pin(self.connect()).await?, false),
            };
            if sender.ready().await.is_err() {
                if pooled {
                    continue;
                }
                return Err("the upstream closed the new connection before any request".into());
            }
            match sender.try_send_request(req).await {
                Ok(response) => {
                    let lease = Lease {
                        pool: self.clone(),
                        sender,
                    };
                    return Ok((response, Some(lease)));
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) if pooled => req = unsent,
                    _ => return Err(e.into_error().into()),
                },
            }
        }
    }
}

/// The TLS connector, telling the upstream what each new connection
/// negotiated.
#[derive(Clone)]
struct LearningConnector {
    inner: Https,
    learned: Arc<watch::Sender<Learned>>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Connecting = Pin<
    Box<
        dyn Future<Output = Result<<Https as tower_service::Service<Uri>>::Response, BoxError>>
            + Send,
    >,
>;

impl tower_service::Service<Uri> for LearningConnector {
    type Response = <Https as tower_service::Service<Uri>>::Response;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Connecting {
        let connecting = self.inner.call(uri);
        let learned = self.learned.clone();
        Box::pin(async move {
            let conn = connecting.await?;
            learned.send_replace(if conn.connected().is_negotiated_h2() {
                Learned::Http2
            } else {
                Learned::Http1
            });
            Ok(conn)
        })
    }
}

/// The system's roots, loaded once: parsing the system bundle takes
/// milliseconds, and every upstream uses it.
fn system_roots() -> &'static Result<Vec<CertificateDer<'static>>, String> {
    static ROOTS: OnceLock<Result<Vec<CertificateDer<'static>>, String>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        if found.certs.is_empty() {
            Err(found
                .errors
                .first()
                .map(|e| e.to_string())
                .unwrap_or_else(|| "none found".to_owned()))
        } else {
            Ok(found.certs)
        }
    })
}

fn trust_anchors(ca_file: Option<&Path>) -> Result<RootCertStore, UpstreamError> {
    let mut store = RootCertStore::empty();
    match system_roots() {
        Ok(certs) => {
            // A system bundle can hold a certificate webpki cannot use;
            // skip those as every rustls client does.
            store.add_parsable_certificates(certs.iter().cloned());
        }
        Err(reason) if ca_file.is_none() => return Err(UpstreamError::NoRoots(reason.clone())),
        Err(_) => {}
    }
    if let Some(path) = ca_file {
        let bad = |reason: String| UpstreamError::CaFile {
            path: path.to_path_buf(),
            reason,
        };
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
            let cert = cert.map_err(|e| bad(e.to_string()))?;
            store.add(cert).map_err(|e| bad(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(bad("it holds no certificate".to_owned()));
        }
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_urls() {
        assert!(matches!(
            Upstream::new("http://api.example.com", None),
            Err(UpstreamError::NotHttps(_))
        ));
        assert!(matches!(
            Upstream::new("api.example.com", None),
            Err(UpstreamError::BadUrl(_))
        ));
        assert!(matches!(
            Upstream::new("https://api.example.com/v1?x=1", None),
            Err(UpstreamError::QueryInUrl(_))
        ));
    }

    #[test]
    fn missing_ca_file_says_which() {
        let err = Upstream::new(
            "https://api.example.com",
            Some(Path::new("/nonexistent/ca.pem")),
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
