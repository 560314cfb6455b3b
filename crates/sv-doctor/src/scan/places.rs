//! Which files doctor looks at: shell profiles, agent configs, `.env*` files.

use super::Inputs;
use crate::lines::Dialect;
use crate::read::SkipReason;
use crate::{Skipped, Source, SourceKind};
use std::path::{Path, PathBuf};

/// The `.fish` files of a `conf.d` directory, sorted.
pub(crate) fn list_dir(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| keep(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

pub(crate) fn canonical_or(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned())
}

/// The shell profiles doctor checks.
pub fn profile_files(inp: &Inputs) -> Vec<(PathBuf, Dialect)> {
    let mut v: Vec<(PathBuf, Dialect)> = [
        ".bashrc",
        ".bash_profile",
        ".bash_login",
        ".profile",
        ".zshrc",
        ".zshenv",
        ".zprofile",
        ".zlogin",
    ]
    .iter()
    .map(|n| (inp.home.join(n), Dialect::Posix))
    .collect();
    let fish = inp.config_home.join("fish");
    v.push((fish.join("config.fish"), Dialect::Fish));
    for p in list_dir(&fish.join("conf.d"), |n| n.ends_with(".fish")) {
        v.push((p, Dialect::Fish));
    }
    let ps = inp.config_home.join("powershell");
    v.push((
        ps.join("Microsoft.PowerShell_profile.ps1"),
        Dialect::PowerShell,
    ));
    v.push((ps.join("profile.ps1"), Dialect::PowerShell));
    v
}

/// The agent configs doctor checks, with their scope.
pub fn config_files(inp: &Inputs) -> Vec<Source> {
    let h = &inp.home;
    let cwd = &inp.cwd;
    let src = |path: PathBuf, kind, project: bool| Source {
        path,
        kind,
        project: project.then(|| canonical_or(cwd)),
    };
    let mut v = vec![
        src(h.join(".claude.json"), SourceKind::McpConfig, false),
        src(h.join(".cursor/mcp.json"), SourceKind::McpConfig, false),
        src(
            inp.codex_home.join("auth.json"),
            SourceKind::CodexAuth,
            false,
        ),
        src(
            inp.codex_home.join("config.toml"),
            SourceKind::CodexConfig,
            false,
        ),
        src(h.join(".gemini/.env"), SourceKind::DotEnv, false),
        src(
            h.join(".gemini/settings.json"),
            SourceKind::McpConfig,
            false,
        ),
    ];
    // `~/.claude/settings.json` and `settings.local.json`.
    let home_settings: Vec<Source> = list_dir(&h.join(".claude"), |n| {
        n.starts_with("settings") && n.ends_with(".json")
    })
    .into_iter()
    .map(|p| src(p, SourceKind::ClaudeSettings, false))
    .collect();
    v.splice(0..0, home_settings);
    v.push(src(h.join(".npmrc"), SourceKind::Npmrc, false));
    v.push(src(h.join(".aider.conf.yml"), SourceKind::AiderConf, false));
    for p in list_dir(&cwd.join(".claude"), |n| {
        n.starts_with("settings") && n.ends_with(".json")
    }) {
        v.push(src(p, SourceKind::ClaudeSettings, true));
    }
    v.push(src(cwd.join(".mcp.json"), SourceKind::McpConfig, true));
    v.push(src(
        cwd.join(".cursor/mcp.json"),
        SourceKind::McpConfig,
        true,
    ));
    v.push(src(
        cwd.join(".gemini/settings.json"),
        SourceKind::McpConfig,
        true,
    ));
    v.push(src(cwd.join(".gemini/.env"), SourceKind::DotEnv, true));
    v.push(src(cwd.join(".npmrc"), SourceKind::Npmrc, true));
    v.push(src(
        cwd.join(".aider.conf.yml"),
        SourceKind::AiderConf,
        true,
    ));
    v
}

pub(crate) fn is_env_name(n: &str) -> bool {
    n.starts_with(".env")
}

/// `.env*` files in `cwd`, or below it with `recursive` (directories that
/// `.gitignore` excludes are not entered; `.env*` files themselves are
/// checked even when ignored, since that is where keys usually are).
pub fn dotenv_files(cwd: &Path, recursive: bool, skipped: &mut Vec<Skipped>) -> Vec<PathBuf> {
    if !recursive {
        return list_dir(cwd, is_env_name);
    }
    let mut ov = ignore::overrides::OverrideBuilder::new(cwd);
    let overrides = ov.add(".env*").and_then(|b| b.build());
    let mut wb = ignore::WalkBuilder::new(cwd);
    wb.hidden(false)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(true)
        .require_git(false)
        .ignore(true)
        .parents(true)
        .follow_links(false)
        .filter_entry(|e| e.file_name() != ".git");
    if let Ok(o) = overrides {
        wb.overrides(o);
    }
    let mut out = Vec::new();
    for entry in wb.build() {
        match entry {
            Ok(e) => {
                if e.depth() == 0 || e.file_type().is_some_and(|t| t.is_dir()) {
                    continue;
                }
                if is_env_name(&e.file_name().to_string_lossy()) {
                    out.push(e.into_path());
                }
            }
            Err(err) => {
                if let Some(p) = error_path(&err) {
                    skipped.push(Skipped {
                        file: p,
                        reason: if err.is_io()
                            && err.io_error().and_then(|e| e.raw_os_error()) == Some(libc::ELOOP)
                        {
                            SkipReason::SymlinkLoop
                        } else {
                            SkipReason::Unreadable(one_line(&err.to_string()))
                        },
                    });
                }
            }
        }
    }
    out.sort();
    out
}

fn error_path(err: &ignore::Error) -> Option<PathBuf> {
    match err {
        ignore::Error::WithPath { path, .. } => Some(path.clone()),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        ignore::Error::Loop { child, .. } => Some(child.clone()),
        _ => None,
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
