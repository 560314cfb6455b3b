//! Stand-in keys: random values of the same shape as a real key.
//!
//! An agent run through the proxy holds a stand-in instead of the key. SDKs
//! check a key's format before they send it (Anthropic's wants
//! `sk-ant-api03-`, some tools reject a key of the wrong length), so the
//! stand-in keeps the real key's provider prefix, its length and its
//! alphabet. The alphabet is the set of character classes the whole key
//! uses, not the class at each position: a per-position copy would tell the
//! agent which characters of the real key are digits.

use zeroize::Zeroizing;

/// Provider prefixes kept as they are, longest first so that
/// `sk-ant-api03-` wins over `sk-`.
const PREFIXES: &[&str] = &[
    "sk-ant-admin01-",
    "sk-ant-api03-",
    "sk-svcacct-",
    "sk-or-v1-",
    "sk-admin-",
    "sk-proj-",
    "sk-ant-",
    "gsk_",
    "AIza",
    "sk-",
];

const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &[u8] = b"0123456789";

/// A random stand-in of the same shape as `real`: the same provider prefix
/// (`sk-ant-api03-`, `sk-proj-`, `sk-`, `AIza`, …), the same length, and
/// characters drawn from the classes (lower case, upper case, digits, each
/// punctuation character) that the rest of `real` uses. A key with bytes
/// outside printable ASCII gets letters and digits.
///
/// ```
/// let real = b"sk-ant-api03-Xy9_kLmN0pQ-rS7tUvWxYz12AA";
/// let s = sv_proxy::stand_in_like(real);
/// assert!(s.starts_with("sk-ant-api03-"));
/// assert_eq!(s.len(), real.len());
/// assert_ne!(s.as_bytes(), real);
/// ```
pub fn stand_in_like(real: &[u8]) -> Zeroizing<String> {
    let prefix = PREFIXES
        .iter()
        .find(|p| real.starts_with(p.as_bytes()) && real.len() > p.len())
        .copied()
        .unwrap_or("");
    let rest = &real[prefix.len()..];
    let alphabet = alphabet_of(rest);
    let mut out = Zeroizing::new(String::with_capacity(real.len()));
    out.push_str(prefix);
    loop {
        out.truncate(prefix.len());
        for _ in 0..rest.len() {
            out.push(char::from(alphabet[uniform(alphabet.len())]));
        }
        // Equal to the real key only by a 1 in 2^100 chance, but never hand
        // out the key itself as its stand-in.
        if out.as_bytes() != real || rest.is_empty() {
            return out;
        }
    }
}

/// The characters a stand-in may use: every class that `rest` touches.
fn alphabet_of(rest: &[u8]) -> Vec<u8> {
    let printable = rest.iter().all(|b| b.is_ascii_graphic());
    let mut alphabet = Vec::with_capacity(80);
    let mut add_class = |class: &[u8], present: bool| {
        if present {
            alphabet.extend_from_slice(class);
        }
    };
    add_class(LOWER, !printable || rest.iter().any(u8::is_ascii_lowercase));
    add_class(UPPER, !printable || rest.iter().any(u8::is_ascii_uppercase));
    add_class(DIGITS, !printable || rest.iter().any(u8::is_ascii_digit));
    if printable {
        for &b in rest {
            if b.is_ascii_punctuation() && !alphabet.contains(&b) {
                alphabet.push(b);
            }
        }
    }
    if alphabet.is_empty() {
        alphabet.extend_from_slice(LOWER);
    }
    alphabet
}

/// A uniformly random index below `n` (n ≤ 256), by rejection sampling.
fn uniform(n: usize) -> usize {
    debug_assert!(n > 0 && n <= 256);
    let limit = 256 - 256 % n;
    loop {
        let mut b = [0u8; 1];
        if getrandom::getrandom(&mut b).is_err() {
            // The kernel's generator does not fail once the system is up;
            // a stand-in is not a secret, but never hand out a fixed one.
            panic!("the system random number generator failed");
        }
        if usize::from(b[0]) < limit {
            return usize::from(b[0]) % n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(b: u8) -> u8 {
        match b {
            b'a'..=b'z' => b'a',
            b'A'..=b'Z' => b'A',
            b'0'..=b'9' => b'0',
            other => other,
        }
    }

    #[test]
    fn keeps_prefix_length_and_alphabet() {
        let cases: &[(&[u8], &str)] = &[
            (
                b"sk-ant-api03-abcDEF123_-xyzXYZ789_-AAAAAAAAAAAAAAAAAAAAAAA",
                "sk-ant-api03-",
            ),
            (b"sk-proj-abcdefABCDEF0123456789_-abcdefABCDEF", "sk-proj-"),
            (b"sk-abcdefghijklmnopqrstuvwxyzABCDEF0123456789", "sk-"),
            (b"AIzaSyA-1234567890abcdefghijklmnopqrstu", "AIza"),
            (b"gsk_abcdefghijklmnop0123456789", "gsk_"),
            (b"plainhexdeadbeef0123456789abcdef", ""),
        ];
        for (real, prefix) in cases {
            let s = stand_in_like(real);
            assert!(s.starts_with(prefix), "{prefix}");
            assert_eq!(s.len(), real.len());
            let real_classes: Vec<u8> = real[prefix.len()..].iter().map(|&b| class(b)).collect();
            for b in s.as_bytes()[prefix.len()..].iter() {
                assert!(
                    real_classes.contains(&class(*b)),
                    "{} not in the key's alphabet",
                    *b as char
                );
            }
        }
    }

    #[test]
    fn two_stand_ins_differ() {
        let real = b"sk-proj-abcdefABCDEF0123456789abcdefABCDEF";
        assert_ne!(*stand_in_like(real), *stand_in_like(real));
    }

    #[test]
    fn digits_only_key_gets_digits_only() {
        let s = stand_in_like(b"12345678901234567890");
        assert!(s.bytes().all(|b| b.is_ascii_digit()));
    }

    #[test]
    fn odd_bytes_get_letters_and_digits() {
        let s = stand_in_like("clé\u{1}secrète".as_bytes());
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(s.len(), "clé\u{1}secrète".len());
    }
}
