//! Unix: the socket in a private runtime directory, `SO_PEERCRED`, `/proc`,
//! file modes, SIGTERM/SIGINT/SIGUSR1.

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

/// One accepted connection.
pub type Stream = UnixStream;

/// Splits a connection into halves that need no lock between them.
pub fn split(
    stream: Stream,
) -> (
    tokio::net::unix::OwnedReadHalf,
    tokio::net::unix::OwnedWriteHalf,
) {
    stream.into_split()
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
    fs::set_permissions(socket, fs::Permissions::from_mode(0o600))
        .map_err(setup("chmod", socket))?;
    Ok(Listener(listener))
}

impl Listener {
    /// The next connection. Cancel-safe (used in `select!`).
    pub async fn accept(&mut self) -> std::io::Result<Stream> {
        self.0.accept().await.map(|(s, _)| s)
    }

    /// Stops listening and removes the socket file.
    pub fn close(self, paths: &VaultPaths) {
        drop(self.0);
        let _ = fs::remove_file(&paths.socket);
    }
}

/// The caller's working directory, from the kernel. The path read from the
/// `/proc/PID/cwd` link must be the very directory the link points at (same
/// device and inode), which rules out deleted directories ("/x (deleted)")
/// and a directory renamed in between.
pub fn peer_cwd(pid: i32) -> Option<PathBuf> {
    let link = format!("/proc/{pid}/cwd");
    let path = fs::read_link(&link).ok()?;
    let real = fs::metadata(&link).ok()?;
    let named = fs::metadata(&path).ok()?;
    (real.dev() == named.dev() && real.ino() == named.ino() && named.is_dir()).then_some(path)
}

/// [`peer_cwd`] for every request of one connection, cheaper when the
/// caller has not moved. Each read still asks the kernel for the link and
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
    pub fn new(pid: i32) -> Self {
        CwdProbe {
            proc_dir: open_proc_dir(pid),
            verified: None,
        }
    }

    /// The caller's working directory now, as [`peer_cwd`] gives it.
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

/// Who is at the other end (`SO_PEERCRED`), with the working directory and
/// executable from `/proc` on Linux.
pub fn peer_of(stream: &Stream) -> Option<Peer> {
    let cred = stream.peer_cred().ok()?;
    let pid = cred.pid();
    let (cwd, exe) = match pid {
        Some(pid) if cfg!(target_os = "linux") => {
            let cwd = peer_cwd(pid);
            let exe = fs::read_link(format!("/proc/{pid}/exe")).ok();
            (cwd, exe)
        }
        _ => (None, None),
    };
    #[cfg(target_os = "linux")]
    let pin = {
        use std::os::fd::AsFd;
        crate::pidfd::ProcessPin::of_peer(stream.as_fd(), pid).map(std::sync::Arc::new)
    };
    #[cfg(not(target_os = "linux"))]
    let pin = None;
    Some(Peer {
        uid: cred.uid(),
        pid,
        cwd,
        exe,
        pin,
    })
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
