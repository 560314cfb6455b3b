//! Backends where the operating system's credential store *holds* the
//! vault key, all through `keyring-core` 1.x and its maintained stores:
//!
//! - `libsecret` (Linux, the BSDs): the D-Bus Secret Service (gnome-keyring,
//!   KeePassXC, KWallet's bridge) through the pure-Rust
//!   `zbus-secret-service-keyring-store` (no libdbus, no libsecret);
//! - `keychain` (macOS): the login keychain through
//!   `apple-native-keyring-store` (feature `keychain`);
//! - `dpapi` (Windows): the Credential Manager, whose generic credentials
//!   DPAPI encrypts under the user's logon secret, through
//!   `windows-native-keyring-store`.
//!
//! Only the Linux one is compiled and tested here; the other two are the
//! same code with another store constructor, kept that thin on purpose.
//!
//! Each [`KeyBackend::protect`] stores the VEK as one item labelled
//! [`ITEM_LABEL`] with the attributes `service=session-vault`,
//! `username=<vault id>`, `application=session-vault`, `kind=vault-key`,
//! where the vault id is 128 fresh random bits: many vaults (test vaults,
//! several users of one keyring) never collide. The blob the store keeps is
//! only that reference (`SVSS` | version 1 | 32 hex digits); it holds no key
//! material. (On Windows the store names the credential
//! `<vault id>.session-vault`; the label is its comment.)
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

const MAGIC: &[u8; 4] = b"SVSS";
const VERSION: u8 = 1;
const ID_HEX_LEN: usize = 32;

/// How long one Secret Service operation may take before we give up
/// (an unanswerable unlock prompt would otherwise block forever).
const OP_TIMEOUT: Duration = Duration::from_secs(20);
/// The probe at daemon start and `status` health checks: shorter.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// A credential store that holds the key. Stateless: each operation opens
/// its own connection (for the Secret Service, a D-Bus connection), so a
/// keyring daemon that restarts is picked up again.
#[derive(Clone, Copy)]
pub struct HeldKeyBackend {
    name: &'static str,
    connect: fn() -> keyring_core::Result<Arc<CredentialStore>>,
    /// What to do when the store is missing.
    missing_hint: &'static str,
    /// How to unlock the store.
    unlock_hint: &'static str,
}

impl std::fmt::Debug for HeldKeyBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldKeyBackend")
            .field("name", &self.name)
            .finish()
    }
}

/// The D-Bus Secret Service (status name `libsecret`).
#[cfg(all(unix, not(target_os = "macos")))]
pub fn secret_service() -> HeldKeyBackend {
    fn connect() -> keyring_core::Result<Arc<CredentialStore>> {
        let s: Arc<CredentialStore> = zbus_secret_service_keyring_store::Store::new()?;
        Ok(s)
    }
    HeldKeyBackend {
        name: "libsecret",
        connect,
        missing_hint: "no Secret Service on the D-Bus session bus; start gnome-keyring or KeePassXC (with its Secret Service integration on), or check DBUS_SESSION_BUS_ADDRESS",
        unlock_hint: "unlock your login keyring (log in to the desktop session, open Seahorse / \"Passwords and Keys\", or run `gnome-keyring-daemon --replace --unlock` with the keyring password on stdin), then run `session-vault unlock`",
    }
}

/// The macOS login keychain (status name `keychain`). Not compiled on Linux.
#[cfg(target_os = "macos")]
pub fn keychain() -> HeldKeyBackend {
    fn connect() -> keyring_core::Result<Arc<CredentialStore>> {
        let s: Arc<CredentialStore> = apple_native_keyring_store::keychain::Store::new()?;
        Ok(s)
    }
    HeldKeyBackend {
        name: "keychain",
        connect,
        missing_hint: "the login keychain cannot be opened",
        unlock_hint: "unlock the login keychain (Keychain Access, or `security unlock-keychain`), then run `session-vault unlock`",
    }
}

/// The Windows Credential Manager, DPAPI-encrypted (status name `dpapi`).
/// Not compiled on Linux.
#[cfg(windows)]
pub fn credential_manager() -> HeldKeyBackend {
    fn connect() -> keyring_core::Result<Arc<CredentialStore>> {
        let s: Arc<CredentialStore> = windows_native_keyring_store::Store::new()?;
        Ok(s)
    }
    HeldKeyBackend {
        name: "dpapi",
        connect,
        missing_hint: "the Windows Credential Manager cannot be reached",
        unlock_hint: "log in to Windows interactively (the Credential Manager opens with your logon), then run `session-vault unlock`",
    }
}

/// Runs `f` on its own thread and waits at most `limit` for it.
fn with_deadline<T: Send + 'static>(
    b: HeldKeyBackend,
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
            backend: b.name,
            reason: format!("cannot start a thread: {e}"),
        });
    }
    match rx.recv_timeout(limit) {
        Ok(r) => r,
        Err(_) => Err(KeyringError::Locked {
            backend: b.name,
            detail: format!(
                "the key store did not answer within {} s while {what} (an unlock prompt may be waiting where nobody can see it); {}",
                limit.as_secs(),
                b.unlock_hint
            ),
        }),
    }
}

impl HeldKeyBackend {
    fn connect(&self) -> Result<Arc<CredentialStore>, KeyringError> {
        (self.connect)().map_err(|e| KeyringError::Unavailable {
            backend: self.name,
            reason: format!("{} ({})", self.missing_hint, one_line(&e)),
        })
    }

    fn entry(&self, store: &Arc<CredentialStore>, user: &str) -> Result<Entry, KeyringError> {
        let mods = HashMap::from([("label", ITEM_LABEL)]);
        // Stores that take no label (Windows) get a plain entry.
        Entry::new_in_store_with_modifiers(store, SERVICE, user, &mods)
            .or_else(|_| Entry::new_in_store(store, SERVICE, user))
            .map_err(|e| KeyringError::Unavailable {
                backend: self.name,
                reason: one_line(&e),
            })
    }

    /// Maps a keyring-core error; `NoEntry` is handled by the callers.
    fn map_err(&self, e: KError) -> KeyringError {
        match e {
            KError::NoStorageAccess(inner) => KeyringError::Locked {
                backend: self.name,
                detail: format!(
                    "the keyring is locked or the unlock prompt was dismissed ({}); {}",
                    one_line(&inner),
                    self.unlock_hint
                ),
            },
            KError::Ambiguous(v) => KeyringError::Damaged {
                backend: self.name,
                detail: format!(
                    "{} keyring items carry this vault's id; delete the extra `{ITEM_LABEL}` items",
                    v.len()
                ),
            },
            other => KeyringError::Unavailable {
                backend: self.name,
                reason: format!("the key store failed: {}", one_line(&other)),
            },
        }
    }

    fn parse_blob(&self, blob: &[u8]) -> Result<String, KeyringError> {
        parse_blob(blob).map_err(|detail| KeyringError::Damaged {
            backend: self.name,
            detail: detail.to_owned(),
        })
    }

    fn read_item(&self, id: &str) -> Result<VaultKey, KeyringError> {
        let store = self.connect()?;
        let secret = Zeroizing::new(match self.entry(&store, id)?.get_secret() {
            Ok(s) => s,
            Err(KError::NoEntry) => {
                return Err(KeyringError::KeyMissing {
                    backend: self.name,
                    detail: format!(
                        "the key store has no `{ITEM_LABEL}` item with username {id} (deleted, or another keyring is the default now)"
                    ),
                })
            }
            Err(e) => return Err(self.map_err(e)),
        });
        let mut bytes: [u8; KEY_LEN] =
            secret
                .as_slice()
                .try_into()
                .map_err(|_| KeyringError::Damaged {
                    backend: self.name,
                    detail: format!("the key item {id} does not hold a 32-byte key"),
                })?;
        Ok(VaultKey::from_bytes(&mut bytes))
    }

    /// Reads the item a blob refers to, without keeping the key: used by
    /// the daemon's `status` to tell whether the store is still there.
    pub fn check(&self, blob: &[u8]) -> Result<(), KeyringError> {
        let id = self.parse_blob(blob)?;
        let b = *self;
        with_deadline(b, PROBE_TIMEOUT, "checking the key item", move || {
            b.read_item(&id).map(drop)
        })
    }
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().replace('\n', " ")
}

fn parse_blob(blob: &[u8]) -> Result<String, &'static str> {
    if blob.len() != 5 + ID_HEX_LEN || &blob[..4] != MAGIC {
        return Err("not a key store reference");
    }
    if blob[4] != VERSION {
        return Err("unknown reference version; upgrade session-vault");
    }
    let id = &blob[5..];
    if !id.iter().all(|b| b.is_ascii_hexdigit()) {
        return Err("the vault id is not hexadecimal");
    }
    Ok(String::from_utf8_lossy(id).into_owned())
}

fn new_vault_id() -> Result<String, KeyringError> {
    let mut raw = [0u8; ID_HEX_LEN / 2];
    crate::random_bytes(&mut raw)?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

impl KeyBackend for HeldKeyBackend {
    fn name(&self) -> &'static str {
        self.name
    }

    fn needs_passphrase(&self) -> bool {
        false
    }

    /// A read of an item that never exists: `NoEntry` means the service
    /// answered; anything else is the reason it is unusable.
    fn probe(&self) -> Result<(), String> {
        let b = *self;
        with_deadline(b, PROBE_TIMEOUT, "probing", move || {
            let store = b.connect()?;
            match b.entry(&store, PROBE_USER)?.get_secret() {
                Ok(_) | Err(KError::NoEntry) => Ok(()),
                Err(e) => Err(b.map_err(e)),
            }
        })
        .map_err(|e| match e {
            KeyringError::Unavailable { reason, .. } => reason,
            other => other.to_string(),
        })
    }

    fn protect(
        &self,
        vek: &VaultKey,
        _passphrase: Option<&SecretString>,
    ) -> Result<Vec<u8>, KeyringError> {
        let id = new_vault_id()?;
        let secret = Zeroizing::new(vek.expose_bytes().to_vec());
        let item_id = id.clone();
        let b = *self;
        with_deadline(b, OP_TIMEOUT, "storing the vault key", move || {
            let store = b.connect()?;
            let e = b.entry(&store, &item_id)?;
            e.set_secret(&secret).map_err(|e| b.map_err(e))?;
            let extra = HashMap::from([("application", SERVICE), ("kind", "vault-key")]);
            match e.update_attributes(&extra) {
                // Stores without attributes (Keychain, Windows) say so.
                Ok(()) | Err(KError::NotSupportedByStore(_)) => Ok(()),
                Err(err) => Err(b.map_err(err)),
            }
        })?;
        let mut blob = Vec::with_capacity(5 + ID_HEX_LEN);
        blob.extend_from_slice(MAGIC);
        blob.push(VERSION);
        blob.extend_from_slice(id.as_bytes());
        Ok(blob)
    }

    fn recover(
        &self,
        blob: &[u8],
        _passphrase: Option<&SecretString>,
    ) -> Result<VaultKey, KeyringError> {
        let id = self.parse_blob(blob)?;
        let b = *self;
        with_deadline(b, OP_TIMEOUT, "reading the vault key", move || {
            b.read_item(&id)
        })
    }

    fn forget(&self, blob: &[u8]) -> Result<(), KeyringError> {
        let id = self.parse_blob(blob)?;
        let b = *self;
        with_deadline(b, OP_TIMEOUT, "deleting the old key item", move || {
            let store = b.connect()?;
            match b.entry(&store, &id)?.delete_credential() {
                Ok(()) | Err(KError::NoEntry) => Ok(()),
                Err(e) => Err(b.map_err(e)),
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
        assert!(parse_blob(&bad).is_err());
        assert!(parse_blob(&blob[..10]).is_err());
        let mut v2 = blob.clone();
        v2[4] = 2;
        assert!(parse_blob(&v2).is_err());
    }

    #[test]
    #[cfg(all(unix, not(target_os = "macos")))]
    fn a_hung_service_is_cut_off() {
        let r: Result<(), _> = with_deadline(
            secret_service(),
            Duration::from_millis(50),
            "testing",
            || {
                std::thread::sleep(Duration::from_secs(2));
                Ok(())
            },
        );
        let msg = r.unwrap_err().to_string();
        assert!(msg.contains("did not answer"), "{msg}");
        assert!(msg.contains("session-vault unlock"), "{msg}");
    }
}
