//! Sealing secrets to their records (docs/design.md §5).
//!
//! The vault encryption key (VEK) is 256 random bits. Three keys are derived
//! from it with HKDF-SHA-256, one per purpose: the record key (XChaCha20-
//! Poly1305), the fingerprint key (HMAC-SHA-256) and the key-check key. The
//! associated data of every record binds its session id, tool, variable name
//! and scope, so a ciphertext copied into another row fails to open.
//!
//! Nonces are 192-bit and random; the caller supplies them (this crate does no
//! I/O), the store draws them from the OS.

use crate::scope::Scope;
use crate::secret::SecretString;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

pub const KEY_LEN: usize = 32;
pub const NONCE_LEN: usize = 24;
/// Length of the key check value stored in the vault.
pub const KCV_LEN: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("a stored record failed its integrity check (damaged, or moved from another row)")]
    Tampered,
    #[error("a stored record is not valid UTF-8 after decryption")]
    NotText,
    #[error("a stored record has a malformed nonce")]
    BadNonce,
}

/// Page-aligned, mlocked (VirtualLock on Windows), zeroised-on-drop storage
/// for key bytes.
struct LockedBytes(KeyPage);

impl LockedBytes {
    fn new(bytes: [u8; KEY_LEN]) -> Self {
        let b = KeyPage::new(bytes);
        lock_memory(b.as_ptr(), KEY_LEN);
        LockedBytes(b)
    }
}

/// A key on a memory page of its own. mlock(2)/munlock(2) act on whole
/// pages and do not count: were two keys to share a page (as small boxes
/// do), dropping one would unlock the other.
struct KeyPage {
    ptr: std::ptr::NonNull<[u8; KEY_LEN]>,
    layout: std::alloc::Layout,
}

// SAFETY: KeyPage owns its allocation exclusively, like a Box.
unsafe impl Send for KeyPage {}
// SAFETY: shared access is read-only, like &Box.
unsafe impl Sync for KeyPage {}

impl KeyPage {
    fn new(bytes: [u8; KEY_LEN]) -> Self {
        let layout = std::alloc::Layout::from_size_align(page_size(), page_size())
            .unwrap_or_else(|_| std::alloc::Layout::new::<[u8; KEY_LEN]>());
        // SAFETY: the layout has a non-zero size of at least KEY_LEN bytes.
        let raw = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<[u8; KEY_LEN]>();
        let ptr =
            std::ptr::NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        // SAFETY: freshly allocated, aligned, large enough.
        unsafe { ptr.as_ptr().write(bytes) };
        KeyPage { ptr, layout }
    }
}

impl std::ops::Deref for KeyPage {
    type Target = [u8; KEY_LEN];
    fn deref(&self) -> &[u8; KEY_LEN] {
        // SAFETY: valid for our lifetime, initialised in `new`.
        unsafe { self.ptr.as_ref() }
    }
}

impl std::ops::DerefMut for KeyPage {
    fn deref_mut(&mut self) -> &mut [u8; KEY_LEN] {
        // SAFETY: as above, and we are the only owner.
        unsafe { self.ptr.as_mut() }
    }
}

impl Drop for KeyPage {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr().cast(), self.layout) }
    }
}

#[cfg(unix)]
fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n >= KEY_LEN as libc::c_long && (n as usize).is_power_of_two() => n as usize,
        _ => 4096,
    }
}

#[cfg(windows)]
fn page_size() -> usize {
    use windows_sys::Win32::System::SystemInformation::{GetSystemInfo, SYSTEM_INFO};
    // SAFETY: GetSystemInfo fills the struct we own; it cannot fail.
    let info = unsafe {
        let mut info: SYSTEM_INFO = std::mem::zeroed();
        GetSystemInfo(&mut info);
        info
    };
    match info.dwPageSize as usize {
        n if n >= KEY_LEN && n.is_power_of_two() => n,
        _ => 4096,
    }
}

#[cfg(not(any(unix, windows)))]
fn page_size() -> usize {
    4096
}

impl Drop for LockedBytes {
    fn drop(&mut self) {
        self.0.zeroize();
        unlock_memory(self.0.as_ptr(), KEY_LEN);
    }
}

#[cfg(unix)]
fn lock_memory(ptr: *const u8, len: usize) {
    // Best effort: RLIMIT_MEMLOCK may forbid it; the daemon reports VmLck.
    // SAFETY: ptr/len describe a live allocation owned by the caller.
    unsafe {
        libc::mlock(ptr.cast(), len);
    }
}

#[cfg(unix)]
fn unlock_memory(ptr: *const u8, len: usize) {
    // SAFETY: as above; munlock of a range we locked.
    unsafe {
        libc::munlock(ptr.cast(), len);
    }
}

/// Windows: VirtualLock keeps the page in the process's working set (so it
/// is not paged out); like mlock it is best effort (the minimum working set
/// size limits how much can be locked).
#[cfg(windows)]
fn lock_memory(ptr: *const u8, len: usize) {
    // SAFETY: ptr/len describe a live allocation owned by the caller.
    unsafe {
        windows_sys::Win32::System::Memory::VirtualLock(ptr.cast(), len);
    }
}

#[cfg(windows)]
fn unlock_memory(ptr: *const u8, len: usize) {
    // SAFETY: as above; VirtualUnlock of a range we locked.
    unsafe {
        windows_sys::Win32::System::Memory::VirtualUnlock(ptr.cast(), len);
    }
}

#[cfg(not(any(unix, windows)))]
fn lock_memory(_: *const u8, _: usize) {}
#[cfg(not(any(unix, windows)))]
fn unlock_memory(_: *const u8, _: usize) {}

/// The vault encryption key and the keys derived from it.
pub struct VaultKey {
    vek: LockedBytes,
    record: LockedBytes,
    fingerprint: LockedBytes,
    check: LockedBytes,
}

impl fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VaultKey([REDACTED])")
    }
}

/// A sealed value as stored: nonce and ciphertext-with-tag.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedSecret({} bytes)", self.ciphertext.len())
    }
}

/// What a sealed value is bound to.
#[derive(Debug, Clone, Copy)]
pub struct RecordBinding<'a> {
    pub session_id: &'a str,
    pub tool: &'a str,
    pub var: &'a str,
    pub scope: &'a Scope,
}

impl RecordBinding<'_> {
    /// Length-prefixed fields, so no two bindings serialise alike.
    fn associated_data(&self) -> Vec<u8> {
        const LABEL: &[u8] = b"session-vault record v1";
        let scope = self.scope.as_db_str();
        let mut out = Vec::with_capacity(
            LABEL.len()
                + 4 * 8
                + self.session_id.len()
                + self.tool.len()
                + self.var.len()
                + scope.len(),
        );
        out.extend_from_slice(LABEL);
        for field in [
            self.session_id.as_bytes(),
            self.tool.as_bytes(),
            self.var.as_bytes(),
            scope.as_bytes(),
        ] {
            out.extend_from_slice(&(field.len() as u64).to_be_bytes());
            out.extend_from_slice(field);
        }
        out
    }
}

fn derive(vek: &[u8; KEY_LEN], info: &[u8]) -> LockedBytes {
    let hk = Hkdf::<Sha256>::new(Some(b"session-vault v1"), vek);
    let mut okm = Zeroizing::new([0u8; KEY_LEN]);
    hk.expand(info, okm.as_mut())
        .expect("32 bytes is a valid HKDF-SHA-256 output length");
    LockedBytes::new(*okm)
}

impl VaultKey {
    /// Takes ownership of 32 key bytes (zeroising the caller's copy).
    pub fn from_bytes(bytes: &mut [u8; KEY_LEN]) -> Self {
        let vek = LockedBytes::new(*bytes);
        bytes.zeroize();
        let record = derive(&vek.0, b"record key");
        let fingerprint = derive(&vek.0, b"fingerprint key");
        let check = derive(&vek.0, b"key check");
        VaultKey {
            vek,
            record,
            fingerprint,
            check,
        }
    }

    /// The raw VEK, for a backend to wrap. Never log or store it in clear.
    pub fn expose_bytes(&self) -> &[u8; KEY_LEN] {
        &self.vek.0
    }

    /// A value stored in the vault that confirms this is the vault's key
    /// without revealing it; tells a wrong key apart from a damaged record.
    pub fn check_value(&self) -> [u8; KCV_LEN] {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&*self.check.0).expect("any key length");
        mac.update(b"session-vault key check value v1");
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; KCV_LEN];
        out.copy_from_slice(&full[..KCV_LEN]);
        out
    }

    /// Compares a stored check value in constant time.
    pub fn verify_check_value(&self, stored: &[u8]) -> bool {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&*self.check.0).expect("any key length");
        mac.update(b"session-vault key check value v1");
        stored.len() == KCV_LEN && mac.verify_truncated_left(stored).is_ok()
    }

    /// 8 hex digits identifying a secret; the vault file alone cannot confirm
    /// a guess because the HMAC key derives from the VEK.
    pub fn fingerprint(&self, secret: &SecretString) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&*self.fingerprint.0).expect("any key length");
        mac.update(secret.expose().as_bytes());
        let d = mac.finalize().into_bytes();
        d[..4].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Seals `plain` to `binding` under a fresh random `nonce`.
    pub fn seal(
        &self,
        binding: &RecordBinding<'_>,
        plain: &SecretString,
        nonce: [u8; NONCE_LEN],
    ) -> SealedSecret {
        let cipher = XChaCha20Poly1305::new((&*self.record.0).into());
        let aad = binding.associated_data();
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain.expose().as_bytes(),
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        SealedSecret {
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    /// Opens a sealed value; fails if it was damaged or belongs to another
    /// record.
    pub fn open(
        &self,
        binding: &RecordBinding<'_>,
        sealed: &SealedSecret,
    ) -> Result<SecretString, SealError> {
        if sealed.nonce.len() != NONCE_LEN {
            return Err(SealError::BadNonce);
        }
        let cipher = XChaCha20Poly1305::new((&*self.record.0).into());
        let aad = binding.associated_data();
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    XNonce::from_slice(&sealed.nonce),
                    Payload {
                        msg: &sealed.ciphertext,
                        aad: &aad,
                    },
                )
                .map_err(|_| SealError::Tampered)?,
        );
        let text = std::str::from_utf8(&plain).map_err(|_| SealError::NotText)?;
        Ok(SecretString::from(text))
    }
}

/// Wraps a VEK under a key-encryption key (used by wrapping backends).
pub fn wrap_key(
    kek: &[u8; KEY_LEN],
    vek: &VaultKey,
    aad: &[u8],
    nonce: [u8; NONCE_LEN],
) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(kek.into());
    cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: vek.expose_bytes(),
                aad,
            },
        )
        .expect("in-memory encryption cannot fail")
}

/// The inverse of [`wrap_key`]; `None` when the KEK or the blob is wrong.
pub fn unwrap_key(
    kek: &[u8; KEY_LEN],
    wrapped: &[u8],
    aad: &[u8],
    nonce: &[u8],
) -> Option<VaultKey> {
    if nonce.len() != NONCE_LEN {
        return None;
    }
    let cipher = XChaCha20Poly1305::new(kek.into());
    let plain = Zeroizing::new(
        cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: wrapped, aad })
            .ok()?,
    );
    let mut bytes: [u8; KEY_LEN] = plain.as_slice().try_into().ok()?;
    Some(VaultKey::from_bytes(&mut bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> VaultKey {
        VaultKey::from_bytes(&mut [b; KEY_LEN])
    }

    fn binding<'a>(id: &'a str, scope: &'a Scope) -> RecordBinding<'a> {
        RecordBinding {
            session_id: id,
            tool: "claude",
            var: "ANTHROPIC_API_KEY",
            scope,
        }
    }

    #[test]
    fn round_trip() {
        let k = key(1);
        let s = Scope::project("/p/app");
        let sealed = k.seal(&binding("a", &s), &"sk-1".into(), [7; NONCE_LEN]);
        assert_eq!(k.open(&binding("a", &s), &sealed).unwrap().expose(), "sk-1");
    }

    #[test]
    fn moved_ciphertext_fails() {
        let k = key(1);
        let s = Scope::project("/p/app");
        let other = Scope::project("/p/app-evil");
        let sealed = k.seal(&binding("a", &s), &"sk-1".into(), [7; NONCE_LEN]);
        assert_eq!(k.open(&binding("b", &s), &sealed), Err(SealError::Tampered));
        assert_eq!(
            k.open(&binding("a", &other), &sealed),
            Err(SealError::Tampered)
        );
        let mut b = binding("a", &s);
        b.var = "OPENAI_API_KEY";
        assert_eq!(k.open(&b, &sealed), Err(SealError::Tampered));
        assert_eq!(
            key(2).open(&binding("a", &s), &sealed),
            Err(SealError::Tampered)
        );
        let mut flipped = sealed.clone();
        flipped.ciphertext[0] ^= 1;
        assert_eq!(
            k.open(&binding("a", &s), &flipped),
            Err(SealError::Tampered)
        );
    }

    #[test]
    fn ambiguous_fields_do_not_collide() {
        let g = Scope::Global;
        let a = RecordBinding {
            session_id: "ab",
            tool: "c",
            var: "V",
            scope: &g,
        };
        let b = RecordBinding {
            session_id: "a",
            tool: "bc",
            var: "V",
            scope: &g,
        };
        assert_ne!(a.associated_data(), b.associated_data());
    }

    #[test]
    fn check_value_and_fingerprint() {
        let k = key(3);
        assert!(k.verify_check_value(&k.check_value()));
        assert!(!key(4).verify_check_value(&k.check_value()));
        assert!(!k.verify_check_value(&[0; 3]));
        let fp = k.fingerprint(&"sk-x".into());
        assert_eq!(fp.len(), 8);
        assert!(fp.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(fp, key(4).fingerprint(&"sk-x".into()));
        assert_eq!(fp, k.fingerprint(&"sk-x".into()));
    }

    #[test]
    fn wrapping() {
        let k = key(5);
        let w = wrap_key(&[9; KEY_LEN], &k, b"ad", [1; NONCE_LEN]);
        let back = unwrap_key(&[9; KEY_LEN], &w, b"ad", &[1; NONCE_LEN]).unwrap();
        assert_eq!(back.expose_bytes(), k.expose_bytes());
        assert!(unwrap_key(&[8; KEY_LEN], &w, b"ad", &[1; NONCE_LEN]).is_none());
        assert!(unwrap_key(&[9; KEY_LEN], &w, b"xx", &[1; NONCE_LEN]).is_none());
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(format!("{:?}", key(1)), "VaultKey([REDACTED])");
    }
}
