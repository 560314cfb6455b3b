//! The TPM2 backend (status name `tpm2`, cargo feature `tpm2`): the VEK is
//! *sealed* by the machine's TPM.
//!
//! Each operation re-creates the same storage primary key (ECC P-256,
//! restricted decryption, AES-128-CFB for its children, owner hierarchy):
//! a primary key is derived from the hierarchy's seed and its template, so
//! the same template gives the same key on the same TPM and nothing has to
//! be made persistent in the TPM's NV memory. The VEK is sealed as a
//! keyed-hash object under it and read back with TPM2_Unseal. Both commands
//! run in an HMAC session *salted* with that primary key, with parameter
//! encryption both ways (`decrypt` protects the VEK on its way in, `encrypt`
//! on its way out), so the key never crosses the TPM bus in the clear.
//!
//! Blob: `SVT2` | version 1 | u16 length + marshalled TPM2B_PUBLIC |
//! u16 length + TPM2B_PRIVATE. The private part is encrypted by the TPM
//! under the primary key, so the blob alone, without that very TPM, cannot
//! give the key back. The store keeps it in the `key_wraps` table inside
//! vault.db (0600 in a 0700 directory): one file to back up, and `rekey`
//! adds or removes wrappings inside SQLite transactions, which separate
//! files could not match.
//!
//! TCTI: `SESSION_VAULT_TCTI` (for example
//! `swtpm:host=127.0.0.1,port=23211`), else the kernel's resource manager
//! `device:/dev/tpmrm0`.

use crate::{KeyBackend, KeyringError};
use std::str::FromStr;
use sv_core::seal::KEY_LEN;
use sv_core::{SecretString, VaultKey};
use tss_esapi::attributes::{ObjectAttributesBuilder, SessionAttributesBuilder};
use tss_esapi::constants::SessionType;
use tss_esapi::handles::{KeyHandle, ObjectHandle};
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, PublicAlgorithm};
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::interface_types::resource_handles::Hierarchy;
use tss_esapi::structures::{
    EccPoint, KeyedHashScheme, Private, Public, PublicBuilder, PublicEccParametersBuilder,
    PublicKeyedHashParameters, SensitiveData, SymmetricDefinition, SymmetricDefinitionObject,
};
use tss_esapi::traits::{Marshall, UnMarshall};
use tss_esapi::{Context, TctiNameConf};
use zeroize::Zeroizing;

const NAME: &str = "tpm2";
const MAGIC: &[u8; 4] = b"SVT2";
const VERSION: u8 = 1;
/// The kernel's TPM resource manager.
pub const DEFAULT_DEVICE: &str = "/dev/tpmrm0";

/// Seals the VEK to this machine's TPM.
#[derive(Debug, Default, Clone)]
pub struct Tpm2Backend;

fn unavailable(what: &str, e: impl std::fmt::Display) -> KeyringError {
    KeyringError::Unavailable {
        backend: NAME,
        reason: format!("{what}: {e}"),
    }
}

/// How a transient TPM shortage is reported; such errors are retried.
const BUSY: &str = "the TPM is busy";

/// A TPM error: a shortage of object or session slots (another process
/// holds them, or a TPM without a resource manager such as swtpm is shared)
/// or a "retry" answer is [`BUSY`]; anything else goes to `otherwise`.
fn tpm_err(
    what: &str,
    e: tss_esapi::Error,
    otherwise: impl FnOnce(String) -> KeyringError,
) -> KeyringError {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("out of memory") || lower.contains("retry") || lower.contains("yielded") {
        return KeyringError::Unavailable {
            backend: NAME,
            reason: format!("{BUSY} ({what}: {text}); try again in a moment"),
        };
    }
    otherwise(text)
}

/// Runs `op` again while the TPM reports itself busy (about 4 s in all).
fn retry_busy<T>(mut op: impl FnMut() -> Result<T, KeyringError>) -> Result<T, KeyringError> {
    let mut attempt = 0u64;
    loop {
        match op() {
            Err(KeyringError::Unavailable { reason, .. })
                if reason.starts_with(BUSY) && attempt < 12 =>
            {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(50 * attempt));
            }
            other => return other,
        }
    }
}

fn damaged(detail: String) -> KeyringError {
    KeyringError::Damaged {
        backend: NAME,
        detail,
    }
}

/// The TCTI to use: `SESSION_VAULT_TCTI`, else the resource manager device.
fn tcti() -> Result<TctiNameConf, KeyringError> {
    match std::env::var("SESSION_VAULT_TCTI") {
        Ok(s) if !s.is_empty() => TctiNameConf::from_str(&s).map_err(|e| {
            unavailable(
                &format!("SESSION_VAULT_TCTI=`{s}` is not a TCTI (use e.g. swtpm:host=127.0.0.1,port=2321 or device:/dev/tpmrm0)"),
                e,
            )
        }),
        _ => {
            if !std::path::Path::new(DEFAULT_DEVICE).exists() {
                return Err(KeyringError::Unavailable {
                    backend: NAME,
                    reason: format!("no TPM: {DEFAULT_DEVICE} does not exist and SESSION_VAULT_TCTI is not set"),
                });
            }
            TctiNameConf::from_str(&format!("device:{DEFAULT_DEVICE}"))
                .map_err(|e| unavailable("cannot use the TPM device", e))
        }
    }
}

fn context() -> Result<Context, KeyringError> {
    Context::new(tcti()?).map_err(|e| unavailable("cannot reach the TPM", e))
}

/// The storage primary key's template: fixed, so the key is the same each
/// time it is created on the same TPM.
fn primary_template() -> Result<Public, KeyringError> {
    let attrs = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_no_da(true)
        .with_restricted(true)
        .with_decrypt(true)
        .build()
        .map_err(|e| unavailable("primary key attributes", e))?;
    let ecc = PublicEccParametersBuilder::new_restricted_decryption_key(
        SymmetricDefinitionObject::AES_128_CFB,
        EccCurve::NistP256,
    )
    .build()
    .map_err(|e| unavailable("primary key parameters", e))?;
    PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::Ecc)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attrs)
        .with_ecc_parameters(ecc)
        .with_ecc_unique_identifier(EccPoint::default())
        .build()
        .map_err(|e| unavailable("primary key template", e))
}

/// The sealed object's template: data only, bound to this TPM and parent.
fn sealed_template() -> Result<Public, KeyringError> {
    let attrs = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_no_da(true)
        .with_user_with_auth(true)
        .build()
        .map_err(|e| unavailable("sealed object attributes", e))?;
    PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::KeyedHash)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attrs)
        .with_keyed_hash_parameters(PublicKeyedHashParameters::new(KeyedHashScheme::Null))
        .with_keyed_hash_unique_identifier(Default::default())
        .build()
        .map_err(|e| unavailable("sealed object template", e))
}

/// A TPM connection with the storage primary key loaded and a salted,
/// parameter-encrypting HMAC session in place. Flushes both on drop.
struct Session {
    ctx: Context,
    primary: KeyHandle,
    session: Option<tss_esapi::interface_types::session_handles::AuthSession>,
}

impl Session {
    fn open() -> Result<Session, KeyringError> {
        let mut ctx = context()?;
        let template = primary_template()?;
        let primary = ctx
            .execute_with_nullauth_session(|c| {
                c.create_primary(Hierarchy::Owner, template, None, None, None, None)
            })
            .map_err(|e| {
                tpm_err("creating the storage primary key", e, |t| {
                    unavailable("the TPM cannot create the storage primary key", t)
                })
            })?
            .key_handle;
        let session = ctx
            .start_auth_session(
                Some(primary),
                None,
                None,
                SessionType::Hmac,
                SymmetricDefinition::AES_128_CFB,
                HashingAlgorithm::Sha256,
            )
            .map_err(|e| {
                tpm_err("starting an HMAC session", e, |t| {
                    unavailable("the TPM cannot start an HMAC session", t)
                })
            })?;
        let Some(auth) = session else {
            return Err(unavailable(
                "the TPM cannot start an HMAC session",
                "no session handle",
            ));
        };
        let (attrs, mask) = SessionAttributesBuilder::new()
            .with_decrypt(true)
            .with_encrypt(true)
            .with_continue_session(true)
            .build();
        ctx.tr_sess_set_attributes(auth, attrs, mask)
            .map_err(|e| unavailable("the TPM session attributes", e))?;
        Ok(Session {
            ctx,
            primary,
            session: Some(auth),
        })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.ctx.clear_sessions();
        if let Some(s) = self.session.take() {
            let h: ObjectHandle = tss_esapi::handles::SessionHandle::from(s).into();
            let _ = self.ctx.flush_context(h);
        }
        let _ = self.ctx.flush_context(self.primary.into());
    }
}

fn encode(public: &Public, private: &Private) -> Result<Vec<u8>, KeyringError> {
    let pubm = public
        .marshall()
        .map_err(|e| unavailable("cannot encode the sealed object", e))?;
    let privm = private.value();
    let mut blob = Vec::with_capacity(9 + pubm.len() + privm.len());
    blob.extend_from_slice(MAGIC);
    blob.push(VERSION);
    for part in [&pubm[..], privm] {
        let len =
            u16::try_from(part.len()).map_err(|_| unavailable("sealed object", "too large"))?;
        blob.extend_from_slice(&len.to_be_bytes());
        blob.extend_from_slice(part);
    }
    Ok(blob)
}

fn decode(blob: &[u8]) -> Result<(Public, Private), KeyringError> {
    if blob.len() < 9 || &blob[..4] != MAGIC {
        return Err(damaged("not a TPM2 sealed blob".into()));
    }
    if blob[4] != VERSION {
        return Err(damaged(
            "unknown TPM2 blob version; upgrade session-vault".into(),
        ));
    }
    let mut at = 5;
    let mut part = |blob: &[u8]| -> Result<Vec<u8>, KeyringError> {
        let len = blob
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
            .ok_or_else(|| damaged("the sealed blob is truncated".into()))?;
        let bytes = blob
            .get(at + 2..at + 2 + len)
            .ok_or_else(|| damaged("the sealed blob is truncated".into()))?;
        at += 2 + len;
        Ok(bytes.to_vec())
    };
    let pubm = part(blob)?;
    let privm = part(blob)?;
    if at != blob.len() {
        return Err(damaged("the sealed blob has trailing bytes".into()));
    }
    let public = Public::unmarshall(&pubm)
        .map_err(|e| damaged(format!("the sealed public part does not parse: {e}")))?;
    let private = Private::try_from(privm)
        .map_err(|e| damaged(format!("the sealed private part does not parse: {e}")))?;
    Ok((public, private))
}

impl KeyBackend for Tpm2Backend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn needs_passphrase(&self) -> bool {
        false
    }

    /// Opens the TPM and asks it for random bytes: cheap, and proves the
    /// TCTI works.
    fn probe(&self) -> Result<(), String> {
        let mut ctx = context().map_err(|e| match e {
            KeyringError::Unavailable { reason, .. } => reason,
            other => other.to_string(),
        })?;
        ctx.get_random(8)
            .map(drop)
            .map_err(|e| format!("the TPM does not answer: {e}"))
    }

    fn health(&self, _blob: &[u8]) -> Result<(), String> {
        self.probe()
    }

    fn protect(
        &self,
        vek: &VaultKey,
        _passphrase: Option<&SecretString>,
    ) -> Result<Vec<u8>, KeyringError> {
        retry_busy(|| seal(vek))
    }

    fn recover(
        &self,
        blob: &[u8],
        _passphrase: Option<&SecretString>,
    ) -> Result<VaultKey, KeyringError> {
        let (public, private) = decode(blob)?;
        retry_busy(|| unseal(public.clone(), private.clone()))
    }
}

fn seal(vek: &VaultKey) -> Result<Vec<u8>, KeyringError> {
    let mut s = Session::open()?;
    let data = SensitiveData::try_from(vek.expose_bytes().to_vec())
        .map_err(|e| unavailable("cannot pass the key to the TPM", e))?;
    let template = sealed_template()?;
    let primary = s.primary;
    let created = s
        .ctx
        .execute_with_session(s.session, |c| {
            c.create(primary, template, None, Some(data), None, None)
        })
        .map_err(|e| {
            tpm_err("sealing", e, |t| {
                unavailable("the TPM cannot seal the key", t)
            })
        })?;
    encode(&created.out_public, &created.out_private)
}

fn unseal(public: Public, private: Private) -> Result<VaultKey, KeyringError> {
    let mut s = Session::open()?;
    let primary = s.primary;
    let loaded = s
            .ctx
            .execute_with_session(s.session, |c| c.load(primary, private, public))
            .map_err(|e| {
                tpm_err("loading the sealed key", e, |t| {
                    damaged(format!(
                        "this TPM refuses the sealed key ({t}): the blob is damaged, or it was sealed by another TPM or before the TPM was cleared"
                    ))
                })
            })?;
    let out = s
        .ctx
        .execute_with_session(s.session, |c| c.unseal(loaded.into()));
    let _ = s.ctx.flush_context(loaded.into());
    let data = out.map_err(|e| {
        tpm_err("unsealing", e, |t| {
            damaged(format!("the TPM cannot unseal the key: {t}"))
        })
    })?;
    let bytes = Zeroizing::new(data.value().to_vec());
    let mut key: [u8; KEY_LEN] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| damaged("the sealed data is not a 32-byte key".into()))?;
    Ok(VaultKey::from_bytes(&mut key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_blobs_are_refused_before_the_tpm() {
        for bad in [
            &b""[..],
            b"SVT2",
            b"XXXX\x01\x00\x00\x00\x00",
            b"SVT2\x02\x00\x00\x00\x00",
            b"SVT2\x01\x00\x05ab",
        ] {
            assert!(
                matches!(decode(bad), Err(KeyringError::Damaged { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_full_tpm_is_busy_and_retried_not_damaged() {
        use tss_esapi::constants::response_code::Tss2ResponseCode;
        // TPM_RC_OBJECT_MEMORY (0x902): no free object slot.
        let full = tss_esapi::Error::Tss2Error(Tss2ResponseCode::from(0x902));
        let e = tpm_err("loading", full, damaged);
        assert!(
            matches!(&e, KeyringError::Unavailable { reason, .. } if reason.starts_with(BUSY)),
            "{e}"
        );
        let mut calls = 0;
        let out: Result<(), _> = retry_busy(|| {
            calls += 1;
            if calls < 3 {
                Err(tpm_err("x", full, damaged))
            } else {
                Ok(())
            }
        });
        assert!(out.is_ok());
        assert_eq!(calls, 3);
        // TPM_RC_INTEGRITY (0x09F): damage stays damage.
        let bad = tss_esapi::Error::Tss2Error(Tss2ResponseCode::from(0x09F));
        assert!(matches!(
            tpm_err("loading", bad, damaged),
            KeyringError::Damaged { .. }
        ));
    }

    #[test]
    fn templates_build() {
        assert!(primary_template().is_ok());
        assert!(sealed_template().is_ok());
    }
}
