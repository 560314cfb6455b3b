//! "Runs as me" on Windows: the user (SID) of a process's token, the
//! counterpart of comparing `SO_PEERCRED` uids. Used by the daemon on its
//! clients and by the CLI on the pipe's server. Compile-checked from Linux
//! only (docs/windows.md).

use std::io;
use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
use windows_sys::Win32::Security::{
    GetLengthSid, GetTokenInformation, TokenUser, TOKEN_QUERY, TOKEN_USER,
};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION,
};

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

/// The binary SID of the user that `process`'s token runs as.
fn token_user_sid(process: HANDLE) -> io::Result<Vec<u8>> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: `process` is a live process handle; `token` is ours to write.
    if unsafe { OpenProcessToken(process, TOKEN_QUERY, &mut token) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let token = OwnedHandle(token);
    let mut len = 0u32;
    // SAFETY: a size query: no buffer, the needed length is written to `len`.
    unsafe { GetTokenInformation(token.0, TokenUser, std::ptr::null_mut(), 0, &mut len) };
    if len == 0 {
        return Err(io::Error::last_os_error());
    }
    // u64 cells: the TOKEN_USER at the start of the buffer is pointer-aligned.
    let mut buf = vec![0u64; (len as usize).div_ceil(8)];
    // SAFETY: `buf` holds at least `len` writable bytes.
    if unsafe { GetTokenInformation(token.0, TokenUser, buf.as_mut_ptr().cast(), len, &mut len) }
        == 0
    {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success the buffer starts with a TOKEN_USER whose SID
    // pointer points into the same buffer, which outlives these reads.
    let sid = unsafe {
        let user = &*(buf.as_ptr() as *const TOKEN_USER);
        let sid = user.User.Sid;
        let n = GetLengthSid(sid) as usize;
        std::slice::from_raw_parts(sid as *const u8, n).to_vec()
    };
    Ok(sid)
}

/// The binary SID of the user this process runs as.
pub fn current_user_sid() -> io::Result<Vec<u8>> {
    // SAFETY: the pseudo handle of the current process needs no closing.
    token_user_sid(unsafe { GetCurrentProcess() })
}

/// Whether process `pid` runs as the same user (token user SID) as this one.
pub fn process_runs_as_me(pid: u32) -> io::Result<bool> {
    let me = current_user_sid()?;
    // SAFETY: plain call; a null handle means failure.
    let h = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if h.is_null() {
        return Err(io::Error::last_os_error());
    }
    let other = OwnedHandle(h);
    // Binary SIDs are canonical: equal bytes is what EqualSid compares.
    Ok(token_user_sid(other.0)? == me)
}
