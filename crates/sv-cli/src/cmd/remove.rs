//! `session-vault remove ID | --tool T | --project DIR`.

use crate::cli::RemoveArgs;
use crate::client;
use crate::config::project_filter;
use crate::error::{CliError, Result};
use sv_core::paths::VaultPaths;
use sv_core::protocol::{self as p, method};

pub fn run(paths: &VaultPaths, a: RemoveArgs) -> Result {
    // A session id is a UUID: check its shape before asking the daemon, so a
    // typo is a usage error (2), and an id that matches nothing is 3.
    if let Some(id) = &a.id {
        let shape = id.len() <= 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        if !shape {
            return Err(CliError::Usage(
                "a session id is a UUID (hex digits and dashes), or its first 4 or more characters; `session-vault list` shows them".into(),
            ));
        }
        if id.len() < 4 {
            return Err(CliError::Usage(
                "give at least 4 characters of the session id (see `session-vault list`)".into(),
            ));
        }
    }
    let id = a.id.clone();
    let project = a.project.as_deref().map(project_filter);
    let mut c = client::connect_or_start(paths)?;
    let r: p::RemoveResult = c.call(
        method::REMOVE,
        p::RemoveParams {
            id: id.clone(),
            tool: a.tool,
            project,
        },
    )?;
    // An id names one session: none is exit 3 (a script can tell a typo
    // from success). `--tool` and `--project` clear what there is, like
    // `rm -f`: none is still success.
    if r.removed == 0 {
        if let Some(id) = &id {
            return Err(CliError::NoCredential(format!(
                "no session matches the id {id}; nothing was removed (`session-vault list` shows the sessions)"
            )));
        }
    }
    println!(
        "Removed {} session{}.",
        r.removed,
        if r.removed == 1 { "" } else { "s" }
    );
    Ok(())
}
