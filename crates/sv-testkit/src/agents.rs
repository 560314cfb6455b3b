//! Running the real agents (Claude Code, Codex, Gemini CLI) as a test would:
//! a fresh HOME, a minimal environment, stdin from /dev/null, a timeout that
//! kills the whole process group; and the two checks the credential proxy
//! (docs/design.md §10) is judged by: which processes of the agent's tree
//! held the key in `/proc/PID/environ` or `cmdline` while it ran (sampled
//! the whole time, and counted while the mock held a request open), and
//! which files under the agent's HOME contain it afterwards.
//!
//! The same helpers serve a direct run (the key in the agent's environment:
//! the checks must find it, which proves they work) and a run through
//! `session-vault exec --proxy` (they must find nothing). The facts about
//! each agent are in docs/agents.md, "Verified agent versions".

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::mock::Recorded;

/// The reply text the mock gives unless a test sets another.
pub const MOCK_TEXT: &str = "Hello from the session-vault mock provider.";

/// Where the pinned agents are installed by `scripts/install-agents.sh`.
pub const DEFAULT_AGENTS_BIN: &str = "/opt/sv-agents/node_modules/.bin";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agent {
    Claude,
    Codex,
    Gemini,
}

impl Agent {
    pub const ALL: [Agent; 3] = [Agent::Claude, Agent::Codex, Agent::Gemini];

    /// The session-vault tool name, which is also the agent's command.
    pub fn tool(self) -> &'static str {
        match self {
            Agent::Claude => "claude",
            Agent::Codex => "codex",
            Agent::Gemini => "gemini",
        }
    }

    /// The variable the agent reads its key from (Codex: through the
    /// provider's `env_key`, see [`prepare`]).
    pub fn key_var(self) -> &'static str {
        match self {
            Agent::Claude => "ANTHROPIC_API_KEY",
            Agent::Codex => "OPENAI_API_KEY",
            Agent::Gemini => "GEMINI_API_KEY",
        }
    }

    /// The variable that points the agent at another API host; Codex 0.171
    /// ignores its variable and needs its `config.toml` instead.
    pub fn base_url_var(self) -> Option<&'static str> {
        match self {
            Agent::Claude => Some("ANTHROPIC_BASE_URL"),
            Agent::Codex => None,
            Agent::Gemini => Some("GOOGLE_GEMINI_BASE_URL"),
        }
    }

    /// The header the agent sends its key in.
    pub fn auth_header(self) -> &'static str {
        match self {
            Agent::Claude => "x-api-key",
            Agent::Codex => "authorization",
            Agent::Gemini => "x-goog-api-key",
        }
    }

    /// The key a recorded request carried in this agent's auth place.
    pub fn key_sent(self, request: &Recorded) -> Option<&str> {
        let value = request.header(self.auth_header())?;
        match self {
            Agent::Codex => value.strip_prefix("Bearer "),
            _ => Some(value),
        }
    }

    /// Whether a recorded request is a model call (not a preconnect or a
    /// WebSocket attempt).
    pub fn is_model_request(self, request: &Recorded) -> bool {
        let path = request.path().split('?').next().unwrap_or("");
        request.method() == "POST"
            && match self {
                Agent::Claude => path == "/v1/messages",
                Agent::Codex => path == "/v1/responses",
                Agent::Gemini => {
                    path.ends_with(":generateContent") || path.ends_with(":streamGenerateContent")
                }
            }
    }

    /// A fake key of the provider's shape, random per call.
    pub fn fake_key(self) -> String {
        let r = random_hex(20);
        match self {
            Agent::Claude => format!("sk-ant-api03-svtest{r}AA"),
            Agent::Codex => format!("sk-proj-svtest{r}"),
            Agent::Gemini => format!("AIzaSvtest{}", &r[..29]),
        }
    }

    /// The arguments for one non-interactive prompt.
    pub fn prompt_args(self, prompt: &str) -> Vec<String> {
        let args: &[&str] = match self {
            Agent::Claude => &["-p", prompt, "--output-format", "text"],
            Agent::Codex => &["exec", "--skip-git-repo-check", "--color", "never", prompt],
            Agent::Gemini => &["-p", prompt],
        };
        args.iter().map(|s| s.to_string()).collect()
    }

    /// The installed agent's executable, if `scripts/install-agents.sh` ran.
    pub fn executable(self) -> Option<PathBuf> {
        let dir = std::env::var_os("SV_AGENTS_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_AGENTS_BIN));
        let exe = dir.join(self.tool());
        exe.is_file().then_some(exe)
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if read.is_err() {
        let t = crate::monotonic_ns() ^ u64::from(std::process::id());
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (t >> ((i % 8) * 8)) as u8 ^ i as u8;
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh HOME and working directory for one agent run.
pub struct AgentHome {
    pub home: PathBuf,
    pub work: PathBuf,
    /// `CODEX_HOME` (under HOME).
    pub codex_home: PathBuf,
}

impl AgentHome {
    pub fn new(root: &Path) -> std::io::Result<AgentHome> {
        let home = root.join("home");
        let work = root.join("work");
        let codex_home = home.join(".codex");
        for d in [&home, &work, &codex_home] {
            std::fs::create_dir_all(d)?;
        }
        Ok(AgentHome {
            home,
            work,
            codex_home,
        })
    }
}

/// How an agent reaches its API in a run.
pub struct Wiring {
    /// Where its requests go: the mock, or session-vault's proxy.
    pub base_url: String,
    /// Put this key into the agent's variable (a direct run); `None` when
    /// the launcher sets the variable (`exec --proxy` sets a stand-in).
    pub key: Option<String>,
    /// Set the base-URL variable; off when the launcher sets it.
    pub set_base_url_var: bool,
    /// A CA for the agent to trust (the mock's, in a direct TLS run).
    pub ca_file: Option<PathBuf>,
    /// Codex: use the built-in OpenAI provider (`openai_base_url` and
    /// `CODEX_API_KEY`) instead of a `model_providers` entry with `env_key`.
    pub codex_builtin_provider: bool,
}

/// Writes the agent's settings under `home` and returns its environment:
/// the minimal one every agent needs offline, plus the wiring.
pub fn prepare(
    agent: Agent,
    home: &AgentHome,
    wiring: &Wiring,
) -> std::io::Result<Vec<(String, String)>> {
    let agents_bin = agent
        .executable()
        .and_then(|e| e.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_AGENTS_BIN));
    let mut env: Vec<(String, String)> = vec![
        ("HOME".into(), home.home.display().to_string()),
        (
            "PATH".into(),
            format!("{}:/usr/local/bin:/usr/bin:/bin", agents_bin.display()),
        ),
        ("TERM".into(), "dumb".into()),
        ("LANG".into(), "C.UTF-8".into()),
    ];
    let mut set = |k: &str, v: &str| env.push((k.to_owned(), v.to_owned()));
    if let Some(ca) = &wiring.ca_file {
        // Node (Claude Code, Gemini CLI, Codex's wrapper) adds this CA to its
        // roots; Codex's Rust binary reads CODEX_CA_CERTIFICATE, then
        // SSL_CERT_FILE, and trusts only that bundle when one is set.
        set("NODE_EXTRA_CA_CERTS", &ca.display().to_string());
        if agent == Agent::Codex {
            set("CODEX_CA_CERTIFICATE", &ca.display().to_string());
        }
    }
    let base = wiring.base_url.trim_end_matches('/');
    match agent {
        Agent::Claude => {
            for (k, v) in [
                ("DISABLE_AUTOUPDATER", "1"),
                ("DISABLE_TELEMETRY", "1"),
                ("DISABLE_ERROR_REPORTING", "1"),
                ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
            ] {
                set(k, v);
            }
        }
        Agent::Codex => {
            set("CODEX_HOME", &home.codex_home.display().to_string());
            let config = if wiring.codex_builtin_provider {
                format!("openai_base_url = \"{base}/v1\"\n")
            } else {
                format!(
                    "model_provider = \"svtest\"\n\n[model_providers.svtest]\nname = \"svtest\"\n\
                     base_url = \"{base}/v1\"\nenv_key = \"OPENAI_API_KEY\"\nwire_api = \"responses\"\n"
                )
            };
            std::fs::write(
                home.codex_home.join("config.toml"),
                format!("model = \"gpt-5-codex\"\n{config}"),
            )?;
        }
        Agent::Gemini => {
            set("GEMINI_CLI_TRUST_WORKSPACE", "true");
            let dir = home.home.join(".gemini");
            std::fs::create_dir_all(&dir)?;
            std::fs::write(
                dir.join("settings.json"),
                r#"{
  "security": {"auth": {"selectedType": "gemini-api-key"}},
  "general": {"disableAutoUpdate": true, "disableUpdateNag": true},
  "privacy": {"usageStatisticsEnabled": false}
}
"#,
            )?;
        }
    }
    if let Some(key) = &wiring.key {
        let var = match agent {
            Agent::Codex if wiring.codex_builtin_provider => "CODEX_API_KEY",
            _ => agent.key_var(),
        };
        set(var, key);
    }
    if wiring.set_base_url_var {
        if let Some(var) = agent.base_url_var() {
            set(var, base);
        }
    }
    Ok(env)
}

/// One command to run with a private environment.
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
}

impl Launch {
    /// The agent itself, one prompt.
    pub fn agent(
        agent: Agent,
        exe: &Path,
        home: &AgentHome,
        env: Vec<(String, String)>,
        prompt: &str,
    ) -> Launch {
        Launch {
            program: exe.to_path_buf(),
            args: agent
                .prompt_args(prompt)
                .into_iter()
                .map(Into::into)
                .collect(),
            env,
            cwd: home.work.clone(),
        }
    }

    /// The same command started by a launcher, e.g. `session-vault exec
    /// --proxy --tool claude --`.
    pub fn wrapped(self, launcher: &Path, launcher_args: &[&str]) -> Launch {
        let mut args: Vec<OsString> = launcher_args.iter().map(Into::into).collect();
        args.push(self.program.into_os_string());
        args.extend(self.args);
        Launch {
            program: launcher.to_path_buf(),
            args,
            env: self.env,
            cwd: self.cwd,
        }
    }
}

/// A process of the tree that held the key, and where.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Holder {
    pub pid: i32,
    /// The start of its command line, for the failure message.
    pub command: String,
    /// `environ` or `cmdline`.
    pub place: &'static str,
}

/// What sampling the agent's process tree saw.
#[derive(Debug, Default)]
pub struct TreeReport {
    /// Every process seen in the tree, with its command line's start.
    pub processes: BTreeMap<i32, String>,
    pub samples: usize,
    /// Samples taken while the mock held a request open.
    pub samples_while_holding: usize,
    pub holders: BTreeSet<Holder>,
}

/// How a run ended and what it printed.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code (`None`: killed by a signal, or by the timeout).
    pub code: Option<i32>,
    pub timed_out: bool,
    pub elapsed: Duration,
    pub stdout: String,
    pub stderr: String,
    pub tree: TreeReport,
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// The run described for an assertion's message.
    pub fn describe(&self) -> String {
        format!(
            "exit {:?}{} after {:.1}s\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            if self.timed_out { " (timed out)" } else { "" },
            self.elapsed.as_secs_f64(),
            self.stdout,
            tail(&self.stderr, 4000)
        )
    }
}

fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Runs `launch` in its own process group with stdin from /dev/null; every
/// 20 ms reads `environ` and `cmdline` of each process in its tree and notes
/// those holding `needle`; counts the samples taken while `holding_marker`
/// exists. At `timeout` kills the whole group; after a normal exit kills
/// whatever of the group is left.
pub fn run(
    launch: &Launch,
    timeout: Duration,
    needle: &[u8],
    holding_marker: Option<&Path>,
) -> std::io::Result<Outcome> {
    let mut cmd = Command::new(&launch.program);
    cmd.args(&launch.args)
        .env_clear()
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&launch.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let start = Instant::now();
    let mut child = cmd.spawn()?;
    let pid = child.id() as i32;
    let stdout = child.stdout.take().map(reader_thread);
    let stderr = child.stderr.take().map(reader_thread);
    let mut tree = TreeReport::default();
    let mut timed_out = false;
    loop {
        if exited_unreaped(pid) {
            break;
        }
        if start.elapsed() > timeout {
            timed_out = true;
            break;
        }
        let holding = holding_marker.is_some_and(Path::exists);
        sample_tree(pid, needle, holding, &mut tree);
        std::thread::sleep(Duration::from_millis(20));
    }
    // The leader is not reaped yet, so its pid still names this group.
    // SAFETY: kill(2) with a negative pid signals that process group only.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    let status = child.wait()?;
    let elapsed = start.elapsed();
    let join = |h: Option<std::thread::JoinHandle<String>>| {
        h.and_then(|h| h.join().ok()).unwrap_or_default()
    };
    Ok(Outcome {
        code: if timed_out { None } else { status.code() },
        timed_out,
        elapsed,
        stdout: join(stdout),
        stderr: join(stderr),
        tree,
    })
}

fn reader_thread(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Whether `pid` (our child) has exited, without reaping it.
fn exited_unreaped(pid: i32) -> bool {
    // SAFETY: siginfo_t is plain data; waitid writes it for our own child.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // An error (no such child) counts as exited. SAFETY: si_pid is set by
    // waitid when a child changed state, and stays 0 otherwise.
    r != 0 || unsafe { info.si_pid() } == pid
}

/// Parent and process group of every process, from `/proc/PID/stat`.
fn process_table() -> Vec<(i32, i32, i32)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let pid: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name may hold spaces and parentheses: fields after
        // the last ')' are state, ppid, pgrp.
        let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace();
        let _state = rest.next()?;
        let ppid = rest.next()?.parse().ok()?;
        let pgrp = rest.next()?.parse().ok()?;
        Some((pid, ppid, pgrp))
    })
    .collect()
}

/// `root`, its descendants, and the rest of its process group.
pub fn process_tree(root: i32) -> BTreeSet<i32> {
    let table = process_table();
    let mut tree: BTreeSet<i32> = BTreeSet::from([root]);
    tree.extend(table.iter().filter(|t| t.2 == root).map(|t| t.0));
    loop {
        let before = tree.len();
        let children: Vec<i32> = table
            .iter()
            .filter(|t| tree.contains(&t.1))
            .map(|t| t.0)
            .collect();
        tree.extend(children);
        if tree.len() == before {
            return tree;
        }
    }
}

fn sample_tree(root: i32, needle: &[u8], holding: bool, report: &mut TreeReport) {
    report.samples += 1;
    if holding {
        report.samples_while_holding += 1;
    }
    for pid in process_tree(root) {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let command: String = String::from_utf8_lossy(&cmdline)
            .replace('\0', " ")
            .chars()
            .take(120)
            .collect();
        report
            .processes
            .entry(pid)
            .or_insert_with(|| command.clone());
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        for (place, bytes) in [("environ", &environ), ("cmdline", &cmdline)] {
            if !needle.is_empty() && contains(bytes, needle) {
                report.holders.insert(Holder {
                    pid,
                    command: command.clone(),
                    place,
                });
            }
        }
    }
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Files under `root` (symlinks not followed) whose bytes contain `needle`.
pub fn files_containing(root: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                if let Ok(bytes) = std::fs::read(&path) {
                    if contains(&bytes, needle) {
                        found.push(path);
                    }
                }
            }
        }
    }
    found.sort();
    found
}

/// Where a key was found: processes of the agent's tree and files it wrote.
#[derive(Debug)]
pub struct Exposure {
    pub processes: Vec<Holder>,
    pub files: Vec<PathBuf>,
}

impl Exposure {
    /// Looks for `key` in what `outcome` sampled and in files under `roots`.
    pub fn of(key: &str, outcome: &Outcome, roots: &[&Path]) -> Exposure {
        Exposure {
            processes: outcome.tree.holders.iter().cloned().collect(),
            files: roots
                .iter()
                .flat_map(|r| files_containing(r, key.as_bytes()))
                .collect(),
        }
    }

    pub fn is_none(&self) -> bool {
        self.processes.is_empty() && self.files.is_empty()
    }

    /// For a run through the proxy: the key must be nowhere.
    #[track_caller]
    pub fn assert_none(&self, outcome: &Outcome) {
        assert!(
            self.is_none(),
            "the real key reached the agent: processes {:?}, files {:?}\n(tree seen: {:?}, {} samples, {} while a request was held)",
            self.processes,
            self.files,
            outcome.tree.processes,
            outcome.tree.samples,
            outcome.tree.samples_while_holding,
        );
        assert!(
            outcome.tree.samples_while_holding > 0,
            "no sample of the agent's processes was taken while the mock held a request open: the check proved nothing"
        );
    }
}
