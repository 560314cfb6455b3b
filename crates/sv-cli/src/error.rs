//! The CLI's failures, each mapped once to an exit code of SPEC §3 and a
//! sentence that says what to do next.

use sv_core::protocol::{code, RpcError};

pub const EXIT_ERROR: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_NO_CREDENTIAL: u8 = 3;
pub const EXIT_UNAVAILABLE: u8 = 4;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments or input (exit 2).
    #[error("{0}")]
    Usage(String),
    /// No credential for this tool here (exit 3).
    #[error("{0}")]
    NoCredential(String),
    /// Daemon not reachable, or the vault is locked (exit 4).
    #[error("{0}")]
    Unavailable(String),
    /// Anything else (exit 1).
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::NoCredential(_) => EXIT_NO_CREDENTIAL,
            CliError::Unavailable(_) => EXIT_UNAVAILABLE,
            CliError::Failed(_) => EXIT_ERROR,
        }
    }
}

impl From<RpcError> for CliError {
    fn from(e: RpcError) -> Self {
        match e.code {
            code::NO_CREDENTIAL => CliError::NoCredential(e.message),
            code::LOCKED | code::FORBIDDEN | code::SHUTTING_DOWN => {
                CliError::Unavailable(e.message)
            }
            code::UNKNOWN_TOOL => CliError::Usage(e.message),
            _ => CliError::Failed(e.message),
        }
    }
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;
