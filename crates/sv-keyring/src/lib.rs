//! Vault key backends (docs/design.md §6) behind one trait, [`KeyBackend`].
//!
//! A backend protects the vault encryption key (VEK) and gives it back. Two
//! families fit the same trait:
//! - backends that *wrap* the key (passphrase, TPM2): [`KeyBackend::protect`]
//!   returns a wrapped blob that the store keeps, and
//!   [`KeyBackend::recover`] unwraps it;
//! - backends that *hold* the key (Secret Service, Keychain, DPAPI): `protect`
//!   puts the key in the OS store and returns a small reference record, and
//!   `recover` fetches the key by that reference.
//!
//! The store keeps one blob per backend, so `rekey` adds a second wrapping,
//! verifies it, then removes the first, all without touching a record.
//!
//! Backends here: passphrase (always), Secret Service (`libsecret`, pure
//! Rust over D-Bus, Linux and the BSDs) and TPM2 (cargo feature `tpm2`, links
//! libtss2).

mod held;
mod passphrase;
#[cfg(feature = "tpm2")]
mod tpm2;

pub use held::{HeldKeyBackend, ITEM_LABEL, SERVICE as HELD_ITEM_SERVICE};
pub use passphrase::{PassphraseBackend, ARGON2_M_KIB, ARGON2_P, ARGON2_T};
use sv_core::seal::KEY_LEN;
use sv_core::{SecretString, VaultKey};
#[cfg(feature = "tpm2")]
pub use tpm2::Tpm2Backend;

/// Why a backend could not protect or recover the key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyringError {
    #[error("wrong passphrase; try again (nothing was changed)")]
    WrongPassphrase,
    #[error("this backend needs a passphrase; run `session-vault unlock`")]
    PassphraseRequired,
    #[error("the passphrase is empty; choose a non-empty passphrase")]
    EmptyPassphrase,
    #[error("the stored key wrapping for {backend} is damaged ({detail}); restore vault.db from a backup or rekey from another backend")]
    Damaged {
        backend: &'static str,
        detail: String,
    },
    #[error("the {backend} backend is not available here: {reason}")]
    Unavailable {
        backend: &'static str,
        reason: String,
    },
    #[error("the {backend} key store is locked: {detail}")]
    Locked {
        backend: &'static str,
        detail: String,
    },
    #[error("the vault key held by {backend} is missing: {detail}. The vault cannot be opened without it and no new key was created over it; if `session-vault daemon status --verbose` lists another wrapping, restart the daemon with that `--backend`, otherwise restore the keyring (or vault.db) from a backup")]
    KeyMissing {
        backend: &'static str,
        detail: String,
    },
    #[error("no random numbers from the operating system: {0}")]
    Random(String),
}

/// The status names of docs/design.md §3.
pub const BACKEND_NAMES: &[&str] = &["tpm2", "libsecret", "keychain", "dpapi", "passphrase"];

/// One way to protect the vault key.
pub trait KeyBackend: Send + Sync {
    /// Status name (`tpm2`, `libsecret`, `keychain`, `dpapi`, `passphrase`).
    fn name(&self) -> &'static str;

    /// True when opening the vault needs the user's passphrase, so the
    /// daemon starts locked.
    fn needs_passphrase(&self) -> bool;

    /// Whether the backend can be used on this machine now; the reason when
    /// not (kept for `daemon status --verbose` and `doctor`).
    fn probe(&self) -> Result<(), String>;

    /// Protects `vek`; returns the blob the store keeps for this backend.
    fn protect(
        &self,
        vek: &VaultKey,
        passphrase: Option<&SecretString>,
    ) -> Result<Vec<u8>, KeyringError>;

    /// Recovers the VEK from the blob [`KeyBackend::protect`] returned.
    fn recover(
        &self,
        blob: &[u8],
        passphrase: Option<&SecretString>,
    ) -> Result<VaultKey, KeyringError>;

    /// Removes anything `protect` created outside the vault (called once a
    /// rekey away from this backend has been verified).
    fn forget(&self, _blob: &[u8]) -> Result<(), KeyringError> {
        Ok(())
    }

    /// Whether the key behind `blob` could still be recovered now, without
    /// recovering it where that is costly: lets `status` tell a user that
    /// the daemon serves from memory because the store has gone away.
    fn health(&self, _blob: &[u8]) -> Result<(), String> {
        Ok(())
    }
}

/// Fills `buf` from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), KeyringError> {
    getrandom::getrandom(buf).map_err(|e| KeyringError::Random(e.to_string()))
}

/// A new random vault key.
pub fn generate_vault_key() -> Result<VaultKey, KeyringError> {
    let mut bytes = [0u8; KEY_LEN];
    random_bytes(&mut bytes)?;
    Ok(VaultKey::from_bytes(&mut bytes))
}

/// The backend called `name` (status name, or `secret-service` for
/// `libsecret`), if this build has it.
pub fn backend_by_name(name: &str) -> Option<Box<dyn KeyBackend>> {
    match name {
        "passphrase" => Some(Box::new(PassphraseBackend::default())),
        #[cfg(all(unix, not(target_os = "macos")))]
        "libsecret" | "secret-service" => Some(Box::new(held::secret_service())),
        #[cfg(target_os = "macos")]
        "keychain" => Some(Box::new(held::keychain())),
        #[cfg(windows)]
        "dpapi" => Some(Box::new(held::credential_manager())),
        #[cfg(feature = "tpm2")]
        "tpm2" => Some(Box::new(Tpm2Backend)),
        _ => None,
    }
}

/// The status name for a user-facing backend name (`secret-service` is
/// `libsecret`); `None` for a name no build knows.
pub fn canonical_name(name: &str) -> Option<&'static str> {
    match name {
        "secret-service" | "libsecret" => Some("libsecret"),
        other => BACKEND_NAMES.iter().copied().find(|n| *n == other),
    }
}

/// Backends in `auto` order with each one's availability: tpm2 →
/// libsecret (Keychain on macOS, DPAPI on Windows) → passphrase. Those this build lacks are reported as such.
pub fn probe_all() -> Vec<(&'static str, Result<(), String>)> {
    #[cfg(feature = "tpm2")]
    let tpm2 = Tpm2Backend.probe();
    #[cfg(not(feature = "tpm2"))]
    let tpm2 = Err("not built into this release (build with cargo feature `tpm2`)".into());
    let mut out: Vec<(&'static str, Result<(), String>)> = vec![("tpm2", tpm2)];
    #[cfg(all(unix, not(target_os = "macos")))]
    out.push(("libsecret", held::secret_service().probe()));
    #[cfg(target_os = "macos")]
    out.push(("keychain", held::keychain().probe()));
    #[cfg(windows)]
    out.push(("dpapi", held::credential_manager().probe()));
    out.push(("passphrase", PassphraseBackend::default().probe()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_order_ends_with_passphrase() {
        let all = probe_all();
        assert_eq!(all.last().unwrap().0, "passphrase");
        assert!(all.last().unwrap().1.is_ok());
        assert!(backend_by_name("passphrase").unwrap().needs_passphrase());
        assert!(backend_by_name("nope").is_none());
    }

    #[test]
    fn vault_keys_are_random() {
        let a = generate_vault_key().unwrap();
        let b = generate_vault_key().unwrap();
        assert_ne!(a.expose_bytes(), b.expose_bytes());
    }
}
