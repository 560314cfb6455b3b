//! What every settings edit of `integrate` shares, below the JSON
//! (`json`) and the TOML (`codex`) edits alike (docs/design.md §12): the
//! file read and written on its opened directory, only while it still holds
//! what was read; the private backup made before the first change and
//! found again by `--undo`; and the proxy's address the settings point at
//! (docs/design.md §10).

use crate::error::{CliError, Result};
use crate::rcfile;
use std::path::{Path, PathBuf};

/// What `integrate` writes in the backup index's `by` field.
const BACKUP_BY: &str = "integrate";

/// Where the backups go (shared with `doctor --fix`).
fn backup_dir() -> Result<PathBuf> {
    Ok(sv_doctor::fix::backup_dir(&crate::client::paths()?))
}

/// The file's bytes, or `None` when there is no file. `shown` is the path
/// the user knows; `target` the file it leads to.
pub(super) fn read(shown: &Path, target: &Path) -> Result<Option<Vec<u8>>> {
    rcfile::read_optional(target).map_err(|e| {
        CliError::Failed(format!(
            "cannot read {} ({e}); nothing was changed",
            shown.display()
        ))
    })
}

/// Replaces the file while it still holds `current`.
pub(super) fn write(shown: &Path, target: &Path, current: Option<&[u8]>, bytes: &[u8]) -> Result {
    rcfile::write_checked(target, current, bytes, 0o600).map_err(|e| {
        CliError::Failed(format!(
            "cannot write {} ({e}); it was left as it was",
            shown.display()
        ))
    })
}

/// Gives the file the backup's `bytes` back; an empty backup means
/// `integrate` created the file, so it goes.
pub(super) fn put_back(shown: &Path, target: &Path, current: &[u8], bytes: &[u8]) -> Result {
    if !bytes.is_empty() {
        return write(shown, target, Some(current), bytes);
    }
    rcfile::remove_anchored(target).map_err(|e| {
        CliError::Failed(format!(
            "cannot remove {} ({e}); delete it by hand",
            shown.display()
        ))
    })
}

/// Refuses a second `integrate` over a file it changed already: the
/// backup stays the file as it was before session-vault.
pub(super) fn refuse_if_changed(shown: &Path, target: &Path) -> Result {
    if has_backup(target)? {
        return Err(CliError::Failed(format!(
            "{} was already changed by `session-vault integrate`; run it with --undo first, then again",
            shown.display()
        )));
    }
    Ok(())
}

/// Whether `integrate` holds a backup of `target`.
pub(super) fn has_backup(target: &Path) -> Result<bool> {
    Ok(sv_fs::Backups::latest(&backup_dir()?, target, BACKUP_BY).is_some())
}

/// Copies the file as it is (`current`, empty when there is none) to a
/// private backup; returns where it went. Done before the file is touched:
/// when it fails, nothing was changed.
pub(super) fn save_backup(target: &Path, current: Option<&[u8]>) -> Result<PathBuf> {
    let stamp = sv_fs::time::utc_stamp(sv_fs::time::now_unix());
    let backups = sv_fs::Backups::new(backup_dir()?, &stamp);
    backups
        .save(target, current.unwrap_or_default(), BACKUP_BY)
        .map_err(|e| {
            CliError::Failed(format!(
                "cannot write the backup in {} ({e}); nothing was changed",
                backups.dir().display()
            ))
        })
}

/// The latest backup `integrate` made of a file, with its bytes.
pub(super) struct Backup {
    entry: sv_fs::BackupEntry,
    pub bytes: Vec<u8>,
}

impl Backup {
    /// The latest backup of `target`, if any.
    pub(super) fn latest(target: &Path) -> Result<Option<Backup>> {
        let Some(entry) = sv_fs::Backups::latest(&backup_dir()?, target, BACKUP_BY) else {
            return Ok(None);
        };
        let bytes = std::fs::read(&entry.path).map_err(|e| {
            CliError::Failed(format!(
                "cannot read the backup {} ({e}); nothing was changed",
                entry.path.display()
            ))
        })?;
        Ok(Some(Backup { entry, bytes }))
    }

    /// Deletes the backup once `--undo` is done with it; a failure only
    /// warns, since the settings are back already.
    pub(super) fn forget(self) {
        if let Err(e) = std::fs::remove_file(&self.entry.path) {
            eprintln!(
                "warning: cannot remove the backup {} ({e}); delete it by hand",
                self.entry.path.display()
            );
        }
    }
}

/// The proxy's `127.0.0.1:PORT`, fixed per vault (docs/design.md §10).
pub(super) fn proxy_addr() -> Result<String> {
    let paths = crate::client::paths()?;
    let mut c = crate::client::connect_or_start(&paths)?;
    let st: sv_core::protocol::StatusResult = c.call(
        sv_core::protocol::method::STATUS,
        sv_core::protocol::Empty {},
    )?;
    st.proxy.and_then(|p| p.listen).ok_or_else(|| {
        CliError::Failed(
            "the credential proxy is not running; see `session-vault daemon status` and the daemon's log, then run this again".into(),
        )
    })
}
