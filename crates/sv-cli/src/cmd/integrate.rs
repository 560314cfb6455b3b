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
const BACKUP_BY: &str = "integrate";

/// Where the backups go (shared with `doctor --fix`).
fn backup_dir() -> Result<PathBuf> {
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
fn write(
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

/// `session-vault integrate AGENT [--project DIR | --user] [--undo]`.
pub fn run(a: IntegrateArgs) -> Result {
    let Agent::Claude = a.agent;
    let shown = settings_path(&a)?;
    let target = rcfile::resolve_target(&shown).map_err(|e| {
        CliError::Failed(format!(
            "cannot follow the link {} ({e}); fix the link first",
            shown.display()
        ))
    })?;
    // A project's settings file that is a link out of the project (to some
    // other JSON file of the user's) is never edited.
    if !a.user {
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
    let current = rcfile::read_optional(&target).map_err(|e| {
        CliError::Failed(format!(
            "cannot read {} ({e}); nothing was changed",
            shown.display()
        ))
    })?;
    if a.undo {
        return undo(&shown, &target, current);
    }
    let mut settings = match &current {
        Some(bytes) => parse_settings(&shown, bytes)?,
        None => Map::new(),
    };
    if settings.get(KEY).and_then(Value::as_str) == Some(CLAUDE_HELPER) {
        println!(
            "Claude Code already asks session-vault for its key in {}; nothing changed.",
            shown.display()
        );
        return Ok(());
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
    settings.insert(KEY.to_owned(), Value::String(CLAUDE_HELPER.to_owned()));
    write(
        &shown,
        &target,
        current.as_deref(),
        &render(settings)?,
        0o600,
    )?;
    println!(
        "Set apiKeyHelper to `{CLAUDE_HELPER}` in {} (backup: {}).",
        shown.display(),
        backup.display()
    );
    println!("Claude Code now asks the vault for its key; undo with `session-vault integrate claude --undo` and the same --project/--user.");
    if plaintext_key {
        eprintln!(
            "warning: {} also sets ANTHROPIC_API_KEY in plaintext under \"env\": store it with `session-vault add --tool claude`, then delete it from the file and from the backup {} (or run `session-vault doctor --fix`)",
            shown.display(),
            backup.display()
        );
    }
    Ok(())
}

fn undo(shown: &Path, target: &Path, current: Option<Vec<u8>>) -> Result {
    let Some(current) = current else {
        println!("{} does not exist; nothing to undo.", shown.display());
        return Ok(());
    };
    let mut settings = parse_settings(shown, &current)?;
    if settings.get(KEY).and_then(Value::as_str) != Some(CLAUDE_HELPER) {
        println!(
            "apiKeyHelper in {} is not session-vault's; nothing to undo.",
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
    match before.as_ref().and_then(|b| b.get(KEY)) {
        Some(v) => {
            settings.insert(KEY.to_owned(), v.clone());
        }
        None => {
            settings.shift_remove(KEY);
        }
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
    println!(
        "Removed session-vault's apiKeyHelper from {}.",
        shown.display()
    );
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
