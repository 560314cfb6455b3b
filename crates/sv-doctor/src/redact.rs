//! `doctor --fix` for leftovers: a key in a transcript, a shell history or a
//! Codex shell snapshot is moved into the vault, then replaced in the file by
//! `[session-vault:<first 8 characters of the session id>]`; every other byte
//! of the file, its lines included, stays as it was.
//!
//! The file is reached the way `doctor --fix` reaches every file it edits
//! (docs/doctor.md, docs/design.md §12): its directory, resolved when the
//! leftovers were listed, is opened once without following any link
//! ([`sv_fs::Dir`]), and the file is opened, its replacement created and
//! renamed over it, all relative to that directory. A directory on the path
//! swapped for a symlink after the scan is refused, never followed; a file
//! that is not the one scanned (another inode, size or time) is left alone.
//!
//! The file is streamed twice, never read whole: once into a private (0600)
//! backup under the vault's data directory (`backups/`, named in its
//! `index.jsonl`), once through the replacement into a temporary file in the
//! file's own directory, which then replaces it (mode kept). A file that
//! grew or changed while it was being redacted (an agent still writing its
//! transcript) is left untouched. Backups of session-vault itself are not
//! redacted: they are deleted by hand once the rewritten files work.

use crate::fix::{StoreRequest, VaultSink};
use crate::scan::leftovers::Leftover;
use crate::{Detector, SourceKind};
use regex::bytes::Regex;
use serde::Serialize;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use sv_core::SecretString;
use sv_fs::{Backups, Dir, FileStamp};
use zeroize::Zeroizing;

/// The marker that replaces a key.
pub fn marker(session: &str) -> String {
    let short: String = session.chars().take(8).collect();
    format!("[session-vault:{short}]")
}

/// What happened to one leftover file.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum RedactOutcome {
    Redacted {
        file: PathBuf,
        backup: PathBuf,
        keys: usize,
        sessions: Vec<String>,
    },
    /// Left alone; `reason` says what to do instead.
    Skipped { file: PathBuf, reason: String },
}

/// Remembers the session each stored value went to, so a key found in a
/// profile and in ten transcripts becomes one session.
pub struct RecordingSink<'a> {
    pub inner: &'a mut dyn VaultSink,
    pub stored: Vec<(SecretString, String)>,
}

impl VaultSink for RecordingSink<'_> {
    fn store(&mut self, req: &StoreRequest) -> Result<String, crate::fix::VaultRefusal> {
        let id = self.inner.store(req)?;
        for (_, v) in &req.values {
            self.stored.push((v.clone(), id.clone()));
        }
        Ok(id)
    }
}

impl RecordingSink<'_> {
    fn known(&self, value: &str) -> Option<String> {
        self.stored
            .iter()
            .find(|(v, _)| v.expose() == value)
            .map(|(_, id)| id.clone())
    }
}

/// Whether `--fix` redacts this kind of file.
pub fn redactable(kind: SourceKind) -> bool {
    matches!(
        kind,
        SourceKind::Transcript | SourceKind::History | SourceKind::ShellSnapshot
    )
}

/// Moves the keys of each redactable leftover into the vault (reusing the
/// session a key already went to in this run) and redacts the file.
/// `project` scopes the new sessions (`None`: global).
pub fn redact_all(
    leftovers: &[Leftover],
    sink: &mut RecordingSink<'_>,
    det: &Detector,
    project: Option<&Path>,
    backups: &Backups,
) -> Vec<RedactOutcome> {
    let mut out = Vec::new();
    for l in leftovers.iter().filter(|l| redactable(l.source.kind)) {
        let file = l.source.path.clone();
        let mut pairs: Vec<(Zeroizing<String>, String)> = Vec::new();
        let mut problem = None;
        for f in &l.findings {
            let value = f.value.expose();
            if let Some(id) = sink.known(value) {
                pairs.push((Zeroizing::new(value.to_owned()), id));
                continue;
            }
            let Some(tool) = f.tool.as_deref() else {
                problem = Some(format!(
                    "line {}: {} belongs to no tool; rotate it at its provider and delete the line by hand",
                    f.line.unwrap_or(0),
                    f.hint
                ));
                break;
            };
            let vars = det.tools.vars(tool).unwrap_or_default();
            let [var] = vars else {
                problem = Some(format!(
                    "line {}: tool `{tool}` needs {} variables; store them with `session-vault add --tool {tool}`, then delete the line by hand",
                    f.line.unwrap_or(0),
                    vars.len()
                ));
                break;
            };
            let req = StoreRequest {
                tool: tool.to_owned(),
                project: project.map(Path::to_path_buf),
                values: vec![(var.clone(), f.value.clone())],
                label: format!(
                    "doctor --fix from {} line {}",
                    file.display(),
                    f.line.unwrap_or(0)
                ),
            };
            match sink.store(&req) {
                Ok(id) => pairs.push((Zeroizing::new(value.to_owned()), id)),
                Err(r) => {
                    problem = Some(format!("the vault refused: {}", r.message));
                    break;
                }
            }
        }
        if let Some(reason) = problem {
            out.push(RedactOutcome::Skipped { file, reason });
            continue;
        }
        match redact_file(&l.target, l.stamp, &pairs, backups) {
            Ok(backup) => out.push(RedactOutcome::Redacted {
                file,
                backup,
                keys: pairs.len(),
                sessions: pairs.iter().map(|(_, id)| id.clone()).collect(),
            }),
            Err(reason) => out.push(RedactOutcome::Skipped { file, reason }),
        }
    }
    out
}

/// What the index says wrote a redaction's backup.
pub const REDACTION_BY: &str = "doctor --fix (redaction)";

/// Replaces every `(key, session)` pair's key by its marker in `target`
/// (the file as resolved when it was scanned), provided it is still the
/// file that was scanned (`scanned`); returns the backup's path.
pub fn redact_file(
    target: &Path,
    scanned: FileStamp,
    pairs: &[(Zeroizing<String>, String)],
    backups: &Backups,
) -> Result<PathBuf, String> {
    let fail =
        |what: &str, e: std::io::Error| format!("cannot {what} ({e}); the file is untouched");
    let changed = || {
        "the file changed since it was scanned or while it was redacted (is an agent still writing it?); it is untouched, run doctor --fix again once the agent has exited".to_owned()
    };
    // Its directory, opened once: a link anywhere on the path is refused.
    let (dir, name) = Dir::of_file(target).map_err(|e| fail("open its directory", e))?;
    let (mut src, opened) = match dir.open_read(name) {
        Ok(Some(f)) => f,
        Ok(None) => return Err(changed()),
        Err(e) => return Err(fail("open the file", e)),
    };
    if opened != scanned {
        return Err(changed());
    }
    // The backup: a private copy under the data directory.
    let mut backup = backups
        .create(target, REDACTION_BY)
        .map_err(|e| fail("create the backup", e))?;
    let copied = std::io::copy(&mut src, backup.file()).map_err(|e| fail("write the backup", e))?;
    src.rewind().map_err(|e| fail("read the file", e))?;
    // The redacted copy, beside the file in the same opened directory.
    let mut tmp = dir
        .create_temp(name)
        .map_err(|e| fail("create a temporary file", e))?;
    let n = replace_stream(&mut src, tmp.file(), pairs).map_err(|e| fail("redact", e))?;
    let read_whole = n == copied && copied == scanned.size();
    let still = FileStamp::of_file(&src).ok() == Some(scanned)
        && dir.stamp(name).ok().flatten() == Some(scanned);
    if !read_whole || !still {
        return Err(changed());
    }
    // Closed before the rename, which Windows refuses over an open file.
    drop(src);
    let backup = backup.keep().map_err(|e| fail("write the backup", e))?;
    tmp.commit(scanned.mode()).map_err(|e| {
        format!(
            "cannot replace the file ({e}); it is untouched (backup at {})",
            backup.display()
        )
    })?;
    Ok(backup)
}

/// Copies `src` to `dst` with every key replaced by its marker; returns the
/// bytes read.
pub fn replace_stream(
    src: &mut dyn Read,
    dst: &mut dyn Write,
    pairs: &[(Zeroizing<String>, String)],
) -> std::io::Result<u64> {
    if pairs.is_empty() {
        return std::io::copy(src, dst);
    }
    let alts: Vec<String> = pairs.iter().map(|(k, _)| regex::escape(k)).collect();
    let re = Regex::new(&alts.join("|")).map_err(std::io::Error::other)?;
    let longest = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(1);
    let chunk = crate::stream::CHUNK;
    let mut buf = Zeroizing::new(vec![0u8; chunk + longest]);
    let mut len = 0;
    let mut total = 0u64;
    loop {
        let mut eof = false;
        while len < buf.len() {
            match src.read(&mut buf[len..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    len += n;
                    total += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // A key starting before `safe` lies wholly in the buffer.
        let safe = if eof { len } else { len + 1 - longest };
        let mut pos = 0;
        for m in re.find_iter(&buf[..len]) {
            if m.start() >= safe {
                break;
            }
            dst.write_all(&buf[pos..m.start()])?;
            let key = m.as_bytes();
            let id = pairs
                .iter()
                .find(|(k, _)| k.as_bytes() == key)
                .map_or("", |(_, id)| id.as_str());
            dst.write_all(marker(id).as_bytes())?;
            pos = m.end();
        }
        let keep = pos.max(safe);
        dst.write_all(&buf[pos..keep])?;
        if eof {
            return Ok(total);
        }
        buf.copy_within(keep..len, 0);
        len -= keep;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::samples::*;

    #[test]
    fn replace_keeps_every_other_byte_across_chunks() {
        let k = anthropic(1);
        let id = "0123abcd-ffff-4000-8000-000000000000".to_owned();
        let mut text = Vec::new();
        for i in 0..3000 {
            text.extend_from_slice(format!("{{\"n\":{i},\"out\":\"x {k} y\"}}\n").as_bytes());
            text.extend(std::iter::repeat_n(b'z', 700 + i % 13));
            text.push(b'\n');
        }
        let mut out = Vec::new();
        let pairs = vec![(Zeroizing::new(k.clone()), id)];
        replace_stream(&mut text.as_slice(), &mut out, &pairs).unwrap();
        let want = String::from_utf8(text)
            .unwrap()
            .replace(&k, "[session-vault:0123abcd]");
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    /// docs/doctor.md, "Transcripts, histories and shell snapshots": a
    /// history that is a link into a dotfiles repository is redacted at its
    /// target (the link stays, the mode is kept), and the backup is a 0600
    /// file in the 0700 backup directory, named in its index, with nothing
    /// left in the repository the link points into.
    #[cfg(unix)]
    #[test]
    fn a_symlinked_history_is_redacted_at_its_target_with_an_indexed_private_backup() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let d = tempfile::tempdir().unwrap();
        let (home, dots, backups) = (
            d.path().join("home"),
            d.path().join("dotfiles"),
            d.path().join("data/backups"),
        );
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&dots).unwrap();
        let k = anthropic(2);
        let text = format!(": 1700000000:0;ls\n: 1700000001:0;export ANTHROPIC_API_KEY={k}\n");
        let target = dots.join("zsh_history");
        std::fs::write(&target, &text).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = home.join(".zsh_history");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let id = "89abcdef-0000-4000-8000-000000000000".to_owned();
        let pairs = vec![(Zeroizing::new(k.clone()), id)];

        let (dir, name) = Dir::of_file(&target).unwrap();
        let stamp = dir.open_read(name).unwrap().unwrap().1;
        let store = Backups::new(backups.clone(), "20261202T120000Z");
        let backup = redact_file(&link.canonicalize().unwrap(), stamp, &pairs, &store).unwrap();

        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            text.replace(&k, "[session-vault:89abcdef]")
        );
        assert_eq!(mode(&target), 0o640);
        let listed: Vec<_> = std::fs::read_dir(&dots).unwrap().flatten().collect();
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(backup, backups.join("20261202T120000Z-zsh_history"));
        assert_eq!(std::fs::read_to_string(&backup).unwrap(), text);
        assert_eq!(mode(&backup), 0o600);
        assert_eq!(mode(&backups), 0o700);
        let entries = sv_fs::Backups::list(&backups);
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0].path, backup);
        assert_eq!(
            entries[0].original.as_deref(),
            Some(target.canonicalize().unwrap().as_path())
        );
        assert_eq!(entries[0].by, REDACTION_BY);
    }

    /// docs/doctor.md: a directory on the file's path swapped for a symlink
    /// after the scan is refused, never followed; a file that is no longer
    /// the one scanned is left alone; neither leaves a backup.
    #[cfg(unix)]
    #[test]
    fn a_directory_swapped_after_the_scan_or_a_changed_file_is_left_alone() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        let (p, outside, backups) = (
            root.join("projects/p"),
            root.join("outside"),
            root.join("data/backups"),
        );
        std::fs::create_dir_all(&p).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let k = anthropic(3);
        let text = format!("{{\"out\":\"ANTHROPIC_API_KEY={k}\"}}\n");
        std::fs::write(p.join("t.jsonl"), &text).unwrap();
        std::fs::write(outside.join("t.jsonl"), &text).unwrap();
        let target = p.join("t.jsonl");
        let (dir, name) = Dir::of_file(&target).unwrap();
        let stamp = dir.open_read(name).unwrap().unwrap().1;
        drop(dir);
        let pairs = vec![(Zeroizing::new(k.clone()), "0123abcd".to_owned())];
        let store = Backups::new(backups.clone(), "20261202T120000Z");

        std::fs::rename(&p, root.join("projects/aside")).unwrap();
        std::os::unix::fs::symlink(&outside, &p).unwrap();
        let e = redact_file(&target, stamp, &pairs, &store).unwrap_err();
        assert!(e.contains("symbolic link"), "{e}");
        assert_eq!(
            std::fs::read_to_string(outside.join("t.jsonl")).unwrap(),
            text
        );
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
        assert!(sv_fs::Backups::list(&backups).is_empty());
        std::fs::remove_file(&p).unwrap();
        std::fs::rename(root.join("projects/aside"), &p).unwrap();

        // Rewritten since the scan (another inode): left alone.
        std::fs::remove_file(&target).unwrap();
        std::fs::write(&target, &text).unwrap();
        let e = redact_file(&target, stamp, &pairs, &store).unwrap_err();
        assert!(e.contains("changed since it was scanned"), "{e}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), text);
        assert!(sv_fs::Backups::list(&backups).is_empty());

        // As scanned: redacted.
        let (dir, name) = Dir::of_file(&target).unwrap();
        let stamp = dir.open_read(name).unwrap().unwrap().1;
        redact_file(&target, stamp, &pairs, &store).unwrap();
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            text.replace(&k, "[session-vault:0123abcd]")
        );
        assert_eq!(std::fs::read_dir(&p).unwrap().count(), 1);
    }
}
