//! A mock provider over real TLS, for tests here and in the daemon's and
//! CLI's end-to-end tests: a CA made with rcgen (trusted through a tool's
//! `ca_file`), a server certificate for 127.0.0.1 and `localhost` signed by
//! it, and a server that records every request it gets. Built only with
//! the `testing` feature (dev-dependencies); never in a release.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

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

    fn server_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
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

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
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
