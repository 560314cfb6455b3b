//! Unix: the socket, `SO_PEERCRED`, exec, setsid, file modes.

use crate::error::ConnectError;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use sv_core::paths::VaultPaths;

/// A connection to the daemon.
pub type Conn = UnixStream;

/// The real uid of this process.
pub fn current_uid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

/// The uid of the process at the other end of `s` (`getpeereid` where there
/// is no `SO_PEERCRED`: macOS, the BSDs).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn peer_uid(s: &UnixStream) -> Option<u32> {
    use std::os::fd::AsRawFd;
    let (mut uid, mut gid) = (0, 0);
    // SAFETY: getpeereid writes into the two integers we own.
    let rc = unsafe { libc::getpeereid(s.as_raw_fd(), &mut uid, &mut gid) };
    (rc == 0).then_some(uid)
}

/// The uid of the process at the other end of `s`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn peer_uid(s: &UnixStream) -> Option<u32> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(cred.uid)
}

/// The runtime directory, if it exists, must be ours; our private
/// `<data>/run` must also be closed to others.
fn check_runtime_dir(paths: &VaultPaths) -> Result<(), ConnectError> {
    let dir = &paths.runtime_dir;
    let meta = match fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(ConnectError::NotRunning),
        Err(e) => return Err(ConnectError::Other(e)),
    };
    let me = current_uid();
    if !meta.is_dir() || meta.uid() != me {
        return Err(ConnectError::Untrusted(format!(
            "{} is not a directory of yours (owner uid {}, you are uid {me}); remove it or set XDG_RUNTIME_DIR to a directory of your own",
            dir.display(),
            meta.uid()
        )));
    }
    if paths.runtime_dir_is_private && meta.mode() & 0o077 != 0 {
        return Err(ConnectError::Untrusted(format!(
            "{} is open to other users (mode {:o}); run `chmod 700 {}`",
            dir.display(),
            meta.mode() & 0o777,
            dir.display()
        )));
    }
    Ok(())
}

/// Connects to the daemon's socket, after checking that the runtime
/// directory is the user's own and closed to others, and that the process
/// listening runs as the user (`SO_PEERCRED`): a socket planted by another
/// user never sees a request. Reads time out after `read_timeout`.
pub fn connect(paths: &VaultPaths, read_timeout: Duration) -> Result<Conn, ConnectError> {
    check_runtime_dir(paths)?;
    match UnixStream::connect(&paths.socket) {
        Ok(s) => {
            let me = current_uid();
            match peer_uid(&s) {
                Some(uid) if uid == me => {}
                Some(uid) => {
                    return Err(ConnectError::Untrusted(format!(
                        "the process listening on {} runs as uid {uid}, not as you (uid {me}); remove that socket or set XDG_RUNTIME_DIR to a directory of your own",
                        paths.socket.display()
                    )))
                }
                None => {
                    return Err(ConnectError::Untrusted(format!(
                        "cannot tell who listens on {}; remove that socket and start the daemon again",
                        paths.socket.display()
                    )))
                }
            }
            let _ = s.set_read_timeout(Some(read_timeout));
            let _ = s.set_write_timeout(Some(Duration::from_secs(10)));
            Ok(s)
        }
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
            Err(ConnectError::NotRunning)
        }
        Err(e) => Err(ConnectError::Other(e)),
    }
}

/// Replaces this process with `cmd`; returns only on failure.
pub fn exec(cmd: &mut Command) -> std::io::Error {
    cmd.exec()
}

/// Detaches the child from our terminal (a new session).
pub fn detach(cmd: &mut Command) {
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
}

/// `dir` and its missing parents, created with `mode`.
pub fn create_dir_all_mode(dir: &Path, mode: u32) -> std::io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(mode).create(dir)
}
