//! Provider key formats, placeholders and masked hints.
//!
//! A value is a key when its variable name belongs to a tool (see
//! [`crate::Detector`]) or when it has a provider's key format. Whatever the
//! reason, only a masked hint of it ([`mask`]) ever leaves this crate: the
//! provider's public prefix, the last two characters and the length.
//!
//! ```
//! use sv_doctor::formats::{find_keys, mask};
//! let body: String = (0..93u32).map(|i| (b'a' + (i * 7 % 26) as u8) as char).collect();
//! let key = format!("sk-ant-api03-{body}AA");
//! let hits = find_keys(&format!("export X={key}"));
//! assert_eq!(hits.len(), 1);
//! assert_eq!(hits[0].provider.name, "anthropic");
//! assert_eq!(mask(&key, Some(hits[0].provider)), "sk-ant-…AA (108 chars)");
//! ```

use regex::Regex;
use std::sync::OnceLock;

/// One provider key format.
#[derive(Debug)]
pub struct Provider {
    /// Short provider name shown in findings (`anthropic`, `openai`, …).
    pub name: &'static str,
    /// The public prefix shown in masked hints.
    pub shown_prefix: &'static str,
    pub(crate) pattern: &'static str,
}

/// The formats, most specific first (Anthropic before OpenAI's `sk-`).
pub static PROVIDERS: &[Provider] = &[
    Provider {
        name: "anthropic",
        shown_prefix: "sk-ant-",
        pattern: r"sk-ant-api03-[A-Za-z0-9_-]{93}AA",
    },
    Provider {
        name: "anthropic-admin",
        shown_prefix: "sk-ant-admin01-",
        pattern: r"sk-ant-admin01-[A-Za-z0-9_-]{93}AA",
    },
    Provider {
        name: "anthropic-oauth",
        shown_prefix: "sk-ant-oat01-",
        pattern: r"sk-ant-(?:oat01|ort01)-[A-Za-z0-9_-]{80,120}AA",
    },
    Provider {
        name: "openrouter",
        shown_prefix: "sk-or-v1-",
        pattern: r"sk-or-v1-[0-9a-f]{64}",
    },
    Provider {
        name: "openai",
        shown_prefix: "sk-proj-",
        pattern: r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,200}T3BlbkFJ[A-Za-z0-9_-]{20,200}",
    },
    Provider {
        name: "openai-legacy",
        shown_prefix: "sk-",
        pattern: r"sk-[A-Za-z0-9]{48}",
    },
    Provider {
        name: "google",
        shown_prefix: "AIza",
        pattern: r"AIza[0-9A-Za-z_-]{35}",
    },
    Provider {
        name: "groq",
        shown_prefix: "gsk_",
        pattern: r"gsk_[A-Za-z0-9]{52}",
    },
    Provider {
        name: "github",
        shown_prefix: "ghp_",
        pattern: r"gh[pousr]_[A-Za-z0-9]{36}",
    },
    Provider {
        name: "github-fine-grained",
        shown_prefix: "github_pat_",
        pattern: r"github_pat_[A-Za-z0-9_]{80,90}",
    },
    Provider {
        name: "npm",
        shown_prefix: "npm_",
        pattern: r"npm_[A-Za-z0-9]{36}",
    },
    Provider {
        name: "huggingface",
        shown_prefix: "hf_",
        pattern: r"hf_[A-Za-z]{34}",
    },
];

/// A key found inside a text.
#[derive(Debug, Clone, Copy)]
pub struct KeyHit {
    pub provider: &'static Provider,
    pub start: usize,
    pub end: usize,
}

struct Compiled {
    /// Cheap first pass: does the text contain any format at all?
    any: Regex,
    each: Vec<Regex>,
}

fn compiled() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(|| {
        let each = PROVIDERS
            .iter()
            .map(|p| Regex::new(p.pattern).expect("the built-in key patterns are valid"))
            .collect();
        let any = PROVIDERS
            .iter()
            .map(|p| p.pattern)
            .collect::<Vec<_>>()
            .join("|");
        let any = Regex::new(&any).expect("the built-in key patterns are valid");
        Compiled { any, each }
    })
}

/// Every provider key in `text` that is not a placeholder, in order, without
/// overlaps (the most specific format wins).
pub fn find_keys(text: &str) -> Vec<KeyHit> {
    let c = compiled();
    if !c.any.is_match(text) {
        return Vec::new();
    }
    let mut hits: Vec<KeyHit> = Vec::new();
    for (provider, re) in PROVIDERS.iter().zip(&c.each) {
        for m in re.find_iter(text) {
            if hits.iter().any(|h| m.start() < h.end && h.start < m.end()) {
                continue;
            }
            if !standalone(text.as_bytes(), m.start(), m.end()) || is_filler(m.as_str()) {
                continue;
            }
            hits.push(KeyHit {
                provider,
                start: m.start(),
                end: m.end(),
            });
        }
    }
    hits.sort_by_key(|h| h.start);
    hits
}

/// Keys stand alone: not glued to more key characters on either side. A
/// JSON or shell escape just before (`\\nsk-ant-…` in a transcript) is a
/// separator, not part of the key.
pub(crate) fn standalone(text: &[u8], start: usize, end: usize) -> bool {
    let before = start.checked_sub(1).map(|i| text[i]);
    let escaped = start >= 2 && text[start - 2] == b'\\';
    let glued_before = before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') && !escaped;
    let after = text.get(end);
    let glued_after = after.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-');
    !glued_before && !glued_after
}

/// The provider whose format the whole of `value` has, if any.
pub fn provider_of(value: &str) -> Option<&'static Provider> {
    find_keys(value)
        .into_iter()
        .find(|h| h.start == 0 && h.end == value.len())
        .map(|h| h.provider)
}

/// Shortest value a name-matched variable must hold to count as a key: no
/// provider issues keys shorter than this.
pub const MIN_KEY_LEN: usize = 16;

/// Values that are obviously not a real key, judged on the whole value:
/// empty, elided (`sk-ant-...`, `sk-ant-...your-key-here`), bracketed
/// (`<your key>`, `[KEY]`), a reference (`${VAR}`, `op://…`), filler (a run
/// of eight identical characters: `xxxxxxxx`, `sk-ant-api03-aaaa…`), or made
/// only of placeholder words (`your-api-key-here`, `changeme`, `TODO`).
///
/// A word inside a value never makes it a placeholder: a random key whose
/// body happens to contain `here` or `todo` is still a key (a random
/// 40-character body holds some four-letter word often enough to matter).
pub fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    if v.is_empty() || v.contains("...") || v.contains('…') {
        return true;
    }
    if (v.starts_with('<') && v.ends_with('>')) || (v.starts_with('[') && v.ends_with(']')) {
        return true;
    }
    if is_reference(v) || is_filler(v) {
        return true;
    }
    let lower = v.to_ascii_lowercase();
    lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .all(|w| PLACEHOLDER_WORDS.contains(&w) || w.bytes().all(|b| b == b'x'))
}

/// The words a placeholder is made of (`your-openai-api-key-here`).
const PLACEHOLDER_WORDS: &[&str] = &[
    "your",
    "my",
    "the",
    "a",
    "an",
    "put",
    "paste",
    "insert",
    "enter",
    "add",
    "replace",
    "with",
    "me",
    "goes",
    "here",
    "api",
    "key",
    "keys",
    "apikey",
    "token",
    "secret",
    "value",
    "changeme",
    "change",
    "placeholder",
    "example",
    "sample",
    "dummy",
    "fake",
    "test",
    "redacted",
    "todo",
    "fixme",
    "tbd",
    "none",
    "null",
    "empty",
    "sk",
    "ant",
    "api03",
    "proj",
    "or",
    "v1",
    "gsk",
    "ghp",
    "hf",
    "anthropic",
    "openai",
    "claude",
    "codex",
    "gemini",
    "google",
    "cursor",
    "groq",
    "github",
    "openrouter",
    "huggingface",
];

/// A run of eight identical characters: no random key has one (for a
/// 62-letter alphabet the chance is about 10^-11 per key), every
/// `xxxxxxxx`-style stand-in does.
pub(crate) fn is_filler(v: impl AsRef<[u8]>) -> bool {
    let mut run = 1;
    let bytes = v.as_ref();
    for i in 1..bytes.len() {
        if bytes[i] == bytes[i - 1] && bytes[i].is_ascii_alphanumeric() {
            run += 1;
            if run >= 8 {
                return true;
            }
        } else {
            run = 1;
        }
    }
    false
}

/// `${VAR}`, `$VAR`, `$(cmd)`, `(cmd)`, `` `cmd` ``, `%VAR%`, `$env:VAR` or a secret
/// manager reference (`op://…`): the value is looked up, not stored here.
pub fn is_reference(v: &str) -> bool {
    v.starts_with('$')
        || v.starts_with('`')
        // fish and PowerShell command substitution: `(pass show x)`.
        || v.starts_with('(')
        || (v.starts_with('%') && v.ends_with('%') && v.len() > 2)
        || v.starts_with("op://")
        || v.starts_with("vault:")
        || v.starts_with("env:")
}

/// A hint that tells keys apart without revealing them:
/// `sk-ant-…AA (108 chars)`, or `… (40 chars)` when no format is known.
pub fn mask(value: &str, provider: Option<&Provider>) -> String {
    let n = value.chars().count();
    match provider {
        Some(p) if value.starts_with(p.shown_prefix) && n >= p.shown_prefix.len() + 12 => {
            let tail: String = value.chars().skip(n - 2).collect();
            format!("{}…{tail} ({n} chars)", p.shown_prefix)
        }
        _ => format!("… ({n} chars)"),
    }
}

#[cfg(test)]
pub(crate) use crate::samples;

#[cfg(test)]
mod tests {
    use super::samples::*;
    use super::*;

    #[test]
    fn every_format_is_found_and_named() {
        let cases = [
            (anthropic(1), "anthropic"),
            (anthropic_admin(2), "anthropic-admin"),
            (anthropic_oauth(3), "anthropic-oauth"),
            (openai_proj(4), "openai"),
            (openai_legacy(5), "openai-legacy"),
            (google(6), "google"),
            (openrouter(7), "openrouter"),
            (groq(8), "groq"),
            (github(9), "github"),
            (github_pat(10), "github-fine-grained"),
        ];
        for (key, name) in cases {
            let text = format!("prefix \"{key}\" suffix");
            let hits = find_keys(&text);
            assert_eq!(hits.len(), 1, "{name}");
            assert_eq!(hits[0].provider.name, name);
            assert_eq!(&text[hits[0].start..hits[0].end], key);
            assert_eq!(provider_of(&key).map(|p| p.name), Some(name));
        }
    }

    #[test]
    fn placeholders_and_near_misses_are_not_keys() {
        for v in [
            "sk-ant-...",
            "sk-ant-api03-...",
            "your-api-key-here",
            "<ANTHROPIC_API_KEY>",
            "xxx",
            "",
            "${ANTHROPIC_API_KEY}",
            "$(pass show anthropic)",
            "op://vault/item/field",
            &format!("sk-ant-api03-{}AA", "x".repeat(93)),
        ] {
            assert!(find_keys(v).is_empty(), "{v}");
        }
        for v in [
            "sk-ant-...",
            "your-api-key-here",
            "<key>",
            "xxxxxxxx",
            "",
            "${X}",
            "$X",
            "%X%",
        ] {
            assert!(is_placeholder(v), "{v}");
        }
        assert!(!is_placeholder(&anthropic(11)));
        // One character short, or glued to more key characters: not a key.
        let short = &anthropic(12)[..107];
        assert!(find_keys(short).is_empty());
        assert!(find_keys(&format!("{}Z", google(13))).is_empty());
        assert!(find_keys(&format!("x{}", openai_legacy(14))).is_empty());
    }

    #[test]
    fn anthropic_wins_over_legacy_openai() {
        let k = anthropic(15);
        let hits = find_keys(&k);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].provider.name, "anthropic");
    }

    #[test]
    fn masks_show_prefix_tail_and_length_only() {
        let k = anthropic(16);
        assert_eq!(mask(&k, provider_of(&k)), "sk-ant-…AA (108 chars)");
        let o = openai_proj(17);
        let m = mask(&o, provider_of(&o));
        assert!(m.starts_with("sk-proj-…") && m.ends_with(&format!("({} chars)", o.len())));
        assert_eq!(mask("abcdefghijklmnopqrst", None), "… (20 chars)");
        assert!(!m.contains(&o[8..20]));
    }

    mod random_keys {
        //! A real key is never skipped because a placeholder word happens to
        //! sit inside its random part: random keys of every format, with
        //! `here`, `todo`, `your`, `xxxx` written over part of the body.
        use super::super::*;
        use proptest::prelude::*;

        fn key_of(p: &'static Provider) -> impl Strategy<Value = String> {
            proptest::string::string_regex(p.pattern).expect("a valid pattern")
        }

        fn any_key() -> impl Strategy<Value = (usize, String)> {
            (0..PROVIDERS.len()).prop_flat_map(|i| key_of(&PROVIDERS[i]).prop_map(move |k| (i, k)))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn random_keys_with_words_inside_are_keys(
                (i, key) in any_key(),
                word in prop::sample::select(vec!["here", "todo", "your", "xxxx", "HERE", "Todo", "your-key-here"]),
                at in any::<prop::sample::Index>(),
                case in any::<bool>(),
            ) {
                let p = &PROVIDERS[i];
                let prefix = p.shown_prefix.len();
                let body = key.len() - prefix;
                prop_assume!(body > word.len() + 2);
                let pos = prefix + at.index(body - word.len());
                let mut k = key.clone();
                k.replace_range(pos..pos + word.len(), word);
                // Only keys that still have the provider's format are keys.
                let exact = regex::Regex::new(&format!("^(?:{})$", p.pattern)).unwrap();
                prop_assume!(exact.is_match(&k));
                prop_assume!(!is_filler(&k));
                let text = if case { format!("export X=\"{k}\"") } else { k.clone() };
                let hits = find_keys(&text);
                prop_assert_eq!(hits.len(), 1, "{} not found in {}", k, text);
                prop_assert_eq!(&text[hits[0].start..hits[0].end], k.as_str());
                prop_assert!(!is_placeholder(&k), "{} judged a placeholder", k);
            }

            #[test]
            fn random_opaque_values_with_words_inside_are_not_placeholders(
                body in "[A-Za-z0-9]{24,60}",
                word in prop::sample::select(vec!["here", "todo", "your", "xxxx", "example"]),
                at in any::<prop::sample::Index>(),
            ) {
                let pos = at.index(body.len());
                let v = format!("crsr_{}{word}{}", &body[..pos], &body[pos..]);
                prop_assume!(!is_filler(&v));
                prop_assert!(!is_placeholder(&v), "{} judged a placeholder", v);
            }
        }

        #[test]
        fn whole_value_placeholders_are_still_skipped() {
            for v in [
                "sk-ant-...your-key-here",
                "<your key>",
                "your-api-key-here",
                "YOUR_OPENAI_API_KEY",
                "xxxxxxxxxxxxxxxxxxxx",
                "sk-xxxx-xxxx",
                "changeme",
                "TODO",
                "paste-your-token-here",
                "AIzaSyXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
            ] {
                assert!(is_placeholder(v), "{v}");
            }
            assert!(find_keys("AIzaSyXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX").is_empty());
        }
    }
}
