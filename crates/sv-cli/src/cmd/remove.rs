//! `session-vault remove ID | --tool T | --project DIR`.

use crate::cli::RemoveArgs;
use crate::client;
use crate::config::project_filter;
use crate::error::Result;
use sv_core::paths::VaultPaths;
use sv_core::protocol::{self as p, method};

pub fn run(paths: &VaultPaths, a: RemoveArgs) -> Result {
    let project = a.project.as_deref().map(project_filter);
    let mut c = client::connect_or_start(paths)?;
    let r: p::RemoveResult = c.call(
        method::REMOVE,
        p::RemoveParams {
            id: a.id,
            tool: a.tool,
            project,
        },
    )?;
    println!(
        "Removed {} session{}.",
        r.removed,
        if r.removed == 1 { "" } else { "s" }
    );
    Ok(())
}
