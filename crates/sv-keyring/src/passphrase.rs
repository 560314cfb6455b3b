//! The passphrase backend: an Argon2id-derived key wraps the VEK.
//!
//! Parameters: 64 MiB of memory, 3 passes, 1 lane (RFC 9106's second
//! recommended setting, with one lane because this build computes lanes one
//! after the other). About 0.2–0.4 s per unlock on a laptop core: slow enough
//! that a stolen vault.db costs an attacker 64 MiB and that time per guess,
//! quick enough for an interactive unlock. The parameters travel in the blob,
//! so a later release can raise them without breaking old vaults.
//!
//! Blob: `SVPW` | version 1 | m_kib u32 | t u32 | p u32 | salt 16 |
//! check 16 | nonce 24 | wrapped VEK 48. The check value (an HMAC of the
//! derived key) tells a wrong passphrase apart from a damaged blob.

use crate::{random_bytes, KeyBackend, KeyringError};
use argon2::{Algorithm, Argon2, Params, Version};
use sv_core::seal::{unwrap_key, wrap_key, KEY_LEN, NONCE_LEN};
use sv_core::{SecretString, VaultKey};
use zeroize::Zeroizing;

pub const ARGON2_M_KIB: u32 = 64 * 1024;
pub const ARGON2_T: u32 = 3;
pub const ARGON2_P: u32 = 1;

const MAGIC: &[u8; 4] = b"SVPW";
const VERSION: u8 = 1;
const SALT_LEN: usize = 16;
const CHECK_LEN: usize = 16;
const HEADER_LEN: usize = 4 + 1 + 12 + SALT_LEN + CHECK_LEN + NONCE_LEN;

/// Argon2id over a passphrase, wrapping with XChaCha20-Poly1305.
#[derive(Debug, Clone)]
pub struct PassphraseBackend {
    m_kib: u32,
    t: u32,
    p: u32,
}

impl Default for PassphraseBackend {
    fn default() -> Self {
        PassphraseBackend {
            m_kib: ARGON2_M_KIB,
            t: ARGON2_T,
            p: ARGON2_P,
        }
    }
}

/// The passphrase check value: an HMAC-based tag under a key derived from
/// the KEK (never the KEK itself), so a wrong passphrase is recognised
/// before the wrapped key is touched.
fn check_tag(kek: &[u8; KEY_LEN]) -> [u8; CHECK_LEN] {
    let mut bytes = *kek;
    let tag = VaultKey::from_bytes(&mut bytes).check_value();
    let mut out = [0u8; CHECK_LEN];
    out.copy_from_slice(&tag[..CHECK_LEN]);
    out
}

fn derive_kek(
    pass: &SecretString,
    salt: &[u8],
    m: u32,
    t: u32,
    p: u32,
) -> Result<Zeroizing<[u8; KEY_LEN]>, KeyringError> {
    let params = Params::new(m, t, p, Some(KEY_LEN)).map_err(|e| KeyringError::Damaged {
        backend: "passphrase",
        detail: format!("bad Argon2 parameters: {e}"),
    })?;
    let mut kek = Zeroizing::new([0u8; KEY_LEN]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(pass.expose().as_bytes(), salt, kek.as_mut())
        .map_err(|e| KeyringError::Damaged {
            backend: "passphrase",
            detail: format!("Argon2 failed: {e}"),
        })?;
    Ok(kek)
}

fn aad(m: u32, t: u32, p: u32, salt: &[u8]) -> Vec<u8> {
    let mut v = b"session-vault passphrase wrap v1".to_vec();
    for n in [m, t, p] {
        v.extend_from_slice(&n.to_be_bytes());
    }
    v.extend_from_slice(salt);
    v
}

impl KeyBackend for PassphraseBackend {
    fn name(&self) -> &'static str {
        "passphrase"
    }

    fn needs_passphrase(&self) -> bool {
        true
    }

    fn probe(&self) -> Result<(), String> {
        Ok(())
    }

    fn protect(
        &self,
        vek: &VaultKey,
        passphrase: Option<&SecretString>,
    ) -> Result<Vec<u8>, KeyringError> {
        let pass = passphrase.ok_or(KeyringError::PassphraseRequired)?;
        if pass.is_empty() {
            return Err(KeyringError::EmptyPassphrase);
        }
        let mut salt = [0u8; SALT_LEN];
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut salt)?;
        random_bytes(&mut nonce)?;
        let kek = derive_kek(pass, &salt, self.m_kib, self.t, self.p)?;
        let wrapped = wrap_key(&kek, vek, &aad(self.m_kib, self.t, self.p, &salt), nonce);
        let mut blob = Vec::with_capacity(HEADER_LEN + wrapped.len());
        blob.extend_from_slice(MAGIC);
        blob.push(VERSION);
        for n in [self.m_kib, self.t, self.p] {
            blob.extend_from_slice(&n.to_be_bytes());
        }
        blob.extend_from_slice(&salt);
        blob.extend_from_slice(&check_tag(&kek));
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&wrapped);
        Ok(blob)
    }

    fn recover(
        &self,
        blob: &[u8],
        passphrase: Option<&SecretString>,
    ) -> Result<VaultKey, KeyringError> {
        let pass = passphrase.ok_or(KeyringError::PassphraseRequired)?;
        let damaged = |detail: &str| KeyringError::Damaged {
            backend: "passphrase",
            detail: detail.to_owned(),
        };
        if blob.len() < HEADER_LEN || &blob[..4] != MAGIC {
            return Err(damaged("not a passphrase wrapping"));
        }
        if blob[4] != VERSION {
            return Err(damaged("unknown wrapping version; upgrade session-vault"));
        }
        let u32_at = |i: usize| u32::from_be_bytes(blob[i..i + 4].try_into().expect("4 bytes"));
        let (m, t, p) = (u32_at(5), u32_at(9), u32_at(13));
        // Refuse absurd costs a damaged or hostile blob could ask for.
        if !(8..=4 * 1024 * 1024).contains(&m) || !(1..=64).contains(&t) || !(1..=16).contains(&p) {
            return Err(damaged("implausible Argon2 parameters"));
        }
        let mut at = 17;
        let salt = &blob[at..at + SALT_LEN];
        at += SALT_LEN;
        let check = &blob[at..at + CHECK_LEN];
        at += CHECK_LEN;
        let nonce = &blob[at..at + NONCE_LEN];
        at += NONCE_LEN;
        let wrapped = &blob[at..];
        let kek = derive_kek(pass, salt, m, t, p)?;
        let expected = check_tag(&kek);
        let same = expected
            .iter()
            .zip(check)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        if !same {
            return Err(KeyringError::WrongPassphrase);
        }
        unwrap_key(&kek, wrapped, &aad(m, t, p, salt), nonce)
            .ok_or_else(|| damaged("the wrapped key fails its integrity check"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate_vault_key;

    fn fast() -> PassphraseBackend {
        PassphraseBackend {
            m_kib: 64,
            t: 1,
            p: 1,
        }
    }

    #[test]
    fn round_trip_and_wrong_passphrase() {
        let b = fast();
        let vek = generate_vault_key().unwrap();
        let blob = b.protect(&vek, Some(&"correct horse".into())).unwrap();
        let back = b.recover(&blob, Some(&"correct horse".into())).unwrap();
        assert_eq!(back.expose_bytes(), vek.expose_bytes());
        assert_eq!(
            b.recover(&blob, Some(&"wrong".into())).unwrap_err(),
            KeyringError::WrongPassphrase
        );
        assert_eq!(
            b.recover(&blob, None).unwrap_err(),
            KeyringError::PassphraseRequired
        );
    }

    #[test]
    fn damage_is_not_a_wrong_passphrase() {
        let b = fast();
        let vek = generate_vault_key().unwrap();
        let blob = b.protect(&vek, Some(&"pw".into())).unwrap();
        let mut d = blob.clone();
        *d.last_mut().unwrap() ^= 1;
        assert!(matches!(
            b.recover(&d, Some(&"pw".into())),
            Err(KeyringError::Damaged { .. })
        ));
        assert!(matches!(
            b.recover(&blob[..10], Some(&"pw".into())),
            Err(KeyringError::Damaged { .. })
        ));
        let mut huge = blob.clone();
        huge[5..9].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            b.recover(&huge, Some(&"pw".into())),
            Err(KeyringError::Damaged { .. })
        ));
    }

    #[test]
    fn empty_passphrase_refused() {
        let vek = generate_vault_key().unwrap();
        assert_eq!(
            fast().protect(&vek, Some(&"".into())).unwrap_err(),
            KeyringError::EmptyPassphrase
        );
    }

    #[test]
    fn default_parameters_are_at_least_64_mib() {
        let b = PassphraseBackend::default();
        assert!(b.m_kib >= 64 * 1024);
        let vek = generate_vault_key().unwrap();
        let blob = b.protect(&vek, Some(&"pw".into())).unwrap();
        assert_eq!(
            u32::from_be_bytes(blob[5..9].try_into().unwrap()),
            64 * 1024
        );
        assert!(b.recover(&blob, Some(&"pw".into())).is_ok());
    }
}
