//! What the daemon does differently per OS, behind one set of names, so that
//! `server.rs` reads the same everywhere:
//!
//! - the transport: a Unix socket in a private runtime directory, or the
//!   Windows named pipe `\\.\pipe\session-vault-USER` ([`Listener`],
//!   [`Stream`], [`split`]);
//! - who is calling ([`peer_of`], [`CwdProbe`]): `SO_PEERCRED` and `/proc`
//!   on Linux, the pipe client's process token on Windows;
//! - private files and directories (modes 0600/0700 on Unix; on Windows the
//!   per-user ACL that `%LOCALAPPDATA%` already carries);
//! - the signals that stop the daemon or lock the vault ([`Signals`]).
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

/// What a signal (or console event) asks of the daemon.
pub enum SignalAction {
    /// Finish in-flight requests and exit; the name is for the log line.
    Stop(&'static str),
    /// Lock the vault (wipe the key from memory) and keep serving.
    /// (SIGUSR1; Windows has no counterpart.)
    #[cfg_attr(windows, allow(dead_code))]
    Lock(&'static str),
}
