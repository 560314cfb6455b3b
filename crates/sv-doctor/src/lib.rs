//! The engine behind `session-vault doctor` (docs/design.md §8): numbered checks of the
//! daemon, the key backend and file modes, and a search for plaintext AI keys
//! in shell profiles, `.env` files, agent configs and the environment; then
//! `--fix`, which moves each key into the vault and rewrites its source.
//!
//! The CLI owns the socket: this crate reaches the vault only through the
//! [`fix::VaultSink`] trait, and learns about the daemon from a
//! [`system::DaemonState`] the CLI passes in. It never prints a key: a
//! [`Finding`] holds the value in a [`SecretString`] that serialisation skips
//! and `Debug` redacts, and shows a masked [`Finding::hint`] instead.
//!
//! What it does not do: scan arbitrary files in the home directory, read git
//! history, or rewrite TOML (Codex `config.toml` findings get a hint).

pub mod fix;
pub mod formats;
pub mod lines;
pub mod read;
pub mod redact;
pub mod render;
#[cfg(any(test, feature = "samples"))]
pub mod samples;
pub mod scan;
pub mod stream;
pub mod system;

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use sv_core::{SecretString, ToolTable};

pub use read::SkipReason;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

/// What kind of file a key was found in; decides how `--fix` rewrites it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A shell profile in the given dialect: the line is commented out.
    Profile(lines::Dialect),
    /// A `.env*` file: the line is dropped.
    DotEnv,
    /// Claude Code `settings*.json`: `env` keys move to `apiKeyHelper`.
    ClaudeSettings,
    /// A JSON file with `mcpServers` (`.mcp.json`, Cursor, Gemini, `~/.claude.json`).
    McpConfig,
    /// Codex `auth.json`.
    CodexAuth,
    /// Codex `config.toml` (reported, rewritten by hand).
    CodexConfig,
    /// The current process environment.
    Environment,
    /// `.npmrc`: `_authToken=` lines (reported, moved by hand).
    Npmrc,
    /// Aider's `.aider.conf.yml`: `openai-api-key:` and the like (reported).
    AiderConf,
    /// A Claude Code transcript (`~/.claude/projects/**/*.jsonl`): streamed,
    /// and redacted by `--fix`.
    Transcript,
    /// A Codex shell snapshot (`$CODEX_HOME/shell_snapshots/`): streamed,
    /// redacted by `--fix`.
    ShellSnapshot,
    /// A shell history (bash, zsh, fish): streamed, redacted by `--fix`.
    History,
    /// A backup session-vault wrote: reported until deleted.
    Backup,
}

/// Where in a JSON config a key sits, as far as `--fix` cares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum JsonLoc {
    /// `env.NAME` of a Claude settings file.
    ClaudeEnv(String),
    /// `mcpServers.SERVER.env.NAME`.
    McpEnv { server: String, var: String },
    /// A top-level `NAME` (Codex `auth.json`).
    TopLevel(String),
    /// Anywhere else (or not JSON at all).
    #[default]
    Other,
}

/// A file doctor scanned, and where a key from it is scoped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub path: PathBuf,
    pub kind: SourceKind,
    /// The project directory for project files; `None` for the home's.
    pub project: Option<PathBuf>,
}

/// One plaintext key.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// `None` for the environment.
    pub file: Option<PathBuf>,
    /// 1-based line.
    pub line: Option<usize>,
    /// For JSON and TOML configs, e.g. `mcpServers.github.env.GITHUB_TOKEN`.
    pub json_path: Option<String>,
    /// The variable (or config key) that holds it, when there is one.
    pub variable: Option<String>,
    /// The session-vault tool that owns the variable, when one does.
    pub tool: Option<String>,
    /// The key format recognised, e.g. `anthropic`.
    pub provider: Option<&'static str>,
    /// A masked hint, e.g. `sk-ant-…AA (108 chars)`.
    pub hint: String,
    #[serde(skip)]
    pub value: SecretString,
    #[serde(skip)]
    pub loc: JsonLoc,
}

/// A file that could not be checked.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub file: PathBuf,
    #[serde(flatten)]
    pub reason: SkipReason,
}

/// One numbered check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub number: usize,
    pub id: &'static str,
    pub title: &'static str,
    pub status: Status,
    pub summary: String,
    /// One line that says how to fix it (WARN and FAIL only).
    pub fix: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Check {
    pub fn new(
        id: &'static str,
        title: &'static str,
        status: Status,
        summary: impl Into<String>,
    ) -> Check {
        Check {
            number: 0,
            id,
            title,
            status,
            summary: summary.into(),
            fix: None,
            findings: Vec::new(),
            skipped: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn with_fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

/// Everything doctor found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
    /// The files that hold findings, for `--fix`.
    #[serde(skip)]
    pub sources: Vec<Source>,
}

impl Report {
    /// Numbers the checks in order.
    pub fn new(mut checks: Vec<Check>, sources: Vec<Source>) -> Report {
        for (i, c) in checks.iter_mut().enumerate() {
            c.number = i + 1;
        }
        Report { checks, sources }
    }

    /// The worst status of any check.
    pub fn worst(&self) -> Status {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Ok)
    }

    /// Exit code: 0 only when nothing WARNs or FAILs.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.worst() != Status::Ok)
    }
}

/// Which tool each variable belongs to.
#[derive(Debug, Clone)]
pub struct Detector {
    pub tools: ToolTable,
    by_var: BTreeMap<String, String>,
}

impl Detector {
    pub fn new(tools: ToolTable) -> Detector {
        let by_var = tools
            .all_vars()
            .map(|(t, v)| (v.to_owned(), t.to_owned()))
            .collect();
        Detector { tools, by_var }
    }

    /// The tool whose credential sets `var`.
    pub fn tool_of(&self, var: &str) -> Option<&str> {
        self.by_var.get(var).map(String::as_str)
    }
}
