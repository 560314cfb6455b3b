//! Lookups (`get`): which session answers a tool in the caller's directory
//! (docs/design.md §4), and the audit record of every lookup, served or
//! refused (§7). A lookup is answered from memory when the lookup cache
//! knows the store's answer for sure (`lookups.rs`), else by the store.

use super::sessions::{canonical_dir, purge_rows};
use super::Vault;
use crate::audit::{self, AuditRecord};
use crate::clock::now;
use crate::peer::Peer;
use crate::rpc::{locked_error, params, store_err, Ask, Dispatched};
#[cfg(target_os = "linux")]
pub(crate) use crate::rules::Purpose;
use std::path::{Path, PathBuf};
use sv_core::ops::AuditOutcome;
use sv_core::protocol::{self as p, code, method, RpcError};
use sv_core::scope::ScopeMatcher;
use sv_core::seal::RecordBinding;
use sv_core::VaultKey;
use sv_store::{SealedValue, SessionRow};
use tracing::{debug, warn};

/// What a lookup is for (elsewhere than Linux: only plaintext keys).
#[cfg(not(target_os = "linux"))]
#[derive(Clone, Copy)]
pub(crate) enum Purpose<'a> {
    Reveal,
    #[allow(dead_code)]
    Never(std::marker::PhantomData<&'a ()>),
}

/// What a lookup decided, with all its audit record needs.
enum Decision {
    /// `answer` for a caller in `cwd`, decided at `at`: the record's time,
    /// and when the session's idle clock restarts (`commit_audit`).
    Served {
        answer: p::GetResult,
        cwd: PathBuf,
        at: i64,
    },
    /// Refused; `cwd` is the directory it was decided for, once known.
    Refused {
        why: Box<Refusal>,
        cwd: Option<PathBuf>,
    },
}

/// Why a lookup was refused, and the session it names, if any (one that
/// matched but has expired, or could not be opened). Boxed where it is
/// returned: a refusal is rare, and a serve then moves no large error.
struct Refusal {
    error: RpcError,
    outcome: AuditOutcome,
    session: Option<String>,
    /// The caller rule that refused (docs/design.md §11).
    rule: Option<String>,
    /// `--confirm`: the question whose yes would serve.
    ask: Option<Box<Ask>>,
}

impl Refusal {
    fn new(outcome: AuditOutcome, error: RpcError) -> Box<Self> {
        Box::new(Refusal {
            error,
            outcome,
            session: None,
            rule: None,
            ask: None,
        })
    }

    /// Something went wrong on the way (storage, a damaged record).
    fn failed(error: RpcError) -> Box<Self> {
        Refusal::new(AuditOutcome::Failed, error)
    }

    fn naming(mut self: Box<Self>, session: Option<&str>) -> Box<Self> {
        self.session = session.map(str::to_owned);
        self
    }
}

impl Vault {
    /// A lookup this daemon can answer from memory, without the store
    /// (see `lookups.rs`); `None` for anything else, which then goes
    /// through [`Vault::dispatch`].
    pub fn dispatch_cached(&self, req: &p::IncomingRequest<'_>, peer: &Peer) -> Option<Dispatched> {
        if req.method != method::GET || !peer.outside_agent_trees() {
            return None;
        }
        let prm: p::GetParams = params(req.params).ok()?;
        let (r, record) = self.get_cached(&prm, peer)?;
        Some(Dispatched::served(Ok(r), record))
    }

    /// A lookup, with its audit record (every lookup has one; the caller
    /// commits it before answering).
    pub(super) fn get(&self, prm: p::GetParams, peer: &Peer) -> Dispatched {
        let (answer, record, ask) =
            self.decide_recorded(&prm, peer, AuditOutcome::Served, Purpose::Reveal);
        let mut d = Dispatched::served(answer, record);
        d.confirm = ask;
        d
    }

    /// The lookup of `stand_ins`: the same decision as [`Vault::get`]'s,
    /// and its audit record (`stand_in` when served: the caller gets no
    /// key). A refusal's record is written here; a served one is left to
    /// the caller, which commits it before answering.
    /// A refusal that waits on the user's yes (`--confirm`) is not
    /// written: its question comes back with it.
    #[cfg(target_os = "linux")]
    pub(crate) fn lookup_for_stand_in(
        &self,
        prm: &p::GetParams,
        peer: &Peer,
        bound: &std::sync::Arc<crate::pidfd::ProcessPin>,
    ) -> (
        Result<p::GetResult, RpcError>,
        AuditRecord,
        Option<Box<Ask>>,
    ) {
        let (answer, record, ask) =
            self.decide_recorded(prm, peer, AuditOutcome::StandIn, Purpose::StandIn(bound));
        if answer.is_err() && ask.is_none() {
            self.audit.refusal(&mut self.store(), record.clone());
        }
        (answer, record, ask)
    }

    /// [`Vault::decide`] and the audit record of its outcome, `served` when
    /// it serves.
    fn decide_recorded(
        &self,
        prm: &p::GetParams,
        peer: &Peer,
        served: AuditOutcome,
        purpose: Purpose<'_>,
    ) -> (
        Result<p::GetResult, RpcError>,
        AuditRecord,
        Option<Box<Ask>>,
    ) {
        match self.decide(prm, peer, purpose) {
            Decision::Served { answer, cwd, at } => {
                let mut record = audit::record_for(
                    peer,
                    Some(&cwd),
                    Some(&prm.tool),
                    Some(&answer.session_id),
                    served,
                );
                record.time = at;
                (Ok(answer), record, None)
            }
            Decision::Refused { why, cwd } => {
                let mut record = audit::record_for(
                    peer,
                    cwd.as_deref(),
                    Some(&prm.tool),
                    why.session.as_deref(),
                    why.outcome,
                );
                let Refusal {
                    error, rule, ask, ..
                } = *why;
                record.rule = rule;
                (Err(error), record, ask)
            }
        }
    }

    /// The lookup proper, by the store.
    fn decide(&self, prm: &p::GetParams, peer: &Peer, purpose: Purpose<'_>) -> Decision {
        let cwd = match self
            .tool_vars(&prm.tool)
            .map_err(|e| Refusal::new(AuditOutcome::RefusedUnknownTool, e))
            .and_then(|_| caller_dir(prm, peer))
        {
            Ok(cwd) => cwd,
            Err(why) => return Decision::Refused { why, cwd: None },
        };
        match self.decide_in(prm, peer, &cwd, purpose) {
            Ok((answer, at)) => Decision::Served { answer, cwd, at },
            Err(why) => Decision::Refused {
                why,
                cwd: Some(cwd),
            },
        }
    }

    /// The session that answers `prm.tool` in `cwd`, opened, and when that
    /// was decided. Purges the expired sessions it meets and remembers the
    /// answer in the lookup cache.
    fn decide_in(
        &self,
        prm: &p::GetParams,
        peer: &Peer,
        cwd: &Path,
        purpose: Purpose<'_>,
    ) -> Result<(p::GetResult, i64), Box<Refusal>> {
        let key_guard = self.key.read().unwrap_or_else(|p| p.into_inner());
        let Some(key) = key_guard.as_ref() else {
            debug!(pid = ?peer.pid, tool = %prm.tool, "refused: vault locked");
            crate::logging::note_refusal(crate::logging::Refused::Lookup);
            return Err(Refusal::new(AuditOutcome::RefusedLocked, locked_error()));
        };
        let t = now();
        let mut store = self.store();
        let scopes = sv_core::scope::covering_scopes(cwd);
        let rows = store
            .sessions_in_scopes(&prm.tool, &scopes)
            .map_err(|e| Refusal::failed(store_err(e)))?;
        let (expired, live): (Vec<_>, Vec<_>) =
            rows.into_iter().partition(|r| r.expiry.is_expired(t));
        let matcher = ScopeMatcher::new(cwd);
        let Some(row) = matcher.best(live.iter().map(|r| (&r.scope, r.expiry.created_at, r)))
        else {
            // An expired session that would have served is a refusal of its own kind.
            let lapsed = matcher.best(expired.iter().map(|r| (&r.scope, r.expiry.created_at, r)));
            let outcome = match lapsed {
                Some(_) => AuditOutcome::RefusedExpired,
                None => AuditOutcome::RefusedScope,
            };
            let lapsed_id = lapsed.map(|r| r.id.as_str());
            purge_rows(&mut store, &expired, &prm.tool)
                .map_err(|e| Refusal::failed(e).naming(lapsed_id))?;
            debug!(pid = ?peer.pid, exe = ?peer.exe, cwd = %cwd.display(), tool = %prm.tool, outcome = outcome.as_str(), "refused: no credential in scope");
            crate::logging::note_refusal(crate::logging::Refused::Lookup);
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
            return Err(Refusal::new(outcome, err).naming(lapsed_id));
        };
        let failed = |e: RpcError| Refusal::failed(e).naming(Some(&row.id));
        purge_rows(&mut store, &expired, &prm.tool).map_err(failed)?;
        // Only a session with caller rules pays for them.
        if !row.rules.is_empty() {
            self.check_rules(row, peer, purpose)?;
        }
        let sealed = store
            .sealed_values(&row.id)
            .map_err(|e| failed(store_err(e)))?;
        let answer = open_session(key, row, &sealed).map_err(failed)?;
        // Restarted under the lock the decision was made under, so a purge
        // cannot come in between; `commit_audit` restarts it again (at the
        // same time) once the record is written, as it does for the serves
        // answered from memory.
        store.touch(&row.id, t);
        // Read after the purge, under the store's lock: what the store
        // holds now is what was just decided on.
        let changes = store.change_count();
        drop(store);
        let live: Vec<&SessionRow> = live.iter().collect();
        self.lookups
            .remember(&prm.tool, cwd, changes, &live, row, &sealed);
        self.idle.touch();
        Ok((answer, t))
    }

    /// The lookup answered from memory, when it can be (see `lookups.rs`):
    /// the same answer and the same record as [`Vault::get`] would give,
    /// without the store. `None`: ask the store.
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
                // A session with caller rules is decided by the store's
                // path, where they are checked.
                if !row.rules.is_empty() {
                    return None;
                }
                open_session(key, row, sealed).ok()
            })
            .flatten()?;
        drop(key_guard);
        self.idle.touch();
        let mut record = audit::record_for(
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
}

impl Vault {
    /// The session's caller rules for this caller (docs/design.md §11).
    #[cfg(target_os = "linux")]
    fn check_rules(
        &self,
        row: &SessionRow,
        peer: &Peer,
        purpose: Purpose<'_>,
    ) -> Result<(), Box<Refusal>> {
        use crate::rules::{check, Check};
        match check(row, peer, purpose, &self.approvals) {
            Check::Pass => Ok(()),
            Check::Refused {
                outcome,
                rule,
                error,
            } => {
                debug!(pid = ?peer.pid, exe = ?peer.exe, session = %row.id, rule = %rule, "refused by a caller rule");
                crate::logging::note_refusal(crate::logging::Refused::Rule);
                let mut why = Refusal::new(outcome, error).naming(Some(&row.id));
                why.rule = Some(rule);
                Err(why)
            }
            Check::Ask(ask) => {
                // The refusal that stands unless the user says yes.
                let mut why = Refusal::new(
                    AuditOutcome::RefusedConfirm,
                    RpcError::new(code::REFUSED, "refused: not confirmed"),
                )
                .naming(Some(&row.id));
                why.rule = Some("confirm".into());
                why.ask = Some(ask);
                Err(why)
            }
        }
    }

    /// Caller rules need the kernel's per-process view (Linux): elsewhere
    /// a session that has them is never served.
    #[cfg(not(target_os = "linux"))]
    fn check_rules(
        &self,
        row: &SessionRow,
        _peer: &Peer,
        _purpose: Purpose<'_>,
    ) -> Result<(), Box<Refusal>> {
        let outcome = if row.rules.confirm {
            AuditOutcome::RefusedConfirm
        } else {
            AuditOutcome::RefusedAllowExe
        };
        let mut why = Refusal::new(
            outcome,
            RpcError::new(
                code::REFUSED,
                "refused: this session has caller rules (--confirm, --allow-exe), which are enforced on Linux only",
            ),
        )
        .naming(Some(&row.id));
        why.rule = Some(row.rules.summary());
        Err(why)
    }
}

/// The directory a lookup is decided for: the kernel's view of the
/// caller's, or where the kernel cannot tell (not Linux), the one the
/// request claims.
fn caller_dir(prm: &p::GetParams, peer: &Peer) -> Result<PathBuf, Box<Refusal>> {
    match (&peer.cwd, cfg!(target_os = "linux")) {
        (Some(c), _) => Ok(c.clone()),
        (None, false) => canonical_dir(prm.cwd.as_deref().unwrap_or("")).map_err(Refusal::failed),
        (None, true) => {
            debug!(pid = ?peer.pid, tool = %prm.tool, "refused: cannot read the caller's directory");
            crate::logging::note_refusal(crate::logging::Refused::Lookup);
            Err(Refusal::new(AuditOutcome::RefusedNoCwd, RpcError::new(
                code::NO_CREDENTIAL,
                "cannot read the calling process's working directory from /proc; run the command from an existing directory",
            )))
        }
    }
}

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
