//! The daemon's table of the credential proxy (docs/design.md §10,
//! docs/proxy.md): the routes of the tools and the stand-ins issued, kept
//! in the vault. What fills and asks it is `proxy.rs`; this module knows
//! nothing of the vault, so the vault can hold it.
use crate::pidfd::ProcessPin;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use sv_core::protocol::{self as p, code, RpcError};
use sv_core::ToolTable;
use sv_proxy::{AuthPlace, Upstream};
use sv_store::{SealedValue, SessionRow};
use tracing::warn;

/// Where a tool's requests go, fixed when the daemon reads `config.toml`.
pub struct Route {
    pub(crate) upstream: Arc<Upstream>,
    pub(crate) auth: AuthPlace,
    pub(crate) base_url_var: String,
    pub(crate) base_url_suffix: String,
}

/// Every tool's route, or why it has none.
#[derive(Default)]
pub struct Routes(HashMap<String, Result<Route, String>>);

impl Routes {
    /// Built-in routes, with `config.toml`'s `upstream`, `auth`,
    /// `base_url_var` and `ca_file` over them; a user tool needs all but
    /// `ca_file`. A bad entry is kept as its error, told to whoever asks
    /// for that tool's stand-in.
    pub fn new(tools: &ToolTable) -> Self {
        let mut map = HashMap::new();
        for tool in tools.names() {
            if let Some(r) = route(tools, tool) {
                if let Err(e) = &r {
                    warn!(tool, "no proxy route: {e}");
                }
                map.insert(tool.to_owned(), r);
            }
        }
        Routes(map)
    }

    pub(crate) fn get(&self, tool: &str) -> Result<&Route, RpcError> {
        match self.0.get(tool) {
            Some(Ok(r)) => Ok(r),
            Some(Err(e)) => Err(RpcError::new(code::INVALID_PARAMS, e.clone())),
            None => Err(RpcError::new(
                code::INVALID_PARAMS,
                format!(
                    "tool `{tool}` has no proxy route; give it `upstream`, `auth` and `base_url_var` under [tools.{tool}] in config.toml"
                ),
            )),
        }
    }
}

pub(crate) fn route(tools: &ToolTable, tool: &str) -> Option<Result<Route, String>> {
    let builtin = sv_proxy::builtin_route(tool);
    let cfg = tools.proxy(tool);
    if builtin.is_none() && cfg.is_none() {
        return None;
    }
    let cfg = cfg.cloned().unwrap_or_default();
    let at = |what: &str| format!("config.toml [tools.{tool}]: {what}");
    Some((|| {
        let upstream = cfg
            .upstream
            .as_deref()
            .or(builtin.map(|b| b.upstream))
            .ok_or_else(|| at("set `upstream = \"https://…\"` for the proxy"))?;
        let auth = match (&cfg.auth, builtin) {
            (Some(a), _) => a.parse::<AuthPlace>().map_err(|e| at(&e.to_string()))?,
            (None, Some(b)) => b.auth,
            (None, None) => {
                return Err(at(
                    "set `auth` (x-api-key, bearer, x-goog-api-key or query-key)",
                ))
            }
        };
        let base_url_var = cfg
            .base_url_var
            .clone()
            .or(builtin.map(|b| b.base_url_var.to_owned()))
            .ok_or_else(|| {
                at("set `base_url_var`, the variable the agent reads its base URL from")
            })?;
        // A user's own upstream carries its full base path: nothing follows
        // `/t/<tool>` in the agent's base URL.
        let base_url_suffix = match (builtin, &cfg.upstream) {
            (Some(b), None) => b.base_url_suffix.to_owned(),
            _ => String::new(),
        };
        let ca = cfg.ca_file.as_deref().map(Path::new);
        let upstream = Upstream::new(upstream, ca).map_err(|e| at(&e.to_string()))?;
        Ok(Route {
            upstream: Arc::new(upstream),
            auth,
            base_url_var,
            base_url_suffix,
        })
    })())
}

/// One issued stand-in.
pub(crate) struct Issued {
    pub(crate) tool: String,
    /// The session it stands for, as it was when issued: its scope and id
    /// bind the sealed value; its expiry is kept current here.
    pub(crate) row: SessionRow,
    pub(crate) sealed: SealedValue,
    /// The store's change count when the session was last seen in it.
    pub(crate) seen_at_change: u64,
    pub(crate) pin: Arc<ProcessPin>,
    pub(crate) upstream: Arc<Upstream>,
    pub(crate) auth: AuthPlace,
}

/// The issued stand-ins, in memory only.
pub struct StandInTable {
    pub(crate) entries: Mutex<HashMap<String, Issued>>,
    /// The store's change counter (see `Store::changes`).
    pub(crate) changes: Arc<AtomicU64>,
}

impl StandInTable {
    pub fn new(changes: Arc<AtomicU64>) -> Self {
        StandInTable {
            entries: Mutex::new(HashMap::new()),
            changes,
        }
    }

    pub(crate) fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Issued>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The pids the live stand-ins are bound to: where an agent's
    /// connection is looked for first.
    pub(crate) fn pinned_pids(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self.entries().values().map(|e| e.pin.pid()).collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Drops the stand-ins whose process has exited (periodically).
    pub fn sweep(&self) {
        self.entries().retain(|_, e| !e.pin.exited());
    }
}

/// The proxy's state in the daemon.
pub struct ProxyState {
    /// Built at the first `stand_ins` (loading the system's roots is not
    /// paid by a daemon that never proxies), then fixed.
    pub(crate) routes: std::sync::OnceLock<Routes>,
    pub(crate) tools: ToolTable,
    pub table: StandInTable,
    /// Where the proxy listens, once it does, or why not.
    pub status: Mutex<Option<p::ProxyStatus>>,
}

impl ProxyState {
    pub fn new(tools: &ToolTable, changes: Arc<AtomicU64>) -> Self {
        ProxyState {
            routes: std::sync::OnceLock::new(),
            tools: tools.clone(),
            table: StandInTable::new(changes),
            status: Mutex::new(None),
        }
    }

    pub(crate) fn routes(&self) -> &Routes {
        self.routes.get_or_init(|| Routes::new(&self.tools))
    }

    pub(crate) fn listening(&self) -> Option<SocketAddr> {
        let st = self.status.lock().unwrap_or_else(|p| p.into_inner());
        st.as_ref()?.listen.as_deref()?.parse().ok()
    }
}
