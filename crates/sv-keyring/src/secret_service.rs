//! The Secret Service backend (status name `libsecret`): the desktop
//! keyring (gnome-keyring, KeePassXC, KWallet's bridge) *holds* the vault
//! key.
//!
//! It talks D-Bus through `keyring-core` and the pure-Rust
//! `zbus-secret-service-keyring-store` (no libdbus, no libsecret). Each
//! [`KeyBackend::protect`] stores the VEK as one item labelled
//! [`ITEM_LABEL`] with the attributes `service=session-vault`,
//! `username=<vault id>`, `application=session-vault`, `kind=vault-key`,
//! where the vault id is 128 fresh random bits: many vaults (test vaults,
//! several users of one keyring) never collide. The blob the store keeps is
//! only that reference (`SVSS` | version 1 | 32 hex digits); it holds no key
//! material.
//!
//! What this module does not do: unlock the keyring. A locked keyring or a
//! dismissed prompt is reported with how to unlock it, and every D-Bus call
//! runs under a deadline so that a prompt nobody can answer (no display)
//! never hangs the daemon.

use crate::{KeyBackend, KeyringError};
use keyring_core::api::CredentialStore;
use keyring_core::{Entry, Error as KError};
use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
use sv_core::seal::KEY_LEN;
use sv_core::{SecretString, VaultKey};
use zeroize::Zeroizing;

/// The label users see in Seahorse / KeePassXC.
pub const ITEM_LABEL: &str = "session-vault vault key";
/// The `service` attribute of every item this backend writes.
pub const SERVICE: &str = "session-vault";
/// The `username` of the item the probe reads (it never exists).
const PROBE_USER: &str = "probe";

const NAME: &str = "libsecret";
const MAGIC: &[u8; 4] = b"SVSS";
const VERSION: u8 = 1;
const ID_HEX_LEN: usize = 32;

/// How long one Secret Service operation may take before we give up
/// (an unanswerable unlock prompt would otherwise block forever).
const OP_TIMEOUT: Duration = Duration::from_secs(20);
/// The probe at daemon start and `status` health checks: shorter.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

const UNLOCK_HINT: &str = "unlock your login keyring (log in to the desktop session, open \
Seahorse / \"Passwords and Keys\", or run `gnome-keyring-daemon --unlock` with the keyring \
password on stdin), then run `session-vault unlock`";

/// The Secret Service backend. Stateless: each operation opens its own
/// D-Bus connection, so a keyring daemon that restarts is picked up again.
#[derive(Debug, Default, Clone)]
pub struct SecretServiceBackend;

/// Runs `f` on its own thread and waits at most `limit` for it.
fn with_deadline<T: Send + 'static>(
    limit: Duration,
    what: &'static str,
    f: impl FnOnce() -> Result<T, KeyringError> + Send + 'static,
) -> Result<T, KeyringError> {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("secret-service".into())
        .spawn(move || {
            let _ = tx.send(f());
        });
    if let Err(e) = spawned {
        return Err(KeyringError::Unavailable {
            backend: NAME,
            reason: format!("cannot start a thread: {e}"),
        });
    }
    match rx.recv_timeout(limit) {
        Ok(r) => r,
        Err(_) => Err(KeyringError::Locked {
            backend: NAME,
            detail: format!(
                "the Secret Service did not answer within {} s while {what} (an unlock prompt may be waiting where nobody can see it); {UNLOCK_HINT}",
                limit.as_secs()
            ),
        }),
    }
}

fn connect() -> Result<Arc<CredentialStore>, KeyringError> {
    let store: Arc<CredentialStore> =
        zbus_secret_service_keyring_store::Store::new().map_err(|e| KeyringError::Unavailable {
            backend: NAME,
            reason: format!(
                "no Secret Service on the D-Bus session bus ({}); start gnome-keyring or KeePassXC, or check DBUS_SESSION_BUS_ADDRESS",
                one_line(&e)
            ),
        })?;
    Ok(store)
}

fn entry(store: &Arc<CredentialStore>, user: &str) -> Result<Entry, KeyringError> {
    let mods = HashMap::from([("label", ITEM_LABEL)]);
    Entry::new_in_store_with_modifiers(store, SERVICE, user, &mods).map_err(|e| {
        KeyringError::Unavailable {
            backend: NAME,
            reason: one_line(&e),
        }
    })
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().replace('\n', " ")
}

/// Maps a keyring-core error; `NoEntry` is handled by the callers.
fn map_err(e: KError) -> KeyringError {
    match e {
        KError::NoStorageAccess(inner) => KeyringError::Locked {
            backend: NAME,
            detail: format!(
                "the keyring is locked or the unlock prompt was dismissed ({}); {UNLOCK_HINT}",
                one_line(&inner)
            ),
        },
        KError::Ambiguous(v) => KeyringError::Damaged {
            backend: NAME,
            detail: format!(
                "{} keyring items carry this vault's id; delete the extra `{ITEM_LABEL}` items in Seahorse",
                v.len()
            ),
        },
        other => KeyringError::Unavailable {
            backend: NAME,
            reason: format!("the Secret Service failed: {}", one_line(&other)),
        },
    }
}

fn parse_blob(blob: &[u8]) -> Result<String, KeyringError> {
    let damaged = |d: &str| KeyringError::Damaged {
        backend: NAME,
        detail: d.to_owned(),
    };
    if blob.len() != 5 + ID_HEX_LEN || &blob[..4] != MAGIC {
        return Err(damaged("not a Secret Service reference"));
    }
    if blob[4] != VERSION {
        return Err(damaged("unknown reference version; upgrade session-vault"));
    }
    let id = &blob[5..];
    if !id.iter().all(|b| b.is_ascii_hexdigit()) {
        return Err(damaged("the vault id is not hexadecimal"));
    }
    Ok(String::from_utf8_lossy(id).into_owned())
}

fn new_vault_id() -> Result<String, KeyringError> {
    let mut raw = [0u8; ID_HEX_LEN / 2];
    crate::random_bytes(&mut raw)?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

fn read_item(id: &str) -> Result<VaultKey, KeyringError> {
    let store = connect()?;
    let secret = Zeroizing::new(match entry(&store, id)?.get_secret() {
        Ok(s) => s,
        Err(KError::NoEntry) => {
            return Err(KeyringError::KeyMissing {
                backend: NAME,
                detail: format!(
                    "the keyring has no `{ITEM_LABEL}` item with username {id} (deleted, or another keyring is the default now)"
                ),
            })
        }
        Err(e) => return Err(map_err(e)),
    });
    let mut bytes: [u8; KEY_LEN] = secret.as_slice().try_into().map_err(|_| KeyringError::Damaged {
        backend: NAME,
        detail: format!("the keyring item {id} does not hold a 32-byte key"),
    })?;
    Ok(VaultKey::from_bytes(&mut bytes))
}

impl SecretServiceBackend {
    /// Reads the item a blob refers to, without keeping the key: used by
    /// the daemon's `status` to tell whether the keyring is still there.
    pub fn check(&self, blob: &[u8]) -> Result<(), KeyringError> {
        let id = parse_blob(blob)?;
        with_deadline(PROBE_TIMEOUT, "checking the key item", move || {
            read_item(&id).map(drop)
        })
    }
}

impl KeyBackend for SecretServiceBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn needs_passphrase(&self) -> bool {
        false
    }

    /// A read of an item that never exists: `NoEntry` means the service
    /// answered; anything else is the reason it is unusable.
    fn probe(&self) -> Result<(), String> {
        with_deadline(PROBE_TIMEOUT, "probing", || {
            let store = connect()?;
            match entry(&store, PROBE_USER)?.get_secret() {
                Ok(_) | Err(KError::NoEntry) => Ok(()),
                Err(e) => Err(map_err(e)),
            }
        })
        .map_err(|e| match e {
            KeyringError::Unavailable { reason, .. } => reason,
            other => other.to_string(),
        })
    }

    fn protect(&self, vek: &VaultKey, _passphrase: Option<&SecretString>) -> Result<Vec<u8>, KeyringError> {
        let id = new_vault_id()?;
        let secret = Zeroizing::new(vek.expose_bytes().to_vec());
        let item_id = id.clone();
        with_deadline(OP_TIMEOUT, "storing the vault key", move || {
            let store = connect()?;
            let e = entry(&store, &item_id)?;
            e.set_secret(&secret).map_err(map_err)?;
            let extra = HashMap::from([("application", SERVICE), ("kind", "vault-key")]);
            e.update_attributes(&extra).map_err(map_err)?;
            Ok(())
        })?;
        let mut blob = Vec::with_capacity(5 + ID_HEX_LEN);
        blob.extend_from_slice(MAGIC);
        blob.push(VERSION);
        blob.extend_from_slice(id.as_bytes());
        Ok(blob)
    }

    fn recover(&self, blob: &[u8], _passphrase: Option<&SecretString>) -> Result<VaultKey, KeyringError> {
        let id = parse_blob(blob)?;
        with_deadline(OP_TIMEOUT, "reading the vault key", move || read_item(&id))
    }

    fn forget(&self, blob: &[u8]) -> Result<(), KeyringError> {
        let id = parse_blob(blob)?;
        with_deadline(OP_TIMEOUT, "deleting the old key item", move || {
            let store = connect()?;
            match entry(&store, &id)?.delete_credential() {
                Ok(()) | Err(KError::NoEntry) => Ok(()),
                Err(e) => Err(map_err(e)),
            }
        })
    }

    fn health(&self, blob: &[u8]) -> Result<(), String> {
        self.check(blob).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_blobs_round_trip_and_hold_no_key() {
        let id = new_vault_id().unwrap();
        assert_eq!(id.len(), ID_HEX_LEN);
        let mut blob = MAGIC.to_vec();
        blob.push(VERSION);
        blob.extend_from_slice(id.as_bytes());
        assert_eq!(parse_blob(&blob).unwrap(), id);
        assert_ne!(new_vault_id().unwrap(), id);
        let mut bad = blob.clone();
        bad[6] = b'z';
        assert!(matches!(parse_blob(&bad), Err(KeyringError::Damaged { .. })));
        assert!(matches!(parse_blob(&blob[..10]), Err(KeyringError::Damaged { .. })));
        let mut v2 = blob.clone();
        v2[4] = 2;
        assert!(matches!(parse_blob(&v2), Err(KeyringError::Damaged { .. })));
    }

    #[test]
    fn a_hung_service_is_cut_off() {
        let r: Result<(), _> = with_deadline(Duration::from_millis(50), "testing", || {
            std::thread::sleep(Duration::from_secs(2));
            Ok(())
        });
        let msg = r.unwrap_err().to_string();
        assert!(msg.contains("did not answer"), "{msg}");
        assert!(msg.contains("session-vault unlock"), "{msg}");
    }
}
