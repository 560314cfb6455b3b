//! `session-vault exec --tool T… -- CMD`: runs CMD with the tools'
//! variables in its environment only.

use super::get::fetch;
use crate::cli::ExecArgs;
use crate::error::{CliError, Result};
use sv_core::paths::VaultPaths;

pub fn run(paths: &VaultPaths, a: ExecArgs) -> Result {
    if a.proxy {
        return super::exec_proxy::run(paths, a);
    }
    let results = fetch(paths, &a.tool)?;
    let (prog, args) = a
        .command
        .split_first()
        .ok_or_else(|| CliError::Usage("give the command to run after `--`".into()))?;
    let mut cmd = std::process::Command::new(prog);
    cmd.args(args);
    for r in &results {
        for v in &r.values {
            cmd.env(&v.name, v.value.expose());
        }
    }
    // exec replaces this process: stdio, signals and the exit status are the
    // command's own, and the credentials exist only in its environment.
    // (Windows has no exec: the command runs as a child and its exit code
    // becomes ours; see crate::platform.)
    let err = crate::platform::exec(&mut cmd);
    Err(CliError::Failed(format!(
        "cannot run `{}`: {err}; check the command name and your PATH",
        prog.to_string_lossy()
    )))
}
