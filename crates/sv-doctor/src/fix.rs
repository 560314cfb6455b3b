//! `doctor --fix`: move each plaintext key into the vault, then rewrite the
//! file it came from.
//!
//! Order matters: a file is rewritten only after the vault confirmed every
//! key taken from it. Before any rewrite the original is copied to a
//! timestamped backup beside it (same mode), and the new contents replace the
//! file atomically (temporary file, fsync, rename), mode kept. A vault that
//! refuses leaves the file untouched. Running it again changes nothing, since
//! the rewritten files no longer hold keys.
//!
//! Rewrites: a profile line is commented out with a note (the key itself is
//! not kept in the comment); a `.env` line is dropped; a Claude settings
//! `env` key becomes `"apiKeyHelper": "session-vault get --tool claude"`; an
//! MCP server's key leaves its `env` and its command is wrapped in
//! `session-vault exec --tool T -- CMD ARGS`; Codex `auth.json`'s key is set
//! to `null`. Anything else gets a hint to do by hand.

use crate::read::read_candidate;
use crate::scan::{scan_text, SecretJson, BACKUP_MARK};
use crate::{Detector, Finding, JsonLoc, Report, Source, SourceKind};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use sv_core::SecretString;
use zeroize::Zeroizing;

/// The helper command Claude Code runs for its key.
pub use sv_core::tools::CLAUDE_HELPER;

/// One credential to store.
#[derive(Debug, Clone)]
pub struct StoreRequest {
    pub tool: String,
    /// Canonical project directory, or `None` for a global session.
    pub project: Option<PathBuf>,
    /// The tool's variables, in the tool's order.
    pub values: Vec<(String, SecretString)>,
    pub label: String,
}

/// Why the vault did not store a credential.
#[derive(Debug, Clone)]
pub struct VaultRefusal {
    pub message: String,
    /// Locked or unreachable: nothing else will succeed either.
    pub fatal: bool,
}

/// The vault, as `--fix` sees it.
pub trait VaultSink {
    /// Stores one credential and returns its session id.
    fn store(&mut self, req: &StoreRequest) -> Result<String, VaultRefusal>;
}

pub struct FixOptions {
    /// Scope for keys from the home directory's files: `None` = global.
    pub home_project: Option<PathBuf>,
    /// Where user tools are declared, for the hint about unknown variables.
    pub config_file: PathBuf,
    /// `YYYYMMDDTHHMMSSZ`, used in notes and backup names.
    pub timestamp: String,
}

/// The rewrite of one file.
pub struct FilePlan {
    /// The path the report named.
    pub path: PathBuf,
    /// The file written (symlinks resolved).
    pub target: PathBuf,
    pub original: Zeroizing<Vec<u8>>,
    pub rewritten: Zeroizing<Vec<u8>>,
    pub stores: Vec<StoreRequest>,
    /// What changes, one line each.
    pub changes: Vec<String>,
}

/// A finding `--fix` leaves alone, and why.
#[derive(Debug, Clone, Serialize)]
pub struct FixSkip {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub what: String,
    pub reason: String,
}

#[derive(Default)]
pub struct Plan {
    pub files: Vec<FilePlan>,
    pub skips: Vec<FixSkip>,
}

fn what(f: &Finding) -> String {
    match (&f.variable, &f.json_path) {
        (_, Some(p)) => format!("{p} ({})", f.hint),
        (Some(v), None) => format!("{v} ({})", f.hint),
        (None, None) => f.hint.clone(),
    }
}

fn skip(f: &Finding, reason: impl Into<String>) -> FixSkip {
    FixSkip {
        file: f.file.clone(),
        line: f.line,
        what: what(f),
        reason: reason.into(),
    }
}

/// Works out every rewrite, reading each source afresh. Changes nothing.
pub fn plan(report: &Report, det: &Detector, opts: &FixOptions) -> Plan {
    let mut plan = Plan::default();
    for c in &report.checks {
        for f in c.findings.iter().filter(|f| f.file.is_none()) {
            plan.skips.push(skip(
                f,
                format!(
                    "set in the environment, not in a file doctor knows; unset {} and find where it is exported",
                    f.variable.as_deref().unwrap_or("it")
                ),
            ));
        }
    }
    for src in &report.sources {
        let text = match read_candidate(&src.path) {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(r) => {
                plan.skips.push(FixSkip {
                    file: Some(src.path.clone()),
                    line: None,
                    what: "the file".into(),
                    reason: r.to_string(),
                });
                continue;
            }
        };
        let findings = scan_text(&text.text(), src.kind, det).0;
        let findings: Vec<Finding> = findings
            .into_iter()
            .map(|mut f| {
                f.file = Some(src.path.clone());
                f
            })
            .collect();
        if !text.utf8 {
            for f in &findings {
                plan.skips
                    .push(skip(f, "the file is not UTF-8; move the key by hand"));
            }
            continue;
        }
        plan_file(src, &text.bytes, findings, det, opts, &mut plan);
    }
    plan
}

/// Credentials of one tool found in one file (one MCP server for MCP files).
struct Group<'a> {
    tool: String,
    server: Option<String>,
    findings: Vec<&'a Finding>,
}

fn plan_file(
    src: &Source,
    bytes: &[u8],
    findings: Vec<Finding>,
    det: &Detector,
    opts: &FixOptions,
    plan: &mut Plan,
) {
    let mut groups: Vec<Group<'_>> = Vec::new();
    for f in &findings {
        let Some(tool) = f.tool.clone() else {
            let reason = match &f.variable {
                Some(v) if sv_core::tools::valid_var_name(v) => format!(
                    "no tool uses {v}; add `[tools.NAME]` with `vars = [\"{v}\"]` to {} and run again",
                    opts.config_file.display()
                ),
                _ => "the key is not in a variable doctor can move; remove it by hand and load it with `session-vault exec`".into(),
            };
            plan.skips.push(skip(f, reason));
            continue;
        };
        let server = match (&src.kind, &f.loc) {
            (SourceKind::Profile(_) | SourceKind::DotEnv, _) => None,
            (SourceKind::ClaudeSettings, JsonLoc::ClaudeEnv(_)) => None,
            (SourceKind::CodexAuth, JsonLoc::TopLevel(_)) => None,
            (_, JsonLoc::McpEnv { server, .. }) => Some(server.clone()),
            (SourceKind::CodexConfig, _) => {
                plan.skips.push(skip(
                    f,
                    format!("doctor does not rewrite TOML: delete it from the file by hand, then run Codex with `session-vault exec --tool {tool} -- codex`"),
                ));
                continue;
            }
            _ => {
                plan.skips.push(skip(
                    f,
                    "doctor does not know how to rewrite this place; move the key by hand",
                ));
                continue;
            }
        };
        match groups
            .iter_mut()
            .find(|g| g.tool == tool && g.server == server)
        {
            Some(g) => g.findings.push(f),
            None => groups.push(Group {
                tool,
                server,
                findings: vec![f],
            }),
        }
    }
    // A line that also holds a key doctor leaves alone is not rewritten:
    // commenting it out or dropping it would lose that key.
    let mut blocked: Vec<usize> = plan
        .skips
        .iter()
        .filter(|k| k.file.as_deref() == Some(src.path.as_path()))
        .filter_map(|k| k.line)
        .collect();
    let line_based = matches!(src.kind, SourceKind::Profile(_) | SourceKind::DotEnv);
    for g in &groups {
        let complete = det.tools.vars(&g.tool).is_some_and(|vars| {
            vars.iter()
                .all(|v| g.findings.iter().any(|f| f.variable.as_deref() == Some(v)))
        });
        if !complete {
            blocked.extend(g.findings.iter().filter_map(|f| f.line));
        }
    }
    // A project file that is a symlink out of its project (a cloned repo's
    // `.env` pointing at ~/.bashrc, say) is never rewritten: its keys would
    // be scoped to the wrong place and the wrong file edited.
    if let Some(proj) = &src.project {
        let target = std::fs::canonicalize(&src.path).unwrap_or_else(|_| src.path.clone());
        let root = std::fs::canonicalize(proj).unwrap_or_else(|_| proj.clone());
        if !target.starts_with(&root) {
            for g in &groups {
                for f in &g.findings {
                    plan.skips.push(skip(
                        f,
                        format!(
                            "{} leads outside the project (to {}); move this key by hand",
                            src.path.display(),
                            target.display()
                        ),
                    ));
                }
            }
            return;
        }
    }
    let project = src.project.clone().or_else(|| opts.home_project.clone());
    let scope_name = project
        .as_ref()
        .map_or("global".to_owned(), |p| format!("project {}", p.display()));
    let text = String::from_utf8_lossy(bytes);
    let mut edit = Edit::new(src.kind, &text);
    let mut stores = Vec::new();
    let mut changes = Vec::new();
    for g in &groups {
        let Some(vars) = det.tools.vars(&g.tool) else {
            continue;
        };
        let mut values = Vec::new();
        let mut missing = Vec::new();
        for var in vars {
            match g
                .findings
                .iter()
                .rev()
                .find(|f| f.variable.as_deref() == Some(var))
            {
                Some(f) => values.push((var.clone(), f.value.clone())),
                None => missing.push(var.as_str()),
            }
        }
        if !missing.is_empty() {
            for f in &g.findings {
                plan.skips.push(skip(
                    f,
                    format!("tool `{}` needs {}; {} not set here, so add it with `session-vault add --tool {}`", g.tool, vars.join(", "), missing.join(", "), g.tool),
                ));
            }
            continue;
        }
        if line_based
            && g.findings
                .iter()
                .any(|f| f.line.is_some_and(|l| blocked.contains(&l)))
        {
            for f in &g.findings {
                plan.skips.push(skip(
                    f,
                    "the same line holds another key doctor cannot move; edit the line by hand",
                ));
            }
            continue;
        }
        match edit.apply(g, opts) {
            Ok(mut lines) => changes.append(&mut lines),
            Err(reason) => {
                for f in &g.findings {
                    plan.skips.push(skip(f, reason.clone()));
                }
                continue;
            }
        }
        let at = g.findings[0]
            .json_path
            .clone()
            .or_else(|| g.findings[0].line.map(|l| format!("line {l}")))
            .unwrap_or_default();
        let mut label = format!("doctor --fix from {} {at}", src.path.display());
        if label.len() > 200 {
            let mut cut = 200;
            while !label.is_char_boundary(cut) {
                cut -= 1;
            }
            label.truncate(cut);
        }
        stores.push(StoreRequest {
            tool: g.tool.clone(),
            project: project.clone(),
            values,
            label,
        });
    }
    if stores.is_empty() {
        return;
    }
    let rewritten = match edit.finish(bytes) {
        Ok(r) => r,
        Err(reason) => {
            for f in &findings {
                plan.skips.push(skip(f, reason.clone()));
            }
            return;
        }
    };
    let mut changes_with_scope: Vec<String> = stores
        .iter()
        .map(|s| {
            format!(
                "store {} for tool `{}` ({scope_name})",
                s.values
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                s.tool
            )
        })
        .collect();
    changes_with_scope.append(&mut changes);
    plan.files.push(FilePlan {
        path: src.path.clone(),
        target: std::fs::canonicalize(&src.path).unwrap_or_else(|_| src.path.clone()),
        original: Zeroizing::new(bytes.to_vec()),
        rewritten,
        stores,
        changes: changes_with_scope,
    });
}

/// The pending rewrite of one file's text.
enum Edit {
    Lines {
        comment: bool,
        drop: BTreeMap<usize, String>,
    },
    Json(Option<SecretJson>),
}

impl Edit {
    fn new(kind: SourceKind, text: &str) -> Edit {
        match kind {
            SourceKind::Profile(_) => Edit::Lines {
                comment: true,
                drop: BTreeMap::new(),
            },
            SourceKind::DotEnv => Edit::Lines {
                comment: false,
                drop: BTreeMap::new(),
            },
            _ => Edit::Json(serde_json::from_str(text).ok().map(SecretJson)),
        }
    }

    /// Records the rewrite for one group; `Err` (nothing recorded) when it
    /// cannot be done.
    fn apply(&mut self, g: &Group<'_>, opts: &FixOptions) -> Result<Vec<String>, String> {
        match self {
            Edit::Lines { comment, drop } => {
                let mut out = Vec::new();
                for f in &g.findings {
                    let Some(line) = f.line else { continue };
                    let var = f.variable.as_deref().unwrap_or("the key");
                    let note = format!(
                        "# session-vault doctor --fix {}: {var} moved into the vault; load it with `sv_load {}` or `session-vault exec --tool {} -- CMD`",
                        opts.timestamp, g.tool, g.tool
                    );
                    if drop.insert(line, note).is_none() {
                        out.push(if *comment {
                            format!(
                                "line {line}: comment out {var} with a note (the key is not kept)"
                            )
                        } else {
                            format!("line {line}: drop {var}")
                        });
                    }
                }
                Ok(out)
            }
            Edit::Json(None) => Err("the file is not valid JSON; move the key by hand".into()),
            Edit::Json(Some(root)) => {
                let mut scratch = SecretJson(root.0.clone());
                let lines = json_edit(&mut scratch.0, g)?;
                std::mem::swap(root, &mut scratch);
                Ok(lines)
            }
        }
    }

    fn finish(self, original: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
        match self {
            Edit::Lines { comment, drop } => {
                let mut out = Zeroizing::new(Vec::with_capacity(original.len()));
                for (i, line) in original.split_inclusive(|b| *b == b'\n').enumerate() {
                    match drop.get(&(i + 1)) {
                        None => out.extend_from_slice(line),
                        Some(note) if comment => {
                            let ending: &[u8] = if line.ends_with(b"\r\n") {
                                b"\r\n"
                            } else if line.ends_with(b"\n") {
                                b"\n"
                            } else {
                                b""
                            };
                            out.extend_from_slice(note.as_bytes());
                            out.extend_from_slice(ending);
                        }
                        Some(_) => {}
                    }
                }
                Ok(out)
            }
            Edit::Json(None) => Err("the file is not valid JSON; move the key by hand".into()),
            Edit::Json(Some(root)) => {
                let mut s = Zeroizing::new(
                    serde_json::to_string_pretty(&root.0)
                        .map_err(|e| format!("cannot write JSON: {e}"))?,
                );
                if original.ends_with(b"\n") {
                    s.push('\n');
                }
                Ok(Zeroizing::new(std::mem::take(&mut *s).into_bytes()))
            }
        }
    }
}

fn json_edit(root: &mut Value, g: &Group<'_>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let first = g.findings[0];
    match &first.loc {
        JsonLoc::ClaudeEnv(_) => {
            if g.tool == "claude" {
                match root.get("apiKeyHelper") {
                    None => {}
                    Some(Value::String(s)) if s == CLAUDE_HELPER => {}
                    Some(_) => {
                        return Err("`apiKeyHelper` is already set to something else; remove the key from `env` by hand".into())
                    }
                }
            }
            let obj = root
                .as_object_mut()
                .ok_or("the file is not a JSON object")?;
            let env = obj
                .get_mut("env")
                .and_then(Value::as_object_mut)
                .ok_or("no `env` object")?;
            for f in &g.findings {
                if let JsonLoc::ClaudeEnv(var) = &f.loc {
                    if env.shift_remove(var).is_some() {
                        out.push(format!("remove env.{var}"));
                    }
                }
            }
            if env.is_empty() {
                obj.shift_remove("env");
            }
            if g.tool == "claude" {
                if obj.get("apiKeyHelper").is_none() {
                    out.push(format!("set \"apiKeyHelper\": \"{CLAUDE_HELPER}\""));
                }
                obj.insert("apiKeyHelper".into(), Value::String(CLAUDE_HELPER.into()));
            } else {
                out.push(format!(
                    "Claude Code no longer gets it from settings: start it with `session-vault exec --tool {} -- claude`",
                    g.tool
                ));
            }
        }
        JsonLoc::McpEnv { server, .. } => {
            let srv = root
                .get_mut("mcpServers")
                .and_then(|m| m.get_mut(server.as_str()))
                .and_then(Value::as_object_mut)
                .ok_or_else(|| format!("MCP server `{server}` is not an object"))?;
            let Some(cmd) = srv
                .get("command")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                return Err(format!(
                    "MCP server `{server}` has no `command` to wrap (a remote server?); move the key by hand"
                ));
            };
            let args: Vec<Value> = match srv.get("args") {
                None => Vec::new(),
                Some(Value::Array(a)) => a.clone(),
                Some(_) => {
                    return Err(format!(
                        "MCP server `{server}` has `args` that is not a list"
                    ))
                }
            };
            let wrapped =
                cmd == "session-vault" && args.first().and_then(Value::as_str) == Some("exec");
            let new_args: Vec<Value> = if wrapped {
                let have = args.windows(2).any(|w| {
                    w[0].as_str() == Some("--tool") && w[1].as_str() == Some(g.tool.as_str())
                });
                let mut a = args.clone();
                if !have {
                    a.insert(1, Value::String("--tool".into()));
                    a.insert(2, Value::String(g.tool.clone()));
                }
                a
            } else {
                let mut a: Vec<Value> = ["exec", "--tool", g.tool.as_str(), "--", cmd.as_str()]
                    .iter()
                    .map(|s| Value::String((*s).into()))
                    .collect();
                a.extend(args.iter().cloned());
                a
            };
            let env = srv
                .get_mut("env")
                .and_then(Value::as_object_mut)
                .ok_or("no `env` object")?;
            for f in &g.findings {
                if let JsonLoc::McpEnv { var, .. } = &f.loc {
                    if env.shift_remove(var).is_some() {
                        out.push(format!("remove mcpServers.{server}.env.{var}"));
                    }
                }
            }
            if env.is_empty() {
                srv.shift_remove("env");
            }
            if new_args != args || cmd != "session-vault" {
                out.push(format!(
                    "run server `{server}` as `session-vault exec --tool {} -- …`",
                    g.tool
                ));
            }
            srv.insert("command".into(), Value::String("session-vault".into()));
            srv.insert("args".into(), Value::Array(new_args));
        }
        JsonLoc::TopLevel(_) => {
            let obj = root
                .as_object_mut()
                .ok_or("the file is not a JSON object")?;
            for f in &g.findings {
                if let JsonLoc::TopLevel(var) = &f.loc {
                    obj.insert(var.clone(), Value::Null);
                    out.push(format!("set {var} to null"));
                }
            }
            out.push(format!(
                "Codex now needs the key in its environment: run it with `session-vault exec --tool {} -- codex`",
                g.tool
            ));
        }
        JsonLoc::Other => {
            return Err(
                "doctor does not know how to rewrite this place; move the key by hand".into(),
            )
        }
    }
    Ok(out)
}

/// What happened to one planned file.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum Outcome {
    /// Keys stored, backup written, file replaced.
    Applied {
        file: PathBuf,
        backup: PathBuf,
        sessions: Vec<String>,
    },
    /// The vault refused: the file is untouched.
    Refused { file: PathBuf, message: String },
    /// Not tried: an earlier refusal said the vault is unavailable.
    NotAttempted { file: PathBuf },
    /// The file changed since it was read: untouched.
    Changed { file: PathBuf },
    /// Stored, but the backup or the rewrite failed (the file is untouched
    /// unless `backup` is set, in which case the backup holds the original).
    Failed { file: PathBuf, message: String },
}

/// Stores and rewrites, file by file. Stops at a fatal refusal.
pub fn apply(plan: &Plan, sink: &mut dyn VaultSink, timestamp: &str) -> Vec<Outcome> {
    let mut out = Vec::new();
    let mut stop = false;
    for fp in &plan.files {
        let file = fp.path.clone();
        if stop {
            out.push(Outcome::NotAttempted { file });
            continue;
        }
        match read_candidate(&fp.target) {
            Ok(Some(now)) if *now.bytes == *fp.original => {}
            _ => {
                out.push(Outcome::Changed { file });
                continue;
            }
        }
        let mut sessions = Vec::new();
        let mut refused = None;
        for req in &fp.stores {
            match sink.store(req) {
                Ok(id) => sessions.push(id),
                Err(r) => {
                    stop = r.fatal;
                    refused = Some(r.message);
                    break;
                }
            }
        }
        if let Some(message) = refused {
            out.push(Outcome::Refused { file, message });
            continue;
        }
        match rewrite(&fp.target, &fp.original, &fp.rewritten, timestamp) {
            Ok(backup) => out.push(Outcome::Applied {
                file,
                backup,
                sessions,
            }),
            Err(message) => out.push(Outcome::Failed { file, message }),
        }
    }
    out
}

/// Backup first, then atomic replace; both with the file's mode.
pub fn rewrite(
    target: &Path,
    original: &[u8],
    new: &[u8],
    timestamp: &str,
) -> Result<PathBuf, String> {
    let meta =
        std::fs::metadata(target).map_err(|e| format!("cannot stat {}: {e}", target.display()))?;
    let mode = crate::modes::mode_of(&meta);
    let dir = target.parent().ok_or("the file has no directory")?;
    let name = target
        .file_name()
        .ok_or("the file has no name")?
        .to_string_lossy()
        .into_owned();
    let mut backup = dir.join(format!("{name}{BACKUP_MARK}{timestamp}"));
    let mut n = 1;
    let mut file = loop {
        match crate::modes::create_new(&backup, mode) {
            Ok(f) => break f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => {
                n += 1;
                backup = dir.join(format!("{name}{BACKUP_MARK}{timestamp}-{n}"));
            }
            Err(e) => {
                return Err(format!(
                    "cannot create the backup {}: {e}; nothing was rewritten",
                    backup.display()
                ))
            }
        }
    };
    if let Err(e) = file.write_all(original).and_then(|_| file.sync_all()) {
        let _ = std::fs::remove_file(&backup);
        return Err(format!(
            "cannot write the backup {}: {e}; nothing was rewritten",
            backup.display()
        ));
    }
    let tmp = dir.join(format!(".{name}.sv-tmp-{}", std::process::id()));
    let written = crate::modes::create_new(&tmp, mode).and_then(|mut f| {
        f.write_all(new)?;
        f.sync_all()?;
        std::fs::rename(&tmp, target)
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!(
            "cannot replace {}: {e}; it is unchanged (backup at {})",
            target.display(),
            backup.display()
        ));
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(backup)
}

/// `YYYYMMDDTHHMMSSZ` for a Unix time.
pub fn utc_stamp(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = sv_core::ops::civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::samples::*;
    use crate::lines::Dialect;
    use crate::scan::{scan_all, Inputs};
    use crate::Report;
    use std::os::unix::fs::PermissionsExt;
    use sv_core::ToolTable;

    struct MemVault {
        stored: Vec<StoreRequest>,
        refuse: bool,
    }

    impl VaultSink for MemVault {
        fn store(&mut self, req: &StoreRequest) -> Result<String, VaultRefusal> {
            if self.refuse {
                return Err(VaultRefusal {
                    message: "the vault is locked".into(),
                    fatal: true,
                });
            }
            self.stored.push(req.clone());
            Ok(format!("id-{}", self.stored.len()))
        }
    }

    fn inputs(home: &Path, cwd: &Path) -> Inputs {
        Inputs {
            home: home.to_owned(),
            config_home: home.join(".config"),
            codex_home: home.join(".codex"),
            cwd: cwd.to_owned(),
            recursive: false,
            detector: Detector::new(ToolTable::builtin()),
            env: Vec::new(),
        }
    }

    fn opts() -> FixOptions {
        FixOptions {
            home_project: None,
            config_file: PathBuf::from("/cfg/config.toml"),
            timestamp: utc_stamp(0),
        }
    }

    fn report(inp: &Inputs) -> Report {
        let (checks, sources) = scan_all(inp);
        Report::new(checks, sources)
    }

    #[test]
    fn stamps() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(1_795_906_800), "20261128T230000Z");
    }

    #[test]
    fn fixes_every_kind_and_is_idempotent() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().join("home");
        let proj = d.path().join("proj");
        std::fs::create_dir_all(home.join(".claude")).unwrap();
        std::fs::create_dir_all(home.join(".codex")).unwrap();
        std::fs::create_dir_all(proj.join(".claude")).unwrap();
        let a = anthropic(1);
        let o = openai_proj(2);
        let g = google(3);
        let unknown = groq(4);
        std::fs::write(
            home.join(".bashrc"),
            format!(
                "alias ll='ls -l'\r\nexport ANTHROPIC_API_KEY={a}\r\nexport MY_GROQ={unknown}\r\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(home.join(".bashrc"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        std::fs::write(
            proj.join(".env"),
            format!("DEBUG=1\nOPENAI_API_KEY=\"{o}\"\nGEMINI_API_KEY={g}"),
        )
        .unwrap();
        std::fs::write(
            proj.join(".claude/settings.json"),
            format!("{{\n  \"model\": \"x\",\n  \"env\": {{\"ANTHROPIC_API_KEY\": \"{a}\"}}\n}}\n"),
        )
        .unwrap();
        std::fs::write(
            proj.join(".mcp.json"),
            format!("{{\"mcpServers\": {{\"s\": {{\"command\": \"npx\", \"args\": [\"-y\", \"srv\"], \"env\": {{\"OPENAI_API_KEY\": \"{o}\", \"GEMINI_API_KEY\": \"{g}\", \"PORT\": \"1\"}}}}}}}}"),
        )
        .unwrap();
        std::fs::write(
            home.join(".codex/auth.json"),
            format!("{{\"OPENAI_API_KEY\": \"{o}\", \"tokens\": null}}"),
        )
        .unwrap();
        let inp = inputs(&home, &proj);
        let r = report(&inp);
        let p = plan(&r, &inp.detector, &opts());
        assert_eq!(p.files.len(), 5, "{:?}", p.skips);
        assert_eq!(p.skips.len(), 1);
        assert!(p.skips[0].reason.contains("no tool uses MY_GROQ"));
        let mut vault = MemVault {
            stored: Vec::new(),
            refuse: false,
        };
        let outcomes = apply(&p, &mut vault, &utc_stamp(0));
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Outcome::Applied { .. })),
            "{outcomes:?}"
        );
        assert_eq!(vault.stored.len(), 7);
        let canon_proj = proj.canonicalize().unwrap();
        let env_store = vault
            .stored
            .iter()
            .find(|s| s.label.contains(".env"))
            .unwrap();
        assert_eq!(env_store.project.as_deref(), Some(canon_proj.as_path()));
        let bash_store = vault
            .stored
            .iter()
            .find(|s| s.label.contains(".bashrc"))
            .unwrap();
        assert_eq!(
            (bash_store.tool.as_str(), bash_store.project.as_ref()),
            ("claude", None)
        );
        assert_eq!(bash_store.values[0].1.expose(), a);

        let bashrc = std::fs::read_to_string(home.join(".bashrc")).unwrap();
        assert!(bashrc.starts_with("alias ll='ls -l'\r\n# session-vault doctor --fix"));
        assert!(bashrc.contains(&unknown) && !bashrc.contains(&a));
        assert_eq!(
            std::fs::metadata(home.join(".bashrc"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o640
        );
        let backup = home.join(format!(".bashrc{BACKUP_MARK}{}", utc_stamp(0)));
        assert!(std::fs::read_to_string(&backup).unwrap().contains(&a));
        assert_eq!(
            std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(
            std::fs::read_to_string(proj.join(".env")).unwrap(),
            "DEBUG=1\n"
        );
        let s: Value = serde_json::from_str(
            &std::fs::read_to_string(proj.join(".claude/settings.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            s,
            serde_json::json!({"model": "x", "apiKeyHelper": CLAUDE_HELPER})
        );
        let m: Value =
            serde_json::from_str(&std::fs::read_to_string(proj.join(".mcp.json")).unwrap())
                .unwrap();
        assert_eq!(
            m["mcpServers"]["s"],
            serde_json::json!({"command": "session-vault", "args": ["exec", "--tool", "gemini", "--tool", "codex", "--", "npx", "-y", "srv"], "env": {"PORT": "1"}})
        );
        let c: Value =
            serde_json::from_str(&std::fs::read_to_string(home.join(".codex/auth.json")).unwrap())
                .unwrap();
        assert_eq!(c["OPENAI_API_KEY"], Value::Null);

        // Twice: nothing left to move but the unknown variable.
        let r2 = report(&inp);
        let p2 = plan(&r2, &inp.detector, &opts());
        assert!(p2.files.is_empty());
        assert_eq!(p2.skips.len(), 1);
        // The backups are reported while they hold keys, never re-fixed.
        assert!(r2
            .checks
            .iter()
            .any(|c| c.notes.iter().any(|n| n.contains(".sv-backup-"))));
    }

    #[test]
    fn a_refusing_vault_leaves_every_file_untouched() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().join("home");
        let proj = d.path().join("proj");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&proj).unwrap();
        let a = anthropic(5);
        std::fs::write(
            home.join(".zshrc"),
            format!("export ANTHROPIC_API_KEY={a}\n"),
        )
        .unwrap();
        std::fs::write(proj.join(".env.local"), format!("ANTHROPIC_API_KEY={a}\n")).unwrap();
        let inp = inputs(&home, &proj);
        let r = report(&inp);
        let p = plan(&r, &inp.detector, &opts());
        assert_eq!(p.files.len(), 2);
        let mut vault = MemVault {
            stored: Vec::new(),
            refuse: true,
        };
        let outcomes = apply(&p, &mut vault, "T");
        assert!(matches!(outcomes[0], Outcome::Refused { .. }));
        assert!(matches!(outcomes[1], Outcome::NotAttempted { .. }));
        assert!(std::fs::read_to_string(home.join(".zshrc"))
            .unwrap()
            .contains(&a));
        assert!(std::fs::read_to_string(proj.join(".env.local"))
            .unwrap()
            .contains(&a));
        assert_eq!(std::fs::read_dir(&home).unwrap().count(), 1);
        assert_eq!(std::fs::read_dir(&proj).unwrap().count(), 1);
    }

    #[test]
    fn a_project_file_leading_out_of_the_project_is_never_rewritten() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().join("home");
        let proj = d.path().join("proj");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&proj).unwrap();
        let a = anthropic(7);
        std::fs::write(home.join("secrets.env"), format!("ANTHROPIC_API_KEY={a}\n")).unwrap();
        std::os::unix::fs::symlink(home.join("secrets.env"), proj.join(".env")).unwrap();
        let inp = inputs(&home, &proj);
        let p = plan(&report(&inp), &inp.detector, &opts());
        assert!(
            p.files.iter().all(|f| !f.path.ends_with(".env")),
            "the symlinked .env must not be planned for a rewrite"
        );
        assert!(
            p.skips
                .iter()
                .any(|s| s.reason.contains("outside the project")),
            "the finding is reported as skipped"
        );
    }

    #[test]
    fn a_file_changed_after_planning_is_left_alone() {
        let d = tempfile::tempdir().unwrap();
        let a = anthropic(6);
        std::fs::write(
            d.path().join(".profile"),
            format!("export ANTHROPIC_API_KEY={a}\n"),
        )
        .unwrap();
        let inp = inputs(d.path(), d.path());
        let p = plan(&report(&inp), &inp.detector, &opts());
        std::fs::write(
            d.path().join(".profile"),
            format!("export ANTHROPIC_API_KEY={a}\n# edited\n"),
        )
        .unwrap();
        let mut vault = MemVault {
            stored: Vec::new(),
            refuse: false,
        };
        assert!(matches!(
            apply(&p, &mut vault, "T")[0],
            Outcome::Changed { .. }
        ));
        assert!(vault.stored.is_empty());
    }

    #[test]
    fn symlinked_profiles_are_rewritten_in_place_of_their_target() {
        let d = tempfile::tempdir().unwrap();
        let dots = d.path().join("dotfiles");
        std::fs::create_dir(&dots).unwrap();
        let a = anthropic(7);
        std::fs::write(
            dots.join("fish.conf"),
            format!("set -gx ANTHROPIC_API_KEY {a}\n"),
        )
        .unwrap();
        std::fs::create_dir_all(d.path().join(".config/fish")).unwrap();
        std::os::unix::fs::symlink(
            dots.join("fish.conf"),
            d.path().join(".config/fish/config.fish"),
        )
        .unwrap();
        let inp = inputs(d.path(), &dots);
        let r = report(&inp);
        assert_eq!(r.sources[0].kind, SourceKind::Profile(Dialect::Fish));
        let p = plan(&r, &inp.detector, &opts());
        let mut vault = MemVault {
            stored: Vec::new(),
            refuse: false,
        };
        assert!(matches!(
            apply(&p, &mut vault, "T")[0],
            Outcome::Applied { .. }
        ));
        assert!(
            std::fs::symlink_metadata(d.path().join(".config/fish/config.fish"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(!std::fs::read_to_string(dots.join("fish.conf"))
            .unwrap()
            .contains(&a));
    }

    #[test]
    fn a_line_with_another_unmovable_key_is_left_alone() {
        let d = tempfile::tempdir().unwrap();
        let a = anthropic(8);
        let o = openai_proj(9);
        std::fs::write(
            d.path().join(".bashrc"),
            format!("export ANTHROPIC_API_KEY={a} OTHER={o}\n"),
        )
        .unwrap();
        let inp = inputs(d.path(), d.path());
        let p = plan(&report(&inp), &inp.detector, &opts());
        assert!(p.files.is_empty());
        assert_eq!(p.skips.len(), 2);
        assert!(
            p.skips[1]
                .reason
                .contains("the same line holds another key"),
            "{:?}",
            p.skips
        );
    }

    #[test]
    fn several_variable_tools_need_all_their_variables() {
        let d = tempfile::tempdir().unwrap();
        let t = ToolTable::with_config("[tools.pair]\nvars = [\"PAIR_ID\", \"PAIR_SECRET\"]\n")
            .unwrap();
        std::fs::write(d.path().join(".env"), "PAIR_SECRET=Zq8rT2mK9wLp4XvB7nC3\n").unwrap();
        let mut inp = inputs(d.path(), d.path());
        inp.detector = Detector::new(t);
        let p = plan(&report(&inp), &inp.detector, &opts());
        assert!(p.files.is_empty());
        assert!(
            p.skips[0].reason.contains("needs PAIR_ID, PAIR_SECRET"),
            "{:?}",
            p.skips
        );
    }
}
