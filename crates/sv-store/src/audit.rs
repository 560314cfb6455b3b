//! The audit log (schema v2, v4 for the proxy's requests): one row per
//! credential request the daemon served or refused, and per request through
//! the credential proxy, with who asked (pid, executable, working
//! directory), for which tool and session, and when; for a proxied request
//! also the method, upstream host, path without query values, status,
//! bytes and duration. It has no column a secret could go in.
//!
//! Retention is bounded both by age and by row count, and is applied with
//! the inserts (every 1/1024 of the row limit) and by the daemon's periodic
//! purge, so the file cannot grow without end. Row ids only grow and
//! rows are only ever deleted from the oldest end, so "keep the newest N" is
//! one indexed `DELETE` rather than a scan.

use crate::{Result, Store};
use rusqlite::params;
use std::sync::OnceLock;
use sv_core::ops::{
    AuditEntry, AuditOutcome, AuditRecord, AuditRetention, LogParams, ProxiedRequest,
};

/// Most records one `log` query returns.
pub const MAX_LOG_ENTRIES: u32 = 100_000;

impl Store {
    /// Appends one record, then trims the log to `keep`.
    pub fn append_audit(&mut self, rec: &AuditRecord, keep: &AuditRetention) -> Result<()> {
        self.append_audit_batch(std::slice::from_ref(rec), keep)
    }

    /// Appends records in one transaction (all or none), then trims the log
    /// to `keep` once. The daemon gathers the records of concurrent serves
    /// into one call: a commit per serve was most of a lookup's cost.
    pub fn append_audit_batch(
        &mut self,
        recs: &[AuditRecord],
        keep: &AuditRetention,
    ) -> Result<()> {
        let path = self.path.clone();
        // BEGIN and COMMIT as cached statements: `Connection::transaction`
        // parses both afresh each time, a fifth of a group commit's cost.
        let run = |conn: &mut rusqlite::Connection| -> rusqlite::Result<()> {
            crate::end_open_transaction(conn)?;
            conn.prepare_cached("BEGIN")?.execute([])?;
            // Nothing of the batch stays unless it commits (all or none),
            // also when this unwinds: the daemon answers a panicking
            // commit and goes on using the connection.
            let _unless_committed = crate::RollbackGuard(conn);
            append_and_trim(conn, recs, keep)?;
            conn.prepare_cached("COMMIT")?.execute([]).map(drop)
        };
        // Audit appends skip the fsync (WAL, synchronous=NORMAL, the
        // connection's level): a record survives a daemon crash (it is in
        // the OS's cache), only a power loss can drop the last few. One
        // fsync per serve would make every lookup wait on the disk. Vault
        // writes run at FULL (`Store::durably`).
        run(&mut self.conn).map_err(|e| crate::StoreError::from_sqlite(e, &path))
    }

    /// Applies the retention limits now; returns how many records went.
    pub fn trim_audit(&self, now: i64, keep: &AuditRetention) -> Result<u64> {
        self.wrap(trim(&self.conn, now, keep))
    }

    /// Records matching `q`, the most recent `q.limit` of them, oldest first.
    pub fn audit_entries(&self, q: &LogParams) -> Result<Vec<AuditEntry>> {
        let limit = q.limit.unwrap_or(MAX_LOG_ENTRIES).min(MAX_LOG_ENTRIES);
        let mut st = self.wrap(self.conn.prepare_cached(
            "SELECT id, time, tool, session_id, outcome, pid, exe, cwd,
                    method, host, path, status, bytes_up, bytes_down, duration_ms, rule FROM audit
             WHERE (?1 IS NULL OR tool = ?1)
               AND (?2 IS NULL OR time >= ?2)
               AND (?3 = 0 OR outcome NOT IN ('served', 'stand_in', 'proxied'))
             ORDER BY id DESC LIMIT ?4",
        ))?;
        let rows = self.wrap(st.query_map(
            params![q.tool, q.since, q.denied as i64, i64::from(limit)],
            |r| {
                let outcome: String = r.get(4)?;
                let record = AuditRecord {
                    time: r.get(1)?,
                    tool: r.get(2)?,
                    session_id: r.get(3)?,
                    // A value this build does not know reads as a failure
                    // rather than hiding the row.
                    outcome: AuditOutcome::parse(&outcome).unwrap_or(AuditOutcome::Failed),
                    pid: r.get(5)?,
                    exe: r.get(6)?,
                    cwd: r.get(7)?,
                    request: match r.get::<_, Option<String>>(8)? {
                        None => None,
                        Some(method) => Some(ProxiedRequest {
                            method,
                            host: r.get(9)?,
                            path: r.get::<_, Option<String>>(10)?.unwrap_or_default(),
                            status: r.get::<_, Option<u16>>(11)?.unwrap_or(0),
                            bytes_up: r.get::<_, Option<i64>>(12)?.unwrap_or(0) as u64,
                            bytes_down: r.get::<_, Option<i64>>(13)?.unwrap_or(0) as u64,
                            duration_ms: r.get::<_, Option<i64>>(14)?.unwrap_or(0) as u64,
                        }),
                    },
                    rule: r.get(15)?,
                };
                Ok(AuditEntry {
                    id: r.get(0)?,
                    record,
                })
            },
        ))?;
        let mut out: Vec<AuditEntry> = self.wrap(rows.collect())?;
        out.reverse();
        Ok(out)
    }

    /// How many audit records are stored.
    pub fn audit_count(&self) -> Result<u64> {
        self.wrap(
            self.conn
                .query_row("SELECT count(*) FROM audit", [], |r| r.get::<_, i64>(0)),
        )
        .map(|n| n as u64)
    }
}

/// The inserts of one batch and, when the log crosses a step of its row
/// limit, the trim: inside the caller's transaction.
/// The count limit is applied each time the log grows by this fraction of
/// it (see `append_and_trim`).
const TRIM_STEPS: u32 = 1024;

/// Columns an audit row is inserted with.
const COLUMNS: usize = 15;

/// Rows in one multi-row `INSERT` (15 × 16 = 240 parameters, far below
/// SQLite's limit of 32 766).
const ROWS_PER_INSERT: usize = 16;

/// `INSERT INTO audit (…) VALUES (?,…), …` for `rows` rows.
fn insert_sql(rows: usize) -> String {
    let row = format!("({})", vec!["?"; COLUMNS].join(", "));
    format!(
        "INSERT INTO audit (time, tool, session_id, outcome, pid, exe, cwd,
                            method, host, path, status, bytes_up, bytes_down, duration_ms, rule)
         VALUES {}",
        vec![row; rows].join(", ")
    )
}

/// Binds `rec` to the statement's parameters `first + 1 ..= first + COLUMNS`.
fn bind_row(
    st: &mut rusqlite::CachedStatement<'_>,
    first: usize,
    rec: &AuditRecord,
) -> rusqlite::Result<()> {
    let q = rec.request.as_ref();
    let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let at = |i: usize| first + i;
    st.raw_bind_parameter(at(1), rec.time)?;
    st.raw_bind_parameter(at(2), &rec.tool)?;
    st.raw_bind_parameter(at(3), &rec.session_id)?;
    st.raw_bind_parameter(at(4), rec.outcome.as_str())?;
    st.raw_bind_parameter(at(5), rec.pid)?;
    st.raw_bind_parameter(at(6), &rec.exe)?;
    st.raw_bind_parameter(at(7), &rec.cwd)?;
    st.raw_bind_parameter(at(8), q.map(|q| q.method.as_str()))?;
    st.raw_bind_parameter(at(9), q.and_then(|q| q.host.as_deref()))?;
    st.raw_bind_parameter(at(10), q.map(|q| q.path.as_str()))?;
    st.raw_bind_parameter(at(11), q.map(|q| q.status))?;
    st.raw_bind_parameter(at(12), q.map(|q| clamp(q.bytes_up)))?;
    st.raw_bind_parameter(at(13), q.map(|q| clamp(q.bytes_down)))?;
    st.raw_bind_parameter(at(14), q.map(|q| clamp(q.duration_ms)))?;
    st.raw_bind_parameter(at(15), &rec.rule)?;
    Ok(())
}

/// Inserts each of `groups` (`rows` records each) with one execution of the
/// cached `INSERT` for `rows` rows, whose text `sql` keeps once built.
fn insert_groups<'a>(
    conn: &rusqlite::Connection,
    sql: &OnceLock<String>,
    rows: usize,
    groups: impl ExactSizeIterator<Item = &'a [AuditRecord]>,
) -> rusqlite::Result<()> {
    if groups.len() == 0 {
        return Ok(());
    }
    let mut insert = conn.prepare_cached(sql.get_or_init(|| insert_sql(rows)))?;
    for group in groups {
        for (i, rec) in group.iter().enumerate() {
            bind_row(&mut insert, i * COLUMNS, rec)?;
        }
        insert.raw_execute()?;
    }
    Ok(())
}

fn append_and_trim(
    conn: &rusqlite::Connection,
    recs: &[AuditRecord],
    keep: &AuditRetention,
) -> rusqlite::Result<()> {
    // Whole groups of ROWS_PER_INSERT in one statement each (a statement's
    // own cost, per execution, was about a third of a row's; a busy
    // proxy's commit holds tens of records), the rest one by one.
    static GROUP_SQL: OnceLock<String> = OnceLock::new();
    static ROW_SQL: OnceLock<String> = OnceLock::new();
    let groups = recs.chunks_exact(ROWS_PER_INSERT);
    let rest = groups.remainder();
    insert_groups(conn, &GROUP_SQL, ROWS_PER_INSERT, groups)?;
    insert_groups(conn, &ROW_SQL, 1, rest.chunks(1))?;
    if let Some(rec) = recs.last() {
        // Trimming a full log on every commit deleted (and, with
        // secure_delete, overwrote) a few rows each time; the count
        // limit is applied in steps of 1/TRIM_STEPS of it instead (the
        // log may hold that many records over the limit until then).
        // Steps of 1/64 (1 562 rows of the default limit) held every
        // lookup waiting on the trim for milliseconds, 30 times a second
        // under load: most of the p99 latency.
        let last = conn.last_insert_rowid();
        let first = last - recs.len() as i64 + 1;
        let step = i64::from(keep.max_rows / TRIM_STEPS).max(1);
        if last / step != (first - 1) / step {
            trim(conn, rec.time, keep)?;
        }
    }
    Ok(())
}

fn trim(conn: &rusqlite::Connection, now: i64, keep: &AuditRetention) -> rusqlite::Result<u64> {
    let by_age = conn
        .prepare_cached("DELETE FROM audit WHERE time < ?1")?
        .execute([now.saturating_sub(keep.max_age_secs())])?;
    let by_count = conn
        .prepare_cached("DELETE FROM audit WHERE id <= (SELECT max(id) FROM audit) - ?1")?
        .execute([i64::from(keep.max_rows)])?;
    Ok((by_age + by_count) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    fn rec(time: i64, tool: &str, outcome: AuditOutcome) -> AuditRecord {
        AuditRecord {
            time,
            tool: Some(tool.into()),
            session_id: None,
            outcome,
            pid: Some(42),
            exe: Some("/usr/bin/x".into()),
            cwd: Some("/p/app".into()),
            request: None,
            rule: None,
        }
    }

    /// A new vault in a directory that lives as long as the first.
    fn open() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("v.db")).unwrap();
        (d, s)
    }

    /// The times of the records `q` returns, in its order.
    fn times(s: &Store, q: &LogParams) -> Vec<i64> {
        s.audit_entries(q)
            .unwrap()
            .iter()
            .map(|e| e.record.time)
            .collect()
    }

    const WIDE: AuditRetention = AuditRetention {
        max_age_days: 36_500,
        max_rows: 1_000_000,
    };

    #[test]
    fn append_and_filter() {
        let (_d, mut s) = open();
        s.append_audit(&rec(100, "claude", AuditOutcome::Served), &WIDE)
            .unwrap();
        s.append_audit(&rec(200, "codex", AuditOutcome::RefusedScope), &WIDE)
            .unwrap();
        s.append_audit(&rec(300, "claude", AuditOutcome::RefusedLocked), &WIDE)
            .unwrap();
        let all = s.audit_entries(&LogParams::default()).unwrap();
        assert_eq!(times(&s, &LogParams::default()), [100, 200, 300]);
        assert_eq!(all[0].record.pid, Some(42));
        assert_eq!(all[0].record.cwd.as_deref(), Some("/p/app"));
        let q = |tool: Option<&str>, since, denied, limit| LogParams {
            tool: tool.map(Into::into),
            since,
            denied,
            limit,
        };
        let times = |p: LogParams| times(&s, &p);
        assert_eq!(times(q(Some("claude"), None, false, None)), [100, 300]);
        assert_eq!(times(q(None, Some(200), false, None)), [200, 300]);
        assert_eq!(times(q(None, None, true, None)), [200, 300]);
        assert_eq!(times(q(Some("claude"), None, true, None)), [300]);
        assert_eq!(times(q(None, None, false, Some(2))), [200, 300]);
    }

    #[test]
    fn proxied_requests_keep_their_request_and_are_not_denied() {
        let (_d, mut s) = open();
        let q = ProxiedRequest {
            method: "POST".into(),
            host: Some("api.anthropic.com".into()),
            path: "/v1/messages?beta".into(),
            status: 200,
            bytes_up: 12,
            bytes_down: 340,
            duration_ms: 45,
        };
        let mut r = rec(100, "claude", AuditOutcome::Proxied);
        r.request = Some(q.clone());
        s.append_audit(&r, &WIDE).unwrap();
        s.append_audit(&rec(101, "claude", AuditOutcome::RefusedStandIn), &WIDE)
            .unwrap();
        let all = s.audit_entries(&LogParams::default()).unwrap();
        assert_eq!(all[0].record.request.as_ref(), Some(&q));
        assert_eq!(all[1].record.request, None);
        let denied = s
            .audit_entries(&LogParams {
                denied: true,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(denied.len(), 1);
        assert_eq!(denied[0].record.outcome, AuditOutcome::RefusedStandIn);
    }

    #[test]
    fn a_batch_is_one_transaction_and_trims_once() {
        let (_d, mut s) = open();
        let keep = AuditRetention {
            max_age_days: 36_500,
            max_rows: 4,
        };
        let batch: Vec<_> = (0..6)
            .map(|i| rec(1_000 + i, "claude", AuditOutcome::Served))
            .collect();
        s.append_audit_batch(&batch, &keep).unwrap();
        let times = times(&s, &LogParams::default());
        assert_eq!(times, [1_002, 1_003, 1_004, 1_005], "in order, newest kept");
        assert_eq!(s.audit_count().unwrap(), 4);
    }

    #[test]
    fn a_batch_of_several_statements_keeps_every_field_and_the_order() {
        // Two groups of ROWS_PER_INSERT and a rest inserted one by one;
        // every column differs from row to row, NULLs included.
        let (_d, mut s) = open();
        let n = 2 * ROWS_PER_INSERT as i64 + 5;
        let batch: Vec<_> = (0..n)
            .map(|i| {
                let mut r = rec(1_000 + i, &format!("tool{i}"), AuditOutcome::Served);
                r.session_id = (i % 3 != 0).then(|| format!("session-{i}"));
                r.pid = (i % 4 != 0).then_some(100 + i as i32);
                r.exe = (i % 5 != 0).then(|| format!("/bin/exe{i}"));
                r.cwd = (i % 2 == 0).then(|| format!("/p/{i}"));
                r.rule = (i % 7 == 0).then(|| format!("allow-exe /bin/exe{i}"));
                if i % 2 == 1 {
                    r.outcome = AuditOutcome::Proxied;
                    r.request = Some(ProxiedRequest {
                        method: if i % 3 == 0 { "GET" } else { "POST" }.into(),
                        host: (i % 5 != 1).then(|| format!("h{i}.example:443")),
                        path: format!("/v1/{i}?alt"),
                        status: 200 + i as u16,
                        bytes_up: i as u64,
                        bytes_down: 10 * i as u64,
                        duration_ms: 3 * i as u64,
                    });
                }
                r
            })
            .collect();
        s.append_audit_batch(&batch, &WIDE).unwrap();
        let back: Vec<_> = s
            .audit_entries(&LogParams::default())
            .unwrap()
            .into_iter()
            .map(|e| e.record)
            .collect();
        assert_eq!(back, batch);
    }

    #[test]
    fn a_large_limit_is_applied_in_steps() {
        let (_d, mut s) = open();
        let keep = AuditRetention {
            max_age_days: 36_500,
            max_rows: 64 * TRIM_STEPS, // steps of 64
        };
        let limit = u64::from(keep.max_rows);
        let mut most = 0;
        let batch: Vec<_> = (0..16)
            .map(|_| rec(1_000, "claude", AuditOutcome::Served))
            .collect();
        // In batches of 16, as the daemon's group commits write them.
        for i in 0..(limit / 16 + 40) {
            s.append_audit_batch(&batch, &keep).unwrap();
            let n = s.audit_count().unwrap();
            assert!(
                (i + 1) * 16 < limit || n >= limit,
                "never below the limit once reached"
            );
            most = most.max(n);
        }
        assert!(
            (limit + 1..=limit + 64).contains(&most),
            "at most one step over: {most}"
        );
        assert_eq!(s.audit_count().unwrap(), limit, "trimmed at the step");
        assert_eq!(s.trim_audit(2_000, &keep).unwrap(), 0);
    }

    #[test]
    fn retention_by_age_and_count() {
        let (_d, mut s) = open();
        let keep = AuditRetention {
            max_age_days: 1,
            max_rows: 5,
        };
        for i in 0..12 {
            s.append_audit(&rec(1_000_000 + i, "claude", AuditOutcome::Served), &keep)
                .unwrap();
        }
        let times = times(&s, &LogParams::default());
        assert_eq!(times, (1_000_007..1_000_012).collect::<Vec<_>>());
        // A day and a second later, everything before is gone.
        s.append_audit(
            &rec(1_000_011 + 86_401, "claude", AuditOutcome::Served),
            &keep,
        )
        .unwrap();
        assert_eq!(s.audit_count().unwrap(), 1);
        assert_eq!(s.trim_audit(1_000_011 + 3 * 86_400, &keep).unwrap(), 1);
        assert_eq!(s.audit_count().unwrap(), 0);
    }

    #[test]
    fn v1_file_migrates_and_keeps_its_sessions() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("v.db");
        {
            let c = Connection::open(&p).unwrap();
            c.execute_batch(crate::MIGRATIONS[0]).unwrap();
            c.execute(
                "INSERT INTO sessions VALUES ('s1','claude','global',NULL,'00aa',1,1,0,NULL)",
                [],
            )
            .unwrap();
            c.pragma_update(None, "user_version", 1).unwrap();
            c.pragma_update(None, "application_id", crate::APPLICATION_ID)
                .unwrap();
        }
        let mut s = Store::open(&p).unwrap();
        assert_eq!(s.count().unwrap(), 1);
        s.append_audit(&rec(5, "claude", AuditOutcome::Served), &WIDE)
            .unwrap();
        assert_eq!(s.audit_count().unwrap(), 1);
        let v: i64 = s
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, crate::SCHEMA_VERSION);
    }
}
