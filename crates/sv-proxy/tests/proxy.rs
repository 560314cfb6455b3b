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
