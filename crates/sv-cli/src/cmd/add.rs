//! `session-vault add --tool T (--project DIR | --global)`: stores a key,
//! read hidden from the terminal or one line per variable from stdin.

use crate::cli::AddArgs;
use crate::client;
use crate::config::{project_dir, tool_table, tool_vars};
use crate::error::{CliError, Result};
use crate::input::SecretInput;
use sv_core::paths::VaultPaths;
use sv_core::protocol::{self as p, method};

/// The variables naming the askpass program `--confirm` asks through.
const ASKPASS_VARS: [&str; 2] = ["SESSION_VAULT_ASKPASS", "SSH_ASKPASS"];

/// An `--allow-exe` path, absolute and with its links resolved (the daemon
/// resolves it again to the file's device and inode).
fn allowed_exe(path: &std::path::Path) -> Result<String> {
    let c = std::fs::canonicalize(path).map_err(|e| {
        CliError::Usage(format!(
            "--allow-exe {}: {e}; give the path of an existing program",
            path.display()
        ))
    })?;
    if !c.is_file() {
        return Err(CliError::Usage(format!(
            "--allow-exe {}: not a file; give the path of a program",
            path.display()
        )));
    }
    c.into_os_string().into_string().map_err(|_| {
        CliError::Usage(format!(
            "--allow-exe {}: its path is not valid UTF-8",
            path.display()
        ))
    })
}

pub fn run(paths: &VaultPaths, a: AddArgs) -> Result {
    let vars = tool_vars(&tool_table(paths)?, &a.tool)?;
    let project = a.project.as_deref().map(project_dir).transpose()?;
    let allow_exe = a
        .allow_exe
        .iter()
        .map(|p| allowed_exe(p))
        .collect::<Result<Vec<_>>>()?;
    if a.confirm
        && !ASKPASS_VARS
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
    {
        eprintln!("note: --confirm asks through the askpass program the daemon finds in SESSION_VAULT_ASKPASS (else SSH_ASKPASS); neither is set here, so unless the daemon was started with one, every reveal of this key is refused");
    }
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
            confirm: a.confirm,
            allow_exe,
        },
    )?;
    println!("Stored session {}", r.id);
    Ok(())
}
