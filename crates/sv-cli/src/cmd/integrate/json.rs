//! The JSON settings of Claude Code (`apiKeyHelper`, and with `--proxy`
//! `env.ANTHROPIC_BASE_URL`) and of Gemini CLI
//! (`security.auth.selectedType`), edited as JSON objects that keep every
//! other key and their order. A file that is not a JSON object is refused
//! and left untouched. `--undo` gives the file back byte for byte from the
//! backup when nothing else changed since, otherwise it restores only the
//! keys `integrate` set.

use super::edit::{self, Backup};
use crate::cli::{Agent, IntegrateArgs};
use crate::config::project_dir;
use crate::error::{CliError, Result};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

// The command Claude Code runs (through /bin/sh) to obtain its key.
use sv_core::tools::CLAUDE_HELPER;

const KEY: &str = "apiKeyHelper";

/// Claude Code's settings file that `a` names.
pub(super) fn claude_settings(a: &IntegrateArgs) -> Result<PathBuf> {
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

/// Gemini CLI's user settings (`GEMINI_CLI_HOME`, else `HOME`).
pub(super) fn gemini_settings() -> Result<PathBuf> {
    let home = ["GEMINI_CLI_HOME", "HOME"]
        .iter()
        .find_map(|k| std::env::var_os(k).filter(|v| !v.is_empty()))
        .ok_or_else(|| CliError::Usage("HOME is not set; set it, then run this again".into()))?;
    Ok(PathBuf::from(home).join(".gemini/settings.json"))
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

/// The key helper that prints a stand-in bound to the agent running it.
const CLAUDE_PROXY_HELPER: &str = "session-vault get --tool claude --stand-in";

/// One setting `integrate` writes: where in the JSON object, and what.
struct Edit {
    path: &'static [&'static str],
    value: Value,
}

/// The settings `agent` needs (the proxy's address from the daemon).
fn edits(agent: Agent, proxy: bool) -> Result<Vec<Edit>> {
    Ok(match (agent, proxy) {
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
                value: Value::String(format!("http://{}/t/claude", edit::proxy_addr()?)),
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

/// Sets the keys `agent` (with `proxy`) needs in the settings file.
pub(super) fn integrate(agent: Agent, proxy: bool, shown: &Path, target: &Path) -> Result {
    let current = edit::read(shown, target)?;
    let mut settings = match &current {
        Some(bytes) => parse_settings(shown, bytes)?,
        None => Map::new(),
    };
    let edits = edits(agent, proxy)?;
    if edits
        .iter()
        .all(|e| get_path(&settings, e.path) == Some(&e.value))
    {
        println!(
            "{} is already set up for session-vault; nothing changed.",
            shown.display()
        );
        return Ok(());
    }
    // Switching between the plain helper and the proxy: undo first, so the
    // backup stays the file as it was before session-vault.
    edit::refuse_if_changed(shown, target)?;
    let backup = edit::save_backup(target, current.as_deref())?;
    let plaintext_key = settings
        .get("env")
        .and_then(|e| e.get("ANTHROPIC_API_KEY"))
        .is_some();
    for e in edits.iter() {
        set_path(shown, &mut settings, e.path, e.value.clone())?;
    }
    edit::write(shown, target, current.as_deref(), &render(settings)?)?;
    for e in &edits {
        println!(
            "Set {} to {} in {}.",
            e.path.join("."),
            e.value,
            shown.display()
        );
    }
    println!("(backup: {})", backup.display());
    match (agent, proxy) {
        (Agent::Claude, false) => println!("Claude Code now asks the vault for its key; undo with `session-vault integrate claude --undo` and the same --project/--user."),
        (Agent::Claude, true) => println!("Claude Code now gets a stand-in from the vault and sends its requests through the proxy; undo with `session-vault integrate claude --undo` and the same --project/--user."),
        (Agent::Gemini | Agent::Codex, _) => {}
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

/// `integrate AGENT --undo`: takes out what `integrate` set.
pub(super) fn undo(agent: Agent, shown: &Path, target: &Path) -> Result {
    let Some(current) = edit::read(shown, target)? else {
        println!("{} does not exist; nothing to undo.", shown.display());
        return Ok(());
    };
    let mut settings = parse_settings(shown, &current)?;
    let ours = match agent {
        Agent::Claude => matches!(
            settings.get(KEY).and_then(Value::as_str),
            Some(CLAUDE_HELPER | CLAUDE_PROXY_HELPER)
        ),
        Agent::Gemini | Agent::Codex => edit::has_backup(target)?,
    };
    if !ours {
        println!(
            "{} holds no setting of session-vault's; nothing to undo.",
            shown.display()
        );
        return Ok(());
    }
    let backup = Backup::latest(target)?;
    let before = match backup.as_ref().map(|b| b.bytes.as_slice()) {
        Some([]) | None => None,
        Some(bytes) => match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        },
    };
    let proxy_helper = settings.get(KEY).and_then(Value::as_str) == Some(CLAUDE_PROXY_HELPER);
    for path in undo_paths(agent) {
        // The plain helper never set a base URL: one there is the user's.
        if matches!(agent, Agent::Claude) && path.len() > 1 && !proxy_helper {
            continue;
        }
        restore_path(&mut settings, before.as_ref(), path);
    }
    // Nothing else changed since (or `integrate` created the file and it
    // holds nothing else): the backup's bytes come back.
    let untouched = match (&backup, &before) {
        (Some(_), Some(b)) => *b == settings,
        (Some(b), None) => b.bytes.is_empty() && settings.is_empty(),
        (None, _) => false,
    };
    match &backup {
        Some(b) if untouched => edit::put_back(shown, target, &current, &b.bytes)?,
        _ => edit::write(shown, target, Some(&current), &render(settings)?)?,
    }
    if let Some(b) = backup {
        b.forget();
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
