//! A mock provider API: enough of Anthropic Messages, OpenAI Responses and
//! Gemini generateContent for Claude Code, Codex and Gemini CLI to finish a
//! non-interactive prompt (the wire facts are in docs/agents.md).
//!
//! Every request is appended to `requests.jsonl` in the mock's directory
//! (method, path with query, the values of the three auth headers, and the
//! output an Anthropic request carries back from a tool call), so a test can
//! check which key arrived in which header and what the agent's tool saw.
//! With a tool command (`MockConfig::tool_command`) the mock answers
//! Claude's first message with a streamed `Bash` tool call (stop reason
//! `tool_use`) and the request carrying its result with a text that quotes
//! that output. A model request can be
//! held open (`hold_ms`) while the file `holding` exists in that directory,
//! so a test can look at the agent's processes while one is in flight. The
//! reply text can carry a configured string or the key the mock received,
//! split across two writes, to test that a proxy scrubs keys from responses
//! across chunk boundaries. It is not a model: it answers every prompt alike.

use std::convert::Infallible;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// How the mock answers.
#[derive(Clone, Debug)]
pub struct MockConfig {
    /// Where `requests.jsonl`, `holding`, `ca.pem` and `port` go.
    pub dir: PathBuf,
    /// The reply text of every model request.
    pub text: String,
    /// Appended to the reply text, split across two writes of the body.
    pub echo: Option<String>,
    /// Append the key the request carried (whichever auth place) to the
    /// reply text, split across two writes: what a proxy must scrub.
    pub echo_received_key: bool,
    /// Hold each model request this long before answering.
    pub hold_ms: u64,
    /// Claude only: answer a first request with a `Bash` tool call running
    /// this command, and the request carrying its result with that output.
    pub tool_command: Option<String>,
    /// Benchmark streams: this many text events per streamed reply (0: the
    /// normal short reply), each stamped with the mock's monotonic clock.
    pub events: u32,
    /// The pause between two benchmark events.
    pub event_interval_us: u64,
    /// Append each request to `requests.jsonl` (off for load runs).
    pub log: bool,
}

impl MockConfig {
    pub fn new(dir: PathBuf) -> MockConfig {
        MockConfig {
            dir,
            text: "Hello from the session-vault mock provider.".to_owned(),
            echo: None,
            echo_received_key: false,
            hold_ms: 0,
            tool_command: None,
            events: 0,
            event_interval_us: 1000,
            log: true,
        }
    }
}

struct Shared {
    config: MockConfig,
    log: Mutex<Option<std::fs::File>>,
    holding: Mutex<u32>,
    ids: AtomicU64,
}

/// Serves `listener` until the process ends; TLS when `tls` is given.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    config: MockConfig,
) -> io::Result<()> {
    let log = if config.log {
        Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(config.dir.join("requests.jsonl"))?,
        )
    } else {
        None
    };
    let shared = Arc::new(Shared {
        config,
        log: Mutex::new(log),
        holding: Mutex::new(0),
        ids: AtomicU64::new(1),
    });
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            // Out of descriptors under load: wait, keep serving.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(shared, req).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            match acceptor {
                Some(acceptor) => {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        let _ = builder
                            .serve_connection_with_upgrades(TokioIo::new(tls), service)
                            .await;
                    }
                }
                None => {
                    let _ = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .await;
                }
            }
        });
    }
}

/// A response body fed through a channel: each message is one write, sent
/// when it is produced (never collected first), and the body ends when the
/// sender is dropped. The proxy's own tests stream through it too.
pub struct ChannelBody(pub mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

type Reply = Response<ChannelBody>;

fn reply(status: StatusCode, content_type: &str, chunks: Vec<Chunk>) -> Reply {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        for chunk in chunks {
            match chunk {
                Chunk::Bytes(b) => {
                    if tx.send(b).await.is_err() {
                        return;
                    }
                }
                Chunk::Pause(d) => tokio::time::sleep(d).await,
                Chunk::Stamped(n, interval) => {
                    for i in 0..n {
                        if i > 0 && !interval.is_zero() {
                            tokio::time::sleep(interval).await;
                        }
                        let ev = json!({"type": "content_block_delta", "index": 0,
                            "delta": {"type": "text_delta", "text": "."},
                            "i": i, "t": crate::monotonic_ns()});
                        let b = Bytes::from(format!("event: content_block_delta\ndata: {ev}\n\n"));
                        if tx.send(b).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    });
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("cache-control", "no-cache")
        .body(ChannelBody(rx))
        .expect("a valid response")
}

enum Chunk {
    Bytes(Bytes),
    Pause(Duration),
    /// `n` benchmark events stamped when sent, `Duration` apart.
    Stamped(u32, Duration),
}

fn json_reply(status: StatusCode, body: &Value) -> Reply {
    reply(
        status,
        "application/json",
        vec![Chunk::Bytes(Bytes::from(body.to_string()))],
    )
}

/// The key a request carried, whichever of the providers' auth places.
fn received_key(req: &Request<Incoming>) -> Option<String> {
    let h = req.headers();
    let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    header("x-api-key")
        .or_else(|| header("x-goog-api-key"))
        .or_else(|| {
            header("authorization").map(|v| v.strip_prefix("Bearer ").unwrap_or(&v).to_owned())
        })
        .or_else(|| {
            req.uri().query().and_then(|q| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix("key=").map(str::to_owned))
            })
        })
}

fn query_param(req: &Request<Incoming>, name: &str) -> Option<u64> {
    req.uri().query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.parse().ok()).flatten()
    })
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Reply {
    let config = &shared.config;
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| path.clone());
    let key = received_key(&req);
    let mut record = request_record(&req, &path_and_query);
    let hold_ms = query_param(&req, "hold_ms").unwrap_or(config.hold_ms);
    let events = query_param(&req, "events").map_or(config.events, |n| n as u32);
    let interval =
        Duration::from_micros(query_param(&req, "interval_us").unwrap_or(config.event_interval_us));
    let websocket = req.headers().contains_key("upgrade");
    let body: Value = match req.into_body().collect().await {
        Ok(b) => serde_json::from_slice(&b.to_bytes()).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let tool_result = last_tool_result(&body);
    if let Some(result) = &tool_result {
        record["tool_result"] = json!(result.text);
        record["tool_result_is_error"] = json!(result.is_error);
    }
    shared.record(&record);
    let is_model_request = method == Method::POST
        && (path == "/v1/messages"
            || path == "/v1/responses"
            || path.ends_with(":generateContent")
            || path.ends_with(":streamGenerateContent"));
    if is_model_request && key.as_deref().unwrap_or("").is_empty() {
        // As the providers do: a model call without a key is refused.
        return json_reply(
            StatusCode::UNAUTHORIZED,
            &json!({"type": "error", "error": {"type": "authentication_error",
                "message": "the mock received no key (x-api-key, Authorization: Bearer, x-goog-api-key or ?key=)"}}),
        );
    }
    if is_model_request && hold_ms > 0 {
        shared.hold(Duration::from_millis(hold_ms)).await;
    }
    let mut text = config.text.clone();
    let mut split_at = None;
    let echo = config.echo.clone().or_else(|| {
        config
            .echo_received_key
            .then(|| key.clone().unwrap_or_default())
    });
    if let Some(echo) = echo.filter(|e| !e.is_empty()) {
        text.push(' ');
        split_at = Some(text.len() + echo.len() / 2);
        text.push_str(&echo);
    }
    let id = shared.ids.fetch_add(1, Ordering::Relaxed);
    let reply_text = ReplyText { text, split_at };

    match (&method, path.as_str()) {
        (&Method::HEAD, "/") | (&Method::GET, "/") => json_reply(StatusCode::OK, &json!({})),
        (&Method::POST, "/v1/messages/count_tokens") => {
            json_reply(StatusCode::OK, &json!({"input_tokens": 12}))
        }
        (&Method::POST, "/v1/messages") => {
            let model = body["model"].as_str().unwrap_or("claude-mock").to_owned();
            let stream = body["stream"].as_bool().unwrap_or(false);
            if stream && events > 0 {
                return reply(
                    StatusCode::OK,
                    "text/event-stream",
                    vec![Chunk::Stamped(events, interval)],
                );
            }
            // With a tool command: a tool call first, and a text that shows
            // the tool's output once the request carries it back.
            let tool = config
                .tool_command
                .as_deref()
                .filter(|_| tool_result.is_none());
            let reply_text = match tool_result {
                Some(result) if config.tool_command.is_some() => ReplyText {
                    text: format!("{} Tool output: {}", reply_text.text, result.text),
                    split_at: None,
                },
                _ => reply_text,
            };
            anthropic(id, &model, stream, &reply_text, tool)
        }
        (&Method::GET, "/v1/responses") if websocket => json_reply(
            StatusCode::NOT_FOUND,
            &json!({"error": {"message": "the mock serves no WebSocket; use HTTPS", "type": "not_found"}}),
        ),
        (&Method::POST, "/v1/responses") => {
            let model = body["model"].as_str().unwrap_or("gpt-mock").to_owned();
            openai_responses(id, &model, &reply_text)
        }
        (&Method::POST, p) if p.ends_with(":generateContent") => {
            let model = model_of(p);
            match router_schema(&body) {
                Some(schema) => {
                    let text = instance_of(schema).to_string();
                    json_reply(StatusCode::OK, &gemini_candidate(&text, &model))
                }
                None => {
                    let ReplyText { text, .. } = &reply_text;
                    json_reply(StatusCode::OK, &gemini_candidate(text, &model))
                }
            }
        }
        (&Method::POST, p) if p.ends_with(":streamGenerateContent") => {
            let model = model_of(p);
            let text = match router_schema(&body) {
                Some(schema) => ReplyText {
                    text: instance_of(schema).to_string(),
                    split_at: None,
                },
                None => reply_text,
            };
            let event = gemini_candidate("\u{0}", &model).to_string();
            sse(
                vec![event],
                &text,
                |e, t| e.replace("\\u0000", &json_str(t)),
                |_| "\r\n\r\n",
                "data: ",
            )
        }
        _ => json_reply(
            StatusCode::NOT_FOUND,
            &json!({"error": {"message": format!("the mock does not serve {method} {path}"), "type": "not_found"}}),
        ),
    }
}

/// A reply's text and where to split the body's write (inside the echo).
struct ReplyText {
    text: String,
    split_at: Option<usize>,
}

fn json_str(s: &str) -> String {
    let quoted = Value::String(s.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// Builds an SSE body from `events`; the one holding the text placeholder
/// gets the text, and is written in two halves when the text has a split.
fn sse(
    events: Vec<String>,
    text: &ReplyText,
    fill: impl Fn(&str, &str) -> String,
    terminator: impl Fn(&str) -> &'static str,
    prefix: &str,
) -> Reply {
    let mut chunks = Vec::new();
    for event in events {
        let has_text = event.contains("\\u0000");
        let filled = fill(&event, &text.text);
        let frame = format!("{prefix}{filled}{}", terminator(&filled));
        match text.split_at.filter(|_| has_text) {
            Some(at) => {
                // Split inside the echoed string as the body carries it.
                let (head, tail) = text.text.split_at(floor_char(&text.text, at));
                let cut = frame
                    .find(&json_str(&format!("{head}{tail}")))
                    .map(|start| start + json_str(head).len())
                    .unwrap_or(frame.len() / 2);
                chunks.push(Chunk::Bytes(Bytes::from(frame[..cut].to_owned())));
                chunks.push(Chunk::Pause(Duration::from_millis(20)));
                chunks.push(Chunk::Bytes(Bytes::from(frame[cut..].to_owned())));
            }
            None => chunks.push(Chunk::Bytes(Bytes::from(frame))),
        }
    }
    reply(StatusCode::OK, "text/event-stream", chunks)
}

fn floor_char(s: &str, mut at: usize) -> usize {
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn anthropic(id: u64, model: &str, stream: bool, text: &ReplyText, tool: Option<&str>) -> Reply {
    let usage = json!({"input_tokens": 10, "output_tokens": 5,
        "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0});
    let (block, stop) = match tool {
        Some(_) => (
            json!({"type": "tool_use", "id": format!("toolu_mock{id}"), "name": "Bash", "input": {}}),
            "tool_use",
        ),
        None => (json!({"type": "text", "text": ""}), "end_turn"),
    };
    if !stream {
        let mut content = block.clone();
        match tool {
            Some(cmd) => content["input"] = json!({"command": cmd}),
            None => content["text"] = json!(text.text),
        }
        let message = json!({"id": format!("msg_mock{id}"), "type": "message", "role": "assistant",
            "model": model, "content": [content], "stop_reason": stop, "stop_sequence": null,
            "usage": usage});
        return json_reply(StatusCode::OK, &message);
    }
    // A tool's input arrives as pieces of its JSON text, as the API streams
    // it: here in two, cut inside the command.
    let deltas = match tool {
        Some(cmd) => {
            let input = json!({"command": cmd}).to_string();
            let (head, tail) = input.split_at(floor_char(&input, input.len() / 2));
            vec![
                json!({"type": "input_json_delta", "partial_json": head}),
                json!({"type": "input_json_delta", "partial_json": tail}),
            ]
        }
        None => vec![json!({"type": "text_delta", "text": "\u{0}"})],
    };
    let mut events = vec![
        json!({"type": "message_start", "message": {"id": format!("msg_mock{id}"), "type": "message",
            "role": "assistant", "model": model, "content": [], "stop_reason": null,
            "stop_sequence": null, "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": block}),
    ];
    events.extend(
        deltas
            .into_iter()
            .map(|delta| json!({"type": "content_block_delta", "index": 0, "delta": delta})),
    );
    events.extend([
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
            "usage": {"output_tokens": 5}}),
        json!({"type": "message_stop"}),
    ]);
    let events = events
        .into_iter()
        .map(|e| format!("event: {}\ndata: {e}", e["type"].as_str().unwrap_or("")))
        .collect();
    sse(
        events,
        text,
        |e, t| e.replace("\\u0000", &json_str(t)),
        |_| "\n\n",
        "",
    )
}

/// What an Anthropic request carries back from a tool call.
struct ToolResult {
    /// The output the agent reports (its text parts joined).
    text: String,
    /// The agent marked it as failed (e.g. the command exited non-zero).
    is_error: bool,
}

/// The `tool_result` in the last message of an Anthropic request, if any.
fn last_tool_result(body: &Value) -> Option<ToolResult> {
    let last = body["messages"].as_array()?.last()?;
    let result = last["content"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "tool_result")?;
    let text = match &result["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        other => other.to_string(),
    };
    Some(ToolResult {
        text,
        is_error: result["is_error"].as_bool().unwrap_or(false),
    })
}

fn openai_responses(id: u64, model: &str, text: &ReplyText) -> Reply {
    let (resp_id, item_id) = (format!("resp_mock{id}"), format!("msg_mock{id}"));
    let done_item = json!({"id": item_id, "type": "message", "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": "\u{0}", "annotations": []}]});
    let response = |status: &str, output: Value| {
        json!({"id": resp_id, "object": "response", "created_at": 0, "status": status,
            "model": model, "output": output,
            "usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 15}})
    };
    let events = vec![
        json!({"type": "response.created", "response": response("in_progress", json!([]))}),
        json!({"type": "response.output_item.added", "output_index": 0,
            "item": {"id": item_id, "type": "message", "status": "in_progress",
                "role": "assistant", "content": []}}),
        json!({"type": "response.output_text.delta", "item_id": item_id, "output_index": 0,
            "content_index": 0, "delta": "\u{0}"}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": done_item}),
        json!({"type": "response.completed", "response": response("completed", json!([done_item]))}),
    ];
    let events = events
        .into_iter()
        .enumerate()
        .map(|(n, mut e)| {
            e["sequence_number"] = json!(n);
            format!("event: {}\ndata: {e}", e["type"].as_str().unwrap_or(""))
        })
        .collect();
    sse(
        events,
        text,
        |e, t| e.replace("\\u0000", &json_str(t)),
        |_| "\n\n",
        "",
    )
}

fn model_of(path: &str) -> String {
    path.rsplit('/')
        .next()
        .and_then(|m| m.split(':').next())
        .unwrap_or("gemini-mock")
        .to_owned()
}

fn gemini_candidate(text: &str, model: &str) -> Value {
    json!({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
            "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
        "modelVersion": model})
}

/// The JSON schema a Gemini request asks its answer to match (its
/// model-router call does), if any.
fn router_schema(body: &Value) -> Option<&Value> {
    let config = &body["generationConfig"];
    [
        "responseJsonSchema",
        "responseSchema",
        "response_json_schema",
    ]
    .iter()
    .map(|k| &config[*k])
    .find(|s| s.is_object())
}

/// A value that matches `schema`: the first enum value, else a placeholder
/// of the schema's type, objects with every property filled.
pub fn instance_of(schema: &Value) -> Value {
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    if let Some(any) = schema["anyOf"].as_array().and_then(|a| a.first()) {
        return instance_of(any);
    }
    let ty = match &schema["type"] {
        Value::String(t) => t.to_ascii_lowercase(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("string")
            .to_ascii_lowercase(),
        _ if schema["properties"].is_object() => "object".to_owned(),
        _ => "string".to_owned(),
    };
    match ty.as_str() {
        "object" => Value::Object(
            schema["properties"]
                .as_object()
                .map(|props| {
                    props
                        .iter()
                        .map(|(k, v)| (k.clone(), instance_of(v)))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        "array" => json!([instance_of(&schema["items"])]),
        // Gemini's router asks for e.g. a complexity score of at least 1.
        "integer" | "number" => schema["minimum"].as_f64().map_or(json!(1), |m| {
            if ty == "integer" {
                json!(m.ceil() as i64)
            } else {
                json!(m)
            }
        }),
        "boolean" => json!(false),
        _ => json!("mock"),
    }
}

/// The line `requests.jsonl` gets for a request: taken from its head, as
/// it arrived; [`handle`] adds what its body carried back from a tool.
fn request_record(req: &Request<Incoming>, path_and_query: &str) -> Value {
    let h = req.headers();
    let header = |name: &str| {
        h.get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    json!({
        "t_ms": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64).unwrap_or(0),
        "method": req.method().as_str(),
        "path": path_and_query,
        "version": format!("{:?}", req.version()),
        "host": header("host").or_else(|| req.uri().authority().map(|a| a.to_string())),
        "x-api-key": header("x-api-key"),
        "authorization": header("authorization"),
        "x-goog-api-key": header("x-goog-api-key"),
        "upgrade": header("upgrade"),
    })
}

impl Shared {
    fn record(&self, line: &Value) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let Some(file) = log.as_mut() else { return };
        let _ = writeln!(file, "{line}");
    }

    /// Waits `d` with `holding` present in the mock's directory.
    async fn hold(&self, d: Duration) {
        let marker = self.config.dir.join("holding");
        {
            let mut n = self.holding.lock().unwrap_or_else(|e| e.into_inner());
            if *n == 0 {
                let _ = std::fs::write(&marker, b"");
            }
            *n += 1;
        }
        tokio::time::sleep(d).await;
        let mut n = self.holding.lock().unwrap_or_else(|e| e.into_inner());
        *n -= 1;
        if *n == 0 {
            let _ = std::fs::remove_file(&marker);
        }
    }
}

/// One recorded request, as a test reads `requests.jsonl` back.
#[derive(Clone, Debug)]
pub struct Recorded(pub Value);

impl Recorded {
    pub fn method(&self) -> &str {
        self.0["method"].as_str().unwrap_or("")
    }
    pub fn path(&self) -> &str {
        self.0["path"].as_str().unwrap_or("")
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.0[name].as_str()
    }
    /// The output an Anthropic request carried back from a tool call.
    pub fn tool_result(&self) -> Option<&str> {
        self.0["tool_result"].as_str()
    }
    /// Whether the agent marked that output as a failure.
    pub fn tool_result_is_error(&self) -> bool {
        self.0["tool_result_is_error"].as_bool().unwrap_or(false)
    }
}

/// The requests the mock in `dir` has recorded so far.
pub fn read_log(dir: &Path) -> Vec<Recorded> {
    std::fs::read_to_string(dir.join("requests.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .map(Recorded)
        .collect()
}

/// The mock running in this process, on its own runtime thread: what a test
/// starts before the agents it points at it. Stops when dropped.
pub struct MockServer {
    pub dir: PathBuf,
    pub port: u16,
    /// The test CA to trust (TLS only).
    pub ca_file: Option<PathBuf>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl MockServer {
    /// Serves `config` on 127.0.0.1, over TLS with a fresh CA when `tls`.
    pub fn start(config: MockConfig, tls: bool) -> io::Result<MockServer> {
        std::fs::create_dir_all(&config.dir)?;
        let dir = config.dir.clone();
        let (tls_config, ca_file) = if tls {
            let ca = crate::tls::TestCa::generate()?;
            let ca_file = dir.join("ca.pem");
            std::fs::write(&ca_file, &ca.ca_pem)?;
            (Some(ca.server_config(&[b"http/1.1"])?), Some(ca_file))
        } else {
            (None, None)
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let listener = runtime.block_on(TcpListener::bind(("127.0.0.1", 0)))?;
        let port = listener.local_addr()?.port();
        runtime.spawn(serve(listener, tls_config, config));
        Ok(MockServer {
            dir,
            port,
            ca_file,
            runtime: Some(runtime),
        })
    }

    /// The URL an agent's base-URL setting takes (no path).
    pub fn base_url(&self) -> String {
        match self.ca_file {
            // The certificate names localhost and 127.0.0.1; Node checks
            // either, and some clients refuse IP addresses in SNI.
            Some(_) => format!("https://localhost:{}", self.port),
            None => format!("http://127.0.0.1:{}", self.port),
        }
    }

    /// The requests recorded so far.
    pub fn requests(&self) -> Vec<Recorded> {
        read_log(&self.dir)
    }

    /// Whether a request is being held open right now.
    pub fn holding(&self) -> bool {
        self.dir.join("holding").exists()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// One HTTP/1.1 POST of `body` to the mock with a key; the reply's body.
    fn post(mock: &MockServer, path: &str, body: &Value) -> String {
        let body = body.to_string();
        let mut s = std::net::TcpStream::connect(("127.0.0.1", mock.port)).expect("connect");
        write!(
            s,
            "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nx-api-key: sk-ant-test\r\n\
             content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("send");
        let mut reply = String::new();
        s.read_to_string(&mut reply).expect("read");
        let (head, rest) = reply.split_once("\r\n\r\n").expect("a reply head");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        rest.to_owned()
    }

    /// The `data:` payloads of an SSE body (chunked framing lines skipped).
    fn events(body: &str) -> Vec<Value> {
        body.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).expect("an event's JSON"))
            .collect()
    }

    fn start(tool_command: Option<&str>) -> (tempfile::TempDir, MockServer) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = MockConfig::new(dir.path().to_path_buf());
        config.tool_command = tool_command.map(str::to_owned);
        let mock = MockServer::start(config, false).expect("start the mock");
        (dir, mock)
    }

    const COMMAND: &str = "session-vault get --tool claude; echo EXIT=$?";

    fn first_request() -> Value {
        json!({"model": "claude-test", "stream": true,
            "messages": [{"role": "user", "content": "go"}]})
    }

    #[test]
    fn a_tool_command_is_streamed_as_a_bash_tool_call_then_its_output_is_answered() {
        let (_dir, mock) = start(Some(COMMAND));
        let first = events(&post(&mock, "/v1/messages?beta=true", &first_request()));
        let kinds: Vec<&str> = first.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        let block = &first[1]["content_block"];
        assert_eq!(block["type"], "tool_use");
        assert_eq!(block["name"], "Bash");
        assert_eq!(block["input"], json!({}));
        let input: String = first[2..4]
            .iter()
            .map(|e| {
                assert_eq!(e["delta"]["type"], "input_json_delta");
                e["delta"]["partial_json"].as_str().unwrap().to_owned()
            })
            .collect();
        let input: Value = serde_json::from_str(&input).expect("the pieces join to JSON");
        assert_eq!(input, json!({"command": COMMAND}));
        assert_eq!(first[5]["delta"]["stop_reason"], "tool_use");

        // The follow-up carries the tool's output back; the answer is text.
        let tool_id = block["id"].as_str().unwrap();
        let follow_up = json!({"model": "claude-test", "stream": true, "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [block]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id,
                "is_error": true, "content": [{"type": "text", "text": "refused\nEXIT=5"}]}]},
        ]});
        let second = events(&post(&mock, "/v1/messages?beta=true", &follow_up));
        assert_eq!(second[1]["content_block"]["type"], "text");
        let text = second[2]["delta"]["text"].as_str().unwrap();
        assert!(text.ends_with("Tool output: refused\nEXIT=5"), "{text}");
        assert_eq!(second[4]["delta"]["stop_reason"], "end_turn");

        // The log has what each request carried back.
        let log = mock.requests();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].tool_result(), None);
        assert_eq!(log[1].tool_result(), Some("refused\nEXIT=5"));
        assert!(log[1].tool_result_is_error());
        assert_eq!(log[1].header("x-api-key"), Some("sk-ant-test"));
    }

    #[test]
    fn without_a_tool_command_every_message_is_answered_with_text() {
        let (_dir, mock) = start(None);
        let reply = events(&post(&mock, "/v1/messages", &first_request()));
        assert_eq!(reply[1]["content_block"]["type"], "text");
        assert_eq!(
            reply[2]["delta"]["text"],
            "Hello from the session-vault mock provider."
        );
        assert_eq!(reply[4]["delta"]["stop_reason"], "end_turn");
    }
}
