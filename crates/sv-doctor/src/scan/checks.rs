//! The checks that are not "keys in a set of files": Claude Code's OAuth
//! tokens, the environment, and `.env*` files committed to git.

use super::places::is_env_name;
use super::{plural, scan_env, scan_lines, BACKUP_MARK};
use crate::lines::Dialect;
use crate::read::{read_candidate, FileText};
use crate::{Check, Detector, Status};
use std::collections::BTreeMap;
use std::path::Path;
use sv_core::SecretString;

/// `~/.claude/.credentials.json`: Claude Code's own OAuth tokens
/// (informational; they belong to Claude Code, doctor does not move them).
pub(super) fn claude_credentials(home: &Path) -> Check {
    let path = home.join(".claude/.credentials.json");
    let title = "Claude Code OAuth tokens";
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Check::new(
                "claude-oauth",
                title,
                Status::Warn,
                format!("{} is a loop of symbolic links", path.display()),
            )
            .with_fix("remove the broken link");
        }
        Err(_) => {
            return Check::new(
                "claude-oauth",
                title,
                Status::Ok,
                "no ~/.claude/.credentials.json",
            )
        }
    };
    let kinds = match read_candidate(&path) {
        Ok(Some(t)) => oauth_kinds(&t),
        Ok(None) => Vec::new(),
        Err(r) => {
            return Check::new(
                "claude-oauth",
                title,
                Status::Warn,
                format!("{}: {r}", path.display()),
            )
        }
    };
    let what = if kinds.is_empty() {
        "present, no OAuth token in it".to_owned()
    } else {
        format!(
            "holds {} (managed by Claude Code; informational)",
            kinds.join(" and ")
        )
    };
    // No modes on Windows: nothing to warn about there (its ACL is per user).
    let mode = sv_fs::private::mode_of(&meta).unwrap_or(0) & 0o777;
    if mode & 0o077 != 0 {
        return Check::new(
            "claude-oauth",
            title,
            Status::Warn,
            format!(
                "{} {what}, and other users can read it (mode {mode:o})",
                path.display()
            ),
        )
        .with_fix(format!("chmod 600 {}", path.display()));
    }
    Check::new(
        "claude-oauth",
        title,
        Status::Ok,
        format!("{} {what}", path.display()),
    )
}

fn oauth_kinds(t: &FileText) -> Vec<&'static str> {
    let text = t.text();
    let mut kinds = Vec::new();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        let o = &v["claudeAiOauth"];
        if o["accessToken"].is_string() {
            kinds.push("an access token");
        }
        if o["refreshToken"].is_string() {
            kinds.push("a refresh token");
        }
    }
    kinds
}

pub(super) fn env_check(env: &[(String, SecretString)], det: &Detector) -> Check {
    let findings = scan_env(env, det);
    let title = "Environment variables";
    if findings.is_empty() {
        return Check::new(
            "environment",
            title,
            Status::Ok,
            "no key in this process's environment",
        );
    }
    let names: Vec<&str> = findings
        .iter()
        .filter_map(|f| f.variable.as_deref())
        .collect();
    let mut c = Check::new(
        "environment",
        title,
        Status::Warn,
        format!("{} set in this shell: {}", if names.len() == 1 { "a key is" } else { "keys are" }, names.join(", ")),
    )
    .with_fix(format!(
        "find where it is set (the profile checks name the files), then `unset {}` and load it with `sv_load TOOL` or `session-vault exec`",
        names.join(" ")
    ));
    c.findings = findings;
    c
}

/// `.env*` files git tracks under `cwd` that hold a key: the key is in the
/// repository's history and must be rotated.
pub(super) fn git_check(cwd: &Path, det: &Detector) -> Check {
    let title = "Keys committed to git";
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(cwd)
        .args([
            "-c",
            "core.quotepath=off",
            "ls-files",
            "-z",
            "--",
            ":(glob)**/.env*",
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    let out = match out {
        Ok(o) if o.status.success() => o.stdout,
        Ok(_) => return Check::new("git", title, Status::Ok, "not inside a git repository"),
        Err(_) => return Check::new("git", title, Status::Ok, "git is not installed; skipped"),
    };
    let mut leaked = BTreeMap::new();
    let mut tracked = 0;
    for rel in out.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let rel = String::from_utf8_lossy(rel).into_owned();
        let name = rel.rsplit('/').next().unwrap_or(&rel);
        if !is_env_name(name) || name.contains(BACKUP_MARK) {
            continue;
        }
        tracked += 1;
        let path = cwd.join(&rel);
        if let Ok(Some(t)) = read_candidate(&path) {
            let n = scan_lines(&t.text(), Dialect::DotEnv, det).len();
            if n > 0 {
                leaked.insert(path, n);
            }
        }
    }
    if leaked.is_empty() {
        return Check::new(
            "git",
            title,
            Status::Ok,
            format!(
                "{tracked} tracked .env file{} hold{} no key",
                plural(tracked),
                if tracked == 1 { "s" } else { "" }
            ),
        );
    }
    let list: Vec<String> = leaked.keys().map(|p| p.display().to_string()).collect();
    let mut c = Check::new(
        "git",
        title,
        Status::Warn,
        format!("git tracks {}, which hold{} a key: it is in the repository's history", list.join(", "), if leaked.len() == 1 { "s" } else { "" }),
    )
    .with_fix("rotate the key at the provider (it cannot be taken back), then `git rm --cached` the file and add it to .gitignore");
    c.notes = leaked
        .iter()
        .map(|(p, n)| format!("{}: {n} key{}", p.display(), plural(*n)))
        .collect();
    c
}
