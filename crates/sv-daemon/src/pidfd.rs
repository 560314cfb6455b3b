//! A process pinned by a pidfd (Linux): it tells whether that very process
//! has exited, and a later process given the same pid never passes for it.
//! Stand-ins live exactly as long as the process they were issued to
//! (docs/design.md §10).

/// A process, pinned.
#[derive(Debug)]
pub struct ProcessPin {
    pid: i32,
    #[cfg(target_os = "linux")]
    fd: std::os::fd::OwnedFd,
}

impl ProcessPin {
    /// A process whose pidfd the daemon already holds: the sender of a
    /// message (`callers.rs`).
    #[cfg(target_os = "linux")]
    pub fn from_pidfd(pid: i32, fd: std::os::fd::OwnedFd) -> Self {
        ProcessPin { pid, fd }
    }

    /// The live process `pid`, pinned.
    #[cfg(target_os = "linux")]
    pub(crate) fn open(pid: i32) -> Option<Self> {
        use std::os::fd::{FromRawFd, OwnedFd};
        // SAFETY: pidfd_open takes a pid and flags; the result is a new
        // descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return None;
        }
        // SAFETY: a descriptor the kernel just gave us.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
        Some(ProcessPin { pid, fd })
    }

    /// The agent that ran `helper` as its key helper (docs/design.md §10):
    /// the first ancestor that is neither a shell (its executable named
    /// `sh`, `bash`, `dash` or `zsh`) nor session-vault (named
    /// `session-vault`, or the helper's own executable), pinned. Each
    /// parent is pinned by [`ProcessPin::parent`], so a parent that exited
    /// (and whose pid was given to another process) is never taken for
    /// the agent.
    #[cfg(target_os = "linux")]
    pub fn agent_of(
        helper: &std::sync::Arc<ProcessPin>,
        helper_exe: Option<&std::path::Path>,
    ) -> Result<std::sync::Arc<ProcessPin>, String> {
        let mut cur = helper.clone();
        for _ in 0..16 {
            if parent_pid(cur.pid).is_some_and(|p| p <= 1) {
                return Err("the helper has no parent process left to bind the stand-in to".into());
            }
            let parent = cur.parent().ok_or("the helper's parent process exited")?;
            let exe = std::fs::read_link(format!("/proc/{}/exe", parent.pid)).ok();
            if parent.exited() {
                return Err("the helper's parent process exited".into());
            }
            let passed = exe.as_deref().is_some_and(|e| {
                let name = e.file_name().and_then(|n| n.to_str()).unwrap_or("");
                SKIPPED.contains(&name) || Some(e) == helper_exe
            });
            let parent = std::sync::Arc::new(parent);
            if !passed {
                return Ok(parent);
            }
            cur = parent;
        }
        Err("no agent process found within 16 ancestors of the helper".into())
    }

    /// This process's parent, pinned: the parent pid is read, a pidfd
    /// opened on it, then this process is checked to be still alive and
    /// still that pid's child. A parent that exited before the pidfd was
    /// opened would have left this child reparented, so the pidfd names
    /// the very parent. `None` once this process or its parent exited, or
    /// for the first process (no parent).
    #[cfg(target_os = "linux")]
    pub fn parent(&self) -> Option<ProcessPin> {
        let ppid = parent_pid(self.pid).filter(|&p| p > 0)?;
        let parent = ProcessPin::open(ppid)?;
        if self.exited() || parent_pid(self.pid) != Some(ppid) {
            return None;
        }
        Some(parent)
    }

    /// The device and inode of the file this process runs, as the kernel
    /// sees it (`/proc/PID/exe` followed: the open file, even if its path
    /// was since removed or replaced). Read while the process is known to
    /// be alive before and after, so the pid was its own throughout.
    #[cfg(target_os = "linux")]
    pub fn exe_id(&self) -> Option<(u64, u64)> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(format!("/proc/{}/exe", self.pid)).ok()?;
        if self.exited() {
            return None;
        }
        Some((m.dev(), m.ino()))
    }

    /// The leader of this process's session (`getsid`), pinned, while it
    /// lives. A session id's number is not given to another process while
    /// any process is in that session, so the live process with that pid
    /// that leads its own session is the leader. `None` when the leader
    /// has exited.
    #[cfg(target_os = "linux")]
    pub fn session_leader(&self) -> Option<ProcessPin> {
        // SAFETY: getsid takes a pid and returns a pid or -1.
        let sid = unsafe { libc::getsid(self.pid) };
        if sid <= 0 {
            return None;
        }
        let leader = ProcessPin::open(sid)?;
        // SAFETY: as above.
        let (mine, theirs) = unsafe { (libc::getsid(self.pid), libc::getsid(sid)) };
        if self.exited() || leader.exited() || mine != sid || theirs != sid {
            return None;
        }
        Some(leader)
    }

    /// The pid the process had (and keeps while it lives).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Whether the process has exited: its pidfd is readable then. Never
    /// blocks.
    #[cfg(target_os = "linux")]
    pub fn exited(&self) -> bool {
        use std::os::fd::AsRawFd;
        let mut p = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd we own, no wait.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        n != 0
    }

    #[cfg(not(target_os = "linux"))]
    pub fn exited(&self) -> bool {
        true
    }
}

/// The executables a key helper's call passes through on its way from the
/// agent: shells, and session-vault itself.
#[cfg(target_os = "linux")]
const SKIPPED: &[&str] = &["sh", "bash", "dash", "zsh", "session-vault"];

/// A process's parent pid, from `/proc/PID/stat` (the fields after the
/// command name, which may itself hold spaces and parentheses).
#[cfg(target_os = "linux")]
fn parent_pid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_peer_is_seen_to_exit() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let me = ProcessPin::open(std::process::id() as i32).unwrap();
        assert!(!me.exited());
        // SAFETY: pidfd_open of our child.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        assert!(fd >= 0);
        let pin = ProcessPin {
            pid,
            // SAFETY: the descriptor just opened.
            fd: unsafe { std::os::fd::FromRawFd::from_raw_fd(fd as libc::c_int) },
        };
        assert!(!pin.exited());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(pin.exited());
        assert_eq!(pin.pid(), pid);
    }

    #[test]
    fn parents_sessions_and_executables_are_the_kernels() {
        use std::os::unix::fs::MetadataExt;
        use std::os::unix::process::CommandExt;
        // A child in a session of its own: it leads it, its parent is us.
        let mut child = std::process::Command::new("sleep");
        child.arg("30");
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            child.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let mut child = child.spawn().unwrap();
        let pin = ProcessPin::open(child.id() as i32).unwrap();
        let parent = pin.parent().unwrap();
        assert_eq!(parent.pid(), std::process::id() as i32);
        assert_eq!(pin.session_leader().unwrap().pid(), pin.pid());
        let sleep =
            std::fs::metadata(std::fs::read_link(format!("/proc/{}/exe", pin.pid())).unwrap())
                .unwrap();
        assert_eq!(pin.exe_id(), Some((sleep.dev(), sleep.ino())));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(pin.exe_id(), None, "an exited process runs nothing");
        assert!(pin.parent().is_none());
        assert!(pin.session_leader().is_none());
    }

    #[test]
    fn the_agent_is_found_past_shells() {
        // python (the agent) → bash → sleep (the helper, as far as the walk
        // cares: its own executable is passed as the helper's).
        let mut agent = std::process::Command::new("python3")
            .args([
                "-c",
                "import subprocess; subprocess.run(['bash', '-c', 'sleep 30; true'])",
            ])
            .spawn()
            .unwrap();
        let mut helper = None;
        for _ in 0..100 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            // Find the sleep whose grandparent is the agent.
            for e in std::fs::read_dir("/proc").unwrap().flatten() {
                let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                    continue;
                };
                let Some(pp) = parent_pid(pid) else { continue };
                if parent_pid(pp) == Some(agent.id() as i32)
                    && std::fs::read_link(format!("/proc/{pid}/exe"))
                        .is_ok_and(|x| x.file_name().is_some_and(|n| n == "sleep"))
                {
                    helper = Some(pid);
                }
            }
            if helper.is_some() {
                break;
            }
        }
        let helper = std::sync::Arc::new(ProcessPin::open(helper.expect("helper")).unwrap());
        let exe = std::fs::read_link(format!("/proc/{}/exe", helper.pid())).unwrap();
        let found = ProcessPin::agent_of(&helper, Some(&exe)).unwrap();
        assert_eq!(found.pid(), agent.id() as i32);
        // SAFETY: a signal to the helper this test started.
        unsafe { libc::kill(helper.pid(), libc::SIGKILL) };
        agent.kill().unwrap();
        agent.wait().unwrap();
        assert!(found.exited());
    }
}
