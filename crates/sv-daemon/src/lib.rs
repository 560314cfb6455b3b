//! `sv-daemon`: holds the vault key in memory and serves credentials over a
//! Unix socket, or a named pipe on Windows (docs/design.md §7,
//! docs/windows.md).
//!
//! One daemon per user (a lock file beside the socket). Each connection gets
//! its own task with read timeouts, so a slow or idle client never blocks
//! another. The peer's uid is checked on every connection (`SO_PEERCRED`)
//! and its working directory is read from the kernel (`/proc/PID/cwd`), never
//! taken from the message. The key lives in zeroising, mlocked memory in a
//! process that is not dumpable and writes no core file. (Linux; Windows
//! compares the pipe client's token SID and must take the directory from
//! the message: see `platform` and docs/windows.md.)
//!
//! The binary itself is shipped by the `sv-cli` package (so one
//! `cargo install` installs both programs): it drops a foreign environment
//! ([`reexec_with_clean_env`]), reads its command line, and calls [`run`].

mod audit;
mod callers;
mod clock;
mod error;
mod frame;
#[cfg(unix)]
mod hygiene;
#[cfg(windows)]
use platform::hygiene;
mod idle;
mod ids;
mod logging;
mod lookups;
#[cfg(unix)]
mod notify;
#[cfg(windows)]
use platform::notify;
mod peer;
#[cfg(target_os = "linux")]
mod pidfd;
mod platform;
#[cfg(target_os = "linux")]
mod proxy;
mod rpc;
#[cfg(target_os = "linux")]
mod rules;
mod select;
mod server;
mod settings;
#[cfg(target_os = "linux")]
mod stand_ins;
mod vault;

pub use error::DaemonError;
pub use hygiene::reexec_with_clean_env;
pub use peer::Peer;
pub use server::{handle_frame, run, RunOptions};
pub use vault::Vault;

/// A vault over `dir/vault.db` with the passphrase backend and the built-in
/// tools, as the daemon holds it: the entry point for fuzzing and
/// benchmarking [`handle_frame`] without a socket.
pub fn vault_for_harness(dir: &std::path::Path) -> Result<Vault, sv_store::StoreError> {
    let paths = sv_core::paths::VaultPaths {
        data_dir: dir.to_owned(),
        runtime_dir: dir.to_owned(),
        runtime_dir_is_private: false,
        socket: dir.join("session-vault.sock"),
    };
    let store = sv_store::Store::open(&paths.vault_db())?;
    Ok(Vault::new(
        store,
        Box::new(sv_keyring::PassphraseBackend::default()),
        Vec::new(),
        sv_core::ToolTable::builtin(),
        paths,
    ))
}
