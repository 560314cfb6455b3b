//! Writing the audit log (SPEC §7): every credential served and every
//! request refused, with who asked. The records live in the vault file
//! (`sv_store`'s `audit` table); this module decides what goes in them.
//! Nothing here ever sees a secret.

use crate::vault::{now, Peer};
use std::path::Path;
use sv_core::ops::{AuditOutcome, AuditRetention};
use sv_store::{NewAuditRecord, Store, StoreError};
use tracing::warn;

/// The audit log's retention and the code that appends to it.
#[derive(Debug, Clone, Default)]
pub struct AuditTrail {
    pub retention: AuditRetention,
}

fn lossy(p: &Option<impl AsRef<Path>>) -> Option<String> {
    p.as_ref()
        .map(|p| p.as_ref().to_string_lossy().into_owned())
}

impl AuditTrail {
    pub fn new(retention: AuditRetention) -> Self {
        AuditTrail { retention }
    }

    /// Appends a record. `cwd` is the directory the decision was made for
    /// (the kernel's view of the caller where there is one).
    pub fn record(
        &self,
        store: &mut Store,
        peer: &Peer,
        cwd: Option<&Path>,
        tool: Option<&str>,
        session_id: Option<&str>,
        outcome: AuditOutcome,
    ) -> Result<(), StoreError> {
        // A tool name from a refused request is caller input: keep it short.
        let tool = tool.map(|t| match t.char_indices().nth(64) {
            Some((i, _)) => &t[..i],
            None => t,
        });
        let cwd = cwd
            .map(|c| c.to_string_lossy().into_owned())
            .or_else(|| lossy(&peer.cwd));
        let exe = lossy(&peer.exe);
        store.append_audit(
            &NewAuditRecord {
                time: now(),
                tool,
                session_id,
                outcome,
                pid: peer.pid,
                exe: exe.as_deref(),
                cwd: cwd.as_deref(),
            },
            &self.retention,
        )
    }

    /// Records a refusal; a failure to record is logged, not fatal (the
    /// request is refused either way).
    pub fn refusal(
        &self,
        store: &mut Store,
        peer: &Peer,
        cwd: Option<&Path>,
        tool: Option<&str>,
        session_id: Option<&str>,
        outcome: AuditOutcome,
    ) {
        if let Err(e) = self.record(store, peer, cwd, tool, session_id, outcome) {
            warn!(error = %e, outcome = outcome.as_str(), "cannot write the audit record");
        }
    }

    /// Applies the retention limits (at start and with the periodic purge).
    pub fn trim(&self, store: &Store) {
        if let Err(e) = store.trim_audit(now(), &self.retention) {
            warn!(error = %e, "cannot trim the audit log");
        }
    }
}
