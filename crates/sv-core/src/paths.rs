//! Where session-vault keeps its files (docs/design.md §5, §7), computed from the
//! environment the caller passes in.
//!
//! - data (vault.db, config.toml): `$XDG_DATA_HOME/session-vault`, else
//!   `$HOME/.local/share/session-vault` (macOS `~/Library/Application
//!   Support/session-vault`, Windows `%LOCALAPPDATA%\session-vault`);
//! - socket: `$XDG_RUNTIME_DIR/session-vault.sock`, else
//!   `<data>/run/session-vault.sock` (that directory 0700). Not a fixed name
//!   under `/tmp`: there another user could create `/tmp/session-vault-UID`
//!   first and block the daemon for good; nobody else can create a
//!   directory inside the user's own data directory;
//! - lock file: beside the socket, `session-vault.lock`.
//!
//! Windows has no runtime directory: the daemon listens on the named pipe
//! `\\.\pipe\session-vault-USER` (USER from `%USERNAME%`), which
//! [`VaultPaths::socket`] then holds, and the lock file sits in the data
//! directory (`runtime_dir` is the data directory).

use std::ffi::OsString;
use std::path::PathBuf;

/// Environment variables the daemon keeps; everything else (an API key the
/// user exported, say) is dropped before the daemon runs, so it never sits
/// in `/proc/PID/environ`. The CLI starts it with only these, and the daemon
/// re-executes itself with only these when started any other way.
#[cfg(not(windows))]
pub const DAEMON_ENV: &[&str] = &[
    "HOME",
    "USER",
    "LOGNAME",
    "PATH",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "XDG_DATA_HOME",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "DBUS_SESSION_BUS_ADDRESS",
    "SESSION_VAULT_BACKEND",
    "SESSION_VAULT_TCTI",
    "RUST_LOG",
    "TSS2_LOG",
    // `add --confirm` (docs/design.md §11): the askpass program the daemon
    // runs to ask the user, and what a graphical one needs to show itself.
    "SESSION_VAULT_ASKPASS",
    "SSH_ASKPASS",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "XAUTHORITY",
    // Test-only: abort mid-rekey (the `test-hooks` feature; never in a
    // release build).
    #[cfg(feature = "test-hooks")]
    "SESSION_VAULT_TEST_CRASH_AFTER_REKEY_WRAP",
    // Service managers: readiness and journal logging.
    "NOTIFY_SOCKET",
    "JOURNAL_STREAM",
    "INVOCATION_ID",
];

/// Windows: what the daemon and the OS libraries it calls need (the data
/// directory, the user name for the pipe, `SystemRoot` for Winsock and the
/// Credential Manager). The CLI starts the daemon with only these; Windows
/// has no exec, so a daemon started by hand keeps its environment.
#[cfg(windows)]
pub const DAEMON_ENV: &[&str] = &[
    "USERNAME",
    "USERPROFILE",
    "LOCALAPPDATA",
    "APPDATA",
    "SystemRoot",
    "SystemDrive",
    "windir",
    "PATH",
    "TEMP",
    "TMP",
    "SESSION_VAULT_BACKEND",
    "RUST_LOG",
    #[cfg(feature = "test-hooks")]
    "SESSION_VAULT_TEST_CRASH_AFTER_REKEY_WRAP",
];

/// The resolved locations of one user's vault and daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultPaths {
    pub data_dir: PathBuf,
    pub runtime_dir: PathBuf,
    /// True when `runtime_dir` is our own `<data>/run` and must be created
    /// 0700 (rather than the session's XDG_RUNTIME_DIR).
    pub runtime_dir_is_private: bool,
    pub socket: PathBuf,
}

/// Why the locations cannot be worked out.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathsError {
    #[error("neither XDG_DATA_HOME nor HOME is set; set HOME to your home directory")]
    NoHome,
    /// Windows only: the pipe name needs the user name.
    #[error("USERNAME is not set; set it to your Windows user name")]
    NoUser,
}

/// The daemon's named pipe on Windows for `user` (docs/design.md §7). A backslash is
/// the one character a pipe name cannot hold, so one in the user name (a
/// `DOMAIN\user` form) becomes `_`.
pub fn windows_pipe_name(user: &str) -> String {
    format!(r"\\.\pipe\session-vault-{}", user.replace('\\', "_"))
}

impl VaultPaths {
    /// Resolves the paths from `env` (a getter such as `std::env::var_os`).
    pub fn resolve(env: impl Fn(&str) -> Option<OsString>, _uid: u32) -> Result<Self, PathsError> {
        let nonempty = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let data_dir = if cfg!(target_os = "macos") {
            nonempty("HOME")
                .ok_or(PathsError::NoHome)?
                .join("Library/Application Support/session-vault")
        } else if cfg!(windows) {
            nonempty("LOCALAPPDATA")
                .ok_or(PathsError::NoHome)?
                .join("session-vault")
        } else {
            match nonempty("XDG_DATA_HOME").filter(|p| p.is_absolute()) {
                Some(d) => d.join("session-vault"),
                None => nonempty("HOME")
                    .ok_or(PathsError::NoHome)?
                    .join(".local/share/session-vault"),
            }
        };
        if cfg!(windows) {
            let user = env("USERNAME")
                .filter(|v| !v.is_empty())
                .ok_or(PathsError::NoUser)?;
            return Ok(VaultPaths {
                socket: PathBuf::from(windows_pipe_name(&user.to_string_lossy())),
                runtime_dir: data_dir.clone(),
                data_dir,
                runtime_dir_is_private: false,
            });
        }
        let (runtime_dir, private) = match nonempty("XDG_RUNTIME_DIR").filter(|p| p.is_absolute()) {
            Some(d) => (d, false),
            None => (data_dir.join("run"), true),
        };
        Ok(VaultPaths {
            socket: runtime_dir.join("session-vault.sock"),
            data_dir,
            runtime_dir,
            runtime_dir_is_private: private,
        })
    }

    pub fn vault_db(&self) -> PathBuf {
        self.data_dir.join("vault.db")
    }

    pub fn config_file(&self) -> PathBuf {
        self.data_dir.join("config.toml")
    }

    pub fn lock_file(&self) -> PathBuf {
        self.runtime_dir.join("session-vault.lock")
    }
}

#[cfg(test)]
mod pipe_tests {
    #[test]
    fn pipe_name_per_user() {
        assert_eq!(
            super::windows_pipe_name("ada"),
            r"\\.\pipe\session-vault-ada"
        );
        assert_eq!(
            super::windows_pipe_name(r"CORP\ada"),
            r"\\.\pipe\session-vault-CORP_ada"
        );
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.into())
    }

    #[test]
    fn xdg_first() {
        let p = VaultPaths::resolve(
            env(&[
                ("HOME", "/h"),
                ("XDG_DATA_HOME", "/d"),
                ("XDG_RUNTIME_DIR", "/r"),
            ]),
            7,
        )
        .unwrap();
        assert_eq!(p.vault_db(), PathBuf::from("/d/session-vault/vault.db"));
        assert_eq!(p.socket, PathBuf::from("/r/session-vault.sock"));
        assert!(!p.runtime_dir_is_private);
    }

    #[test]
    fn fallbacks() {
        let p =
            VaultPaths::resolve(env(&[("HOME", "/h"), ("XDG_DATA_HOME", "rel")]), 1000).unwrap();
        assert_eq!(p.data_dir, PathBuf::from("/h/.local/share/session-vault"));
        // Not /tmp/session-vault-UID, which another user could create first.
        assert_eq!(
            p.socket,
            PathBuf::from("/h/.local/share/session-vault/run/session-vault.sock")
        );
        assert!(p.runtime_dir_is_private);
        assert_eq!(VaultPaths::resolve(env(&[]), 1), Err(PathsError::NoHome));
    }
}
