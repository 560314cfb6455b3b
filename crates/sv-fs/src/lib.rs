//! The file-system rules every session-vault crate shares, in one place
//! (docs/design.md §5 and §12):
//!
//! - [`private`]: directories 0700 and files 0600 on Unix (on Windows the
//!   per-user ACL that `%LOCALAPPDATA%` carries), and a file's mode;
//! - [`Dir`]: edits anchored on an opened directory. The directory is
//!   opened once, refusing a symbolic link at every step of its path; the
//!   file is read, and its replacement written and renamed, relative to that
//!   descriptor. A path swapped for a symlink between planning and writing
//!   is refused, never followed;
//! - [`Backups`]: private copies (0600) of what an edit replaced, kept in
//!   one directory of the vault's data with an index, never beside the file;
//! - [`time`]: the one calendar conversion and time stamp;
//! - "runs as me" on Windows ([`process_runs_as_me`]), the counterpart of
//!   comparing `SO_PEERCRED` uids.

mod backup;
mod dir;
pub mod private;
pub mod time;
#[cfg(windows)]
mod windows;

pub use backup::{BackupEntry, Backups, NewBackup, INDEX};
pub use dir::{Dir, EditError, FileStamp, TempFile};
#[cfg(windows)]
pub use windows::{current_user_sid, process_runs_as_me};
