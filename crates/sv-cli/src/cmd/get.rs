//! `session-vault get --tool T [--var V]`: the bare secret on stdout, for
//! helpers such as Claude Code's apiKeyHelper; and [`fetch`], the lookup
//! that `env` and `exec` share.

use crate::cli::GetArgs;
use crate::client;
use crate::config::{tool_table, tool_vars};
use crate::error::{CliError, Result};
use crate::output::print;
use sv_core::paths::VaultPaths;
use sv_core::protocol::{self as p, method};

pub fn run(paths: &VaultPaths, a: GetArgs) -> Result {
    if a.stand_in {
        return stand_in(paths, &a);
    }
    let results = fetch(paths, std::slice::from_ref(&a.tool))?;
    let values = &results[0].values;
    let value = match (&a.var, values.len()) {
        (None, 1) => &values[0].value,
        (None, _) => {
            return Err(CliError::Usage(format!(
                "tool `{}` has several variables ({}); pick one with --var",
                a.tool,
                values
                    .iter()
                    .map(|v| v.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
        (Some(name), _) => {
            &values
                .iter()
                .find(|v| &v.name == name)
                .ok_or_else(|| {
                    CliError::Usage(format!("tool `{}` has no variable {name}", a.tool))
                })?
                .value
        }
    };
    let mut line = zeroize::Zeroizing::new(String::with_capacity(value.len() + 1));
    line.push_str(value.expose());
    line.push('\n');
    print(&line)
}

/// Fetches the credential of each tool for this directory.
pub fn fetch(paths: &VaultPaths, tools_wanted: &[String]) -> Result<Vec<p::GetResult>> {
    let table = tool_table(paths)?;
    let expected = tools_wanted
        .iter()
        .map(|t| tool_vars(&table, t))
        .collect::<Result<Vec<_>>>()?;
    let mut c = client::connect_or_start(paths)?;
    let cwd = std::env::current_dir()
        .ok()
        .map(|d| d.to_string_lossy().into_owned());
    let mut results = Vec::with_capacity(tools_wanted.len());
    for (t, vars) in tools_wanted.iter().zip(expected) {
        let r: p::GetResult = match c.call(
            method::GET,
            p::GetParams {
                tool: t.clone(),
                cwd: cwd.clone(),
            },
        ) {
            Ok(r) => r,
            Err(CliError::Locked(m)) => return Err(locked_or_none(&mut c, m)),
            Err(e) => return Err(e),
        };
        // Only the variables this tool is known to set go into a shell or
        // an environment: a reply naming anything else (LD_PRELOAD, or
        // shell code) is refused.
        let names: Vec<&str> = r.values.iter().map(|v| v.name.as_str()).collect();
        if names != vars.iter().map(String::as_str).collect::<Vec<_>>() {
            return Err(CliError::Failed(format!(
                "the daemon answered for tool `{t}` with variables other than {}; check config.toml matches the daemon's (restart it with `session-vault daemon stop`)",
                vars.join(", ")
            )));
        }
        results.push(r);
    }
    Ok(results)
}

/// A locked vault, or none at all yet: the daemon's status tells which.
fn locked_or_none(c: &mut client::Client, locked: String) -> CliError {
    match c.call::<_, p::StatusResult>(method::STATUS, p::Empty {}) {
        Ok(st) if !st.initialized => CliError::NoVault,
        _ => CliError::Locked(locked),
    }
}

/// `get --tool T --stand-in`: a key helper's answer when the agent goes
/// through the proxy. The daemon binds the stand-in to the agent that ran
/// this command (docs/design.md §10), not to this short-lived process.
fn stand_in(paths: &VaultPaths, a: &GetArgs) -> Result {
    let table = tool_table(paths)?;
    let vars = tool_vars(&table, &a.tool)?;
    let mut c = client::connect_or_start(paths)?;
    let cwd = std::env::current_dir()
        .ok()
        .map(|d| d.to_string_lossy().into_owned());
    let r: p::StandInsResult = match c.call(
        method::STAND_INS,
        p::StandInsParams {
            tools: vec![a.tool.clone()],
            cwd,
            bind: p::Bind::Agent,
        },
    ) {
        Ok(r) => r,
        Err(CliError::Locked(m)) => return Err(locked_or_none(&mut c, m)),
        Err(e) => return Err(e),
    };
    let wanted = a.var.as_deref().unwrap_or(vars[0].as_str());
    if !vars.iter().any(|v| v == wanted) {
        return Err(CliError::Usage(format!(
            "tool `{}` has no variable {wanted}",
            a.tool
        )));
    }
    let value = r
        .tools
        .iter()
        .filter(|g| g.tool == a.tool)
        .flat_map(|g| g.vars.iter())
        .find(|v| v.name == wanted)
        .ok_or_else(|| {
            CliError::Failed(format!(
                "the daemon gave no stand-in for {wanted}; check config.toml matches the daemon's (restart it with `session-vault daemon stop`)"
            ))
        })?;
    let mut line = zeroize::Zeroizing::new(String::with_capacity(value.value.len() + 1));
    line.push_str(value.value.expose());
    line.push('\n');
    print(&line)
}
