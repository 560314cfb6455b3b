//! Command-line definitions (SPEC §3).

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "session-vault",
    version,
    about = "Keeps AI agents' API keys encrypted, scoped to project directories, and expiring",
    long_about = "Keeps AI agents' API keys encrypted at rest, serves each key only to work \
inside the project directory it was scoped to, and only until its idle or hard expiry.\n\n\
Exit codes: 0 success, 1 error, 2 usage error, 3 no credential for this tool here, \
4 daemon not reachable or vault locked."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start, stop or inspect the daemon that holds the vault key.
    Daemon {
        #[command(subcommand)]
        action: DaemonAction,
    },
    /// Unlock the vault (passphrase backend); the first unlock creates it.
    Unlock,
    /// Wipe the vault key from the daemon's memory.
    Lock,
    /// Store a key for a tool, scoped to a project or global (read hidden, or from stdin).
    Add(AddArgs),
    /// Print shell code that exports a tool's variables, for `eval`.
    Env(EnvArgs),
    /// Print the bare secret, for helpers such as Claude Code's apiKeyHelper.
    Get(GetArgs),
    /// Run a command with the tools' variables in its environment only.
    Exec(ExecArgs),
    /// List stored sessions (never their secrets).
    List(ListArgs),
    /// Remove sessions by id, by tool or by project.
    Remove(RemoveArgs),
    /// Print the shell hook defining sv_load / sv_unload, for `eval`.
    Init(crate::shell::InitArgs),
    /// Add the hook to a shell's startup file, in one marked block.
    Install(crate::shell::InstallArgs),
    /// Remove the block `install` added, giving back the file as it was.
    Uninstall(crate::shell::InstallArgs),
    /// Print shell completions (bash, zsh, fish, powershell, elvish).
    Completions(crate::shell::CompletionsArgs),
    /// Print the man page (roff), or write all pages with --out-dir.
    Man(crate::shell::ManArgs),
    /// Point an agent's own settings at session-vault (Claude Code's apiKeyHelper).
    Integrate(crate::integrate::IntegrateArgs),
    /// Check the setup and find plaintext keys; --fix moves them into the vault.
    Doctor(crate::doctor_cmd::DoctorArgs),
    /// Show the audit log: which credential was served or refused, to whom.
    Log(LogArgs),
    /// Re-wrap the vault key under another backend; no record is touched.
    Rekey(crate::rekey::RekeyArgs),
}

#[derive(Subcommand, Debug)]
pub enum DaemonAction {
    /// Start sv-daemon in the background (or in the foreground).
    Start {
        /// Stay in the foreground (for service managers).
        #[arg(long)]
        foreground: bool,
        /// Key backend; default from SESSION_VAULT_BACKEND, else auto.
        #[arg(long, value_parser = ["auto", "tpm2", "secret-service", "keychain", "dpapi", "passphrase"])]
        backend: Option<String>,
    },
    /// Stop the daemon (in-flight requests finish first).
    Stop,
    /// Show version, uptime, sessions, backend and lock state.
    Status {
        #[arg(long)]
        json: bool,
        /// Also show every backend and why it was or was not chosen.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Install the per-user service (systemd user unit, or launchd agent on macOS).
    InstallService,
    /// Remove the per-user service file that install-service wrote.
    UninstallService,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("scope").required(true).args(["project", "global"])))]
pub struct AddArgs {
    /// Tool: claude, cursor, codex, gemini, or one from config.toml.
    #[arg(long)]
    pub tool: String,
    /// Serve the key only inside this directory (must exist).
    #[arg(long)]
    pub project: Option<PathBuf>,
    /// Serve the key anywhere no project session matches.
    #[arg(long)]
    pub global: bool,
    /// A note shown by `list --json`.
    #[arg(long)]
    pub label: Option<String>,
    /// Inactivity TTL in seconds (0 = no idle expiry).
    #[arg(long, default_value_t = 28_800)]
    pub ttl: u64,
    /// Hard deadline in seconds from now.
    #[arg(long)]
    pub max_age: Option<u64>,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Format {
    Sh,
    Fish,
    Powershell,
    Json,
}

impl From<Format> for sv_core::quote::EnvFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Sh => Self::Sh,
            Format::Fish => Self::Fish,
            Format::Powershell => Self::PowerShell,
            Format::Json => Self::Json,
        }
    }
}

#[derive(Args, Debug)]
pub struct EnvArgs {
    /// Tool(s) whose variables to print.
    #[arg(long, required = true)]
    pub tool: Vec<String>,
    #[arg(long, value_enum, default_value_t = Format::Sh)]
    pub format: Format,
    /// Print code that removes the tools' variables instead (needs no daemon).
    #[arg(long)]
    pub unset: bool,
}

#[derive(Args, Debug)]
pub struct GetArgs {
    #[arg(long)]
    pub tool: String,
    /// For tools with several variables: which one to print.
    #[arg(long)]
    pub var: Option<String>,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Tool(s) whose variables the command gets.
    #[arg(long, required = true)]
    pub tool: Vec<String>,
    /// Give the command stand-ins, not keys: the daemon's proxy puts the
    /// real key on its requests (the tools' base-URL variables point at it).
    #[arg(long)]
    pub proxy: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[arg(long)]
    pub json: bool,
    #[arg(long)]
    pub tool: Option<String>,
    /// Only sessions scoped to this project directory.
    #[arg(long)]
    pub project: Option<PathBuf>,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("what").required(true).args(["id", "tool", "project"])))]
pub struct RemoveArgs {
    /// A session id (or its first characters, at least 4).
    pub id: Option<String>,
    /// Remove every session of this tool.
    #[arg(long)]
    pub tool: Option<String>,
    /// Remove every session scoped to this project.
    #[arg(long)]
    pub project: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct LogArgs {
    /// One JSON array of records instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only this tool's records.
    #[arg(long)]
    pub tool: Option<String>,
    /// Only records this recent: 90s, 30m, 1h, 2d, 1w.
    #[arg(long, value_name = "AGE")]
    pub since: Option<String>,
    /// Only refused (and failed) requests.
    #[arg(long)]
    pub denied: bool,
    /// At most this many records (the most recent).
    #[arg(long, default_value_t = 1000)]
    pub limit: u32,
}
