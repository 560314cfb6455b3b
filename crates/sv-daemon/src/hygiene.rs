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
