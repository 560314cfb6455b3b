//! `session-vault add --tool T (--project DIR | --global)`: stores a key,
//! read hidden from the terminal or one line per variable from stdin.

use crate::cli::AddArgs;
use crate::client;
use crate::config::{project_dir, tool_table, tool_vars};
use crate::error::{CliError, Result};
use crate::input::SecretInput;
use sv_core::paths::VaultPaths;
use sv_core::protocol::{self as p, method};

pub fn run(paths: &VaultPaths, a: AddArgs) -> Result {
    let vars = tool_vars(&tool_table(paths)?, &a.tool)?;
    let project = a.project.as_deref().map(project_dir).transpose()?;
    // Reach the daemon before asking for the secret, so a locked vault or a
    // missing daemon does not cost the user a paste.
    let mut c = client::connect_or_start(paths)?;
    let st: p::StatusResult = c.call(method::STATUS, p::Empty {})?;
    if !st.initialized {
        return Err(CliError::NoVault);
    }
    if st.locked {
        return Err(CliError::Locked(
            "the vault is locked; run `session-vault unlock` first".into(),
        ));
    }
    let mut input = SecretInput::new();
    let mut values = Vec::with_capacity(vars.len());
    for var in &vars {
        let value = input.read(&format!("Enter {var} (input hidden): "))?;
        if value.is_empty() {
            return Err(CliError::Usage(format!(
                "the value of {var} is empty; nothing was stored"
            )));
        }
        if value.expose().contains('\0') {
            return Err(CliError::Usage(format!(
                "the value of {var} contains a NUL byte; nothing was stored"
            )));
        }
        values.push(p::VarValue {
            name: var.clone(),
            value,
        });
    }
    let r: p::AddResult = c.call(
        method::ADD,
        p::AddParams {
            tool: a.tool,
            project: project.map(|p| p.to_string_lossy().into_owned()),
            label: a.label,
            ttl: a.ttl,
            max_age: a.max_age,
            values,
        },
    )?;
    println!("Stored session {}", r.id);
    Ok(())
}
