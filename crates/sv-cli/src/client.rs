//! A blocking JSON-RPC client for the daemon's socket (named pipe on
//! Windows: [`crate::platform`]), and the on-demand start of the daemon (as
//! gpg-agent is started by gpg).

use crate::error::{CliError, ConnectError, Result};
use crate::platform;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use sv_core::paths::VaultPaths;
use sv_core::protocol::Request;
use zeroize::Zeroizing;

/// Largest response the client accepts (a `list` of many sessions is big).
const MAX_RESPONSE: u64 = 512 * 1024 * 1024;

/// How long the CLI waits for the daemon's answer before giving up with
/// exit 4 (a stopped or wedged daemon must not hang an agent's key lookup
/// forever). Generous, because the first `unlock` runs Argon2id on a busy
/// machine; `SESSION_VAULT_TIMEOUT` (seconds) overrides it.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// [`READ_TIMEOUT`], or `SESSION_VAULT_TIMEOUT` when set to a positive number.
fn read_timeout() -> Duration {
    std::env::var("SESSION_VAULT_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 86_400.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(READ_TIMEOUT)
}

pub struct Client {
    reader: BufReader<platform::Conn>,
    next_id: u64,
}

impl Client {
    /// Connects to this user's daemon, after checking that the runtime
    /// directory is the user's own and closed to others, and that the process
    /// listening runs as the user (`SO_PEERCRED`): a socket planted by
    /// another user never sees a request. (Windows: the pipe's server
    /// process runs as the user.)
    pub fn connect(paths: &VaultPaths) -> std::result::Result<Client, ConnectError> {
        let conn = platform::connect(paths, read_timeout())?;
        Ok(Client {
            reader: BufReader::new(conn),
            next_id: 1,
        })
    }

    /// Sends one request and waits for its response.
    pub fn call<P: Serialize, R: DeserializeOwned>(
        &mut self,
        method: &str,
        params: P,
    ) -> Result<R> {
        self.call_with(method, params, |line| read_response(line))
    }

    /// Sends one request and hands the response line to `parse`, which
    /// reads it with [`read_response`] (and may borrow from it).
    pub fn call_with<P: Serialize, T>(
        &mut self,
        method: &str,
        params: P,
        parse: impl FnOnce(&[u8]) -> Result<T>,
    ) -> Result<T> {
        let id = self.next_id;
        self.next_id += 1;
        let mut line = Zeroizing::new(
            serde_json::to_vec(&Request::new(id, method, params))
                .map_err(|e| CliError::Failed(format!("cannot encode the request: {e}")))?,
        );
        line.push(b'\n');
        let lost = |e: std::io::Error| {
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
                return CliError::Unavailable(format!(
                    "the daemon did not answer within {} s (stopped or overloaded?); check `session-vault daemon status`, or restart it with `session-vault daemon stop`",
                    read_timeout().as_secs_f64()
                ));
            }
            CliError::Unavailable(format!(
                "lost the connection to the daemon ({e}); check `session-vault daemon status`"
            ))
        };
        // A daemon that refuses us (another uid) answers before it reads and
        // closes: after a failed write, still read what it said.
        let written = self.reader.get_mut().write_all(&line);
        let mut buf = Zeroizing::new(Vec::new());
        let read = (&mut self.reader)
            .take(MAX_RESPONSE)
            .read_until(b'\n', &mut buf);
        match (written, read) {
            (_, Ok(_)) if !buf.is_empty() => {}
            (Err(e), _) | (Ok(()), Err(e)) => return Err(lost(e)),
            (Ok(()), Ok(_)) => {}
        }
        if buf.is_empty() {
            return Err(CliError::Unavailable(
                "the daemon closed the connection without answering; check `session-vault daemon status`".into(),
            ));
        }
        parse(&buf)
    }
}

/// A response line with its result read as `R` in the same pass (a list of
/// 100 000 sessions is 13 MB: reading it twice showed).
#[derive(serde::Deserialize)]
struct Envelope<R> {
    // A missing Option field reads as None.
    result: Option<R>,
    #[serde(default)]
    error: Option<sv_core::protocol::RpcError>,
}

/// The result of a response line, or the daemon's error as a [`CliError`].
pub fn read_response<'a, R: serde::Deserialize<'a>>(line: &'a [u8]) -> Result<R> {
    let env: Envelope<R> = serde_json::from_slice(line).map_err(|e| {
        CliError::Failed(match e.classify() {
            serde_json::error::Category::Data => format!(
                "unexpected response from the daemon ({e}); are the CLI and daemon the same version?"
            ),
            _ => "the daemon sent a malformed response; restart it with `session-vault daemon stop`"
                .into(),
        })
    })?;
    if let Some(err) = env.error {
        return Err(CliError::from(err));
    }
    env.result
        .ok_or_else(|| CliError::Failed("the daemon sent an empty response".into()))
}

/// Resolves this user's paths.
pub fn paths() -> Result<VaultPaths> {
    let uid = platform::current_uid();
    VaultPaths::resolve(|k| std::env::var_os(k), uid).map_err(|e| CliError::Failed(e.to_string()))
}

fn not_running_error(socket: &Path) -> CliError {
    CliError::Unavailable(format!(
        "the session-vault daemon is not running (no answer on {}); start it with `session-vault daemon start`",
        socket.display()
    ))
}

/// Connects, starting the daemon first unless `SESSION_VAULT_NO_AUTOSTART=1`.
pub fn connect_or_start(paths: &VaultPaths) -> Result<Client> {
    match Client::connect(paths) {
        Ok(c) => Ok(c),
        Err(ConnectError::Untrusted(m)) => Err(CliError::Unavailable(m)),
        Err(ConnectError::Other(e)) => Err(CliError::Unavailable(format!(
            "cannot reach the daemon at {}: {e}",
            paths.socket.display()
        ))),
        Err(ConnectError::NotRunning) => {
            if std::env::var("SESSION_VAULT_NO_AUTOSTART").is_ok_and(|v| v == "1") {
                return Err(not_running_error(&paths.socket));
            }
            start_daemon(paths, None)?;
            match Client::connect(paths) {
                Ok(c) => Ok(c),
                Err(ConnectError::Untrusted(m)) => Err(CliError::Unavailable(m)),
                Err(_) => Err(not_running_error(&paths.socket)),
            }
        }
    }
}

/// Connects without starting anything.
pub fn connect_existing(paths: &VaultPaths) -> Result<Option<Client>> {
    match Client::connect(paths) {
        Ok(c) => Ok(Some(c)),
        Err(ConnectError::NotRunning) => Ok(None),
        Err(ConnectError::Untrusted(m)) => Err(CliError::Unavailable(m)),
        Err(ConnectError::Other(e)) => Err(CliError::Unavailable(format!(
            "cannot reach the daemon at {}: {e}",
            paths.socket.display()
        ))),
    }
}

/// `sv-daemon` beside this binary, else on PATH.
pub fn daemon_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| {
            p.parent()
                .map(|d| d.join(format!("sv-daemon{}", std::env::consts::EXE_SUFFIX)))
        })
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("sv-daemon"))
}

fn daemon_command(backend: Option<&str>) -> Command {
    let mut cmd = Command::new(daemon_binary());
    if let Some(b) = backend {
        cmd.arg("--backend").arg(b);
    }
    cmd.env_clear();
    for k in sv_core::paths::DAEMON_ENV {
        if let Some(v) = std::env::var_os(k) {
            cmd.env(k, v);
        }
    }
    cmd
}

/// Replaces this process with the daemon (for `daemon start --foreground`).
pub fn exec_daemon_foreground(backend: Option<&str>) -> CliError {
    // Under a service manager the daemon reports readiness and logs to the
    // journal itself (NOTIFY_SOCKET, JOURNAL_STREAM are in the allow-list).
    let err = platform::exec(&mut daemon_command(backend));
    CliError::Failed(format!(
        "cannot run {}: {err}; reinstall session-vault so sv-daemon sits beside it",
        daemon_binary().display()
    ))
}

/// Starts the daemon detached and waits until its socket answers.
pub fn start_daemon(paths: &VaultPaths, backend: Option<&str>) -> Result<()> {
    sv_fs::private::create_dir_all(&paths.data_dir).map_err(|e| {
        CliError::Failed(format!("cannot create {}: {e}", paths.data_dir.display()))
    })?;
    let log_path = paths.data_dir.join("sv-daemon.log");
    if std::fs::metadata(&log_path).is_ok_and(|m| m.len() > 1024 * 1024) {
        let _ = std::fs::remove_file(&log_path);
    }
    let log = sv_fs::private::file_options()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| CliError::Failed(format!("cannot open {}: {e}", log_path.display())))?;
    let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
    let mut cmd = daemon_command(backend);
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
    // Detached from our terminal (setsid; no console on Windows).
    platform::detach(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| {
        CliError::Failed(format!(
            "cannot start {}: {e}; reinstall session-vault so sv-daemon sits beside it",
            daemon_binary().display()
        ))
    })?;
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut exited: Option<Instant> = None;
    loop {
        if let Ok(mut c) = Client::connect(paths) {
            if c.call::<_, serde_json::Value>("status", serde_json::json!({}))
                .is_ok()
            {
                return Ok(());
            }
        }
        if exited.is_none() {
            if let Ok(Some(_)) = child.try_wait() {
                // Another CLI may have started one at the same time: give
                // its socket a moment before reporting failure.
                exited = Some(Instant::now());
            }
        }
        let gave_up = exited.is_some_and(|t| t.elapsed() > Duration::from_secs(2));
        if gave_up || Instant::now() > deadline {
            let reason = last_log_line(&log_path, log_start)
                .unwrap_or_else(|| "it did not answer in time".into());
            return Err(CliError::Unavailable(format!(
                "the daemon did not start: {reason} (log: {})",
                log_path.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn last_log_line(path: &Path, from: u64) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let tail = text.get(from as usize..).unwrap_or(&text);
    tail.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim_start_matches("sv-daemon: ").to_owned())
}
