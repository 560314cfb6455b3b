//! `session-vault daemon install-service` / `uninstall-service`: put the
//! per-user service definition of `install/` in place with the real paths
//! filled in (systemd user unit on Linux, launchd agent on macOS), and print
//! the one command that enables it. Nothing is enabled or started here: the
//! service manager is the user's to drive.
//!
//! Windows registers a logon task with `install/install.ps1` instead; the
//! unit and plist helpers are unused there.
#![cfg_attr(not(any(target_os = "linux", target_os = "macos")), allow(dead_code))]

use crate::client;
use crate::error::{CliError, Result};
use std::path::{Path, PathBuf};
use sv_core::paths::VaultPaths;

/// The systemd user unit shipped in `install/`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub const UNIT_TEMPLATE: &str = include_str!("../../../../install/session-vault.service");
/// The launchd agent shipped in `install/`.
pub const PLIST_TEMPLATE: &str = include_str!("../../../../install/com.session-vault.daemon.plist");
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub const UNIT_NAME: &str = "session-vault.service";
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub const PLIST_LABEL: &str = "com.session-vault.daemon";

/// Paths go into the unit unquoted: refuse what would need quoting.
fn plain_path(p: &Path) -> std::result::Result<&str, String> {
    let s = p
        .to_str()
        .ok_or_else(|| format!("{} is not valid UTF-8", p.display()))?;
    if !p.is_absolute()
        || s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"'\\;".contains(c))
    {
        return Err(format!(
            "{s} cannot go into a service file (it must be absolute, without spaces, quotes or backslashes); install session-vault under a plainer path"
        ));
    }
    Ok(s)
}

/// The unit with `ExecStart=` and the vault directory filled in.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub fn render_unit(daemon: &Path, data_dir: &Path) -> std::result::Result<String, String> {
    // `%` starts a systemd specifier; a literal one is `%%`.
    let esc = |p: &Path| plain_path(p).map(|s| s.replace('%', "%%"));
    let (daemon, data_dir) = (esc(daemon)?, esc(data_dir)?);
    let mut out = String::from(
        "# Written by `session-vault daemon install-service` from install/session-vault.service.\n",
    );
    for line in UNIT_TEMPLATE.lines() {
        if line.starts_with("ExecStart=") {
            out += &format!("ExecStart={daemon} --foreground");
        } else if line.starts_with("ReadWritePaths=") {
            out += &format!("ReadWritePaths={data_dir} %t");
        } else {
            out += line;
        }
        out.push('\n');
    }
    Ok(out)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The launchd agent with the daemon's path and its log file filled in.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub fn render_plist(daemon: &Path, log: &Path) -> std::result::Result<String, String> {
    let daemon = xml_escape(plain_path(daemon)?);
    let log = xml_escape(plain_path(log)?);
    Ok(PLIST_TEMPLATE
        .replace(
            "<string>/usr/local/bin/sv-daemon</string>",
            &format!("<string>{daemon}</string>"),
        )
        .replace(
            "<string>/Users/YOU/Library/Logs/session-vault-daemon.log</string>",
            &format!("<string>{log}</string>"),
        ))
}

/// The installed `sv-daemon`: beside this binary, else the first on PATH.
fn daemon_path() -> Result<PathBuf> {
    let found = Some(client::daemon_binary())
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|d| d.join("sv-daemon"))
                    .find(|p| p.is_file())
            })
        })
        .ok_or_else(|| {
            CliError::Failed(
                "cannot find sv-daemon beside session-vault or on PATH; install both with `cargo install --path crates/sv-cli`".into(),
            )
        })?;
    std::fs::canonicalize(&found)
        .map_err(|e| CliError::Failed(format!("cannot resolve {}: {e}", found.display())))
}

fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| CliError::Failed("HOME is not set; set it to your home directory".into()))
}

fn create_dir(dir: &Path, mode: u32) -> Result<()> {
    crate::platform::create_dir_all_mode(dir, mode)
        .map_err(|e| CliError::Failed(format!("cannot create {}: {e}", dir.display())))
}

/// Writes `text` to `path` through a temporary file and a rename, so a
/// crash leaves the old file or the new one, never half of one.
fn write_atomically(path: &Path, text: &str) -> Result<()> {
    crate::rcfile::write_atomic(path, text.as_bytes(), 0o644)
        .map_err(|e| CliError::Failed(format!("cannot write {}: {e}", path.display())))
}

/// Writes the file unless it already holds `text`; says which happened.
fn put(path: &Path, text: &str) -> Result<&'static str> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok("is already up to date");
    }
    let existed = path.exists();
    write_atomically(path, text)?;
    Ok(if existed { "updated" } else { "installed" })
}

/// Removes the service definition at `path` (a `kind` of file) and says so,
/// with `then`: what is left for the user to do. Nothing there is not an error.
fn remove(path: &Path, kind: &str, then: &str) -> Result {
    match std::fs::remove_file(path) {
        Ok(()) => {
            println!("Removed {}. {then}", path.display());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("No {kind} at {}; nothing to remove.", path.display());
            Ok(())
        }
        Err(e) => Err(CliError::Failed(format!(
            "cannot remove {}: {e}",
            path.display()
        ))),
    }
}

/// A daemon started on demand would hold the lock the service needs.
fn hint_if_running(paths: &VaultPaths) {
    if let Ok(Some(_)) = client::connect_existing(paths) {
        println!("A daemon is running now; stop it first (`session-vault daemon stop`) so the service can take over.");
    }
}

#[cfg(target_os = "linux")]
fn unit_dir() -> Result<PathBuf> {
    Ok(
        match std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
        {
            Some(c) => c.join("systemd/user"),
            None => home()?.join(".config/systemd/user"),
        },
    )
}

#[cfg(target_os = "linux")]
pub fn install(paths: &VaultPaths) -> Result {
    let text = render_unit(&daemon_path()?, &paths.data_dir).map_err(CliError::Failed)?;
    // ProtectSystem=strict: the vault directory must exist before start.
    create_dir(&paths.data_dir, 0o700)?;
    let dir = unit_dir()?;
    create_dir(&dir, 0o755)?;
    let unit = dir.join(UNIT_NAME);
    let what = put(&unit, &text)?;
    println!("{} {what}.", unit.display());
    hint_if_running(paths);
    println!("Enable and start it with:\n    systemctl --user enable --now {UNIT_NAME}");
    Ok(())
}

#[cfg(target_os = "linux")]
pub fn uninstall() -> Result {
    let dir = unit_dir()?;
    let unit = dir.join(UNIT_NAME);
    let wants = dir.join("default.target.wants").join(UNIT_NAME);
    if std::fs::symlink_metadata(&wants).is_ok() {
        return Err(CliError::Failed(format!(
            "{UNIT_NAME} is still enabled; run `systemctl --user disable --now {UNIT_NAME}` first, then this again"
        )));
    }
    remove(
        &unit,
        "service file",
        "Run `systemctl --user daemon-reload` to forget it.",
    )
}

#[cfg(target_os = "macos")]
fn plist_path() -> Result<PathBuf> {
    Ok(home()?
        .join("Library/LaunchAgents")
        .join(format!("{PLIST_LABEL}.plist")))
}

#[cfg(target_os = "macos")]
pub fn install(paths: &VaultPaths) -> Result {
    let log = home()?.join("Library/Logs/session-vault-daemon.log");
    let text = render_plist(&daemon_path()?, &log).map_err(CliError::Failed)?;
    let path = plist_path()?;
    if let Some(dir) = path.parent() {
        create_dir(dir, 0o755)?;
    }
    let what = put(&path, &text)?;
    println!("{} {what}.", path.display());
    hint_if_running(paths);
    println!(
        "Load and start it with:\n    launchctl bootstrap gui/$(id -u) {}",
        path.display()
    );
    Ok(())
}

#[cfg(target_os = "macos")]
pub fn uninstall() -> Result {
    let path = plist_path()?;
    remove(
        &path,
        "agent file",
        &format!("If the agent is loaded, stop it with:\n    launchctl bootout gui/$(id -u)/{PLIST_LABEL}"),
    )
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn unsupported() -> CliError {
    CliError::Failed(
        "install-service supports systemd (Linux) and launchd (macOS); on Windows run install/install.ps1".into(),
    )
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub fn install(_: &VaultPaths) -> Result {
    Err(unsupported())
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub fn uninstall() -> Result {
    Err(unsupported())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn unit_gets_real_paths_and_escapes_percent() {
        let u = render_unit(Path::new("/opt/sv 1/sv-daemon"), Path::new("/h/d"));
        assert!(u.is_err(), "spaces are refused");
        let u = render_unit(
            Path::new("/opt/100%/sv-daemon"),
            Path::new("/h/.local/share/session-vault"),
        )
        .unwrap();
        assert!(
            u.contains("\nExecStart=/opt/100%%/sv-daemon --foreground\n"),
            "{u}"
        );
        assert!(
            u.contains("\nReadWritePaths=/h/.local/share/session-vault %t\n"),
            "{u}"
        );
        assert!(u.contains("\nType=notify\n") && u.contains("\nMemoryDenyWriteExecute=yes\n"));
        assert_eq!(u.lines().filter(|l| l.starts_with("ExecStart=")).count(), 1);
        assert!(render_unit(Path::new("relative/sv-daemon"), Path::new("/d")).is_err());
    }

    #[test]
    fn plist_gets_real_paths_and_parses() {
        let p = render_plist(
            Path::new("/Users/a&b/.cargo/bin/sv-daemon"),
            Path::new("/Users/a&b/Library/Logs/x.log"),
        )
        .unwrap();
        assert!(
            p.contains("<string>/Users/a&amp;b/.cargo/bin/sv-daemon</string>"),
            "{p}"
        );
        assert!(
            !p.contains("/usr/local/bin/sv-daemon")
                && !p.contains("/Users/YOU/Library/Logs/session-vault-daemon.log")
        );
        // plistlib is Python's own property-list reader.
        let mut child = std::process::Command::new("python3")
            .args(["-c", "import plistlib,sys,json; d=plistlib.loads(sys.stdin.buffer.read()); print(json.dumps(d['ProgramArguments']))"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 is needed to check the plist");
        child.stdin.take().unwrap().write_all(p.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            r#"["/Users/a&b/.cargo/bin/sv-daemon", "--foreground"]"#
        );
    }
}
