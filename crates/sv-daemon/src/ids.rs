//! Session ids: random (version 4) UUIDs in their usual text form, made from
//! the same OS randomness as the nonces, without a UUID crate.

use sv_keyring::KeyringError;

/// A new random session id, e.g. `1b4e28ba-2fa1-4d2e-883f-0016d3cca427`.
pub fn new_session_id() -> Result<String, KeyringError> {
    let mut b = [0u8; 16];
    sv_keyring::random_bytes(&mut b)?;
    Ok(format_v4(b))
}

/// Sets the version (4) and variant (RFC 4122) bits and writes 8-4-4-4-12
/// lower-case hex.
fn format_v4(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{byte:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_and_variant_bits() {
        assert_eq!(format_v4([0; 16]), "00000000-0000-4000-8000-000000000000");
        assert_eq!(
            format_v4([0xff; 16]),
            "ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
        let a = new_session_id().unwrap();
        let b = new_session_id().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}
