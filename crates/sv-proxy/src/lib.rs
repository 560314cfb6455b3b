//! The credential proxy: agents hold stand-in keys, the proxy puts the real
//! key on their requests (docs/design.md §10, docs/proxy.md).
//!
//! The daemon embeds it: it implements [`StandIns`] (which stand-ins are
//! live, for which tool, with which key, upstream and auth place; where the
//! audit records go) and starts a [`ProxyServer`] on a loopback port. An
//! agent's base URL is [`tool_base_url`]; its key variable holds a
//! [`stand_in_like`] value.
//!
//! What the proxy guarantees, whatever the request says:
//! - the real key goes only to the grant's pinned upstream, only in the
//!   grant's auth place, over TLS verified against the system's roots (and
//!   the tool's `ca_file`);
//! - a response reaches the agent as it arrives, with the real key replaced
//!   by the stand-in, also across chunk boundaries;
//! - every request, forwarded or refused, produces one [`AuditRecord`]
//!   without key, stand-in or query values.
//!
//! It does not decide liveness, TTLs or locking (the daemon's port does),
//! and it does not follow redirects: a `3xx` goes back to the agent as it
//! is, and the agent holds no key to send anywhere else.
//!
//! The daemon's wiring, in short:
//!
//! ```no_run
//! use std::sync::Arc;
//! use sv_proxy::{AuditRecord, Grant, ProxyConfig, ProxyServer, Refusal, StandIns};
//!
//! struct Vault; // the daemon's in-memory table of issued stand-ins
//!
//! impl StandIns for Vault {
//!     fn resolve(&self, tool: &str, stand_in: &str) -> Result<Grant, Refusal> {
//!         // locked? -> Locked; unknown -> Unknown; pidfd gone or TTL over
//!         // -> Dead; issued for another tool -> OtherTool(that tool);
//!         // else the key, the Arc<Upstream> pinned at issue, the auth place.
//!         Err(Refusal::Unknown)
//!     }
//!     fn audit(&self, record: AuditRecord) {
//!         // queue for the audit log; never block
//!     }
//! }
//!
//! # async fn run() -> Result<(), sv_proxy::ProxyError> {
//! let proxy = ProxyServer::start(
//!     "127.0.0.1:0".parse().unwrap(),
//!     Arc::new(Vault),
//!     ProxyConfig::default(),
//! )
//! .await?;
//! let route = sv_proxy::builtin_route("claude").unwrap();
//! let base_url = sv_proxy::tool_base_url(proxy.local_addr(), "claude", route.base_url_suffix);
//! // exec --proxy: ANTHROPIC_BASE_URL=base_url, ANTHROPIC_API_KEY=stand_in_like(key)
//! # let _ = base_url;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod body;
mod port;
mod reply;
mod request_body;
mod scrub;
mod server;
mod standin;
mod upstream;

pub use port::{
    builtin_route, tool_base_url, AuditRecord, AuthPlace, BuiltinRoute, Grant, Outcome, Refusal,
    StandIns, UnknownAuthPlace, BUILTIN_ROUTES,
};
pub use server::{ProxyConfig, ProxyError, ProxyServer};
pub use standin::stand_in_like;
pub use upstream::{Upstream, UpstreamError, CONNECT_TIMEOUT};
