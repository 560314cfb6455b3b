//! The daemon's clock for expiry: the wall clock read once, advanced by
//! `CLOCK_BOOTTIME` (see [`sv_core::ttl::SteadyClock`]), so that setting the
//! system clock back or forward while the daemon runs neither extends nor
//! kills a session. `CLOCK_BOOTTIME` keeps counting through suspend, so a
//! laptop that slept past a session's TTL still finds it expired. Windows:
//! `GetTickCount64`, which counts sleep too.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use sv_core::ttl::SteadyClock;

fn wall() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Time since boot, suspend included; `None` if the kernel cannot say.
#[cfg(windows)]
fn steady() -> Option<Duration> {
    // Milliseconds since boot, sleep and hibernation included.
    // SAFETY: GetTickCount64 has no preconditions.
    Some(Duration::from_millis(unsafe {
        windows_sys::Win32::System::SystemInformation::GetTickCount64()
    }))
}

/// Time since boot, suspend included; `None` if the kernel cannot say.
#[cfg(unix)]
fn steady() -> Option<Duration> {
    #[cfg(target_os = "linux")]
    let id = libc::CLOCK_BOOTTIME;
    #[cfg(not(target_os = "linux"))]
    let id = libc::CLOCK_MONOTONIC;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    if unsafe { libc::clock_gettime(id, &mut ts) } != 0 {
        return None;
    }
    Some(Duration::new(
        u64::try_from(ts.tv_sec).ok()?,
        u32::try_from(ts.tv_nsec).ok()?,
    ))
}

/// Unix seconds for the expiry rules.
pub fn now() -> i64 {
    static CLOCK: OnceLock<Option<SteadyClock>> = OnceLock::new();
    let clock = CLOCK.get_or_init(|| steady().map(|s| SteadyClock::new(wall(), s)));
    match (clock, steady()) {
        (Some(c), Some(s)) => c.now(s),
        // No steady clock on this system: the wall clock is all there is.
        _ => wall(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn follows_real_time() {
        let a = super::now();
        let wall = super::wall();
        assert!((a - wall).abs() <= 1, "starts at the wall clock");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert!(super::now() > a, "advances");
    }
}
