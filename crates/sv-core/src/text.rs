//! Text that came from outside (paths, labels, tool names, file names)
//! made safe to print on a terminal (docs/design.md §3): `list`, `log` and
//! `doctor` all escape it with [`escape_control`].

use std::borrow::Cow;

/// `s` with every control character written as a Rust escape (`\u{1b}`,
/// `\n`), so a project directory or tool name cannot move the cursor,
/// retitle the window or clear the screen of whoever lists it. Borrowed
/// when there is nothing to escape (the common case).
pub fn escape_control(s: &str) -> Cow<'_, str> {
    if !may_hold_control(s) || !s.chars().any(char::is_control) {
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

/// Whether `s` holds a byte that starts or is a control character: C0
/// (below 0x20), DEL (0x7f), or 0xC2, which leads C1 (U+0080..U+009F) and
/// a few printable characters. Nearly every path has none, and is judged a
/// byte at a step, without decoding characters (`list` of 100 000
/// sessions escapes four cells a row).
fn may_hold_control(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 || b == 0x7f || b == 0xc2)
}

/// `text` with every line's control characters escaped
/// ([`escape_control`]) and its line breaks kept: for a whole report built
/// from outside text.
pub fn escape_lines(text: &str) -> Cow<'_, str> {
    if !may_hold_control(text) || !text.chars().any(|c| c.is_control() && c != '\n') {
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
    fn the_byte_scan_agrees_with_char_is_control() {
        // Every control character of the first 256 code points, and the
        // printable ones that share 0xC2 with C1 (nbsp, section sign).
        for c in (0u32..=0x2ff).filter_map(char::from_u32) {
            let s = format!("/p/{c}/x");
            let borrowed = matches!(escape_control(&s), Cow::Borrowed(_));
            assert_eq!(borrowed, !c.is_control(), "{:#x}", c as u32);
            if c.is_control() {
                assert!(!escape_control(&s).chars().any(char::is_control));
            }
        }
        assert!(matches!(
            escape_control("/home/\u{a0}\u{a7}é"),
            Cow::Borrowed(_)
        ));
    }

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
