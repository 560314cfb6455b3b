//! `rekey`: wrap the same vault key under another backend, crash-safely,
//! without touching a record; and the backend health note `status` shows.
//!
//! Order of steps, each one durable before the next:
//! 1. the new backend protects the key in memory (a new keyring item, a new
//!    TPM seal, a new Argon2id wrapping);
//! 2. its blob is added to `key_wraps` beside the old ones;
//! 3. the blob is read back from the store and recovered, and the result
//!    must match the vault's key check value;
//! 4. only then are the other wrappings deleted and their backends told to
//!    `forget` (delete the old keyring item).
//!
//! A crash before 4 leaves both wrappings, so the vault opens with either;
//! a crash inside 4 at worst leaves an orphan keyring item. The daemon then
//! runs with the new backend.

use super::Vault;
use crate::clock::now;
use crate::rpc::{keyring_err, locked_error, store_err};
use std::sync::Arc;
use sv_core::protocol::{self as p, code, RpcError};
use sv_keyring::KeyBackend;
use tracing::{info, warn};

/// Test hook, built only with the `test-hooks` feature: abort the daemon
/// between steps 3 and 4 above.
#[cfg(feature = "test-hooks")]
const CRASH_HOOK: &str = "SESSION_VAULT_TEST_CRASH_AFTER_REKEY_WRAP";

impl Vault {
    pub(super) fn rekey(&self, prm: p::RekeyParams) -> Result<p::RekeyResult, RpcError> {
        let _one = self.rekeying.lock().unwrap_or_else(|p| p.into_inner());
        let bad = |m: String| RpcError::new(code::INVALID_PARAMS, m);
        let name = sv_keyring::canonical_name(&prm.backend).ok_or_else(|| {
            bad(format!(
                "unknown backend `{}`; use tpm2, secret-service, keychain, dpapi or passphrase",
                prm.backend.chars().take(32).collect::<String>()
            ))
        })?;
        let target: Arc<dyn KeyBackend> = sv_keyring::backend_by_name(name)
            .map(Arc::from)
            .ok_or_else(|| {
                bad(format!(
                    "this build of session-vault has no {name} backend; nothing was changed"
                ))
            })?;
        let passphrase = prm
            .passphrase
            .as_ref()
            .filter(|_| target.needs_passphrase());
        if target.needs_passphrase() && passphrase.is_none_or(|p| p.is_empty()) {
            return Err(bad("rekeying to the passphrase backend needs a non-empty passphrase; nothing was changed".into()));
        }
        target.probe().map_err(|reason| {
            RpcError::new(
                code::INTERNAL,
                format!("the {name} backend is not available: {reason}; nothing was changed"),
            )
        })?;
        // Lock order everywhere: key, then store.
        let key_guard = self.key.read().unwrap_or_else(|p| p.into_inner());
        let vek = key_guard.as_ref().ok_or_else(|| {
            RpcError::new(
                locked_error().code,
                "the vault is locked; run `session-vault unlock`, then rekey",
            )
        })?;
        let (kcv, previous) = {
            let store = self.store();
            let kcv = store.key_check_value().map_err(store_err)?;
            (kcv, store.key_wrap(name).map_err(store_err)?)
        };
        let Some(kcv) = kcv else {
            return Err(RpcError::new(
                code::INVALID_PARAMS,
                "this vault has no key yet; nothing to rekey",
            ));
        };

        // 1 and 2: the new wrapping, beside the old ones.
        let blob = target.protect(vek, passphrase).map_err(keyring_err)?;
        if let Err(e) = self.store().put_key_wrap(name, &blob, now()) {
            let _ = target.forget(&blob);
            return Err(store_err(e));
        }
        // 3: verify what the store now holds.
        let verified = self
            .store()
            .key_wrap(name)
            .map_err(store_err)
            .and_then(|stored| {
                let stored = stored.ok_or_else(|| {
                    RpcError::new(code::STORAGE, "the new wrapping was not stored")
                })?;
                let back = target.recover(&stored, passphrase).map_err(keyring_err)?;
                if back.verify_check_value(&kcv) {
                    Ok(())
                } else {
                    Err(RpcError::new(
                        code::VAULT_DAMAGED,
                        "the new wrapping gives back a different key",
                    ))
                }
            });
        if let Err(e) = verified {
            warn!(
                backend = name,
                "rekey: the new wrapping failed verification; rolling it back"
            );
            let mut store = self.store();
            let _ = match &previous {
                Some(old) => store.put_key_wrap(name, old, now()),
                None => store.delete_key_wrap(name),
            };
            drop(store);
            let _ = target.forget(&blob);
            return Err(RpcError::new(
                e.code,
                format!(
                    "{}; the new {name} wrapping was removed again and nothing was changed",
                    e.message
                ),
            ));
        }
        info!(backend = name, "rekey: new wrapping stored and verified");
        #[cfg(feature = "test-hooks")]
        if std::env::var(CRASH_HOOK).is_ok_and(|v| v == "1") {
            warn!("{CRASH_HOOK}=1: aborting between adding the new wrapping and removing the old");
            std::process::abort();
        }

        // 4: drop the other wrappings, then what they left outside the vault.
        let mut removed = Vec::new();
        let others: Vec<String> = self
            .store()
            .wrapped_backends()
            .map_err(store_err)?
            .into_iter()
            .filter(|b| b != name)
            .collect();
        for old in others {
            let old_blob = {
                let mut store = self.store();
                let b = store.key_wrap(&old).map_err(store_err)?;
                store.delete_key_wrap(&old).map_err(store_err)?;
                b
            };
            if let (Some(old_blob), Some(backend)) = (old_blob, sv_keyring::backend_by_name(&old)) {
                if let Err(e) = backend.forget(&old_blob) {
                    warn!(backend = %old, error = %e, "rekey: could not remove the old key from its store; delete it by hand");
                }
            }
            removed.push(old);
        }
        if let Some(prev) = previous.filter(|p| *p != blob) {
            if let Err(e) = target.forget(&prev) {
                warn!(backend = name, error = %e, "rekey: could not remove the replaced key item; delete it by hand");
            }
        }
        *self.backend.write().unwrap_or_else(|p| p.into_inner()) = target;
        info!(backend = name, removed = ?removed, "rekey done; the daemon now uses this backend");
        Ok(p::RekeyResult {
            backend: name.to_owned(),
            removed,
        })
    }

    /// Why the backend in use could not give the key back now, if so.
    pub(super) fn backend_note(
        &self,
        backend: &dyn KeyBackend,
        blob: Option<&[u8]>,
        locked: bool,
    ) -> Option<String> {
        if locked {
            if backend.needs_passphrase() {
                return None;
            }
            return self
                .open_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
        }
        let blob = blob?;
        backend.health(blob).err().map(|reason| {
            format!(
                "{} cannot give the vault key back right now ({reason}); serving from memory: the vault stays open until the daemon stops, but will not reopen until this is fixed",
                backend.name()
            )
        })
    }
}
