//! Who is asking: read from the kernel for every message (see `callers.rs`
//! and `platform`), never taken from the message.

use std::path::PathBuf;
use std::sync::Arc;

/// The process at the other end of a connection.
#[derive(Debug, Clone)]
pub struct Peer {
    pub uid: u32,
    pub pid: Option<i32>,
    /// Canonical working directory read from `/proc/PID/cwd`.
    pub cwd: Option<PathBuf>,
    pub exe: Option<PathBuf>,
    /// The process itself, pinned (a pidfd on Linux) so that a later
    /// process given the same pid never counts as it: what a stand-in is
    /// bound to (docs/design.md §10). `None` where the platform has no
    /// such handle.
    #[cfg(target_os = "linux")]
    pub pin: Option<Arc<crate::pidfd::ProcessPin>>,
    #[cfg(not(target_os = "linux"))]
    pub pin: Option<Arc<()>>,
    /// Whether the caller is inside an agent tree (docs/design.md §11):
    /// `None` when the kernel could not tell, which counts as inside.
    pub agent_tree: Option<bool>,
}

impl Peer {
    /// Outside every agent tree, for sure.
    pub fn outside_agent_trees(&self) -> bool {
        self.agent_tree == Some(false)
    }
}
