//! What the CLI does differently per OS: reaching the daemon (a Unix socket
//! checked with `SO_PEERCRED`, or the Windows named pipe whose server
//! process must run as the same user), running a command in place of this
//! process (`exec` on Unix; spawn, wait and exit with its code on Windows),
//! detaching the daemon, and private file modes (Unix only).
//!
//! Only the Unix side is built and tested in CI; the Windows side is
//! compile-checked from Linux (`scripts/cross-check.sh`, docs/windows.md).

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;
