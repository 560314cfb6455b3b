//! Windows: the named pipe `\\.\pipe\session-vault-USER`, whose server
//! process must run as this user; no exec; no modes. Compile-checked from
//! Linux only; it has never run (docs/windows.md).

use crate::error::ConnectError;
use std::fs;
use std::io::{self, ErrorKind, Read, Write};
use std::os::windows::ffi::OsStrExt;
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::AsRawHandle;
use std::os::windows::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use sv_core::paths::VaultPaths;
use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_OPERATION_ABORTED, ERROR_PIPE_BUSY, HANDLE,
};
use windows_sys::Win32::Storage::FileSystem::SECURITY_IDENTIFICATION;
use windows_sys::Win32::System::Pipes::{GetNamedPipeServerProcessId, WaitNamedPipeW};
use windows_sys::Win32::System::Threading::{
    GetCurrentThreadId, OpenThread, CREATE_NEW_PROCESS_GROUP, DETACHED_PROCESS, THREAD_TERMINATE,
};
use windows_sys::Win32::System::IO::CancelSynchronousIo;

/// A connection to the daemon: the client end of the pipe, blocking I/O.
/// A synchronous pipe handle has no timeouts of its own: each read (write)
/// gets a watchdog thread that cancels it (`CancelSynchronousIo`) after the
/// read timeout (`SESSION_VAULT_TIMEOUT`, 60 s by default) or 10 s for a
/// write, as the Unix socket's timeouts do.
pub struct Conn {
    file: fs::File,
    read_timeout: Duration,
}

/// How long a write may block (the daemon not reading).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let file = &mut self.file;
        with_timeout(self.read_timeout, || file.read(buf))
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = &mut self.file;
        with_timeout(WRITE_TIMEOUT, || file.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Runs the blocking I/O `op` on this thread; if it has not returned after
/// `limit`, a watchdog thread cancels it and the result is `TimedOut`. The
/// watchdog cancels only while `op` runs: both sides take the same lock, so
/// a cancel never reaches I/O started after `op`.
fn with_timeout<T>(limit: Duration, op: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    // SAFETY: plain calls; a null handle means "no watchdog possible".
    let thread = unsafe { OpenThread(THREAD_TERMINATE, 0, GetCurrentThreadId()) };
    if thread.is_null() {
        return op();
    }
    // Handles are not Send; the watchdog only passes it back to the OS.
    let thread_addr = thread as usize;
    let state = Arc::new((Mutex::new(false), Condvar::new()));
    let watch = {
        let state = Arc::clone(&state);
        std::thread::spawn(move || {
            let (done, wake) = &*state;
            let guard = done.lock().unwrap_or_else(|p| p.into_inner());
            let (guard, _) = wake
                .wait_timeout_while(guard, limit, |finished| !*finished)
                .unwrap_or_else(|p| p.into_inner());
            if !*guard {
                // SAFETY: the handle stays open until after `join` below.
                unsafe { CancelSynchronousIo(thread_addr as HANDLE) };
            }
        })
    };
    let result = op();
    {
        let (done, wake) = &*state;
        *done.lock().unwrap_or_else(|p| p.into_inner()) = true;
        wake.notify_one();
    }
    let _ = watch.join();
    // SAFETY: opened above, closed once.
    unsafe { CloseHandle(thread) };
    match result {
        Err(e) if e.raw_os_error() == Some(ERROR_OPERATION_ABORTED as i32) => Err(io::Error::new(
            ErrorKind::TimedOut,
            "the daemon did not answer in time",
        )),
        other => other,
    }
}

/// Windows has no uid (see `sv_daemon`'s platform module): 0, as the daemon
/// calls itself.
pub fn current_uid() -> u32 {
    0
}

/// How long to wait for a free pipe instance when all are busy.
const BUSY_WAIT: Duration = Duration::from_secs(5);

/// Opens the daemon's pipe, waiting while every instance is busy
/// (`ERROR_PIPE_BUSY`), and checks that the process serving it runs as this
/// user: a pipe name squatted by another user's program never sees a
/// request. The pipe is opened at identification level only, so the server
/// cannot impersonate this user.
pub fn connect(paths: &VaultPaths, read_timeout: Duration) -> Result<Conn, ConnectError> {
    let name = &paths.socket;
    let deadline = Instant::now() + BUSY_WAIT;
    let file = loop {
        match fs::OpenOptions::new()
            .read(true)
            .write(true)
            .security_qos_flags(SECURITY_IDENTIFICATION)
            .open(name)
        {
            Ok(f) => break f,
            Err(e)
                if e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32)
                    && Instant::now() < deadline =>
            {
                let wide: Vec<u16> = name
                    .as_os_str()
                    .encode_wide()
                    .chain(std::iter::once(0))
                    .collect();
                // SAFETY: `wide` is a NUL-terminated UTF-16 string. Its
                // result does not matter: the loop opens again either way.
                unsafe { WaitNamedPipeW(wide.as_ptr(), 1000) };
            }
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(ConnectError::NotRunning),
            Err(e) => return Err(ConnectError::Other(e)),
        }
    };
    let mut pid = 0u32;
    // SAFETY: the handle is our open pipe; `pid` is ours to write.
    if unsafe { GetNamedPipeServerProcessId(file.as_raw_handle() as HANDLE, &mut pid) } == 0 {
        return Err(ConnectError::Untrusted(format!(
            "cannot tell which process serves {}; stop it and start the daemon again",
            name.display()
        )));
    }
    match sv_fs::process_runs_as_me(pid) {
        Ok(true) => Ok(Conn { file, read_timeout }),
        Ok(false) => Err(ConnectError::Untrusted(format!(
            "the process serving {} (pid {pid}) runs as another user; stop it, then start the daemon again",
            name.display()
        ))),
        Err(e) => Err(ConnectError::Untrusted(format!(
            "cannot tell who serves {} (pid {pid}: {e}); stop it, then start the daemon again",
            name.display()
        ))),
    }
}

/// Windows has no exec: runs `cmd` with our stdio, waits, and exits with its
/// exit code; returns only if it cannot be started. Ctrl-C reaches both
/// processes (same console).
pub fn exec(cmd: &mut Command) -> std::io::Error {
    match cmd.status() {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(e) => e,
    }
}

/// Starts the child without a console, in its own process group (Ctrl-C in
/// this console does not reach it).
pub fn detach(cmd: &mut Command) {
    cmd.creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP);
}

/// `dir` and its missing parents; no mode on Windows (the ACL inherited
/// from the parent, `%LOCALAPPDATA%` or the profile, is the user's).
pub fn create_dir_all_mode(dir: &Path, _mode: u32) -> std::io::Result<()> {
    fs::DirBuilder::new().recursive(true).create(dir)
}
