//! Variable assignments in shell profiles and `.env` files, one line at a
//! time: `export NAME=value` (sh, bash, zsh, `.env`), `set -gx NAME value`
//! (fish), `$env:NAME = "value"` and `[Environment]::SetEnvironmentVariable`
//! (PowerShell). Commented-out assignments are parsed too: a key in a comment
//! is still a plaintext key on disk.
//!
//! ```
//! use sv_doctor::lines::{parse_assignment, Dialect};
//! let a = parse_assignment("export OPENAI_API_KEY='abc def'  # work", Dialect::Posix).unwrap();
//! assert_eq!((a.name, a.value.as_str()), ("OPENAI_API_KEY", "abc def"));
//! ```

use serde::Serialize;
use zeroize::Zeroizing;

/// The syntax a file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    Posix,
    Fish,
    PowerShell,
    DotEnv,
}

/// `NAME` and its unquoted value.
#[derive(Debug)]
pub struct Assignment<'a> {
    pub name: &'a str,
    pub value: Zeroizing<String>,
}

fn ident_len(s: &str) -> usize {
    s.bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count()
}

fn strip_word<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let rest = s.strip_prefix(word)?;
    (rest.starts_with([' ', '\t'])).then(|| rest.trim_start())
}

/// Parses one line; `None` when it assigns nothing.
pub fn parse_assignment(line: &str, dialect: Dialect) -> Option<Assignment<'_>> {
    let mut s = line.trim_start();
    if s.starts_with('#') {
        s = s.trim_start_matches('#').trim_start();
    }
    match dialect {
        Dialect::Posix | Dialect::DotEnv => posix(s, dialect),
        Dialect::Fish => fish(s),
        Dialect::PowerShell => powershell(s),
    }
}

fn posix(mut s: &str, dialect: Dialect) -> Option<Assignment<'_>> {
    let mut setenv = false;
    loop {
        let before = s;
        for w in [
            "export", "declare", "typeset", "readonly", "local", "-x", "-gx", "-r",
        ] {
            if let Some(r) = strip_word(s, w) {
                s = r;
            }
        }
        if let Some(r) = strip_word(s, "setenv") {
            s = r;
            setenv = true;
        }
        if s == before {
            break;
        }
    }
    let n = ident_len(s);
    let name = &s[..n];
    if !sv_core::tools::valid_var_name(name) {
        return None;
    }
    let mut rest = &s[n..];
    if setenv {
        rest = rest.strip_prefix([' ', '\t'])?.trim_start();
    } else if dialect == Dialect::DotEnv {
        rest = rest.trim_start().strip_prefix(['=', ':'])?.trim_start();
    } else {
        rest = rest.strip_prefix('=')?;
    }
    Some(Assignment {
        name,
        value: word(rest, dialect),
    })
}

fn fish(s: &str) -> Option<Assignment<'_>> {
    let mut rest = strip_word(s, "set")?;
    loop {
        if rest.starts_with('-') {
            let flag_len = rest.find([' ', '\t'])?;
            rest = rest[flag_len..].trim_start();
        } else {
            break;
        }
    }
    let n = ident_len(rest);
    let name = &rest[..n];
    if !sv_core::tools::valid_var_name(name) {
        return None;
    }
    let value = rest[n..].strip_prefix([' ', '\t'])?.trim_start();
    Some(Assignment {
        name,
        value: word(value, Dialect::Fish),
    })
}

fn powershell(s: &str) -> Option<Assignment<'_>> {
    if s.len() > 5 && s.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("$env:")) {
        let rest = &s[5..];
        let n = ident_len(rest);
        let name = &rest[..n];
        if !sv_core::tools::valid_var_name(name) {
            return None;
        }
        let value = rest[n..].trim_start().strip_prefix('=')?.trim_start();
        return Some(Assignment {
            name,
            value: word(value, Dialect::PowerShell),
        });
    }
    let lower = s.to_ascii_lowercase();
    let at = lower.find("environment]::setenvironmentvariable(")?;
    let args = s[at + "environment]::setenvironmentvariable(".len()..].trim_start();
    let quote = args.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let end = args[1..].find(quote)? + 1;
    let name = &args[1..end];
    if !sv_core::tools::valid_var_name(name) {
        return None;
    }
    let value = args[end + 1..].trim_start().strip_prefix(',')?.trim_start();
    Some(Assignment {
        name,
        value: word(value, Dialect::PowerShell),
    })
}

/// The first word of `s` with its quotes removed.
fn word(s: &str, dialect: Dialect) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    let mut chars = s.chars().peekable();
    match chars.peek() {
        Some('\'') => {
            chars.next();
            for c in chars.by_ref() {
                if c == '\'' {
                    break;
                }
                out.push(c);
            }
        }
        Some('"') => {
            chars.next();
            let escape = if dialect == Dialect::PowerShell {
                '`'
            } else {
                '\\'
            };
            while let Some(c) = chars.next() {
                if c == escape {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                } else if c == '"' {
                    break;
                } else {
                    out.push(c);
                }
            }
        }
        _ if dialect == Dialect::DotEnv => {
            // Unquoted `.env` values run to the end of the line or to ` #`.
            let v = match s.find(" #").or_else(|| s.find("\t#")) {
                Some(i) => &s[..i],
                None => s,
            };
            out.push_str(v.trim());
        }
        _ => {
            for c in chars {
                if c.is_whitespace() || matches!(c, ';' | '&' | '|' | ')') {
                    break;
                }
                out.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn non_ascii_lines_do_not_panic() {
        assert!(super::powershell("Привет мир").is_none());
        assert!(super::powershell("$env:Ä = 'x'").is_none());
    }

    use super::*;

    fn p(line: &str, d: Dialect) -> Option<(String, String)> {
        parse_assignment(line, d).map(|a| (a.name.to_owned(), a.value.to_string()))
    }

    fn pair(n: &str, v: &str) -> Option<(String, String)> {
        Some((n.into(), v.into()))
    }

    #[test]
    fn posix_forms() {
        use Dialect::Posix;
        assert_eq!(p("export A_KEY=abc", Posix), pair("A_KEY", "abc"));
        assert_eq!(
            p("  export A_KEY=\"a\\\"b\" # note", Posix),
            pair("A_KEY", "a\"b")
        );
        assert_eq!(p("A_KEY='x y'; other", Posix), pair("A_KEY", "x y"));
        assert_eq!(p("declare -x A_KEY=v", Posix), pair("A_KEY", "v"));
        assert_eq!(p("typeset -gx A_KEY=v", Posix), pair("A_KEY", "v"));
        assert_eq!(p("# export A_KEY=old", Posix), pair("A_KEY", "old"));
        assert_eq!(p("setenv A_KEY v", Posix), pair("A_KEY", "v"));
        assert_eq!(p("echo A_KEY=v", Posix), None);
        assert_eq!(p("export PATH", Posix), None);
        assert_eq!(p("A KEY=v", Posix), None);
    }

    #[test]
    fn dotenv_forms() {
        use Dialect::DotEnv;
        assert_eq!(p("A_KEY=abc def  # c", DotEnv), pair("A_KEY", "abc def"));
        assert_eq!(p("A_KEY = \"q\"", DotEnv), pair("A_KEY", "q"));
        assert_eq!(p("export A_KEY=v", DotEnv), pair("A_KEY", "v"));
        assert_eq!(p("A_KEY=", DotEnv), pair("A_KEY", ""));
        assert_eq!(p("A_KEY: v", DotEnv), pair("A_KEY", "v"));
    }

    #[test]
    fn fish_forms() {
        use Dialect::Fish;
        assert_eq!(p("set -gx A_KEY abc", Fish), pair("A_KEY", "abc"));
        assert_eq!(p("set -U -x A_KEY 'q r'", Fish), pair("A_KEY", "q r"));
        assert_eq!(p("set --export A_KEY v", Fish), pair("A_KEY", "v"));
        assert_eq!(p("set fish_greeting", Fish), None);
    }

    #[test]
    fn powershell_forms() {
        use Dialect::PowerShell;
        assert_eq!(p("$env:A_KEY = \"abc\"", PowerShell), pair("A_KEY", "abc"));
        assert_eq!(p("$Env:A_KEY='abc'", PowerShell), pair("A_KEY", "abc"));
        assert_eq!(
            p(
                "[System.Environment]::SetEnvironmentVariable('A_KEY', 'v', 'User')",
                PowerShell
            ),
            pair("A_KEY", "v")
        );
        assert_eq!(p("Write-Host $env:A_KEY", PowerShell), None);
    }
}
