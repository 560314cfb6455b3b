//! A keep-alive load client for the proxy benchmark (bench/proxy.sh): N
//! clients, each on its own HTTP/1.1 connection, closed loop. Measures
//! latency per request and requests/s, time to the first SSE event, and each
//! event's one-way delay (the mock stamps events with CLOCK_MONOTONIC when it
//! sends them; the client reads the same clock when it parses them).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;

/// Where the load goes.
#[derive(Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    /// TLS with this client configuration, else plain HTTP.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Extra request headers (e.g. the key a header-adding proxy replaces).
    pub headers: Vec<(String, String)>,
    /// The request path (e.g. `/v1/messages`).
    pub path: String,
}

impl Target {
    /// `http://HOST:PORT/PATH` or `https://…` (then `ca_file` is trusted).
    pub fn parse(url: &str, ca_file: Option<&std::path::Path>) -> std::io::Result<Target> {
        let bad = || std::io::Error::other(format!("{url}: expected http(s)://HOST:PORT[/PATH]"));
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(bad());
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = authority.rsplit_once(':').ok_or_else(bad)?;
        let port = port.parse().map_err(|_| bad())?;
        let tls = match (tls, ca_file) {
            (true, Some(ca)) => Some(crate::tls::client_config(ca, &[b"http/1.1"])?),
            (true, None) => {
                return Err(std::io::Error::other(
                    "an https target needs --ca (the mock's ca.pem)",
                ))
            }
            (false, _) => None,
        };
        Ok(Target {
            host: host.to_owned(),
            port,
            tls,
            headers: Vec::new(),
            path: if path.is_empty() { "/" } else { path }.to_owned(),
        })
    }

    async fn connect(&self) -> std::io::Result<SendRequest<Full<Bytes>>> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await?;
        tcp.set_nodelay(true)?;
        match &self.tls {
            Some(config) => {
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(crate::tls::server_name(), tcp)
                    .await?;
                handshake(TokioIo::new(tls)).await
            }
            None => handshake(TokioIo::new(tcp)).await,
        }
    }

    fn request(&self, path: &str, body: &Bytes) -> Request<Full<Bytes>> {
        let mut req = Request::post(path)
            .header("host", format!("{}:{}", self.host, self.port))
            .header("content-type", "application/json")
            .header("anthropic-version", "2023-06-01");
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        req.body(Full::new(body.clone())).expect("a valid request")
    }
}

async fn handshake<I>(io: I) -> std::io::Result<SendRequest<Full<Bytes>>>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (send, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(conn);
    Ok(send)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn summary(mut ns: Vec<u64>) -> Value {
    ns.sort_unstable();
    let mean = ns.iter().sum::<u64>() as f64 / ns.len().max(1) as f64 / 1000.0;
    json!({"n": ns.len(), "p50_us": round1(percentile(&ns, 0.50)),
        "p99_us": round1(percentile(&ns, 0.99)), "mean_us": round1(mean),
        "max_us": round1(percentile(&ns, 1.0))})
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

const SMALL_BODY: &str =
    r#"{"model":"bench","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#;
const STREAM_BODY: &str = r#"{"model":"bench","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

/// `clients` connections send small non-streamed requests back to back for
/// `warmup` then `duration`; latency and throughput are counted over
/// `duration` only.
pub async fn requests_per_second(
    target: &Target,
    clients: usize,
    warmup: Duration,
    duration: Duration,
) -> std::io::Result<Value> {
    let body = Bytes::from_static(SMALL_BODY.as_bytes());
    let start = Instant::now() + warmup;
    let end = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let mut send = target.connect().await?;
        let target = target.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut errors) = (Vec::new(), 0u64);
            loop {
                if Instant::now() >= end {
                    break;
                }
                // A keep-alive connection takes the next request once the
                // last response is fully read.
                let ready = send.ready().await.is_ok();
                let t0 = Instant::now();
                let ok = ready
                    && match send.send_request(target.request(&target.path, &body)).await {
                        Ok(resp) => {
                            let status = resp.status();
                            resp.into_body().collect().await.is_ok() && status.is_success()
                        }
                        Err(_) => false,
                    };
                if !ok {
                    errors += 1;
                    // The connection may be gone: open another.
                    match target.connect().await {
                        Ok(s) => send = s,
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                    continue;
                }
                if t0 >= start {
                    lat.push(t0.elapsed().as_nanos() as u64);
                }
            }
            (lat, errors)
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (lat, e) = t.await.map_err(std::io::Error::other)?;
        all.extend(lat);
        errors += e;
    }
    let rps = all.len() as f64 / duration.as_secs_f64();
    Ok(
        json!({"mode": "rps", "clients": clients, "seconds": duration.as_secs_f64(),
        "requests": all.len(), "errors": errors, "rps": rps.round(), "latency": summary(all)}),
    )
}

/// `streams` streamed requests one after another on one connection, each
/// answered with `events` stamped SSE events `interval` apart: time to the
/// first event and each event's one-way delay.
pub async fn stream_delays(
    target: &Target,
    streams: usize,
    events: u32,
    interval: Duration,
) -> std::io::Result<Value> {
    let body = Bytes::from_static(STREAM_BODY.as_bytes());
    let path = format!(
        "{}?events={events}&interval_us={}",
        target.path,
        interval.as_micros()
    );
    let mut send = target.connect().await?;
    let (mut first, mut delays, mut received) = (Vec::new(), Vec::new(), 0u64);
    for _ in 0..streams {
        send.ready().await.map_err(std::io::Error::other)?;
        let t0 = Instant::now();
        let resp = send
            .send_request(target.request(&path, &body))
            .await
            .map_err(std::io::Error::other)?;
        if !resp.status().is_success() {
            return Err(std::io::Error::other(format!(
                "stream request answered {}",
                resp.status()
            )));
        }
        let mut body = resp.into_body();
        let mut buf: Vec<u8> = Vec::new();
        let mut seen_first = false;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(std::io::Error::other)?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            let now = crate::monotonic_ns();
            buf.extend_from_slice(data);
            while let Some(end) = find(&buf, b"\n\n") {
                let event: Vec<u8> = buf.drain(..end + 2).collect();
                if let Some(sent) = stamp(&event) {
                    if !seen_first {
                        first.push(t0.elapsed().as_nanos() as u64);
                        seen_first = true;
                    }
                    delays.push(now.saturating_sub(sent));
                    received += 1;
                }
            }
        }
    }
    Ok(
        json!({"mode": "stream", "streams": streams, "events_per_stream": events,
        "interval_us": interval.as_micros() as u64, "events_received": received,
        "first_event": summary(first), "event_delay": summary(delays)}),
    )
}

/// Opens `clients` streams at once and keeps them open for `duration`
/// (events `interval` apart): how many were open together, for measuring a
/// proxy's memory with that many streams.
pub async fn hold_streams(
    target: &Target,
    clients: usize,
    duration: Duration,
    interval: Duration,
) -> std::io::Result<Value> {
    let body = Bytes::from_static(STREAM_BODY.as_bytes());
    let events = (duration.as_micros() / interval.as_micros().max(1)).max(1) as u32;
    let path = format!(
        "{}?events={events}&interval_us={}",
        target.path,
        interval.as_micros()
    );
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let mut send = target.connect().await?;
        let (target, body, path) = (target.clone(), body.clone(), path.clone());
        let (open, peak) = (open.clone(), peak.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(resp) = send.send_request(target.request(&path, &body)).await else {
                return;
            };
            let now = open.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
            let mut body = resp.into_body();
            while let Some(Ok(_)) = body.frame().await {}
            open.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok(json!({"mode": "hold", "clients": clients,
        "peak_open": peak.load(std::sync::atomic::Ordering::SeqCst)}))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The mock's send time in an event: the number after `"t":`.
fn stamp(event: &[u8]) -> Option<u64> {
    let at = find(event, b"\"t\":")? + 4;
    let digits: Vec<u8> = event[at..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}
