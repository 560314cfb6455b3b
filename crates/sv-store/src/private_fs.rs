//! The vault's directory and file, closed to other users: 0700 and 0600 on
//! Unix. Windows has no modes; there the data directory under
//! `%LOCALAPPDATA%` inherits an ACL that admits only the user, SYSTEM and
//! Administrators, and these create plain directories and files.

use std::fs;
use std::io;
use std::path::Path;

/// Creates `dir` (and its parents) and makes it 0700.
#[cfg(unix)]
pub fn create_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

/// Makes an existing file 0600.
#[cfg(unix)]
pub fn restrict_file(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

/// Creates a new, empty file 0600; fails if it exists.
#[cfg(unix)]
pub fn create_file(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Creates `dir` (and its parents).
#[cfg(not(unix))]
pub fn create_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).create(dir)
}

/// Nothing to do without modes.
#[cfg(not(unix))]
pub fn restrict_file(_path: &Path) -> io::Result<()> {
    Ok(())
}

/// Creates a new, empty file; fails if it exists.
#[cfg(not(unix))]
pub fn create_file(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}
