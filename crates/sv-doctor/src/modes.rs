//! Unix file modes, which doctor checks and preserves. Windows files have
//! ACLs instead (the vault under `%LOCALAPPDATA%` inherits a per-user one):
//! there doctor neither checks nor sets modes.

use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::path::Path;

/// The permission bits (`st_mode & 0o7777`); `None` where there are none.
#[cfg(unix)]
pub fn mode_of(meta: &Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(meta.permissions().mode() & 0o7777)
}

/// The permission bits (`st_mode & 0o7777`); `None` where there are none.
#[cfg(not(unix))]
pub fn mode_of(_meta: &Metadata) -> Option<u32> {
    None
}

/// Creates `path` (it must not exist) with exactly `mode` where modes exist.
#[cfg(unix)]
pub fn create_new(path: &Path, mode: Option<u32>) -> io::Result<File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mode = mode.unwrap_or(0o600);
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    // The umask may have narrowed the mode: set it exactly.
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    Ok(f)
}

/// Creates `path` (it must not exist); it inherits its directory's ACL.
#[cfg(not(unix))]
pub fn create_new(path: &Path, _mode: Option<u32>) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}
