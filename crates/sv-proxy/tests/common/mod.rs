//! A mock provider over real TLS (a CA made here with rcgen, trusted
//! through the tool's `ca_file`), a vault port the tests steer, and a plain
//! HTTP/1.1 client for the agent's side.

#![allow(dead_code)]

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use sv_core::SecretString;
use sv_proxy::{
    AuditRecord, AuthPlace, Grant, ProxyConfig, ProxyServer, Refusal, StandIns, Upstream,
};
use sv_testkit::mock::ChannelBody;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

pub type MockBody = BoxBody<Bytes, Infallible>;
pub type HandlerFuture = Pin<Box<dyn Future<Output = Response<MockBody>> + Send>>;
pub type Handler = Arc<dyn Fn(Seen) -> HandlerFuture + Send + Sync>;

/// A test CA and a server certificate for 127.0.0.1 signed by it.
pub struct TestCa {
    _dir: tempfile::TempDir,
    pub ca_file: PathBuf,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl TestCa {
    pub fn new() -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType,
        };
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "session-vault test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        leaf.subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        leaf.distinguished_name
            .push(DnType::CommonName, "mock provider");
        let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();
        TestCa {
            _dir: dir,
            ca_file,
            cert_der: leaf_cert.der().to_vec(),
            key_der: leaf_key.serialize_der(),
        }
    }

    pub fn server_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(self.cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
        )
        .unwrap();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(cfg)
    }
}

/// Which HTTP versions the mock offers in ALPN.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Alpn {
    H1,
    H2,
}

/// What the mock saw of one request.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path_and_query: String,
    pub version: http::Version,
    /// `Host` (HTTP/1.1) or `:authority` (HTTP/2).
    pub host: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

/// A mock provider over TLS, recording every request it gets.
pub struct Mock {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// TLS connections accepted.
    pub connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl Mock {
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Starts a mock whose handler gets each request after it was recorded
/// (the body is read first and passed on as `Seen::body`).
pub async fn mock(ca: &TestCa, alpn: Alpn, handler: Handler) -> Mock {
    let protocols: &[&[u8]] = match alpn {
        Alpn::H1 => &[b"http/1.1"],
        Alpn::H2 => &[b"h2", b"http/1.1"],
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(ca.server_config(protocols));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let connections2 = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            connections2.fetch_add(1, Ordering::Relaxed);
            let acceptor = acceptor.clone();
            let handler = handler.clone();
            let seen = seen2.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |req: Request<Incoming>| {
                    let handler = handler.clone();
                    let seen = seen.clone();
                    async move {
                        let host = req
                            .uri()
                            .authority()
                            .map(|a| a.to_string())
                            .or_else(|| {
                                req.headers()
                                    .get(http::header::HOST)
                                    .and_then(|h| h.to_str().ok())
                                    .map(str::to_owned)
                            })
                            .unwrap_or_default();
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        let request = Seen {
                            method: parts.method.to_string(),
                            path_and_query: parts
                                .uri
                                .path_and_query()
                                .map(|p| p.to_string())
                                .unwrap_or_default(),
                            version: parts.version,
                            host,
                            headers: parts.headers,
                            body,
                        };
                        seen.lock().unwrap().push(request.clone());
                        Ok::<_, Infallible>(handler(request).await)
                    }
                });
                let mut builder =
                    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                builder.http2().max_concurrent_streams(4000);
                let _ = builder.serve_connection(TokioIo::new(tls), service).await;
            });
        }
    });
    Mock {
        addr,
        seen,
        connections,
    }
}

/// A handler answering every request with `status` and `body` as JSON.
pub fn answer(status: u16, body: &'static str) -> Handler {
    Arc::new(move |_| {
        Box::pin(async move {
            let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())).boxed());
            *r.status_mut() = StatusCode::from_u16(status).unwrap();
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            r
        })
    })
}

pub fn streamed_response(
    rx: mpsc::Receiver<Bytes>,
    content_type: &'static str,
) -> Response<MockBody> {
    let mut r = Response::new(ChannelBody(rx).boxed());
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    r
}

struct Entry {
    tool: String,
    key: &'static str,
    upstream: Arc<Upstream>,
    auth: AuthPlace,
    alive: bool,
}

/// The daemon's side, steered by the tests.
#[derive(Default)]
pub struct TestVault {
    entries: Mutex<HashMap<String, Entry>>,
    pub locked: AtomicBool,
    pub records: Mutex<Vec<AuditRecord>>,
    pub audited: tokio::sync::Notify,
}

impl TestVault {
    pub fn issue(
        &self,
        stand_in: &str,
        tool: &str,
        key: &'static str,
        upstream: Arc<Upstream>,
        auth: AuthPlace,
    ) {
        self.entries.lock().unwrap().insert(
            stand_in.to_owned(),
            Entry {
                tool: tool.to_owned(),
                key,
                upstream,
                auth,
                alive: true,
            },
        );
    }

    pub fn kill(&self, stand_in: &str) {
        self.entries
            .lock()
            .unwrap()
            .get_mut(stand_in)
            .unwrap()
            .alive = false;
    }

    pub fn records(&self) -> Vec<AuditRecord> {
        self.records.lock().unwrap().clone()
    }

    /// Waits until at least `n` audit records were written.
    pub async fn wait_records(&self, n: usize) -> Vec<AuditRecord> {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let notified = self.audited.notified();
                if self.records.lock().unwrap().len() >= n {
                    return self.records();
                }
                notified.await;
            }
        })
        .await
        .expect("audit records within 10 s")
    }
}

impl StandIns for TestVault {
    fn resolve(&self, tool: &str, stand_in: &str) -> Result<Grant, Refusal> {
        if self.locked.load(Ordering::SeqCst) {
            return Err(Refusal::Locked);
        }
        let entries = self.entries.lock().unwrap();
        let e = entries.get(stand_in).ok_or(Refusal::Unknown)?;
        if !e.alive {
            return Err(Refusal::Dead);
        }
        if e.tool != tool {
            return Err(Refusal::OtherTool(e.tool.clone()));
        }
        Ok(Grant {
            key: SecretString::from(e.key),
            upstream: e.upstream.clone(),
            auth: e.auth,
            session: format!("session-of-{}", e.tool),
        })
    }

    fn audit(&self, record: AuditRecord) {
        self.records.lock().unwrap().push(record);
        self.audited.notify_waiters();
    }
}

pub async fn proxy(vault: &Arc<TestVault>, config: ProxyConfig) -> ProxyServer {
    ProxyServer::start("127.0.0.1:0".parse().unwrap(), vault.clone(), config)
        .await
        .unwrap()
}

/// An HTTP/1.1 connection to the proxy, as an agent opens one.
pub async fn connect(proxy: SocketAddr) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let tcp = TcpStream::connect(proxy).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

/// Sends one request on a fresh connection; `Host` is the proxy's address
/// unless the request sets one.
pub async fn send(proxy: SocketAddr, mut req: Request<Full<Bytes>>) -> Response<Incoming> {
    if !req.headers().contains_key(http::header::HOST) {
        req.headers_mut()
            .insert(http::header::HOST, proxy.to_string().parse().unwrap());
    }
    let mut sender = connect(proxy).await;
    sender.send_request(req).await.unwrap()
}

pub async fn body_text(resp: Response<Incoming>) -> String {
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Writes `raw` on a fresh connection and returns everything the proxy
/// answers until it closes or 2 s pass.
pub async fn raw(proxy: SocketAddr, raw: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = TcpStream::connect(proxy).await.unwrap();
    tcp.write_all(raw.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), tcp.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// A handler answering with `status`, `body` and extra headers, built at
/// run time.
pub fn answer_with(status: u16, body: String, headers: Vec<(&'static str, String)>) -> Handler {
    Arc::new(move |_| {
        let body = body.clone();
        let headers = headers.clone();
        Box::pin(async move {
            let mut r = Response::new(Full::new(Bytes::from(body)).boxed());
            *r.status_mut() = StatusCode::from_u16(status).unwrap();
            for (name, value) in headers {
                r.headers_mut().insert(name, value.parse().unwrap());
            }
            r
        })
    })
}

/// A handler that streams: each request's body sender is handed to the
/// test through the returned receiver.
pub fn streaming() -> (Handler, mpsc::UnboundedReceiver<mpsc::Sender<Bytes>>) {
    let (give, take) = mpsc::unbounded_channel();
    let handler: Handler = Arc::new(move |_| {
        let (tx, rx) = mpsc::channel(16);
        let _ = give.send(tx);
        Box::pin(async move { streamed_response(rx, "text/event-stream") })
    });
    (handler, take)
}

/// Fires when dropped: tells a test that the mock gave up a request.
pub struct DropSignal(pub Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// A handler that never answers, and signals when its request is dropped.
pub fn hanging() -> (
    Handler,
    mpsc::UnboundedReceiver<tokio::sync::oneshot::Receiver<()>>,
) {
    let (give, take) = mpsc::unbounded_channel();
    let handler: Handler = Arc::new(move |_| {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let _ = give.send(rx);
        let signal = DropSignal(Some(tx));
        Box::pin(async move {
            let _signal = signal;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Response::new(Full::new(Bytes::new()).boxed())
        })
    });
    (handler, take)
}

/// An HTTP/1.1 upstream over TLS that answers every request on a
/// connection with `reply`, written as it is in one write: what a provider
/// does with a small reply. Returns its URL.
pub async fn raw_upstream(ca: &TestCa, reply: &'static [u8]) -> String {
    raw_upstream_closing(ca, reply, usize::MAX).await.0
}

/// [`raw_upstream`] that closes each connection, without a word, after
/// `answers` replies (as a provider drops an idle keep-alive connection).
/// Returns its URL and how many connections it accepted.
pub async fn raw_upstream_closing(
    ca: &TestCa,
    reply: &'static [u8],
    answers: usize,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let acceptor = tokio_rustls::TlsAcceptor::from(ca.server_config(&[b"http/1.1"]));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::Relaxed);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut answered = 0;
                // Appends what the connection sends next; false once it ends.
                async fn read_more<S: tokio::io::AsyncRead + Unpin>(
                    tls: &mut S,
                    buf: &mut Vec<u8>,
                ) -> bool {
                    let mut chunk = [0u8; 4096];
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => false,
                        Ok(n) => {
                            buf.extend_from_slice(&chunk[..n]);
                            true
                        }
                    }
                }
                while answered < answers {
                    answered += 1;
                    // One request: its head, then a Content-Length body.
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        if !read_more(&mut tls, &mut buf).await {
                            return;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + length {
                        if !read_more(&mut tls, &mut buf).await {
                            return;
                        }
                    }
                    buf.drain(..head_end + length);
                    if tls.write_all(reply).await.is_err() || tls.flush().await.is_err() {
                        return;
                    }
                }
                let _ = tls.shutdown().await;
            });
        }
    });
    (format!("https://127.0.0.1:{}", addr.port()), connections)
}
