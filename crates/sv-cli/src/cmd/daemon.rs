//! `session-vault daemon start|stop|status|install-service|uninstall-service`.

use crate::cli::DaemonAction;
use crate::client;
use crate::error::{CliError, Result};
use crate::output::print;
use std::time::{Duration, Instant};
use sv_core::ops::format_utc;
use sv_core::paths::VaultPaths;
use sv_core::protocol::{self as p, method};
use sv_core::ttl::format_remaining;

pub fn run(paths: &VaultPaths, action: DaemonAction) -> Result {
    match action {
        DaemonAction::Start {
            foreground,
            backend,
        } => start(paths, foreground, backend.as_deref()),
        DaemonAction::Stop => stop(paths),
        DaemonAction::Status { json, verbose } => status(paths, json, verbose),
        DaemonAction::InstallService => super::service::install(paths),
        DaemonAction::UninstallService => super::service::uninstall(),
    }
}

fn start(paths: &VaultPaths, foreground: bool, backend: Option<&str>) -> Result {
    if let Some(mut c) = client::connect_existing(paths)? {
        let st: p::StatusResult = c.call(method::STATUS, p::Empty {})?;
        println!(
            "The daemon is already running (pid {}, backend {}).",
            st.pid, st.backend
        );
        return Ok(());
    }
    if foreground {
        return Err(client::exec_daemon_foreground(backend));
    }
    client::start_daemon(paths, backend)?;
    let mut c = client::connect_or_start(paths)?;
    let st: p::StatusResult = c.call(method::STATUS, p::Empty {})?;
    println!("Daemon started (pid {}, backend {}).", st.pid, st.backend);
    if !st.initialized {
        println!("No vault exists yet: `session-vault unlock` creates it.");
    } else if st.locked {
        println!("The vault is locked: run `session-vault unlock`.");
    }
    Ok(())
}

fn stop(paths: &VaultPaths) -> Result {
    let Some(mut c) = client::connect_existing(paths)? else {
        println!("The daemon is not running.");
        return Ok(());
    };
    c.call::<_, p::Empty>(method::SHUTDOWN, p::Empty {})?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while paths.socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if paths.socket.exists() {
        return Err(CliError::Failed(
            "the daemon did not stop within 15 s; check `session-vault daemon status --verbose` and kill its pid".into(),
        ));
    }
    // The daemon holds its lock until the process ends (after the final
    // checkpoint): wait for that too, so `stop; start` works.
    while Instant::now() < deadline {
        match std::fs::File::open(paths.lock_file()).map(|f| f.try_lock()) {
            Ok(Err(std::fs::TryLockError::WouldBlock)) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => break,
        }
    }
    println!("Daemon stopped.");
    Ok(())
}

fn status(paths: &VaultPaths, json: bool, verbose: bool) -> Result {
    let Some(mut c) = client::connect_existing(paths)? else {
        return Err(CliError::Unavailable(format!(
            "the daemon is not running (no answer on {}); start it with `session-vault daemon start`",
            paths.socket.display()
        )));
    };
    let st: p::StatusResult = c.call(method::STATUS, p::Empty {})?;
    if json {
        return print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&st).unwrap_or_default()
        ));
    }
    let mut s = String::new();
    s += &format!("Version:          {}\n", st.version);
    s += &format!(
        "Uptime:           {}\n",
        format_remaining(Some(st.uptime_secs))
    );
    s += &format!("Sessions stored:  {}\n", st.sessions);
    s += &format!("Key protection:   {}\n", protection(&st.backend));
    s += &lock_lines(&st);
    s += &proxy_line(&st);
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
        s += &hygiene_lines(&st);
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
    print(&s)
}

/// A backend's status name and what kind of protection it is.
fn protection(backend: &str) -> String {
    let kind = match backend {
        "tpm2" => "hardware: the TPM",
        "libsecret" => "desktop keyring",
        "keychain" => "macOS Keychain",
        "dpapi" => "Windows DPAPI",
        "passphrase" => "software",
        _ => return backend.to_owned(),
    };
    format!("{backend} ({kind})")
}

/// `Locked: yes (since …)` (or that no vault exists yet) and, when set, the auto-lock delay.
/// `Proxy: 127.0.0.1:PORT`, or why the credential proxy is not running.
fn proxy_line(st: &p::StatusResult) -> String {
    match &st.proxy {
        Some(p::ProxyStatus {
            listen: Some(addr),
            note,
        }) => {
            let mut s = format!("Proxy:            {addr}\n");
            if let Some(n) = note {
                s += &format!("Proxy warning:    {n}\n");
            }
            s
        }
        Some(p::ProxyStatus { listen: None, note }) => format!(
            "Proxy:            not running ({})\n",
            note.as_deref().unwrap_or("see the daemon's log")
        ),
        None => "Proxy:            not running\n".to_owned(),
    }
}

fn lock_lines(st: &p::StatusResult) -> String {
    let mut s = match (st.locked, st.locked_since) {
        _ if !st.initialized => {
            "Locked:           no vault yet (`session-vault unlock` creates it)\n".to_owned()
        }
        (true, Some(t)) => format!("Locked:           yes (since {} UTC)\n", format_utc(t)),
        (true, None) => "Locked:           yes\n".to_owned(),
        (false, _) => "Locked:           no\n".to_owned(),
    };
    if let Some(secs) = st.lock_after {
        s += &format!("Auto-lock:        after {secs}s idle\n");
    }
    s
}

/// What the daemon reports of its own hardening (`status --verbose`).
fn hygiene_lines(st: &p::StatusResult) -> String {
    let Some(h) = &st.hygiene else {
        return String::new();
    };
    let yes_no = |b: Option<bool>, yes: &str, no: &str| match b {
        Some(true) => yes.to_owned(),
        Some(false) => no.to_owned(),
        None => "unknown".to_owned(),
    };
    let mut s = String::new();
    s += &format!(
        "Dumpable:         {}\n",
        yes_no(
            h.dumpable,
            "yes (WARNING: memory can be read by a debugger)",
            "no"
        )
    );
    s += &format!(
        "Core dumps:       {}\n",
        match h.core_limit {
            Some(0) => "off".to_owned(),
            Some(n) => format!("up to {n} bytes"),
            None => "unlimited".to_owned(),
        }
    );
    if let Some(kb) = h.locked_kb {
        s += &format!("Locked memory:    {kb} kB\n");
    }
    s
}
