//! Shell integration: `init` (the hook that defines `sv_load` and
//! `sv_unload`), `install` / `uninstall` (the marked block in a startup
//! file), `completions` and `man`.
//!
//! The hooks are one template file per shell under `templates/`, compiled in
//! with `include_str!`; they hold no secret and take no parameters. A hook
//! never evaluates anything but `session-vault env` output, whose values are
//! always single-quoted (see `sv_core::quote`).

use crate::cli::{CompletionsArgs, HookShell, InitArgs, InstallArgs, ManArgs};
use crate::error::{CliError, Result};
use crate::output::write_stdout;
use crate::rcfile::{self, Added, BlockError, Removed};
use std::path::{Path, PathBuf};
use sv_core::paths::VaultPaths;

impl HookShell {
    /// The hook code `init` prints.
    pub fn hook(self) -> &'static str {
        match self {
            HookShell::Bash => include_str!("../../templates/bash.sh"),
            HookShell::Zsh => include_str!("../../templates/zsh.zsh"),
            HookShell::Fish => include_str!("../../templates/fish.fish"),
            HookShell::Powershell => include_str!("../../templates/powershell.ps1"),
        }
    }

    /// The function that launches `agent` (a name from
    /// `crate::wrappers::AGENTS`, letters only) through the proxy:
    /// `command` reaches the real binaries, so it never calls itself; the
    /// arguments pass through as given and the agent's exit status is the
    /// function's. PowerShell gets none (docs/agents.md).
    pub fn wrapper(self, agent: &str) -> String {
        let note = format!(
            "\n# `session-vault integrate {agent} --proxy` ran: `{agent}` starts through the\n\
             # credential proxy with a stand-in (`session-vault integrate {agent} --undo` stops it).\n"
        );
        match self {
            HookShell::Bash | HookShell::Zsh => format!(
                "{note}function {agent} {{\n    command session-vault exec --proxy --tool {agent} -- {agent} \"$@\"\n}}\n"
            ),
            HookShell::Fish => format!(
                "{note}function {agent} --wraps {agent} --description 'Start {agent} through session-vault\\'s credential proxy'\n    \
                 command session-vault exec --proxy --tool {agent} -- {agent} $argv\nend\n"
            ),
            HookShell::Powershell => String::new(),
        }
    }

    /// The one line the startup file gets: load the hook when the binary is
    /// there, stay quiet when it is not.
    pub fn rc_line(self) -> &'static str {
        match self {
            HookShell::Bash => r#"if command -v session-vault >/dev/null 2>&1; then eval "$(session-vault init bash)"; fi"#,
            HookShell::Zsh => r#"if command -v session-vault >/dev/null 2>&1; then eval "$(session-vault init zsh)"; fi"#,
            HookShell::Fish => "if command -q session-vault; session-vault init fish | source; end",
            HookShell::Powershell => {
                "if (Get-Command session-vault -ErrorAction SilentlyContinue) { Invoke-Expression (& session-vault init powershell | Out-String) }"
            }
        }
    }

    /// The startup file `install` edits when `--rc` is not given.
    pub fn default_rc(self) -> Result<PathBuf> {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let home = || {
            var("HOME").ok_or_else(|| {
                CliError::Usage("HOME is not set; set it, or name the file with --rc FILE".into())
            })
        };
        let config = || -> Result<PathBuf> {
            match var("XDG_CONFIG_HOME").filter(|p| p.is_absolute()) {
                Some(c) => Ok(c),
                None => Ok(home()?.join(".config")),
            }
        };
        Ok(match self {
            HookShell::Bash => home()?.join(".bashrc"),
            HookShell::Zsh => var("ZDOTDIR").map_or_else(home, Ok)?.join(".zshrc"),
            HookShell::Fish => config()?.join("fish/conf.d/session-vault.fish"),
            // PowerShell's $PROFILE (CurrentUserCurrentHost).
            HookShell::Powershell if cfg!(windows) => var("USERPROFILE")
                .ok_or_else(|| {
                    CliError::Usage(
                        "USERPROFILE is not set; name the file with --rc $PROFILE".into(),
                    )
                })?
                .join("Documents/PowerShell/Microsoft.PowerShell_profile.ps1"),
            HookShell::Powershell => config()?.join("powershell/Microsoft.PowerShell_profile.ps1"),
        })
    }
}

/// `session-vault init SHELL`: the hook, then a launch wrapper for each
/// agent `integrate AGENT --proxy` listed (`crate::wrappers`). Reads one
/// small file at most; quiet when it is absent.
pub fn init(paths: &VaultPaths, a: InitArgs) -> Result {
    let mut out = a.shell.hook().to_owned();
    for agent in crate::wrappers::listed(&paths.data_dir) {
        out.push_str(&a.shell.wrapper(agent));
    }
    write_stdout(out.as_bytes())
}

fn block_body(shell: HookShell) -> [String; 2] {
    let s = shell.name();
    [
        format!("# Added by `session-vault install --shell {s}`; `session-vault uninstall --shell {s}` removes it."),
        shell.rc_line().to_owned(),
    ]
}

fn rc_path(a: &InstallArgs) -> Result<(PathBuf, PathBuf)> {
    let shown = match &a.rc {
        Some(p) => p.clone(),
        None => a.shell().default_rc()?,
    };
    let target = rcfile::resolve_target(&shown).map_err(|e| {
        CliError::Failed(format!(
            "cannot follow the link {} ({e}); fix the link or give --rc FILE",
            shown.display()
        ))
    })?;
    Ok((shown, target))
}

fn read_rc(path: &Path) -> Result<Option<Vec<u8>>> {
    if path.is_dir() {
        return Err(CliError::Usage(format!(
            "{} is a directory; give the startup file with --rc FILE",
            path.display()
        )));
    }
    rcfile::read_optional(path).map_err(|e| {
        CliError::Failed(format!(
            "cannot read {} ({e}); nothing was changed",
            path.display()
        ))
    })
}

fn unterminated(path: &Path) -> CliError {
    CliError::Failed(format!(
        "{} has a `# >>> session-vault` line without its `# <<< session-vault <<<` end; \
         nothing was changed: fix or delete that block by hand, then run this again",
        path.display()
    ))
}

/// `session-vault install SHELL [--rc FILE]`.
pub fn install(a: InstallArgs) -> Result {
    let (shown, target) = rc_path(&a)?;
    let current = read_rc(&target)?;
    let body = block_body(a.shell());
    let body: Vec<&str> = body.iter().map(String::as_str).collect();
    let (content, replaced) = match rcfile::add_block(current.as_deref(), &body) {
        Ok(Added::AlreadyPresent) => {
            println!(
                "session-vault is already in {}; nothing changed.",
                shown.display()
            );
            return Ok(());
        }
        Ok(Added::Changed { content, replaced }) => (content, replaced),
        Err(BlockError::Unterminated) => return Err(unterminated(&shown)),
    };
    if current.is_none() {
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                CliError::Failed(format!(
                    "cannot create {} ({e}); create it or give --rc FILE",
                    dir.display()
                ))
            })?;
        }
    }
    rcfile::write_checked(&target, current.as_deref(), &content, 0o644).map_err(|e| {
        CliError::Failed(format!(
            "cannot write {} ({e}); it was left as it was",
            shown.display()
        ))
    })?;
    let verb = if replaced {
        "Updated the session-vault block in"
    } else {
        "Added the session-vault block to"
    };
    println!("{verb} {}.", shown.display());
    println!(
        "Open a new {} (or reload that file), then run `sv_load TOOL`.",
        a.shell().name()
    );
    Ok(())
}

/// `session-vault uninstall SHELL [--rc FILE]`.
pub fn uninstall(a: InstallArgs) -> Result {
    let (shown, target) = rc_path(&a)?;
    let Some(current) = read_rc(&target)? else {
        println!("{} does not exist; nothing to remove.", shown.display());
        return Ok(());
    };
    match rcfile::remove_block(&current) {
        Ok(Removed::NotPresent) => {
            println!(
                "No session-vault block in {}; nothing to remove.",
                shown.display()
            );
        }
        Ok(Removed::Content(content)) => {
            rcfile::write_checked(&target, Some(&current), &content, 0o644).map_err(|e| {
                CliError::Failed(format!(
                    "cannot write {} ({e}); it was left as it was",
                    shown.display()
                ))
            })?;
            println!("Removed the session-vault block from {}.", shown.display());
        }
        Ok(Removed::DeleteFile) => {
            rcfile::remove_anchored(&target).map_err(|e| {
                CliError::Failed(format!(
                    "cannot remove {} ({e}); delete it by hand",
                    shown.display()
                ))
            })?;
            println!(
                "Removed {} (session-vault install had created it).",
                shown.display()
            );
        }
        Err(BlockError::Unterminated) => return Err(unterminated(&shown)),
    }
    Ok(())
}

/// `session-vault completions SHELL`.
pub fn completions(a: CompletionsArgs) -> Result {
    write_stdout(&crate::cli::completions(a.shell))
}

/// `session-vault man [--out-dir DIR]`.
pub fn man(a: ManArgs) -> Result {
    let Some(dir) = a.out_dir else {
        let page = crate::cli::man_page()
            .map_err(|e| CliError::Failed(format!("cannot render the man page: {e}")))?;
        return write_stdout(&page);
    };
    std::fs::create_dir_all(&dir).map_err(|e| {
        CliError::Failed(format!(
            "cannot create {} ({e}); give a writable --out-dir",
            dir.display()
        ))
    })?;
    crate::cli::write_man_pages(&dir).map_err(|e| {
        CliError::Failed(format!(
            "cannot write the man pages into {} ({e})",
            dir.display()
        ))
    })?;
    println!("Wrote the man pages into {}.", dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn every_hook_defines_both_functions_and_calls_env() {
        for s in HookShell::value_variants() {
            let h = s.hook();
            assert!(h.contains("sv_load"), "{s:?}");
            assert!(h.contains("sv_unload"), "{s:?}");
            let fmt = match s {
                HookShell::Bash | HookShell::Zsh => "sh",
                HookShell::Fish => "fish",
                HookShell::Powershell => "powershell",
            };
            assert!(
                h.contains(&format!("--format {fmt}"))
                    || h.contains(&format!("'--format', '{fmt}'")),
                "{s:?}"
            );
            assert!(h.contains("--unset") || h.contains("'--unset'"), "{s:?}");
            assert!(
                s.rc_line()
                    .contains(&format!("session-vault init {}", s.name())),
                "{s:?}"
            );
        }
    }
}
