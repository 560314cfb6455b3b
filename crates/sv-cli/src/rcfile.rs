//! The one marked block that `install` adds to a shell's startup file, and
//! its exact removal by `uninstall`; plus the reads and atomic replacements
//! anchored on the file's opened directory that both (and `integrate`) use
//! (docs/design.md §12).
//!
//! The block is appended in the file's own line-ending style:
//!
//! ```text
//! # >>> session-vault >>>
//! # Added by `session-vault install --shell bash`; `session-vault uninstall --shell bash` removes it.
//! if command -v session-vault >/dev/null 2>&1; then eval "$(session-vault init bash)"; fi
//! # <<< session-vault <<<
//! ```
//!
//! When `install` had to add a line break first (the file did not end with
//! one) or had to create the file, the start marker says so, so that
//! `uninstall` gives back the file's exact bytes (or removes the file). The
//! work is done on bytes: a startup file need not be UTF-8. This module does
//! not decide which file a shell reads; `shell` does.

use std::path::{Path, PathBuf};

const START: &[u8] = b"# >>> session-vault >>>";
const START_ADDED_NEWLINE: &[u8] =
    b"# >>> session-vault (added the line break before this block) >>>";
const START_CREATED_FILE: &[u8] = b"# >>> session-vault (created this file) >>>";
const END: &[u8] = b"# <<< session-vault <<<";

/// What `install` had to do to the file besides appending the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockOrigin {
    /// The file ended with a line break (or was empty).
    Appended,
    /// The file's last line had no line break: one was added before the block.
    AddedNewline,
    /// The file did not exist.
    CreatedFile,
}

impl BlockOrigin {
    fn marker(self) -> &'static [u8] {
        match self {
            BlockOrigin::Appended => START,
            BlockOrigin::AddedNewline => START_ADDED_NEWLINE,
            BlockOrigin::CreatedFile => START_CREATED_FILE,
        }
    }

    fn from_marker(line: &[u8]) -> Option<Self> {
        [
            BlockOrigin::Appended,
            BlockOrigin::AddedNewline,
            BlockOrigin::CreatedFile,
        ]
        .into_iter()
        .find(|o| o.marker() == line)
    }
}

/// A block found in a file: its byte range (through the end marker's line
/// break, if any) and how it was added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FoundBlock {
    start: usize,
    end: usize,
    origin: BlockOrigin,
}

/// Why a file's block cannot be handled.
#[derive(Debug, PartialEq, Eq)]
pub enum BlockError {
    /// A start marker without its end marker: hand-edited, left alone.
    Unterminated,
}

/// The lines of `content` as (start, end of text, end including line break).
fn lines(content: &[u8]) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= content.len() {
            return None;
        }
        let start = pos;
        let (text_end, next) = match content[start..].iter().position(|&b| b == b'\n') {
            Some(i) => {
                let nl = start + i;
                let text_end = if nl > start && content[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                (text_end, nl + 1)
            }
            None => (content.len(), content.len()),
        };
        pos = next;
        Some((start, text_end, next))
    })
}

/// Every session-vault block in `content`, in order.
fn find_blocks(content: &[u8]) -> Result<Vec<FoundBlock>, BlockError> {
    let mut found = Vec::new();
    let mut open: Option<(usize, BlockOrigin)> = None;
    for (start, text_end, next) in lines(content) {
        let text = &content[start..text_end];
        match open {
            None => {
                if let Some(origin) = BlockOrigin::from_marker(text) {
                    open = Some((start, origin));
                }
            }
            Some((s, origin)) => {
                if text == END {
                    found.push(FoundBlock {
                        start: s,
                        end: next,
                        origin,
                    });
                    open = None;
                } else if BlockOrigin::from_marker(text).is_some() {
                    return Err(BlockError::Unterminated);
                }
            }
        }
    }
    if open.is_some() {
        return Err(BlockError::Unterminated);
    }
    Ok(found)
}

/// The line break the file already uses: CRLF when its first line ends so.
fn line_break(content: &[u8]) -> &'static [u8] {
    match content.iter().position(|&b| b == b'\n') {
        Some(i) if i > 0 && content[i - 1] == b'\r' => b"\r\n",
        _ => b"\n",
    }
}

/// The block's bytes: start marker, `body` lines, end marker, each ended by `eol`.
fn render_block(origin: BlockOrigin, body: &[&str], eol: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(origin.marker());
    b.extend_from_slice(eol);
    for line in body {
        b.extend_from_slice(line.as_bytes());
        b.extend_from_slice(eol);
    }
    b.extend_from_slice(END);
    b.extend_from_slice(eol);
    b
}

/// The outcome of adding the block.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    /// The same block was already there: nothing to write.
    AlreadyPresent,
    /// New content: the block was added, or an older block's lines replaced.
    Changed { content: Vec<u8>, replaced: bool },
}

/// Adds the block holding `body` to `content` (`None`: the file does not
/// exist). A block already there keeps its place and origin; only its lines
/// are brought up to date.
pub fn add_block(content: Option<&[u8]>, body: &[&str]) -> Result<Added, BlockError> {
    let Some(content) = content else {
        let block = render_block(BlockOrigin::CreatedFile, body, b"\n");
        return Ok(Added::Changed {
            content: block,
            replaced: false,
        });
    };
    let eol = line_break(content);
    let blocks = find_blocks(content)?;
    if let Some(first) = blocks.first() {
        // Keep the first block (updated), drop any duplicates a hand edit made.
        let block_eol: &[u8] = if content[..first.end].ends_with(b"\r\n") {
            b"\r\n"
        } else {
            eol
        };
        let fresh = render_block(first.origin, body, block_eol);
        let mut out = Vec::with_capacity(content.len());
        let mut pos = 0;
        for (i, b) in blocks.iter().enumerate() {
            out.extend_from_slice(&content[pos..b.start]);
            if i == 0 {
                out.extend_from_slice(&fresh);
            }
            pos = b.end;
        }
        out.extend_from_slice(&content[pos..]);
        if out == content {
            return Ok(Added::AlreadyPresent);
        }
        return Ok(Added::Changed {
            content: out,
            replaced: true,
        });
    }
    let mut out = content.to_vec();
    let origin = if content.is_empty() || content.ends_with(b"\n") {
        BlockOrigin::Appended
    } else {
        out.extend_from_slice(eol);
        BlockOrigin::AddedNewline
    };
    out.extend_from_slice(&render_block(origin, body, eol));
    Ok(Added::Changed {
        content: out,
        replaced: false,
    })
}

/// The outcome of removing the block.
#[derive(Debug, PartialEq, Eq)]
pub enum Removed {
    /// No block in the file.
    NotPresent,
    /// The file's content without the block.
    Content(Vec<u8>),
    /// `install` created the file and nothing else is in it: delete it.
    DeleteFile,
}

/// Removes every session-vault block from `content`, undoing what `install`
/// did: the line break it added goes too while the block is still the end
/// of the file (had anything been appended after it, the user's lines keep
/// the line break that separates them).
pub fn remove_block(content: &[u8]) -> Result<Removed, BlockError> {
    let blocks = find_blocks(content)?;
    if blocks.is_empty() {
        return Ok(Removed::NotPresent);
    }
    let mut out = Vec::with_capacity(content.len());
    let mut pos = 0;
    let mut created = false;
    for b in &blocks {
        let mut start = b.start;
        match b.origin {
            BlockOrigin::AddedNewline if b.end == content.len() => {
                if content[..start].ends_with(b"\r\n") {
                    start -= 2;
                } else if content[..start].ends_with(b"\n") {
                    start -= 1;
                }
            }
            BlockOrigin::CreatedFile => created = true,
            _ => {}
        }
        out.extend_from_slice(&content[pos..start.max(pos)]);
        pos = b.end;
    }
    out.extend_from_slice(&content[pos..]);
    if created && out.is_empty() {
        return Ok(Removed::DeleteFile);
    }
    Ok(Removed::Content(out))
}

/// The file to write for `path`, with every link resolved now, when the
/// edit is planned: a symlink's target (a dotfile managed through a link
/// stays a link), in a directory named without links (its nearest existing
/// ancestor canonicalised). The write then opens that directory without
/// following any link ([`write_anchored`]): a directory swapped for a
/// symlink in between is refused.
pub fn resolve_target(path: &Path) -> std::io::Result<PathBuf> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return std::fs::canonicalize(path);
    }
    let Some(name) = path.file_name() else {
        return Ok(path.to_owned());
    };
    let mut missing = vec![name.to_owned()];
    let mut dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    while let Some(d) = dir {
        match std::fs::canonicalize(d) {
            Ok(mut c) => {
                c.extend(missing.iter().rev());
                return Ok(c);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                missing.extend(d.file_name().map(ToOwned::to_owned));
                dir = d.parent().filter(|d| !d.as_os_str().is_empty());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(path.to_owned())
}

/// Reads `path` (planned by [`resolve_target`]) through its directory,
/// following no link; `Ok(None)` when it does not exist.
pub fn read_optional(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    let (dir, name) = match sv_fs::Dir::of_file(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(dir.read(name)?.map(|b| b.to_vec()))
}

/// Replaces `path` (planned by [`resolve_target`]) with `bytes`
/// atomically, on its directory opened without following any link (see
/// `sv_fs::Dir`): the old file's mode is kept (`new_mode` for a new file,
/// whose missing directories are created). A failure leaves the old file
/// as it was and no temporary file behind.
pub fn write_anchored(path: &Path, bytes: &[u8], new_mode: u32) -> std::io::Result<()> {
    let (dir, name) = open_creating(path)?;
    dir.replace(name, bytes, new_mode)
}

/// As [`write_anchored`], but only while the file still holds `expected`
/// (`None`: it must not exist), read through the same opened directory.
pub fn write_checked(
    path: &Path,
    expected: Option<&[u8]>,
    bytes: &[u8],
    new_mode: u32,
) -> std::io::Result<()> {
    let (dir, name) = open_creating(path)?;
    dir.edit(name, expected, bytes, new_mode, None)
        .map(|_| ())
        .map_err(|e| match e {
            sv_fs::EditError::Changed => std::io::Error::other(
                "it changed while session-vault was editing it; run this again",
            ),
            sv_fs::EditError::Failed(m) => std::io::Error::other(m),
        })
}

/// The directory of `path` (created if missing, following no link) and
/// the file's name.
fn open_creating(path: &Path) -> std::io::Result<(sv_fs::Dir, &std::ffi::OsStr)> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file")
    })?;
    Ok((
        sv_fs::Dir::create_all(parent.unwrap_or(Path::new(".")), 0o755)?,
        name,
    ))
}

/// Removes `path` (planned by [`resolve_target`]) on its directory opened
/// without following any link.
pub fn remove_anchored(path: &Path) -> std::io::Result<()> {
    let (dir, name) = sv_fs::Dir::of_file(path)?;
    dir.remove(name)
}

/// Replaces `path` with `bytes` atomically, following the links in its
/// directory's path as they are now (service files; not a user's edit).
pub fn write_atomic(path: &Path, bytes: &[u8], new_mode: u32) -> std::io::Result<()> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = std::fs::canonicalize(parent.unwrap_or(Path::new(".")))?;
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file")
    })?;
    write_anchored(&dir.join(name), bytes, new_mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[&str] = &["# added by test", "eval \"$(session-vault init bash)\""];

    fn install(content: Option<&[u8]>) -> Vec<u8> {
        match add_block(content, BODY).unwrap() {
            Added::Changed { content, .. } => content,
            Added::AlreadyPresent => panic!("expected a change"),
        }
    }

    /// Install then uninstall gives back exactly what was there.
    #[test]
    fn uninstall_restores_every_kind_of_file() {
        let originals: &[&[u8]] = &[
            b"",
            b"a",
            b"a\n",
            b"a\r\n",
            b"a\r\nb",
            b"a\r\nb\r\n",
            b"x\n\n",
            b"\n",
            b"\r\n",
            b"no newline at all \xff\xfe",
            b"mixed\r\nlines\nend",
            b"# >>> session-vault >>>x\n",
        ];
        for orig in originals {
            let installed = install(Some(orig));
            assert!(installed.starts_with(orig), "{orig:?}");
            assert_eq!(
                remove_block(&installed).unwrap(),
                Removed::Content(orig.to_vec()),
                "{orig:?}"
            );
            // Installing again changes nothing.
            assert_eq!(
                add_block(Some(&installed), BODY).unwrap(),
                Added::AlreadyPresent,
                "{orig:?}"
            );
        }
        let created = install(None);
        assert_eq!(remove_block(&created).unwrap(), Removed::DeleteFile);
    }

    #[test]
    fn the_block_follows_the_files_line_breaks() {
        let crlf = install(Some(b"a\r\nb"));
        let expected = [
            "a\r\nb\r\n",
            "# >>> session-vault (added the line break before this block) >>>\r\n",
            "# added by test\r\n",
            "eval \"$(session-vault init bash)\"\r\n",
            "# <<< session-vault <<<\r\n",
        ]
        .concat();
        assert_eq!(crlf, expected.as_bytes());
        let lf = install(Some(b"a\n"));
        assert_eq!(
            lf,
            b"a\n# >>> session-vault >>>\n# added by test\neval \"$(session-vault init bash)\"\n# <<< session-vault <<<\n"
        );
    }

    #[test]
    fn lines_added_after_the_block_survive_uninstall() {
        let mut f = install(Some(b"a"));
        f.extend_from_slice(b"later\n");
        assert_eq!(
            remove_block(&f).unwrap(),
            Removed::Content(b"a\nlater\n".to_vec())
        );
        let mut f = install(None);
        f.extend_from_slice(b"mine\n");
        assert_eq!(
            remove_block(&f).unwrap(),
            Removed::Content(b"mine\n".to_vec())
        );
    }

    #[test]
    fn an_outdated_block_is_replaced_in_place() {
        let old = add_block(Some(b"top\n"), &["old line"]).unwrap();
        let Added::Changed {
            content: mut old, ..
        } = old
        else {
            panic!()
        };
        old.extend_from_slice(b"bottom\n");
        let Added::Changed { content, replaced } = add_block(Some(&old), BODY).unwrap() else {
            panic!()
        };
        assert!(replaced);
        let mut want = install(Some(b"top\n"));
        want.extend_from_slice(b"bottom\n");
        assert_eq!(content, want);
    }

    #[test]
    fn duplicate_blocks_collapse_to_one_and_all_go_on_uninstall() {
        let once = install(Some(b"a\n"));
        let mut twice = once.clone();
        twice.extend_from_slice(&once[2..]);
        let Added::Changed { content, .. } = add_block(Some(&twice), BODY).unwrap() else {
            panic!()
        };
        assert_eq!(content, once);
        assert_eq!(
            remove_block(&twice).unwrap(),
            Removed::Content(b"a\n".to_vec())
        );
    }

    #[test]
    fn a_block_without_its_end_is_left_alone() {
        let f = b"a\n# >>> session-vault >>>\neval\n";
        assert_eq!(remove_block(f), Err(BlockError::Unterminated));
        assert_eq!(add_block(Some(f), BODY), Err(BlockError::Unterminated));
        assert_eq!(remove_block(b"a\n").unwrap(), Removed::NotPresent);
    }

    #[test]
    fn atomic_write_keeps_the_mode_and_leaves_no_temp_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rc");
        std::fs::write(&p, b"old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&p, b"new", 0o644).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let q = dir.path().join("missing-dir/rc");
        assert!(write_atomic(&q, b"x", 0o644).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
