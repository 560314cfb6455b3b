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
//! `config.toml` gets a provider at the proxy (`integrate_codex`). Those
//! two have no key helper: `integrate` also lists them for the shell hook
//! (`crate::wrappers`), whose `codex` and `gemini` functions launch them
//! through `exec --proxy`. `--undo` puts back every key it set and takes
//! the agent off that list.

use crate::cli::{Agent, IntegrateArgs};
use crate::config::project_dir;
use crate::error::{CliError, Result};
use crate::rcfile;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

// The command Claude Code runs (through /bin/sh) to obtain its key.
use sv_core::tools::CLAUDE_HELPER;

const KEY: &str = "apiKeyHelper";

/// The settings file `a` names.
fn settings_path(a: &IntegrateArgs) -> Result<PathBuf> {
    if a.user {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let dir = match var("CLAUDE_CONFIG_DIR") {
            Some(d) => d,
            None => var("HOME")
                .ok_or_else(|| {
                    CliError::Usage("HOME is not set; set it, or use --project DIR".into())
                })?
                .join(".claude"),
        };
        return Ok(dir.join("settings.json"));
    }
    let dir = match &a.project {
        Some(d) => d.clone(),
        None => std::env::current_dir().map_err(|e| {
            CliError::Failed(format!(
                "cannot tell the current directory ({e}); give --project DIR"
            ))
        })?,
    };
    let dir = project_dir(&dir)?;
    Ok(dir.join(".claude/settings.local.json"))
}

/// What `integrate` writes in the backup index's `by` field.
pub(super) const BACKUP_BY: &str = "integrate";

/// Where the backups go (shared with `doctor --fix`).
pub(super) fn backup_dir() -> Result<PathBuf> {
    Ok(sv_doctor::fix::backup_dir(&crate::client::paths()?))
}

/// Parses settings text into its top-level object, or says why not.
fn parse_settings(path: &Path, bytes: &[u8]) -> Result<Map<String, Value>> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(CliError::Failed(format!(
            "{} holds JSON but not an object; nothing was changed: fix the file, then run this again",
            path.display()
        ))),
        Err(e) => Err(CliError::Failed(format!(
            "{} is not valid JSON (line {}, column {}); nothing was changed: fix the file, then run this again",
            path.display(),
            e.line(),
            e.column()
        ))),
    }
}

fn render(m: Map<String, Value>) -> Result<Vec<u8>> {
    let mut out = serde_json::to_vec_pretty(&Value::Object(m))
        .map_err(|e| CliError::Failed(format!("cannot render the settings: {e}")))?;
    out.push(b'\n');
    Ok(out)
}

/// Replaces the settings while they still hold `current`.
pub(super) fn write(
    shown: &Path,
    target: &Path,
    current: Option<&[u8]>,
    bytes: &[u8],
    new_mode: u32,
) -> Result<()> {
    rcfile::write_checked(target, current, bytes, new_mode).map_err(|e| {
        CliError::Failed(format!(
            "cannot write {} ({e}); it was left as it was",
            shown.display()
        ))
    })
}

/// The key helper that prints a stand-in bound to the agent running it.
pub const CLAUDE_PROXY_HELPER: &str = "session-vault get --tool claude --stand-in";

/// One setting `integrate` writes: where in the JSON object, and what.
struct Edit {
    path: &'static [&'static str],
    value: Value,
}

/// The settings `a` asks for (the proxy's address from the daemon).
fn edits(a: &IntegrateArgs) -> Result<Vec<Edit>> {
    Ok(match (a.agent, a.proxy) {
        (Agent::Claude, false) => vec![Edit {
            path: &[KEY],
            value: Value::String(CLAUDE_HELPER.into()),
        }],
        (Agent::Claude, true) => vec![
            Edit {
                path: &[KEY],
                value: Value::String(CLAUDE_PROXY_HELPER.into()),
            },
            Edit {
                path: &["env", "ANTHROPIC_BASE_URL"],
                value: Value::String(format!("http://{}/t/claude", proxy_addr()?)),
            },
        ],
        // Codex's TOML is edited by `integrate_codex`.
        (Agent::Codex, _) => Vec::new(),
        (Agent::Gemini, _) => vec![Edit {
            path: &["security", "auth", "selectedType"],
            value: Value::String("gemini-api-key".into()),
        }],
    })
}

/// Every setting `--undo` gives back for the agent.
fn undo_paths(agent: Agent) -> &'static [&'static [&'static str]] {
    match agent {
        Agent::Claude => &[&[KEY], &["env", "ANTHROPIC_BASE_URL"]],
        Agent::Gemini => &[&["security", "auth", "selectedType"]],
        Agent::Codex => &[],
    }
}

/// The proxy's `127.0.0.1:PORT`, fixed per vault (docs/design.md §10).
pub(super) fn proxy_addr() -> Result<String> {
    let paths = crate::client::paths()?;
    let mut c = crate::client::connect_or_start(&paths)?;
    let st: sv_core::protocol::StatusResult = c.call(
        sv_core::protocol::method::STATUS,
        sv_core::protocol::Empty {},
    )?;
    st.proxy.and_then(|p| p.listen).ok_or_else(|| {
        CliError::Failed(
            "the credential proxy is not running; see `session-vault daemon status` and the daemon's log, then run this again".into(),
        )
    })
}

fn get_path<'m>(m: &'m Map<String, Value>, path: &[&str]) -> Option<&'m Value> {
    let (last, parents) = path.split_last()?;
    let mut cur = m;
    for k in parents {
        cur = cur.get(*k)?.as_object()?;
    }
    cur.get(*last)
}

/// Sets `path` to `v`, creating the objects on the way; refuses to replace
/// a value that is not an object.
fn set_path(shown: &Path, m: &mut Map<String, Value>, path: &[&str], v: Value) -> Result<()> {
    let Some((last, parents)) = path.split_last() else {
        return Ok(());
    };
    let mut cur = m;
    for k in parents {
        cur = cur
            .entry((*k).to_owned())
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .ok_or_else(|| {
                CliError::Failed(format!(
                    "{} has \"{k}\" but not as an object; nothing was changed: fix the file, then run this again",
                    shown.display()
                ))
            })?;
    }
    cur.insert((*last).to_owned(), v);
    Ok(())
}

/// Gives `path` back its value in `before`, or removes it, with any
/// object on the way that `before` did not have and that is now empty.
fn restore_path(m: &mut Map<String, Value>, before: Option<&Map<String, Value>>, path: &[&str]) {
    let old = before.and_then(|b| get_path(b, path)).cloned();
    match old {
        Some(v) => {
            let _ = set_path(Path::new(""), m, path, v);
        }
        None => remove_path(m, before, path, 0),
    }
}

fn remove_path(
    m: &mut Map<String, Value>,
    before: Option<&Map<String, Value>>,
    path: &[&str],
    depth: usize,
) {
    let Some((first, rest)) = path[depth..].split_first() else {
        return;
    };
    if rest.is_empty() {
        m.shift_remove(*first);
        return;
    }
    if let Some(Value::Object(child)) = m.get_mut(*first) {
        remove_path(child, before, path, depth + 1);
        let had = before.and_then(|b| get_path(b, &path[..=depth])).is_some();
        if child.is_empty() && !had {
            m.shift_remove(*first);
        }
    }
}

/// Gemini CLI's user settings (`GEMINI_CLI_HOME`, else `HOME`).
fn gemini_settings() -> Result<PathBuf> {
    let home = ["GEMINI_CLI_HOME", "HOME"]
        .iter()
        .find_map(|k| std::env::var_os(k).filter(|v| !v.is_empty()))
        .ok_or_else(|| CliError::Usage("HOME is not set; set it, then run this again".into()))?;
    Ok(PathBuf::from(home).join(".gemini/settings.json"))
}

/// `session-vault integrate AGENT [--project DIR | --user] [--proxy] [--undo]`.
pub fn run(a: IntegrateArgs) -> Result {
    let shown = match a.agent {
        Agent::Claude => settings_path(&a)?,
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
        Agent::Gemini => gemini_settings()?,
        Agent::Codex => super::integrate_codex::config_path()?,
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
    if let Agent::Codex = a.agent {
        if a.undo {
            let changed = super::integrate_codex::undo(&shown, &target)?;
            forget_wrapper(a.agent)?;
            if changed {
                println!("Removed session-vault's provider from {}.", shown.display());
            }
            return Ok(());
        }
        super::integrate_codex::integrate(&shown, &target)?;
        record_wrapper(a.agent)?;
        println!("{}", launch_note(a.agent));
        return Ok(());
    }
    let current = rcfile::read_optional(&target).map_err(|e| {
        CliError::Failed(format!(
            "cannot read {} ({e}); nothing was changed",
            shown.display()
        ))
    })?;
    if a.undo {
        undo(a.agent, &shown, &target, current)?;
        return forget_wrapper(a.agent);
    }
    let mut settings = match &current {
        Some(bytes) => parse_settings(&shown, bytes)?,
        None => Map::new(),
    };
    let edits = edits(&a)?;
    if edits
        .iter()
        .all(|e| get_path(&settings, e.path) == Some(&e.value))
    {
        println!(
            "{} is already set up for session-vault; nothing changed.",
            shown.display()
        );
        return record_wrapper(a.agent);
    }
    // Switching between the plain helper and the proxy: undo first, so the
    // backup stays the file as it was before session-vault.
    if backup_exists(&target)? {
        return Err(CliError::Failed(format!(
            "{} was already changed by `session-vault integrate`; run it with --undo first, then again",
            shown.display()
        )));
    }
    // The backup first: if it cannot be written, the settings are not touched.
    let stamp = sv_fs::time::utc_stamp(sv_fs::time::now_unix());
    let backups = sv_fs::Backups::new(backup_dir()?, &stamp);
    let backup = backups
        .save(&target, current.as_deref().unwrap_or_default(), BACKUP_BY)
        .map_err(|e| {
            CliError::Failed(format!(
                "cannot write the backup in {} ({e}); nothing was changed",
                backups.dir().display()
            ))
        })?;
    let plaintext_key = settings
        .get("env")
        .and_then(|e| e.get("ANTHROPIC_API_KEY"))
        .is_some();
    for e in edits.iter() {
        set_path(&shown, &mut settings, e.path, e.value.clone())?;
    }
    write(
        &shown,
        &target,
        current.as_deref(),
        &render(settings)?,
        0o600,
    )?;
    for e in &edits {
        println!(
            "Set {} to {} in {}.",
            e.path.join("."),
            e.value,
            shown.display()
        );
    }
    println!("(backup: {})", backup.display());
    match (a.agent, a.proxy) {
        (Agent::Claude, false) => println!("Claude Code now asks the vault for its key; undo with `session-vault integrate claude --undo` and the same --project/--user."),
        (Agent::Claude, true) => println!("Claude Code now gets a stand-in from the vault and sends its requests through the proxy; undo with `session-vault integrate claude --undo` and the same --project/--user."),
        (Agent::Gemini | Agent::Codex, _) => {
            record_wrapper(a.agent)?;
            println!("{}", launch_note(a.agent));
        }
    }
    if plaintext_key {
        eprintln!(
            "warning: {} also sets ANTHROPIC_API_KEY in plaintext under \"env\": store it with `session-vault add --tool claude`, then delete it from the file and from the backup {} (or run `session-vault doctor --fix`)",
            shown.display(),
            backup.display()
        );
    }
    Ok(())
}

pub(super) fn backup_exists(target: &Path) -> Result<bool> {
    Ok(sv_fs::Backups::latest(&backup_dir()?, target, BACKUP_BY).is_some())
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
        Agent::Codex => ("Codex", super::integrate_codex::KEY_VAR, "codex"),
        _ => ("Gemini CLI", "GEMINI_API_KEY", "gemini"),
    };
    format!(
        "{name} now takes a stand-in from {var} and sends its requests through the proxy. \
         A shell that loads session-vault's hook (`session-vault install SHELL`; open a new shell) \
         runs `{c} …` as `session-vault exec --proxy --tool {c} -- {c} …`; elsewhere launch it that way yourself. \
         Undo with `session-vault integrate {c} --undo`."
    )
}

fn undo(agent: Agent, shown: &Path, target: &Path, current: Option<Vec<u8>>) -> Result {
    let Some(current) = current else {
        println!("{} does not exist; nothing to undo.", shown.display());
        return Ok(());
    };
    let mut settings = parse_settings(shown, &current)?;
    let ours = match agent {
        Agent::Claude => matches!(
            settings.get(KEY).and_then(Value::as_str),
            Some(CLAUDE_HELPER | CLAUDE_PROXY_HELPER)
        ),
        Agent::Gemini | Agent::Codex => backup_exists(target)?,
    };
    if !ours {
        println!(
            "{} holds no setting of session-vault's; nothing to undo.",
            shown.display()
        );
        return Ok(());
    }
    let found = sv_fs::Backups::latest(&backup_dir()?, target, BACKUP_BY);
    let backup = match &found {
        None => None,
        Some(b) => Some(std::fs::read(&b.path).map_err(|e| {
            CliError::Failed(format!(
                "cannot read the backup {} ({e}); nothing was changed",
                b.path.display()
            ))
        })?),
    };
    let before = match backup.as_deref() {
        Some([]) | None => None,
        Some(bytes) => serde_json::from_slice::<Value>(bytes)
            .ok()
            .and_then(|v| match v {
                Value::Object(m) => Some(m),
                _ => None,
            }),
    };
    let proxy_helper = settings.get(KEY).and_then(Value::as_str) == Some(CLAUDE_PROXY_HELPER);
    for path in undo_paths(agent) {
        // The plain helper never set a base URL: one there is the user's.
        if matches!(agent, Agent::Claude) && path.len() > 1 && !proxy_helper {
            continue;
        }
        restore_path(&mut settings, before.as_ref(), path);
    }
    match (&backup, &before) {
        // Nothing else changed since: the original bytes come back.
        (Some(bytes), Some(b)) if *b == settings => {
            write(shown, target, Some(&current), bytes, 0o600)?
        }
        // `integrate` created the file and it holds nothing else.
        (Some(bytes), None) if bytes.is_empty() && settings.is_empty() => {
            rcfile::remove_anchored(target).map_err(|e| {
                CliError::Failed(format!(
                    "cannot remove {} ({e}); delete it by hand",
                    shown.display()
                ))
            })?
        }
        _ => write(shown, target, Some(&current), &render(settings)?, 0o600)?,
    }
    if let Some(b) = &found {
        if let Err(e) = std::fs::remove_file(&b.path) {
            eprintln!(
                "warning: cannot remove the backup {} ({e}); delete it by hand",
                b.path.display()
            );
        }
    }
    let what = match agent {
        Agent::Claude => "apiKeyHelper",
        Agent::Gemini => "auth type",
        Agent::Codex => "provider",
    };
    println!("Removed session-vault's {what} from {}.", shown.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_refuses_non_objects_and_broken_json() {
        let p = Path::new("s.json");
        assert!(parse_settings(p, b"{\"a\":1}").is_ok());
        let e = parse_settings(p, b"[1]").unwrap_err().to_string();
        assert!(e.contains("not an object"), "{e}");
        let e = parse_settings(p, b"{\"a\":").unwrap_err().to_string();
        assert!(e.contains("not valid JSON") && e.contains("line 1"), "{e}");
        assert!(parse_settings(p, b"").is_err());
    }

    #[test]
    fn render_keeps_key_order() {
        let m = parse_settings(Path::new("s"), b"{\"z\":1,\"a\":{\"y\":2,\"b\":3}}").unwrap();
        assert_eq!(
            String::from_utf8(render(m).unwrap()).unwrap(),
            "{\n  \"z\": 1,\n  \"a\": {\n    \"y\": 2,\n    \"b\": 3\n  }\n}\n"
        );
    }
}
