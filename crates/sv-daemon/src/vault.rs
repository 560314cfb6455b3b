//! The daemon's state and its request handlers. Handlers are synchronous
//! (SQLite and Argon2 block); the server runs them with `block_in_place`,
//! or on the worker itself for the quick ones (see `server.rs`).
//!
//! Here: the key (open, lock, idle lock), `status`, `log`, and the dispatch
//! of a request to its handler. Lookups are in `lookup.rs`, session writes
//! and `list` in `sessions.rs`, `rekey` in `rekey.rs`.

use crate::audit::{self, AuditQueue, AuditRecord, AuditTrail};
use crate::clock::now;
use crate::idle::IdleClock;
use crate::lookups::LookupCache;
use crate::peer::Peer;
use crate::rpc::{keyring_err, params, store_err, to_raw, Dispatched, Outcome};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use sv_core::ops::{AuditOutcome, DaemonConfig, LogParams, LogResult};
use sv_core::paths::VaultPaths;
use sv_core::protocol::{self as p, code, method, RpcError};
use sv_core::{SecretString, ToolTable, VaultKey};
use sv_keyring::{KeyBackend, KeyringError};
use sv_store::{Store, StoreError};
use tracing::{debug, info, warn};

mod lookup;
mod rekey;
mod sessions;

/// The vault as the daemon holds it: the store, the key while unlocked,
/// and what the handlers share.
pub struct Vault {
    store: Mutex<Store>,
    key: RwLock<Option<VaultKey>>,
    locked_since: Mutex<Option<i64>>,
    /// Swapped by a verified `rekey`.
    backend: RwLock<Arc<dyn KeyBackend>>,
    backends: Vec<p::BackendReport>,
    /// Why the last attempt to open the key failed (for `status`).
    open_error: Mutex<Option<String>>,
    /// One rekey at a time.
    rekeying: Mutex<()>,
    tools: ToolTable,
    started: Instant,
    paths: VaultPaths,
    pub shutdown: tokio::sync::watch::Sender<bool>,
    audit: AuditTrail,
    /// Lookups' records waiting for their group commit (see `audit.rs`).
    pub audit_queue: AuditQueue,
    /// The store's turn for requests served on the async workers: they wait
    /// for it (without blocking their thread) before taking the store's
    /// lock, so while one worker is in SQLite the other reads, parses and
    /// checks other connections' requests instead of sleeping on the lock.
    pub store_turn: tokio::sync::Semaphore,
    idle: IdleClock,
    /// Lookups answered from memory (see `lookups.rs`).
    lookups: LookupCache,
    /// The credential proxy's routes and issued stand-ins (`proxy.rs`).
    #[cfg(target_os = "linux")]
    pub(crate) proxy: crate::stand_ins::ProxyState,
    /// The user's yeses to `--confirm` questions (`rules.rs`).
    #[cfg(target_os = "linux")]
    pub(crate) approvals: crate::rules::Approvals,
    /// How long a `--confirm` question waits for its answer.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    confirm_timeout: std::time::Duration,
}

impl Vault {
    pub fn new(
        store: Store,
        backend: Box<dyn KeyBackend>,
        backends: Vec<p::BackendReport>,
        tools: ToolTable,
        paths: VaultPaths,
    ) -> Self {
        Vault {
            #[cfg(target_os = "linux")]
            proxy: crate::stand_ins::ProxyState::new(&tools, store.changes()),
            #[cfg(target_os = "linux")]
            approvals: Default::default(),
            confirm_timeout: std::time::Duration::from_secs(sv_core::ops::DEFAULT_CONFIRM_TIMEOUT),
            lookups: LookupCache::new(store.changes()),
            store: Mutex::new(store),
            key: RwLock::new(None),
            locked_since: Mutex::new(Some(now())),
            backend: RwLock::new(Arc::from(backend)),
            backends,
            open_error: Mutex::new(None),
            rekeying: Mutex::new(()),
            tools,
            started: Instant::now(),
            paths,
            shutdown: tokio::sync::watch::channel(false).0,
            audit: AuditTrail::default(),
            audit_queue: AuditQueue::default(),
            store_turn: tokio::sync::Semaphore::new(1),
            idle: IdleClock::new(None),
        }
    }

    /// Applies the daemon's settings from `config.toml`. Auto-lock applies
    /// only to backends that need a passphrase: the others would reopen the
    /// vault on the next request anyway.
    pub fn with_config(mut self, cfg: DaemonConfig) -> Self {
        self.audit = AuditTrail::new(cfg.audit);
        self.confirm_timeout = std::time::Duration::from_secs(cfg.confirm_timeout);
        self.audit.trim(&self.store());
        let lock_after = cfg.lock_after.filter(|_| self.backend().needs_passphrase());
        if cfg.lock_after.is_some() && lock_after.is_none() {
            info!(
                backend = self.backend().name(),
                "lock_after ignored: this backend needs no passphrase"
            );
        }
        self.idle = IdleClock::new(lock_after.map(std::time::Duration::from_secs));
        self
    }

    /// Locks the vault when it has been idle for `lock_after`.
    pub fn lock_if_idle(&self) {
        // Only a passphrase vault locks (a rekey may have changed the backend).
        if !self.idle.due()
            || !self.backend().needs_passphrase()
            || self.key.read().unwrap_or_else(|p| p.into_inner()).is_none()
        {
            return;
        }
        let mut key = self.key.write().unwrap_or_else(|p| p.into_inner());
        // Asked again under the key's lock: an unlock that held it meanwhile
        // (Argon2 takes a while) restarted the clock, and stays unlocked.
        if key.is_some() && self.idle.due() {
            info!(lock_after = ?self.idle.after(), "idle: locking the vault");
            self.wipe_key(&mut key);
        }
    }

    /// How long a `--confirm` question waits for its answer
    /// (`confirm_timeout` in config.toml).
    #[cfg(target_os = "linux")]
    pub(crate) fn confirm_timeout(&self) -> std::time::Duration {
        self.confirm_timeout
    }

    /// Records a connection refused because its peer runs as another user.
    pub fn audit_refused_uid(&self, peer: &Peer) {
        self.audit_refused(peer, AuditOutcome::RefusedUid);
    }

    /// Records a request refused before it was read (docs/design.md §11).
    pub fn audit_refused(&self, peer: &Peer, outcome: AuditOutcome) {
        let record = audit::record_for(peer, None, None, None, outcome);
        self.audit.refusal(&mut self.store(), record);
    }

    /// Commits lookups' audit records in one transaction, then restarts the idle clock of each
    /// session served (in memory; see [`Store::touch`]): a serve whose
    /// record cannot be written is refused, so it restarts nothing.
    pub fn commit_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        let mut store = self.store();
        self.audit.append(&mut store, records)?;
        for rec in records {
            // A serve, a stand-in issued and a request proxied all use
            // the session.
            let used = matches!(
                rec.outcome,
                AuditOutcome::Served | AuditOutcome::StandIn | AuditOutcome::Proxied
            );
            if let (true, Some(id)) = (used, &rec.session_id) {
                store.touch(id, rec.time);
            }
        }
        Ok(())
    }

    fn log(&self, prm: LogParams) -> Result<LogResult, RpcError> {
        let entries = self.store().audit_entries(&prm).map_err(store_err)?;
        Ok(LogResult { entries })
    }

    pub(crate) fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        // A handler that panicked mid-way cannot leave SQLite inconsistent
        // (transactions), so a poisoned lock is safe to reuse.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn backend_name(&self) -> &'static str {
        self.backend().name()
    }

    fn backend(&self) -> Arc<dyn KeyBackend> {
        self.backend
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Opens the vault without a passphrase when the backend allows it.
    pub fn try_open_without_passphrase(&self) -> Result<(), RpcError> {
        if self.backend().needs_passphrase() {
            return Ok(());
        }
        self.open_key(None)
    }

    pub fn checkpoint(&self) {
        if let Err(e) = self.store().checkpoint() {
            warn!(error = %e, "checkpoint at shutdown failed");
        }
    }

    /// Handles one decoded request. A `get` leaves its audit record in the
    /// answer for the caller to commit (see [`Dispatched`]).
    pub fn dispatch(&self, req: &p::IncomingRequest<'_>, peer: &Peer) -> Dispatched {
        if let Some(refused) = crate::callers::agent_tree_refusal(&req.method, peer) {
            return self.refuse_in_agent_tree(req, peer, refused);
        }
        if req.method == method::GET {
            return match params(req.params) {
                Ok(prm) => self.get(prm, peer),
                Err(e) => Dispatched::error(e),
            };
        }
        #[cfg(target_os = "linux")]
        if req.method == method::STAND_INS {
            // A stand-in of a `--confirm` session may wait on the user's
            // yes: the question comes back with the refusal that stands
            // otherwise.
            let mut waiting = None;
            let out = params(req.params)
                .and_then(|prm| self.stand_ins(prm, peer, &mut waiting))
                .and_then(|r| to_raw(&r));
            return match waiting {
                Some((ask, record)) => Dispatched {
                    out,
                    audit: Some(record),
                    confirm: Some(ask),
                },
                None => Dispatched::plain(out),
            };
        }
        Dispatched::plain(self.dispatch_other(req, peer))
    }

    /// A request refused by the agent-tree rule, with its audit record
    /// (the rule's name is the record's outcome).
    fn refuse_in_agent_tree(
        &self,
        req: &p::IncomingRequest<'_>,
        peer: &Peer,
        refused: RpcError,
    ) -> Dispatched {
        let tool = (req.method == method::GET)
            .then(|| params::<p::GetParams>(req.params).ok())
            .flatten()
            .map(|prm| prm.tool);
        debug!(pid = ?peer.pid, exe = ?peer.exe, method = %req.method.chars().take(32).collect::<String>(), "refused: the caller is inside an agent tree");
        crate::logging::note_refusal(crate::logging::Refused::AgentTree);
        let record = audit::record_for(
            peer,
            None,
            tool.as_deref(),
            None,
            AuditOutcome::RefusedAgentTree,
        );
        Dispatched {
            out: Err(refused),
            audit: Some(record),
            confirm: None,
        }
    }

    fn dispatch_other(&self, req: &p::IncomingRequest<'_>, peer: &Peer) -> Outcome {
        match req.method.as_str() {
            method::STATUS => to_raw(&self.status()?),
            method::UNLOCK => {
                let prm: p::UnlockParams = params(req.params)?;
                self.open_key(Some(&prm.passphrase))?;
                to_raw(&p::Empty {})
            }
            method::LOCK => {
                self.lock();
                to_raw(&p::Empty {})
            }
            method::ADD => to_raw(&self.add(params(req.params)?)?),
            method::LIST => self.list(params(req.params)?),
            method::REMOVE => to_raw(&self.remove(params(req.params)?)?),
            method::REKEY => to_raw(&self.rekey(params(req.params)?)?),
            method::LOG => to_raw(&self.log(params(req.params)?)?),
            #[cfg(not(target_os = "linux"))]
            method::STAND_INS => Err(RpcError::new(
                code::INTERNAL,
                "the credential proxy runs on Linux only (docs/design.md §10)",
            )),
            method::SHUTDOWN => {
                info!(pid = ?peer.pid, "shutdown requested");
                let _ = self.shutdown.send(true);
                to_raw(&p::Empty {})
            }
            other => Err(RpcError::new(
                code::METHOD_NOT_FOUND,
                format!(
                    "unknown method `{}`",
                    other.chars().take(64).collect::<String>()
                ),
            )),
        }
    }

    fn status(&self) -> Result<p::StatusResult, RpcError> {
        // Lock order everywhere: key, then store.
        let locked = self.key.read().unwrap_or_else(|p| p.into_inner()).is_none();
        let backend = self.backend();
        let (wrappings, blob) = {
            let store = self.store();
            let w = store.wrapped_backends().map_err(store_err)?;
            (w, store.key_wrap(backend.name()).map_err(store_err)?)
        };
        let backend_note = self.backend_note(&*backend, blob.as_deref(), locked);
        let store = self.store();
        Ok(p::StatusResult {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            pid: std::process::id(),
            uptime_secs: self.started.elapsed().as_secs(),
            sessions: store.count().map_err(store_err)?,
            backend: backend.name().to_owned(),
            locked,
            locked_since: *self.locked_since.lock().unwrap_or_else(|p| p.into_inner()),
            initialized: store.key_check_value().map_err(store_err)?.is_some(),
            vault: self.paths.vault_db().display().to_string(),
            socket: self.paths.socket.display().to_string(),
            backends: self.backends.clone(),
            wrappings,
            backend_note,
            lock_after: self.idle.after().map(|d| d.as_secs()),
            hygiene: Some(crate::hygiene::observe()),
            #[cfg(target_os = "linux")]
            proxy: self
                .proxy
                .status
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            #[cfg(not(target_os = "linux"))]
            proxy: None,
        })
    }

    /// Recovers (or, for a new vault, creates) the vault key.
    fn open_key(&self, passphrase: Option<&SecretString>) -> Result<(), RpcError> {
        let out = self.open_key_inner(passphrase);
        let note = out.as_ref().err().map(|e| e.message.clone());
        *self.open_error.lock().unwrap_or_else(|p| p.into_inner()) = note;
        out
    }

    fn open_key_inner(&self, passphrase: Option<&SecretString>) -> Result<(), RpcError> {
        let mut key = self.key.write().unwrap_or_else(|p| p.into_inner());
        if key.is_some() {
            return Ok(());
        }
        let backend = self.backend();
        let name = backend.name();
        let mut store = self.store();
        let kcv = store.key_check_value().map_err(store_err)?;
        let vek = match kcv {
            None => {
                let vek = sv_keyring::generate_vault_key().map_err(keyring_err)?;
                let blob = backend.protect(&vek, passphrase).map_err(keyring_err)?;
                store
                    .initialize(&vek.check_value(), name, &blob, now())
                    .map_err(store_err)?;
                info!(backend = name, "created a new vault key");
                vek
            }
            Some(kcv) => {
                let Some(blob) = store.key_wrap(name).map_err(store_err)? else {
                    let have = store.wrapped_backends().map_err(store_err)?;
                    return Err(RpcError::new(
                        code::VAULT_DAMAGED,
                        format!(
                            "this vault's key is not protected by the {name} backend (it is by: {}); restart the daemon with `--backend {}`",
                            have.join(", "),
                            have.first().map(String::as_str).unwrap_or("?")
                        ),
                    ));
                };
                let vek = backend.recover(&blob, passphrase).map_err(|e| {
                    if e == KeyringError::WrongPassphrase {
                        warn!(backend = name, "unlock refused: wrong passphrase");
                    }
                    keyring_err(e)
                })?;
                if !vek.verify_check_value(&kcv) {
                    return Err(RpcError::new(
                        code::VAULT_DAMAGED,
                        "the recovered key does not match this vault's key check value; restore vault.db from a backup",
                    ));
                }
                vek
            }
        };
        *key = Some(vek);
        self.idle.touch();
        *self.locked_since.lock().unwrap_or_else(|p| p.into_inner()) = None;
        info!(backend = name, "vault unlocked");
        Ok(())
    }

    /// Wipes the key from memory.
    pub fn lock(&self) {
        self.wipe_key(&mut self.key.write().unwrap_or_else(|p| p.into_inner()));
    }

    /// Locks the vault, its key's lock held by the caller.
    fn wipe_key(&self, key: &mut Option<VaultKey>) {
        self.lookups.clear();
        if key.take().is_some() {
            *self.locked_since.lock().unwrap_or_else(|p| p.into_inner()) = Some(now());
            info!("vault locked");
        }
    }

    /// The vault key while unlocked (lock order: key, then store). For the
    /// proxy, which is built on Linux only.
    #[cfg(target_os = "linux")]
    pub(crate) fn key_read(&self) -> std::sync::RwLockReadGuard<'_, Option<VaultKey>> {
        self.key.read().unwrap_or_else(|p| p.into_inner())
    }

    /// A use of a credential: the auto-lock's idle clock restarts. For the
    /// proxy, which is built on Linux only.
    #[cfg(target_os = "linux")]
    pub(crate) fn touch_idle(&self) {
        self.idle.touch();
    }

    pub(crate) fn tool_vars(&self, tool: &str) -> Result<&[String], RpcError> {
        self.tools.vars(tool).ok_or_else(|| {
            let known: Vec<&str> = self.tools.names().collect();
            RpcError::new(
                code::UNKNOWN_TOOL,
                format!(
                    "unknown tool `{}`; known tools: {} (add others under [tools] in config.toml)",
                    tool.chars().take(64).collect::<String>(),
                    known.join(", ")
                ),
            )
        })
    }
}
