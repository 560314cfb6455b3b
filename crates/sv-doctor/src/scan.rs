//! Finding plaintext keys: which files to look at, and how to read each kind.
//!
//! A value is reported when its variable belongs to a tool (the four built-in
//! tools and the user's `[tools.*]`) and is not a placeholder, or when it has
//! a provider's key format under any name. Files are read through
//! [`crate::read::read_candidate`], so odd files are reported, never fatal.

mod checks;
mod config;
pub mod leftovers;
mod places;

pub use config::{scan_config, SecretJson};
pub use places::{config_files, dotenv_files, profile_files};

use crate::formats::{find_keys, is_placeholder, mask, provider_of, Provider, MIN_KEY_LEN};
use crate::lines::{parse_assignment, Dialect};
use crate::read::{read_candidate, SkipReason};
use crate::{Check, Detector, Finding, JsonLoc, Skipped, Source, SourceKind, Status};
use checks::{claude_credentials, env_check, git_check};
use places::canonical_or;
use std::collections::HashSet;
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

pub(crate) fn finding(
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
pub(crate) fn judge(det: &Detector, var: &str, value: &str) -> Option<Option<&'static Provider>> {
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
    scan_each_line(text, det, |line| {
        let a = parse_assignment(line, dialect)?;
        let provider = judge(det, a.name, &a.value)?;
        Some(finding(det, Some(a.name), &a.value, provider))
    })
}

/// Each line of `text`: what `by_name` finds in it, then the key formats
/// it did not find, all with their line number.
pub(crate) fn scan_each_line(
    text: &str,
    det: &Detector,
    mut by_name: impl FnMut(&str) -> Option<Finding>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let first = out.len();
        out.extend(by_name(line));
        let by_format = format_findings(det, line, &out[first..]);
        out.extend(by_format);
        for f in &mut out[first..] {
            f.line = Some(i + 1);
        }
    }
    out
}

/// Keys found in `text` by their format alone, each once, leaving out those
/// that `known` (what was found in the same place by name) holds already.
pub(crate) fn format_findings(det: &Detector, text: &str, known: &[Finding]) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for hit in find_keys(text) {
        let key = &text[hit.start..hit.end];
        if known.iter().chain(&out).any(|f| f.value.expose() == key) {
            continue;
        }
        out.push(finding(det, None, key, Some(hit.provider)));
    }
    out
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
        SourceKind::Npmrc | SourceKind::AiderConf => (scan_named(text, det), false),
        SourceKind::Environment
        | SourceKind::Transcript
        | SourceKind::ShellSnapshot
        | SourceKind::History
        | SourceKind::Backup => {
            // Streamed files: scanned by `leftovers`, but small ones read
            // whole work the same way.
            let m = crate::stream::Matcher::new(det);
            let mut out = Vec::new();
            let _ = m.scan(&mut text.as_bytes(), |h| {
                let mut f = finding(det, h.variable.as_deref(), &h.value, h.provider);
                f.line = Some(h.line);
                out.push(f);
            });
            (out, false)
        }
    }
}

/// Config keys (not variables) that hold a secret, and the tool it is for:
/// Claude Code's `primaryApiKey`, Aider's `openai-api-key` and
/// `anthropic-api-key`, npm's `_authToken`.
pub fn secret_config_key(name: &str) -> Option<Option<&'static str>> {
    match name {
        "primaryApiKey" | "anthropic-api-key" | "anthropic_api_key" => Some(Some("claude")),
        "openai-api-key" | "openai_api_key" => Some(Some("codex")),
        "_authToken" | "_auth" | "_password" | "api-key" | "api_key" | "apiKey" => Some(None),
        _ => None,
    }
}

/// A value under a [`secret_config_key`]: long enough, not a placeholder.
pub(crate) fn is_secret_value(value: &str) -> bool {
    value.len() >= MIN_KEY_LEN && !is_placeholder(value) && !value.contains(char::is_whitespace)
}

/// Keys in `key = value` / `key: value` files (`.npmrc`, `.aider.conf.yml`):
/// a value under a [`secret_config_key`] (also `//host/:_authToken=`), and
/// key formats anywhere.
pub fn scan_named(text: &str, det: &Detector) -> Vec<Finding> {
    scan_each_line(text, det, |line| {
        let t = line.trim_start().trim_start_matches("- ");
        if t.starts_with(['#', ';']) {
            return None;
        }
        // YAML `name: value`, else ini `name=value`
        // (`//registry.npmjs.org/:_authToken=…`: the name after the last `:`).
        let yaml = t.find(": ").or_else(|| t.strip_suffix(':').map(str::len));
        let at = yaml.or_else(|| t.find('='))?;
        let (mut name, rest) = (t[..at].trim(), &t[at + 1..]);
        name = name.rsplit(':').next().unwrap_or(name).trim();
        let value = rest.trim().trim_matches(['"', '\'']);
        // Aider: `api-key: gemini=KEY`.
        let value = value.split_once('=').map_or(value, |(_, v)| v).trim();
        let tool = secret_config_key(name)?;
        if !is_secret_value(value) {
            return None;
        }
        let mut f = finding(det, None, value, provider_of(value));
        f.variable = Some(name.to_owned());
        f.tool = tool.map(str::to_owned);
        Some(f)
    })
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

pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
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
