//! The command line (docs/design.md §3): every clap type, the completions
//! and man pages generated from them, and usage errors turned into one
//! sentence that says what to do next. Nothing here runs a command.

use crate::error::{CliError, Result};
use clap::builder::PossibleValuesParser;
use clap::error::ErrorKind;
use clap::{ArgGroup, Args, CommandFactory, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;

/// The key backends a user can name (`daemon start --backend`, `rekey
/// --backend`); `secret-service` is the one whose status name is `libsecret`.
pub const BACKENDS: [&str; 5] = ["tpm2", "secret-service", "keychain", "dpapi", "passphrase"];

/// [`BACKENDS`], or `auto` (the daemon picks the first available).
fn backend_or_auto() -> PossibleValuesParser {
    PossibleValuesParser::new(std::iter::once("auto").chain(BACKENDS))
}

#[derive(Parser, Debug)]
#[command(
    name = "session-vault",
    version,
    about = "Keeps AI agents' API keys encrypted, scoped to project directories, and expiring",
    long_about = "Keeps AI agents' API keys encrypted at rest, serves each key only to work \
inside the project directory it was scoped to, and only until its idle or hard expiry.\n\n\
Exit codes: 0 success, 1 error, 2 usage error, 3 no credential for this tool here, \
4 daemon not reachable or vault locked, 5 refused by a caller rule or not confirmed."
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
    Init(InitArgs),
    /// Add the hook to a shell's startup file, in one marked block.
    Install(InstallArgs),
    /// Remove the block `install` added, giving back the file as it was.
    Uninstall(InstallArgs),
    /// Print shell completions (bash, zsh, fish, powershell, elvish).
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write all pages with --out-dir.
    Man(ManArgs),
    /// Point an agent's own settings at session-vault (Claude Code's apiKeyHelper; with --proxy also Codex and Gemini CLI).
    Integrate(IntegrateArgs),
    /// Check the setup and find plaintext keys; --fix moves them into the vault.
    Doctor(DoctorArgs),
    /// Show the audit log: which credential was served or refused, to whom.
    Log(LogArgs),
    /// Re-wrap the vault key under another backend; no record is touched.
    Rekey(RekeyArgs),
}

#[derive(Subcommand, Debug)]
pub enum DaemonAction {
    /// Start sv-daemon in the background (or in the foreground).
    Start {
        /// Stay in the foreground (for service managers).
        #[arg(long)]
        foreground: bool,
        /// Key backend; default from SESSION_VAULT_BACKEND, else auto.
        #[arg(long, value_parser = backend_or_auto())]
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
    /// Ask the user (the askpass program in SESSION_VAULT_ASKPASS, else
    /// SSH_ASKPASS, of the daemon's environment) before the key first goes
    /// to a new process tree, and before each new stand-in.
    #[arg(long)]
    pub confirm: bool,
    /// Give the plaintext key only to a caller that runs one of these
    /// files, or was started from one (compared as the kernel sees the
    /// running file: device and inode, not the name).
    #[arg(long = "allow-exe", value_name = "PATH", num_args = 1..)]
    pub allow_exe: Vec<PathBuf>,
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
    /// Print a stand-in for the proxy instead of the key, bound to the
    /// agent that runs this command as its key helper (`integrate --proxy`).
    #[arg(long)]
    pub stand_in: bool,
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

/// A shell session-vault has a hook for (`init`, `install`, `uninstall`);
/// its hook and startup file are in `cmd::shell`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookShell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

impl HookShell {
    pub fn name(self) -> &'static str {
        match self {
            HookShell::Bash => "bash",
            HookShell::Zsh => "zsh",
            HookShell::Fish => "fish",
            HookShell::Powershell => "powershell",
        }
    }
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The shell to print the hook for.
    #[arg(value_enum)]
    pub shell: HookShell,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("which").required(true).args(["shell", "shell_option"])))]
pub struct InstallArgs {
    /// The shell whose startup file gets the block.
    #[arg(value_enum, value_name = "SHELL")]
    shell: Option<HookShell>,
    /// The same shell, as an option.
    #[arg(long = "shell", id = "shell_option", value_enum, value_name = "SHELL")]
    shell_option: Option<HookShell>,
    /// The startup file (default: ~/.bashrc, ${ZDOTDIR:-$HOME}/.zshrc,
    /// ~/.config/fish/conf.d/session-vault.fish, or PowerShell's $PROFILE).
    #[arg(long, value_name = "FILE")]
    pub rc: Option<PathBuf>,
}

impl InstallArgs {
    /// SHELL or `--shell SHELL` (clap requires exactly one).
    pub fn shell(&self) -> HookShell {
        match (self.shell, self.shell_option) {
            (Some(s), _) | (None, Some(s)) => s,
            (None, None) => unreachable!("clap requires SHELL or --shell"),
        }
    }
}

/// Shells clap_complete writes completions for.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to print completions for.
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// Write session-vault.1 and one page per command into DIR instead of
    /// printing the main page.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// An agent whose settings `integrate` knows.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Agent {
    /// Claude Code: sets `apiKeyHelper` (with --proxy also `env.ANTHROPIC_BASE_URL`).
    Claude,
    /// Gemini CLI (--proxy): sets `security.auth.selectedType` to the API key.
    Gemini,
    /// Codex CLI (--proxy): a provider at the proxy in ~/.codex/config.toml.
    Codex,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("where").args(["project", "user"])))]
pub struct IntegrateArgs {
    #[arg(value_enum)]
    pub agent: Agent,
    /// Edit DIR/.claude/settings.local.json (default: the current directory's).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Edit your user settings: ~/.claude/settings.json (or
    /// $CLAUDE_CONFIG_DIR/settings.json).
    #[arg(long)]
    pub user: bool,
    /// Put the setting back as it was before `integrate`.
    #[arg(long)]
    pub undo: bool,
    /// Send the agent's requests through the credential proxy: it gets a
    /// stand-in, never the key.
    #[arg(long)]
    pub proxy: bool,
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also search for .env files below the current directory (honouring .gitignore).
    #[arg(long)]
    pub recursive: bool,
    /// Move the keys found into the vault and rewrite their files (a dry run unless --yes).
    #[arg(long)]
    pub fix: bool,
    /// With --fix: apply the changes.
    #[arg(long, requires = "fix")]
    pub yes: bool,
    /// With --fix: scope keys from home files (profiles, ~/.claude, …) to this project instead of global.
    #[arg(long, requires = "fix", conflicts_with = "global")]
    pub project: Option<PathBuf>,
    /// With --fix: scope keys from home files globally (the default).
    #[arg(long, requires = "fix")]
    pub global: bool,
    /// With --fix: idle TTL in seconds for the moved keys (0 = none, as they had in the file).
    #[arg(long, requires = "fix", default_value_t = 0)]
    pub ttl: u64,
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

#[derive(Args, Debug)]
pub struct RekeyArgs {
    /// The backend to protect the vault key with from now on.
    #[arg(long, value_parser = PossibleValuesParser::new(BACKENDS))]
    pub backend: String,
}

/// The command line of this process. `--help` and `--version` print and
/// exit here; anything clap refuses becomes [`CliError::Arguments`].
pub fn parse() -> Result<Command> {
    let args: Vec<OsString> = std::env::args_os().collect();
    match Cli::try_parse_from(&args) {
        Ok(cli) => Ok(cli.command),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.exit()
        }
        Err(e) => Err(usage_error(&e, &args)),
    }
}

/// One sentence for a clap error, naming the `--help` to read, and clap's
/// usage line (or, for a missing command, the help that lists them).
fn usage_error(e: &clap::Error, args: &[OsString]) -> CliError {
    let path = command_path(args);
    let rendered = e.render().to_string();
    let mut usage = None;
    let mut said = Vec::new();
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        said.push(format!("`{path}` needs a command"));
        usage = Some(rendered.trim_end().to_owned());
    } else {
        for para in rendered.split("\n\n") {
            let text = para.trim();
            if text.starts_with("Usage:") {
                usage = Some(text.to_owned());
            } else if !text.is_empty() && !text.starts_with("For more information") {
                let text = text.strip_prefix("error: ").unwrap_or(text);
                let text = text.strip_prefix("tip: ").unwrap_or(text);
                let words: Vec<&str> = text.split_whitespace().collect();
                said.push(words.join(" "));
            }
        }
    }
    CliError::Arguments {
        sentence: format!("{}; see `{path} --help`", said.join("; ")),
        usage,
    }
}

/// `session-vault` and the subcommands named on the command line.
fn command_path(args: &[OsString]) -> String {
    let mut cmd = Cli::command();
    let mut path = vec!["session-vault".to_owned()];
    for a in args.iter().skip(1) {
        let Some(a) = a.to_str() else { break };
        match cmd.find_subcommand(a) {
            Some(sub) => {
                path.push(sub.get_name().to_owned());
                cmd = sub.clone();
            }
            None if a.starts_with('-') => continue,
            None => break,
        }
    }
    path.join(" ")
}

/// Shell completions for the whole command line.
pub fn completions(shell: CompletionShell) -> Vec<u8> {
    use clap_complete::Shell;
    let shell = match shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
        CompletionShell::Powershell => Shell::PowerShell,
        CompletionShell::Elvish => Shell::Elvish,
    };
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "session-vault", &mut buf);
    buf
}

/// The main man page (roff).
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut buf)?;
    Ok(buf)
}

/// session-vault.1 and one page per command, written into `dir`.
pub fn write_man_pages(dir: &std::path::Path) -> std::io::Result<()> {
    clap_mangen::generate_to(Cli::command(), dir)
}
