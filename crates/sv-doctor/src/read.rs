//! Reading a candidate file without ever crashing or hanging on it.
//!
//! Too large, binary, unreadable, not a regular file (a FIFO named `.env`
//! would block a plain read) or behind a loop of symlinks: each comes back as
//! a [`SkipReason`] that the report names. The bytes read hold secrets, so
//! they live in a zeroising buffer.

use serde::Serialize;
use std::io::Read;
use std::path::Path;
use zeroize::Zeroizing;

/// Largest file doctor reads.
pub const MAX_FILE: u64 = 1024 * 1024;

/// `~/.claude.json` is Claude Code's state file, which grows with its
/// history; it also holds user-scoped MCP servers, so it gets a larger limit.
pub const MAX_CLAUDE_STATE: u64 = 16 * 1024 * 1024;

/// The size limit for `path`.
pub fn limit_for(path: &Path) -> u64 {
    if path.file_name().is_some_and(|n| n == ".claude.json") {
        MAX_CLAUDE_STATE
    } else {
        MAX_FILE
    }
}

/// Why a file was not checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason", content = "detail")]
pub enum SkipReason {
    TooLarge(u64),
    Binary,
    SymlinkLoop,
    NotRegular,
    Unreadable(String),
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::TooLarge(n) => write!(f, "too large to check ({n} bytes)"),
            SkipReason::Binary => f.write_str("binary, not checked"),
            SkipReason::SymlinkLoop => {
                f.write_str("a loop of symbolic links; fix or remove the link")
            }
            SkipReason::NotRegular => f.write_str("not a regular file, not checked"),
            SkipReason::Unreadable(e) => {
                write!(f, "unreadable ({e}); check the file and its permissions")
            }
        }
    }
}

/// A file's contents, as text when it is UTF-8.
pub struct FileText {
    pub bytes: Zeroizing<Vec<u8>>,
    /// `None` when the file is not valid UTF-8 (scanned lossily, never rewritten).
    pub utf8: bool,
}

impl FileText {
    /// The text (lossy for non-UTF-8 files), in a zeroising buffer.
    pub fn text(&self) -> Zeroizing<String> {
        Zeroizing::new(String::from_utf8_lossy(&self.bytes).into_owned())
    }
}

/// Reads `path`: `Ok(None)` when it does not exist (or is a dangling link).
pub fn read_candidate(path: &Path) -> Result<Option<FileText>, SkipReason> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return classify_missing(path, e),
    };
    if !meta.is_file() {
        return if meta.is_dir() {
            Ok(None)
        } else {
            Err(SkipReason::NotRegular)
        };
    }
    let limit = limit_for(path);
    if meta.len() > limit {
        return Err(SkipReason::TooLarge(meta.len()));
    }
    let file = std::fs::File::open(path).map_err(|e| classify_open(&e))?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(meta.len() as usize));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| SkipReason::Unreadable(e.to_string()))?;
    if bytes.len() as u64 > limit {
        return Err(SkipReason::TooLarge(bytes.len() as u64));
    }
    if bytes.contains(&0) {
        return Err(SkipReason::Binary);
    }
    let utf8 = std::str::from_utf8(&bytes).is_ok();
    if !utf8 {
        // Text in a legacy encoding is still scanned; mostly-invalid bytes are binary.
        let lossy = String::from_utf8_lossy(&bytes);
        let bad = lossy
            .chars()
            .filter(|c| *c == char::REPLACEMENT_CHARACTER)
            .count();
        if bad * 10 > bytes.len().max(1) {
            return Err(SkipReason::Binary);
        }
    }
    Ok(Some(FileText { bytes, utf8 }))
}

fn classify_missing(path: &Path, e: std::io::Error) -> Result<Option<FileText>, SkipReason> {
    if e.raw_os_error() == Some(libc::ELOOP) {
        return Err(SkipReason::SymlinkLoop);
    }
    match e.kind() {
        std::io::ErrorKind::NotFound => Ok(None),
        std::io::ErrorKind::NotADirectory => Ok(None),
        _ => {
            // A parent we may not enter: say so rather than pretend it is absent.
            if path.symlink_metadata().is_err() && e.kind() != std::io::ErrorKind::PermissionDenied
            {
                Ok(None)
            } else {
                Err(classify_open(&e))
            }
        }
    }
}

fn classify_open(e: &std::io::Error) -> SkipReason {
    if e.raw_os_error() == Some(libc::ELOOP) {
        SkipReason::SymlinkLoop
    } else {
        SkipReason::Unreadable(e.kind().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_files_are_reported_not_fatal() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        assert!(read_candidate(&p.join("absent")).unwrap().is_none());
        std::fs::write(p.join("big"), vec![b'a'; (MAX_FILE + 1) as usize]).unwrap();
        assert!(matches!(
            read_candidate(&p.join("big")),
            Err(SkipReason::TooLarge(_))
        ));
        std::fs::write(p.join("bin"), b"ANTHROPIC_API_KEY=\0\x01\x02").unwrap();
        assert_eq!(
            read_candidate(&p.join("bin")).err(),
            Some(SkipReason::Binary)
        );
        std::os::unix::fs::symlink(p.join("loop-b"), p.join("loop-a")).unwrap();
        std::os::unix::fs::symlink(p.join("loop-a"), p.join("loop-b")).unwrap();
        assert_eq!(
            read_candidate(&p.join("loop-a")).err(),
            Some(SkipReason::SymlinkLoop)
        );
        std::os::unix::fs::symlink(p.join("nowhere"), p.join("dangling")).unwrap();
        assert!(read_candidate(&p.join("dangling")).unwrap().is_none());
        std::fs::write(p.join("ok"), "A=1\n").unwrap();
        let t = read_candidate(&p.join("ok")).unwrap().unwrap();
        assert!(t.utf8);
        assert_eq!(&*t.text(), "A=1\n");
        let fifo = std::ffi::CString::new(p.join("fifo").to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid C string.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert_eq!(
            read_candidate(&p.join("fifo")).err(),
            Some(SkipReason::NotRegular)
        );
    }

    #[test]
    fn unreadable_files_are_reported() {
        // Root reads any mode, so use a file whose read fails for anyone.
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("mem");
        std::os::unix::fs::symlink("/proc/self/mem", &f).unwrap();
        assert!(matches!(read_candidate(&f), Err(SkipReason::Unreadable(_))));
    }
}
