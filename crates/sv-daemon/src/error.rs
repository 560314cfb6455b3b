//! Why the daemon could not start or keep running: the errors of `run` and
//! of everything it sets up (settings, key backend, socket, lock files).
//! Request errors are JSON-RPC errors instead (see `rpc.rs`).

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Setup(String),
    #[error("another sv-daemon is already running for this user (lock {0}); use `session-vault daemon stop` first")]
    AlreadyRunning(PathBuf),
    #[error(transparent)]
    Store(#[from] sv_store::StoreError),
    #[error("{0}")]
    Usage(String),
}

impl DaemonError {
    /// The process exit code: 2 for a usage error, else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            DaemonError::Usage(_) => 2,
            _ => 1,
        }
    }
}

/// Turns an I/O error on `path` into "cannot WHAT PATH: ERROR".
pub(crate) fn setup<'a>(
    what: &str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> DaemonError + 'a {
    let what = what.to_owned();
    move |e| DaemonError::Setup(format!("cannot {what} {}: {e}", path.display()))
}
