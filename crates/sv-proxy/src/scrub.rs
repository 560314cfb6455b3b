//! Replacing the real key in a response stream, across chunk boundaries.
//!
//! A provider may echo the key it was sent (an error message, a debug
//! field). The proxy replaces every occurrence with the stand-in before the
//! agent sees it. A key can straddle two chunks, so the end of a chunk that
//! could be the start of the key is held back until the next chunk (or the
//! end of the stream) decides. Only such a prefix is held back: an SSE event
//! ends in `\n\n`, which no key starts with, so no event waits for the next.

use bytes::{Bytes, BytesMut};
use http::HeaderValue;
use zeroize::Zeroizing;

/// Streaming find-and-replace of one secret.
pub(crate) struct Scrubber {
    key: Zeroizing<Vec<u8>>,
    replacement: Zeroizing<Vec<u8>>,
    /// Bytes held back: a proper prefix of `key` seen at a chunk's end.
    carry: Zeroizing<Vec<u8>>,
}

impl Scrubber {
    pub(crate) fn new(key: &[u8], replacement: &[u8]) -> Self {
        Scrubber {
            key: Zeroizing::new(key.to_vec()),
            replacement: Zeroizing::new(replacement.to_vec()),
            carry: Zeroizing::new(Vec::new()),
        }
    }

    /// Whether the output keeps the input's length (so a Content-Length
    /// stays true).
    pub(crate) fn keeps_length(&self) -> bool {
        self.key.len() == self.replacement.len()
    }

    /// The next piece of output for `chunk`: everything that can no longer
    /// be part of the key, with the key replaced. Zero-copy when the chunk
    /// holds no key and carries nothing over.
    pub(crate) fn push(&mut self, chunk: Bytes) -> Bytes {
        if self.key.is_empty() {
            return chunk;
        }
        if self.carry.is_empty() && memchr::memmem::find(&chunk, &self.key).is_none() {
            let hold = self.prefix_at_end(&chunk);
            if hold == 0 {
                return chunk;
            }
            self.carry.extend_from_slice(&chunk[chunk.len() - hold..]);
            return chunk.slice(..chunk.len() - hold);
        }
        let mut joined = Zeroizing::new(std::mem::take(&mut *self.carry));
        joined.extend_from_slice(&chunk);
        let hold = self.prefix_at_end_after_replace(&joined);
        let (body, tail) = joined.split_at(joined.len() - hold);
        let out = self.replace_all(body);
        self.carry.extend_from_slice(tail);
        out
    }

    /// How many bytes are held back.
    pub(crate) fn held(&self) -> usize {
        self.carry.len()
    }

    /// What is still held back, at the end of the stream: a partial key is
    /// not the key, so it goes out as it is.
    pub(crate) fn finish(&mut self) -> Bytes {
        let out = Bytes::copy_from_slice(&self.carry);
        self.carry.clear();
        out
    }

    /// `value` with every occurrence of the key replaced.
    pub(crate) fn header(&self, value: &HeaderValue) -> Option<HeaderValue> {
        // Most header values are shorter than any key: no searcher is
        // built for them (a response has a dozen headers or more).
        let bytes = value.as_bytes();
        if self.key.is_empty()
            || bytes.len() < self.key.len()
            || memchr::memmem::find(bytes, &self.key).is_none()
        {
            return None;
        }
        HeaderValue::from_maybe_shared(self.replace_all(bytes)).ok()
    }

    fn replace_all(&self, hay: &[u8]) -> Bytes {
        let mut out = BytesMut::with_capacity(hay.len());
        let mut rest = hay;
        while let Some(at) = memchr::memmem::find(rest, &self.key) {
            out.extend_from_slice(&rest[..at]);
            out.extend_from_slice(&self.replacement);
            rest = &rest[at + self.key.len()..];
        }
        out.extend_from_slice(rest);
        out.freeze()
    }

    /// The length of the longest suffix of `hay` that is a proper prefix of
    /// the key.
    fn prefix_at_end(&self, hay: &[u8]) -> usize {
        let window = self.key.len() - 1;
        let start = hay.len().saturating_sub(window);
        let first = self.key[0];
        let mut from = start;
        while let Some(i) = memchr::memchr(first, &hay[from..]) {
            let at = from + i;
            if self.key.starts_with(&hay[at..]) {
                return hay.len() - at;
            }
            from = at + 1;
        }
        0
    }

    /// As [`Self::prefix_at_end`], but a held-back prefix must not overlap
    /// a whole key that is replaced before it.
    fn prefix_at_end_after_replace(&self, hay: &[u8]) -> usize {
        let mut last_end = 0;
        let mut rest = hay;
        while let Some(at) = memchr::memmem::find(rest, &self.key) {
            last_end += at + self.key.len();
            rest = &hay[last_end..];
        }
        self.prefix_at_end(&hay[last_end..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"sk-ant-api03-REALREALREAL";
    const STAND: &[u8] = b"sk-ant-api03-standinstand";

    fn run(chunks: &[&[u8]]) -> (Vec<u8>, Vec<usize>) {
        let mut s = Scrubber::new(KEY, STAND);
        let mut out = Vec::new();
        let mut sizes = Vec::new();
        for c in chunks {
            let o = s.push(Bytes::copy_from_slice(c));
            sizes.push(o.len());
            out.extend_from_slice(&o);
        }
        out.extend_from_slice(&s.finish());
        (out, sizes)
    }

    fn expected(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = input;
        while let Some(at) = memchr::memmem::find(rest, KEY) {
            out.extend_from_slice(&rest[..at]);
            out.extend_from_slice(STAND);
            rest = &rest[at + KEY.len()..];
        }
        out.extend_from_slice(rest);
        out
    }

    #[test]
    fn key_split_at_every_position() {
        let text = [
            b"error: key ".as_slice(),
            KEY,
            b" is invalid ",
            KEY,
            b"\n\n",
        ]
        .concat();
        for cut in 0..=text.len() {
            let (out, _) = run(&[&text[..cut], &text[cut..]]);
            assert_eq!(out, expected(&text), "cut at {cut}");
        }
    }

    #[test]
    fn key_split_over_many_chunks() {
        let text = [b"x".as_slice(), KEY, KEY, b"sk-ant", KEY, b"sk"].concat();
        let chunks: Vec<&[u8]> = text.chunks(3).collect();
        let (out, _) = run(&chunks);
        assert_eq!(out, expected(&text));
    }

    #[test]
    fn an_sse_event_is_never_held_back() {
        let (_, sizes) = run(&[b"data: {\"a\":1}\n\n", b"data: {\"b\":2}\n\n"]);
        assert_eq!(sizes, [15, 15]);
    }

    #[test]
    fn only_a_key_prefix_is_held() {
        let mut s = Scrubber::new(KEY, STAND);
        assert_eq!(&s.push(Bytes::from_static(b"abc sk-an"))[..], b"abc ");
        assert_eq!(&s.push(Bytes::from_static(b"t-api04"))[..], b"sk-ant-api04");
        assert_eq!(&s.finish()[..], b"");
    }

    proptest::proptest! {
        /// Any text made of key pieces and noise, cut anywhere into any
        /// number of chunks, comes out with exactly the whole keys replaced.
        #[test]
        fn any_chunking_replaces_exactly_the_keys(
            pieces in proptest::collection::vec(0usize..6, 0..12),
            cuts in proptest::collection::vec(0usize..400, 0..8),
        ) {
            let mut text = Vec::new();
            for p in pieces {
                match p {
                    0 => text.extend_from_slice(KEY),
                    1 => text.extend_from_slice(&KEY[..KEY.len() / 2]),
                    2 => text.extend_from_slice(&KEY[KEY.len() / 2..]),
                    3 => text.extend_from_slice(b"sk-"),
                    4 => text.extend_from_slice(b"data: {}\n\n"),
                    _ => text.extend_from_slice(STAND),
                }
            }
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(text.len())).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut from = 0;
            for c in cuts {
                chunks.push(&text[from..c]);
                from = c;
            }
            chunks.push(&text[from..]);
            let (out, _) = run(&chunks);
            proptest::prop_assert_eq!(out, expected(&text));
        }
    }

    #[test]
    fn headers_are_scrubbed() {
        let s = Scrubber::new(KEY, STAND);
        let v = HeaderValue::from_bytes(&[b"Bearer ".as_slice(), KEY].concat()).unwrap();
        assert_eq!(
            s.header(&v).unwrap().as_bytes(),
            [b"Bearer ".as_slice(), STAND].concat()
        );
        assert!(s.header(&HeaderValue::from_static("fine")).is_none());
    }
}
