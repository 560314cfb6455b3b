//! Vault key backends (SPEC §6) behind one trait, [`KeyBackend`].
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
//! This build ships the passphrase backend; the others plug in beside it.

mod passphrase;

pub use passphrase::{PassphraseBackend, ARGON2_M_KIB, ARGON2_P, ARGON2_T};
use sv_core::seal::KEY_LEN;
use sv_core::{SecretString, VaultKey};

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
    Damaged { backend: &'static str, detail: String },
    #[error("the {backend} backend is not available here: {reason}")]
    Unavailable { backend: &'static str, reason: String },
    #[error("no random numbers from the operating system: {0}")]
    Random(String),
}

/// The status names of SPEC §3.
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
        _ => None,
    }
}

/// Backends in `auto` order with each one's availability: tpm2 →
/// libsecret → passphrase. Those this build lacks are reported as such.
pub fn probe_all() -> Vec<(&'static str, Result<(), String>)> {
    let mut out: Vec<(&'static str, Result<(), String>)> = vec![
        ("tpm2", Err("not built into this release (cargo feature `tpm2`)".into())),
        ("libsecret", Err("not built into this release".into())),
    ];
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
