//! What the commands print on stdout: the one writer (stdout carries a
//! command's result and nothing else), the one table renderer (`list`,
//! `log`), and the escaping of text that came from outside (paths, labels,
//! tool names) before it reaches a terminal.

use crate::error::{CliError, Result};
use std::io::Write;

/// Writes a command's result to stdout and flushes it.
pub fn write_stdout(bytes: &[u8]) -> Result {
    let mut o = std::io::stdout().lock();
    o.write_all(bytes)
        .and_then(|_| o.flush())
        .map_err(|e| CliError::Failed(format!("cannot write to stdout: {e}")))
}

/// [`write_stdout`] for text.
pub fn print(text: &str) -> Result {
    write_stdout(text.as_bytes())
}

pub use sv_core::text::escape_control;

/// Columns padded to their widest cell (in characters), two spaces apart;
/// the last column unpadded. Cells are printed as given: escape outside
/// text with [`escape_control`] first.
/// Padding, pushed a slice at a time rather than a space at a time.
const SPACES: &str = "                                                                ";

pub fn render_table<const N: usize>(head: [&str; N], rows: &[[&str; N]]) -> String {
    let width = |c: &str| {
        if c.is_ascii() {
            c.len()
        } else {
            c.chars().count()
        }
    };
    let mut w: [usize; N] = head.map(width);
    let mut last = 0;
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(width(c));
        }
        last += r[N - 1].len() + 1;
    }
    let line_len: usize = w[..N - 1].iter().map(|n| n + 2).sum();
    let mut s = String::with_capacity((rows.len() + 1) * line_len + last + 64);
    let mut line = |cells: &[&str; N]| {
        for (i, c) in cells.iter().enumerate() {
            s.push_str(c);
            if i < N - 1 {
                let mut pad = (w[i] + 2).saturating_sub(width(c));
                while pad > 0 {
                    let n = pad.min(SPACES.len());
                    s.push_str(&SPACES[..n]);
                    pad -= n;
                }
            }
        }
        s.push('\n');
    };
    line(&head);
    for r in rows {
        line(r);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_by_characters_and_leaves_the_last_column() {
        let t = render_table(["A", "BB", "C"], &[["é", "x", "last"], ["long", "y", "z"]]);
        assert_eq!(t, "A     BB  C\né     x   last\nlong  y   z\n");
    }
}
