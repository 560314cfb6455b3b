//! Windows: the named pipe `\\.\pipe\session-vault-USER`, the pipe
//! client's process token for the peer check, console control events for
//! the stop signals. Compile-checked from Linux only; it has never run
//! (docs/windows.md).
//!
//! Weaker than Unix, by design of the platform:
//! - the caller's working directory cannot be read from the kernel (no
//!   `/proc`): [`CwdProbe`] knows nothing, and `get` uses the directory the
//!   client states in its request. The client is already verified to run as
//!   the same user, who could run any program in any directory anyway; but a
//!   same-user program can claim a directory it is not in;
//! - the counterpart of `PR_SET_DUMPABLE 0` is a process DACL (see
//!   [`hygiene::harden`]); nothing stands for `RLIMIT_CORE` (crash dumps
//!   follow Windows Error Reporting's settings); key pages are locked
//!   (VirtualLock) and zeroised as on Unix;
//! - no exec: a daemon started by hand keeps its environment (the CLI
//!   starts it with only `DAEMON_ENV`).

use super::SignalAction;
use crate::error::{setup, DaemonError};
use crate::peer::Peer;
use std::ffi::OsString;
use std::io;
use std::os::windows::ffi::OsStringExt;
use std::os::windows::io::AsRawHandle;
use std::path::PathBuf;
use sv_core::paths::VaultPaths;
use tokio::net::windows::named_pipe::{NamedPipeServer, PipeMode, ServerOptions};
use windows_sys::core::PWSTR;
use windows_sys::Win32::Foundation::{CloseHandle, LocalFree, HANDLE};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{PSECURITY_DESCRIPTOR, PSID, SECURITY_ATTRIBUTES};
use windows_sys::Win32::System::Pipes::GetNamedPipeClientProcessId;
use windows_sys::Win32::System::Threading::{
    OpenProcess, QueryFullProcessImageNameW, PROCESS_NAME_WIN32, PROCESS_QUERY_LIMITED_INFORMATION,
};

/// Windows has no uid. The daemon calls itself uid [`OWN_UID`]; a peer whose
/// token user (SID) is the daemon's gets [`OWN_UID`] too, any other peer
/// [`OTHER_UID`], so the uid comparison in `server.rs` refuses it.
pub const OWN_UID: u32 = 0;
/// See [`OWN_UID`].
pub const OTHER_UID: u32 = u32::MAX;

/// One accepted connection: a connected pipe instance.
pub type Stream = NamedPipeServer;

/// Splits a connection into a reading and a writing half.
pub fn split(stream: Stream) -> (Reader, tokio::io::WriteHalf<Stream>) {
    let (rd, wr) = tokio::io::split(stream);
    (Reader(rd), wr)
}

/// No user namespaces on Windows (no agent-tree marker yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserNamespace;

pub fn own_user_namespace() -> Option<UserNamespace> {
    None
}

/// Who sent a run of bytes: a named pipe tells no sender per message, so
/// this is always the pipe's client as [`peer_of`] read it
/// (docs/windows.md).
#[derive(Debug)]
pub struct Sender;

impl Sender {
    pub fn same_process(&self, _other: &Sender) -> bool {
        true
    }
}

/// The reading half of a connection.
pub struct Reader(tokio::io::ReadHalf<Stream>);

impl Reader {
    /// Reads into `buf`: how many bytes, and the sender (always the
    /// client).
    pub async fn recv(&mut self, buf: &mut [u8]) -> io::Result<(usize, Option<Sender>)> {
        use tokio::io::AsyncReadExt;
        let n = self.0.read(buf).await?;
        Ok((n, Some(Sender)))
    }
}

/// No runtime directory on Windows: the lock file sits in the data
/// directory (`runtime_dir` is the data directory, under `%LOCALAPPDATA%`,
/// whose inherited ACL admits only the user, SYSTEM and Administrators).
pub fn prepare_runtime_dir(paths: &VaultPaths, _uid: u32) -> Result<(), DaemonError> {
    sv_fs::private::create_dir_all(&paths.runtime_dir).map_err(setup("create", &paths.runtime_dir))
}

/// One pipe instance waiting for a client; a fresh one is created before
/// each connected instance is handed over, so the name never disappears.
pub struct Listener {
    name: String,
    security: PipeSecurity,
    next: NamedPipeServer,
}

/// The pipe's security descriptor, the counterpart of the socket's 0600:
/// full access for this user's SID and SYSTEM, nothing for anyone else
/// (the default descriptor would let Everyone open the pipe for reading).
struct PipeSecurity(PSECURITY_DESCRIPTOR);

impl PipeSecurity {
    fn for_current_user() -> io::Result<Self> {
        let sid = sv_fs::current_user_sid()?;
        let mut text: PWSTR = std::ptr::null_mut();
        // SAFETY: `sid` holds a valid binary SID (read, not written);
        // `text` receives a LocalAlloc'd NUL-terminated string.
        if unsafe { ConvertSidToStringSidW(sid.as_ptr() as PSID, &mut text) } == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `text` is NUL-terminated; freed once, after the copy.
        let sid_text = unsafe {
            let len = (0..).take_while(|&i| *text.add(i) != 0).count();
            let s = String::from_utf16_lossy(std::slice::from_raw_parts(text, len));
            LocalFree(text.cast());
            s
        };
        let sddl: Vec<u16> = format!("D:P(A;;GA;;;SY)(A;;GA;;;{sid_text})")
            .encode_utf16()
            .chain(std::iter::once(0))
            .collect();
        let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: `sddl` is NUL-terminated; `sd` receives a LocalAlloc'd
        // descriptor, freed on drop.
        if unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                sddl.as_ptr(),
                SDDL_REVISION_1,
                &mut sd,
                std::ptr::null_mut(),
            )
        } == 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(PipeSecurity(sd))
    }
}

impl Drop for PipeSecurity {
    fn drop(&mut self) {
        // SAFETY: allocated by the conversion in `for_current_user`.
        unsafe { LocalFree(self.0) };
    }
}

/// A pipe instance: byte stream (the same newline-framed JSON-RPC as the
/// socket), local clients only, closed to other users.
fn pipe_instance(name: &str, security: &PipeSecurity, first: bool) -> io::Result<NamedPipeServer> {
    let mut attrs = SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: security.0,
        bInheritHandle: 0,
    };
    // SAFETY: `attrs` is a valid SECURITY_ATTRIBUTES whose descriptor lives
    // in `security`, which outlives this call.
    unsafe {
        ServerOptions::new()
            .first_pipe_instance(first)
            .reject_remote_clients(true)
            .pipe_mode(PipeMode::Byte)
            .create_with_security_attributes_raw(
                name,
                (&mut attrs as *mut SECURITY_ATTRIBUTES).cast(),
            )
    }
}

/// Creates the first instance of the pipe. `first_pipe_instance` makes this
/// fail when the name exists already: a second daemon (which the lock file
/// stops earlier), or another program squatting on the name.
pub fn bind(paths: &VaultPaths) -> Result<Listener, DaemonError> {
    let name = paths.socket.to_string_lossy().into_owned();
    let security = PipeSecurity::for_current_user().map_err(|e| {
        DaemonError::Setup(format!(
            "cannot build the security descriptor of the pipe {name}: {e}"
        ))
    })?;
    let next = pipe_instance(&name, &security, true).map_err(|e| {
        DaemonError::Setup(format!(
            "cannot create the pipe {name}: {e}; another program holds that name (is another sv-daemon running? `session-vault daemon stop`)"
        ))
    })?;
    Ok(Listener {
        name,
        security,
        next,
    })
}

impl Listener {
    /// The next connected client. Cancel-safe: `connect` keeps no state
    /// outside the instance, which stays in `self.next` until it connects.
    pub async fn accept(&mut self) -> io::Result<Stream> {
        self.next.connect().await?;
        let fresh = pipe_instance(&self.name, &self.security, false)?;
        Ok(std::mem::replace(&mut self.next, fresh))
    }

    /// Stops listening: the name goes with the last instance.
    pub fn close(self, _paths: &VaultPaths) {
        drop(self.next);
    }
}

/// No `/proc` on Windows: the daemon cannot read another process's working
/// directory (short of reading its memory), so it knows nothing here and
/// `get` falls back to the directory the (same-user) client states.
pub struct CwdProbe;

impl CwdProbe {
    pub fn new(_pid: i32) -> Self {
        CwdProbe
    }

    pub fn read(&mut self) -> Option<PathBuf> {
        None
    }
}

/// A handle closed on drop.
struct OwnedHandle(HANDLE);

impl Drop for OwnedHandle {
    fn drop(&mut self) {
        // SAFETY: we own the handle and close it once.
        unsafe {
            CloseHandle(self.0);
        }
    }
}

/// Opens `pid` for querying.
fn open_process(pid: u32) -> io::Result<OwnedHandle> {
    // SAFETY: plain call; a null handle means failure.
    let h = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if h.is_null() {
        return Err(io::Error::last_os_error());
    }
    Ok(OwnedHandle(h))
}

/// The full path of process `pid`'s executable, for the audit log.
fn process_image(pid: u32) -> Option<PathBuf> {
    let process = open_process(pid).ok()?;
    let mut buf = vec![0u16; 32 * 1024];
    let mut len = buf.len() as u32;
    // SAFETY: `buf` holds `len` u16s; on success `len` is the length written.
    if unsafe {
        QueryFullProcessImageNameW(process.0, PROCESS_NAME_WIN32, buf.as_mut_ptr(), &mut len)
    } == 0
    {
        return None;
    }
    buf.truncate(len as usize);
    Some(PathBuf::from(OsString::from_wide(&buf)))
}

/// Who is at the other end of the pipe: its process id from the pipe, its
/// user from that process's token. `None` (the connection is refused) when
/// either cannot be read, e.g. a process of another user that this one may
/// not open.
pub fn peer_of(stream: &Stream) -> Option<Peer> {
    let mut pid = 0u32;
    // SAFETY: the handle is the live, connected pipe instance.
    if unsafe { GetNamedPipeClientProcessId(stream.as_raw_handle() as HANDLE, &mut pid) } == 0 {
        return None;
    }
    let mine = sv_fs::process_runs_as_me(pid).ok()?;
    Some(Peer {
        uid: if mine { OWN_UID } else { OTHER_UID },
        pid: i32::try_from(pid).ok(),
        cwd: None,
        exe: process_image(pid),
        pin: None,
        // No marker for agent trees on Windows yet (docs/callers.md).
        agent_tree: Some(false),
    })
}

/// Console control events that stop the daemon: Ctrl-C, Ctrl-Break, the
/// console closing, system shutdown. A detached daemon has no console and
/// gets none of them; it stops on `session-vault daemon stop`. SIGUSR1's
/// "lock now" has no counterpart: `session-vault lock` does it.
pub struct Signals {
    ctrl_c: Option<tokio::signal::windows::CtrlC>,
    ctrl_break: Option<tokio::signal::windows::CtrlBreak>,
    close: Option<tokio::signal::windows::CtrlClose>,
    shutdown: Option<tokio::signal::windows::CtrlShutdown>,
}

/// Waits on an optional event source; one that could not be registered
/// never fires.
macro_rules! on {
    ($slot:expr) => {
        async {
            match $slot.as_mut() {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        }
    };
}

impl Signals {
    /// Registers what it can: a process without a console may not get
    /// every handler, which must not stop the daemon from serving.
    pub fn new() -> Result<Self, DaemonError> {
        use tokio::signal::windows as w;
        Ok(Signals {
            ctrl_c: w::ctrl_c().ok(),
            ctrl_break: w::ctrl_break().ok(),
            close: w::ctrl_close().ok(),
            shutdown: w::ctrl_shutdown().ok(),
        })
    }

    /// The next event. Cancel-safe (used in `select!`).
    pub async fn recv(&mut self) -> SignalAction {
        tokio::select! {
            _ = on!(self.ctrl_c) => SignalAction::Stop("Ctrl-C"),
            _ = on!(self.ctrl_break) => SignalAction::Stop("Ctrl-Break"),
            _ = on!(self.close) => SignalAction::Stop("console close"),
            _ = on!(self.shutdown) => SignalAction::Stop("system shutdown"),
        }
    }
}

/// Process hygiene on Windows (the Unix one is `crate::hygiene`).
pub mod hygiene {
    /// What Windows applies of the Unix hardening: the process DACL of
    /// [`restrict_process_access`] (for `PR_SET_DUMPABLE 0`) and the working
    /// directory. Nothing stands for `RLIMIT_CORE` (crash dumps follow
    /// Windows Error Reporting's settings). Key pages are locked with
    /// VirtualLock (sv-core) and zeroised on drop.
    pub fn harden() -> Vec<String> {
        let mut notes = Vec::new();
        if let Err(e) = restrict_process_access() {
            notes.push(format!("cannot restrict access to this process: {e}"));
        }
        // Hold no handle on the caller's directory (it could not be deleted).
        if let Err(e) = std::env::set_current_dir("/") {
            notes.push(format!("chdir \\ failed: {e}"));
        }
        notes
    }

    /// The daemon's process DACL, the counterpart of `PR_SET_DUMPABLE 0`:
    /// the user's other processes may only wait for it, query its identity
    /// (the CLI reads its token user) and terminate it; they may not read or
    /// write its memory, inject a thread, or change this DACL (the OWNER
    /// RIGHTS ace replaces the owner's implicit READ_CONTROL and WRITE_DAC).
    /// SYSTEM keeps full access, and an administrator with SeDebugPrivilege
    /// still gets in, as root does on Linux. Handles opened before (the
    /// parent's, from CreateProcess) keep their access.
    fn restrict_process_access() -> std::io::Result<()> {
        use windows_sys::Win32::Foundation::LocalFree;
        use windows_sys::Win32::Security::Authorization::{
            ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
        };
        use windows_sys::Win32::Security::{
            SetKernelObjectSecurity, DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR,
        };
        use windows_sys::Win32::System::Threading::GetCurrentProcess;
        // Protected DACL: SYSTEM PROCESS_ALL_ACCESS; owner SYNCHRONIZE |
        // PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_TERMINATE.
        const SDDL: &str = "D:P(A;;0x1fffff;;;SY)(A;;0x101001;;;OW)";
        let wide: Vec<u16> = SDDL.encode_utf16().chain(std::iter::once(0)).collect();
        let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: `wide` is NUL-terminated; `sd` receives a LocalAlloc'd
        // descriptor, freed below.
        if unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                wide.as_ptr(),
                SDDL_REVISION_1,
                &mut sd,
                std::ptr::null_mut(),
            )
        } == 0
        {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the pseudo handle of this process has full access; `sd`
        // is the valid descriptor made above.
        let ok =
            unsafe { SetKernelObjectSecurity(GetCurrentProcess(), DACL_SECURITY_INFORMATION, sd) };
        let err = std::io::Error::last_os_error();
        // SAFETY: `sd` was allocated by the conversion above, freed once.
        unsafe { LocalFree(sd) };
        if ok == 0 {
            return Err(err);
        }
        Ok(())
    }

    /// glibc's `malloc_trim` has no counterpart to call: a no-op.
    pub fn release_memory() {}

    /// Windows has no uid: see [`super::OWN_UID`].
    pub fn uid() -> u32 {
        super::OWN_UID
    }

    /// Nothing the status can report: no dumpable flag (the DACL is not
    /// read back), no core limit, no `VmLck` on Windows.
    pub fn observe() -> sv_core::ops::Hygiene {
        sv_core::ops::Hygiene {
            dumpable: None,
            core_limit: None,
            locked_kb: None,
            deny_write_execute: None,
        }
    }

    /// No exec on Windows, so no re-execution with a clean environment: the
    /// CLI starts the daemon with only `DAEMON_ENV`; a daemon started by
    /// hand keeps its environment (readable by the same user only).
    pub fn reexec_with_clean_env() -> Result<(), String> {
        Ok(())
    }
}

/// `sd_notify` has no Windows counterpart (no systemd): a no-op.
pub mod notify {
    pub fn notify(_state: &str) {}
}
