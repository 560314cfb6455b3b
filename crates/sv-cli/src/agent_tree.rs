//! Entering an agent tree (docs/design.md §11): the mark that `exec
//! --proxy` puts on the command it runs, which the daemon reads from the
//! kernel and which the command and its descendants cannot shed.
//!
//! The mark is a user namespace of the agent's own. This process moves
//! into a new one that maps only the user's own uid and gid (so files,
//! sockets and signals work as before), and every process it then starts
//! inherits it: double forks, `setsid`, `nohup` and reparenting to a
//! subreaper change a process's parent or session, never its user
//! namespace, and going back to an ancestor namespace (`setns`) takes
//! `CAP_SYS_ADMIN` there, which no process in the tree has. The daemon
//! treats a caller whose user namespace is not its own as inside an agent
//! tree. What this does not stop is in docs/callers.md.

use crate::error::{CliError, Result};

/// Moves this process into a new user namespace that maps the user's own
/// uid and gid 1:1 (`setgroups` denied, as an unprivileged namespace
/// requires). Call it before connecting to the daemon (the daemon reads a
/// sender's namespace when it first sees it on a connection), before
/// asking for stand-ins and before exec'ing the agent's command, while the
/// process has one thread (the kernel refuses `unshare(CLONE_NEWUSER)` to a
/// threaded process).
#[cfg(target_os = "linux")]
pub fn enter_agent_tree() -> Result<()> {
    // SAFETY: geteuid/getegid cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    // SAFETY: unshare takes flags only.
    if unsafe { libc::unshare(libc::CLONE_NEWUSER) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(CliError::Failed(format!(
            "cannot run the agent in a user namespace of its own ({e}); allow unprivileged user namespaces (sysctl user.max_user_namespaces, kernel.apparmor_restrict_unprivileged_userns) or run it without --proxy"
        )));
    }
    let write = |file: &str, text: String| {
        std::fs::write(file, text).map_err(|e| {
            CliError::Failed(format!(
                "cannot set up the agent's user namespace ({file}: {e}); run it without --proxy"
            ))
        })
    };
    write("/proc/self/setgroups", "deny".into())?;
    write("/proc/self/uid_map", format!("{uid} {uid} 1\n"))?;
    write("/proc/self/gid_map", format!("{gid} {gid} 1\n"))?;
    Ok(())
}

/// No user namespaces here: no agent tree can be marked (docs/callers.md).
#[cfg(not(target_os = "linux"))]
pub fn enter_agent_tree() -> Result<()> {
    Err(CliError::Failed(
        "agent trees need Linux user namespaces; on this system run the agent without --proxy"
            .into(),
    ))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    /// A shell started in the tree, and what it starts detached, all carry
    /// the mark, keep the user's uid, and cannot go back.
    #[test]
    fn the_tree_keeps_its_namespace_and_cannot_leave_it() {
        let ours = std::fs::read_link("/proc/self/ns/user").unwrap();
        let script = r#"
            readlink /proc/self/ns/user
            id -u
            cat /proc/self/setgroups
            setsid sh -c 'readlink /proc/self/ns/user'
            ( ( readlink /proc/self/ns/user ) & ) ; sleep 0.2
            if nsenter --user="$1" true 2>/dev/null; then echo escaped; else echo stayed; fi
        "#;
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script, "sh"])
            .arg(format!("/proc/{}/ns/user", std::process::id()));
        // SAFETY: the child has one thread; enter_agent_tree only makes
        // system calls and small allocations (glibc's malloc is safe after
        // fork).
        unsafe {
            cmd.pre_exec(|| {
                super::enter_agent_tree().map_err(|e| std::io::Error::other(e.to_string()))
            });
        }
        let out = cmd.output().expect("run sh in a new user namespace");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "this test needs unprivileged user namespaces: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = text.lines().collect();
        let tree = lines[0];
        assert_ne!(tree, ours.to_str().unwrap(), "a new namespace");
        // SAFETY: geteuid cannot fail.
        assert_eq!(lines[1], unsafe { libc::geteuid() }.to_string(), "same uid");
        assert_eq!(lines[2], "deny");
        assert_eq!(lines[3], tree, "setsid keeps it");
        assert_eq!(lines[4], tree, "a double fork keeps it");
        assert_eq!(lines[5], "stayed", "no way back to the user's namespace");
    }
}
