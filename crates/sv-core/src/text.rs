//! Text that came from outside (paths, labels, tool names, file names)
//! made safe to print on a terminal (docs/design.md §3): `list`, `log` and
//! `doctor` all escape it with [`escape_control`].

use std::borrow::Cow;

/// `s` with every control character written as a Rust escape (`\u{1b}`,
/// `\n`), so a project directory or tool name cannot move the cursor,
/// retitle the window or clear the screen of whoever lists it. Borrowed
/// when there is nothing to escape (the common case).
pub fn escape_control(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` with every line's control characters escaped
/// ([`escape_control`]) and its line breaks kept: for a whole report built
/// from outside text.
pub fn escape_lines(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.split('\n')
            .map(escape_control)
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_plain_text_is_borrowed() {
        let hostile = "/p/\u{1b}[2J\u{1b}]0;pwned\u{7}x\u{9b}y";
        let e = escape_control(hostile);
        assert_eq!(e, "/p/\\u{1b}[2J\\u{1b}]0;pwned\\u{7}x\\u{9b}y");
        assert!(!e.chars().any(char::is_control));
        assert!(matches!(escape_control("/home/é/app"), Cow::Borrowed(_)));
        assert_eq!(escape_control("a\nb\tc"), "a\\nb\\tc");
    }

    #[test]
    fn lines_keep_their_breaks() {
        assert!(matches!(escape_lines("a\nb\n"), Cow::Borrowed(_)));
        assert_eq!(
            escape_lines("ok\n/p/\u{1b}[2J\u{7}\nend\n"),
            "ok\n/p/\\u{1b}[2J\\u{7}\nend\n"
        );
    }
}
