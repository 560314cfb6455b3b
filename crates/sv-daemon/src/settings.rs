//! `config.toml` beside the vault, read once at start: the `[tools]` tables
//! (read by `sv_core::ToolTable`) and the daemon's own keys (`lock_after`,
//! `[audit]`). A missing file means the defaults.

use crate::error::{setup, DaemonError};
use std::io::ErrorKind;
use sv_core::ops::DaemonConfig;
use sv_core::paths::VaultPaths;
use sv_core::ToolTable;

/// The tools and the daemon's settings from `config.toml`.
pub fn load(paths: &VaultPaths) -> Result<(ToolTable, DaemonConfig), DaemonError> {
    let path = paths.config_file();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Ok((ToolTable::builtin(), DaemonConfig::default()))
        }
        Err(e) => return Err(setup("read", &path)(e)),
    };
    let tools = ToolTable::with_config(&text)
        .map_err(|e| DaemonError::Setup(format!("{}: {e}", path.display())))?;
    let config = DaemonConfig::from_toml(&text).map_err(|e| {
        DaemonError::Setup(format!(
            "{}: {e}; fix the file or remove the key",
            path.display()
        ))
    })?;
    Ok((tools, config))
}
