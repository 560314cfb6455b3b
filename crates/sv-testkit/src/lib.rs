//! Test and benchmark tools for session-vault's credential proxy
//! (docs/design.md §10): a mock provider API that speaks just enough of the
//! Anthropic Messages, OpenAI Responses and Gemini APIs for the real agents
//! to complete a prompt, served over TLS with a CA it makes itself, and a
//! keep-alive load client. Nothing here talks to a real provider, and none
//! of it is shipped: the binaries exist for tests, CI and bench scripts.

pub mod agents;
pub mod load;
pub mod mock;
pub mod tls;

/// CLOCK_MONOTONIC in nanoseconds: the one clock the mock and the load
/// client share on a machine, so that an event stamped by the mock can be
/// timed on arrival by the client (one-way delay, proxy included).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
