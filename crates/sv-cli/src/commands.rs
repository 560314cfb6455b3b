//! One function per command.

use crate::cli::{
    AddArgs, Command, DaemonAction, EnvArgs, ExecArgs, GetArgs, ListArgs, RemoveArgs,
};
use crate::client::{self, Client};
use crate::error::{CliError, Result};
use crate::input::SecretInput;
use std::io::Write;
use std::path::{Path, PathBuf};
use sv_core::paths::VaultPaths;
use sv_core::protocol::{self as p, method};
use sv_core::quote::{render_env, EnvFormat};
use sv_core::ttl::format_remaining;
use sv_core::{SecretString, ToolTable};

pub fn run(cmd: Command) -> Result<u8> {
    let paths = client::paths()?;
    match cmd {
        Command::Daemon { action } => daemon(&paths, action),
        Command::Unlock => unlock(&paths),
        Command::Lock => {
            let mut c = client::connect_or_start(&paths)?;
            c.call::<_, p::Empty>(method::LOCK, p::Empty {})?;
            println!("Vault locked.");
            Ok(0)
        }
        Command::Add(a) => add(&paths, a),
        Command::Env(a) => env(&paths, a),
        Command::Get(a) => get(&paths, a),
        Command::Exec(a) => exec(&paths, a),
        Command::List(a) => list(&paths, a),
        Command::Remove(a) => remove(&paths, a),
        Command::Init(a) => crate::shell::init(a),
        Command::Install(a) => crate::shell::install(a),
        Command::Uninstall(a) => crate::shell::uninstall(a),
        Command::Completions(a) => crate::shell::completions(a),
        Command::Man(a) => crate::shell::man(a),
        Command::Integrate(a) => crate::integrate::integrate(a),
        Command::Doctor(a) => crate::doctor_cmd::run(&paths, a),
        Command::Log(a) => crate::audit_log::run(&paths, a),
        Command::Rekey(a) => crate::rekey::run(&paths, a),
    }
}

/// Writes a command's result to stdout (the only thing stdout carries).
pub(crate) fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut o = std::io::stdout().lock();
    o.write_all(bytes)
        .and_then(|_| o.flush())
        .map_err(|e| CliError::Failed(format!("cannot write to stdout: {e}")))
}

fn out(text: &str) -> Result<()> {
    write_stdout(text.as_bytes())
}

fn tools(paths: &VaultPaths) -> Result<ToolTable> {
    let path = paths.config_file();
    match std::fs::read_to_string(&path) {
        Ok(t) => ToolTable::with_config(&t)
            .map_err(|e| CliError::Usage(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ToolTable::builtin()),
        Err(e) => Err(CliError::Failed(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

fn tool_vars(table: &ToolTable, tool: &str) -> Result<Vec<String>> {
    table.vars(tool).map(|v| v.to_vec()).ok_or_else(|| {
        CliError::Usage(format!(
            "unknown tool `{tool}`; known tools: {} (add others under [tools] in config.toml)",
            table.names().collect::<Vec<_>>().join(", ")
        ))
    })
}

/// Canonical project directory (symlinks resolved); must exist.
fn project_dir(p: &Path) -> Result<PathBuf> {
    let c = std::fs::canonicalize(p).map_err(|e| {
        CliError::Usage(format!(
            "the project directory {} cannot be used ({e}); give an existing directory",
            p.display()
        ))
    })?;
    if !c.is_dir() {
        return Err(CliError::Usage(format!(
            "{} is not a directory; give the project's directory",
            p.display()
        )));
    }
    Ok(c)
}

fn daemon(paths: &VaultPaths, action: DaemonAction) -> Result<u8> {
    match action {
        DaemonAction::Start {
            foreground,
            backend,
        } => {
            if let Some(mut c) = client::connect_existing(paths)? {
                let st: p::StatusResult = c.call(method::STATUS, p::Empty {})?;
                println!(
                    "The daemon is already running (pid {}, backend {}).",
                    st.pid, st.backend
                );
                return Ok(0);
            }
            if foreground {
                return Err(client::exec_daemon_foreground(backend.as_deref()));
            }
            client::start_daemon(paths, backend.as_deref())?;
            let mut c = client::connect_or_start(paths)?;
            let st: p::StatusResult = c.call(method::STATUS, p::Empty {})?;
            println!("Daemon started (pid {}, backend {}).", st.pid, st.backend);
            if st.locked {
                println!("The vault is locked: run `session-vault unlock`.");
            }
            Ok(0)
        }
        DaemonAction::Stop => {
            let Some(mut c) = client::connect_existing(paths)? else {
                println!("The daemon is not running.");
                return Ok(0);
            };
            c.call::<_, p::Empty>(method::SHUTDOWN, p::Empty {})?;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
            while paths.socket.exists() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            if paths.socket.exists() {
                return Err(CliError::Failed(
                    "the daemon did not stop within 15 s; check `session-vault daemon status --verbose` and kill its pid".into(),
                ));
            }
            // The daemon holds its lock until the process ends (after the
            // final checkpoint): wait for that too, so `stop; start` works.
            while std::time::Instant::now() < deadline {
                match std::fs::File::open(paths.lock_file()).map(|f| f.try_lock()) {
                    Ok(Err(std::fs::TryLockError::WouldBlock)) => {
                        std::thread::sleep(std::time::Duration::from_millis(20))
                    }
                    _ => break,
                }
            }
            println!("Daemon stopped.");
            Ok(0)
        }
        DaemonAction::Status { json, verbose } => {
            let Some(mut c) = client::connect_existing(paths)? else {
                return Err(CliError::Unavailable(format!(
                    "the daemon is not running (no answer on {}); start it with `session-vault daemon start`",
                    paths.socket.display()
                )));
            };
            let st: p::StatusResult = c.call(method::STATUS, p::Empty {})?;
            if json {
                out(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&st).unwrap_or_default()
                ))?;
                return Ok(0);
            }
            let mut s = String::new();
            s += &format!("Version:          {}\n", st.version);
            s += &format!(
                "Uptime:           {}\n",
                format_remaining(Some(st.uptime_secs))
            );
            s += &format!("Sessions stored:  {}\n", st.sessions);
            s += &format!("Hardware backend: {}\n", st.backend);
            s += &crate::audit_log::lock_lines(&st);
            if let Some(note) = &st.backend_note {
                s += &format!("Backend warning:  {note}\n");
            }
            if verbose {
                s += &format!("Pid:              {}\n", st.pid);
                s += &format!("Vault:            {}\n", st.vault);
                s += &format!("Socket:           {}\n", st.socket);
                s += &format!(
                    "Initialized:      {}\n",
                    if st.initialized {
                        "yes"
                    } else {
                        "no (first unlock creates it)"
                    }
                );
                s += &crate::audit_log::hygiene_lines(&st);
                s += &format!(
                    "Key wrappings:    {}\n",
                    if st.wrappings.is_empty() {
                        "none yet".to_owned()
                    } else {
                        st.wrappings.join(", ")
                    }
                );
                s += "Backends (auto order):\n";
                for b in &st.backends {
                    let what = if b.name == st.backend {
                        "in use".to_owned()
                    } else if b.available {
                        "available".to_owned()
                    } else {
                        format!("skipped: {}", b.reason.as_deref().unwrap_or("unavailable"))
                    };
                    s += &format!("  {:<11} {what}\n", b.name);
                }
            }
            out(&s)?;
            Ok(0)
        }
        DaemonAction::InstallService => crate::service::install(paths),
        DaemonAction::UninstallService => crate::service::uninstall(),
    }
}

fn unlock(paths: &VaultPaths) -> Result<u8> {
    let mut c = client::connect_or_start(paths)?;
    let st: p::StatusResult = c.call(method::STATUS, p::Empty {})?;
    if !st.locked {
        println!("The vault is already unlocked.");
        return Ok(0);
    }
    let mut input = SecretInput::new();
    let passphrase = if st.backend != "passphrase" {
        SecretString::default()
    } else if !st.initialized {
        if input.is_terminal() {
            eprintln!(
                "No vault yet: choose a passphrase to create one at {}.",
                st.vault
            );
            let a = input.read("New vault passphrase: ")?;
            let b = input.read("Repeat the passphrase: ")?;
            if a != b {
                return Err(CliError::Usage("the two passphrases differ; nothing was created, run `session-vault unlock` again".into()));
            }
            a
        } else {
            input.read("")?
        }
    } else {
        input.read("Vault passphrase: ")?
    };
    if st.backend == "passphrase" && passphrase.is_empty() {
        return Err(CliError::Usage(
            "the passphrase is empty; nothing was changed".into(),
        ));
    }
    c.call::<_, p::Empty>(method::UNLOCK, p::UnlockParams { passphrase })?;
    println!(
        "{}",
        if st.initialized {
            "Vault unlocked."
        } else {
            "Vault created and unlocked."
        }
    );
    Ok(0)
}

fn add(paths: &VaultPaths, a: AddArgs) -> Result<u8> {
    let table = tools(paths)?;
    let vars = tool_vars(&table, &a.tool)?;
    let project = a.project.as_deref().map(project_dir).transpose()?;
    // Reach the daemon before asking for the secret, so a locked vault or a
    // missing daemon does not cost the user a paste.
    let mut c = client::connect_or_start(paths)?;
    let st: p::StatusResult = c.call(method::STATUS, p::Empty {})?;
    if st.locked {
        return Err(CliError::Unavailable(
            "the vault is locked; run `session-vault unlock` first".into(),
        ));
    }
    let mut input = SecretInput::new();
    let mut values = Vec::with_capacity(vars.len());
    for var in &vars {
        let value = input.read(&format!("Enter {var} (input hidden): "))?;
        if value.is_empty() {
            return Err(CliError::Usage(format!(
                "the value of {var} is empty; nothing was stored"
            )));
        }
        if value.expose().contains('\0') {
            return Err(CliError::Usage(format!(
                "the value of {var} contains a NUL byte; nothing was stored"
            )));
        }
        values.push(p::VarValue {
            name: var.clone(),
            value,
        });
    }
    let r: p::AddResult = c.call(
        method::ADD,
        p::AddParams {
            tool: a.tool,
            project: project.map(|p| p.to_string_lossy().into_owned()),
            label: a.label,
            ttl: a.ttl,
            max_age: a.max_age,
            values,
        },
    )?;
    println!("Stored session {}", r.id);
    Ok(0)
}

/// Fetches the credential of each tool for this directory.
fn fetch(paths: &VaultPaths, tools_wanted: &[String]) -> Result<Vec<p::GetResult>> {
    let table = tools(paths)?;
    let expected = tools_wanted
        .iter()
        .map(|t| tool_vars(&table, t))
        .collect::<Result<Vec<_>>>()?;
    let mut c: Client = client::connect_or_start(paths)?;
    let cwd = std::env::current_dir()
        .ok()
        .map(|d| d.to_string_lossy().into_owned());
    let mut results = Vec::with_capacity(tools_wanted.len());
    for (t, vars) in tools_wanted.iter().zip(expected) {
        let r: p::GetResult = c.call(
            method::GET,
            p::GetParams {
                tool: t.clone(),
                cwd: cwd.clone(),
            },
        )?;
        // Only the variables this tool is known to set go into a shell or
        // an environment: a reply naming anything else (LD_PRELOAD, or
        // shell code) is refused.
        let names: Vec<&str> = r.values.iter().map(|v| v.name.as_str()).collect();
        if names != vars.iter().map(String::as_str).collect::<Vec<_>>() {
            return Err(CliError::Failed(format!(
                "the daemon answered for tool `{t}` with variables other than {}; check config.toml matches the daemon's (restart it with `session-vault daemon stop`)",
                vars.join(", ")
            )));
        }
        results.push(r);
    }
    Ok(results)
}

fn env(paths: &VaultPaths, a: EnvArgs) -> Result<u8> {
    if a.unset {
        return env_unset(paths, &a);
    }
    let results = fetch(paths, &a.tool)?;
    let pairs: Vec<(&str, &SecretString)> = results
        .iter()
        .flat_map(|r| r.values.iter().map(|v| (v.name.as_str(), &v.value)))
        .collect();
    let format = EnvFormat::from(a.format);
    out(&render_env(format, &pairs))?;
    Ok(0)
}

/// `env --unset`: the code that removes the tools' variables. Reads only the
/// tool table, never the daemon, so it works while the vault is locked.
fn env_unset(paths: &VaultPaths, a: &EnvArgs) -> Result<u8> {
    let table = tools(paths)?;
    let mut names = Vec::new();
    for t in &a.tool {
        names.extend(tool_vars(&table, t)?);
    }
    let format = EnvFormat::from(a.format);
    out(&crate::shell::render_unset(format, &names))?;
    Ok(0)
}

fn get(paths: &VaultPaths, a: GetArgs) -> Result<u8> {
    let results = fetch(paths, std::slice::from_ref(&a.tool))?;
    let values = &results[0].values;
    let value = match (&a.var, values.len()) {
        (None, 1) => &values[0].value,
        (None, _) => {
            return Err(CliError::Usage(format!(
                "tool `{}` has several variables ({}); pick one with --var",
                a.tool,
                values
                    .iter()
                    .map(|v| v.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
        (Some(name), _) => {
            &values
                .iter()
                .find(|v| &v.name == name)
                .ok_or_else(|| {
                    CliError::Usage(format!("tool `{}` has no variable {name}", a.tool))
                })?
                .value
        }
    };
    let mut line = zeroize::Zeroizing::new(String::with_capacity(value.len() + 1));
    line.push_str(value.expose());
    line.push('\n');
    out(&line)?;
    Ok(0)
}

fn exec(paths: &VaultPaths, a: ExecArgs) -> Result<u8> {
    let results = fetch(paths, &a.tool)?;
    let (prog, args) = a
        .command
        .split_first()
        .ok_or_else(|| CliError::Usage("give the command to run after `--`".into()))?;
    let mut cmd = std::process::Command::new(prog);
    cmd.args(args);
    for r in &results {
        for v in &r.values {
            cmd.env(&v.name, v.value.expose());
        }
    }
    // exec replaces this process: stdio, signals and the exit status are the
    // command's own, and the credentials exist only in its environment.
    // (Windows has no exec: the command runs as a child and its exit code
    // becomes ours; see crate::platform.)
    let err = crate::platform::exec(&mut cmd);
    Err(CliError::Failed(format!(
        "cannot run `{}`: {err}; check the command name and your PATH",
        prog.to_string_lossy()
    )))
}

/// A project to filter or remove by: canonical when it still exists (a
/// deleted project's sessions can still be removed by the path as given).
fn project_filter(p: &Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| std::path::absolute(p).unwrap_or_else(|_| p.to_owned()))
        .to_string_lossy()
        .into_owned()
}

fn list(paths: &VaultPaths, a: ListArgs) -> Result<u8> {
    let project = a.project.as_deref().map(project_filter);
    let mut c = client::connect_or_start(paths)?;
    let params = p::ListParams {
        tool: a.tool,
        project,
        // The table needs five columns: ask for just those.
        brief: !a.json,
    };
    let text = c.call_with(method::LIST, params, |line| {
        if a.json {
            let r: p::ListResult<p::ListRow<'_>> = client::read_response(line)?;
            let infos: Vec<p::SessionInfo> = r.sessions.iter().map(p::ListRow::to_info).collect();
            let mut text = serde_json::to_string_pretty(&infos).unwrap_or_default();
            text.push('\n');
            return Ok(text);
        }
        let r: p::ListResult<p::BriefRow<'_>> = client::read_response(line)?;
        let expires: Vec<String> = r
            .sessions
            .iter()
            .map(|s| format_remaining(s.4.map(|t| (t - r.now).max(0) as u64)))
            .collect();
        let rows: Vec<[&str; 5]> = r
            .sessions
            .iter()
            .zip(&expires)
            .map(|(s, e)| [&*s.0, &*s.1, &*s.2, &*s.3, e.as_str()])
            .collect();
        Ok(render_table(
            ["ID", "TOOL", "FINGERPRINT", "PROJECT", "EXPIRES IN"],
            &rows,
        ))
    })?;
    out(&text)?;
    Ok(0)
}

/// Columns padded to their widest cell (in characters), two spaces apart;
/// the last column unpadded.
fn render_table(head: [&str; 5], rows: &[[&str; 5]]) -> String {
    let width = |c: &str| {
        if c.is_ascii() {
            c.len()
        } else {
            c.chars().count()
        }
    };
    let mut w: [usize; 5] = head.map(width);
    let mut total = 0;
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(width(c));
        }
        total += r[4].len() + 1;
    }
    let line_len: usize = w[..4].iter().map(|n| n + 2).sum();
    let mut s = String::with_capacity((rows.len() + 1) * line_len + total + 64);
    let mut line = |cells: &[&str; 5]| {
        for (i, c) in cells.iter().enumerate() {
            s.push_str(c);
            if i < 4 {
                for _ in width(c)..w[i] + 2 {
                    s.push(' ');
                }
            }
        }
        s.push('\n');
    };
    line(&head);
    for r in rows {
        line(r);
    }
    s
}

fn remove(paths: &VaultPaths, a: RemoveArgs) -> Result<u8> {
    // A session id is a UUID: check its shape before asking the daemon, so a
    // typo is a usage error (2), and an id that matches nothing is 3.
    if let Some(id) = &a.id {
        let shape = id.len() <= 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        if !shape {
            return Err(CliError::Usage(
                "a session id is a UUID (hex digits and dashes), or its first 4 or more characters; `session-vault list` shows them".into(),
            ));
        }
        if id.len() < 4 {
            return Err(CliError::Usage(
                "give at least 4 characters of the session id (see `session-vault list`)".into(),
            ));
        }
    }
    let what = match (&a.id, &a.tool, &a.project) {
        (Some(id), _, _) => format!("the id {id}"),
        (_, Some(t), _) => format!("the tool {t}"),
        (_, _, Some(p)) => format!("the project {}", p.display()),
        _ => "that".to_owned(),
    };
    let project = a.project.as_deref().map(project_filter);
    let mut c = client::connect_or_start(paths)?;
    let r: p::RemoveResult = c.call(
        method::REMOVE,
        p::RemoveParams {
            id: a.id,
            tool: a.tool,
            project,
        },
    )?;
    if r.removed == 0 {
        return Err(CliError::NoCredential(format!(
            "no session matches {what}; nothing was removed (`session-vault list` shows the sessions)"
        )));
    }
    println!(
        "Removed {} session{}.",
        r.removed,
        if r.removed == 1 { "" } else { "s" }
    );
    Ok(0)
}
