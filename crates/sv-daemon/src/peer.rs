//! Who is asking: read from the kernel when the connection is accepted
//! (see `platform`), never taken from the message.

use std::path::PathBuf;

/// The process at the other end of a connection.
#[derive(Debug, Clone)]
pub struct Peer {
    pub uid: u32,
    pub pid: Option<i32>,
    /// Canonical working directory read from `/proc/PID/cwd`.
    pub cwd: Option<PathBuf>,
    pub exe: Option<PathBuf>,
}
