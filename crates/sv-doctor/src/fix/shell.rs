//! Rewriting shell profiles and `.env` files, and the rule that keeps them
//! parsing (docs/design.md §12): only a line that is one assignment
//! (`export X=…`, `X=…`, fish `set -gx X …`, PowerShell `$env:X = …`) at
//! the top level of the file is commented out (profiles) or dropped
//! (`.env`). A line inside an `if`, a function, a loop, a here-document or
//! a multi-line string, or one that shares its line with other commands
//! (`export A=1; export KEY=…; export PATH=…`), is left alone with a hint:
//! commenting it out could leave an empty `then` or lose the other
//! commands. A file whose blocks do not balance has no movable line.

use super::group::Group;
use crate::lines::Dialect;
use std::collections::{BTreeMap, BTreeSet};
use zeroize::Zeroizing;

/// The 1-based lines of `text` that `--fix` may replace.
pub fn movable_lines(text: &str, dialect: Dialect) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    let mut depth: i64 = 0;
    let mut quote: Option<char> = None;
    let mut heredoc: Option<String> = None;
    let mut continued = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(end) = &heredoc {
            if line.trim_start_matches('\t') == end {
                heredoc = None;
            }
            continue;
        }
        let top = depth == 0 && quote.is_none() && !continued;
        let scan = scan_line(line, dialect, quote);
        let is_comment = quote.is_none() && !continued && line.trim_start().starts_with('#');
        if top && (is_comment || (scan.single && scan.end_quote.is_none() && !scan.continues)) {
            out.insert(i + 1);
        }
        depth += scan.opens - scan.closes;
        if depth < 0 {
            return BTreeSet::new();
        }
        quote = scan.end_quote;
        continued = scan.continues;
        heredoc = scan.heredoc;
    }
    if depth != 0 || quote.is_some() || heredoc.is_some() {
        return BTreeSet::new();
    }
    out
}

/// What one line does to the file's structure.
struct LineScan {
    /// Block openers and closers outside quotes and comments.
    opens: i64,
    closes: i64,
    /// The quote still open at the end of the line.
    end_quote: Option<char>,
    /// Ends with a `\` line continuation (or PowerShell's backtick).
    continues: bool,
    /// A here-document starts: its delimiter.
    heredoc: Option<String>,
    /// The line is exactly one assignment (when it starts outside quotes).
    single: bool,
}

fn scan_line(line: &str, dialect: Dialect, start_quote: Option<char>) -> LineScan {
    let (openers, closers): (&[&str], &[&str]) = match dialect {
        Dialect::Posix | Dialect::DotEnv => (
            &["if", "case", "for", "while", "until", "select", "{"],
            &["fi", "esac", "done", "}"],
        ),
        Dialect::Fish => (
            &["if", "for", "while", "function", "switch", "begin"],
            &["end"],
        ),
        Dialect::PowerShell => (&["{"], &["}"]),
    };
    let escape = if dialect == Dialect::PowerShell {
        '`'
    } else {
        '\\'
    };
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut quote = start_quote;
    // Statement separators and other commands outside quotes.
    let mut separators = 0;
    let mut heredoc = None;
    let mut chars = line.chars().peekable();
    let mut continues = false;
    let flush = |word: &mut String, words: &mut Vec<String>| {
        if !word.is_empty() {
            words.push(std::mem::take(word));
        }
    };
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                if c == escape && q != '\'' {
                    chars.next();
                } else if c == q {
                    quote = None;
                }
                word.push('x');
            }
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    word.push('x');
                }
                c if c == escape => {
                    if chars.peek().is_none() {
                        continues = true;
                    }
                    chars.next();
                    word.push('x');
                }
                '#' if word.is_empty() => break,
                ' ' | '\t' => flush(&mut word, &mut words),
                ';' | '&' | '|' | '(' | ')' | '`' => {
                    flush(&mut word, &mut words);
                    separators += 1;
                }
                '<' if dialect == Dialect::Posix && chars.peek() == Some(&'<') => {
                    chars.next();
                    if chars.peek() == Some(&'<') {
                        // A here-string (`<<<`): one line.
                        chars.next();
                        separators += 1;
                        continue;
                    }
                    if chars.peek() == Some(&'-') {
                        chars.next();
                    }
                    let rest: String = chars.by_ref().collect();
                    let delim: String = rest
                        .trim_start()
                        .chars()
                        .take_while(|c| !c.is_whitespace() && !matches!(c, ';' | '&' | '|' | ')'))
                        .filter(|c| !matches!(c, '\'' | '"' | '\\'))
                        .collect();
                    if !delim.is_empty() {
                        heredoc = Some(delim);
                    }
                    separators += 1;
                    break;
                }
                '<' | '>' => {
                    flush(&mut word, &mut words);
                    separators += 1;
                }
                _ => word.push(c),
            },
        }
    }
    flush(&mut word, &mut words);
    let count = |set: &[&str]| words.iter().filter(|w| set.contains(&w.as_str())).count() as i64;
    let opens = count(openers);
    let closes = count(closers);
    let single = start_quote.is_none()
        && quote.is_none()
        && separators == 0
        && opens == 0
        && closes == 0
        && is_one_assignment(&words, dialect);
    LineScan {
        opens,
        closes,
        end_quote: quote,
        continues,
        heredoc,
        single,
    }
}

/// `words` (quotes already folded into single words) form one assignment.
fn is_one_assignment(words: &[String], dialect: Dialect) -> bool {
    let is_assign = |w: &str| {
        w.split_once('=')
            .is_some_and(|(n, _)| sv_core::tools::valid_var_name(n))
    };
    match dialect {
        Dialect::Posix | Dialect::DotEnv => {
            let mut rest = words;
            while let Some((first, tail)) = rest.split_first() {
                match first.as_str() {
                    "export" | "declare" | "typeset" | "readonly" | "-x" | "-gx" | "-r" => {
                        rest = tail
                    }
                    _ => break,
                }
            }
            match rest {
                [one] => is_assign(one),
                // csh `setenv NAME value`.
                [cmd, name, _] => cmd == "setenv" && sv_core::tools::valid_var_name(name),
                _ => false,
            }
        }
        Dialect::Fish => {
            let Some((first, tail)) = words.split_first() else {
                return false;
            };
            let args: Vec<&String> = tail.iter().filter(|w| !w.starts_with('-')).collect();
            first == "set" && args.len() == 2 && sv_core::tools::valid_var_name(args[0])
        }
        Dialect::PowerShell => match words {
            [one] => one.contains('='),
            [a, eq, _] => eq == "=" && a.to_ascii_lowercase().starts_with("$env:"),
            [one, _] => one.ends_with('='),
            _ => {
                words
                    .first()
                    .is_some_and(|w| w.to_ascii_lowercase().contains("setenvironmentvariable"))
                    && words.len() <= 4
            }
        },
    }
}

/// Comments out (profiles) or drops (`.env`) whole lines.
pub(super) struct LineEdit {
    comment: bool,
    lines: BTreeMap<usize, String>,
}

impl LineEdit {
    pub(super) fn comment_out() -> LineEdit {
        LineEdit {
            comment: true,
            lines: BTreeMap::new(),
        }
    }

    pub(super) fn drop_lines() -> LineEdit {
        LineEdit {
            comment: false,
            lines: BTreeMap::new(),
        }
    }

    /// Records the lines of one group; returns what changes, one line each.
    pub(super) fn record(&mut self, g: &Group<'_>, timestamp: &str) -> Vec<String> {
        let mut out = Vec::new();
        for f in &g.findings {
            let Some(line) = f.line else { continue };
            let var = f.variable.as_deref().unwrap_or("the key");
            let note = format!(
                "# session-vault doctor --fix {timestamp}: {var} moved into the vault; load it with `sv_load {}` or `session-vault exec --tool {} -- CMD`",
                g.tool, g.tool
            );
            if self.lines.insert(line, note).is_none() {
                out.push(if self.comment {
                    format!("line {line}: comment out {var} with a note (the key is not kept)")
                } else {
                    format!("line {line}: drop {var}")
                });
            }
        }
        out
    }

    pub(super) fn finish(self, original: &[u8]) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(original.len()));
        for (i, line) in original.split_inclusive(|b| *b == b'\n').enumerate() {
            match self.lines.get(&(i + 1)) {
                None => out.extend_from_slice(line),
                Some(note) if self.comment => {
                    let ending: &[u8] = if line.ends_with(b"\r\n") {
                        b"\r\n"
                    } else if line.ends_with(b"\n") {
                        b"\n"
                    } else {
                        b""
                    };
                    out.extend_from_slice(note.as_bytes());
                    out.extend_from_slice(ending);
                }
                Some(_) => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn movable(text: &str, d: Dialect) -> Vec<usize> {
        movable_lines(text, d).into_iter().collect()
    }

    #[test]
    fn only_single_top_level_assignments_move() {
        let text = "export A=1\nif [ -n \"$X\" ]; then\n  export B=2\nelse\n  export C=3\nfi\nexport FOO=1; export D=4; export PATH=\"$HOME/bin:$PATH\"\nE='x y' # c\nF=\"$(cmd)\"\nf() {\n  export G=1\n}\nexport H=1 I=2\n# export J=1\nexport K=a\\\n  b\nL=1\n";
        assert_eq!(movable(text, Dialect::Posix), vec![1, 8, 9, 14, 17]);
    }

    #[test]
    fn here_documents_and_multi_line_strings_are_not_top_level() {
        let text = "cat <<'EOF' > f\nexport A=1\nEOF\nB=\"one\nexport C=2\"\nD=1\n";
        assert_eq!(movable(text, Dialect::Posix), vec![6]);
    }

    #[test]
    fn unbalanced_files_have_no_movable_line() {
        assert!(movable("export A=1\nfi\nexport B=2\n", Dialect::Posix).is_empty());
        assert!(movable("if true; then\nexport A=1\n", Dialect::Posix).is_empty());
    }

    #[test]
    fn fish_and_powershell() {
        let fish =
            "set -gx A 1\nif status is-interactive\n  set -gx B 2\nend\nset -gx C 3; set -gx D 4\n";
        assert_eq!(movable(fish, Dialect::Fish), vec![1]);
        let ps = "$env:A = \"1\"\nif ($x) {\n  $env:B = \"2\"\n}\n$env:C = \"3\"; Write-Host hi\n";
        assert_eq!(movable(ps, Dialect::PowerShell), vec![1]);
    }
}
