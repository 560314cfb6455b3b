//! Rendering credentials as shell code that no value can break out of.
//!
//! Every value goes inside the target shell's single quotes, the one quoting
//! form in which nothing is expanded:
//! - sh (bash, zsh, dash): `'` becomes `'\''`;
//! - fish: `\` and `'` are escaped as `\\` and `\'`;
//! - PowerShell: `'` and the typographic single quotes it also accepts as
//!   delimiters (U+2018..U+201B) are doubled;
//! - json: one object, serde_json's escaping.
//!
//! ```
//! use sv_core::quote::{sh_quote, fish_quote};
//! assert_eq!(sh_quote("it's $HOME"), r#"'it'\''s $HOME'"#);
//! assert_eq!(fish_quote(r"a\b'c"), r#"'a\\b\'c'"#);
//! ```

use crate::secret::SecretString;
use std::fmt::Write;
use zeroize::Zeroizing;

/// An output format of `session-vault env`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvFormat {
    Sh,
    Fish,
    PowerShell,
    Json,
}

impl EnvFormat {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sh" | "bash" | "zsh" => EnvFormat::Sh,
            "fish" => EnvFormat::Fish,
            "powershell" | "pwsh" => EnvFormat::PowerShell,
            "json" => EnvFormat::Json,
            _ => return None,
        })
    }
}

/// Single-quotes `s` for POSIX sh.
pub fn sh_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Single-quotes `s` for fish.
pub fn fish_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// Single-quotes `s` for PowerShell.
pub fn powershell_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// Renders `vars` (name, value) in `format`, one statement per line. A name
/// that is not a valid variable name (see [`crate::tools::valid_var_name`])
/// is left out: names are never quoted, so they must never carry code.
pub fn render_env(format: EnvFormat, vars: &[(&str, &SecretString)]) -> Zeroizing<String> {
    let vars: Vec<(&str, &SecretString)> = vars
        .iter()
        .copied()
        .filter(|(n, _)| crate::tools::valid_var_name(n))
        .collect();
    let vars = vars.as_slice();
    let mut out = Zeroizing::new(String::new());
    match format {
        EnvFormat::Json => {
            let map: serde_json::Map<String, serde_json::Value> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.expose().into())))
                .collect();
            let mut obj = serde_json::Value::Object(map);
            out.push_str(&obj.to_string());
            out.push('\n');
            zeroize_json(&mut obj);
        }
        _ => {
            for (name, value) in vars {
                let quoted = Zeroizing::new(match format {
                    EnvFormat::Sh => sh_quote(value.expose()),
                    EnvFormat::Fish => fish_quote(value.expose()),
                    EnvFormat::PowerShell => powershell_quote(value.expose()),
                    EnvFormat::Json => unreachable!(),
                });
                let _ = match format {
                    EnvFormat::Sh => writeln!(out, "export {name}={}", *quoted),
                    EnvFormat::Fish => writeln!(out, "set -gx {name} {}", *quoted),
                    _ => writeln!(out, "$env:{name} = {}", *quoted),
                };
            }
        }
    }
    out
}

/// Clears the strings inside a JSON value before it is dropped.
pub fn zeroize_json(v: &mut serde_json::Value) {
    use zeroize::Zeroize;
    match v {
        serde_json::Value::String(s) => s.zeroize(),
        serde_json::Value::Array(a) => a.iter_mut().for_each(zeroize_json),
        serde_json::Value::Object(o) => o.values_mut().for_each(zeroize_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("'"), r#"''\'''"#);
        assert_eq!(powershell_quote("a'b\u{2019}"), "'a''b\u{2019}\u{2019}'");
        let v = SecretString::from("x'y");
        let out = render_env(EnvFormat::Sh, &[("ANTHROPIC_API_KEY", &v)]);
        assert_eq!(&*out, "export ANTHROPIC_API_KEY='x'\\''y'\n");
        let out = render_env(EnvFormat::Fish, &[("A", &v)]);
        assert_eq!(&*out, "set -gx A 'x\\'y'\n");
        let out = render_env(EnvFormat::PowerShell, &[("A", &v)]);
        assert_eq!(&*out, "$env:A = 'x''y'\n");
        let out = render_env(EnvFormat::Json, &[("A", &v), ("B", &"\"\n".into())]);
        assert_eq!(&*out, "{\"A\":\"x'y\",\"B\":\"\\\"\\n\"}\n");
    }

    #[test]
    fn invalid_names_are_never_rendered() {
        let v = SecretString::from("x");
        for f in [
            EnvFormat::Sh,
            EnvFormat::Fish,
            EnvFormat::PowerShell,
            EnvFormat::Json,
        ] {
            let out = render_env(f, &[("X;touch pwned;Y", &v), ("OK", &v)]);
            assert!(!out.contains("pwned"), "{f:?}: {}", *out);
            assert!(out.contains("OK"));
        }
    }

    // The shells' round trips run in tests/fuzz_regressions.rs, against the
    // same reference un-quoters the fuzz target uses (fuzz/checks/quote.rs).
    proptest! {
        #[test]
        fn json_round_trips(s in any::<String>()) {
            let v = SecretString::from(s.as_str());
            let out = render_env(EnvFormat::Json, &[("K", &v)]);
            let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
            prop_assert_eq!(parsed["K"].as_str(), Some(s.as_str()));
        }
    }
}
