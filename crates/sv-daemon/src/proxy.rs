//! The daemon's side of the credential proxy (docs/design.md §10,
//! docs/proxy.md): the routes of the tools, the table of issued stand-ins,
//! the `stand_ins` request that fills it, the [`StandIns`] port the proxy
//! asks on every request, and the proxy's listener on a port kept per vault.
//!
//! A stand-in is bound to the process that asked for it (a pidfd: `exec
//! --proxy` then execs the command in place, so the command keeps that
//! process) and to its session: it is refused once that process exits, once
//! its session expires or is removed, and while the vault is locked. The
//! table holds each session's sealed value, never the key: a request's key
//! is opened for that request, so locking (which wipes the vault key) is
//! enough to make every stand-in answer "locked". Stand-ins are never
//! written anywhere.

use crate::audit::AuditRecord;
use crate::clock::now;
use crate::peer::Peer;
use crate::pidfd::ProcessPin;
use crate::stand_ins::*;
use crate::vault::Vault;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use sv_core::ops::{AuditOutcome, ProxiedRequest};
use sv_core::protocol::{self as p, code, RpcError};
use sv_core::seal::RecordBinding;
use sv_proxy::{Grant, ProxyConfig, ProxyServer, Refusal, StandIns};
use tracing::{info, warn};

/// The variable Codex 0.17x authenticates with (its base URL comes from its
/// own config.toml, which `integrate codex --proxy` writes).
const CODEX_KEY_VAR: &str = "CODEX_API_KEY";

impl Vault {
    /// `stand_ins`: for each tool, the session `get` would serve the caller
    /// here, a stand-in for its key bound to the calling process, and the
    /// variables to set. All tools or none: one refused, none is issued.
    /// A tool whose session needs the user's yes first (`--confirm`)
    /// stops here: its question and the refusal's record go to `waiting`.
    pub(crate) fn stand_ins(
        &self,
        prm: p::StandInsParams,
        peer: &Peer,
        waiting: &mut Option<(Box<crate::rules::Ask>, AuditRecord)>,
    ) -> Result<p::StandInsResult, RpcError> {
        let proxy = &self.proxy;
        let Some(addr) = proxy.listening() else {
            return Err(RpcError::new(
                code::INTERNAL,
                "the credential proxy is not running; see `session-vault daemon status` and the daemon's log",
            ));
        };
        let Some(pin) = peer.pin.clone() else {
            return Err(RpcError::new(
                code::INTERNAL,
                "cannot pin the calling process (pidfd, Linux 5.3 or later); no stand-in was issued",
            ));
        };
        let pin = match prm.bind {
            p::Bind::Caller => pin,
            p::Bind::Agent => ProcessPin::agent_of(&pin, peer.exe.as_deref()).map_err(|e| {
                RpcError::new(
                    code::INTERNAL,
                    format!("{e}; no stand-in was issued (run the helper from the agent, or use `session-vault exec --proxy`)"),
                )
            })?,
        };
        if prm.tools.is_empty() || prm.tools.len() > 16 {
            return Err(RpcError::new(
                code::INVALID_PARAMS,
                "give between 1 and 16 tools",
            ));
        }
        let mut issued: Vec<(String, Issued)> = Vec::new();
        let mut records = Vec::new();
        let mut grants = Vec::new();
        for tool in &prm.tools {
            let vars = self.tool_vars(tool)?.to_vec();
            let route = proxy.routes().get(tool)?;
            if vars.len() != 1 {
                return Err(RpcError::new(
                    code::INVALID_PARAMS,
                    format!(
                        "tool `{tool}` has several variables ({}); the proxy puts one key on a request",
                        vars.join(", ")
                    ),
                ));
            }
            let get = p::GetParams {
                tool: tool.clone(),
                cwd: prm.cwd.clone(),
            };
            let (answer, record, ask) = self.lookup_for_stand_in(&get, peer, &pin);
            if let Some(ask) = ask {
                let refused = answer.err();
                *waiting = Some((ask, record));
                return Err(refused
                    .unwrap_or_else(|| RpcError::new(code::REFUSED, "refused: not confirmed")));
            }
            let answer = answer?;
            records.push(record);
            let value = &answer.values[0];
            // A key helper is run again and again by its agent: the agent
            // keeps the stand-in it has for this tool and session.
            let kept = (prm.bind == p::Bind::Agent)
                .then(|| {
                    proxy.table.entries().iter().find_map(|(s, e)| {
                        (e.tool == *tool
                            && e.row.id == answer.session_id
                            && e.pin.pid() == pin.pid()
                            && !e.pin.exited())
                        .then(|| zeroize::Zeroizing::new(s.clone()))
                    })
                })
                .flatten();
            let reused = kept.is_some();
            let stand_in = match kept {
                Some(s) => s,
                None => sv_proxy::stand_in_like(value.value.expose().as_bytes()),
            };
            let (row, sealed, seen_at_change) = {
                let store = self.store();
                let row = store
                    .sessions_for_tool(tool)
                    .map_err(crate::rpc::store_err)?
                    .into_iter()
                    .find(|r| r.id == answer.session_id);
                let sealed = store
                    .sealed_values(&answer.session_id)
                    .map_err(crate::rpc::store_err)?
                    .into_iter()
                    .find(|s| s.var == value.name);
                (row, sealed, store.change_count())
            };
            let (Some(row), Some(sealed)) = (row, sealed) else {
                return Err(RpcError::new(
                    code::NO_CREDENTIAL,
                    format!(
                        "session {} went away meanwhile; run the command again",
                        answer.session_id
                    ),
                ));
            };
            let mut vars_out = vec![p::VarValue {
                name: value.name.clone(),
                value: stand_in.as_str().into(),
            }];
            if tool == "codex" && value.name != CODEX_KEY_VAR {
                vars_out.push(p::VarValue {
                    name: CODEX_KEY_VAR.to_owned(),
                    value: stand_in.as_str().into(),
                });
            }
            vars_out.push(p::VarValue {
                name: route.base_url_var.clone(),
                value: sv_proxy::tool_base_url(addr, tool, &route.base_url_suffix)
                    .as_str()
                    .into(),
            });
            grants.push(p::StandInGrant {
                tool: tool.clone(),
                session_id: answer.session_id.clone(),
                vars: vars_out,
            });
            if reused {
                continue;
            }
            issued.push((
                stand_in.to_string(),
                Issued {
                    tool: tool.clone(),
                    row,
                    sealed,
                    seen_at_change,
                    pin: pin.clone(),
                    upstream: route.upstream.clone(),
                    auth: route.auth,
                },
            ));
        }
        // No record, no stand-in.
        self.commit_audit(&records).map_err(|e| {
            RpcError::new(
                code::STORAGE,
                format!("cannot write the audit record ({e}); no stand-in was issued"),
            )
        })?;
        let mut table = proxy.table.entries();
        for (s, e) in issued {
            info!(tool = %e.tool, session = %e.row.id, pid = pin.pid(), "issued a stand-in");
            table.insert(s, e);
        }
        Ok(p::StandInsResult {
            proxy: addr.to_string(),
            tools: grants,
        })
    }

    /// [`StandIns::resolve`], from memory (the store only when a session
    /// changed or seems to have expired).
    fn resolve_stand_in(&self, tool: &str, stand_in: &str) -> Result<Grant, Refusal> {
        let key_guard = self.key_read();
        let Some(key) = key_guard.as_ref() else {
            return Err(Refusal::Locked);
        };
        let table = &self.proxy.table;
        let mut entries = table.entries();
        let Some(e) = entries.get_mut(stand_in) else {
            return Err(Refusal::Unknown);
        };
        if e.pin.exited() {
            entries.remove(stand_in);
            return Err(Refusal::Dead);
        }
        if e.tool != tool {
            return Err(Refusal::OtherTool(e.tool.clone()));
        }
        let t = now();
        let changes = table.changes.load(Ordering::SeqCst);
        if changes != e.seen_at_change || e.row.expiry.is_expired(t) {
            // Removed, purged, or used by a `get` since (which restarts
            // its idle clock in the store, not here): the store decides.
            let store = self.store();
            let current = store
                .sessions_for_tool(&e.tool)
                .ok()
                .and_then(|rows| rows.into_iter().find(|r| r.id == e.row.id));
            match current {
                Some(row) if !row.expiry.is_expired(t) => {
                    e.row.expiry = row.expiry;
                    e.seen_at_change = changes;
                }
                _ => {
                    drop(store);
                    entries.remove(stand_in);
                    return Err(Refusal::Dead);
                }
            }
        }
        let binding = RecordBinding {
            session_id: &e.row.id,
            tool: &e.row.tool,
            var: &e.sealed.var,
            scope: &e.row.scope,
        };
        let secret = key.open(&binding, &e.sealed.sealed).map_err(|_| {
            warn!(session = %e.row.id, "record failed its integrity check");
            Refusal::Dead
        })?;
        // A serve: the session's idle clock restarts (here now, in the
        // store when the request's audit record is committed).
        e.row.expiry.touch(t);
        self.touch_idle();
        Ok(Grant {
            key: secret,
            upstream: e.upstream.clone(),
            auth: e.auth,
            session: e.row.id.clone(),
        })
    }
}

/// The port the proxy asks: the vault, and where audit records go.
struct Port {
    vault: Arc<Vault>,
    audit: tokio::sync::mpsc::UnboundedSender<sv_proxy::AuditRecord>,
    /// The proxy's own address, once it listens.
    listen: std::sync::OnceLock<SocketAddr>,
    callers: Arc<Callers>,
}

/// What a connection's caller lookup found: the process (pid, executable),
/// or `None` when it was looked for and not found (gone, or not ours).
/// The executable is kept as the audit log shows it, converted once per
/// connection rather than once per request.
type Caller = Option<(i32, Option<Arc<str>>)>;

/// The processes behind agents' connections, found when they connected
/// (pid, executable), for their requests' audit records.
///
/// Connections are looked up in batches by one blocking task at a time:
/// one read of `/proc/net/tcp` and one pass over the processes serve every
/// connection accepted meanwhile (a burst of 100 connections used to start
/// 100 blocking threads, each reading every process's descriptors, which
/// cost CPU on the request path's cores and tens of MiB of resident
/// memory).
#[derive(Default)]
struct Callers {
    found: Mutex<HashMap<SocketAddr, Caller>>,
    /// Accepted connections not looked up yet, and whether a lookup task
    /// is running (it takes them all before it ends).
    pending: Mutex<(Vec<SocketAddr>, bool)>,
}

impl Callers {
    /// Most connections remembered; beyond, the oldest are forgotten
    /// wholesale (their records then look the caller up themselves).
    const MAX: usize = 4096;

    /// What the lookup found, `None` when the connection was not looked up
    /// (yet).
    fn get(&self, peer: &SocketAddr) -> Option<Caller> {
        self.found
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(peer)
            .cloned()
    }

    fn forget(&self, peer: &SocketAddr) {
        self.found
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(peer);
    }

    fn put_all(&self, found: HashMap<SocketAddr, Caller>) {
        let mut m = self.found.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() + found.len() > Self::MAX {
            m.clear();
        }
        m.extend(found);
    }

    /// Queues `peer` for a lookup; true when the caller must start the
    /// lookup task (none is running).
    fn queue(&self, peer: SocketAddr) -> bool {
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        p.0.push(peer);
        !std::mem::replace(&mut p.1, true)
    }

    /// The queued connections, or `None` (and the task marked ended) when
    /// there are none.
    fn take_queued(&self) -> Option<Vec<SocketAddr>> {
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if p.0.is_empty() {
            p.1 = false;
            None
        } else {
            Some(std::mem::take(&mut p.0))
        }
    }

    /// Looks up queued connections until none is left (blocking).
    fn look_up_queued(&self, proxy: SocketAddr, vault: &Vault) {
        while let Some(peers) = self.take_queued() {
            let found = callers_of(&peers, proxy, &vault.proxy.table.pinned_pids());
            self.put_all(found);
        }
    }
}

impl StandIns for Port {
    fn resolve(&self, tool: &str, stand_in: &str) -> Result<Grant, Refusal> {
        self.vault.resolve_stand_in(tool, stand_in)
    }

    fn audit(&self, record: sv_proxy::AuditRecord) {
        let _ = self.audit.send(record);
    }

    fn accepted(&self, peer: SocketAddr) {
        let Some(&listen) = self.listen.get() else {
            return;
        };
        // What an earlier connection from the same address found is not
        // this one's.
        self.callers.forget(&peer);
        if self.callers.queue(peer) {
            // Reading /proc takes a few milliseconds at most: off the
            // proxy's workers, while the agent's first request is on its
            // way.
            let callers = self.callers.clone();
            let vault = self.vault.clone();
            tokio::task::spawn_blocking(move || callers.look_up_queued(listen, &vault));
        }
    }
}

/// The running proxy and its audit writer.
pub struct Running {
    addr: SocketAddr,
    /// Tells the proxy's thread to stop.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Where the proxy listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        // The server's port (holding the sender) is gone: the writer
        // commits what is queued and ends.
        if let Some(writer) = self.writer.take() {
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
    }
}

/// The proxy's thread, running.
struct ProxyThread {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

/// Most threads the proxy's runtime starts for blocking work.
const PROXY_BLOCKING_THREADS: usize = 4;

/// Runs the proxy on a thread of its own, with a single-threaded runtime:
/// an agent's connection, its upstream connection and the response body
/// are tasks that wake each other for every request, and on the daemon's
/// two workers each of those wake-ups could be a hand-off between threads
/// (a context switch, most of the proxy's CPU per request on a 2-core VM).
/// The daemon's own requests stay on its runtime; the audit writer has a
/// thread of its own ([`spawn_audit_writer`]).
fn spawn_proxy_thread(
    listener: std::net::TcpListener,
    port: Arc<Port>,
) -> Result<ProxyThread, String> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready) = std::sync::mpsc::channel::<Result<SocketAddr, String>>();
    let thread = std::thread::Builder::new()
        .name("sv-proxy".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                // The proxy's blocking work is the upstream client's name
                // lookups and the callers' /proc lookups (one at a time):
                // unbounded, a burst of new HTTP/1.1 upstream connections
                // started a thread per lookup, each staying resident
                // (docs/proxy.md, "Memory").
                .max_blocking_threads(PROXY_BLOCKING_THREADS)
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("cannot start its runtime: {e}")));
                    return;
                }
            };
            runtime.block_on(async move {
                let started = tokio::net::TcpListener::from_std(listener)
                    .map_err(|e| e.to_string())
                    .and_then(|l| {
                        ProxyServer::serve(l, port, ProxyConfig::default())
                            .map_err(|e| e.to_string())
                    });
                let server = match started {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(server.local_addr()));
                // Until told, or until the daemon's side is dropped.
                let _ = stopped.await;
                server.shutdown().await;
            });
        })
        .map_err(|e| format!("cannot start its thread: {e}"))?;
    match ready.recv() {
        Ok(Ok(addr)) => Ok(ProxyThread { addr, stop, thread }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => {
            let _ = thread.join();
            Err("its thread ended".to_owned())
        }
    }
}

/// Starts the proxy on the vault's port: `proxy_listen` from config.toml,
/// else the port recorded in `proxy.port` beside the vault, else a free one
/// (then recorded). A failure is logged and shown by `daemon status`; the
/// daemon serves on without it.
pub async fn start(
    vault: &Arc<Vault>,
    data_dir: &Path,
    listen: Option<SocketAddr>,
) -> Option<Running> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let callers = Arc::new(Callers::default());
    let port = Arc::new(Port {
        vault: vault.clone(),
        audit: tx,
        listen: std::sync::OnceLock::new(),
        callers: callers.clone(),
    });
    let (listener, note) = bind(data_dir, listen).await;
    let started = listener.and_then(|l| start_on(l, vault, rx, port, callers));
    let status = match &started {
        Ok(running) => {
            tracing::debug!(addr = %running.addr, "credential proxy listening");
            p::ProxyStatus {
                listen: Some(running.addr.to_string()),
                note,
            }
        }
        Err(e) => {
            warn!("the credential proxy is not running: {e}");
            p::ProxyStatus {
                listen: None,
                note: Some(e.clone()),
            }
        }
    };
    *vault.proxy.status.lock().unwrap_or_else(|p| p.into_inner()) = Some(status);
    started.ok()
}

/// The audit writer, then the proxy's thread, on `listener`.
fn start_on(
    listener: tokio::net::TcpListener,
    vault: &Arc<Vault>,
    rx: tokio::sync::mpsc::UnboundedReceiver<sv_proxy::AuditRecord>,
    port: Arc<Port>,
    callers: Arc<Callers>,
) -> Result<Running, String> {
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read its listener's address: {e}"))?;
    let _ = port.listen.set(addr);
    // The writer first: no request is proxied that could not be audited.
    let writer = spawn_audit_writer(vault.clone(), rx, addr, callers)
        .map_err(|e| format!("cannot start its audit writer: {e}"))?;
    let listener = listener.into_std().map_err(|e| e.to_string())?;
    let ProxyThread { addr, stop, thread } =
        tokio::task::block_in_place(|| spawn_proxy_thread(listener, port))?;
    Ok(Running {
        addr,
        stop: Some(stop),
        thread: Some(thread),
        writer: Some(writer),
    })
}

/// The file beside the vault that keeps the proxy's port.
fn port_file(data_dir: &Path) -> PathBuf {
    data_dir.join("proxy.port")
}

/// The listener, and a note when it is not on the vault's recorded port.
async fn bind(
    data_dir: &Path,
    listen: Option<SocketAddr>,
) -> (Result<tokio::net::TcpListener, String>, Option<String>) {
    use tokio::net::TcpListener;
    if let Some(addr) = listen {
        let r = TcpListener::bind(addr).await.map_err(|e| {
            format!(
                "cannot listen on {addr} (proxy_listen in config.toml): {e}; choose another port"
            )
        });
        return (r, None);
    }
    let file = port_file(data_dir);
    let recorded = std::fs::read_to_string(&file)
        .ok()
        .and_then(|t| t.trim().parse::<u16>().ok())
        .filter(|&p| p != 0);
    let loopback = |port| SocketAddr::from(([127, 0, 0, 1], port));
    if let Some(port) = recorded {
        match TcpListener::bind(loopback(port)).await {
            Ok(l) => return (Ok(l), None),
            Err(e) => {
                // Another program holds it: serve on a free port for now,
                // and try the recorded one again at the next start (the
                // settings files that name it stay right).
                let note = format!(
                    "the vault's proxy port {port} is taken ({e}); on a temporary port until the daemon restarts (or set proxy_listen in config.toml)"
                );
                warn!("{note}");
                return (
                    TcpListener::bind(loopback(0))
                        .await
                        .map_err(|e| format!("cannot listen on 127.0.0.1: {e}")),
                    Some(note),
                );
            }
        }
    }
    let l = match TcpListener::bind(loopback(0)).await {
        Ok(l) => l,
        Err(e) => return (Err(format!("cannot listen on 127.0.0.1: {e}")), None),
    };
    if let Ok(addr) = l.local_addr() {
        if let Err(e) = record_port(&file, addr.port()) {
            warn!(file = %file.display(), "cannot record the proxy's port: {e}");
        }
    }
    (Ok(l), None)
}

/// Writes the port, 0600, through a temporary file renamed into place.
fn record_port(file: &Path, port: u16) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = file.with_extension("port.tmp");
    let mut f = sv_fs::private::file_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    f.write_all(format!("{port}\n").as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, file)
}

/// How long the audit writer gathers records before it commits them.
const AUDIT_WINDOW: std::time::Duration = std::time::Duration::from_millis(5);

/// Most records in one commit.
const AUDIT_BATCH: usize = 1024;

/// Starts the thread that commits the proxy's audit records
/// ([`audit_writer`]).
fn spawn_audit_writer(
    vault: Arc<Vault>,
    rx: tokio::sync::mpsc::UnboundedReceiver<sv_proxy::AuditRecord>,
    proxy: SocketAddr,
    callers: Arc<Callers>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    // The store's turn is the daemon runtime's semaphore; the writer waits
    // for it through the runtime's handle.
    let runtime = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("sv-audit".into())
        .spawn(move || audit_writer(&vault, rx, proxy, &callers, &runtime))
}

/// Commits the proxy's audit records in groups, off the request path, on a
/// thread of its own: its work is blocking (the `/proc` lookups, the
/// SQLite commit), and as a task of the daemon's runtime each batch moved
/// that runtime's scheduler to another thread and back three times (a
/// sixth of the writer's CPU went to those hand-offs; docs/proxy.md,
/// "CPU"). Ends when the proxy's side of the channel is gone, after
/// committing what was queued.
fn audit_writer(
    vault: &Vault,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<sv_proxy::AuditRecord>,
    proxy: SocketAddr,
    callers: &Callers,
    runtime: &tokio::runtime::Handle,
) {
    let mut last_trim = std::time::Instant::now();
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        // The records of the next few milliseconds join this one's commit:
        // one client's back-to-back requests (a few hundred microseconds
        // each) otherwise cost a commit each, on the cores that carry the
        // requests. The writer sleeps through the window without waiting on
        // the channel: a receiver that waits is woken by every record sent,
        // a thread woken (a context switch) per proxied request, which
        // under load was a fifth of the daemon's CPU (docs/proxy.md,
        // "CPU"). The record is written a little later, never lost: at
        // shutdown the channel closes and what is queued is committed.
        std::thread::sleep(AUDIT_WINDOW);
        while batch.len() < AUDIT_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        batch.retain(|r| !answered_by_the_proxy(r));
        if batch.is_empty() {
            continue;
        }
        // Each record's caller as its connection's lookup found it, looked
        // up once. Connections not looked up yet (their lookup is still
        // queued, or was forgotten): one pass for all of this batch's.
        let known: Vec<Option<Caller>> = batch.iter().map(|r| callers.get(&r.peer)).collect();
        let mut missing: Vec<SocketAddr> = batch
            .iter()
            .zip(&known)
            .filter(|(_, known)| known.is_none())
            .map(|(r, _)| r.peer)
            .collect();
        missing.sort_unstable();
        missing.dedup();
        let here = if missing.is_empty() {
            HashMap::new()
        } else {
            callers_of(&missing, proxy, &vault.proxy.table.pinned_pids())
        };
        let records = batch
            .into_iter()
            .zip(known)
            .map(|(r, known)| {
                let caller = known.or_else(|| here.get(&r.peer).cloned());
                record_of(r, caller.flatten())
            })
            .collect::<Vec<_>>();
        if !here.is_empty() {
            callers.put_all(here);
        }
        let turn = runtime.block_on(vault.store_turn.acquire()).ok();
        if let Err(e) = vault.commit_audit(&records) {
            warn!(error = %e, records = records.len(), "cannot write the proxy's audit records");
        }
        drop(turn);
        // Requests leave freed memory behind in the allocator (their
        // headers, bodies in flight, a burst's connections), which glibc
        // keeps resident; handed back at most once a second while the
        // proxy is busy (docs/proxy.md, "Memory").
        if rx.is_empty() && last_trim.elapsed() >= TRIM_EVERY {
            crate::hygiene::release_memory();
            last_trim = std::time::Instant::now();
        }
    }
}

/// How often, at most, the audit writer hands freed memory back.
const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// A request the proxy answered itself without a stand-in and without
/// refusing it (Claude Code's key-less `HEAD` preconnect): nothing was
/// forwarded and no key asked for, so it is not an audit event; logging it
/// as a refusal would put one in `session-vault log --denied` per launch.
fn answered_by_the_proxy(r: &sv_proxy::AuditRecord) -> bool {
    r.session.is_none() && r.outcome == sv_proxy::Outcome::Completed
}

/// The audit log's record of one proxied (or refused) request.
fn record_of(r: sv_proxy::AuditRecord, caller: Caller) -> AuditRecord {
    let (pid, exe) = match caller {
        Some((pid, exe)) => (Some(pid), exe),
        None => (None, None),
    };
    let outcome = if r.session.is_some() {
        AuditOutcome::Proxied
    } else {
        AuditOutcome::RefusedStandIn
    };
    let time = r
        .time
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_else(|_| now());
    let tool = (!r.tool.is_empty()).then(|| at_most(r.tool, 64));
    AuditRecord {
        time,
        tool,
        session_id: r.session,
        outcome,
        pid,
        exe: exe.map(|e| e.to_string()),
        cwd: None,
        request: Some(ProxiedRequest {
            method: at_most(r.method, 32),
            host: r.host,
            path: at_most(r.path, 2048),
            status: r.status,
            bytes_up: r.bytes_up,
            bytes_down: r.bytes_down,
            duration_ms: u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
        }),
        rule: None,
    }
}

/// `s` cut to its first `chars` characters; moved as it is when it is no
/// longer (the usual case: no copy).
fn at_most(mut s: String, chars: usize) -> String {
    if s.len() > chars {
        if let Some((cut, _)) = s.char_indices().nth(chars) {
            s.truncate(cut);
        }
    }
    s
}

/// The process holding the client end of a loopback TCP connection to the
/// proxy: `/proc/net/tcp` gives the socket's inode and owner, then the
/// processes of this user are searched for a descriptor on that socket,
/// the processes in `first` (the agents stand-ins are bound to) before the
/// others. `None` when the connection is already gone or the owner is not
/// ours.
#[cfg(test)]
fn caller_of(client: SocketAddr, proxy: SocketAddr, first: &[i32]) -> Caller {
    callers_of(&[client], proxy, first)
        .remove(&client)
        .flatten()
}

/// [`caller_of`] for several connections at once: each table of
/// `/proc/net/tcp{,6}` is read once, and each process's descriptors are
/// read at most once, until every connection's socket is found. Every
/// connection asked about gets an entry.
fn callers_of(
    clients: &[SocketAddr],
    proxy: SocketAddr,
    first: &[i32],
) -> HashMap<SocketAddr, Caller> {
    let mut out: HashMap<SocketAddr, Caller> = clients.iter().map(|&c| (c, None)).collect();
    let me = crate::hygiene::uid();
    // socket inode -> connection
    let mut wanted: HashMap<u64, SocketAddr> = HashMap::new();
    for (v6, table) in [(false, "/proc/net/tcp"), (true, "/proc/net/tcp6")] {
        let ours: HashMap<String, SocketAddr> = clients
            .iter()
            .filter(|c| c.is_ipv6() == v6)
            .map(|&c| (proc_net_addr(c), c))
            .collect();
        if ours.is_empty() {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        let remote = proc_net_addr(proxy);
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() <= 9
                || !f[2].eq_ignore_ascii_case(&remote)
                || f[7].parse::<u32>().ok() != Some(me)
            {
                continue;
            }
            let Some(&client) = ours.get(&f[1].to_ascii_uppercase()) else {
                continue;
            };
            if let Some(inode) = f[9].parse::<u64>().ok().filter(|&i| i != 0) {
                wanted.insert(inode, client);
            }
        }
    }
    if wanted.is_empty() {
        return out;
    }
    // Each process's descriptors, once: the connections whose socket it
    // holds are its.
    fn search(
        pid: i32,
        wanted: &mut HashMap<u64, SocketAddr>,
        out: &mut HashMap<SocketAddr, Caller>,
    ) {
        let dir = PathBuf::from(format!("/proc/{pid}"));
        let Ok(fds) = std::fs::read_dir(dir.join("fd")) else {
            return;
        };
        let mut exe: Option<Option<Arc<str>>> = None;
        for fd in fds.flatten() {
            let Ok(link) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let Some(inode) = link
                .to_str()
                .and_then(|l| l.strip_prefix("socket:["))
                .and_then(|l| l.strip_suffix(']'))
                .and_then(|l| l.parse::<u64>().ok())
            else {
                continue;
            };
            if let Some(client) = wanted.remove(&inode) {
                let exe = exe
                    .get_or_insert_with(|| {
                        std::fs::read_link(dir.join("exe"))
                            .ok()
                            .map(|e| Arc::from(e.to_string_lossy()))
                    })
                    .clone();
                out.insert(client, Some((pid, exe)));
                if wanted.is_empty() {
                    return;
                }
            }
        }
    }
    for &pid in first {
        search(pid, &mut wanted, &mut out);
        if wanted.is_empty() {
            return out;
        }
    }
    let me_pid = std::process::id() as i32;
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for pid in procs
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter(|pid| *pid != me_pid && !first.contains(pid))
    {
        search(pid, &mut wanted, &mut out);
        if wanted.is_empty() {
            break;
        }
    }
    out
}

/// An address as `/proc/net/tcp{,6}` writes it: the address's bytes as
/// host-order 32-bit words in hex, a colon, the port in hex.
fn proc_net_addr(a: SocketAddr) -> String {
    let words = |bytes: &[u8]| -> String {
        bytes
            .chunks(4)
            .map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
            .collect()
    };
    let ip = match a {
        SocketAddr::V4(v) => words(&v.ip().octets()),
        SocketAddr::V6(v) => words(&v.ip().octets()),
    };
    format!("{ip}:{:04X}", a.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sv_core::ToolTable;
    use sv_proxy::AuthPlace;

    #[test]
    fn only_the_proxys_own_key_less_answers_stay_out_of_the_audit_log() {
        let record = |session: Option<&str>, outcome, status| sv_proxy::AuditRecord {
            time: std::time::SystemTime::now(),
            tool: "claude".into(),
            session: session.map(str::to_owned),
            method: "HEAD".into(),
            host: None,
            path: "/t/claude".into(),
            status,
            bytes_up: 0,
            bytes_down: 0,
            duration: std::time::Duration::ZERO,
            peer: "127.0.0.1:5555".parse().unwrap(),
            outcome,
        };
        use sv_proxy::Outcome::*;
        // Claude Code's preconnect, answered 200 by the proxy itself.
        assert!(answered_by_the_proxy(&record(None, Completed, 200)));
        // Refusals and forwarded requests are audited.
        assert!(!answered_by_the_proxy(&record(None, Refused, 401)));
        assert!(!answered_by_the_proxy(&record(Some("s1"), Completed, 200)));
        assert!(!answered_by_the_proxy(&record(
            Some("s1"),
            UpstreamFailed,
            502
        )));
    }

    #[test]
    fn proc_net_addresses() {
        if cfg!(target_endian = "little") {
            assert_eq!(
                proc_net_addr("127.0.0.1:8787".parse().unwrap()),
                "0100007F:2253"
            );
        }
    }

    #[test]
    fn the_caller_of_a_loopback_connection_is_found() {
        // This process connects to itself: the search skips the daemon's own
        // pid, so a child holds the client end here.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let at = listener.local_addr().unwrap();
        let mut child = std::process::Command::new("python3")
            .args([
                "-c",
                &format!(
                    "import socket,sys,time\ns=socket.create_connection(('127.0.0.1',{}))\nprint(s.getsockname()[1],flush=True)\ntime.sleep(30)",
                    at.port()
                ),
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let (_conn, peer) = listener.accept().unwrap();
        let found = caller_of(peer, at, &[]);
        child.kill().unwrap();
        child.wait().unwrap();
        let (pid, exe) = found.expect("caller found");
        assert_eq!(pid, child.id() as i32);
        assert!(exe.unwrap().contains("python"));
    }

    #[test]
    fn routes_of_builtins_and_user_tools() {
        let t = ToolTable::with_config(
            "[tools.groq]\nvars=[\"GROQ_API_KEY\"]\nupstream=\"https://api.groq.com/openai/v1\"\nauth=\"bearer\"\nbase_url_var=\"GROQ_BASE_URL\"\n\
             [tools.half]\nvars=[\"H\"]\nupstream=\"https://h.example\"\n\
             [tools.claude]\nupstream=\"http://plain.example\"\n",
        )
        .unwrap();
        let r = Routes::new(&t);
        let codex = r.get("codex").unwrap();
        assert_eq!(codex.base_url_var, "OPENAI_BASE_URL");
        assert_eq!(codex.base_url_suffix, "/v1");
        let groq = r.get("groq").unwrap();
        assert_eq!(groq.auth, AuthPlace::Bearer);
        assert_eq!(groq.base_url_suffix, "");
        let half = r.get("half").err().unwrap().message;
        assert!(half.contains("auth"), "{half}");
        // https only.
        assert!(r.get("claude").is_err());
        // cursor has no route.
        assert!(r
            .get("cursor")
            .err()
            .unwrap()
            .message
            .contains("no proxy route"));
    }
}
