//! The port the daemon implements: stand-ins in, grants out, audit records.
//!
//! The proxy keeps no state about stand-ins. For each request it asks
//! [`StandIns::resolve`] whether the stand-in it found is live for the tool
//! named in the request's path, and gets back everything it needs to send
//! the request on: the real key, the upstream pinned when the stand-in was
//! issued, and the one place the key goes. The daemon owns the liveness
//! rules (the pidfd of the process `exec --proxy` started, the session's
//! TTLs, the lock state; docs/design.md §10).

use crate::upstream::Upstream;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use sv_core::SecretString;

/// Where a tool's key travels on a request, and so where its stand-in is
/// looked for and the real key put.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthPlace {
    /// `x-api-key: KEY` (Anthropic).
    XApiKey,
    /// `Authorization: Bearer KEY` (OpenAI and most OpenAI-compatible APIs).
    Bearer,
    /// `x-goog-api-key: KEY` (Gemini).
    XGoogApiKey,
    /// `?key=KEY` in the query (older Google clients).
    QueryKey,
}

impl AuthPlace {
    /// Every place, in the order a request is searched for a stand-in.
    pub const ALL: [AuthPlace; 4] = [
        AuthPlace::XApiKey,
        AuthPlace::XGoogApiKey,
        AuthPlace::Bearer,
        AuthPlace::QueryKey,
    ];

    /// The name used in `config.toml` (`auth = "…"`) and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthPlace::XApiKey => "x-api-key",
            AuthPlace::Bearer => "bearer",
            AuthPlace::XGoogApiKey => "x-goog-api-key",
            AuthPlace::QueryKey => "query-key",
        }
    }

    /// Where a user would look for it, for messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            AuthPlace::XApiKey => "the x-api-key header",
            AuthPlace::Bearer => "the Authorization: Bearer header",
            AuthPlace::XGoogApiKey => "the x-goog-api-key header",
            AuthPlace::QueryKey => "the ?key= query parameter",
        }
    }
}

impl fmt::Display for AuthPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `auth` in `config.toml` named no known place.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("unknown auth place `{0}`; use x-api-key, bearer, x-goog-api-key or query-key")]
pub struct UnknownAuthPlace(pub String);

impl FromStr for AuthPlace {
    type Err = UnknownAuthPlace;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "x-api-key" => Ok(AuthPlace::XApiKey),
            "bearer" | "authorization" => Ok(AuthPlace::Bearer),
            "x-goog-api-key" => Ok(AuthPlace::XGoogApiKey),
            "query-key" | "key" => Ok(AuthPlace::QueryKey),
            other => Err(UnknownAuthPlace(other.escape_debug().to_string())),
        }
    }
}

/// A built-in tool's route (docs/design.md §10). A user tool gives the same
/// three things in `config.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinRoute {
    pub tool: &'static str,
    /// The pinned upstream, `https://` only.
    pub upstream: &'static str,
    pub auth: AuthPlace,
    /// The variable the agent reads its base URL from.
    pub base_url_var: &'static str,
    /// What follows `/t/<tool>` in that variable: the part of the path the
    /// tool's SDK expects in its base URL (OpenAI's includes `/v1`).
    pub base_url_suffix: &'static str,
}

/// `claude`, `codex`, `gemini`.
pub const BUILTIN_ROUTES: &[BuiltinRoute] = &[
    BuiltinRoute {
        tool: "claude",
        upstream: "https://api.anthropic.com",
        auth: AuthPlace::XApiKey,
        base_url_var: "ANTHROPIC_BASE_URL",
        base_url_suffix: "",
    },
    BuiltinRoute {
        tool: "codex",
        upstream: "https://api.openai.com",
        auth: AuthPlace::Bearer,
        base_url_var: "OPENAI_BASE_URL",
        base_url_suffix: "/v1",
    },
    BuiltinRoute {
        tool: "gemini",
        upstream: "https://generativelanguage.googleapis.com",
        auth: AuthPlace::XGoogApiKey,
        base_url_var: "GOOGLE_GEMINI_BASE_URL",
        base_url_suffix: "",
    },
];

/// The built-in route of `tool`, if it has one.
pub fn builtin_route(tool: &str) -> Option<&'static BuiltinRoute> {
    BUILTIN_ROUTES.iter().find(|r| r.tool == tool)
}

/// The base URL an agent is given for `tool`: `http://127.0.0.1:PORT/t/TOOL`
/// followed by the route's suffix (`/v1` for OpenAI's SDK).
pub fn tool_base_url(proxy: SocketAddr, tool: &str, suffix: &str) -> String {
    format!("http://{proxy}/t/{tool}{suffix}")
}

/// What a live stand-in is worth: where the request goes and with what.
pub struct Grant {
    /// The real key. Put on the request at `auth` only, toward `upstream`.
    pub key: SecretString,
    /// The upstream pinned when the stand-in was issued.
    pub upstream: Arc<Upstream>,
    /// The tool's auth place; the stand-in must have been sent there.
    pub auth: AuthPlace,
    /// The session the key came from, for the audit log.
    pub session: String,
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grant")
            .field("key", &self.key)
            .field("upstream", &self.upstream)
            .field("auth", &self.auth)
            .field("session", &self.session)
            .finish()
    }
}

/// Why a stand-in was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Never issued (or issued by an earlier daemon).
    Unknown,
    /// Issued, but the process it was bound to has exited, or its session
    /// expired or was removed.
    Dead,
    /// Live, but issued for this other tool.
    OtherTool(String),
    /// The vault is locked: no key can be read until `session-vault unlock`.
    Locked,
}

/// The daemon's side of the proxy. Both calls run on the proxy's request
/// path: they must answer from memory and never block on I/O.
pub trait StandIns: Send + Sync + 'static {
    /// The grant for `stand_in` presented for `tool`, or why not.
    fn resolve(&self, tool: &str, stand_in: &str) -> Result<Grant, Refusal>;

    /// One request is over (answered, refused, or given up by either side).
    /// Queue it for the audit log; never block.
    fn audit(&self, record: AuditRecord);

    /// An agent connected from `peer` (its requests' records will carry
    /// that address). The connection is open now, which is when its
    /// process can be found (the daemon starts looking here, off the
    /// request path); by the time a record arrives the agent may have
    /// closed it. Never block. Does nothing unless implemented.
    fn accepted(&self, peer: SocketAddr) {
        let _ = peer;
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The upstream's whole response reached the client.
    Completed,
    /// Refused by the proxy itself (no live stand-in, locked vault, a
    /// request it does not carry).
    Refused,
    /// Sent upstream, but no answer came: unreachable, TLS not verified,
    /// or no response head in time (the agent got 502 or 504).
    UpstreamFailed,
    /// The client went away before the response was complete; the upstream
    /// request was dropped with it.
    ClientGone,
    /// The upstream broke off its response.
    UpstreamBroke,
}

/// One proxied (or refused) request, for the audit log. Holds no key, no
/// stand-in and no query value.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    /// When the request arrived.
    pub time: SystemTime,
    /// The tool named in the path (empty when the path named none).
    pub tool: String,
    /// The grant's session, when a stand-in was accepted.
    pub session: Option<String>,
    pub method: String,
    /// The upstream's host (`host` or `host:port`), when a stand-in was
    /// accepted.
    pub host: Option<String>,
    /// The upstream path, query parameter names kept and values dropped
    /// (`/v1beta/models/m:generateContent?alt&key`).
    pub path: String,
    /// The status the client got (0: none, the client left first).
    pub status: u16,
    /// Request body bytes sent upstream.
    pub bytes_up: u64,
    /// Response body bytes sent to the client.
    pub bytes_down: u64,
    /// From arrival to the end of the response (or of the attempt).
    pub duration: Duration,
    /// The client's address, to find its process while the connection is
    /// open.
    pub peer: SocketAddr,
    pub outcome: Outcome,
}
