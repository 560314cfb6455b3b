//! `sv-daemon`: holds the vault key in memory and serves credentials over a
//! Unix socket, or a named pipe on Windows (SPEC §7, docs/windows.md).
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
//! `cargo install` installs both programs); it calls [`main`].

mod audit;
mod clock;
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
mod platform;
mod select;
mod server;
mod settings;
mod vault;

pub use server::{handle_frame, RunOptions};
use std::process::ExitCode;
pub use vault::{Peer, Vault};

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

const USAGE: &str = "usage: sv-daemon [--backend auto|tpm2|secret-service|keychain|dpapi|passphrase] [--foreground] [--verbose]

The session-vault daemon. Normally started by `session-vault daemon start`
or on demand by the CLI; runs in the foreground until SIGTERM.";

/// Entry point of the `sv-daemon` binary.
pub fn main() -> ExitCode {
    if let Err(e) = hygiene::reexec_with_clean_env() {
        eprintln!("sv-daemon: {e}");
        return ExitCode::from(1);
    }
    let mut opts = RunOptions::default();
    let mut args = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--backend" => match args.next() {
                Some(b) => opts.backend = Some(b),
                None => return usage_error("--backend needs a value"),
            },
            s if s.starts_with("--backend=") => opts.backend = Some(s[10..].to_owned()),
            "--foreground" => {}
            "--verbose" | "-v" => opts.verbose = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--version" | "-V" => {
                println!("sv-daemon {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            other => return usage_error(&format!("unknown argument `{other}`")),
        }
    }
    match server::run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sv-daemon: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("sv-daemon: {msg}\n{USAGE}");
    ExitCode::from(2)
}
