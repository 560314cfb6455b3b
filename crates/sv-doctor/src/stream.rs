//! Scanning files too large to read whole: Claude Code transcripts grow to
//! gigabytes, shell histories to megabytes.
//!
//! A file is read in 1 MiB chunks into one zeroising buffer; one compiled
//! regular expression (every provider format, and the names of the tools'
//! variables) runs over each chunk, so the literal prefixes (`sk-`, `AIza`,
//! `ANTHROPIC_API_KEY`, …) are found by the regex crate's vectorised
//! prefilter and the rest of the text is skipped at memory speed. Lines are
//! counted only up to each hit and at the end of each chunk. A key that
//! straddles two chunks is found whole: the last [`OVERLAP`] bytes of a chunk
//! are searched again with the next one, and a hit is reported only by the
//! chunk it starts in.

use crate::formats::{is_filler, is_placeholder, standalone, Provider, MIN_KEY_LEN, PROVIDERS};
use crate::Detector;
use regex::bytes::Regex;
use std::io::Read;
use zeroize::Zeroizing;

/// Bytes read at a time.
pub const CHUNK: usize = 1 << 20;

/// Bytes searched twice at a chunk boundary: more than the longest key
/// (an OpenAI project key is at most 416 characters) with its variable name.
pub const OVERLAP: usize = 1024;

/// One key in a stream.
pub struct StreamHit {
    /// 1-based line.
    pub line: usize,
    /// Byte offset in the file.
    pub offset: u64,
    /// The key itself (zeroised on drop).
    pub value: Zeroizing<String>,
    pub provider: Option<&'static Provider>,
    /// The tool variable it was assigned to, when one was.
    pub variable: Option<String>,
}

/// The compiled search for one tool table.
pub struct Matcher {
    any: Regex,
    /// Each provider's format, anchored at both ends, in [`PROVIDERS`] order.
    exact: Vec<Regex>,
    /// The tools' variable names, also searched for.
    names: Vec<String>,
}

impl Matcher {
    pub fn new(det: &Detector) -> Matcher {
        let mut names: Vec<String> = det.tools.all_vars().map(|(_, v)| v.to_owned()).collect();
        names.sort();
        names.dedup();
        let mut alts: Vec<String> = PROVIDERS.iter().map(|p| p.pattern.to_owned()).collect();
        alts.extend(names.iter().map(|n| regex::escape(n)));
        let any = Regex::new(&alts.join("|")).expect("key patterns and escaped names are valid");
        let exact = PROVIDERS
            .iter()
            .map(|p| Regex::new(&format!("^(?:{})$", p.pattern)).expect("valid pattern"))
            .collect();
        Matcher { any, exact, names }
    }

    fn provider(&self, m: &[u8]) -> Option<&'static Provider> {
        PROVIDERS
            .iter()
            .zip(&self.exact)
            .find(|(_, re)| re.is_match(m))
            .map(|(p, _)| p)
    }

    /// Every key in `r`, in order; `hit` is called once per occurrence.
    pub fn scan(&self, r: &mut dyn Read, hit: impl FnMut(StreamHit)) -> std::io::Result<()> {
        self.scan_with(r, true, hit)
    }

    /// Like [`Matcher::scan`], but every hit has line 0: lines are not
    /// counted, which saves a pass over a large file that holds no key (see
    /// [`lines_at`] for the hits' lines afterwards).
    pub fn scan_offsets(
        &self,
        r: &mut dyn Read,
        hit: impl FnMut(StreamHit),
    ) -> std::io::Result<()> {
        self.scan_with(r, false, hit)
    }

    fn scan_with(
        &self,
        r: &mut dyn Read,
        lines: bool,
        mut hit: impl FnMut(StreamHit),
    ) -> std::io::Result<()> {
        let count_lines = |b: &[u8]| if lines { count_lines(b) } else { 0 };
        let mut buf = Zeroizing::new(vec![0u8; CHUNK + OVERLAP]);
        // buf[..len] holds text; buf[..carried] was searched before.
        let mut len = 0;
        let mut carried = 0;
        // Line number and file offset of buf[0].
        let mut line = 1usize;
        let mut offset = 0u64;
        loop {
            let mut eof = false;
            while len < buf.len() {
                match r.read(&mut buf[len..]) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => len += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            let text = &buf[..len];
            // Hits that start before `limit` belong to this chunk.
            let limit = if eof { len } else { len - OVERLAP };
            let mut counted = 0;
            let mut pending_var: Option<(usize, String)> = None;
            for m in self.any.find_iter(text) {
                if m.start() >= limit {
                    break;
                }
                let whole = m.as_bytes();
                // A variable name: the value follows it on the same line.
                if self.names.iter().any(|n| n.as_bytes() == whole) {
                    if let Some((at, value)) = assigned_value(text, m.start(), m.end()) {
                        let name = String::from_utf8_lossy(whole).into_owned();
                        let v = &text[at..at + value];
                        if self.provider(v).is_some() {
                            pending_var = Some((at, name));
                        } else if let Ok(v) = std::str::from_utf8(v) {
                            if m.start() >= carried && v.len() >= MIN_KEY_LEN && !is_placeholder(v)
                            {
                                line += count_lines(&text[counted..m.start()]);
                                counted = m.start();
                                hit(StreamHit {
                                    line,
                                    offset: offset + at as u64,
                                    value: Zeroizing::new(v.to_owned()),
                                    provider: None,
                                    variable: Some(name),
                                });
                            }
                        }
                    }
                    continue;
                }
                if m.start() < carried {
                    continue;
                }
                if !standalone(text, m.start(), m.end()) || is_filler(whole) {
                    continue;
                }
                let Some(provider) = self.provider(whole) else {
                    continue;
                };
                let Ok(v) = std::str::from_utf8(whole) else {
                    continue;
                };
                line += count_lines(&text[counted..m.start()]);
                counted = m.start();
                let variable = pending_var
                    .take()
                    .filter(|(at, _)| *at == m.start())
                    .map(|(_, n)| n);
                hit(StreamHit {
                    line,
                    offset: offset + m.start() as u64,
                    value: Zeroizing::new(v.to_owned()),
                    provider: Some(provider),
                    variable,
                });
            }
            if eof {
                return Ok(());
            }
            // Keep the overlap (and one byte before it, for the boundary check).
            let keep_from = limit - 1;
            line += count_lines(&text[counted..keep_from]);
            offset += keep_from as u64;
            buf.copy_within(keep_from..len, 0);
            len -= keep_from;
            carried = limit - keep_from;
        }
    }
}

fn count_lines(b: &[u8]) -> usize {
    b.iter().filter(|c| **c == b'\n').count()
}

/// The 1-based line of each offset (ascending) in `r`.
pub fn lines_at(r: &mut dyn Read, offsets: &[u64]) -> std::io::Result<Vec<usize>> {
    let mut out = Vec::with_capacity(offsets.len());
    let mut buf = Zeroizing::new(vec![0u8; CHUNK]);
    let (mut at, mut line) = (0u64, 1usize);
    let mut next = offsets.iter().peekable();
    while next.peek().is_some() {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut from = 0usize;
        while let Some(&&o) = next.peek() {
            if o >= at + n as u64 {
                break;
            }
            let upto = (o - at) as usize;
            line += count_lines(&buf[from..upto]);
            from = upto;
            out.push(line);
            next.next();
        }
        line += count_lines(&buf[from..n]);
        at += n as u64;
    }
    Ok(out)
}

/// Where the value assigned to the variable at `text[start..end]` sits, as
/// (offset, length): `NAME=v`, `NAME: v`, `"NAME": "v"`, `\"NAME\":\"v\"`
/// (JSON inside JSON, as in transcripts), and `set -gx NAME v` (fish).
/// `$NAME` and `${NAME}` are references, not assignments.
pub fn assigned_value(text: &[u8], start: usize, end: usize) -> Option<(usize, usize)> {
    let before = start.checked_sub(1).map(|i| text[i]);
    let escaped = start >= 2 && text[start - 2] == b'\\';
    if before.is_some_and(|b| {
        ((b.is_ascii_alphanumeric() || b == b'_') && !escaped) || b == b'$' || b == b'{'
    }) {
        return None;
    }
    let after = text.get(end).copied();
    if after.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let mut i = end;
    let skip_quotes = |i: &mut usize| {
        while *i < text.len() && matches!(text[*i], b'"' | b'\'' | b'\\') {
            *i += 1;
        }
    };
    let skip_blanks = |i: &mut usize| {
        while *i < text.len() && matches!(text[*i], b' ' | b'\t') {
            *i += 1;
        }
    };
    skip_quotes(&mut i);
    skip_blanks(&mut i);
    if i < text.len() && matches!(text[i], b'=' | b':') {
        i += 1;
    } else if i == end || !fish_set_before(&text[start.saturating_sub(64)..start]) {
        // Only fish's `set -gx NAME value` separates with a blank.
        return None;
    }
    skip_blanks(&mut i);
    skip_quotes(&mut i);
    let from = i;
    while i < text.len()
        && !matches!(
            text[i],
            b' ' | b'\t'
                | b'\n'
                | b'\r'
                | b'"'
                | b'\''
                | b'\\'
                | b';'
                | b'&'
                | b'|'
                | b')'
                | b','
                | b'}'
                | b'`'
        )
    {
        i += 1;
    }
    (i > from).then_some((from, i - from))
}

/// Whether the text before a name ends in a fish `set` with its flags.
fn fish_set_before(b: &[u8]) -> bool {
    let s = String::from_utf8_lossy(b);
    let line = s.rsplit(['\n', ';']).next().unwrap_or("");
    let mut words = line.split_whitespace().rev();
    for w in words.by_ref() {
        if w == "set" {
            return true;
        }
        if !w.starts_with('-') {
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::samples::*;
    use sv_core::ToolTable;

    fn all(text: &[u8], chunked: bool) -> Vec<(usize, String, Option<String>)> {
        let m = Matcher::new(&Detector::new(ToolTable::builtin()));
        let mut out = Vec::new();
        let mut r: Box<dyn Read> = if chunked {
            // One byte at a time does not change what is found.
            Box::new(OneByte(text, 0))
        } else {
            Box::new(text)
        };
        m.scan(&mut r, |h| {
            out.push((h.line, h.value.to_string(), h.variable))
        })
        .unwrap();
        out
    }

    struct OneByte<'a>(&'a [u8], usize);
    impl Read for OneByte<'_> {
        fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
            if self.1 >= self.0.len() || b.is_empty() {
                return Ok(0);
            }
            b[0] = self.0[self.1];
            self.1 += 1;
            Ok(1)
        }
    }

    #[test]
    fn finds_keys_by_format_and_by_name_with_lines() {
        let a = anthropic(1);
        let o = opaque(2);
        let text = format!(
            "{{\"type\":\"user\",\"text\":\"hi\"}}\n{{\"out\":\"ok\\n{a}\\n\"}}\n\
             {{\"out\":\"ANTHROPIC_API_KEY={o}\\nPATH=/bin\"}}\n\
             {{\"env\":{{\\\"OPENAI_API_KEY\\\": \\\"{a}\\\"}}}}\necho $CURSOR_API_KEY-is-a-reference-x\n"
        );
        let hits = all(text.as_bytes(), false);
        assert_eq!(
            hits,
            vec![
                (2, a.clone(), None),
                (3, o.clone(), Some("ANTHROPIC_API_KEY".into())),
                (4, a.clone(), Some("OPENAI_API_KEY".into())),
            ]
        );
        assert_eq!(all(text.as_bytes(), true), hits);
    }

    #[test]
    fn keys_across_chunk_boundaries_are_found_once() {
        let k = google(3);
        for pad in [
            CHUNK - 10,
            CHUNK - OVERLAP - 5,
            CHUNK - OVERLAP + 3,
            CHUNK + 7,
            2 * CHUNK - 900,
        ] {
            let mut text = vec![b'a'; pad];
            text.push(b'\n');
            text.extend_from_slice(k.as_bytes());
            text.extend_from_slice(b"\nmore\n");
            text.extend(std::iter::repeat_n(b'b', CHUNK));
            let hits = all(&text, false);
            assert_eq!(hits, vec![(2, k.clone(), None)], "pad {pad}");
        }
    }

    #[test]
    fn fish_and_history_forms() {
        let o = opaque(4);
        let text = format!(
            "- cmd: set -gx CURSOR_API_KEY {o}\n  when: 1\n: 1700000000:0;export GEMINI_API_KEY='{o}'\nCURSOR_API_KEY is what you need to set\n"
        );
        let hits = all(text.as_bytes(), false);
        assert_eq!(
            hits.len(),
            2,
            "{:?}",
            hits.iter().map(|h| h.0).collect::<Vec<_>>()
        );
        assert_eq!((hits[0].0, hits[1].0), (1, 3));
        assert_eq!(hits[1].2.as_deref(), Some("GEMINI_API_KEY"));
    }
}
