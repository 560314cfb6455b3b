//! `exec --proxy --tool T [--tool T2 …] -- CMD`: runs CMD with stand-ins in
//! its tools' key variables and their base-URL variables pointing at the
//! daemon's credential proxy (docs/design.md §10). No real key reaches this
//! process, let alone CMD.
//!
//! CMD runs in an agent tree of its own (docs/callers.md): neither it nor
//! anything it starts can ask the daemon for a plaintext key.
//!
//! The daemon binds each stand-in to the process that asked for it, this
//! one; CMD replaces it in place (exec) and so keeps its pid: the stand-ins
//! live exactly as long as CMD does.

use crate::cli::ExecArgs;
use crate::client;
use crate::error::{CliError, Result};
use sv_core::paths::VaultPaths;
use sv_core::protocol::{self as p, method};

pub fn run(paths: &VaultPaths, a: ExecArgs) -> Result {
    let table = crate::config::tool_table(paths)?;
    let mut allowed: Vec<String> = Vec::new();
    for t in &a.tool {
        allowed.extend(crate::config::tool_vars(&table, t)?);
        if let Some(var) = table.proxy(t).and_then(|c| c.base_url_var.clone()) {
            allowed.push(var);
        }
    }
    let (prog, args) = a
        .command
        .split_first()
        .ok_or_else(|| CliError::Usage("give the command to run after `--`".into()))?;
    // The daemon must run outside the tree (one started inside would take
    // the tree's namespace for the user's own): start it first, then mark
    // this process, which CMD replaces, as an agent tree (docs/callers.md),
    // and only then ask for the stand-ins on a new connection.
    drop(client::connect_or_start(paths)?);
    crate::agent_tree::enter_agent_tree()?;
    let mut c = client::connect_or_start(paths)?;
    let cwd = std::env::current_dir()
        .ok()
        .map(|d| d.to_string_lossy().into_owned());
    let r: p::StandInsResult = c.call(
        method::STAND_INS,
        p::StandInsParams {
            tools: a.tool.clone(),
            cwd,
            bind: p::Bind::Caller,
        },
    )?;
    let mut cmd = std::process::Command::new(prog);
    cmd.args(args);
    for g in &r.tools {
        for v in &g.vars {
            // Only the tool's own variables, its base URL's and Codex's key
            // variable: a reply naming anything else (LD_PRELOAD, PATH) is
            // refused.
            let known = allowed.contains(&v.name)
                || (g.tool == "codex" && v.name == "CODEX_API_KEY")
                || (v.name.ends_with("_BASE_URL") && sv_core::tools::valid_var_name(&v.name));
            if !known {
                return Err(CliError::Failed(format!(
                    "the daemon answered for tool `{}` with the variable {}, which is not the tool's; check config.toml matches the daemon's (restart it with `session-vault daemon stop`)",
                    g.tool, v.name
                )));
            }
            cmd.env(&v.name, v.value.expose());
        }
    }
    drop(c);
    let err = crate::platform::exec(&mut cmd);
    Err(CliError::Failed(format!(
        "cannot run `{}`: {err}; check the command name and your PATH",
        prog.to_string_lossy()
    )))
}
