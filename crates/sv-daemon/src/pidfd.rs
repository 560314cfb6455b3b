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
    /// The process at the other end of the connected Unix socket `sock`:
    /// `SO_PEERPIDFD` where the kernel has it (6.5+), which names the very
    /// process that connected, else `pidfd_open` of the peer's pid (read
    /// when the connection was accepted, while that process waits for its
    /// answer).
    #[cfg(target_os = "linux")]
    pub fn of_peer(sock: std::os::fd::BorrowedFd<'_>, pid: Option<i32>) -> Option<Self> {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        let pid = pid?;
        if let Some(opt) = SO_PEERPIDFD {
            let mut fd: libc::c_int = -1;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: getsockopt writes at most `len` bytes into `fd`.
            let rc = unsafe {
                libc::getsockopt(
                    sock.as_raw_fd(),
                    libc::SOL_SOCKET,
                    opt,
                    (&mut fd as *mut libc::c_int).cast(),
                    &mut len,
                )
            };
            if rc == 0 && fd >= 0 {
                // SAFETY: a descriptor the kernel just gave us.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                return Some(ProcessPin { pid, fd });
            }
        }
        // SAFETY: pidfd_open takes a pid and flags; the result is a new
        // descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return None;
        }
        // SAFETY: as above.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
        Some(ProcessPin { pid, fd })
    }

    /// A process whose pidfd the daemon already holds: the sender of a
    /// message (`callers.rs`).
    #[cfg(target_os = "linux")]
    pub fn from_pidfd(pid: i32, fd: std::os::fd::OwnedFd) -> Self {
        ProcessPin { pid, fd }
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

/// `SO_PEERPIDFD` (not in the libc crate yet): 77 where the kernel uses the
/// generic socket option numbers; elsewhere `pidfd_open` is used.
#[cfg(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64",
        target_arch = "loongarch64"
    )
))]
const SO_PEERPIDFD: Option<libc::c_int> = Some(77);
#[cfg(all(
    target_os = "linux",
    not(any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64",
        target_arch = "loongarch64"
    ))
))]
const SO_PEERPIDFD: Option<libc::c_int> = None;

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_peer_is_seen_to_exit() {
        use std::os::fd::AsFd;
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        // The pidfd_open path (a socketpair's peer is this process itself).
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let me = ProcessPin::of_peer(a.as_fd(), Some(std::process::id() as i32)).unwrap();
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
}
