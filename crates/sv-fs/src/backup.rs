//! Private backups of what an edit replaced (docs/design.md §12): one
//! directory under the vault's data directory, 0700, each backup a 0600
//! file named `<stamp>-<file name>`, and an index, `index.jsonl`, with one
//! line per backup: `{"time", "backup", "original", "by"}`. Never beside
//! the original, where git or a sync tool would pick it up.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The index's file name inside the backup directory.
pub const INDEX: &str = "index.jsonl";

/// The backups one run writes (`stamp` names them).
pub struct Backups {
    dir: PathBuf,
    stamp: String,
}

/// One backup, as the index (or, for a file the index misses, the
/// directory) lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupEntry {
    pub path: PathBuf,
    /// The file it is a copy of; `None` when the index does not say.
    pub original: Option<PathBuf>,
    /// `YYYYMMDDTHHMMSSZ`, or empty when the index does not say.
    pub time: String,
    /// What wrote it, e.g. `doctor --fix`, `integrate`.
    pub by: String,
    /// Whether the index names it (a file the index misses: `false`).
    pub indexed: bool,
}

/// A backup being written ([`Backups::create`]).
pub struct NewBackup {
    path: PathBuf,
    file: std::fs::File,
    index: PathBuf,
    line: serde_json::Value,
    kept: bool,
}

impl NewBackup {
    /// The file to write the copy into.
    pub fn file(&mut self) -> &mut std::fs::File {
        &mut self.file
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes the copy and records it in the index; returns its path. On
    /// a failure the backup is removed.
    pub fn keep(mut self) -> std::io::Result<PathBuf> {
        self.file.sync_all()?;
        self.line["backup"] = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .into();
        let mut line = self.line.to_string();
        line.push('\n');
        crate::private::file_options()
            .append(true)
            .create(true)
            .open(&self.index)
            .and_then(|mut f| f.write_all(line.as_bytes()).and_then(|()| f.sync_all()))?;
        self.kept = true;
        Ok(self.path.clone())
    }
}

impl Drop for NewBackup {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A file name's characters that stay as they are in a backup's name.
fn tame(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect()
}

impl Backups {
    /// Backups in `dir` (created 0700 on the first save), named with `stamp`.
    pub fn new(dir: PathBuf, stamp: &str) -> Backups {
        Backups {
            dir,
            stamp: stamp.to_owned(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Copies `bytes`, the content of `original`, into a new 0600 backup and
    /// records it in the index; returns the backup's path.
    pub fn save(&self, original: &Path, bytes: &[u8], by: &str) -> std::io::Result<PathBuf> {
        let mut b = self.create(original, by)?;
        b.file().write_all(bytes)?;
        b.keep()
    }

    /// A new, empty 0600 backup of `original`, to stream a copy into (a
    /// file too large to hold in memory). It is in the index once
    /// [`NewBackup::keep`] returns, and removed if dropped before.
    pub fn create(&self, original: &Path, by: &str) -> std::io::Result<NewBackup> {
        crate::private::create_dir_all(&self.dir)?;
        let name = tame(
            &original
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let mut n = 1;
        let (path, file) = loop {
            let file_name = match n {
                1 => format!("{}-{name}", self.stamp),
                _ => format!("{}-{name}-{n}", self.stamp),
            };
            let path = self.dir.join(file_name);
            match crate::private::create_file(&path) {
                Ok(f) => break (path, f),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(e),
            }
        };
        Ok(NewBackup {
            path,
            file,
            index: self.dir.join(INDEX),
            line: serde_json::json!({
                "time": self.stamp,
                "backup": "",
                "original": original.to_string_lossy(),
                "by": by,
            }),
            kept: false,
        })
    }

    /// Every backup in `dir`: those the index names (newest last), then any
    /// other file there. Missing files are left out.
    pub fn list(dir: &Path) -> Vec<BackupEntry> {
        let mut out: Vec<BackupEntry> = Vec::new();
        if let Ok(text) = std::fs::read_to_string(dir.join(INDEX)) {
            for line in text.lines() {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or_default();
                let name = field("backup");
                if name.is_empty() || name.contains(['/', '\\']) {
                    continue;
                }
                let path = dir.join(name);
                if !path.is_file() {
                    continue;
                }
                out.push(BackupEntry {
                    path,
                    original: Some(PathBuf::from(field("original")))
                        .filter(|p| !p.as_os_str().is_empty()),
                    time: field("time").to_owned(),
                    by: field("by").to_owned(),
                    indexed: true,
                });
            }
        }
        let mut others: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != INDEX))
            .filter(|p| !out.iter().any(|e| &e.path == p))
            .collect();
        others.sort();
        out.extend(others.into_iter().map(|path| BackupEntry {
            path,
            original: None,
            time: String::new(),
            by: String::new(),
            indexed: false,
        }));
        out
    }

    /// The newest backup of `original` written `by`, if it still exists.
    pub fn latest(dir: &Path, original: &Path, by: &str) -> Option<BackupEntry> {
        Backups::list(dir)
            .into_iter()
            .rev()
            .find(|e| e.original.as_deref() == Some(original) && e.by == by)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn saves_privately_and_lists_through_the_index() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("backups");
        let b = Backups::new(dir.clone(), "20260101T000000Z");
        let p1 = b
            .save(Path::new("/p/a/.env"), b"one", "doctor --fix")
            .unwrap();
        let p2 = b.save(Path::new("/p/b/.env"), b"two", "integrate").unwrap();
        assert_eq!(p1, dir.join("20260101T000000Z-.env"));
        assert_eq!(p2, dir.join("20260101T000000Z-.env-2"));
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        for p in [&p1, &p2, &dir.join(INDEX)] {
            assert_eq!(
                std::fs::metadata(p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        std::fs::write(dir.join("stray"), b"x").unwrap();
        let all = Backups::list(&dir);
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].original.as_deref(), Some(Path::new("/p/a/.env")));
        assert_eq!(all[1].by, "integrate");
        assert_eq!(all[2].original, None);
        assert!(all[1].indexed && !all[2].indexed);
        let l = Backups::latest(&dir, Path::new("/p/b/.env"), "integrate").unwrap();
        assert_eq!(l.path, p2);
        assert!(Backups::list(&d.path().join("none")).is_empty());
    }

    #[test]
    fn a_streamed_backup_is_indexed_once_kept_and_gone_if_dropped() {
        use std::io::Write;
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("backups");
        let b = Backups::new(dir.clone(), "20260101T000000Z");
        let mut dropped = b.create(Path::new("/h/.zsh_history"), "t").unwrap();
        dropped.file().write_all(b"partial").unwrap();
        let gone = dropped.path().to_owned();
        drop(dropped);
        assert!(!gone.exists());
        assert!(Backups::list(&dir).is_empty());
        let mut kept = b.create(Path::new("/h/.zsh_history"), "t").unwrap();
        kept.file().write_all(b"whole").unwrap();
        let p = kept.keep().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"whole");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let all = Backups::list(&dir);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].path, p);
        assert_eq!(
            all[0].original.as_deref(),
            Some(Path::new("/h/.zsh_history"))
        );
        assert_eq!(all[0].by, "t");
    }
}
