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

/// The processes behind agents' connections, found when they connected
/// (pid, executable), for their requests' audit records.
#[derive(Default)]
struct Callers(Mutex<HashMap<SocketAddr, (i32, Option<PathBuf>)>>);

impl Callers {
    /// Most connections remembered; beyond, the oldest are forgotten
    /// wholesale (their records then look the caller up themselves).
    const MAX: usize = 4096;

    fn get(&self, peer: &SocketAddr) -> Option<(i32, Option<PathBuf>)> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(peer)
            .cloned()
    }

    fn forget(&self, peer: &SocketAddr) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(peer);
    }

    fn put(&self, peer: SocketAddr, found: (i32, Option<PathBuf>)) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= Self::MAX {
            m.clear();
        }
        m.insert(peer, found);
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
        let callers = self.callers.clone();
        // What an earlier connection from the same address found is not
        // this one's.
        callers.forget(&peer);
        let first = self.vault.proxy.table.pinned_pids();
        // Reading /proc takes a few milliseconds at most: off the proxy's
        // workers, while the agent's first request is on its way.
        tokio::task::spawn_blocking(move || {
            if let Some(found) = caller_of(peer, listen, &first) {
                callers.put(peer, found);
            }
        });
    }
}

/// The running proxy and its audit writer.
pub struct Running {
    server: ProxyServer,
    writer: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Where the proxy listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
        // The server's port (holding the sender) is gone: the writer
        // commits what is queued and ends.
        let _ = self.writer.await;
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
    let set_status = |listen: Option<String>, note: Option<String>| {
        *vault.proxy.status.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(p::ProxyStatus { listen, note });
    };
    let listener = match listener {
        Ok(l) => l,
        Err(e) => {
            warn!("the credential proxy is not running: {e}");
            set_status(None, Some(e));
            return None;
        }
    };
    if let Ok(addr) = listener.local_addr() {
        let _ = port.listen.set(addr);
    }
    match ProxyServer::serve(listener, port, ProxyConfig::default()) {
        Ok(server) => {
            let addr = server.local_addr();
            tracing::debug!(%addr, "credential proxy listening");
            set_status(Some(addr.to_string()), note);
            let writer = tokio::spawn(audit_writer(vault.clone(), rx, addr, callers));
            Some(Running { server, writer })
        }
        Err(e) => {
            warn!("the credential proxy is not running: {e}");
            set_status(None, Some(e.to_string()));
            None
        }
    }
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

/// Commits the proxy's audit records in groups, off the request path.
async fn audit_writer(
    vault: Arc<Vault>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<sv_proxy::AuditRecord>,
    proxy: SocketAddr,
    callers: Arc<Callers>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(r) = rx.try_recv() {
            batch.push(r);
        }
        batch.retain(|r| !answered_by_the_proxy(r));
        if batch.is_empty() {
            continue;
        }
        let records = tokio::task::block_in_place(|| {
            batch
                .into_iter()
                .map(|r| {
                    let caller = callers
                        .get(&r.peer)
                        .or_else(|| caller_of(r.peer, proxy, &vault.proxy.table.pinned_pids()));
                    record_of(r, caller)
                })
                .collect::<Vec<_>>()
        });
        let _turn = vault.store_turn.acquire().await.ok();
        if let Err(e) = tokio::task::block_in_place(|| vault.commit_audit(&records)) {
            warn!(error = %e, records = records.len(), "cannot write the proxy's audit records");
        }
    }
}

/// A request the proxy answered itself without a stand-in and without
/// refusing it (Claude Code's key-less `HEAD` preconnect): nothing was
/// forwarded and no key asked for, so it is not an audit event; logging it
/// as a refusal would put one in `session-vault log --denied` per launch.
fn answered_by_the_proxy(r: &sv_proxy::AuditRecord) -> bool {
    r.session.is_none() && r.outcome == sv_proxy::Outcome::Completed
}

/// The audit log's record of one proxied (or refused) request.
fn record_of(r: sv_proxy::AuditRecord, caller: Option<(i32, Option<PathBuf>)>) -> AuditRecord {
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
    let tool = (!r.tool.is_empty()).then(|| r.tool.chars().take(64).collect());
    AuditRecord {
        time,
        tool,
        session_id: r.session,
        outcome,
        pid,
        exe: exe.map(|e| e.to_string_lossy().into_owned()),
        cwd: None,
        request: Some(ProxiedRequest {
            method: r.method.chars().take(32).collect(),
            host: r.host,
            path: r.path.chars().take(2048).collect(),
            status: r.status,
            bytes_up: r.bytes_up,
            bytes_down: r.bytes_down,
            duration_ms: u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
        }),
        rule: None,
    }
}

/// The process holding the client end of a loopback TCP connection to the
/// proxy: `/proc/net/tcp` gives the socket's inode and owner, then the
/// processes of this user are searched for a descriptor on that socket,
/// the processes in `first` (the agents stand-ins are bound to) before the
/// others. `None` when the connection is already gone or the owner is not
/// ours.
fn caller_of(
    client: SocketAddr,
    proxy: SocketAddr,
    first: &[i32],
) -> Option<(i32, Option<PathBuf>)> {
    let table = match client {
        SocketAddr::V4(_) => "/proc/net/tcp",
        SocketAddr::V6(_) => "/proc/net/tcp6",
    };
    let text = std::fs::read_to_string(table).ok()?;
    let (local, remote) = (proc_net_addr(client), proc_net_addr(proxy));
    let me = crate::hygiene::uid();
    let inode = text.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.len() > 9
            && f[1].eq_ignore_ascii_case(&local)
            && f[2].eq_ignore_ascii_case(&remote)
            && f[7].parse::<u32>().ok() == Some(me))
        .then(|| f[9].parse::<u64>().ok())
        .flatten()
        .filter(|&i| i != 0)
    })?;
    let target = format!("socket:[{inode}]");
    let holds = |pid: i32| -> Option<(i32, Option<PathBuf>)> {
        let dir = PathBuf::from(format!("/proc/{pid}"));
        let fds = std::fs::read_dir(dir.join("fd")).ok()?;
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target.as_str()) {
                return Some((pid, std::fs::read_link(dir.join("exe")).ok()));
            }
        }
        None
    };
    if let Some(found) = first.iter().find_map(|&pid| holds(pid)) {
        return Some(found);
    }
    let me_pid = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter(|pid| *pid != me_pid && !first.contains(pid))
        .find_map(holds)
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
        assert!(exe.unwrap().to_string_lossy().contains("python"));
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
