//! What the commands read from the user's setup besides the vault: the tool
//! table (`config.toml`, else the built-in tools) and the project
//! directories named on the command line.

use crate::error::{CliError, Result};
use std::path::{Path, PathBuf};
use sv_core::paths::VaultPaths;
use sv_core::ToolTable;

/// Why `config.toml` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is there but says something wrong.
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    /// The file is there but cannot be read.
    #[error("cannot read {path}: {err}")]
    Unreadable { path: String, err: std::io::Error },
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::Invalid { .. } => CliError::Usage(e.to_string()),
            ConfigError::Unreadable { .. } => CliError::Failed(e.to_string()),
        }
    }
}

/// The tool table: the built-in tools plus those of `config.toml`, or the
/// built-in ones alone when there is no `config.toml`.
pub fn tool_table(paths: &VaultPaths) -> std::result::Result<ToolTable, ConfigError> {
    let path = paths.config_file();
    match std::fs::read_to_string(&path) {
        Ok(t) => ToolTable::with_config(&t).map_err(|e| ConfigError::Invalid {
            path: path.display().to_string(),
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ToolTable::builtin()),
        Err(err) => Err(ConfigError::Unreadable {
            path: path.display().to_string(),
            err,
        }),
    }
}

/// The variables `tool` sets, or a usage error naming the known tools.
pub fn tool_vars(table: &ToolTable, tool: &str) -> Result<Vec<String>> {
    table.vars(tool).map(|v| v.to_vec()).ok_or_else(|| {
        CliError::Usage(format!(
            "unknown tool `{tool}`; known tools: {} (add others under [tools] in config.toml)",
            table.names().collect::<Vec<_>>().join(", ")
        ))
    })
}

/// A project directory given on the command line, canonical (symlinks
/// resolved); it must exist and be a directory.
pub fn project_dir(p: &Path) -> Result<PathBuf> {
    let c = std::fs::canonicalize(p).map_err(|e| {
        CliError::Usage(format!(
            "the project directory {} cannot be used ({e}); give an existing directory",
            p.display()
        ))
    })?;
    if !c.is_dir() {
        return Err(CliError::Usage(format!(
            "{} is not a directory; give the project's directory",
            p.display()
        )));
    }
    Ok(c)
}

/// A project to filter or remove by: canonical when it still exists (a
/// deleted project's sessions can still be removed by the path as given).
pub fn project_filter(p: &Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| std::path::absolute(p).unwrap_or_else(|_| p.to_owned()))
        .to_string_lossy()
        .into_owned()
}
