//! Finding plaintext keys: which files to look at, and how to read each kind.
//!
//! A value is reported when its variable belongs to a tool (the four built-in
//! tools and the user's `[tools.*]`) and is not a placeholder, or when it has
//! a provider's key format under any name. Files are read through
//! [`crate::read::read_candidate`], so odd files are reported, never fatal.

use crate::formats::{find_keys, is_placeholder, mask, provider_of, Provider, MIN_KEY_LEN};
use crate::lines::{parse_assignment, Dialect};
use crate::read::{read_candidate, FileText, SkipReason};
use crate::{Check, Detector, Finding, JsonLoc, Skipped, Source, SourceKind, Status};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use sv_core::SecretString;

/// Marker in the names of the backups `--fix` writes.
pub const BACKUP_MARK: &str = ".sv-backup-";

/// What doctor looks at.
pub struct Inputs {
    pub home: PathBuf,
    /// `$XDG_CONFIG_HOME`, else `~/.config` (fish and PowerShell profiles).
    pub config_home: PathBuf,
    /// `$CODEX_HOME`, else `~/.codex`.
    pub codex_home: PathBuf,
    pub cwd: PathBuf,
    /// Also look for `.env*` files below `cwd` (honouring `.gitignore`).
    pub recursive: bool,
    pub detector: Detector,
    /// The environment to check (name, value).
    pub env: Vec<(String, SecretString)>,
}

fn finding(
    det: &Detector,
    var: Option<&str>,
    value: &str,
    provider: Option<&'static Provider>,
) -> Finding {
    Finding {
        file: None,
        line: None,
        json_path: None,
        variable: var.map(str::to_owned),
        tool: var.and_then(|v| det.tool_of(v)).map(str::to_owned),
        provider: provider.map(|p| p.name),
        hint: mask(value, provider),
        value: SecretString::from(value),
        loc: JsonLoc::Other,
    }
}

/// Whether `value`, held by `var`, is a key: by the variable's name, or by
/// its format under any name. Returns the provider when the format is known.
fn judge(det: &Detector, var: &str, value: &str) -> Option<Option<&'static Provider>> {
    let provider = provider_of(value);
    if provider.is_some() {
        return Some(provider);
    }
    let named = det.tool_of(var).is_some();
    (named
        && value.len() >= MIN_KEY_LEN
        && !is_placeholder(value)
        && !value.contains(char::is_whitespace))
    .then_some(None)
}

/// Keys in a line-oriented file (profiles, `.env`).
pub fn scan_lines(text: &str, dialect: Dialect, det: &Detector) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let first = out.len();
        if let Some(a) = parse_assignment(line, dialect) {
            if let Some(provider) = judge(det, a.name, &a.value) {
                let mut f = finding(det, Some(a.name), &a.value, provider);
                f.line = Some(i + 1);
                out.push(f);
            }
        }
        for hit in find_keys(line) {
            let key = &line[hit.start..hit.end];
            if out[first..]
                .iter()
                .any(|f: &Finding| f.value.expose() == key)
            {
                continue;
            }
            let mut f = finding(det, None, key, Some(hit.provider));
            f.line = Some(i + 1);
            out.push(f);
        }
    }
    out
}

/// 1-based line of the first occurrence of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    text.find(needle)
        .map(|at| text[..at].bytes().filter(|b| *b == b'\n').count() + 1)
}

#[derive(Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k)
                if !k.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
            {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Key(k) => s += &format!("[{}]", serde_json::Value::String(k.clone())),
            Seg::Index(i) => s += &format!("[{i}]"),
        }
    }
    s
}

fn classify(path: &[Seg], kind: SourceKind) -> JsonLoc {
    let keys: Vec<Option<&str>> = path
        .iter()
        .map(|s| match s {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Index(_) => None,
        })
        .collect();
    match (kind, keys.as_slice()) {
        (SourceKind::ClaudeSettings, [Some("env"), Some(var)]) => {
            JsonLoc::ClaudeEnv((*var).to_owned())
        }
        (_, [Some("mcpServers"), Some(server), Some("env"), Some(var)]) => JsonLoc::McpEnv {
            server: (*server).to_owned(),
            var: (*var).to_owned(),
        },
        (SourceKind::CodexAuth, [Some(var)]) => JsonLoc::TopLevel((*var).to_owned()),
        _ => JsonLoc::Other,
    }
}

/// A parsed config tree, JSON or TOML, walked the same way.
enum Tree<'a> {
    Json(&'a serde_json::Value),
    Toml(&'a toml::Value),
}

fn walk(
    tree: Tree<'_>,
    path: &mut Vec<Seg>,
    kind: SourceKind,
    text: &str,
    det: &Detector,
    out: &mut Vec<Finding>,
) {
    let leaf = |s: &str, path: &mut Vec<Seg>, out: &mut Vec<Finding>| {
        let name = match path.last() {
            Some(Seg::Key(k)) => Some(k.as_str()),
            _ => None,
        };
        let mut push = |var: Option<&str>, value: &str, provider| {
            let mut f = finding(det, var, value, provider);
            f.json_path = Some(path_string(path));
            f.line = line_of(text, value);
            f.loc = classify(path, kind);
            out.push(f);
        };
        if let Some(provider) = name.and_then(|n| judge(det, n, s)) {
            push(name, s, provider);
            return;
        }
        for hit in find_keys(s) {
            push(None, &s[hit.start..hit.end], Some(hit.provider));
        }
    };
    match tree {
        Tree::Json(serde_json::Value::String(s)) => leaf(s, path, out),
        Tree::Json(serde_json::Value::Object(m)) => {
            for (k, v) in m {
                path.push(Seg::Key(k.clone()));
                walk(Tree::Json(v), path, kind, text, det, out);
                path.pop();
            }
        }
        Tree::Json(serde_json::Value::Array(a)) => {
            for (i, v) in a.iter().enumerate() {
                path.push(Seg::Index(i));
                walk(Tree::Json(v), path, kind, text, det, out);
                path.pop();
            }
        }
        Tree::Json(_) => {}
        Tree::Toml(toml::Value::String(s)) => leaf(s, path, out),
        Tree::Toml(toml::Value::Table(m)) => {
            for (k, v) in m {
                path.push(Seg::Key(k.clone()));
                walk(Tree::Toml(v), path, kind, text, det, out);
                path.pop();
            }
        }
        Tree::Toml(toml::Value::Array(a)) => {
            for (i, v) in a.iter().enumerate() {
                path.push(Seg::Index(i));
                walk(Tree::Toml(v), path, kind, text, det, out);
                path.pop();
            }
        }
        Tree::Toml(_) => {}
    }
}

/// A parsed JSON document that may hold keys: every string in it is
/// zeroised when it is dropped.
pub struct SecretJson(pub serde_json::Value);

impl Drop for SecretJson {
    fn drop(&mut self) {
        fn wipe(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::String(s) => zeroize::Zeroize::zeroize(s),
                serde_json::Value::Array(a) => a.iter_mut().for_each(wipe),
                serde_json::Value::Object(m) => m.values_mut().for_each(wipe),
                _ => {}
            }
        }
        wipe(&mut self.0);
    }
}

/// The TOML counterpart of [`SecretJson`].
struct SecretToml(toml::Value);

impl Drop for SecretToml {
    fn drop(&mut self) {
        fn wipe(v: &mut toml::Value) {
            match v {
                toml::Value::String(s) => zeroize::Zeroize::zeroize(s),
                toml::Value::Array(a) => a.iter_mut().for_each(wipe),
                toml::Value::Table(m) => m.iter_mut().for_each(|(_, v)| wipe(v)),
                _ => {}
            }
        }
        wipe(&mut self.0);
    }
}

/// Keys in a JSON or TOML config. A file that does not parse is still
/// searched line by line for key formats (and `parse_error` is set).
pub fn scan_config(text: &str, kind: SourceKind, det: &Detector) -> (Vec<Finding>, bool) {
    let mut out = Vec::new();
    let parsed = if kind == SourceKind::CodexConfig {
        match toml::from_str::<toml::Value>(text) {
            Ok(v) => {
                let v = SecretToml(v);
                walk(Tree::Toml(&v.0), &mut Vec::new(), kind, text, det, &mut out);
                true
            }
            Err(_) => false,
        }
    } else {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) => {
                let v = SecretJson(v);
                walk(Tree::Json(&v.0), &mut Vec::new(), kind, text, det, &mut out);
                true
            }
            Err(_) => false,
        }
    };
    if !parsed {
        for (i, line) in text.lines().enumerate() {
            for hit in find_keys(line) {
                let mut f = finding(det, None, &line[hit.start..hit.end], Some(hit.provider));
                f.line = Some(i + 1);
                out.push(f);
            }
        }
    }
    (out, !parsed)
}

/// Keys in one file's text, read as `kind`.
pub fn scan_text(text: &str, kind: SourceKind, det: &Detector) -> (Vec<Finding>, bool) {
    match kind {
        SourceKind::Profile(d) => (scan_lines(text, d, det), false),
        SourceKind::DotEnv => (scan_lines(text, Dialect::DotEnv, det), false),
        SourceKind::ClaudeSettings
        | SourceKind::McpConfig
        | SourceKind::CodexAuth
        | SourceKind::CodexConfig => scan_config(text, kind, det),
        SourceKind::Environment => (Vec::new(), false),
    }
}

/// Keys in the environment: tools' variables and key formats under any name.
pub fn scan_env(env: &[(String, SecretString)], det: &Detector) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut env: Vec<&(String, SecretString)> = env.iter().collect();
    env.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, value) in env {
        if let Some(provider) = judge(det, name, value.expose()) {
            out.push(finding(det, Some(name), value.expose(), provider));
        } else {
            for hit in find_keys(value.expose()) {
                out.push(finding(
                    det,
                    Some(name),
                    &value.expose()[hit.start..hit.end],
                    Some(hit.provider),
                ));
            }
        }
    }
    out
}

/// Scans a set of files into one check.
struct FileScan<'a> {
    det: &'a Detector,
    seen: &'a mut HashSet<PathBuf>,
    check: Check,
    sources: Vec<Source>,
    files_checked: usize,
    backups: Vec<PathBuf>,
    parse_errors: Vec<PathBuf>,
}

impl FileScan<'_> {
    fn file(&mut self, source: Source) {
        if source
            .path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains(BACKUP_MARK))
        {
            self.backup(&source.path, source.kind);
            return;
        }
        match std::fs::canonicalize(&source.path) {
            Ok(c) => {
                if !self.seen.insert(c) {
                    return;
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                self.check.skipped.push(Skipped {
                    file: source.path,
                    reason: SkipReason::SymlinkLoop,
                });
                return;
            }
            Err(_) => {}
        }
        let text = match read_candidate(&source.path) {
            Ok(None) => return,
            Ok(Some(t)) => t,
            Err(reason) => {
                self.check.skipped.push(Skipped {
                    file: source.path,
                    reason,
                });
                return;
            }
        };
        self.files_checked += 1;
        let (mut findings, parse_error) = scan_text(&text.text(), source.kind, self.det);
        if parse_error {
            self.parse_errors.push(source.path.clone());
        }
        if findings.is_empty() {
            return;
        }
        for f in &mut findings {
            f.file = Some(source.path.clone());
        }
        self.check.findings.extend(findings);
        self.sources.push(source);
    }

    /// A backup `--fix` left: reported while it still holds a key.
    fn backup(&mut self, path: &Path, kind: SourceKind) {
        if let Ok(Some(text)) = read_candidate(path) {
            if !scan_text(&text.text(), kind, self.det).0.is_empty() {
                self.backups.push(path.to_owned());
            }
        }
    }

    /// Backups of `path` in its directory.
    fn backups_of(&mut self, path: &Path, kind: SourceKind) {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return;
        };
        let prefix = format!("{}{BACKUP_MARK}", name.to_string_lossy());
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                self.backup(&e.path(), kind);
            }
        }
    }

    fn finish(mut self, what: &str, fix_cmd: &str) -> (Check, Vec<Source>) {
        let n = self.check.findings.len();
        let files: HashSet<&PathBuf> = self
            .check
            .findings
            .iter()
            .filter_map(|f| f.file.as_ref())
            .collect();
        for p in &self.parse_errors {
            self.check.notes.push(format!(
                "{} does not parse; only key formats were searched",
                p.display()
            ));
        }
        let mut fixes = Vec::new();
        if n > 0 {
            self.check.status = Status::Warn;
            self.check.summary = format!(
                "{n} plaintext key{} in {} file{}",
                plural(n),
                files.len(),
                plural(files.len())
            );
            fixes.push(format!("run `{fix_cmd}` to move them into the vault"));
        } else {
            self.check.summary = format!("no plaintext keys in {} {what}", self.files_checked);
        }
        if !self.check.skipped.is_empty() {
            self.check.status = Status::Warn;
            let k = self.check.skipped.len();
            self.check.summary += &format!("; {k} file{} could not be checked", plural(k));
            fixes.push("make the files named above readable text, or remove them".to_owned());
        }
        if !self.backups.is_empty() {
            self.check.status = Status::Warn;
            for b in &self.backups {
                self.check.notes.push(format!(
                    "{} is a backup from `doctor --fix` and still holds a plaintext key",
                    b.display()
                ));
            }
            fixes.push("delete the backups once the rewritten files work".to_owned());
        }
        if !fixes.is_empty() {
            self.check.fix = Some(fixes.join("; "));
        }
        (self.check, self.sources)
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The `.fish` files of a `conf.d` directory, sorted.
fn list_dir(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
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

fn canonical_or(p: &Path) -> PathBuf {
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
        src(
            h.join(".claude/settings.json"),
            SourceKind::ClaudeSettings,
            false,
        ),
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
    v
}

fn is_env_name(n: &str) -> bool {
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

/// Runs every file and environment check (checks 4 to 9 of the report).
pub fn scan_all(inp: &Inputs) -> (Vec<Check>, Vec<Source>) {
    let det = &inp.detector;
    let mut seen = HashSet::new();
    let mut checks = Vec::new();
    let mut sources = Vec::new();
    let fix_cmd = if inp.recursive {
        "session-vault doctor --recursive --fix"
    } else {
        "session-vault doctor --fix"
    };
    let mut scan = |id,
                    title,
                    what: &str,
                    files: Vec<Source>,
                    pre_skipped: Vec<Skipped>,
                    seen: &mut HashSet<PathBuf>| {
        let mut fs = FileScan {
            det,
            seen,
            check: Check::new(id, title, Status::Ok, ""),
            sources: Vec::new(),
            files_checked: 0,
            backups: Vec::new(),
            parse_errors: Vec::new(),
        };
        fs.check.skipped = pre_skipped;
        for s in files {
            let (p, k) = (s.path.clone(), s.kind);
            fs.file(s);
            if !p.to_string_lossy().contains(BACKUP_MARK) {
                fs.backups_of(&p, k);
            }
        }
        let (check, srcs) = fs.finish(what, fix_cmd);
        sources.extend(srcs);
        check
    };

    let profiles = profile_files(inp)
        .into_iter()
        .map(|(path, d)| Source {
            path,
            kind: SourceKind::Profile(d),
            project: None,
        })
        .collect();
    checks.push(scan(
        "profiles",
        "Shell profiles",
        "shell profiles",
        profiles,
        Vec::new(),
        &mut seen,
    ));

    let mut walk_skipped = Vec::new();
    let envs: Vec<Source> = dotenv_files(&inp.cwd, inp.recursive, &mut walk_skipped)
        .into_iter()
        .map(|path| {
            let project = path.parent().map(canonical_or);
            Source {
                path,
                kind: SourceKind::DotEnv,
                project,
            }
        })
        .collect();
    let mut c = scan(
        "dotenv",
        ".env files",
        ".env files",
        envs,
        walk_skipped,
        &mut seen,
    );
    if !inp.recursive {
        c.notes.push(
            "only the current directory was searched; add --recursive to search below it".into(),
        );
    }
    checks.push(c);

    checks.push(scan(
        "agent-configs",
        "AI agent configs",
        "agent configs",
        config_files(inp),
        Vec::new(),
        &mut seen,
    ));

    checks.push(claude_credentials(&inp.home));
    checks.push(env_check(&inp.env, det));
    checks.push(git_check(&inp.cwd, det));
    (checks, sources)
}

/// `~/.claude/.credentials.json`: Claude Code's own OAuth tokens
/// (informational; they belong to Claude Code, doctor does not move them).
fn claude_credentials(home: &Path) -> Check {
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

fn env_check(env: &[(String, SecretString)], det: &Detector) -> Check {
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
fn git_check(cwd: &Path, det: &Detector) -> Check {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::samples::*;
    use sv_core::ToolTable;

    fn det() -> Detector {
        Detector::new(
            ToolTable::with_config("[tools.openrouter]\nvars = [\"OPENROUTER_API_KEY\"]\n")
                .unwrap(),
        )
    }

    #[test]
    fn lines_find_by_name_and_by_format() {
        let a = anthropic(1);
        let g = google(2);
        let cur = opaque(3);
        let text = format!(
            "# my profile\nexport ANTHROPIC_API_KEY=\"{a}\"\nexport CURSOR_API_KEY={cur}\nalias x='K={g} tool'\n\
             export OPENAI_API_KEY=sk-...\nexport GEMINI_API_KEY=your-api-key-here\nexport OPENROUTER_API_KEY=\n\
             export ANTHROPIC_API_KEY=${{OTHER}}\nexport ANTHROPIC_API_KEY=<key>\n"
        );
        let f = scan_lines(&text, Dialect::Posix, &det());
        assert_eq!(f.len(), 3, "{f:?}");
        assert_eq!(
            (f[0].line, f[0].variable.as_deref(), f[0].tool.as_deref()),
            (Some(2), Some("ANTHROPIC_API_KEY"), Some("claude"))
        );
        assert_eq!(f[0].hint, "sk-ant-…AA (108 chars)");
        assert_eq!(
            (f[1].line, f[1].tool.as_deref(), f[1].provider),
            (Some(3), Some("cursor"), None)
        );
        assert_eq!(
            (f[2].line, f[2].variable.as_deref(), f[2].provider),
            (Some(4), None, Some("google"))
        );
        for x in &f {
            let shown = serde_json::to_string(x).unwrap() + &format!("{x:?}");
            assert!(!shown.contains(&a) && !shown.contains(&g) && !shown.contains(&cur));
        }
    }

    #[test]
    fn user_tools_count_by_name() {
        let key = format!("{}-{}", "local", "q8ZrT2mK9wLp4XvB7nC3");
        let f = scan_lines(
            &format!("OPENROUTER_API_KEY={key}\n"),
            Dialect::DotEnv,
            &det(),
        );
        assert_eq!(f[0].tool.as_deref(), Some("openrouter"));
    }

    #[test]
    fn json_configs_name_their_paths() {
        let a = anthropic(4);
        let gh = github(5);
        let o = openai_proj(6);
        let text = format!(
            "{{\n  \"env\": {{\n    \"ANTHROPIC_API_KEY\": \"{a}\",\n    \"DEBUG\": \"1\"\n  }},\n  \
             \"mcpServers\": {{\"gh\": {{\"command\": \"npx\", \"env\": {{\"GITHUB_TOKEN\": \"{gh}\"}}}}}},\n  \
             \"hooks\": [\"curl -H 'Authorization: Bearer {o}'\"]\n}}\n"
        );
        let (f, bad) = scan_config(&text, SourceKind::ClaudeSettings, &det());
        assert!(!bad);
        assert_eq!(f.len(), 3, "{f:?}");
        assert_eq!(f[0].json_path.as_deref(), Some("env.ANTHROPIC_API_KEY"));
        assert_eq!(f[0].line, Some(3));
        assert_eq!(f[0].loc, JsonLoc::ClaudeEnv("ANTHROPIC_API_KEY".into()));
        assert_eq!(
            f[1].json_path.as_deref(),
            Some("mcpServers.gh.env.GITHUB_TOKEN")
        );
        assert_eq!(
            f[1].loc,
            JsonLoc::McpEnv {
                server: "gh".into(),
                var: "GITHUB_TOKEN".into()
            }
        );
        assert_eq!(f[1].tool, None);
        assert_eq!(f[2].json_path.as_deref(), Some("hooks[0]"));
        assert_eq!(f[2].loc, JsonLoc::Other);
    }

    #[test]
    fn broken_json_is_still_searched_for_formats() {
        let k = openrouter(7);
        let (f, bad) = scan_config(
            &format!("{{\"env\": {{\"X\": \"{k}\",,\n"),
            SourceKind::McpConfig,
            &det(),
        );
        assert!(bad);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].provider, Some("openrouter"));
    }

    #[test]
    fn toml_configs() {
        let k = openai_legacy(8);
        let text = format!("model = \"o3\"\n[mcp_servers.x]\ncommand = \"y\"\nenv = {{ OPENAI_API_KEY = \"{k}\" }}\n");
        let (f, _) = scan_config(&text, SourceKind::CodexConfig, &det());
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].json_path.as_deref(),
            Some("mcp_servers.x.env.OPENAI_API_KEY")
        );
        assert_eq!(f[0].line, Some(4));
    }

    #[test]
    fn environment() {
        let env = vec![
            (
                "ANTHROPIC_API_KEY".to_owned(),
                SecretString::from(anthropic(9).as_str()),
            ),
            ("PATH".to_owned(), SecretString::from("/usr/bin")),
            ("MY_TOKEN".to_owned(), SecretString::from(groq(10).as_str())),
            ("OPENAI_API_KEY".to_owned(), SecretString::from("")),
        ];
        let f = scan_env(&env, &det());
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].provider, Some("groq"));
        assert_eq!(f[1].tool, None);
    }
}
