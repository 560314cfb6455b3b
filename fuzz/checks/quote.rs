//! Property of `sv_core::quote`: for any string, what a shell makes of the
//! quoted word is exactly the input, and the JSON format parses back to it.
//!
//! The un-quoters below are small reference models of each shell's
//! single-quote rules, written from the shells' manuals independently of the
//! quoting code: anything outside the quotes (which a shell would expand) or
//! a quote that ends the string early makes them return `None`.

use sv_core::quote::{fish_quote, powershell_quote, render_env, sh_quote, EnvFormat};
use sv_core::SecretString;

/// POSIX sh: `'…'` is literal; outside quotes only `\c` is accepted.
pub fn sh_unquote(word: &str) -> Option<String> {
    let mut out = String::new();
    let mut it = word.chars();
    while let Some(c) = it.next() {
        match c {
            '\'' => loop {
                match it.next()? {
                    '\'' => break,
                    c => out.push(c),
                }
            },
            '\\' => out.push(it.next()?),
            _ => return None,
        }
    }
    Some(out)
}

/// fish: inside `'…'`, `\\` and `\'` are escapes; any other `\` is literal.
pub fn fish_unquote(word: &str) -> Option<String> {
    let inner = word.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut out = String::new();
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.next() {
                Some(c @ ('\\' | '\'')) => out.push(c),
                Some(c) => {
                    out.push('\\');
                    out.push(c)
                }
                // A trailing `\` would escape the closing quote.
                None => return None,
            },
            '\'' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

fn is_ps_quote(c: char) -> bool {
    matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}')
}

/// PowerShell: any single-quote character (ASCII or U+2018..U+201B) doubled
/// is one literal; alone, it ends the string.
pub fn powershell_unquote(word: &str) -> Option<String> {
    let mut chars = word.chars().peekable();
    if !is_ps_quote(chars.next()?) {
        return None;
    }
    let mut out = String::new();
    loop {
        let c = chars.next()?;
        if is_ps_quote(c) {
            match chars.peek() {
                Some(&n) if is_ps_quote(n) => {
                    out.push(n);
                    chars.next();
                }
                None => return Some(out),
                Some(_) => return None,
            }
        } else {
            out.push(c);
        }
    }
}

/// A reference un-quoter: what the shell makes of one quoted word.
type Unquote = fn(&str) -> Option<String>;

pub fn check(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();
    assert_eq!(sh_unquote(&sh_quote(s)).as_deref(), Some(s), "sh");
    assert_eq!(fish_unquote(&fish_quote(s)).as_deref(), Some(s), "fish");
    assert_eq!(
        powershell_unquote(&powershell_quote(s)).as_deref(),
        Some(s),
        "powershell"
    );

    // The full `env` output: the fuzzed value, then a plain one, which
    // must come out as its own statement (nothing leaked past the quotes).
    let v = SecretString::from(s);
    let plain = SecretString::from("x");
    let vars = [("ANTHROPIC_API_KEY", &v), ("SECOND_VAR", &plain)];
    let cases: [(EnvFormat, &str, &str, Unquote); 3] = [
        (
            EnvFormat::Sh,
            "export ANTHROPIC_API_KEY=",
            "\nexport SECOND_VAR='x'\n",
            sh_unquote,
        ),
        (
            EnvFormat::Fish,
            "set -gx ANTHROPIC_API_KEY ",
            "\nset -gx SECOND_VAR 'x'\n",
            fish_unquote,
        ),
        (
            EnvFormat::PowerShell,
            "$env:ANTHROPIC_API_KEY = ",
            "\n$env:SECOND_VAR = 'x'\n",
            powershell_unquote,
        ),
    ];
    for (format, prefix, suffix, unquote) in cases {
        let out = render_env(format, &vars);
        let word = out
            .strip_prefix(prefix)
            .and_then(|o| o.strip_suffix(suffix))
            .unwrap_or_else(|| panic!("{format:?}: unexpected statement shape"));
        assert_eq!(unquote(word).as_deref(), Some(s), "{format:?} env");
    }
    let json = render_env(EnvFormat::Json, &vars);
    assert!(
        json.ends_with('\n') && json.matches('\n').count() == 1,
        "json is one line"
    );
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("json parses");
    assert_eq!(parsed["ANTHROPIC_API_KEY"].as_str(), Some(s), "json env");
    assert_eq!(parsed["SECOND_VAR"].as_str(), Some("x"), "json env");
}
