//! Lookups answered from memory.
//!
//! An agent asks for the same tool from the same directory again and again.
//! The first lookup of a (tool, directory) pair goes to the store (SQLite:
//! the candidate sessions, the winner's sealed values); its answer is kept
//! here, so the next ones skip SQLite and the store's lock, which every
//! lookup used to take in turn. What is kept is no more than SQLite's own
//! page cache holds: session metadata and sealed (encrypted) values. Every
//! serve still opens the values with the vault key, still checks expiry,
//! and is still audited before it is answered.
//!
//! An entry is used only when it is certainly the store's answer:
//! - the store has not changed since it was read (the store's change
//!   counter, advanced before every add, remove and purge, still reads the
//!   same);
//! - none of the sessions that could answer has expired: once one has, the
//!   store decides (and purges it), so an expiry is always seen the same
//!   way. An entry keeps the idle clocks as they were when it was read:
//!   serves restart them in the store (once their audit record is
//!   committed), never here, so an entry can only think a session expires
//!   sooner than the store does (then the store decides, and the entry is
//!   read again), never later.
//!
//! The cache is cleared when the vault locks, and holds at most
//! [`MAX_ENTRIES`] pairs (then it starts again).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use sv_core::Expiry;
use sv_store::{SealedValue, SessionRow};

/// How many (tool, directory) pairs are kept: a few agents in a few
/// projects need a handful; a burst of directories empties it.
pub const MAX_ENTRIES: usize = 256;

struct Entry {
    /// The store's change counter when this was read.
    changes: u64,
    /// The expiry of every session that could answer, the winner's included.
    candidates: Vec<Expiry>,
    row: SessionRow,
    sealed: Vec<SealedValue>,
}

pub struct LookupCache {
    changes: Arc<AtomicU64>,
    /// tool → directory → entry (nested, so a lookup allocates no key).
    map: Mutex<HashMap<String, HashMap<PathBuf, Entry>>>,
}

impl LookupCache {
    /// A cache over the store whose change counter is `changes`
    /// ([`sv_store::Store::changes`]).
    pub fn new(changes: Arc<AtomicU64>) -> Self {
        LookupCache {
            changes,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<PathBuf, Entry>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn clear(&self) {
        self.map().clear();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map().values().map(HashMap::len).sum()
    }

    /// Keeps the store's answer for `tool` in `cwd`: `changes` is the
    /// store's change counter read under its lock with `candidates` (every
    /// live session that could answer; none expired), of which `winner`
    /// answered with `sealed`.
    pub fn remember(
        &self,
        tool: &str,
        cwd: &Path,
        changes: u64,
        candidates: &[&SessionRow],
        winner: &SessionRow,
        sealed: &[SealedValue],
    ) {
        if !candidates.iter().any(|r| r.id == winner.id) {
            return;
        }
        let entry = Entry {
            changes,
            candidates: candidates.iter().map(|r| r.expiry).collect(),
            row: winner.clone(),
            sealed: sealed.to_vec(),
        };
        let mut map = self.map();
        if map.values().map(HashMap::len).sum::<usize>() >= MAX_ENTRIES {
            map.clear();
        }
        map.entry(tool.to_owned())
            .or_default()
            .insert(cwd.to_owned(), entry);
    }

    /// Calls `serve` with the session that answers `tool` in `cwd` at `now`
    /// and its sealed values, when this cache knows it for sure (see the
    /// module's text). `None`: ask the store.
    pub fn answer<R>(
        &self,
        tool: &str,
        cwd: &Path,
        now: i64,
        serve: impl FnOnce(&SessionRow, &[SealedValue]) -> R,
    ) -> Option<R> {
        let mut map = self.map();
        let by_dir = map.get_mut(tool)?;
        let entry = by_dir.get_mut(cwd)?;
        if entry.changes != self.changes.load(Ordering::SeqCst) {
            by_dir.remove(cwd);
            return None;
        }
        if entry.candidates.iter().any(|e| e.is_expired(now)) {
            return None;
        }
        Some(serve(&entry.row, &entry.sealed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sv_core::{Scope, SealedSecret};

    fn row(id: &str, created_at: i64, idle_ttl: u64, hard: Option<i64>) -> SessionRow {
        SessionRow {
            id: id.into(),
            tool: "claude".into(),
            scope: Scope::Global,
            label: None,
            fingerprint: "00".into(),
            expiry: Expiry {
                created_at,
                last_used: created_at,
                idle_ttl,
                hard_deadline: hard,
            },
            vars: vec!["ANTHROPIC_API_KEY".into()],
            rules: Default::default(),
        }
    }

    fn sealed() -> Vec<SealedValue> {
        vec![SealedValue {
            var: "ANTHROPIC_API_KEY".into(),
            sealed: SealedSecret {
                nonce: vec![1; 24],
                ciphertext: vec![2; 32],
            },
        }]
    }

    fn served(c: &LookupCache, dir: &str, now: i64) -> Option<String> {
        c.answer("claude", Path::new(dir), now, |r, _| r.id.clone())
    }

    #[test]
    fn answers_until_the_store_changes() {
        let changes = Arc::new(AtomicU64::new(7));
        let c = LookupCache::new(Arc::clone(&changes));
        let (a, b) = (row("a", 100, 0, None), row("b", 50, 0, None));
        c.remember("claude", Path::new("/p"), 7, &[&a, &b], &a, &sealed());
        assert_eq!(served(&c, "/p", 200).as_deref(), Some("a"));
        assert_eq!(served(&c, "/q", 200), None, "another directory");
        assert_eq!(c.answer("codex", Path::new("/p"), 200, |_, _| ()), None);
        changes.fetch_add(1, Ordering::SeqCst);
        assert_eq!(served(&c, "/p", 200), None, "the store changed");
        assert_eq!(c.len(), 0, "a stale entry is dropped");
    }

    #[test]
    fn an_expired_candidate_sends_the_lookup_to_the_store() {
        let changes = Arc::new(AtomicU64::new(0));
        let c = LookupCache::new(changes);
        // The winner lasts until 10 000; the other one lapses at 160 (idle 60 s).
        let (a, b) = (row("a", 100, 0, Some(10_000)), row("b", 100, 60, None));
        c.remember("claude", Path::new("/p"), 0, &[&a, &b], &a, &sealed());
        assert_eq!(served(&c, "/p", 159).as_deref(), Some("a"));
        assert_eq!(served(&c, "/p", 160), None);
        // A hard deadline counts as much as an idle one.
        assert_eq!(served(&c, "/p", 10_000), None);
    }

    #[test]
    fn a_serve_never_moves_the_remembered_idle_clock() {
        // Serves restart idle clocks in the store only, once audited (a
        // serve whose record fails restarts nothing): the entry goes on
        // counting from when it was read, and hands over to the store then.
        let c = LookupCache::new(Arc::new(AtomicU64::new(0)));
        let a = row("a", 100, 60, None);
        c.remember("claude", Path::new("/p"), 0, &[&a], &a, &sealed());
        for t in [130, 145, 159] {
            assert_eq!(served(&c, "/p", t).as_deref(), Some("a"), "at {t}");
        }
        assert_eq!(served(&c, "/p", 160), None, "60 s after it was read");
    }

    #[test]
    fn stays_bounded() {
        let c = LookupCache::new(Arc::new(AtomicU64::new(0)));
        let a = row("a", 100, 0, None);
        for i in 0..MAX_ENTRIES + 10 {
            c.remember(
                "claude",
                Path::new(&format!("/p{i}")),
                0,
                &[&a],
                &a,
                &sealed(),
            );
        }
        assert!(c.len() <= MAX_ENTRIES);
        c.clear();
        assert_eq!(c.len(), 0);
    }
}
