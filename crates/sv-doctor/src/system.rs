//! Checks 1 to 3: the daemon answers, the key backend is hardware-backed,
//! and the vault's files and socket are private to their owner.

use crate::{Check, Status};
use sv_core::paths::VaultPaths;
use sv_core::protocol::StatusResult;

/// What the CLI learned from the daemon.
// One value per doctor run: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
pub enum DaemonState {
    /// Nothing listens on the socket.
    NotRunning,
    /// It listens but did not answer `status` (the message says why).
    Unreachable(String),
    Running(StatusResult),
}

/// Check 1: the daemon is reachable.
pub fn daemon_check(state: &DaemonState, paths: &VaultPaths) -> Check {
    let title = "Daemon reachable";
    match state {
        DaemonState::NotRunning => Check::new(
            "daemon",
            title,
            Status::Warn,
            format!("no daemon answers on {}", paths.socket.display()),
        )
        .with_fix("start it with `session-vault daemon start` (or enable the systemd user unit)"),
        DaemonState::Unreachable(why) => Check::new(
            "daemon",
            title,
            Status::Fail,
            format!("the daemon did not answer: {why}"),
        )
        .with_fix("restart it: `session-vault daemon stop && session-vault daemon start`"),
        DaemonState::Running(st) => {
            let lock = if st.locked {
                "locked (run `session-vault unlock` before tools need keys)"
            } else {
                "unlocked"
            };
            Check::new(
                "daemon",
                title,
                Status::Ok,
                format!(
                    "version {}, pid {}, {} session{} stored, vault {lock}",
                    st.version,
                    st.pid,
                    st.sessions,
                    if st.sessions == 1 { "" } else { "s" }
                ),
            )
        }
    }
}

/// Check 2: the key backend. A passphrase vault is OK with a note where no
/// hardware-backed store is reachable, WARN where one is (docs/doctor.md).
pub fn backend_check(state: &DaemonState) -> Check {
    let title = "Key backend";
    // Why `auto` skipped the backends before the one in use.
    let skipped = |st: &sv_core::protocol::StatusResult| {
        let why: Vec<String> = st
            .backends
            .iter()
            .take_while(|b| b.name != st.backend)
            .filter(|b| !b.available)
            .map(|b| {
                format!(
                    "{} skipped: {}",
                    b.name,
                    b.reason.as_deref().unwrap_or("unavailable")
                )
            })
            .collect();
        if why.is_empty() {
            String::new()
        } else {
            format!(" ({})", why.join("; "))
        }
    };
    match state {
        DaemonState::Running(st) if st.backend_note.is_some() => Check::new(
            "backend",
            title,
            Status::Fail,
            format!("{}: {}", st.backend, st.backend_note.as_deref().unwrap_or_default()),
        )
        .with_fix("see docs/backends.md (Failures); `session-vault daemon status --verbose` lists the vault's key wrappings"),
        DaemonState::Running(st) if st.backend == "passphrase" => passphrase_check(st, &skipped(st)),
        DaemonState::Running(st) => Check::new("backend", title, Status::Ok, format!("{} (hardware or OS protected){}", st.backend, skipped(st))),
        _ => Check::new("backend", title, Status::Warn, "unknown: the daemon is not answering")
            .with_fix("start the daemon, then run doctor again"),
    }
}

/// The passphrase backend: a valid choice (as with ssh-agent or a password
/// manager's CLI), so OK with a note when this binary can reach nothing
/// stronger; WARN, with the `rekey` line that works, when it can. Never
/// suggests a backend that is not built in or not reachable here.
fn passphrase_check(st: &StatusResult, skipped: &str) -> Check {
    let title = "Key backend";
    let better: Vec<&str> = st
        .backends
        .iter()
        .filter(|b| b.available && b.name != "passphrase")
        .map(|b| rekey_name(&b.name))
        .collect();
    let summary = format!(
        "passphrase: software only, the vault key is as strong as your passphrase{skipped}"
    );
    match better.first() {
        Some(first) => Check::new("backend", title, Status::Warn, summary).with_fix(format!(
            "`session-vault rekey --backend {first}`: {} reachable here and protects the vault key without your passphrase",
            if better.len() > 1 {
                format!("{} are", better.join(" and "))
            } else {
                format!("{first} is")
            }
        )),
        None => {
            let mut c = Check::new("backend", title, Status::Ok, summary);
            c.notes.push(
                "no hardware-backed store is reachable here, so a long passphrase is what protects the vault file"
                    .to_owned(),
            );
            c
        }
    }
}

/// The name `rekey --backend` takes for a backend's status name.
fn rekey_name(status_name: &str) -> &str {
    match status_name {
        "libsecret" => "secret-service",
        other => other,
    }
}

/// Check 3 on Windows: there are no modes to check; the vault lives under
/// `%LOCALAPPDATA%`, whose inherited ACL admits only the user, SYSTEM and
/// Administrators, and the pipe refuses other users' processes.
#[cfg(not(unix))]
pub fn permissions_check(_paths: &VaultPaths, _uid: u32) -> Check {
    Check::new(
        "permissions",
        "File and socket permissions",
        Status::Ok,
        "not checked on Windows: the vault inherits the per-user ACL of %LOCALAPPDATA%",
    )
}

/// Check 3: the vault directory is 0700, its files 0600, the socket 0600,
/// all owned by this user.
#[cfg(unix)]
pub fn permissions_check(paths: &VaultPaths, uid: u32) -> Check {
    use std::os::unix::fs::MetadataExt;
    let title = "File and socket permissions";
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut checked = 0;
    let mut look = |p: &std::path::Path, dir: bool, problems: &mut Vec<(String, String)>| {
        let Ok(m) = std::fs::symlink_metadata(p) else {
            return false;
        };
        checked += 1;
        let mode = m.mode() & 0o7777;
        let want = if dir { 0o700 } else { 0o600 };
        if m.uid() != uid {
            problems.push((
                format!("{} belongs to uid {}, not you", p.display(), m.uid()),
                format!("chown {uid} {}", p.display()),
            ));
        } else if mode & 0o077 != 0
            // config.toml holds no secret: readable is fine, writable by others is not.
            && !(p.file_name().is_some_and(|n| n == "config.toml") && mode & 0o022 == 0)
        {
            problems.push((
                format!("{} is mode {mode:o}, open to other users", p.display()),
                format!("chmod {want:o} {}", p.display()),
            ));
        }
        true
    };
    if look(&paths.data_dir, true, &mut problems) {
        if let Ok(rd) = std::fs::read_dir(&paths.data_dir) {
            let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
            entries.sort();
            for p in entries {
                let is_dir = std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir());
                look(&p, is_dir, &mut problems);
            }
        }
    }
    if paths.runtime_dir_is_private {
        look(&paths.runtime_dir, true, &mut problems);
    }
    look(&paths.socket, false, &mut problems);
    if problems.is_empty() {
        let what = if checked == 0 {
            "no vault files yet".to_owned()
        } else {
            format!("{checked} paths private to you")
        };
        return Check::new("permissions", title, Status::Ok, what);
    }
    let mut c = Check::new(
        "permissions",
        title,
        Status::Fail,
        problems
            .iter()
            .map(|(p, _)| p.as_str())
            .collect::<Vec<_>>()
            .join("; "),
    )
    .with_fix(
        problems
            .iter()
            .map(|(_, f)| f.as_str())
            .collect::<Vec<_>>()
            .join(" && "),
    );
    c.notes = problems.into_iter().map(|(p, _)| p).collect();
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn open_modes_fail_with_the_chmod_to_run() {
        let d = tempfile::tempdir().unwrap();
        let data = d.path().join("data");
        let run = d.path().join("run");
        std::fs::create_dir(&data).unwrap();
        std::fs::create_dir(&run).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(data.join("vault.db"), "x").unwrap();
        std::fs::set_permissions(
            data.join("vault.db"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let paths = VaultPaths {
            data_dir: data.clone(),
            runtime_dir: run.clone(),
            runtime_dir_is_private: false,
            socket: run.join("session-vault.sock"),
        };
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        assert_eq!(permissions_check(&paths, uid).status, Status::Ok);
        std::fs::set_permissions(
            data.join("vault.db"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let c = permissions_check(&paths, uid);
        assert_eq!(c.status, Status::Fail);
        assert_eq!(
            c.fix.unwrap(),
            format!("chmod 600 {}", data.join("vault.db").display())
        );
    }

    /// A running daemon with an unlocked passphrase vault, which reports
    /// `backends`.
    fn passphrase_vault(backends: Vec<sv_core::protocol::BackendReport>) -> StatusResult {
        StatusResult {
            version: "0.1.0".into(),
            pid: 1,
            uptime_secs: 1,
            sessions: 0,
            backend: "passphrase".into(),
            locked: false,
            locked_since: None,
            initialized: true,
            vault: String::new(),
            socket: String::new(),
            backends,
            lock_after: None,
            hygiene: None,
            proxy: None,
            wrappings: vec!["passphrase".into()],
            backend_note: None,
        }
    }

    fn report(name: &str, reason: Option<&str>) -> sv_core::protocol::BackendReport {
        sv_core::protocol::BackendReport {
            name: name.into(),
            available: reason.is_none(),
            reason: reason.map(Into::into),
        }
    }

    #[test]
    fn a_passphrase_vault_where_nothing_stronger_is_reachable_is_ok_and_suggests_nothing() {
        let st = passphrase_vault(vec![
            report(
                "tpm2",
                Some("not built into this release (build with cargo feature `tpm2`)"),
            ),
            report("libsecret", Some("no D-Bus session bus")),
            report("passphrase", None),
        ]);
        let c = backend_check(&DaemonState::Running(st.clone()));
        assert_eq!(c.status, Status::Ok);
        assert!(
            c.summary.contains("tpm2 skipped: not built"),
            "{}",
            c.summary
        );
        assert!(c.fix.is_none());
        assert_eq!(c.notes.len(), 1);
        assert!(!c.notes[0].contains("rekey"), "{:?}", c.notes);

        // A TPM that is built in but absent suggests nothing either.
        let no_tpm = StatusResult {
            backends: vec![
                report("tpm2", Some("no TPM: /dev/tpmrm0 does not exist")),
                report("libsecret", Some("no D-Bus session bus")),
                report("passphrase", None),
            ],
            ..st.clone()
        };
        let c = backend_check(&DaemonState::Running(no_tpm));
        assert_eq!(c.status, Status::Ok);
        assert!(c.fix.is_none());
    }

    #[test]
    fn a_passphrase_vault_warns_only_with_a_rekey_to_what_is_reachable() {
        let st = passphrase_vault(vec![
            report("tpm2", Some("not built into this release")),
            report("libsecret", None),
            report("passphrase", None),
        ]);
        let c = backend_check(&DaemonState::Running(st.clone()));
        assert_eq!(c.status, Status::Warn);
        let fix = c.fix.unwrap();
        assert!(
            fix.starts_with("`session-vault rekey --backend secret-service`"),
            "{fix}"
        );
        assert!(!fix.contains("tpm2"), "{fix}");

        let both = StatusResult {
            backends: vec![
                report("tpm2", None),
                report("libsecret", None),
                report("passphrase", None),
            ],
            ..st
        };
        let fix = backend_check(&DaemonState::Running(both)).fix.unwrap();
        assert!(
            fix.starts_with("`session-vault rekey --backend tpm2`"),
            "{fix}"
        );
        assert!(
            fix.contains("tpm2 and secret-service are reachable"),
            "{fix}"
        );
    }

    #[test]
    fn hardware_backends_and_failures() {
        let st = passphrase_vault(Vec::new());
        let hw = StatusResult {
            backend: "libsecret".into(),
            backends: vec![report("tpm2", Some("no TPM")), report("libsecret", None)],
            ..st.clone()
        };
        let c = backend_check(&DaemonState::Running(hw.clone()));
        assert_eq!(c.status, Status::Ok);
        assert!(c.summary.contains("tpm2 skipped: no TPM"), "{}", c.summary);
        let gone = StatusResult {
            backend_note: Some("libsecret cannot give the vault key back right now".into()),
            ..hw
        };
        assert_eq!(
            backend_check(&DaemonState::Running(gone)).status,
            Status::Fail
        );
        assert_eq!(backend_check(&DaemonState::NotRunning).status, Status::Warn);
    }
}
