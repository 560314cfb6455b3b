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

mod body;
mod port;
mod reply;
mod scrub;
mod server;
mod standin;
mod upstream;

pub use body::{ProxyBody, RequestBody};
pub use port::{
    builtin_route, tool_base_url, AuditRecord, AuthPlace, BuiltinRoute, Grant, Outcome, Refusal,
    StandIns, UnknownAuthPlace, BUILTIN_ROUTES,
};
pub use server::{ProxyConfig, ProxyError, ProxyServer};
pub use standin::stand_in_like;
pub use upstream::{Upstream, UpstreamError, CONNECT_TIMEOUT};
