//! Writing the audit log (docs/design.md §7): every credential served and
//! every request refused, with who asked. The records live in the vault
//! file (`sv_store`'s `audit` table); this module decides what goes in them.
//! Nothing here ever sees a secret.
//!
//! A serve is answered only once its record is committed (no record, no
//! credential). Committing one record per serve was most of a lookup's
//! cost, so the server queues lookups' records ([`AuditQueue`]) and one of
//! the connection tasks waiting on them commits whatever has gathered in
//! one transaction (group commit), which releases every waiting reply:
//! under load one commit covers many serves, and a lone serve waits for its
//! own commit just as before.

use crate::clock::now;
use crate::peer::Peer;
use std::path::Path;
use std::sync::Mutex;
use sv_core::ops::{AuditOutcome, AuditRetention};
use sv_store::{Store, StoreError};
use tokio::sync::oneshot;
use tracing::warn;

/// The record type is sv-core's, shared with the vault and `log`; the
/// proxy's records (`crate::proxy`) are made straight into it.
pub use sv_core::ops::AuditRecord;

/// The record for a request from `peer`. `cwd` is the directory the
/// decision was made for (the kernel's view of the caller where there is
/// one).
pub fn record_for(
    peer: &Peer,
    cwd: Option<&Path>,
    tool: Option<&str>,
    session_id: Option<&str>,
    outcome: AuditOutcome,
) -> AuditRecord {
    // A tool name from a refused request is caller input: keep it short.
    let tool = tool.map(|t| match t.char_indices().nth(64) {
        Some((i, _)) => t[..i].to_owned(),
        None => t.to_owned(),
    });
    let lossy = |p: &Path| p.to_string_lossy().into_owned();
    AuditRecord {
        time: now(),
        tool,
        session_id: session_id.map(str::to_owned),
        outcome,
        pid: peer.pid,
        exe: peer.exe.as_deref().map(lossy),
        cwd: cwd.or(peer.cwd.as_deref()).map(lossy),
        request: None,
        rule: None,
    }
}

/// The audit log's retention and the code that appends to it.
#[derive(Debug, Clone, Default)]
pub struct AuditTrail {
    pub retention: AuditRetention,
}

impl AuditTrail {
    pub fn new(retention: AuditRetention) -> Self {
        AuditTrail { retention }
    }

    /// Commits `records` in one transaction (all or none).
    pub fn append(&self, store: &mut Store, records: &[AuditRecord]) -> Result<(), StoreError> {
        store.append_audit_batch(records, &self.retention)
    }

    /// Records a refusal now; a failure to record is logged, not fatal (the
    /// request is refused either way).
    pub fn refusal(&self, store: &mut Store, record: AuditRecord) {
        if let Err(e) = self.append(store, std::slice::from_ref(&record)) {
            warn!(error = %e, outcome = record.outcome.as_str(), "cannot write the audit record");
        }
    }

    /// Applies the retention limits (at start and with the periodic purge).
    pub fn trim(&self, store: &Store) {
        if let Err(e) = store.trim_audit(now(), &self.retention) {
            warn!(error = %e, "cannot trim the audit log");
        }
    }
}

/// What a waiting reply learns: committed, or why not.
pub type Committed = Result<(), String>;

/// A queued record and where its commit's outcome goes (with the record
/// itself, handed back rather than copied).
type Waiting = (AuditRecord, oneshot::Sender<(Committed, AuditRecord)>);

/// Lookups' records waiting to be committed, each with the reply it holds
/// up. No thread of its own commits them: a connection task that queued a
/// record yields once (so the other ready connections on its worker queue
/// theirs), then takes whatever is queued and commits it in one transaction
/// for all of them; a task that finds the queue empty was served by another's
/// commit and only waits for its answer. See [`AuditQueue::settle`].
#[derive(Default)]
pub struct AuditQueue {
    pending: Mutex<Vec<Waiting>>,
}

impl AuditQueue {
    fn pending(&self) -> std::sync::MutexGuard<'_, Vec<Waiting>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `record`; the receiver says when it is committed.
    pub fn submit(&self, record: AuditRecord) -> oneshot::Receiver<(Committed, AuditRecord)> {
        let (tx, rx) = oneshot::channel();
        self.pending().push((record, tx));
        rx
    }

    /// Takes every queued record and commits them with `commit`, in one
    /// call, answering each waiting reply. Nothing queued: nothing to do.
    pub fn commit_pending(&self, commit: impl FnOnce(&[AuditRecord]) -> Result<(), StoreError>) {
        let batch = std::mem::take(&mut *self.pending());
        if batch.is_empty() {
            return;
        }
        let (records, waiters): (Vec<AuditRecord>, Vec<_>) = batch.into_iter().unzip();
        // A panic in a commit is this batch's error: every reply in it is
        // answered (refused), none is left waiting.
        let result: Committed =
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| commit(&records))) {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err("the audit writer failed".into()),
            };
        if let Err(e) = &result {
            warn!(error = %e, records = records.len(), "cannot write the audit records");
        }
        for (w, rec) in waiters.into_iter().zip(records) {
            // A reply whose connection has gone no longer listens.
            let _ = w.send((result.clone(), rec));
        }
    }

    /// Queues `record` and returns once it is committed (or not), committing
    /// it together with the records of the connections that are ready at
    /// the same time. Hands the record back.
    ///
    /// `turn` is the store's turn (see `Vault::store_turn`): the commit waits
    /// for it without holding up its thread.
    pub async fn settle(
        &self,
        record: AuditRecord,
        turn: &tokio::sync::Semaphore,
        commit: impl FnOnce(&[AuditRecord]) -> Result<(), StoreError>,
    ) -> Option<(Committed, AuditRecord)> {
        let rx = self.submit(record);
        tokio::task::yield_now().await;
        if !self.pending().is_empty() {
            let _turn = turn.acquire().await.ok();
            self.commit_pending(commit);
        }
        // `None` only if the record was dropped uncommitted (a panic in
        // another task's commit is answered, not dropped).
        rx.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: i32) -> AuditRecord {
        AuditRecord {
            time: 1,
            tool: Some("claude".into()),
            session_id: None,
            outcome: AuditOutcome::Served,
            pid: Some(i),
            exe: None,
            cwd: None,
            request: None,
            rule: None,
        }
    }

    #[test]
    fn one_commit_answers_every_queued_record() {
        let q = AuditQueue::default();
        let rxs: Vec<_> = (0..5).map(|i| q.submit(rec(i))).collect();
        let mut batches = Vec::new();
        q.commit_pending(|recs| {
            batches.push(recs.iter().map(|r| r.pid.unwrap()).collect::<Vec<_>>());
            Ok(())
        });
        // Nothing left: a second commit does not run.
        q.commit_pending(|_| panic!("empty queue committed"));
        assert_eq!(batches, vec![vec![0, 1, 2, 3, 4]]);
        for (i, r) in rxs.into_iter().enumerate() {
            let (committed, back) = r.blocking_recv().unwrap();
            assert_eq!(committed, Ok(()));
            assert_eq!(back, rec(i as i32), "each waiter gets its own record back");
        }
    }

    #[test]
    fn a_failed_or_panicking_commit_reaches_every_waiter() {
        let q = AuditQueue::default();
        let rxs: Vec<_> = (0..3).map(|i| q.submit(rec(i))).collect();
        q.commit_pending(|_| {
            Err(StoreError::Damaged {
                path: "/v".into(),
                detail: "disk full".into(),
            })
        });
        for r in rxs {
            let e = r.blocking_recv().unwrap().0.unwrap_err();
            assert!(e.contains("disk full"), "{e}");
        }
        let rx = q.submit(rec(9));
        q.commit_pending(|_| panic!("boom"));
        assert!(rx.blocking_recv().unwrap().0.is_err());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn connections_ready_together_share_one_commit() {
        let q = std::sync::Arc::new(AuditQueue::default());
        let commits = std::sync::Arc::new(Mutex::new(Vec::<usize>::new()));
        let turn = std::sync::Arc::new(tokio::sync::Semaphore::new(1));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (q, commits, turn) = (q.clone(), commits.clone(), turn.clone());
                tokio::spawn(async move {
                    q.settle(rec(i), &turn, |recs| {
                        commits.lock().unwrap().push(recs.len());
                        Ok(())
                    })
                    .await
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), Some((Ok(()), rec(i as i32))));
        }
        assert_eq!(
            *commits.lock().unwrap(),
            vec![8],
            "one commit for all eight"
        );
    }
}
