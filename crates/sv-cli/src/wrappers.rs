//! Which agents the shell hook launches through the credential proxy.
//!
//! Codex and Gemini CLI have no key helper: after `integrate codex|gemini
//! --proxy` their settings point at the proxy, but the stand-in must be in
//! their environment, so a shell that loaded the hook (`session-vault init
//! SHELL`) runs `codex …` as `session-vault exec --proxy --tool codex --
//! codex …` (docs/agents.md). `integrate` records the agent in one small
//! private file in the vault's data directory, `shell-wrappers` (0600, one
//! agent a line), and `--undo` takes it out again (the file goes when
//! empty); `init` reads it, and prints nothing more when it is absent.
//!
//! Claude Code is never listed: its key helper gets its stand-in itself.

use std::ffi::OsStr;
use std::path::Path;

/// The file's name in the data directory.
pub const FILE: &str = "shell-wrappers";

/// The agents a wrapper can be defined for (each is also its command).
pub const AGENTS: &[&str] = &["codex", "gemini"];

const HEADER: &str = "# Agents the shell hook launches through `session-vault exec --proxy`; written by `session-vault integrate AGENT --proxy`, removed by `--undo`.\n";

/// The agents listed in `data_dir`'s file, in [`AGENTS`]' order; none when
/// the file is absent or unreadable (`init` stays quiet).
pub fn listed(data_dir: &Path) -> Vec<&'static str> {
    let Ok(text) = std::fs::read_to_string(data_dir.join(FILE)) else {
        return Vec::new();
    };
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    AGENTS
        .iter()
        .copied()
        .filter(|a| lines.contains(a))
        .collect()
}

/// Adds `agent` to the file (`on`) or takes it out; the file is removed
/// when no agent is left. Written on the data directory opened without
/// following links.
pub fn set(data_dir: &Path, agent: &str, on: bool) -> std::io::Result<()> {
    let mut agents = listed(data_dir);
    agents.retain(|a| *a != agent);
    if on {
        agents.extend(AGENTS.iter().copied().filter(|a| *a == agent));
    }
    let dir = sv_fs::Dir::create_all(data_dir, 0o700)?;
    let name = OsStr::new(FILE);
    if agents.is_empty() {
        return match dir.remove(name) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let mut text = String::from(HEADER);
    for a in AGENTS.iter().filter(|a| agents.contains(a)) {
        text.push_str(a);
        text.push('\n');
    }
    dir.replace(name, text.as_bytes(), 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_lists_and_removes() {
        let d = tempfile::tempdir().unwrap();
        let data = d.path().join("data");
        assert!(listed(&data).is_empty());
        set(&data, "gemini", true).unwrap();
        set(&data, "codex", true).unwrap();
        set(&data, "codex", true).unwrap();
        assert_eq!(listed(&data), ["codex", "gemini"]);
        set(&data, "codex", false).unwrap();
        assert_eq!(listed(&data), ["gemini"]);
        set(&data, "gemini", false).unwrap();
        assert!(!data.join(FILE).exists());
        set(&data, "gemini", false).unwrap();
        // Only known agents: a hand-added line names no function.
        std::fs::write(data.join(FILE), "rm\ncodex\n").unwrap();
        assert_eq!(listed(&data), ["codex"]);
    }
}
