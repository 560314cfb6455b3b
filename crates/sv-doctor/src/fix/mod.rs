//! `doctor --fix`: move each plaintext key into the vault, then rewrite the
//! file it came from (docs/design.md §12).
//!
//! - [`plan`] reads every source afresh and works out each rewrite; it
//!   changes nothing. What it cannot do safely gets a hint instead
//!   ([`FixSkip`]): a shell line that is not a single assignment at the top
//!   level of its file ([`shell`]), two different keys for the same tool
//!   and scope (never merged into one session), a project file that leads
//!   out of its project.
//! - [`apply`] stores the keys, then edits each file on its opened
//!   directory ([`sv_fs::Dir`]): the file is re-read through that
//!   directory and must still hold what was planned, the original goes to a
//!   private backup under the vault's data directory ([`backup_dir`]), and
//!   the new content replaces the file atomically with its mode kept. A
//!   directory swapped for a symlink in between is refused, never followed.
//!   A vault that refuses leaves the file untouched. Running it again
//!   changes nothing, since the rewritten files no longer hold keys.
//!
//! Rewrites: a profile line is commented out with a note (the key itself is
//! not kept in the comment); a `.env` line is dropped; a Claude settings
//! `env` key becomes `"apiKeyHelper": "session-vault get --tool claude"`; an
//! MCP server's key leaves its `env` and its command is wrapped in
//! `session-vault exec --tool T -- CMD ARGS` ([`json`]); Codex `auth.json`'s
//! key is set to `null`. Anything else gets a hint to do by hand.

mod apply;
mod group;
mod json;
mod plan;
pub mod shell;
#[cfg(test)]
mod tests;

pub use apply::apply;
pub use plan::plan;
pub use sv_fs::time::utc_stamp;

use crate::Finding;
use serde::Serialize;
use std::path::PathBuf;
use sv_core::paths::VaultPaths;
use sv_core::SecretString;
use zeroize::Zeroizing;

/// The helper command Claude Code runs for its key.
pub use sv_core::tools::CLAUDE_HELPER;

/// Where `doctor --fix` and `integrate` keep their backups: a private
/// directory (0700) in the vault's data directory, with an index
/// (`sv_fs::Backups::list` reads it).
pub fn backup_dir(paths: &VaultPaths) -> PathBuf {
    paths.data_dir.join("backups")
}

/// What `--fix` writes in the backup index's `by` field.
pub const BACKUP_BY: &str = "doctor --fix";

/// One credential to store.
#[derive(Debug, Clone)]
pub struct StoreRequest {
    pub tool: String,
    /// Canonical project directory, or `None` for a global session.
    pub project: Option<PathBuf>,
    /// The tool's variables, in the tool's order.
    pub values: Vec<(String, SecretString)>,
    pub label: String,
}

/// Why the vault did not store a credential.
#[derive(Debug, Clone)]
pub struct VaultRefusal {
    pub message: String,
    /// Locked or unreachable: nothing else will succeed either.
    pub fatal: bool,
}

/// The vault, as `--fix` sees it.
pub trait VaultSink {
    /// Stores one credential and returns its session id.
    fn store(&mut self, req: &StoreRequest) -> Result<String, VaultRefusal>;
}

pub struct FixOptions {
    /// Scope for keys from the home directory's files: `None` = global.
    pub home_project: Option<PathBuf>,
    /// Where user tools are declared, for the hint about unknown variables.
    pub config_file: PathBuf,
    /// `YYYYMMDDTHHMMSSZ`, used in notes and backup names.
    pub timestamp: String,
}

/// The rewrite of one file.
pub struct FilePlan {
    /// The path the report named.
    pub path: PathBuf,
    /// The file written (symlinks resolved).
    pub target: PathBuf,
    pub original: Zeroizing<Vec<u8>>,
    pub rewritten: Zeroizing<Vec<u8>>,
    pub stores: Vec<StoreRequest>,
    /// What changes, one line each.
    pub changes: Vec<String>,
}

/// A finding `--fix` leaves alone, and why.
#[derive(Debug, Clone, Serialize)]
pub struct FixSkip {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub what: String,
    pub reason: String,
}

#[derive(Default)]
pub struct Plan {
    pub files: Vec<FilePlan>,
    pub skips: Vec<FixSkip>,
}

pub(crate) fn what(f: &Finding) -> String {
    match (&f.variable, &f.json_path) {
        (_, Some(p)) => format!("{p} ({})", f.hint),
        (Some(v), None) => format!("{v} ({})", f.hint),
        (None, None) => f.hint.clone(),
    }
}

pub(crate) fn skip(f: &Finding, reason: impl Into<String>) -> FixSkip {
    FixSkip {
        file: f.file.clone(),
        line: f.line,
        what: what(f),
        reason: reason.into(),
    }
}

/// What happened to one planned file.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum Outcome {
    /// Keys stored, backup written, file replaced.
    Applied {
        file: PathBuf,
        /// The file written (a symlinked profile's target).
        written: PathBuf,
        backup: PathBuf,
        sessions: Vec<String>,
    },
    /// The vault refused: the file is untouched.
    Refused { file: PathBuf, message: String },
    /// Not tried: an earlier refusal said the vault is unavailable.
    NotAttempted { file: PathBuf },
    /// The file changed since it was read: untouched.
    Changed { file: PathBuf },
    /// Stored, but the backup or the rewrite failed (the file is untouched
    /// unless `backup` is set, in which case the backup holds the original).
    Failed { file: PathBuf, message: String },
}
