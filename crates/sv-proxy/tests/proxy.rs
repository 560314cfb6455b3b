//! The proxy against a mock provider over real TLS.

mod common;

use bytes::Bytes;
use common::*;
use http::{Method, Request, StatusCode, Version};
use http_body_util::Full;
use std::sync::Arc;
use sv_proxy::{AuthPlace, Outcome, ProxyConfig, Upstream};

const CLAUDE_KEY: &str = "sk-ant-api03-REALclaudeKEY0123456789abcdefghijklmnopqrstuvwxyzAA";
const CLAUDE_STAND: &str = "sk-ant-api03-standinclaude0123456789abcdefghijklmnopqrstuvwxyzAA";
const OPENAI_KEY: &str = "sk-proj-REALopenaiKEY0123456789abcdefghijklmnop";
const OPENAI_STAND: &str = "sk-proj-standinopenai0123456789abcdefghijklmnop";
const GEMINI_KEY: &str = "AIzaREALgeminiKEY0123456789abcdefghijkl";
const GEMINI_STAND: &str = "AIzastandingemini0123456789abcdefghijkl";
const QUERY_KEY: &str = "AIzaREALqueryKEY0123456789abcdefghijklm";
const QUERY_STAND: &str = "AIzastandinquery0123456789abcdefghijklm";

fn get(uri: &str) -> http::request::Builder {
    Request::builder().method(Method::GET).uri(uri)
}

fn post(uri: &str) -> http::request::Builder {
    Request::builder().method(Method::POST).uri(uri)
}

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

/// Every header value and the path the mock saw, joined, to look for keys in.
fn everything(seen: &Seen) -> String {
    let mut all = seen.path_and_query.clone();
    for (name, value) in &seen.headers {
        all.push_str(&format!(
            "\n{name}: {}",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    all.push_str(&String::from_utf8_lossy(&seen.body));
    all
}

async fn substitution(alpn: Alpn) {
    let ca = TestCa::new();
    let mock = mock(&ca, alpn, answer(200, r#"{"ok":true}"#)).await;
    let vault = Arc::new(TestVault::default());
    let plain = Arc::new(Upstream::new(&mock.url(), Some(&ca.ca_file)).unwrap());
    let based =
        Arc::new(Upstream::new(&format!("{}/openai/", mock.url()), Some(&ca.ca_file)).unwrap());
    vault.issue(
        CLAUDE_STAND,
        "claude",
        CLAUDE_KEY,
        plain.clone(),
        AuthPlace::XApiKey,
    );
    vault.issue(OPENAI_STAND, "codex", OPENAI_KEY, based, AuthPlace::Bearer);
    vault.issue(
        GEMINI_STAND,
        "gemini",
        GEMINI_KEY,
        plain.clone(),
        AuthPlace::XGoogApiKey,
    );
    vault.issue(QUERY_STAND, "gquery", QUERY_KEY, plain, AuthPlace::QueryKey);
    let proxy = proxy(&vault, ProxyConfig::default()).await;
    let at = proxy.local_addr();

    // Claude Code: x-api-key, and the same stand-in as a bearer token.
    let r = send(
        at,
        post("/t/claude/v1/messages?beta=true")
            .header("x-api-key", CLAUDE_STAND)
            .header("authorization", format!("Bearer {CLAUDE_STAND}"))
            .header("anthropic-version", "2023-06-01")
            .header("connection", "keep-alive, x-hop")
            .header("x-hop", "dropped")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(b"{\"model\":\"m\"}")))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body_text(r).await, r#"{"ok":true}"#);

    // Codex: bearer, toward an upstream with a base path.
    let r = send(
        at,
        post("/t/codex/v1/responses")
            .header("authorization", format!("Bearer {OPENAI_STAND}"))
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    // Gemini CLI: x-goog-api-key.
    let r = send(
        at,
        post("/t/gemini/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse")
            .header("x-goog-api-key", GEMINI_STAND)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    // ?key= in the query.
    let r = send(
        at,
        get(&format!(
            "/t/gquery/v1beta/models?pageSize=5&key={QUERY_STAND}"
        ))
        .body(empty())
        .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    let seen = mock.seen();
    assert_eq!(seen.len(), 4);
    let want_version = if alpn == Alpn::H2 {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    };
    for s in &seen {
        assert_eq!(s.version, want_version);
        assert_eq!(s.host, mock.addr.to_string(), "Host is the pinned upstream");
        let all = everything(s);
        for stand_in in [CLAUDE_STAND, OPENAI_STAND, GEMINI_STAND, QUERY_STAND] {
            assert!(!all.contains(stand_in), "a stand-in went upstream:\n{all}");
        }
        assert_eq!(s.headers["accept-encoding"], "identity");
    }

    let claude = &seen[0];
    assert_eq!(claude.path_and_query, "/v1/messages?beta=true");
    assert_eq!(claude.headers["x-api-key"], CLAUDE_KEY);
    assert!(!claude.headers.contains_key("authorization"));
    assert_eq!(claude.headers["anthropic-version"], "2023-06-01");
    assert!(!claude.headers.contains_key("x-hop") && !claude.headers.contains_key("connection"));
    assert_eq!(&claude.body[..], b"{\"model\":\"m\"}");

    let codex = &seen[1];
    assert_eq!(codex.path_and_query, "/openai/v1/responses");
    assert_eq!(
        codex.headers["authorization"],
        format!("Bearer {OPENAI_KEY}").as_str()
    );
    assert!(!everything(codex).contains(CLAUDE_KEY));

    let gemini = &seen[2];
    assert_eq!(
        gemini.path_and_query,
        "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    );
    assert_eq!(gemini.headers["x-goog-api-key"], GEMINI_KEY);

    let query = &seen[3];
    assert_eq!(
        query.path_and_query,
        format!("/v1beta/models?pageSize=5&key={QUERY_KEY}")
    );

    // Each key went only where its tool's key goes.
    for (s, key) in seen
        .iter()
        .zip([CLAUDE_KEY, OPENAI_KEY, GEMINI_KEY, QUERY_KEY])
    {
        let all = everything(s);
        for other in [CLAUDE_KEY, OPENAI_KEY, GEMINI_KEY, QUERY_KEY] {
            assert_eq!(
                all.matches(other).count(),
                usize::from(other == key),
                "{all}"
            );
        }
    }

    let records = vault.wait_records(4).await;
    let mut paths: Vec<_> = records
        .iter()
        .map(|r| (r.tool.clone(), r.path.clone()))
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            ("claude".to_owned(), "/v1/messages?beta".to_owned()),
            ("codex".to_owned(), "/openai/v1/responses".to_owned()),
            (
                "gemini".to_owned(),
                "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt".to_owned()
            ),
            (
                "gquery".to_owned(),
                "/v1beta/models?pageSize&key".to_owned()
            ),
        ]
    );
    for r in &records {
        assert_eq!(r.status, 200);
        assert_eq!(r.outcome, Outcome::Completed);
        assert_eq!(r.host.as_deref(), Some(mock.addr.to_string().as_str()));
        assert_eq!(
            r.session.as_deref(),
            Some(format!("session-of-{}", r.tool).as_str())
        );
        assert_eq!(r.bytes_down, 11);
        let shown = format!("{r:?}");
        for secret in [CLAUDE_KEY, OPENAI_KEY, GEMINI_KEY, QUERY_KEY, QUERY_STAND] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
    let claude = records.iter().find(|r| r.tool == "claude").unwrap();
    assert_eq!(claude.bytes_up, 13);
    assert_eq!(claude.method, "POST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn substitution_at_each_auth_place_http1() {
    substitution(Alpn::H1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn substitution_at_each_auth_place_http2() {
    substitution(Alpn::H2).await;
}

/// A proxy with the three built-in shapes issued toward `mock`.
async fn setup(
    alpn: Alpn,
    handler: Handler,
    config: ProxyConfig,
) -> (TestCa, Mock, Arc<TestVault>, sv_proxy::ProxyServer) {
    let ca = TestCa::new();
    let mock = mock(&ca, alpn, handler).await;
    let vault = Arc::new(TestVault::default());
    let upstream = Arc::new(Upstream::new(&mock.url(), Some(&ca.ca_file)).unwrap());
    vault.issue(
        CLAUDE_STAND,
        "claude",
        CLAUDE_KEY,
        upstream.clone(),
        AuthPlace::XApiKey,
    );
    vault.issue(
        OPENAI_STAND,
        "codex",
        OPENAI_KEY,
        upstream.clone(),
        AuthPlace::Bearer,
    );
    vault.issue(
        GEMINI_STAND,
        "gemini",
        GEMINI_KEY,
        upstream,
        AuthPlace::XGoogApiKey,
    );
    let proxy = proxy(&vault, config).await;
    (ca, mock, vault, proxy)
}

/// A vault with Claude's stand-in pinned to the upstream at `url`.
fn claude_vault(url: &str, ca: &TestCa) -> Arc<TestVault> {
    let vault = Arc::new(TestVault::default());
    let upstream = Arc::new(Upstream::new(url, Some(&ca.ca_file)).unwrap());
    vault.issue(
        CLAUDE_STAND,
        "claude",
        CLAUDE_KEY,
        upstream,
        AuthPlace::XApiKey,
    );
    vault
}

/// A proxy with Claude's stand-in pinned to the upstream at `url`.
async fn claude_proxy_to(url: &str, ca: &TestCa) -> (Arc<TestVault>, sv_proxy::ProxyServer) {
    let vault = claude_vault(url, ca);
    let proxy = proxy(&vault, ProxyConfig::default()).await;
    (vault, proxy)
}

fn claude_request() -> Request<Full<Bytes>> {
    post("/t/claude/v1/messages")
        .header("x-api-key", CLAUDE_STAND)
        .body(Full::new(Bytes::from_static(b"{\"stream\":true}")))
        .unwrap()
}

async fn next_data(body: &mut hyper::body::Incoming) -> Option<Bytes> {
    use http_body_util::BodyExt;
    let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame())
        .await
        .expect("a frame within 5 s")?;
    Some(frame.unwrap().into_data().unwrap())
}

async fn sse_event_by_event(alpn: Alpn) {
    let (handler, mut senders) = streaming();
    let (_ca, _mock, vault, proxy) = setup(alpn, handler, ProxyConfig::default()).await;
    let response = send(proxy.local_addr(), claude_request()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let upstream = senders.recv().await.unwrap();
    let mut body = response.into_body();
    let events = [
        "event: message_start\ndata: {\"type\":\"message_start\"}\n\n",
        "event: content_block_delta\ndata: {\"delta\":\"Hel\"}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    ];
    for event in events {
        // The upstream sends the next event only once the agent has the
        // previous one: a proxy that buffered would stall here.
        upstream
            .send(Bytes::from_static(event.as_bytes()))
            .await
            .unwrap();
        assert_eq!(next_data(&mut body).await.unwrap(), event.as_bytes());
    }
    drop(upstream);
    assert!(next_data(&mut body).await.is_none());
    let records = vault.wait_records(1).await;
    assert_eq!(records[0].outcome, Outcome::Completed);
    assert_eq!(records[0].bytes_down as usize, events.concat().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_is_streamed_event_by_event_http1() {
    sse_event_by_event(Alpn::H1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_is_streamed_event_by_event_http2() {
    sse_event_by_event(Alpn::H2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echoed_key_split_across_two_chunks_is_scrubbed() {
    let (handler, mut senders) = streaming();
    let (_ca, _mock, _vault, proxy) = setup(Alpn::H2, handler, ProxyConfig::default()).await;
    let response = send(proxy.local_addr(), claude_request()).await;
    let upstream = senders.recv().await.unwrap();
    let mut body = response.into_body();
    let (head, tail) = CLAUDE_KEY.split_at(20);
    upstream
        .send(Bytes::from(format!("data: {{\"error\":\"bad key {head}")))
        .await
        .unwrap();
    // Everything before the possible key start arrives at once; the
    // possible start is held back.
    assert_eq!(
        &next_data(&mut body).await.unwrap()[..],
        b"data: {\"error\":\"bad key "
    );
    upstream
        .send(Bytes::from(format!("{tail}\"}}\n\n")))
        .await
        .unwrap();
    assert_eq!(
        next_data(&mut body).await.unwrap(),
        format!("{CLAUDE_STAND}\"}}\n\n").as_bytes()
    );
    // A partial key at the very end is let out at the end of the stream.
    upstream
        .send(Bytes::from_static(b"sk-ant-api0"))
        .await
        .unwrap();
    drop(upstream);
    assert_eq!(&next_data(&mut body).await.unwrap()[..], b"sk-ant-api0");
    assert!(next_data(&mut body).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echoed_key_in_headers_and_fixed_length_body_is_scrubbed() {
    let body = format!("{{\"error\":\"invalid x-api-key {CLAUDE_KEY} ({CLAUDE_KEY})\"}}");
    let handler = answer_with(
        401,
        body.clone(),
        vec![("x-echo", format!("key={CLAUDE_KEY}"))],
    );
    let (_ca, _mock, _vault, proxy) = setup(Alpn::H1, handler, ProxyConfig::default()).await;
    let response = send(proxy.local_addr(), claude_request()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["x-echo"],
        format!("key={CLAUDE_STAND}").as_str()
    );
    assert_eq!(
        response.headers()["content-length"],
        body.len().to_string().as_str()
    );
    assert_eq!(
        body_text(response).await,
        body.replace(CLAUDE_KEY, CLAUDE_STAND)
    );
}

fn error_json(text: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(v["error"]["type"], "session_vault", "{text}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_stand_ins_get_401_or_503_and_nothing_goes_upstream() {
    let (_ca, mock, vault, proxy) =
        setup(Alpn::H1, answer(200, "{}"), ProxyConfig::default()).await;
    let at = proxy.local_addr();
    let claude = |key: &str| {
        post("/t/claude/v1/messages")
            .header("x-api-key", key)
            .body(empty())
            .unwrap()
    };

    // Another tool's live stand-in.
    let r = send(at, claude(GEMINI_STAND)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let msg = error_json(&body_text(r).await)["error"]["message"].to_string();
    assert!(
        msg.contains("`gemini`") && msg.contains("exec --proxy --tool claude"),
        "{msg}"
    );

    // Never issued.
    let r = send(at, claude("sk-ant-api03-madeup")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let msg = error_json(&body_text(r).await)["error"]["message"].to_string();
    assert!(
        msg.contains("not a live stand-in") && msg.contains("exec --proxy"),
        "{msg}"
    );

    // No key at all (a query, whose value the audit record drops).
    let r = send(
        at,
        post("/t/claude/v1/messages?beta=true")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(body_text(r).await.contains("exec --proxy"));

    // The right stand-in in another tool's place.
    let r = send(
        at,
        post("/t/claude/v1/messages")
            .header("authorization", format!("Bearer {CLAUDE_STAND}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(body_text(r).await.contains("x-api-key header"));

    // Dead: the process it was bound to has exited.
    vault.kill(CLAUDE_STAND);
    let r = send(at, claude(CLAUDE_STAND)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let msg = error_json(&body_text(r).await)["error"]["message"].to_string();
    assert!(
        msg.contains("expired") && msg.contains("exec --proxy"),
        "{msg}"
    );

    // Locked vault.
    vault
        .locked
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let r = send(at, claude(CLAUDE_STAND)).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let v = error_json(&body_text(r).await);
    assert!(v["error"]["message"]
        .to_string()
        .contains("run `session-vault unlock`"));

    assert!(
        mock.seen().is_empty(),
        "a refused request reached the upstream"
    );
    let records = vault.wait_records(6).await;
    assert!(records
        .iter()
        .all(|r| r.outcome == Outcome::Refused && r.tool == "claude"));
    assert_eq!(
        records.iter().map(|r| r.status).collect::<Vec<_>>(),
        [401, 401, 401, 401, 401, 503]
    );
    // A refused request's record has the path it asked for, query values
    // dropped.
    assert_eq!(
        records.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
        [
            "/t/claude/v1/messages",
            "/t/claude/v1/messages",
            "/t/claude/v1/messages?beta",
            "/t/claude/v1/messages",
            "/t/claude/v1/messages",
            "/t/claude/v1/messages",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_uri_forged_host_connect_and_upgrade_never_steer_the_key() {
    let (_ca, mock, _vault, proxy) =
        setup(Alpn::H1, answer(200, "{}"), ProxyConfig::default()).await;
    let at = proxy.local_addr();

    let absolute = raw(
        at,
        &format!(
            "POST http://evil.example/t/claude/v1/messages HTTP/1.1\r\nHost: evil.example\r\n\
             x-api-key: {CLAUDE_STAND}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(absolute.starts_with("HTTP/1.1 400"), "{absolute}");
    assert!(absolute.contains("not a forward proxy"));

    let to_upstream = raw(
        at,
        &format!(
            "GET https://{}/v1/models HTTP/1.1\r\nHost: {}\r\nx-api-key: {CLAUDE_STAND}\r\n\
             Connection: close\r\n\r\n",
            mock.addr, mock.addr
        ),
    )
    .await;
    assert!(to_upstream.starts_with("HTTP/1.1 400"), "{to_upstream}");

    let connect = raw(
        at,
        &format!(
            "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\
             x-api-key: {CLAUDE_STAND}\r\n\r\n"
        ),
    )
    .await;
    assert!(connect.starts_with("HTTP/1.1 405"), "{connect}");

    let upgrade = send(
        at,
        get("/t/codex/v1/responses")
            .header("authorization", format!("Bearer {OPENAI_STAND}"))
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(upgrade.status(), StatusCode::UPGRADE_REQUIRED);

    let traversal = send(
        at,
        get("/t/claude/v1/../../x")
            .header("x-api-key", CLAUDE_STAND)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(traversal.status(), StatusCode::BAD_REQUEST);
    assert!(mock.seen().is_empty(), "{:?}", mock.seen());

    // A forged Host is not where the request goes.
    let forged = send(
        at,
        get("/t/claude/v1/models")
            .header("host", "evil.example")
            .header("x-forwarded-host", "evil.example")
            .header("x-api-key", CLAUDE_STAND)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(forged.status(), StatusCode::OK);
    let seen = mock.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].host, mock.addr.to_string());
    assert_eq!(seen[0].headers["host"], mock.addr.to_string().as_str());

    // Not a proxy for anything else either: no tool prefix, no forwarding.
    let bare = send(
        at,
        get("/v1/models")
            .header("x-api-key", CLAUDE_STAND)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(bare.status(), StatusCode::NOT_FOUND);
    assert_eq!(mock.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_redirects_reach_the_agent_as_they_are() {
    let handler = answer_with(
        307,
        String::new(),
        vec![("location", "https://evil.example/steal".to_owned())],
    );
    let (_ca, mock, _vault, proxy) = setup(Alpn::H2, handler, ProxyConfig::default()).await;
    let r = send(proxy.local_addr(), claude_request()).await;
    assert_eq!(r.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(r.headers()["location"], "https://evil.example/steal");
    assert_eq!(mock.seen().len(), 1, "the proxy followed a redirect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_listens_on_loopback_only() {
    let vault = Arc::new(TestVault::default());
    let err =
        sv_proxy::ProxyServer::start("0.0.0.0:0".parse().unwrap(), vault, ProxyConfig::default())
            .await
            .err()
            .unwrap();
    assert!(err.to_string().contains("loopback"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_or_untrusted_is_502_and_slow_is_504() {
    let ca = TestCa::new();
    let vault = Arc::new(TestVault::default());
    // Nothing listens on a port just freed.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let down = Arc::new(Upstream::new(&format!("https://{free}"), Some(&ca.ca_file)).unwrap());
    vault.issue(CLAUDE_STAND, "claude", CLAUDE_KEY, down, AuthPlace::XApiKey);
    // A server whose certificate no trusted CA signed: one upstream with
    // the system's roots only, one with another test CA.
    let other_ca = TestCa::new();
    let untrusted = mock(&ca, Alpn::H2, answer(200, "{}")).await;
    let system_only = Arc::new(Upstream::new(&untrusted.url(), None).unwrap());
    vault.issue(
        OPENAI_STAND,
        "codex",
        OPENAI_KEY,
        system_only,
        AuthPlace::Bearer,
    );
    let wrong_ca = Arc::new(Upstream::new(&untrusted.url(), Some(&other_ca.ca_file)).unwrap());
    vault.issue(
        GEMINI_STAND,
        "gemini",
        GEMINI_KEY,
        wrong_ca,
        AuthPlace::XGoogApiKey,
    );
    let (handler, mut hung) = hanging();
    let slow = mock(&ca, Alpn::H1, handler).await;
    let slow_up = Arc::new(Upstream::new(&slow.url(), Some(&ca.ca_file)).unwrap());
    vault.issue(
        QUERY_STAND,
        "slow",
        QUERY_KEY,
        slow_up,
        AuthPlace::XGoogApiKey,
    );
    let config = ProxyConfig {
        response_timeout: std::time::Duration::from_millis(500),
        ..ProxyConfig::default()
    };
    let proxy = proxy(&vault, config).await;
    let at = proxy.local_addr();

    let r = send(at, claude_request()).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let msg = error_json(&body_text(r).await)["error"]["message"].to_string();
    assert!(msg.contains("could not be reached"), "{msg}");

    for (tool, place, stand_in) in [
        ("codex", "authorization", format!("Bearer {OPENAI_STAND}")),
        ("gemini", "x-goog-api-key", GEMINI_STAND.to_owned()),
    ] {
        let r = send(
            at,
            post(&format!("/t/{tool}/v1/x"))
                .header(place, stand_in)
                .body(empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY, "{tool}");
        let msg = error_json(&body_text(r).await)["error"]["message"].to_string();
        assert!(msg.contains("certificate"), "{tool}: {msg}");
    }
    assert!(
        untrusted.seen().is_empty(),
        "a request crossed an unverified TLS connection"
    );

    let started = std::time::Instant::now();
    let r = send(
        at,
        post("/t/slow/v1/x")
            .header("x-goog-api-key", QUERY_STAND)
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let records = vault.wait_records(4).await;
    assert!(
        records.iter().all(|r| r.outcome == Outcome::UpstreamFailed),
        "{records:?}"
    );
    // The timed-out request was given up upstream too.
    let dropped = hung.recv().await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), dropped)
        .await
        .expect("the upstream request is dropped after the timeout")
        .unwrap();
}

async fn client_disconnect_frees_the_upstream(alpn: Alpn) {
    use tokio::io::AsyncWriteExt;
    // Before the response head: the agent gives up while the provider thinks.
    let (handler, mut hung) = hanging();
    let (_ca, mock, vault, proxy) = setup(alpn, handler, ProxyConfig::default()).await;
    let mut tcp = tokio::net::TcpStream::connect(proxy.local_addr())
        .await
        .unwrap();
    tcp.write_all(
        format!(
            "POST /t/claude/v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: {CLAUDE_STAND}\r\n\
             Content-Length: 2\r\n\r\n{{}}"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let dropped = hung.recv().await.unwrap();
    assert_eq!(mock.seen().len(), 1);
    drop(tcp);
    tokio::time::timeout(std::time::Duration::from_secs(5), dropped)
        .await
        .expect("the upstream request is dropped when the agent leaves")
        .unwrap();
    let records = vault.wait_records(1).await;
    assert_eq!(records[0].outcome, Outcome::ClientGone);
    assert_eq!(records[0].status, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_before_the_answer_frees_the_upstream_http1() {
    client_disconnect_frees_the_upstream(Alpn::H1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_before_the_answer_frees_the_upstream_http2() {
    client_disconnect_frees_the_upstream(Alpn::H2).await;
}

async fn client_disconnect_mid_stream(alpn: Alpn) {
    let (handler, mut senders) = streaming();
    let (_ca, _mock, vault, proxy) = setup(alpn, handler, ProxyConfig::default()).await;
    let mut sender = connect(proxy.local_addr()).await;
    let mut req = claude_request();
    req.headers_mut().insert("host", "x".parse().unwrap());
    let response = sender.send_request(req).await.unwrap();
    let upstream = senders.recv().await.unwrap();
    let mut body = response.into_body();
    upstream
        .send(Bytes::from_static(b"data: 1\n\n"))
        .await
        .unwrap();
    assert_eq!(&next_data(&mut body).await.unwrap()[..], b"data: 1\n\n");
    // The agent is killed mid-stream: its connection closes.
    drop(body);
    drop(sender);
    tokio::time::timeout(std::time::Duration::from_secs(5), upstream.closed())
        .await
        .expect("the upstream stream is closed when the agent leaves");
    let records = vault.wait_records(1).await;
    assert_eq!(records[0].outcome, Outcome::ClientGone);
    assert_eq!(records[0].status, 200);
    assert_eq!(records[0].bytes_down, 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_mid_stream_frees_the_upstream_http1() {
    client_disconnect_mid_stream(Alpn::H1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_mid_stream_frees_the_upstream_http2() {
    client_disconnect_mid_stream(Alpn::H2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_streams() {
    const STREAMS: usize = 1000;
    // Each stream: an event, a pause, two more events; all streams open at
    // once.
    let handler: Handler = Arc::new(|_| {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let _ = tx.send(Bytes::from_static(b"data: 1\n\n")).await;
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let _ = tx.send(Bytes::from_static(b"data: 2\n\n")).await;
            let _ = tx.send(Bytes::from_static(b"data: [DONE]\n\n")).await;
        });
        Box::pin(async move { streamed_response(rx, "text/event-stream") })
    });
    let (_ca, mock, vault, proxy) = setup(Alpn::H2, handler, ProxyConfig::default()).await;
    let at = proxy.local_addr();
    let started = std::time::Instant::now();
    let barrier = Arc::new(tokio::sync::Barrier::new(STREAMS + 1));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..STREAMS {
        let barrier = barrier.clone();
        tasks.spawn(async move {
            let mut sender = connect(at).await;
            barrier.wait().await;
            let mut req = claude_request();
            req.headers_mut().insert("host", "x".parse().unwrap());
            let response = sender.send_request(req).await.unwrap();
            let status = response.status();
            let body = body_text(response).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        });
    }
    barrier.wait().await;
    eprintln!(
        "{STREAMS} agent connections open after {:?}",
        started.elapsed()
    );
    let all = tokio::time::timeout(std::time::Duration::from_secs(120), async {
        let mut done = 0;
        while let Some(body) = tasks.join_next().await {
            assert_eq!(body.unwrap(), "data: 1\n\ndata: 2\n\ndata: [DONE]\n\n");
            done += 1;
        }
        done
    })
    .await
    .expect("1000 streams within 120 s");
    assert_eq!(all, STREAMS);
    eprintln!(
        "{STREAMS} concurrent streams in {:?} over {} upstream connection(s)",
        started.elapsed(),
        mock.connections.load(std::sync::atomic::Ordering::Relaxed)
    );
    assert_eq!(mock.seen().len(), STREAMS);
    // One connection learned that the upstream speaks HTTP/2; the other
    // streams shared the HTTP/2 pool's connection. That pool (hyper-util's)
    // has been seen to open a second one when the machine is loaded: 3 at
    // most, never one per stream.
    let connections = mock.connections.load(std::sync::atomic::Ordering::Relaxed);
    assert!(connections <= 3, "{connections} upstream connections");
    let records = vault.wait_records(STREAMS).await;
    assert!(records.iter().all(|r| r.outcome == Outcome::Completed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stand_in_like_a_stored_key_goes_through() {
    let ca = TestCa::new();
    let mock = mock(&ca, Alpn::H1, answer(200, "{}")).await;
    let vault = Arc::new(TestVault::default());
    let upstream = Arc::new(Upstream::new(&mock.url(), Some(&ca.ca_file)).unwrap());
    let stand_in = sv_proxy::stand_in_like(OPENAI_KEY.as_bytes());
    vault.issue(&stand_in, "codex", OPENAI_KEY, upstream, AuthPlace::Bearer);
    let proxy = proxy(&vault, ProxyConfig::default()).await;
    let r = send(
        proxy.local_addr(),
        post("/t/codex/v1/responses")
            .header("authorization", format!("Bearer {}", stand_in.as_str()))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        mock.seen()[0].headers["authorization"],
        format!("Bearer {OPENAI_KEY}").as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_agent_connection_carries_many_requests_and_head() {
    let (_ca, mock, vault, proxy) =
        setup(Alpn::H2, answer(200, r#"{"ok":1}"#), ProxyConfig::default()).await;
    let mut agent = connect(proxy.local_addr()).await;
    for _ in 0..3 {
        let mut req = claude_request();
        req.headers_mut().insert("host", "x".parse().unwrap());
        agent.ready().await.unwrap();
        let r = agent.send_request(req).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(body_text(r).await, r#"{"ok":1}"#);
    }
    // A HEAD with a stand-in is forwarded; its answer has no body.
    let head = Request::builder()
        .method(Method::HEAD)
        .uri("/t/claude/")
        .header("host", "x")
        .header("x-api-key", CLAUDE_STAND)
        .body(empty())
        .unwrap();
    agent.ready().await.unwrap();
    let r = agent.send_request(head).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body_text(r).await, "");
    // The connection is still usable after it.
    let mut req = claude_request();
    req.headers_mut().insert("host", "x".parse().unwrap());
    agent.ready().await.unwrap();
    let r = agent.send_request(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(mock.seen().len(), 5);
    assert_eq!(mock.seen()[3].method, "HEAD");
    assert_eq!(mock.seen()[3].path_and_query, "/");
    let records = vault.wait_records(5).await;
    assert!(
        records.iter().all(|r| r.outcome == Outcome::Completed),
        "{records:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_length_body_ending_in_a_key_prefix_arrives_whole() {
    for alpn in [Alpn::H1, Alpn::H2] {
        let body = format!("{{\"a\":1}} {}", &CLAUDE_KEY[..30]);
        let handler = answer_with(200, body.clone(), vec![]);
        let (_ca, _mock, vault, proxy) = setup(alpn, handler, ProxyConfig::default()).await;
        let r = send(proxy.local_addr(), claude_request()).await;
        assert_eq!(body_text(r).await, body, "{alpn:?}");
        let records = vault.wait_records(1).await;
        assert_eq!(records[0].outcome, Outcome::Completed);
        assert_eq!(records[0].bytes_down as usize, body.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stand_in_of_another_length_never_keeps_the_upstreams_length() {
    let body = format!("{{\"echo\":\"{CLAUDE_KEY}\"}}");
    let ca = TestCa::new();
    let mock = mock(&ca, Alpn::H1, answer_with(200, body.clone(), vec![])).await;
    let vault = Arc::new(TestVault::default());
    let upstream = Arc::new(Upstream::new(&mock.url(), Some(&ca.ca_file)).unwrap());
    vault.issue(
        "sk-ant-short",
        "claude",
        CLAUDE_KEY,
        upstream,
        AuthPlace::XApiKey,
    );
    let proxy = proxy(&vault, ProxyConfig::default()).await;
    let r = send(
        proxy.local_addr(),
        post("/t/claude/v1/messages")
            .header("x-api-key", "sk-ant-short")
            .body(empty())
            .unwrap(),
    )
    .await;
    let length = r
        .headers()
        .get("content-length")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = body_text(r).await;
    assert_eq!(text, "{\"echo\":\"sk-ant-short\"}");
    // The upstream's length (its body held the longer key) is never passed
    // on: the agent gets the length of what it is sent, or none (chunked).
    assert_ne!(length, Some(body.len().to_string()));
    if let Some(length) = length {
        assert_eq!(length, text.len().to_string());
    }
}

/// A small chunked reply that arrived whole leaves the proxy whole: the
/// body was taken before the head went out, so the agent gets it with its
/// length in one write, not a head, a chunk and an end (docs/proxy.md,
/// "CPU"); a key in it is still replaced.
// On one thread, as the daemon runs the proxy (docs/proxy.md).
#[tokio::test]
async fn a_small_reply_that_arrived_whole_is_sent_whole_with_its_length() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const REPLY: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
        transfer-encoding: chunked\r\n\r\n\
        f\r\n{\"a\":1,\"echo\":\"\r\n\
        40\r\nsk-ant-api03-REALclaudeKEY0123456789abcdefghijklmnopqrstuvwxyzAA\r\n\
        2\r\n\"}\r\n0\r\n\r\n";
    let ca = TestCa::new();
    let url = raw_upstream(&ca, REPLY).await;
    let (vault, proxy) = claude_proxy_to(&url, &ca).await;
    let mut agent = tokio::net::TcpStream::connect(proxy.local_addr())
        .await
        .unwrap();
    let expected_body = format!("{{\"a\":1,\"echo\":\"{CLAUDE_STAND}\"}}");
    for _ in 0..3 {
        let request = format!(
            "POST /t/claude/v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\n\
             x-api-key: {CLAUDE_STAND}\r\ncontent-length: 2\r\n\r\n{{}}"
        );
        agent.write_all(request.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        while !got.ends_with(expected_body.as_bytes()) && !got.ends_with(b"\r\n0\r\n\r\n") {
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(std::time::Duration::from_secs(5), agent.read(&mut chunk))
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no whole reply within 5 s: {}",
                        String::from_utf8_lossy(&got)
                    )
                })
                .unwrap();
            assert!(n > 0, "the proxy closed: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&chunk[..n]);
        }
        let got = String::from_utf8(got).unwrap().to_ascii_lowercase();
        assert!(
            got.contains(&format!("\r\ncontent-length: {}\r\n", expected_body.len())),
            "{got}"
        );
        assert!(!got.contains("transfer-encoding"), "{got}");
    }
    let records = vault.wait_records(3).await;
    assert!(records
        .iter()
        .all(|r| r.outcome == Outcome::Completed && r.bytes_down as usize == expected_body.len()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_upstream_connections_are_reused_and_dropped_ones_replaced() {
    // Requests one after another share one upstream connection, addressed
    // to the pinned upstream whatever `Host` the agent sent.
    let (_ca, mock, vault, first_proxy) =
        setup(Alpn::H1, answer(200, r#"{"ok":1}"#), ProxyConfig::default()).await;
    let mut agent = connect(first_proxy.local_addr()).await;
    for _ in 0..5 {
        let mut req = claude_request();
        req.headers_mut()
            .insert("host", "evil.example".parse().unwrap());
        agent.ready().await.unwrap();
        let r = agent.send_request(req).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(body_text(r).await, r#"{"ok":1}"#);
    }
    let seen = mock.seen();
    assert_eq!(seen.len(), 5);
    assert!(
        seen.iter()
            .all(|s| s.host == format!("localhost:{}", mock.addr.port())
                || s.host == format!("127.0.0.1:{}", mock.addr.port())),
        "{:?}",
        seen.iter().map(|s| &s.host).collect::<Vec<_>>()
    );
    assert!(seen.iter().all(|s| s.path_and_query == "/v1/messages"));
    // The first request learns the protocol on a connection of its own.
    let connections = mock.connections.load(std::sync::atomic::Ordering::Relaxed);
    assert!(connections <= 2, "{connections} upstream connections");
    vault.wait_records(5).await;

    // An upstream that drops every connection after one answer, without a
    // word: each request still gets its answer, on a new connection.
    const REPLY: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\n{\"ok\":2}";
    let ca = TestCa::new();
    let (url, accepted) = raw_upstream_closing(&ca, REPLY, 1).await;
    let (vault, proxy) = claude_proxy_to(&url, &ca).await;
    let mut agent = connect(proxy.local_addr()).await;
    for i in 0..6 {
        agent.ready().await.unwrap();
        let r = agent.send_request(claude_request()).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "request {i}");
        assert_eq!(body_text(r).await, r#"{"ok":2}"#, "request {i}");
        if i % 2 == 1 {
            // Time for the connection's end to arrive before the next
            // request, and none for the other half.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::Relaxed), 6);
    let records = vault.wait_records(6).await;
    assert!(
        records.iter().all(|r| r.outcome == Outcome::Completed),
        "{records:?}"
    );
}

/// The write system calls the thread `task` (`PID/task/TID`, from
/// `/proc/thread-self`) has made so far.
#[cfg(target_os = "linux")]
fn writes_of(task: &std::path::Path) -> u64 {
    let io = std::fs::read_to_string(std::path::Path::new("/proc").join(task).join("io")).unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("syscw: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("syscw in /proc/PID/task/TID/io")
}

/// A keep-alive request costs the proxy's thread two writes: the request to
/// the upstream and the response to the agent. The proxy runs here as the
/// daemon runs it, on a current-thread runtime of its own, and its thread's
/// write calls are counted by the kernel. Tokio wakes its own driver (an
/// eventfd write) whenever a timer is set that is due before every other,
/// and the timers each request sets (hyper's head-read timeout, the
/// response timeout) were each the earliest: three writes a request
/// (docs/proxy.md, "CPU").
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_alive_request_costs_the_proxys_thread_two_writes() {
    let ca = TestCa::new();
    // The first answer closes its connection, which the general client
    // (the one that learns the protocol) then does not keep: a connection
    // kept idle there would keep a timer of its pool due within 90 s, and
    // hide the proxy's own. A daemon's proxy, a minute and a half after
    // its first request, has no such timer either.
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let handler: Handler = Arc::new(move |seen| {
        let first = answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
        let plain = answer(200, r#"{"ok":true}"#);
        Box::pin(async move {
            let mut r = plain(seen).await;
            if first {
                r.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
            r
        })
    });
    let mock = mock(&ca, Alpn::H1, handler).await;
    let vault = claude_vault(&mock.url(), &ca);
    let port: Arc<dyn sv_proxy::StandIns> = vault.clone();
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let server = sv_proxy::ProxyServer::start(
                "127.0.0.1:0".parse().unwrap(),
                port,
                ProxyConfig::default(),
            )
            .await
            .unwrap();
            let task = std::fs::read_link("/proc/thread-self").unwrap();
            ready_tx.send((server.local_addr(), task)).unwrap();
            let _ = stopped.await;
            server.shutdown().await;
        });
    });
    let (addr, task) = ready.recv().unwrap();
    let mut agent = connect(addr).await;
    let mut one = async || {
        agent.ready().await.unwrap();
        let r = agent.send_request(claude_request()).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(body_text(r).await, r#"{"ok":true}"#);
    };
    // The first requests open the upstream connection (its handshake's
    // writes) and learn its protocol.
    for _ in 0..3 {
        one().await;
    }
    const N: u64 = 100;
    let before = writes_of(&task);
    for _ in 0..N {
        one().await;
    }
    let per_request = (writes_of(&task) - before) as f64 / N as f64;
    // 2.0 when every response arrives in one piece; a rare one split in two
    // on the way is written on as it comes.
    assert!(
        per_request < 2.5,
        "{per_request} writes a request on the proxy's thread"
    );
    let _ = stop.send(());
    thread.join().unwrap();
    vault.wait_records(N as usize + 3).await;
}
