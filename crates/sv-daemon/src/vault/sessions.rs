//! Session writes and reads other than a lookup: `add`, `list`, `remove`,
//! and the purge of expired sessions (docs/design.md §4, §5).

use super::Vault;
use crate::clock::now;
use crate::rpc::{keyring_err, locked_error, store_err, Outcome};
use std::path::{Path, PathBuf};
use sv_core::protocol::{self as p, code, RpcError};
use sv_core::rules::CallerRules;
use sv_core::seal::{RecordBinding, NONCE_LEN};
use sv_core::{Expiry, Scope, SecretString};
use sv_store::{SealedValue, SessionRow, Store};
use tracing::{info, warn};
use zeroize::Zeroizing;

impl Vault {
    /// Periodic housekeeping: drop expired sessions.
    pub fn purge(&self) {
        self.audit.trim(&self.store());
        #[cfg(target_os = "linux")]
        self.proxy.table.sweep();
        match self.store().purge_expired(now()) {
            Ok(0) => {}
            Ok(n) => info!(count = n, "purged expired sessions"),
            Err(e) => warn!(error = %e, "purge failed"),
        }
    }

    pub(super) fn add(&self, prm: p::AddParams) -> Result<p::AddResult, RpcError> {
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
        let rules = caller_rules(&prm)?;
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
            rules,
        };
        self.store()
            .insert_session(&row, &sealed)
            .map_err(store_err)?;
        info!(session = %id, tool = %prm.tool, scope = %scope.as_db_str(), "stored session");
        Ok(p::AddResult { id, fingerprint })
    }

    /// The `list` answer ([`p::ListResult`] of [`p::ListRow`]s, or of
    /// [`p::BriefRow`]s when asked for `brief`), each row serialised as it
    /// comes from SQLite, borrowing its strings (a full row allocates only
    /// its list of variable names).
    pub(super) fn list(&self, prm: p::ListParams) -> Outcome {
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
                let allow_exe = CallerRules::paths_from_db(v.allow_exe)
                    .map(Into::into)
                    .collect();
                // Writing to a Vec cannot fail.
                let _ = if prm.brief {
                    let row = p::BriefRow(
                        v.id.into(),
                        v.tool.into(),
                        v.fingerprint.into(),
                        v.scope.into(),
                        e.expires_at(),
                        v.confirm,
                        allow_exe,
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
                        v.confirm,
                        allow_exe,
                    );
                    serde_json::to_writer(&mut buf, &row)
                };
            })
            .map_err(store_err)?;
        buf.extend_from_slice(b"]}");
        Ok(Zeroizing::new(buf))
    }

    pub(super) fn remove(&self, prm: p::RemoveParams) -> Result<p::RemoveResult, RpcError> {
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

/// Most executables one `--allow-exe` names.
const MAX_ALLOWED_EXES: usize = 32;

/// `add`'s caller rules (docs/design.md §11): each `--allow-exe` path
/// resolved now to the file it names, kept as its device and inode (what
/// `/proc/PID/exe` is compared with) and its canonical path.
fn caller_rules(prm: &p::AddParams) -> Result<CallerRules, RpcError> {
    let bad = |m: String| RpcError::new(code::INVALID_PARAMS, m);
    if !cfg!(target_os = "linux") && (prm.confirm || !prm.allow_exe.is_empty()) {
        return Err(bad(
            "--confirm and --allow-exe are enforced on Linux only; nothing was stored".into(),
        ));
    }
    if prm.allow_exe.len() > MAX_ALLOWED_EXES {
        return Err(bad(format!(
            "give at most {MAX_ALLOWED_EXES} --allow-exe paths"
        )));
    }
    #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
    let mut allow_exe = Vec::with_capacity(prm.allow_exe.len());
    #[cfg(target_os = "linux")]
    for path in &prm.allow_exe {
        use std::os::unix::fs::MetadataExt;
        let p = Path::new(path);
        if !p.is_absolute() {
            return Err(bad(format!("--allow-exe {path}: give an absolute path")));
        }
        let c = std::fs::canonicalize(p)
            .map_err(|e| bad(format!("--allow-exe {path}: {e}; give the program's path")))?;
        let m = std::fs::metadata(&c).map_err(|e| bad(format!("--allow-exe {path}: {e}")))?;
        if !m.is_file() {
            return Err(bad(format!("--allow-exe {path}: not a file")));
        }
        let Some(text) = c.to_str().filter(|t| !t.contains('\n')) else {
            return Err(bad(format!(
                "--allow-exe {path}: resolves to a path that is not valid UTF-8 or holds a newline"
            )));
        };
        allow_exe.push(sv_core::rules::AllowedExe {
            path: text.to_owned(),
            dev: m.dev(),
            ino: m.ino(),
        });
    }
    Ok(CallerRules {
        confirm: prm.confirm,
        allow_exe,
    })
}

/// Deletes expired sessions met on the way (SQLite `secure_delete`).
pub(super) fn purge_rows(
    store: &mut Store,
    expired: &[SessionRow],
    tool: &str,
) -> Result<(), RpcError> {
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

/// A project directory given by a client, canonical and valid UTF-8.
pub(super) fn canonical_dir(dir: &str) -> Result<PathBuf, RpcError> {
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
