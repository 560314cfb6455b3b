//! The daemon's state and its request handlers. Handlers are synchronous
//! (SQLite and Argon2 block); the server runs them with `block_in_place`.

use crate::audit::{AuditQueue, AuditRecord, AuditTrail};
use crate::idle::IdleClock;
use crate::lookups::LookupCache;
use serde::Serialize;
use serde_json::value::RawValue;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use sv_core::ops::{AuditOutcome, DaemonConfig, LogParams, LogResult};
use sv_core::paths::VaultPaths;
use sv_core::protocol::{self as p, code, method, RpcError};
use sv_core::scope::ScopeMatcher;
use sv_core::seal::{RecordBinding, NONCE_LEN};
use sv_core::{Expiry, Scope, SecretString, ToolTable, VaultKey};
use sv_keyring::{KeyBackend, KeyringError};
use sv_store::{SealedValue, SessionRow, Store, StoreError};
use tracing::{debug, info, warn};
use zeroize::Zeroizing;

mod rekey;

/// Who is asking: from the kernel, not from the message.
#[derive(Debug, Clone)]
pub struct Peer {
    pub uid: u32,
    pub pid: Option<i32>,
    /// Canonical working directory read from `/proc/PID/cwd`.
    pub cwd: Option<PathBuf>,
    pub exe: Option<PathBuf>,
}

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
}

/// A handled request: its answer, and the audit record that must be
/// committed before the answer goes out (see [`Dispatched::settle`]).
pub struct Dispatched {
    pub out: Outcome,
    pub audit: Option<AuditRecord>,
}

impl Dispatched {
    fn plain(out: Outcome) -> Self {
        Dispatched { out, audit: None }
    }

    /// A lookup's answer, serialised, with its record.
    fn served(r: Result<p::GetResult, RpcError>, record: AuditRecord) -> Self {
        let out = r.and_then(|r| {
            // JSON escaping at most sextuples a byte (\u00XX).
            let size: usize = r
                .values
                .iter()
                .map(|v| 6 * v.value.len() + v.name.len() + 32)
                .sum();
            to_json(&r, size + 256)
        });
        Dispatched {
            out,
            audit: Some(record),
        }
    }

    pub fn error(e: RpcError) -> Self {
        Dispatched::plain(Err(e))
    }

    /// The answer once the record's commit is known: a serve whose record
    /// could not be written is refused (no record, no credential); a
    /// refusal stays a refusal.
    pub fn settle(self, committed: Result<(), String>) -> Outcome {
        match (committed, &self.audit) {
            (Err(e), Some(rec)) if rec.required() => {
                warn!(session = ?rec.session_id, tool = ?rec.tool, pid = ?rec.pid, "refused: the audit record could not be written");
                Err(RpcError::new(
                    code::STORAGE,
                    format!("cannot write the audit record ({e}); nothing was served"),
                ))
            }
            (Ok(()), Some(rec)) if rec.required() => {
                // The audit log is the record of every serve; the daemon's
                // log repeats it only at debug level (at info it was a line
                // per lookup, and a tenth of a lookup's cost).
                debug!(session = ?rec.session_id, tool = ?rec.tool, pid = ?rec.pid, exe = ?rec.exe, cwd = ?rec.cwd, "served credential");
                self.out
            }
            _ => self.out,
        }
    }
}

/// Unix seconds as the expiry rules see them (see [`crate::clock`]).
pub fn now() -> i64 {
    crate::clock::now()
}

/// A handler's answer: the JSON text of its result (in zeroising memory, as
/// results can hold keys), or an error.
pub type Outcome = Result<Zeroizing<Vec<u8>>, RpcError>;

fn to_raw<T: Serialize>(v: &T) -> Outcome {
    to_json(v, 512)
}

/// Serialises into one buffer of `capacity` bytes, so that a result that
/// fits never leaves a reallocated copy behind.
fn to_json<T: Serialize>(v: &T, capacity: usize) -> Outcome {
    let mut buf = Zeroizing::new(Vec::with_capacity(capacity));
    serde_json::to_writer(&mut *buf, v)
        .map_err(|e| RpcError::new(code::INTERNAL, e.to_string()))?;
    Ok(buf)
}

fn params<'a, T: serde::Deserialize<'a>>(raw: Option<&'a RawValue>) -> Result<T, RpcError> {
    let text = raw.map(|r| r.get()).unwrap_or("{}");
    // serde's message can quote input; it goes back only to the same peer.
    serde_json::from_str(text)
        .map_err(|e| RpcError::new(code::INVALID_PARAMS, format!("invalid params: {e}")))
}

fn store_err(e: StoreError) -> RpcError {
    let c = match e {
        StoreError::Damaged { .. } | StoreError::NewerSchema { .. } => code::VAULT_DAMAGED,
        StoreError::AmbiguousId(_) => code::INVALID_PARAMS,
        _ => code::STORAGE,
    };
    RpcError::new(c, e.to_string())
}

fn keyring_err(e: KeyringError) -> RpcError {
    let c = match e {
        KeyringError::WrongPassphrase => code::WRONG_PASSPHRASE,
        KeyringError::EmptyPassphrase | KeyringError::PassphraseRequired => code::INVALID_PARAMS,
        KeyringError::Damaged { .. } | KeyringError::KeyMissing { .. } => code::VAULT_DAMAGED,
        KeyringError::Locked { .. } => code::LOCKED,
        _ => code::INTERNAL,
    };
    RpcError::new(c, e.to_string())
}

fn locked_error() -> RpcError {
    RpcError::new(
        code::LOCKED,
        "the vault is locked; run `session-vault unlock`",
    )
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
        if self.idle.due()
            && self.backend().needs_passphrase()
            && self.key.read().unwrap_or_else(|p| p.into_inner()).is_some()
        {
            info!(lock_after = ?self.idle.after(), "idle: locking the vault");
            self.lock();
        }
    }

    /// Records a connection refused because its peer runs as another user.
    pub fn audit_refused_uid(&self, peer: &Peer) {
        let record = AuditRecord::new(peer, None, None, None, AuditOutcome::RefusedUid);
        self.audit.refusal(&mut self.store(), record);
    }

    /// Commits audit records now, in one transaction (the writer thread's
    /// and the synchronous path's way in).
    /// Commits lookups' audit records, then restarts the idle clock of each
    /// session served (in memory; see [`Store::touch`]): a serve whose
    /// record cannot be written is refused, so it restarts nothing.
    pub fn commit_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        let mut store = self.store();
        self.audit.append(&mut store, records)?;
        for rec in records {
            if let (AuditOutcome::Served, Some(id)) = (rec.outcome, &rec.session_id) {
                store.touch(id, rec.time);
            }
        }
        Ok(())
    }

    fn log(&self, prm: LogParams) -> Result<LogResult, RpcError> {
        let entries = self.store().audit_entries(&prm).map_err(store_err)?;
        Ok(LogResult { entries })
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
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

    /// Periodic housekeeping: drop expired sessions.
    pub fn purge(&self) {
        self.audit.trim(&self.store());
        match self.store().purge_expired(now()) {
            Ok(0) => {}
            Ok(n) => info!(count = n, "purged expired sessions"),
            Err(e) => warn!(error = %e, "purge failed"),
        }
    }

    pub fn checkpoint(&self) {
        if let Err(e) = self.store().checkpoint() {
            warn!(error = %e, "checkpoint at shutdown failed");
        }
    }

    /// Handles one decoded request. A `get` leaves its audit record in the
    /// answer for the caller to commit (see [`Dispatched`]).
    pub fn dispatch(&self, req: &p::IncomingRequest<'_>, peer: &Peer) -> Dispatched {
        if req.method == method::GET {
            let prm = match params(req.params) {
                Ok(prm) => prm,
                Err(e) => return Dispatched::plain(Err(e)),
            };
            let (r, record) = self.get(prm, peer);
            return Dispatched::served(r, record);
        }
        Dispatched::plain(self.dispatch_other(req, peer))
    }

    /// A lookup this daemon can answer from memory, without the store
    /// (see `lookups.rs`); `None` for anything else, which then goes
    /// through [`Vault::dispatch`].
    pub fn dispatch_cached(&self, req: &p::IncomingRequest<'_>, peer: &Peer) -> Option<Dispatched> {
        if req.method != method::GET {
            return None;
        }
        let prm: p::GetParams = params(req.params).ok()?;
        let (r, record) = self.get_cached(&prm, peer)?;
        Some(Dispatched::served(Ok(r), record))
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
        let mut key = self.key.write().unwrap_or_else(|p| p.into_inner());
        self.lookups.clear();
        if key.take().is_some() {
            *self.locked_since.lock().unwrap_or_else(|p| p.into_inner()) = Some(now());
            info!("vault locked");
        }
    }

    fn tool_vars(&self, tool: &str) -> Result<&[String], RpcError> {
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

    fn add(&self, prm: p::AddParams) -> Result<p::AddResult, RpcError> {
        let vars = self.tool_vars(&prm.tool)?;
        let bad = |m: String| RpcError::new(code::INVALID_PARAMS, m);
        if prm.values.len() != vars.len() || prm.values.iter().zip(vars).any(|(v, n)| &v.name != n)
        {
            return Err(bad(format!(
                "tool `{}` needs exactly these variables, in order: {}",
                prm.tool,
                vars.join(", ")
            )));
        }
        for v in &prm.values {
            if v.value.is_empty() {
                return Err(bad(format!(
                    "the value of {} is empty; nothing was stored",
                    v.name
                )));
            }
            if v.value.expose().contains('\0') {
                return Err(bad(format!(
                    "the value of {} contains a NUL byte, which no environment variable can hold",
                    v.name
                )));
            }
        }
        if prm.label.as_ref().is_some_and(|l| l.len() > 200) {
            return Err(bad("the label is longer than 200 bytes".into()));
        }
        let scope = match &prm.project {
            None => Scope::Global,
            Some(dir) => Scope::Project(canonical_dir(dir)?),
        };
        let key_guard = self.key.read().unwrap_or_else(|p| p.into_inner());
        let key = key_guard.as_ref().ok_or_else(locked_error)?;
        let id = crate::ids::new_session_id().map_err(keyring_err)?;
        let fp_input = SecretString::new(
            prm.values
                .iter()
                .map(|v| v.value.expose())
                .collect::<Vec<_>>()
                .join("\0"),
        );
        let fingerprint = key.fingerprint(&fp_input);
        let mut sealed = Vec::with_capacity(prm.values.len());
        for v in &prm.values {
            let mut nonce = [0u8; NONCE_LEN];
            sv_keyring::random_bytes(&mut nonce).map_err(keyring_err)?;
            let binding = RecordBinding {
                session_id: &id,
                tool: &prm.tool,
                var: &v.name,
                scope: &scope,
            };
            sealed.push(SealedValue {
                var: v.name.clone(),
                sealed: key.seal(&binding, &v.value, nonce),
            });
        }
        drop(key_guard);
        let row = SessionRow {
            id: id.clone(),
            tool: prm.tool.clone(),
            scope: scope.clone(),
            label: prm.label.clone(),
            fingerprint: fingerprint.clone(),
            expiry: Expiry::new(now(), prm.ttl, prm.max_age),
            vars: vars.to_vec(),
        };
        self.store()
            .insert_session(&row, &sealed)
            .map_err(store_err)?;
        info!(session = %id, tool = %prm.tool, scope = %scope.as_db_str(), "stored session");
        Ok(p::AddResult { id, fingerprint })
    }

    /// A lookup: the answer and its audit record (every way out of here has
    /// one; the caller commits it before answering).
    fn get(&self, prm: p::GetParams, peer: &Peer) -> (Result<p::GetResult, RpcError>, AuditRecord) {
        let mut cwd = None;
        let mut session = None;
        let mut decided_at = None;
        let out = self.get_inner(&prm, peer, &mut cwd, &mut session, &mut decided_at);
        let outcome = match &out {
            Ok(_) => AuditOutcome::Served,
            Err((_, outcome)) => *outcome,
        };
        let mut record = AuditRecord::new(
            peer,
            cwd.as_deref(),
            Some(&prm.tool),
            session.as_deref(),
            outcome,
        );
        // A serve is recorded at the time it was decided at, which is also
        // when it restarts the session's idle clock (`commit_audit`).
        if let Some(t) = decided_at {
            record.time = t;
        }
        (out.map_err(|(e, _)| e), record)
    }

    /// The lookup proper. `cwd` and `session` are filled in as they become
    /// known, for the audit record.
    fn get_inner(
        &self,
        prm: &p::GetParams,
        peer: &Peer,
        cwd_out: &mut Option<PathBuf>,
        session_out: &mut Option<String>,
        decided_at: &mut Option<i64>,
    ) -> Result<p::GetResult, (RpcError, AuditOutcome)> {
        let failed = |e: RpcError| (e, AuditOutcome::Failed);
        if let Err(e) = self.tool_vars(&prm.tool) {
            return Err((e, AuditOutcome::RefusedUnknownTool));
        }
        let cwd = match (&peer.cwd, cfg!(target_os = "linux")) {
            (Some(c), _) => c.clone(),
            // Where the kernel cannot tell, the claimed directory is used.
            (None, false) => canonical_dir(prm.cwd.as_deref().unwrap_or("")).map_err(failed)?,
            (None, true) => {
                debug!(pid = ?peer.pid, tool = %prm.tool, "refused: cannot read the caller's directory");
                crate::logging::note_refusal();
                return Err((RpcError::new(
                    code::NO_CREDENTIAL,
                    "cannot read the calling process's working directory from /proc; run the command from an existing directory",
                ), AuditOutcome::RefusedNoCwd));
            }
        };
        *cwd_out = Some(cwd.clone());
        let key_guard = self.key.read().unwrap_or_else(|p| p.into_inner());
        let Some(key) = key_guard.as_ref() else {
            debug!(pid = ?peer.pid, tool = %prm.tool, "refused: vault locked");
            crate::logging::note_refusal();
            return Err((locked_error(), AuditOutcome::RefusedLocked));
        };
        let t = now();
        let mut store = self.store();
        let scopes = sv_core::scope::covering_scopes(&cwd);
        let rows = store
            .sessions_in_scopes(&prm.tool, &scopes)
            .map_err(|e| failed(store_err(e)))?;
        let (expired, live): (Vec<_>, Vec<_>) =
            rows.into_iter().partition(|r| r.expiry.is_expired(t));
        let matcher = ScopeMatcher::new(&cwd);
        let Some(row) = matcher.best(live.iter().map(|r| (&r.scope, r.expiry.created_at, r)))
        else {
            // An expired session that would have served is a refusal of its own kind.
            let lapsed = matcher.best(expired.iter().map(|r| (&r.scope, r.expiry.created_at, r)));
            let outcome = match lapsed {
                Some(r) => {
                    *session_out = Some(r.id.clone());
                    AuditOutcome::RefusedExpired
                }
                None => AuditOutcome::RefusedScope,
            };
            purge_rows(&mut store, &expired, &prm.tool).map_err(failed)?;
            debug!(pid = ?peer.pid, exe = ?peer.exe, cwd = %cwd.display(), tool = %prm.tool, outcome = outcome.as_str(), "refused: no credential in scope");
            crate::logging::note_refusal();
            let err = RpcError::new(
                code::NO_CREDENTIAL,
                format!(
                    "no credential for tool `{}` in {}{}; add one with `session-vault add --tool {} --project DIR` (or --global)",
                    prm.tool,
                    cwd.display(),
                    if lapsed.is_some() { " (the one that matched has expired)" } else { "" },
                    prm.tool
                ),
            );
            return Err((err, outcome));
        };
        *session_out = Some(row.id.clone());
        purge_rows(&mut store, &expired, &prm.tool).map_err(failed)?;
        let sealed = store
            .sealed_values(&row.id)
            .map_err(|e| failed(store_err(e)))?;
        let result = open_session(key, row, &sealed).map_err(failed)?;
        // Restarted under the lock the decision was made under, so a purge
        // cannot come in between; `commit_audit` restarts it again (at the
        // same time) once the record is written, as it does for the serves
        // answered from memory.
        store.touch(&row.id, t);
        *decided_at = Some(t);
        // Read after the purge, under the store's lock: what the store
        // holds now is what was just decided on.
        let changes = store.change_count();
        drop(store);
        let live: Vec<&SessionRow> = live.iter().collect();
        self.lookups
            .remember(&prm.tool, &cwd, changes, &live, row, &sealed);
        self.idle.touch();
        Ok(result)
    }

    /// The lookup answered from memory, when it can be (see `lookups.rs`):
    /// the same answer and the same record as [`Vault::get`] would give,
    /// without the store. `None`: ask [`Vault::get`].
    fn get_cached(&self, prm: &p::GetParams, peer: &Peer) -> Option<(p::GetResult, AuditRecord)> {
        self.tools.vars(&prm.tool)?;
        // Only the kernel's view of the caller's directory is cached on.
        let cwd = peer.cwd.as_deref()?;
        let key_guard = self.key.read().unwrap_or_else(|p| p.into_inner());
        let key = key_guard.as_ref()?;
        let t = now();
        let result = self
            .lookups
            .answer(&prm.tool, cwd, t, |row, sealed| {
                open_session(key, row, sealed).ok()
            })
            .flatten()?;
        drop(key_guard);
        self.idle.touch();
        let mut record = AuditRecord::new(
            peer,
            Some(cwd),
            Some(&prm.tool),
            Some(&result.session_id),
            AuditOutcome::Served,
        );
        // The session's idle clock restarts at `t` when this record is
        // committed (`commit_audit`): a serve refused for want of its
        // record restarts nothing.
        record.time = t;
        Some((result, record))
    }

    /// The `list` answer ([`p::ListResult`] of [`p::ListRow`]s, or of
    /// [`p::BriefRow`]s when asked for `brief`), each row serialised as it
    /// comes from SQLite, borrowing its strings (a full row allocates only
    /// its list of variable names).
    fn list(&self, prm: p::ListParams) -> Outcome {
        use std::io::Write;
        let t = now();
        let store = self.store();
        let scope = prm.project.as_deref().map(scope_from_arg).transpose()?;
        // Nothing here is secret: a plain buffer may grow as it likes.
        let mut buf: Vec<u8> = Vec::with_capacity(4096);
        let _ = write!(buf, r#"{{"now":{t},"sessions":["#);
        let mut first = true;
        store
            .visit_sessions(prm.tool.as_deref(), scope.as_ref(), |v| {
                // Expired sessions are not listed; their rows go with the
                // next purge (every minute, and at every lookup that meets
                // them) rather than costing every `list` a second scan.
                if v.expiry.is_expired(t) {
                    return;
                }
                if !first {
                    buf.push(b',');
                }
                first = false;
                let e = &v.expiry;
                // Writing to a Vec cannot fail.
                let _ = if prm.brief {
                    let row = p::BriefRow(
                        v.id.into(),
                        v.tool.into(),
                        v.fingerprint.into(),
                        v.scope.into(),
                        e.expires_at(),
                    );
                    serde_json::to_writer(&mut buf, &row)
                } else {
                    let row = p::ListRow(
                        v.id.into(),
                        v.tool.into(),
                        v.vars().map(Into::into).collect(),
                        v.fingerprint.into(),
                        v.scope.into(),
                        v.label.map(Into::into),
                        e.created_at,
                        e.last_used,
                        e.idle_ttl,
                        e.hard_deadline,
                        e.expires_at(),
                    );
                    serde_json::to_writer(&mut buf, &row)
                };
            })
            .map_err(store_err)?;
        buf.extend_from_slice(b"]}");
        Ok(Zeroizing::new(buf))
    }

    fn remove(&self, prm: p::RemoveParams) -> Result<p::RemoveResult, RpcError> {
        let mut store = self.store();
        let removed = match (&prm.id, &prm.tool, &prm.project) {
            (Some(id), None, None) => {
                if id.len() < 4 {
                    return Err(RpcError::new(
                        code::INVALID_PARAMS,
                        "give at least 4 characters of the session id (see `session-vault list`)",
                    ));
                }
                store.remove_by_id_prefix(id).map_err(store_err)?
            }
            (None, Some(tool), None) => store.remove_by_tool(tool).map_err(store_err)?,
            (None, None, Some(project)) => store
                .remove_by_scope(&scope_from_arg(project)?)
                .map_err(store_err)?,
            _ => {
                return Err(RpcError::new(
                    code::INVALID_PARAMS,
                    "give exactly one of: a session id, a tool, a project",
                ))
            }
        };
        info!(count = removed, "removed sessions");
        Ok(p::RemoveResult { removed })
    }
}

/// Deletes expired sessions met on the way (SQLite `secure_delete`).
/// Opens a session's sealed values with the vault key: the lookup's answer.
fn open_session(
    key: &VaultKey,
    row: &SessionRow,
    sealed: &[SealedValue],
) -> Result<p::GetResult, RpcError> {
    let mut values = Vec::with_capacity(sealed.len());
    for sv in sealed {
        let binding = RecordBinding {
            session_id: &row.id,
            tool: &row.tool,
            var: &sv.var,
            scope: &row.scope,
        };
        match key.open(&binding, &sv.sealed) {
            Ok(value) => values.push(p::VarValue {
                name: sv.var.clone(),
                value,
            }),
            Err(e) => {
                warn!(session = %row.id, "record failed its integrity check");
                return Err(RpcError::new(
                    code::VAULT_DAMAGED,
                    format!("session {} cannot be opened: {e}; remove it with `session-vault remove {}` and add the key again", row.id, row.id),
                ));
            }
        }
    }
    if values.is_empty() {
        return Err(RpcError::new(
            code::VAULT_DAMAGED,
            format!(
                "session {} has no stored values; remove it and add the key again",
                row.id
            ),
        ));
    }
    Ok(p::GetResult {
        session_id: row.id.clone(),
        tool: row.tool.clone(),
        scope: row.scope.as_db_str().into_owned(),
        values,
    })
}

fn purge_rows(store: &mut Store, expired: &[SessionRow], tool: &str) -> Result<(), RpcError> {
    if !expired.is_empty() {
        let ids: Vec<String> = expired.iter().map(|r| r.id.clone()).collect();
        store.remove_ids(&ids).map_err(store_err)?;
        info!(count = ids.len(), tool = %tool, "purged expired sessions");
    }
    Ok(())
}

/// `global` or a project path (canonicalised when it still exists).
fn scope_from_arg(s: &str) -> Result<Scope, RpcError> {
    if s == sv_core::scope::GLOBAL {
        return Ok(Scope::Global);
    }
    let p = Path::new(s);
    if !p.is_absolute() {
        return Err(RpcError::new(
            code::INVALID_PARAMS,
            "the project must be an absolute path",
        ));
    }
    Ok(Scope::Project(
        std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned()),
    ))
}

fn canonical_dir(dir: &str) -> Result<PathBuf, RpcError> {
    let p = Path::new(dir);
    let bad = |m: String| RpcError::new(code::INVALID_PARAMS, m);
    if !p.is_absolute() {
        return Err(bad(format!("the project `{dir}` must be an absolute path")));
    }
    let c = std::fs::canonicalize(p)
        .map_err(|e| bad(format!("the project directory {dir} cannot be used: {e}")))?;
    if !c.is_dir() {
        return Err(bad(format!("the project {dir} is not a directory")));
    }
    if Scope::storable_project(c.clone()).is_none() {
        return Err(bad(format!("the project {dir} resolves to {}, which is not valid UTF-8; use a directory whose path is", c.display())));
    }
    Ok(c)
}
