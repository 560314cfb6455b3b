//! The CLI's failures. Each variant is one exit code of docs/design.md §3
//! and carries the one sentence (what went wrong, what to do next) that
//! `main` prints; nothing else decides an exit code.

use sv_core::protocol::{code, RpcError};

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Anything else (exit 1).
    #[error("{0}")]
    Failed(String),
    /// Bad arguments or input (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The command line does not parse: one sentence, then clap's usage or
    /// help for the command when it has one (exit 2).
    #[error("{sentence}{}", usage.as_deref().map(|u| format!("\n\n{u}")).unwrap_or_default())]
    Arguments {
        sentence: String,
        usage: Option<String>,
    },
    /// No credential for this tool here, or nothing to remove (exit 3).
    #[error("{0}")]
    NoCredential(String),
    /// Daemon not reachable (exit 4).
    #[error("{0}")]
    Unavailable(String),
    /// The vault is locked (exit 4).
    #[error("{0}")]
    Locked(String),
    /// No vault exists yet: the first `unlock` creates it (exit 4).
    #[error("no vault exists yet; create it with `session-vault unlock`, then store a key with `session-vault add`")]
    NoVault,
    /// Refused by a caller rule (docs/design.md §11): the caller is inside
    /// an agent tree, or the daemon could not tell who asked (exit 5).
    #[error("{0}")]
    Refused(String),
    /// The command has already printed why it did not succeed (`doctor`'s
    /// report): exit with this code and print nothing more.
    #[error("")]
    Reported(u8),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Failed(_) => 1,
            CliError::Usage(_) | CliError::Arguments { .. } => 2,
            CliError::NoCredential(_) => 3,
            CliError::Unavailable(_) | CliError::Locked(_) | CliError::NoVault => 4,
            CliError::Refused(_) => 5,
            CliError::Reported(code) => *code,
        }
    }

    /// The text `main` prints on stderr, if any.
    pub fn message(&self) -> Option<String> {
        match self {
            CliError::Reported(_) => None,
            other => Some(other.to_string()),
        }
    }
}

impl From<RpcError> for CliError {
    fn from(e: RpcError) -> Self {
        match e.code {
            code::NO_CREDENTIAL => CliError::NoCredential(e.message),
            code::LOCKED => CliError::Locked(e.message),
            code::REFUSED => CliError::Refused(e.message),
            code::FORBIDDEN | code::SHUTTING_DOWN => CliError::Unavailable(e.message),
            code::UNKNOWN_TOOL => CliError::Usage(e.message),
            _ => CliError::Failed(e.message),
        }
    }
}

pub type Result<T = (), E = CliError> = std::result::Result<T, E>;

/// Why a connection to the daemon failed (the platform layer's answer).
pub enum ConnectError {
    /// Nothing listens (no socket, or a stale one).
    NotRunning,
    /// The directory or the listener belongs to someone else: talking to it
    /// could hand them a key or a passphrase.
    Untrusted(String),
    Other(std::io::Error),
}
