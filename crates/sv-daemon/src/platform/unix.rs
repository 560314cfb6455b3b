//! Unix: the socket in a private runtime directory, `SO_PEERCRED`, `/proc`,
//! file modes, SIGTERM/SIGINT/SIGUSR1; on Linux, the sender of every read
//! (`SCM_CREDENTIALS` and `SCM_PIDFD`, docs/design.md §11).

use super::SignalAction;
use crate::error::{setup, DaemonError};
use crate::peer::Peer;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::PathBuf;
use sv_core::paths::VaultPaths;
use tokio::net::{UnixListener, UnixStream};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tracing::info;
#[cfg(target_os = "linux")]
use tracing::warn;

/// One accepted connection.
pub type Stream = UnixStream;

/// Splits a connection into halves that need no lock between them: a
/// [`Reader`] that learns the sender of what it reads, and a writer.
pub fn split(stream: Stream) -> (Reader, tokio::net::unix::OwnedWriteHalf) {
    let (rd, wr) = stream.into_split();
    (
        Reader {
            half: rd,
            #[cfg(target_os = "linux")]
            pinned_pid: 0,
        },
        wr,
    )
}

/// Creates (or checks) the runtime directory: ours and closed to others.
pub fn prepare_runtime_dir(paths: &VaultPaths, uid: u32) -> Result<(), DaemonError> {
    let dir = &paths.runtime_dir;
    if paths.runtime_dir_is_private {
        // `<data>/run`: the data directory may not exist yet either.
        match fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
        {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(setup("create", dir)(e)),
        }
    }
    let meta = fs::symlink_metadata(dir).map_err(setup("use the runtime directory", dir))?;
    if !meta.is_dir() || meta.uid() != uid {
        return Err(DaemonError::Setup(format!(
            "{} is not a directory owned by you; remove it or set XDG_RUNTIME_DIR",
            dir.display()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        if paths.runtime_dir_is_private {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(setup("chmod 0700", dir))?;
        } else {
            return Err(DaemonError::Setup(format!(
                "{} is open to other users (mode {:o}); make it 0700 or point XDG_RUNTIME_DIR elsewhere",
                dir.display(),
                meta.mode() & 0o777
            )));
        }
    }
    Ok(())
}

/// The listening socket.
pub struct Listener(UnixListener);

/// Listens on the socket, replacing a crash's leftover (the caller holds
/// the lock file, so no live daemon owns it), mode 0600.
pub fn bind(paths: &VaultPaths) -> Result<Listener, DaemonError> {
    let socket = &paths.socket;
    match fs::symlink_metadata(socket) {
        Ok(_) => {
            fs::remove_file(socket).map_err(setup("remove the stale socket", socket))?;
            info!(socket = %socket.display(), "replaced a stale socket");
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(setup("inspect", socket)(e)),
    }
    let listener = UnixListener::bind(socket).map_err(setup("listen on", socket))?;
    // On the listener, so that accepted connections have it from their
    // first byte: the kernel attaches credentials to what a client writes
    // only while the receiving side asks for them (or is not accepted
    // yet), and a client writes as soon as it has connected.
    ask_for_senders(std::os::fd::AsRawFd::as_raw_fd(&listener));
    fs::set_permissions(socket, fs::Permissions::from_mode(0o600))
        .map_err(setup("chmod", socket))?;
    Ok(Listener(listener))
}

impl Listener {
    /// The next connection. Cancel-safe (used in `select!`).
    pub async fn accept(&mut self) -> std::io::Result<Stream> {
        let (s, _) = self.0.accept().await?;
        {
            use std::os::fd::AsRawFd;
            ask_for_senders(s.as_raw_fd());
        }
        Ok(s)
    }

    /// Stops listening and removes the socket file.
    pub fn close(self, paths: &VaultPaths) {
        drop(self.0);
        let _ = fs::remove_file(&paths.socket);
    }
}

/// The caller's working directory, from the kernel, for every request of
/// one connection: the path read from the `/proc/PID/cwd` link must be the
/// very directory the link points at (same device and inode), which rules
/// out deleted directories ("/x (deleted)") and a directory renamed in
/// between. Cheaper when the caller has not moved. Each read still asks the kernel for the link and
/// the directory it points at (so a `chdir`, a rename of the directory or
/// of any parent, and a deletion are all seen, request by request); only
/// when both are exactly what the last full check verified is the path not
/// walked again. (Between the two reads the name could only come to mean
/// another directory by a mount over it, which takes privileges the
/// daemon's own user does not have.)
pub struct CwdProbe {
    /// `/proc/PID`, opened once: each read walks only `cwd` from it (and
    /// keeps meaning this process, never a later one given the same pid).
    proc_dir: Option<std::os::fd::OwnedFd>,
    verified: Option<(PathBuf, u64, u64)>,
}

impl CwdProbe {
    /// Linux opens the directory pinned to a message's sender instead
    /// ([`CwdProbe::over`]), except for a connection refused as another
    /// user's.
    pub fn new(pid: i32) -> Self {
        CwdProbe::over(open_proc_dir(pid))
    }

    /// A probe over a `/proc/PID` directory already opened (and pinned to
    /// its process, see [`pinned_proc_dir`]).
    pub fn over(proc_dir: Option<std::os::fd::OwnedFd>) -> Self {
        CwdProbe {
            proc_dir,
            verified: None,
        }
    }

    /// The process's executable now (it may have exec'd since the last
    /// request: the pid, and so the pidfd, survive an exec).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // callers.rs, Linux only
    pub fn exe(&self) -> Option<PathBuf> {
        use std::os::fd::AsRawFd;
        let dir = self.proc_dir.as_ref()?.as_raw_fd();
        read_link_at(dir, c"exe")
    }

    /// The process's user namespace now (`/proc/PID/ns/user`, whose link
    /// names the namespace's inode; half the cost of a `stat` through it):
    /// the agent-tree marker of docs/design.md §11.
    /// A process can move to a new namespace between two requests, never
    /// back, so this is read for every request.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // callers.rs, Linux only
    pub fn user_namespace(&self) -> Option<UserNamespace> {
        use std::os::fd::AsRawFd;
        let dir = self.proc_dir.as_ref()?.as_raw_fd();
        read_link_at(dir, c"ns/user").map(UserNamespace)
    }

    /// The caller's working directory now (see [`CwdProbe`]).
    pub fn read(&mut self) -> Option<PathBuf> {
        use std::os::fd::AsRawFd;
        use std::os::unix::ffi::OsStrExt;
        let dir = self.proc_dir.as_ref()?.as_raw_fd();
        let mut buf = [0u8; libc::PATH_MAX as usize];
        // SAFETY: a live descriptor, a C string, and a buffer of the length given.
        let n =
            unsafe { libc::readlinkat(dir, c"cwd".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        // SAFETY: zeroed plain data, filled in by fstatat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above; follows the link to the directory itself.
        let stat = unsafe { libc::fstatat(dir, c"cwd".as_ptr(), &mut st, 0) };
        if n <= 0 || n as usize >= buf.len() || stat != 0 {
            self.verified = None;
            return None;
        }
        let link = &buf[..n as usize];
        let (dev, ino) = (st.st_dev as u64, st.st_ino as u64);
        if let Some((p, d, i)) = &self.verified {
            if p.as_os_str().as_bytes() == link && *d == dev && *i == ino {
                return Some(p.clone());
            }
        }
        self.verified = None;
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(link));
        let named = fs::metadata(&path).ok()?;
        if dev == named.dev() && ino == named.ino() && named.is_dir() {
            self.verified = Some((path.clone(), dev, ino));
            Some(path)
        } else {
            None
        }
    }
}

#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn read_link_at(dir: std::os::fd::RawFd, name: &std::ffi::CStr) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let mut buf = [0u8; libc::PATH_MAX as usize];
    // SAFETY: a live descriptor, a C string, and a buffer of the length given.
    let n = unsafe { libc::readlinkat(dir, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (n > 0 && (n as usize) < buf.len())
        .then(|| PathBuf::from(std::ffi::OsStr::from_bytes(&buf[..n as usize])))
}

/// A user namespace, as the `/proc/PID/ns/user` link names it
/// (`user:[INODE]`, unique on the system while the namespace lives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserNamespace(PathBuf);

/// The daemon's own user namespace (see [`CwdProbe::user_namespace`]).
pub fn own_user_namespace() -> Option<UserNamespace> {
    fs::read_link("/proc/self/ns/user").ok().map(UserNamespace)
}

/// `/proc/PID` as a directory to walk from (Linux; elsewhere there is no
/// `/proc`, and [`CwdProbe`] knows nothing).
#[cfg(target_os = "linux")]
fn open_proc_dir(pid: i32) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let path = std::ffi::CString::new(format!("/proc/{pid}")).ok()?;
    // SAFETY: a valid C string; the descriptor returned is ours.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    // SAFETY: a descriptor just opened, owned by nobody else.
    (fd >= 0).then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

#[cfg(not(target_os = "linux"))]
fn open_proc_dir(_pid: i32) -> Option<std::os::fd::OwnedFd> {
    None
}

/// Who is at the other end (`SO_PEERCRED`). On Linux that is all: every
/// message is judged by its own sender (`callers.rs`), so the connector's
/// working directory and pidfd would be read for nothing (they were six
/// system calls and a pidfd per connection, a `get`'s whole connection);
/// its directory and executable are read only for the record of a
/// connection refused as another user's. Elsewhere the connector is the caller of every message
/// (and there is no `/proc` to read).
pub fn peer_of(stream: &Stream) -> Option<Peer> {
    let cred = stream.peer_cred().ok()?;
    let pid = cred.pid();
    #[cfg(target_os = "linux")]
    {
        let uid = cred.uid();
        let (cwd, exe) = match pid {
            // For the audit record of the refusal.
            Some(pid) if uid != crate::hygiene::uid() => (
                CwdProbe::new(pid).read(),
                fs::read_link(format!("/proc/{pid}/exe")).ok(),
            ),
            _ => (None, None),
        };
        Some(Peer {
            uid,
            pid,
            cwd,
            exe,
            pin: None,
            agent_tree: None,
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        // No `/proc` to read here.
        Some(Peer {
            uid: cred.uid(),
            pid,
            cwd: None,
            exe: None,
            pin: None,
            // No agent tree is known here (docs/callers.md).
            agent_tree: Some(false),
        })
    }
}

// ---- Who sent each message (docs/design.md §11) ----
//
// On Linux the daemon asks the kernel for the credentials of every read
// (`SO_PASSCRED`: `SCM_CREDENTIALS`, the sender's pid, uid and gid as the
// kernel recorded them when the bytes were sent) and, from Linux 6.5, a
// pidfd of the sender (`SO_PASSPIDFD`: `SCM_PIDFD`), which names that very
// process and never a later one given the same pid. On a stream socket the
// kernel never returns bytes from two senders in one read; a frame made of
// reads from two senders is refused by the frame reader.

/// `SO_PASSPIDFD` and `SCM_PIDFD` (Linux 6.5), not in every libc yet; the
/// generic values (sparc numbers the option otherwise, and falls back to
/// `pidfd_open`).
#[cfg(all(
    target_os = "linux",
    not(any(target_arch = "sparc", target_arch = "sparc64"))
))]
const SO_PASSPIDFD: libc::c_int = 76;
#[cfg(target_os = "linux")]
const SCM_PIDFD: libc::c_int = 4;

/// Asks the kernel to attach the sender's credentials (and pidfd, where
/// the kernel can) to every read on `socket` (a listener passes it on to
/// the connections it accepts). Without them every frame
/// is refused (see [`Reader::recv`]), never served to the connector.
fn ask_for_senders(socket: std::os::fd::RawFd) {
    #[cfg(target_os = "linux")]
    {
        let on: libc::c_int = 1;
        let set = |opt| {
            // SAFETY: a live socket and an int option of the size given.
            unsafe {
                libc::setsockopt(
                    socket,
                    libc::SOL_SOCKET,
                    opt,
                    (&on as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            }
        };
        if set(libc::SO_PASSCRED) != 0 {
            warn!(error = %std::io::Error::last_os_error(), "cannot ask for the senders' credentials");
        }
        // The pidfd (`SO_PASSPIDFD`) is asked for a connection's first
        // read only (see `Reader`).
    }
    #[cfg(not(target_os = "linux"))]
    let _ = socket;
}

/// The process that sent a run of bytes, as the kernel vouched for it
/// (Linux). Elsewhere the connection's peer, read once at accept.
#[derive(Debug)]
pub struct Sender {
    #[cfg(target_os = "linux")]
    pub pid: i32,
    #[cfg(target_os = "linux")]
    pub uid: u32,
    #[cfg(target_os = "linux")]
    pub gid: u32,
    /// A pidfd of the sender, from `SCM_PIDFD` (Linux ≥ 6.5).
    #[cfg(target_os = "linux")]
    pub pidfd: Option<std::os::fd::OwnedFd>,
    /// When the bytes were read (`CLOCK_BOOTTIME`, in clock ticks), for
    /// the start-time check where the kernel gave no pidfd with a
    /// connection's first read; 0 on every other read (never checked).
    #[cfg(target_os = "linux")]
    pub read_at_ticks: u64,
    /// The reader asked for no pidfd: the pid is the one whose pidfd came
    /// with an earlier read on this connection (whether that process is
    /// still the one with this pid is checked through that pidfd, see
    /// `callers.rs`).
    #[cfg(target_os = "linux")]
    pub same_as_pinned: bool,
    /// Read without a pidfd from a process other than the one this
    /// connection is pinned to: refused, never served (docs/callers.md,
    /// "One connection, one process").
    #[cfg(target_os = "linux")]
    pub newcomer: bool,
}

impl Sender {
    /// The pidfd's inode: on pidfs (Linux ≥ 6.9) unique to one process for
    /// the life of the boot. Asked only when two senders with the same pid
    /// are compared (not for a connection's first sender, a `get`'s only
    /// one).
    #[cfg(target_os = "linux")]
    fn pidfd_ino(&self) -> Option<u64> {
        use std::os::fd::AsRawFd;
        let fd = self.pidfd.as_ref()?;
        // SAFETY: zeroed plain data, filled in by fstat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a live descriptor.
        (unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } == 0).then_some(st.st_ino as u64)
    }

    /// Whether `other` is the same process (the kernel's view).
    pub fn same_process(&self, other: &Sender) -> bool {
        #[cfg(target_os = "linux")]
        {
            self.pid == other.pid
                && self.uid == other.uid
                && self.gid == other.gid
                && (other.same_as_pinned
                    || self.same_as_pinned
                    || matches!(
                        (self.pidfd_ino(), other.pidfd_ino()),
                        (Some(a), Some(b)) if a == b
                    ))
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = other;
            true
        }
    }
}

/// The reading half of a connection: reads bytes with their sender.
///
/// A connection belongs to the process that sends on it first
/// (docs/callers.md, "One connection, one process"): that read asks for
/// the sender's pidfd (`SO_PASSPIDFD`), which pins the connection to it;
/// every later read comes with `SCM_CREDENTIALS` only (a pidfd per read
/// would cost more than the rest of a lookup). A later read with the
/// pinned pid is that process's while its pidfd says it lives
/// (`callers.rs`): no other process can hold the pid meanwhile. A later
/// read with another pid is a newcomer's, refused.
pub struct Reader {
    half: tokio::net::unix::OwnedReadHalf,
    /// The pid whose pidfd came with the connection's first read (0 until
    /// a read brings one).
    #[cfg(target_os = "linux")]
    pinned_pid: i32,
}

impl Reader {
    /// Reads into `buf`: how many bytes, and who sent them (`None` when
    /// the kernel did not say). 0 bytes: the other end has closed.
    pub async fn recv(&mut self, buf: &mut [u8]) -> std::io::Result<(usize, Option<Sender>)> {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let s: &UnixStream = self.half.as_ref();
            let pinned = &mut self.pinned_pid;
            let mut drained = None;
            loop {
                s.readable().await?;
                match s.try_io(tokio::io::Interest::READABLE, || {
                    let (n, sender, empty) = recv_pinning(s.as_raw_fd(), buf, pinned)?;
                    if empty {
                        // The socket is known to be empty: tokio clears its
                        // readiness on `WouldBlock`, which saves the read
                        // that would find nothing.
                        drained = Some((n, sender));
                        return Err(ErrorKind::WouldBlock.into());
                    }
                    Ok((n, sender))
                }) {
                    Err(e) if e.kind() == ErrorKind::WouldBlock => match drained.take() {
                        Some(read) => return Ok(read),
                        None => continue,
                    },
                    Ok(read) => return Ok(read),
                    Err(e) => return Err(e),
                }
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            use tokio::io::AsyncReadExt;
            let n = self.half.read(buf).await?;
            Ok((n, Some(Sender {})))
        }
    }
}

/// `CLOCK_BOOTTIME` in clock ticks (the unit of a process's start time in
/// `/proc/PID/stat`).
#[cfg(target_os = "linux")]
pub fn boottime_ticks() -> u64 {
    // SAFETY: zeroed plain data, filled in by clock_gettime.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid clock id and a timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    let hz = clock_ticks_per_second();
    ts.tv_sec as u64 * hz + ts.tv_nsec as u64 * hz / 1_000_000_000
}

#[cfg(target_os = "linux")]
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as u64
    } else {
        100
    }
}

/// One read with its sender: with a pidfd until one pins the connection,
/// then with credentials only (see [`Reader`]). The third value says the
/// socket is now empty.
///
/// With credentials asked for, the kernel ends a read where the sender
/// changes or after bytes that carried descriptors; otherwise a read
/// shorter than the buffer took all there was. So a short read of the
/// pinned process that ends a frame (a newline) and carried no
/// descriptors left nothing behind; anything else may have, and is
/// followed by another read. (Were a newcomer's bytes queued behind such a
/// read, they would wait for the next bytes to arrive: a newcomer is only
/// ever refused.)
#[cfg(target_os = "linux")]
fn recv_pinning(
    fd: std::os::fd::RawFd,
    buf: &mut [u8],
    pinned: &mut i32,
) -> std::io::Result<(usize, Option<Sender>, bool)> {
    let first = *pinned == 0;
    let pidfd_on = first && pass_pidfd(fd, true);
    let read = recv_with_sender(fd, buf);
    if pidfd_on {
        pass_pidfd(fd, false);
    }
    let (n, mut sender, carried_fds) = read?;
    let mut pinned_read = false;
    if let Some(s) = &mut sender {
        if s.pidfd.is_some() {
            *pinned = s.pid;
            pinned_read = true;
        } else if first {
            // No pidfd to pin it (a kernel before 6.5, or the sender has
            // gone): `pinned_proc_dir` falls back to the start-time check.
            s.read_at_ticks = boottime_ticks();
        } else {
            s.same_as_pinned = s.pid == *pinned;
            s.newcomer = !s.same_as_pinned;
            pinned_read = s.same_as_pinned;
        }
    }
    let empty = pinned_read && !carried_fds && n > 0 && n < buf.len() && buf[n - 1] == b'\n';
    Ok((n, sender, empty))
}

/// Switches `SO_PASSPIDFD` on or off; false where the kernel has no such
/// option (before 6.5: the pidfd is then opened from the pid, with a
/// start-time check, see [`pinned_proc_dir`]).
#[cfg(target_os = "linux")]
fn pass_pidfd(fd: std::os::fd::RawFd, on: bool) -> bool {
    #[cfg(not(any(target_arch = "sparc", target_arch = "sparc64")))]
    {
        let v: libc::c_int = on.into();
        // SAFETY: a live socket and an int option of the size given.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                SO_PASSPIDFD,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            ) == 0
        }
    }
    #[cfg(any(target_arch = "sparc", target_arch = "sparc64"))]
    {
        let _ = (fd, on);
        false
    }
}

/// One `recvmsg` on a non-blocking socket, with its credentials, and
/// whether descriptors came along (`SCM_RIGHTS`: closed at once).
#[cfg(target_os = "linux")]
fn recv_with_sender(
    fd: std::os::fd::RawFd,
    buf: &mut [u8],
) -> std::io::Result<(usize, Option<Sender>, bool)> {
    use std::os::fd::{FromRawFd, OwnedFd};
    #[repr(C, align(8))]
    struct Control([u8; 256]);
    let mut control = Control([0; 256]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: zeroed plain data, filled in below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = control.0.len() as _;
    // SAFETY: the message points at live buffers of the lengths given.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_CMSG_CLOEXEC | libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut cred: Option<libc::ucred> = None;
    let mut pidfd: Option<OwnedFd> = None;
    let mut carried_fds = false;
    // SAFETY: walking the control messages the kernel wrote, within
    // msg_controllen, with the libc macros made for it.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            let len = ((*c).cmsg_len as usize).saturating_sub(data as usize - c as usize);
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (libc::SOL_SOCKET, libc::SCM_CREDENTIALS)
                    if len >= std::mem::size_of::<libc::ucred>() =>
                {
                    cred = Some(std::ptr::read_unaligned(data.cast::<libc::ucred>()));
                }
                (libc::SOL_SOCKET, SCM_PIDFD) if len >= 4 => {
                    // A negative value is the kernel's error (the sender
                    // has gone): no pidfd.
                    let raw = std::ptr::read_unaligned(data.cast::<libc::c_int>());
                    if raw >= 0 {
                        pidfd = Some(OwnedFd::from_raw_fd(raw));
                    }
                }
                (libc::SOL_SOCKET, libc::SCM_RIGHTS) => {
                    carried_fds = true;
                    for i in 0..len / 4 {
                        let raw = std::ptr::read_unaligned(data.cast::<libc::c_int>().add(i));
                        if raw >= 0 {
                            drop(OwnedFd::from_raw_fd(raw));
                        }
                    }
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    if n == 0 {
        return Ok((0, None, carried_fds));
    }
    let sender = cred.filter(|c| c.pid > 0).map(|c| Sender {
        pid: c.pid,
        uid: c.uid,
        gid: c.gid,
        // Set by `recv_pinning` on a first read without a pidfd, the only
        // read the start-time check looks at.
        read_at_ticks: 0,
        pidfd,
        same_as_pinned: false,
        newcomer: false,
    });
    Ok((n as usize, sender, carried_fds))
}

/// `/proc/PID` of the process `sender` names, opened so that it can only
/// mean that process (Linux). With a pidfd: the pidfd still names a live
/// process after the directory is open, so the pid was not reused in
/// between. Without one (kernels before 6.5): a pidfd is opened from the
/// pid, and the process it names must have started before the bytes were
/// read (a pid reused after the read names a younger process).
#[cfg(target_os = "linux")]
pub fn pinned_proc_dir(sender: &Sender) -> Option<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let pidfd = match &sender.pidfd {
        Some(fd) => fd.try_clone().ok()?,
        None => {
            // SAFETY: pidfd_open has no memory arguments.
            let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, sender.pid, 0) };
            if raw < 0 {
                return None;
            }
            // SAFETY: a descriptor just opened, owned by nobody else.
            unsafe { OwnedFd::from_raw_fd(raw as i32) }
        }
    };
    let dir = open_proc_dir(sender.pid)?;
    if !alive(&pidfd) {
        return None;
    }
    if sender.pidfd.is_none() {
        let started = start_time_ticks(&dir)?;
        if started > sender.read_at_ticks {
            return None;
        }
    }
    Some((dir, pidfd))
}

/// Whether the process a pidfd names still runs (or is a zombie not yet
/// reaped: its pid is still taken).
#[cfg(target_os = "linux")]
pub fn alive(pidfd: &std::os::fd::OwnedFd) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: a live pidfd, signal 0 (only checks), no siginfo.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            0,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        ) == 0
    }
}

/// A process's start time (ticks after boot, field 22 of `stat`).
#[cfg(target_os = "linux")]
fn start_time_ticks(dir: &std::os::fd::OwnedFd) -> Option<u64> {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    // SAFETY: a live descriptor and a C string; the result is ours.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c"stat".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: a descriptor just opened, owned by nobody else.
    let mut file = unsafe { <fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count
    // from the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// SIGTERM and SIGINT stop the daemon; SIGUSR1 locks the vault.
pub struct Signals {
    term: Signal,
    int: Signal,
    usr1: Signal,
}

impl Signals {
    pub fn new() -> Result<Self, DaemonError> {
        let on = |kind| signal(kind).map_err(|e| DaemonError::Setup(e.to_string()));
        Ok(Signals {
            term: on(SignalKind::terminate())?,
            int: on(SignalKind::interrupt())?,
            usr1: on(SignalKind::user_defined1())?,
        })
    }

    /// The next signal. Cancel-safe (used in `select!`).
    pub async fn recv(&mut self) -> SignalAction {
        tokio::select! {
            _ = self.term.recv() => SignalAction::Stop("SIGTERM"),
            _ = self.int.recv() => SignalAction::Stop("SIGINT"),
            _ = self.usr1.recv() => SignalAction::Lock("SIGUSR1"),
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::time::Instant;

    fn pair() -> (
        std::os::unix::net::UnixStream,
        std::os::unix::net::UnixStream,
    ) {
        std::os::unix::net::UnixStream::pair().unwrap()
    }

    #[test]
    fn each_read_names_its_sender() {
        let (mut tx, rx) = pair();
        ask_for_senders(rx.as_raw_fd());
        rx.set_nonblocking(true).unwrap();
        tx.write_all(b"hello\n").unwrap();
        let mut buf = [0u8; 64];
        let mut pinned = 0;
        let (n, sender, empty) = recv_pinning(rx.as_raw_fd(), &mut buf, &mut pinned).unwrap();
        assert_eq!(&buf[..n], b"hello\n");
        assert!(
            empty,
            "a whole frame of the pinned sender empties the socket"
        );
        let s = sender.expect("credentials on every read");
        assert_eq!(s.pid, std::process::id() as i32);
        // SAFETY: getuid cannot fail.
        assert_eq!(s.uid, unsafe { libc::getuid() });
        assert!(s.pidfd.is_some(), "SCM_PIDFD (Linux >= 6.5)");
        let (dir, _) = pinned_proc_dir(&s).expect("pinned to a live sender");
        let probe = CwdProbe::over(Some(dir));
        assert_eq!(probe.user_namespace(), own_user_namespace());
        assert_eq!(probe.exe(), std::env::current_exe().ok());
        // The same sender again: no pidfd asked for, the pid vouched for
        // by the first one's.
        tx.write_all(b"again\n").unwrap();
        let (_, again, _) = recv_pinning(rx.as_raw_fd(), &mut buf, &mut pinned).unwrap();
        let again = again.unwrap();
        assert!(again.pidfd.is_none() && again.same_as_pinned && !again.newcomer);
        assert!(s.same_process(&again));
        // Half a frame: more may follow, the socket is not taken as empty.
        tx.write_all(b"hal").unwrap();
        let (n, _, empty) = recv_pinning(rx.as_raw_fd(), &mut buf, &mut pinned).unwrap();
        assert_eq!((n, empty), (3, false));
    }

    #[test]
    fn another_process_on_a_pinned_connection_is_a_newcomer() {
        let (mut tx, rx) = pair();
        ask_for_senders(rx.as_raw_fd());
        rx.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 64];
        let mut pinned = 0;
        tx.write_all(b"mine\n").unwrap();
        let (_, first, _) = recv_pinning(rx.as_raw_fd(), &mut buf, &mut pinned).unwrap();
        assert!(first.unwrap().pidfd.is_some());
        // A child writes on the same connection (its stdout).
        let out = std::os::fd::OwnedFd::from(tx.try_clone().unwrap());
        let status = std::process::Command::new("sh")
            .args(["-c", "echo theirs"])
            .stdout(out)
            .status()
            .unwrap();
        assert!(status.success());
        let (n, s, empty) = recv_pinning(rx.as_raw_fd(), &mut buf, &mut pinned).unwrap();
        let s = s.unwrap();
        assert_eq!(&buf[..n], b"theirs\n");
        assert!(
            s.newcomer && !s.same_as_pinned && s.pidfd.is_none(),
            "{s:?}"
        );
        assert_ne!(s.pid, std::process::id() as i32);
        assert!(
            !empty,
            "a newcomer's read never clears the socket's readiness"
        );
        // The pinned process goes on as before.
        tx.write_all(b"mine again\n").unwrap();
        let (_, s, _) = recv_pinning(rx.as_raw_fd(), &mut buf, &mut pinned).unwrap();
        assert!(s.unwrap().same_as_pinned);
    }

    /// What reading a frame's sender costs on top of a plain read: run with
    /// `cargo test -p sv-daemon sender_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a micro-benchmark; run it by name with --ignored --nocapture"]
    fn sender_cost() {
        const N: u32 = 5_000;
        let frame = [b'x'; 80];
        let mut buf = [0u8; 4096];
        let (mut tx0, mut rx0) = pair();
        let mut probe0 = CwdProbe::new(std::process::id() as i32);
        let (mut tx1, rx1) = pair();
        ask_for_senders(rx1.as_raw_fd());
        let mut pinned = 0;
        let mut probe1 = None;
        let (mut tx2, rx2) = pair();
        ask_for_senders(rx2.as_raw_fd());
        let mut best = [std::time::Duration::MAX; 3];
        // Rounds taken in turn, the best of each kept: the machine is shared.
        for _ in 0..10 {
            // Before: a read, and the directory check per request.
            let t = Instant::now();
            for _ in 0..N {
                tx0.write_all(&frame).unwrap();
                let _ = rx0.read(&mut buf).unwrap();
                let _ = probe0.read();
            }
            best[0] = best[0].min(t.elapsed() / N);
            // Now, the same sender: a recvmsg with credentials, the
            // sender's pidfd checked, the directory.
            let t = Instant::now();
            for _ in 0..N {
                tx1.write_all(&frame).unwrap();
                let (_, s, _) = recv_pinning(rx1.as_raw_fd(), &mut buf, &mut pinned).unwrap();
                let s = s.unwrap();
                let p = probe1.get_or_insert_with(|| {
                    let (dir, pidfd) = pinned_proc_dir(&s).unwrap();
                    (CwdProbe::over(Some(dir)), pidfd)
                });
                let _ = (alive(&p.1), p.0.read());
            }
            best[1] = best[1].min(t.elapsed() / N);
            // A new sender every frame: a pidfd, /proc/PID opened and
            // pinned, the executable and the namespace read, each time.
            let t = Instant::now();
            for _ in 0..N {
                tx2.write_all(&frame).unwrap();
                let mut fresh = 0;
                let (_, s, _) = recv_pinning(rx2.as_raw_fd(), &mut buf, &mut fresh).unwrap();
                let (dir, _) = pinned_proc_dir(&s.unwrap()).unwrap();
                let mut p = CwdProbe::over(Some(dir));
                let _ = (p.read(), p.exe(), p.user_namespace());
            }
            best[2] = best[2].min(t.elapsed() / N);
        }
        println!(
            "per frame (best of 10 rounds of {N}): before {:?}, the same sender {:?}, a new sender every frame {:?}",
            best[0], best[1], best[2]
        );
    }
}
