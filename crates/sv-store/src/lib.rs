//! The encrypted SQLite store (docs/design.md §5).
//!
//! One file, `vault.db`, 0600 in a 0700 directory, in WAL mode with
//! `secure_delete=ON` so deleted rows are overwritten. It holds only sealed
//! values (see [`sv_core::seal`]), their metadata, the key check value and the
//! backends' wrappings of the vault key; never a key or a secret in clear.
//!
//! The schema carries a version (`PRAGMA user_version`) and migrates forward
//! only. A file from a newer version, a file that is not SQLite, or a file
//! that fails `quick_check` is refused and left exactly as it was.

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use sv_core::rules::CallerRules;
use sv_core::{Expiry, Scope, SealedSecret};

mod audit;
use sv_fs::private as private_fs;

/// The schema this build writes.
pub const SCHEMA_VERSION: i64 = 5;
/// `PRAGMA application_id` of a session-vault file ("SVLT").
pub const APPLICATION_ID: i64 = 0x5356_4c54;

const MIGRATIONS: &[&str] = &[
    // v1
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
     CREATE TABLE key_wraps (
        backend TEXT PRIMARY KEY,
        blob BLOB NOT NULL,
        created_at INTEGER NOT NULL);
     CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        tool TEXT NOT NULL,
        scope TEXT NOT NULL,
        label TEXT,
        fingerprint TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_used INTEGER NOT NULL,
        idle_ttl INTEGER NOT NULL,
        hard_deadline INTEGER);
     CREATE INDEX sessions_tool_scope ON sessions(tool, scope);
     CREATE TABLE session_values (
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        var TEXT NOT NULL,
        nonce BLOB NOT NULL,
        ciphertext BLOB NOT NULL,
        PRIMARY KEY (session_id, var));",
    // v2: the audit log (see `audit.rs`); never holds a secret.
    "CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        time INTEGER NOT NULL,
        tool TEXT,
        session_id TEXT,
        outcome TEXT NOT NULL,
        pid INTEGER,
        exe TEXT,
        cwd TEXT);
     CREATE INDEX audit_time ON audit(time);",
    // v3: each session's variable names beside it (newline-separated, in
    // stored order; filled from session_values by `backfill_vars`), and an
    // index in `list` order (created_at, then rowid: insertion order), so a
    // list is one indexed scan that reads the table's pages in order.
    "ALTER TABLE sessions ADD COLUMN vars TEXT NOT NULL DEFAULT '';
     CREATE INDEX sessions_created ON sessions(created_at);",
    // v4: requests through the credential proxy in the audit log
    // (docs/design.md §10): method, upstream host, path without query
    // values, status, bytes and duration. NULL for lookups.
    "ALTER TABLE audit ADD COLUMN method TEXT;
     ALTER TABLE audit ADD COLUMN host TEXT;
     ALTER TABLE audit ADD COLUMN path TEXT;
     ALTER TABLE audit ADD COLUMN status INTEGER;
     ALTER TABLE audit ADD COLUMN bytes_up INTEGER;
     ALTER TABLE audit ADD COLUMN bytes_down INTEGER;
     ALTER TABLE audit ADD COLUMN duration_ms INTEGER;",
    // v5: caller rules (docs/design.md §11). `confirm` is `add --confirm`;
    // `allow_exe` the allowed executables, one `DEV INO PATH` per line
    // (see `sv_core::rules`); the audit log names the rule that refused a
    // request, or that a yes was given for. Older sessions have none.
    "ALTER TABLE sessions ADD COLUMN confirm INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE sessions ADD COLUMN allow_exe TEXT NOT NULL DEFAULT '';
     ALTER TABLE audit ADD COLUMN rule TEXT;",
];

/// Fills v3's `sessions.vars` from the values already stored.
fn backfill_vars(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    let mut names: std::collections::HashMap<String, Vec<String>> = Default::default();
    {
        let mut st = tx.prepare("SELECT session_id, var FROM session_values ORDER BY rowid")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            names.entry(r.get(0)?).or_default().push(r.get(1)?);
        }
    }
    let mut up = tx.prepare("UPDATE sessions SET vars = ?2 WHERE id = ?1")?;
    for (id, vars) in names {
        up.execute(params![id, vars.join("\n")])?;
    }
    Ok(())
}

/// Why the store cannot do what was asked. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot use {path}: {source}; check that the directory exists and is yours")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} was written by a newer session-vault (schema {found}, this build knows {supported}); upgrade session-vault, the file was not touched")]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("{path} is damaged or is not a session-vault vault ({detail}); it was not touched: restore it from a backup or move it aside to start a new vault")]
    Damaged { path: PathBuf, detail: String },
    #[error("the vault database failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("more than one session id starts with `{0}`; give more characters")]
    AmbiguousId(String),
    #[error("the vault already has a key; refusing to create another over it")]
    AlreadyInitialized,
    #[error("the disk is full: {0}; free some space and try again (nothing was written)")]
    DiskFull(String),
}

impl StoreError {
    fn from_sqlite(e: rusqlite::Error, path: &Path) -> Self {
        use rusqlite::ErrorCode as C;
        match e.sqlite_error_code() {
            Some(C::NotADatabase) | Some(C::DatabaseCorrupt) => StoreError::Damaged {
                path: path.to_owned(),
                detail: e.to_string(),
            },
            Some(C::DiskFull) => StoreError::DiskFull(e.to_string()),
            _ => StoreError::Sqlite(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A session's metadata (its values are stored sealed, apart).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub id: String,
    pub tool: String,
    pub scope: Scope,
    pub label: Option<String>,
    pub fingerprint: String,
    pub expiry: Expiry,
    pub vars: Vec<String>,
    /// `--confirm` and `--allow-exe` (docs/design.md §11).
    pub rules: CallerRules,
}

/// A session as [`Store::visit_sessions`] shows it, borrowed from the row.
#[derive(Debug)]
pub struct SessionView<'a> {
    pub id: &'a str,
    pub tool: &'a str,
    /// `global` or the project directory, as stored.
    pub scope: &'a str,
    pub label: Option<&'a str>,
    pub fingerprint: &'a str,
    pub expiry: Expiry,
    /// The variable names, newline-separated (see [`SessionView::vars`]).
    pub vars: &'a str,
    /// `add --confirm`.
    pub confirm: bool,
    /// The allowed executables as stored (see
    /// [`CallerRules::paths_from_db`]).
    pub allow_exe: &'a str,
}

impl<'a> SessionView<'a> {
    /// The variable names in stored order.
    pub fn vars(&self) -> impl Iterator<Item = &'a str> {
        self.vars.split('\n').filter(|v| !v.is_empty())
    }
}

fn split_vars(s: &str) -> Vec<String> {
    s.split('\n')
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// One sealed variable of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct SealedValue {
    pub var: String,
    pub sealed: SealedSecret,
}

/// An open vault file.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Idle-clock restarts not yet written: a serve must not cost a disk
    /// write. Flushed by [`Store::flush_touches`] (periodically, before a
    /// purge, at shutdown). A crash loses at most one interval of sliding,
    /// which can only make a session expire sooner, never later.
    pending_touches: std::collections::HashMap<String, i64>,
    /// Advanced before every change to the sessions or their values, so a
    /// cache of lookups (the daemon's) can tell an answer it holds is still
    /// the store's without asking it. See [`Store::changes`].
    changes: Arc<AtomicU64>,
    /// How many writes went through [`Store::durably`] (for the tests).
    #[cfg(test)]
    durable_writes: u32,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.path.display())
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Store {
    /// Opens (creating if missing) the vault at `path`, making its directory
    /// 0700 and the file 0600, and migrating an older schema forward.
    pub fn open(path: &Path) -> Result<Store> {
        let dir = path.parent().unwrap_or(Path::new("."));
        private_fs::create_dir_all(dir).map_err(io_err(dir))?;
        match fs::symlink_metadata(path) {
            Ok(m) if !m.file_type().is_file() => {
                return Err(StoreError::Damaged {
                    path: path.to_owned(),
                    detail: "not a regular file".into(),
                })
            }
            Ok(_) => {
                private_fs::restrict_file(path).map_err(io_err(path))?;
                check_header(path)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                private_fs::create_file(path).map_err(io_err(path))?;
            }
            Err(e) => return Err(io_err(path)(e)),
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::from_sqlite(e, path))?;
        let mut store = Store {
            conn,
            path: path.to_owned(),
            pending_touches: Default::default(),
            changes: Default::default(),
            #[cfg(test)]
            durable_writes: 0,
        };
        store.prepare().map_err(|e| match e {
            StoreError::Sqlite(e) => StoreError::from_sqlite(e, path),
            other => other,
        })?;
        Ok(store)
    }

    fn prepare(&mut self) -> Result<()> {
        let c = &self.conn;
        c.busy_timeout(std::time::Duration::from_secs(5))?;
        // One process owns the vault (the daemon holds its lock files), so
        // the connection keeps its file locks instead of taking and dropping
        // them around every transaction, and, set before the first read, the
        // WAL index lives in this process's memory rather than in a shared
        // `-shm` file. Another process cannot open the vault meanwhile.
        let _: String = c.query_row("PRAGMA locking_mode=EXCLUSIVE", [], |r| r.get(0))?;
        // A 256 KiB page cache (SQLite's default is 2 MiB): lookups touch a
        // handful of index pages, a `list` streams the table through it
        // either way, audit records append to the table's last pages, and
        // a bigger cache only fills with pages read once (`quick_check`
        // below, old audit pages) and stays resident in the daemon.
        c.execute_batch("PRAGMA cache_size=-256")?;
        let version: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let app_id: i64 = c.query_row("PRAGMA application_id", [], |r| r.get(0))?;
        let tables: i64 = c.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
        if version < 0 {
            return Err(StoreError::Damaged {
                path: self.path.clone(),
                detail: format!("negative schema version {version}"),
            });
        }
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: self.path.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if tables > 0 && app_id != APPLICATION_ID {
            return Err(StoreError::Damaged {
                path: self.path.clone(),
                detail: "another program's SQLite database".into(),
            });
        }
        let check: String = c.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(StoreError::Damaged {
                path: self.path.clone(),
                detail: format!("integrity check: {check}"),
            });
        }
        c.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA secure_delete=ON; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
        )?;
        if version < SCHEMA_VERSION {
            let tx = self.conn.transaction()?;
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                tx.execute_batch(sql)?;
                if i + 1 == 3 {
                    backfill_vars(&tx)?;
                }
                tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            }
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
            tx.commit()?;
        }
        // The connection's own level: see `durably`.
        self.conn.execute_batch("PRAGMA synchronous=NORMAL")?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A counter advanced before every change to the sessions or their
    /// values (add, remove, purge), read without the store: an answer
    /// computed while it read N is still the store's answer while it reads
    /// N. Restarting idle clocks ([`Store::touch`], [`Store::flush_touches`])
    /// does not advance it: `last_used` only grows, so a holder of an older
    /// copy can only think a session expires sooner, never later.
    pub fn changes(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.changes)
    }

    /// The counter of [`Store::changes`] now.
    pub fn change_count(&self) -> u64 {
        self.changes.load(Ordering::SeqCst)
    }

    /// Runs a vault write at `synchronous=FULL`: its commit has reached the
    /// disk (the WAL is fsynced) before this returns. The connection is
    /// otherwise at NORMAL, for the audit log's appends (see
    /// `append_audit_batch`): switching per audit commit instead cost two
    /// statement compilations each time (a PRAGMA takes effect when it is
    /// compiled, so SQLite recompiles it on every run), and vault writes
    /// are rare. Should switching back fail, the connection stays at FULL:
    /// slower, never less safe.
    fn durably<T>(&mut self, write: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        // A PRAGMA cannot change the level inside a transaction, and a
        // write must not join one left open: end it first.
        self.wrap(end_open_transaction(&self.conn))?;
        self.wrap(self.conn.execute_batch("PRAGMA synchronous=FULL"))?;
        #[cfg(test)]
        {
            self.durable_writes += 1;
        }
        let out = write(self);
        let _ = self.conn.execute_batch("PRAGMA synchronous=NORMAL");
        out
    }

    fn changing(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
    }

    fn wrap<T>(&self, r: rusqlite::Result<T>) -> Result<T> {
        r.map_err(|e| StoreError::from_sqlite(e, &self.path))
    }

    /// A metadata value (e.g. `kcv`).
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.wrap(
            self.conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional(),
        )
    }

    /// The key check value; `None` while the vault has no key yet.
    pub fn key_check_value(&self) -> Result<Option<Vec<u8>>> {
        self.meta("kcv")
    }

    /// Records the key check value and the first wrapping of a new vault
    /// key, in one transaction. Refuses if the vault already has a key.
    pub fn initialize(&mut self, kcv: &[u8], backend: &str, wrap: &[u8], now: i64) -> Result<()> {
        self.changing();
        self.durably(|s| s.initialize_now(kcv, backend, wrap, now))
    }

    fn initialize_now(&mut self, kcv: &[u8], backend: &str, wrap: &[u8], now: i64) -> Result<()> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction()
            .map_err(|e| StoreError::from_sqlite(e, &path))?;
        let exists: bool = tx
            .query_row("SELECT 1 FROM meta WHERE key = 'kcv'", [], |_| Ok(true))
            .optional()?
            .unwrap_or(false);
        if exists {
            return Err(StoreError::AlreadyInitialized);
        }
        tx.execute("INSERT INTO meta (key, value) VALUES ('kcv', ?1)", [kcv])?;
        tx.execute(
            "INSERT INTO key_wraps (backend, blob, created_at) VALUES (?1, ?2, ?3)",
            params![backend, wrap, now],
        )?;
        tx.commit().map_err(|e| StoreError::from_sqlite(e, &path))
    }

    /// The wrapping of the vault key kept for `backend`.
    pub fn key_wrap(&self, backend: &str) -> Result<Option<Vec<u8>>> {
        self.wrap(
            self.conn
                .query_row(
                    "SELECT blob FROM key_wraps WHERE backend = ?1",
                    [backend],
                    |r| r.get(0),
                )
                .optional(),
        )
    }

    /// Backends that hold a wrapping of the vault key.
    pub fn wrapped_backends(&self) -> Result<Vec<String>> {
        let mut st = self.wrap(
            self.conn
                .prepare("SELECT backend FROM key_wraps ORDER BY created_at, backend"),
        )?;
        let rows = self.wrap(st.query_map([], |r| r.get(0)))?;
        self.wrap(rows.collect())
    }

    /// Adds or replaces a backend's wrapping.
    pub fn put_key_wrap(&mut self, backend: &str, blob: &[u8], now: i64) -> Result<()> {
        self.durably(|s| {
            s.wrap(s.conn.execute(
                "INSERT INTO key_wraps (backend, blob, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(backend) DO UPDATE SET blob = excluded.blob, created_at = excluded.created_at",
                params![backend, blob, now],
            ))
            .map(drop)
        })
    }

    /// Removes a backend's wrapping.
    pub fn delete_key_wrap(&mut self, backend: &str) -> Result<()> {
        self.durably(|s| {
            s.wrap(
                s.conn
                    .execute("DELETE FROM key_wraps WHERE backend = ?1", [backend]),
            )
            .map(drop)
        })
    }

    /// Stores a session and its sealed values atomically.
    pub fn insert_session(&mut self, row: &SessionRow, values: &[SealedValue]) -> Result<()> {
        self.changing();
        self.durably(|s| s.insert_session_now(row, values))
    }

    fn insert_session_now(&mut self, row: &SessionRow, values: &[SealedValue]) -> Result<()> {
        let path = self.path.clone();
        let run = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            let vars: Vec<&str> = values.iter().map(|v| v.var.as_str()).collect();
            tx.execute(
                "INSERT INTO sessions (id, tool, scope, label, fingerprint, created_at, last_used, idle_ttl, hard_deadline, vars, confirm, allow_exe)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    row.id,
                    row.tool,
                    row.scope.as_db_str(),
                    row.label,
                    row.fingerprint,
                    row.expiry.created_at,
                    row.expiry.last_used,
                    i64::try_from(row.expiry.idle_ttl).unwrap_or(i64::MAX),
                    row.expiry.hard_deadline,
                    vars.join("\n"),
                    row.rules.confirm,
                    row.rules.allow_exe_to_db(),
                ],
            )?;
            for v in values {
                tx.execute(
                    "INSERT INTO session_values (session_id, var, nonce, ciphertext) VALUES (?1, ?2, ?3, ?4)",
                    params![row.id, v.var, v.sealed.nonce, v.sealed.ciphertext],
                )?;
            }
            tx.commit()
        };
        run(&mut self.conn).map_err(|e| StoreError::from_sqlite(e, &path))
    }

    /// The sessions matching `filter`, oldest first.
    fn query_sessions(
        &self,
        filter: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<SessionRow>> {
        // Oldest first, ties in insertion order: the `sessions_created`
        // index gives that order without a sort when nothing narrower is
        // asked; a filtered query sorts only its few rows.
        let sql = format!(
            "SELECT s.id, s.tool, s.scope, s.label, s.fingerprint, s.created_at, s.last_used, s.idle_ttl, s.hard_deadline, s.vars, s.confirm, s.allow_exe
             FROM sessions s {filter} ORDER BY s.created_at, s.rowid"
        );
        let mut st = self.wrap(self.conn.prepare_cached(&sql))?;
        let rows = self.wrap(st.query_map(args, |r| {
            Ok((
                r.get::<_, String>(2)?,
                SessionRow {
                    id: r.get(0)?,
                    tool: r.get(1)?,
                    scope: Scope::Global,
                    label: r.get(3)?,
                    fingerprint: r.get(4)?,
                    expiry: Expiry {
                        created_at: r.get(5)?,
                        last_used: r.get(6)?,
                        idle_ttl: r.get::<_, i64>(7)?.max(0) as u64,
                        hard_deadline: r.get(8)?,
                    },
                    vars: split_vars(r.get_ref(9)?.as_str()?),
                    rules: CallerRules {
                        confirm: r.get(10)?,
                        allow_exe: CallerRules::allow_exe_from_db(r.get_ref(11)?.as_str()?),
                    },
                },
            ))
        }))?;
        let mut out = Vec::new();
        for r in rows {
            let (scope, mut row) = self.wrap(r)?;
            row.scope = Scope::from_db_str(&scope).ok_or_else(|| StoreError::Damaged {
                path: self.path.clone(),
                detail: format!("session {} has an invalid scope", row.id),
            })?;
            if let Some(&t) = self.pending_touches.get(&row.id) {
                row.expiry.touch(t);
            }
            out.push(row);
        }
        Ok(out)
    }

    /// Every session of `tool`.
    pub fn sessions_for_tool(&self, tool: &str) -> Result<Vec<SessionRow>> {
        self.query_sessions("WHERE s.tool = ?1", &[&tool])
    }

    /// The sessions of `tool` whose scope is one of `scopes` (see
    /// [`sv_core::scope::covering_scopes`]): a lookup reads only the rows that
    /// can match, however many sessions the vault holds.
    pub fn sessions_in_scopes(&self, tool: &str, scopes: &[String]) -> Result<Vec<SessionRow>> {
        let mut filter = String::from("WHERE s.tool = ?1 AND s.scope IN (");
        for i in 0..scopes.len() {
            if i > 0 {
                filter.push_str(", ");
            }
            filter.push_str(&format!("?{}", i + 2));
        }
        filter.push(')');
        let mut args: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(scopes.len() + 1);
        args.push(&tool);
        args.extend(scopes.iter().map(|s| s as &dyn rusqlite::ToSql));
        self.query_sessions(&filter, &args)
    }

    /// Sessions, optionally only one tool's and/or one scope's.
    pub fn list(&self, tool: Option<&str>, scope: Option<&Scope>) -> Result<Vec<SessionRow>> {
        let scope_s = scope.map(|s| s.as_db_str().into_owned());
        self.query_sessions(
            "WHERE (?1 IS NULL OR s.tool = ?1) AND (?2 IS NULL OR s.scope = ?2)",
            &[&tool, &scope_s],
        )
    }

    /// Calls `f` with every session matching the filters, oldest first,
    /// straight from SQLite's row buffers: no allocation per session, for
    /// `list` over 100 000 sessions. Returns how many there were.
    pub fn visit_sessions(
        &self,
        tool: Option<&str>,
        scope: Option<&Scope>,
        mut f: impl FnMut(&SessionView<'_>),
    ) -> Result<usize> {
        let scope_s = scope.map(|s| s.as_db_str().into_owned());
        let mut st = self.wrap(self.conn.prepare_cached(
            "SELECT id, tool, scope, label, fingerprint, created_at, last_used, idle_ttl, hard_deadline, vars, confirm, allow_exe
             FROM sessions
             WHERE (?1 IS NULL OR tool = ?1) AND (?2 IS NULL OR scope = ?2)
             ORDER BY created_at, rowid",
        ))?;
        let mut rows = self.wrap(st.query(params![tool, scope_s]))?;
        let mut n = 0;
        while let Some(r) = self.wrap(rows.next())? {
            let text = |i: usize| r.get_ref(i).and_then(|v| Ok(v.as_str()?));
            let view = self.wrap((|| {
                let id = text(0)?;
                let mut expiry = Expiry {
                    created_at: r.get(5)?,
                    last_used: r.get(6)?,
                    idle_ttl: r.get::<_, i64>(7)?.max(0) as u64,
                    hard_deadline: r.get(8)?,
                };
                if let Some(&t) = self.pending_touches.get(id) {
                    expiry.touch(t);
                }
                Ok(SessionView {
                    id,
                    tool: text(1)?,
                    scope: text(2)?,
                    label: r.get_ref(3)?.as_str_or_null()?,
                    fingerprint: text(4)?,
                    expiry,
                    vars: text(9)?,
                    confirm: r.get(10)?,
                    allow_exe: text(11)?,
                })
            })())?;
            f(&view);
            n += 1;
        }
        Ok(n)
    }

    /// The sealed values of one session, in variable order.
    pub fn sealed_values(&self, id: &str) -> Result<Vec<SealedValue>> {
        // Sorted here, not by `ORDER BY rowid`: the primary key index gives
        // the rows in name order and SQLite would sort them in a temporary
        // B-tree on every lookup.
        let mut st = self.wrap(self.conn.prepare_cached(
            "SELECT rowid, var, nonce, ciphertext FROM session_values WHERE session_id = ?1",
        ))?;
        let rows = self.wrap(st.query_map([id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                SealedValue {
                    var: r.get(1)?,
                    sealed: SealedSecret {
                        nonce: r.get(2)?,
                        ciphertext: r.get(3)?,
                    },
                },
            ))
        }))?;
        let mut values: Vec<(i64, SealedValue)> = self.wrap(rows.collect())?;
        values.sort_unstable_by_key(|(rowid, _)| *rowid);
        Ok(values.into_iter().map(|(_, v)| v).collect())
    }

    /// Restarts a session's idle clock (in memory until the next flush).
    pub fn touch(&mut self, id: &str, last_used: i64) {
        // Looked up before inserting: one call per audited request, nearly
        // always for a session already pending (no copy of its id then).
        match self.pending_touches.get_mut(id) {
            Some(t) => *t = (*t).max(last_used),
            None => {
                self.pending_touches.insert(id.to_owned(), last_used);
            }
        }
    }

    /// Writes the pending idle-clock restarts in one transaction.
    pub fn flush_touches(&mut self) -> Result<()> {
        if self.pending_touches.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let touches = std::mem::take(&mut self.pending_touches);
        let run = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            {
                let mut st = tx.prepare_cached(
                    "UPDATE sessions SET last_used = max(last_used, ?2) WHERE id = ?1",
                )?;
                for (id, t) in &touches {
                    st.execute(params![id, t])?;
                }
            }
            tx.commit()
        };
        run(&mut self.conn).map_err(|e| {
            // Keep them for the next try.
            self.pending_touches = touches.clone();
            StoreError::from_sqlite(e, &path)
        })
    }

    /// Deletes the sessions whose id starts with `prefix` (at least 4
    /// characters): 0 or 1 of them, never several.
    pub fn remove_by_id_prefix(&mut self, prefix: &str) -> Result<u64> {
        // Session ids are UUIDs: anything else matches nothing (and never
        // acts as a LIKE wildcard).
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Ok(0);
        }
        let pattern = format!("{}%", prefix.to_ascii_lowercase());
        let ids: Vec<String> = {
            let mut st = self.wrap(
                self.conn
                    .prepare("SELECT id FROM sessions WHERE id LIKE ?1"),
            )?;
            let rows = self.wrap(st.query_map([&pattern], |r| r.get(0)))?;
            self.wrap(rows.collect())?
        };
        match ids.len() {
            0 => Ok(0),
            1 => self.remove_ids(&ids),
            _ => Err(StoreError::AmbiguousId(prefix.to_owned())),
        }
    }

    /// Deletes every session of `tool`.
    pub fn remove_by_tool(&mut self, tool: &str) -> Result<u64> {
        self.changing();
        self.durably(|s| {
            s.wrap(
                s.conn
                    .execute("DELETE FROM sessions WHERE tool = ?1", [tool]),
            )
            .map(|n| n as u64)
        })
    }

    /// Deletes every session scoped exactly to `scope`.
    pub fn remove_by_scope(&mut self, scope: &Scope) -> Result<u64> {
        self.changing();
        self.durably(|s| {
            s.wrap(
                s.conn
                    .execute("DELETE FROM sessions WHERE scope = ?1", [scope.as_db_str()]),
            )
            .map(|n| n as u64)
        })
    }

    /// Deletes the given sessions (their values go with them).
    pub fn remove_ids(&mut self, ids: &[String]) -> Result<u64> {
        self.changing();
        self.durably(|s| {
            let mut n = 0;
            for id in ids {
                s.pending_touches.remove(id);
                n += s.wrap(s.conn.execute("DELETE FROM sessions WHERE id = ?1", [id]))? as u64;
            }
            Ok(n)
        })
    }

    /// Deletes every session expired at `now`; returns how many.
    pub fn purge_expired(&mut self, now: i64) -> Result<u64> {
        self.changing();
        self.flush_touches()?;
        self.durably(|s| {
            s.wrap(s.conn.execute(
                "DELETE FROM sessions WHERE (idle_ttl > 0 AND ?1 >= last_used + idle_ttl)
                                         OR (hard_deadline IS NOT NULL AND ?1 >= hard_deadline)",
                [now],
            ))
            .map(|n| n as u64)
        })
    }

    /// How many sessions are stored.
    pub fn count(&self) -> Result<u64> {
        self.wrap(
            self.conn
                .query_row("SELECT count(*) FROM sessions", [], |r| r.get::<_, i64>(0)),
        )
        .map(|n| n as u64)
    }

    /// Moves the WAL's content into the main file (done at shutdown).
    pub fn checkpoint(&mut self) -> Result<()> {
        self.flush_touches()?;
        self.wrap(
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())),
        )
    }
}

/// Rolls back the transaction open on `conn` when dropped, unless it has
/// ended (committed or rolled back) by then.
pub(crate) struct RollbackGuard<'a>(pub(crate) &'a Connection);

impl Drop for RollbackGuard<'_> {
    fn drop(&mut self) {
        if !self.0.is_autocommit() {
            let _ = self.0.execute_batch("ROLLBACK");
        }
    }
}

/// Rolls back a transaction left open on `conn` (none should be: every
/// transaction here ends or is rolled back by a guard), so nothing joins a
/// transaction that will never commit.
pub(crate) fn end_open_transaction(conn: &Connection) -> rusqlite::Result<()> {
    if conn.is_autocommit() {
        Ok(())
    } else {
        conn.execute_batch("ROLLBACK")
    }
}

/// Refuses a non-empty file that does not start with SQLite's header.
fn check_header(path: &Path) -> Result<()> {
    let mut f = fs::File::open(path).map_err(io_err(path))?;
    let mut head = [0u8; 16];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]).map_err(io_err(path))? {
            0 => break,
            k => n += k,
        }
    }
    if n == 0 || &head[..n] == b"SQLite format 3\0" {
        Ok(())
    } else {
        Err(StoreError::Damaged {
            path: path.to_owned(),
            detail: "not an SQLite file".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, tool: &str, scope: Scope, now: i64, ttl: u64) -> SessionRow {
        SessionRow {
            id: id.into(),
            tool: tool.into(),
            scope,
            label: None,
            fingerprint: "0011aabb".into(),
            expiry: Expiry::new(now, ttl, None),
            vars: vec!["ANTHROPIC_API_KEY".into()],
            rules: CallerRules::default(),
        }
    }

    /// An audit record of a serve, for the tests that write the log.
    fn served_record() -> sv_core::ops::AuditRecord {
        sv_core::ops::AuditRecord {
            time: 1,
            tool: Some("claude".into()),
            session_id: None,
            outcome: sv_core::ops::AuditOutcome::Served,
            pid: None,
            exe: None,
            cwd: None,
            request: None,
            rule: None,
        }
    }

    fn val() -> Vec<SealedValue> {
        vec![SealedValue {
            var: "ANTHROPIC_API_KEY".into(),
            sealed: SealedSecret {
                nonce: vec![1; 24],
                ciphertext: vec![2; 40],
            },
        }]
    }

    #[test]
    fn modes_and_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sv/vault.db");
        let mut s = Store::open(&p).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&p), 0o600);
        assert_eq!(mode(p.parent().unwrap()), 0o700);
        s.insert_session(
            &row("abcd-1", "claude", Scope::project("/p/app"), 100, 10),
            &val(),
        )
        .unwrap();
        s.insert_session(&row("abcd-2", "codex", Scope::Global, 100, 0), &val())
            .unwrap();
        let got = s.sessions_for_tool("claude").unwrap();
        assert_eq!(got.len(), 1);
        let scopes = sv_core::scope::covering_scopes(Path::new("/p/app/src"));
        let ids = |rows: Vec<SessionRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(
            ids(s.sessions_in_scopes("claude", &scopes).unwrap()),
            ids(got.clone())
        );
        let elsewhere = sv_core::scope::covering_scopes(Path::new("/p/app-evil"));
        assert!(s
            .sessions_in_scopes("claude", &elsewhere)
            .unwrap()
            .is_empty());
        assert_eq!(got[0].scope, Scope::project("/p/app"));
        assert_eq!(got[0].vars, ["ANTHROPIC_API_KEY"]);
        assert_eq!(s.sealed_values("abcd-1").unwrap(), val());
        s.touch("abcd-1", 105);
        let last = |s: &Store| s.list(Some("claude"), None).unwrap()[0].expiry.last_used;
        assert_eq!(last(&s), 105, "a pending touch applies");
        s.flush_touches().unwrap();
        s.touch("abcd-1", 101);
        assert_eq!(last(&s), 105, "flushed, and never moved back");
        drop(s);
        let mut s = Store::open(&p).unwrap();
        assert_eq!(last(&s), 105, "the flush reached the file");
        assert_eq!(s.purge_expired(114).unwrap(), 0);
        assert_eq!(s.purge_expired(115).unwrap(), 1);
        assert!(
            s.sealed_values("abcd-1").unwrap().is_empty(),
            "values cascade"
        );
        assert!(matches!(s.remove_by_id_prefix("abcd"), Ok(1)));
        assert_eq!(s.count().unwrap(), 0);
        drop(s);
        // Reopening an existing vault works and keeps the schema.
        Store::open(&p).unwrap();
    }

    #[test]
    fn many_sessions_keep_order_and_vars() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(&d.path().join("v.db")).unwrap();
        for i in (0..200).rev() {
            let mut r = row(&format!("id-{i:03}"), "multi", Scope::Global, 1000 - i, 0);
            r.vars = vec!["Z_KEY".into(), "A_KEY".into()];
            let v: Vec<SealedValue> = ["Z_KEY", "A_KEY"]
                .iter()
                .map(|n| SealedValue {
                    var: n.to_string(),
                    sealed: SealedSecret {
                        nonce: vec![1; 24],
                        ciphertext: vec![2; 40],
                    },
                })
                .collect();
            s.insert_session(&r, &v).unwrap();
        }
        let all = s.list(None, None).unwrap();
        assert_eq!(all.len(), 200);
        assert_eq!(all[0].id, "id-199", "oldest first");
        assert!(all
            .windows(2)
            .all(|w| w[0].expiry.created_at <= w[1].expiry.created_at));
        assert!(
            all.iter().all(|r| r.vars == ["Z_KEY", "A_KEY"]),
            "stored order"
        );
        let few = s.list(Some("multi"), None).unwrap();
        assert_eq!(few, all);
        let scopes = sv_core::scope::covering_scopes(Path::new("/x"));
        let some = s.sessions_in_scopes("multi", &scopes).unwrap();
        assert_eq!(some.len(), 200);
        let names: Vec<String> = s
            .sealed_values(&some[5].id)
            .unwrap()
            .into_iter()
            .map(|v| v.var)
            .collect();
        assert_eq!(names, ["Z_KEY", "A_KEY"], "stored order, not name order");
    }

    #[test]
    fn v2_file_gains_variable_names_in_stored_order() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("v.db");
        {
            let c = Connection::open(&p).unwrap();
            c.execute_batch(MIGRATIONS[0]).unwrap();
            c.execute_batch(MIGRATIONS[1]).unwrap();
            c.execute_batch(
                "INSERT INTO sessions VALUES ('s1','multi','global',NULL,'00aa',1,1,0,NULL);
                 INSERT INTO sessions VALUES ('s2','claude','global','x','00bb',2,2,0,NULL);
                 INSERT INTO session_values VALUES ('s1','Z_KEY',x'00',x'00');
                 INSERT INTO session_values VALUES ('s2','ANTHROPIC_API_KEY',x'00',x'00');
                 INSERT INTO session_values VALUES ('s1','A_KEY',x'00',x'00');",
            )
            .unwrap();
            c.pragma_update(None, "user_version", 2).unwrap();
            c.pragma_update(None, "application_id", APPLICATION_ID)
                .unwrap();
        }
        let s = Store::open(&p).unwrap();
        let all = s.list(None, None).unwrap();
        assert_eq!(
            all[0].vars,
            ["Z_KEY", "A_KEY"],
            "stored order, not name order"
        );
        assert_eq!(all[1].vars, ["ANTHROPIC_API_KEY"]);
        let mut seen = Vec::new();
        s.visit_sessions(None, None, |v| {
            seen.push((v.id.to_owned(), v.vars().collect::<Vec<_>>().join(",")))
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                ("s1".to_owned(), "Z_KEY,A_KEY".to_owned()),
                ("s2".to_owned(), "ANTHROPIC_API_KEY".to_owned())
            ]
        );
    }

    #[test]
    fn caller_rules_are_stored_and_a_v4_file_migrates_to_none() {
        use sv_core::rules::AllowedExe;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("v.db");
        {
            // A vault as the previous schema wrote it, with a session and
            // an audit record.
            let c = Connection::open(&p).unwrap();
            for m in &MIGRATIONS[..4] {
                c.execute_batch(m).unwrap();
            }
            c.execute_batch(
                "INSERT INTO sessions VALUES ('s1','claude','global',NULL,'00aa',1,1,0,NULL,'ANTHROPIC_API_KEY');
                 INSERT INTO session_values VALUES ('s1','ANTHROPIC_API_KEY',x'00',x'00');
                 INSERT INTO audit (time, tool, outcome) VALUES (5, 'claude', 'served');",
            )
            .unwrap();
            c.pragma_update(None, "user_version", 4).unwrap();
            c.pragma_update(None, "application_id", APPLICATION_ID)
                .unwrap();
        }
        let mut s = Store::open(&p).unwrap();
        let v: i64 = s
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let old = s.list(None, None).unwrap();
        assert_eq!(
            old[0].rules,
            CallerRules::default(),
            "no rules after migration"
        );
        let log = s.audit_entries(&Default::default()).unwrap();
        assert_eq!((log.len(), log[0].record.rule.as_deref()), (1, None));
        // A session with rules keeps them, and `visit_sessions` shows them.
        let mut r = row("s2", "claude", Scope::Global, 2, 0);
        r.rules = CallerRules {
            confirm: true,
            allow_exe: vec![AllowedExe {
                path: "/usr/bin/node".into(),
                dev: 64769,
                ino: 1234,
            }],
        };
        s.insert_session(&r, &val()).unwrap();
        let got = s.list(None, None).unwrap();
        assert_eq!(got[1].rules, r.rules);
        let mut seen = Vec::new();
        s.visit_sessions(None, None, |v| {
            seen.push((
                v.confirm,
                CallerRules::paths_from_db(v.allow_exe)
                    .map(str::to_owned)
                    .collect::<Vec<_>>(),
            ))
        })
        .unwrap();
        assert_eq!(
            seen,
            [(false, vec![]), (true, vec!["/usr/bin/node".to_owned()])]
        );
        let mut rec = served_record();
        rec.outcome = sv_core::ops::AuditOutcome::RefusedAllowExe;
        rec.rule = Some("allow-exe /usr/bin/node".into());
        s.append_audit(&rec, &Default::default()).unwrap();
        let log = s.audit_entries(&Default::default()).unwrap();
        assert_eq!(
            log[1].record.rule.as_deref(),
            Some("allow-exe /usr/bin/node")
        );
        assert_eq!(
            log[1].record.outcome,
            sv_core::ops::AuditOutcome::RefusedAllowExe
        );
    }

    #[test]
    fn visiting_matches_listing() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(&d.path().join("v.db")).unwrap();
        for i in (0..50).rev() {
            let scope = if i % 2 == 0 {
                Scope::Global
            } else {
                Scope::project("/p/app")
            };
            s.insert_session(
                &row(&format!("id-{i:02}"), "claude", scope, 100 + i % 7, 30),
                &val(),
            )
            .unwrap();
        }
        s.touch("id-03", 500);
        for (tool, scope) in [
            (None, None),
            (Some("claude"), Some(Scope::project("/p/app"))),
            (Some("codex"), None),
        ] {
            let listed = s.list(tool, scope.as_ref()).unwrap();
            let mut visited = Vec::new();
            let n = s
                .visit_sessions(tool, scope.as_ref(), |v| {
                    visited.push((
                        v.id.to_owned(),
                        v.scope.to_owned(),
                        v.expiry,
                        v.vars().map(str::to_owned).collect::<Vec<_>>(),
                    ))
                })
                .unwrap();
            assert_eq!(n, listed.len());
            let want: Vec<_> = listed
                .iter()
                .map(|r| {
                    (
                        r.id.clone(),
                        r.scope.as_db_str().into_owned(),
                        r.expiry,
                        r.vars.clone(),
                    )
                })
                .collect();
            assert_eq!(visited, want);
        }
        let last_used = |s: &Store| {
            let mut t = 0;
            s.visit_sessions(None, None, |v| {
                if v.id == "id-03" {
                    t = v.expiry.last_used
                }
            })
            .unwrap();
            t
        };
        assert_eq!(last_used(&s), 500, "pending touches apply");
    }

    #[test]
    fn ambiguous_prefix_removes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(&d.path().join("v.db")).unwrap();
        s.insert_session(&row("abcd-1", "claude", Scope::Global, 1, 0), &val())
            .unwrap();
        s.insert_session(&row("abcd-2", "claude", Scope::Global, 1, 0), &val())
            .unwrap();
        assert!(matches!(
            s.remove_by_id_prefix("abcd"),
            Err(StoreError::AmbiguousId(_))
        ));
        // LIKE wildcards are not ids: they match nothing.
        assert_eq!(s.remove_by_id_prefix("____").unwrap(), 0);
        assert_eq!(s.remove_by_id_prefix("%%%%").unwrap(), 0);
        assert_eq!(s.count().unwrap(), 2);
        assert_eq!(s.remove_by_scope(&Scope::Global).unwrap(), 2);
    }

    #[test]
    fn vault_writes_are_synchronous_and_change_the_counter() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(&d.path().join("v.db")).unwrap();
        let level = |s: &Store| -> i64 {
            s.conn
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap()
        };
        // NORMAL (1) between writes, for the audit log's appends.
        assert_eq!(level(&s), 1);
        let changes = s.changes();
        let mut last = (s.durable_writes, changes.load(Ordering::SeqCst));
        let mut step = |s: &mut Store, what: &str, counted: bool| {
            let now = (s.durable_writes, changes.load(Ordering::SeqCst));
            assert_eq!(now.0, last.0 + 1, "{what}: not a durable write");
            if counted {
                assert!(now.1 > last.1, "{what}: the change counter did not move");
            }
            assert_eq!(level(s), 1, "{what}: left the connection at FULL");
            last = now;
        };
        s.initialize(b"kcv", "passphrase", b"wrap", 1).unwrap();
        step(&mut s, "initialize", true);
        s.put_key_wrap("tpm2", b"t", 2).unwrap();
        step(&mut s, "put_key_wrap", false);
        s.delete_key_wrap("tpm2").unwrap();
        step(&mut s, "delete_key_wrap", false);
        for (i, tool) in ["claude", "codex", "gemini", "claude"].iter().enumerate() {
            s.insert_session(
                &row(&format!("abcd-{i}"), tool, Scope::Global, 1, 5),
                &val(),
            )
            .unwrap();
            step(&mut s, "insert_session", true);
        }
        assert_eq!(s.remove_by_id_prefix("abcd-0").unwrap(), 1);
        step(&mut s, "remove_by_id_prefix", true);
        assert_eq!(s.remove_by_tool("codex").unwrap(), 1);
        step(&mut s, "remove_by_tool", true);
        let scope = Scope::Global;
        s.insert_session(&row("abcd-9", "x", Scope::Global, 100, 0), &val())
            .unwrap();
        step(&mut s, "insert_session", true);
        assert_eq!(s.purge_expired(10).unwrap(), 2);
        step(&mut s, "purge_expired", true);
        assert_eq!(s.remove_by_scope(&scope).unwrap(), 1);
        step(&mut s, "remove_by_scope", true);
        // The audit log's appends stay at NORMAL and count nothing.
        let rec = served_record();
        s.append_audit_batch(&[rec], &Default::default()).unwrap();
        assert_eq!(s.durable_writes, last.0);
        assert_eq!(changes.load(Ordering::SeqCst), last.1);
        assert_eq!(level(&s), 1);
    }

    #[test]
    fn no_write_joins_a_transaction_left_open() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("v.db");
        let mut s = Store::open(&p).unwrap();
        // A guard rolls back what did not commit, also when unwinding.
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            s.conn.execute_batch("BEGIN").unwrap();
            let _g = RollbackGuard(&s.conn);
            s.conn
                .execute_batch("INSERT INTO meta (key, value) VALUES ('x', x'00')")
                .unwrap();
            panic!("mid-transaction");
        }));
        assert!(unwound.is_err());
        assert!(s.conn.is_autocommit(), "the guard ended the transaction");
        assert_eq!(s.meta("x").unwrap(), None, "and nothing of it stayed");
        // A transaction left open anyway is ended before the next write,
        // which then commits on its own.
        s.conn.execute_batch("BEGIN").unwrap();
        s.insert_session(&row("abcd-1", "claude", Scope::Global, 1, 0), &val())
            .unwrap();
        assert!(s.conn.is_autocommit());
        s.conn.execute_batch("BEGIN").unwrap();
        let rec = served_record();
        s.append_audit_batch(&[rec], &Default::default()).unwrap();
        assert!(s.conn.is_autocommit());
        drop(s);
        let s = Store::open(&p).unwrap();
        assert_eq!(s.count().unwrap(), 1, "the session was committed");
        assert_eq!(s.audit_count().unwrap(), 1, "the record was committed");
    }

    #[test]
    fn initialize_once() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(&d.path().join("v.db")).unwrap();
        assert_eq!(s.key_check_value().unwrap(), None);
        s.initialize(b"kcv", "passphrase", b"wrap", 1).unwrap();
        assert!(matches!(
            s.initialize(b"kcv2", "passphrase", b"w", 1),
            Err(StoreError::AlreadyInitialized)
        ));
        assert_eq!(s.key_wrap("passphrase").unwrap().unwrap(), b"wrap");
        s.put_key_wrap("tpm2", b"t", 2).unwrap();
        assert_eq!(s.wrapped_backends().unwrap(), ["passphrase", "tpm2"]);
        s.delete_key_wrap("passphrase").unwrap();
        assert_eq!(s.wrapped_backends().unwrap(), ["tpm2"]);
    }

    #[test]
    fn newer_schema_is_refused_untouched() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("v.db");
        Store::open(&p).unwrap();
        {
            let c = Connection::open(&p).unwrap();
            c.pragma_update(None, "user_version", 99).unwrap();
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .unwrap();
        }
        let before = fs::read(&p).unwrap();
        let err = Store::open(&p).unwrap_err();
        assert!(
            matches!(err, StoreError::NewerSchema { found: 99, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("upgrade"));
        assert_eq!(fs::read(&p).unwrap(), before);
    }

    #[test]
    fn garbage_and_foreign_files_are_refused_untouched() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("v.db");
        fs::write(&p, b"this is not a database at all, just text").unwrap();
        let err = Store::open(&p).unwrap_err();
        assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
        assert_eq!(
            fs::read(&p).unwrap(),
            b"this is not a database at all, just text"
        );

        let q = d.path().join("other.db");
        Connection::open(&q)
            .unwrap()
            .execute_batch("CREATE TABLE t(x)")
            .unwrap();
        assert!(matches!(Store::open(&q), Err(StoreError::Damaged { .. })));
    }

    #[test]
    fn truncated_file_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("v.db");
        let mut s = Store::open(&p).unwrap();
        for i in 0..200 {
            s.insert_session(
                &row(&format!("id-{i}"), "claude", Scope::Global, 1, 0),
                &val(),
            )
            .unwrap();
        }
        s.checkpoint().unwrap();
        drop(s);
        let bytes = fs::read(&p).unwrap();
        // Damage a whole page in the middle of the file (leave the header
        // intact): half a page may land in a page's unused space.
        let mut damaged = bytes.clone();
        let page = bytes.len() / 2 / 4096 * 4096;
        for b in &mut damaged[page..page + 4096] {
            *b = 0xA5;
        }
        fs::write(&p, &damaged).unwrap();
        let err = Store::open(&p).map(|_| ()).unwrap_err();
        assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
        assert_eq!(fs::read(&p).unwrap(), damaged);
    }
}
