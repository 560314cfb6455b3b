//! `session-vault integrate claude`: points Claude Code's own `apiKeyHelper`
//! setting at `session-vault get --tool claude`, so Claude Code asks the
//! vault for its key each time and the key never sits in any environment.
//!
//! The settings file is edited as JSON, keeping every other key and their
//! order, on its directory opened without following any link (a `.claude`
//! swapped for a symlink after the check is refused; docs/design.md §12).
//! The file as it was is copied first to a private backup (0600; empty when
//! there was no file) in the vault's data directory, `backups/`, with an
//! index entry, never beside the file. A file that is not a JSON object is
//! refused and left untouched. `--undo` gives the setting back: byte for
//! byte from the backup when nothing else changed since, otherwise by
//! restoring only the `apiKeyHelper` key.
//!
//! With `--proxy` (docs/design.md §10) the agent gets a stand-in, never the
//! key: Claude Code's `apiKeyHelper` becomes `session-vault get --tool
//! claude --stand-in` and its settings' `env.ANTHROPIC_BASE_URL` the
//! proxy's fixed base URL; Gemini CLI's `~/.gemini/settings.json` gets
//! `security.auth.selectedType = "gemini-api-key"`; Codex's
//! `config.toml` gets a provider at the proxy (`codex`). Those
//! two have no key helper: `integrate` also lists them for the shell hook
//! (`crate::wrappers`), whose `codex` and `gemini` functions launch them
//! through `exec --proxy`. `--undo` puts back every key it set and takes
//! the agent off that list.
//!
//! This module picks the file and hands it to the edit of its format:
//! `json` (Claude Code, Gemini CLI) or `codex` (TOML); both stand on
//! `edit`, which reads, backs up and writes the file.

mod codex;
mod edit;
mod json;

use crate::cli::{Agent, IntegrateArgs};
use crate::error::{CliError, Result};
use crate::rcfile;
use std::path::Path;

/// `session-vault integrate AGENT [--project DIR | --user] [--proxy] [--undo]`.
pub fn run(a: IntegrateArgs) -> Result {
    let shown = match a.agent {
        Agent::Claude => json::claude_settings(&a)?,
        Agent::Gemini if a.project.is_some() => return Err(CliError::Usage(
            "integrate gemini edits your user settings (~/.gemini/settings.json); drop --project"
                .into(),
        )),
        Agent::Codex if a.project.is_some() => return Err(CliError::Usage(
            "integrate codex edits your user config ($CODEX_HOME/config.toml, default ~/.codex/config.toml); drop --project"
                .into(),
        )),
        Agent::Gemini if !a.proxy && !a.undo => {
            return Err(CliError::Usage(
                "Gemini CLI has no key helper: use `session-vault integrate gemini --proxy`".into(),
            ))
        }
        Agent::Codex if !a.proxy && !a.undo => {
            return Err(CliError::Usage(
                "Codex has no key helper: use `session-vault integrate codex --proxy`".into(),
            ))
        }
        Agent::Gemini => json::gemini_settings()?,
        Agent::Codex => codex::config_path()?,
    };
    let target = rcfile::resolve_target(&shown).map_err(|e| {
        CliError::Failed(format!(
            "cannot follow the link {} ({e}); fix the link first",
            shown.display()
        ))
    })?;
    // A project's settings file that is a link out of the project (to some
    // other JSON file of the user's) is never edited. (Codex's and Gemini
    // CLI's files are the user's own, wherever a link puts them.)
    if matches!(a.agent, Agent::Claude) && !a.user {
        if let Some(project) = shown.parent().and_then(Path::parent) {
            let dir = target.parent().unwrap_or(Path::new("/"));
            if !dir.starts_with(project) {
                return Err(CliError::Failed(format!(
                    "{} leads outside the project (to {}); nothing was changed: replace the link with a file of the project's own",
                    shown.display(),
                    target.display()
                )));
            }
        }
    }
    if a.undo {
        match a.agent {
            Agent::Codex => codex::undo(&shown, &target)?,
            _ => json::undo(a.agent, &shown, &target)?,
        }
        return forget_wrapper(a.agent);
    }
    match a.agent {
        Agent::Codex => codex::integrate(&shown, &target)?,
        _ => json::integrate(a.agent, a.proxy, &shown, &target)?,
    }
    record_wrapper(a.agent)?;
    if !matches!(a.agent, Agent::Claude) {
        println!("{}", launch_note(a.agent));
    }
    Ok(())
}

/// The agent's command, for the shell hook's wrappers.
fn command_name(agent: Agent) -> &'static str {
    match agent {
        Agent::Claude => "claude",
        Agent::Codex => "codex",
        Agent::Gemini => "gemini",
    }
}

/// Lists an agent without a key helper for the shell hook's wrapper.
fn record_wrapper(agent: Agent) -> Result {
    set_wrapper(agent, true)
}

/// Takes the agent off that list (`--undo`).
fn forget_wrapper(agent: Agent) -> Result {
    set_wrapper(agent, false)
}

fn set_wrapper(agent: Agent, on: bool) -> Result {
    if let Agent::Claude = agent {
        return Ok(());
    }
    let paths = crate::client::paths()?;
    crate::wrappers::set(&paths.data_dir, command_name(agent), on).map_err(|e| {
        CliError::Failed(format!(
            "cannot update {} ({e}); the settings were changed: fix that, then run this again",
            paths.data_dir.join(crate::wrappers::FILE).display()
        ))
    })
}

/// What the user does next after `integrate codex|gemini --proxy`.
fn launch_note(agent: Agent) -> String {
    let (name, var, c) = match agent {
        Agent::Codex => ("Codex", codex::KEY_VAR, "codex"),
        _ => ("Gemini CLI", "GEMINI_API_KEY", "gemini"),
    };
    format!(
        "{name} now takes a stand-in from {var} and sends its requests through the proxy. \
         A shell that loads session-vault's hook (`session-vault install SHELL`; open a new shell) \
         runs `{c} …` as `session-vault exec --proxy --tool {c} -- {c} …`; elsewhere launch it that way yourself. \
         Undo with `session-vault integrate {c} --undo`."
    )
}
