//! The daemon's own keys of `config.toml` (`lock_after`, `[audit]`), read
//! once at start. The `[tools]` tables are read by `sv_core::ToolTable`.

use crate::error::DaemonError;
use std::io::ErrorKind;
use sv_core::ops::DaemonConfig;
use sv_core::paths::VaultPaths;

/// Reads `config.toml` beside the vault; a missing file means the defaults.
pub fn load(paths: &VaultPaths) -> Result<DaemonConfig, DaemonError> {
    let path = paths.config_file();
    match std::fs::read_to_string(&path) {
        Ok(text) => DaemonConfig::from_toml(&text).map_err(|e| {
            DaemonError::Setup(format!(
                "{}: {e}; fix the file or remove the key",
                path.display()
            ))
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(DaemonConfig::default()),
        Err(e) => Err(DaemonError::Setup(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}
