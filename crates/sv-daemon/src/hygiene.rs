//! Process hygiene applied before any secret exists: private umask, not
//! dumpable (no ptrace attach by other same-uid processes, no core), no core
//! files, working directory `/`.

/// Applies the hygiene settings; returns a note for each one that failed.
pub fn harden() -> Vec<String> {
    let mut notes = Vec::new();
    // SAFETY: plain syscalls with constant arguments.
    unsafe {
        libc::umask(0o077);
        #[cfg(target_os = "linux")]
        if libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 {
            notes.push(format!(
                "PR_SET_DUMPABLE failed: {}",
                std::io::Error::last_os_error()
            ));
        }
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::setrlimit(libc::RLIMIT_CORE, &zero) != 0 {
            notes.push(format!(
                "RLIMIT_CORE=0 failed: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    // glibc gives each thread that allocates its own malloc arena; the
    // runtime's blocking threads would each keep one (tens of MiB of
    // resident memory under many clients). Two arenas serve two workers.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; called before other threads.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    if let Err(e) = std::env::set_current_dir("/") {
        notes.push(format!("chdir / failed: {e}"));
    }
    notes
}

/// Hands freed heap memory back to the kernel. Called after a large
/// response (a `list` of 100 000 sessions builds tens of MiB of JSON), which
/// glibc would otherwise keep resident for good.
pub fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The real uid of this process.
pub fn uid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

/// What the process observes of its own hardening, for `daemon status`.
pub fn observe() -> sv_core::ops::Hygiene {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_GET_DUMPABLE takes no pointer; it returns 0, 1 or 2.
    let dumpable = match unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) } {
        -1 => None,
        v => Some(v != 0),
    };
    #[cfg(not(target_os = "linux"))]
    let dumpable = None;
    // PR_GET_MDWE (Linux 6.3+); older kernels say EINVAL: unknown.
    #[cfg(target_os = "linux")]
    // SAFETY: takes no pointer.
    let deny_write_execute = match unsafe { libc::prctl(66, 0, 0, 0, 0) } {
        -1 => None,
        v => Some(v & 1 != 0),
    };
    #[cfg(not(target_os = "linux"))]
    let deny_write_execute = None;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    let core_limit = if unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut lim) } != 0
        || lim.rlim_cur == libc::RLIM_INFINITY
    {
        None
    } else {
        // rlim_t is not u64 on every target.
        #[allow(clippy::unnecessary_cast)]
        Some(lim.rlim_cur as u64)
    };
    let locked_kb = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmLck:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        });
    sv_core::ops::Hygiene {
        dumpable,
        core_limit,
        locked_kb,
        deny_write_execute,
    }
}

/// Re-executes this program with only the allow-listed environment
/// ([`sv_core::paths::DAEMON_ENV`]) when anything else is set, so that a key
/// exported in the shell that started the daemon (by hand, or by a service
/// manager) never sits in `/proc/PID/environ`. Returns only on failure, or
/// when the environment is already clean.
pub fn reexec_with_clean_env() -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let allowed = sv_core::paths::DAEMON_ENV;
    let dirty = std::env::vars_os().any(|(k, _)| !k.to_str().is_some_and(|k| allowed.contains(&k)));
    if !dirty {
        return Ok(());
    }
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find my own executable to drop the environment: {e}"))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(std::env::args_os().skip(1)).env_clear();
    for k in allowed {
        if let Some(v) = std::env::var_os(k) {
            cmd.env(k, v);
        }
    }
    let err = cmd.exec();
    Err(format!("cannot re-execute with a clean environment: {err}"))
}
