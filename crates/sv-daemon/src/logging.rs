//! Where the daemon's log lines go: stderr with timestamps, or, when
//! stderr is systemd's journal stream, one line per event prefixed with the
//! syslog priority (`<6>` info, `<4>` warning, …) and no timestamp, which the
//! journal adds itself (see `sd-daemon(3)`).
//!
//! Levels: `info` by default, `debug` with `--verbose`, one level through
//! `RUST_LOG` (`error`, `warn`, `info`, `debug`, `trace`, `off`; per-module
//! filters would need a regex engine this daemon does without). No log line carries a secret at any
//! level: the code only ever logs ids, tools, paths and pids.
//!
//! The log cannot be flooded. Every refusal a client can repeat at will (a
//! lookup with no credential, a caller rule, no confirmation, an agent
//! tree, an unknown sender, a frame over 64 KiB, another user; see
//! [`Refused`]) is recorded in the audit table (`session-vault log`) where
//! it names a request; the log gets each at `debug` only, plus at most one
//! summary line per [`REFUSAL_SUMMARY_EVERY`] ("refused N requests…").
//! And when stderr is a regular file (`sv-daemon.log`, opened by the CLI
//! that started the daemon), it is cut back to empty once it passes
//! [`LOG_CAP`], with a line saying so.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Installs the global subscriber; a second call does nothing.
pub fn init(verbose: bool) {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.trim().parse::<LevelFilter>().ok())
        .unwrap_or(if verbose {
            LevelFilter::DEBUG
        } else {
            LevelFilter::INFO
        });
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(capped_stderr)
        .with_ansi(false)
        .with_target(false);
    let _ = if stderr_is_journal() {
        builder.event_format(JournalFormat).try_init()
    } else {
        builder.try_init()
    };
}

/// Largest size of a log file on stderr before it is cut back (Unix only).
#[cfg(unix)]
pub const LOG_CAP: u64 = 1024 * 1024;

/// Stderr, cut back to empty when it is a regular file over [`LOG_CAP`].
fn capped_stderr() -> std::io::Stderr {
    #[cfg(unix)]
    {
        use std::io::Write;
        // SAFETY: fstat on fd 2 into a zeroed struct we own.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(2, &mut st) } == 0
            && (st.st_mode & libc::S_IFMT) == libc::S_IFREG
            && st.st_size as u64 > LOG_CAP
        {
            // SAFETY: truncating our own stderr; it is opened for appending,
            // so the next write starts at the new end.
            if unsafe { libc::ftruncate(2, 0) } == 0 {
                let _ = writeln!(
                    std::io::stderr(),
                    "sv-daemon: log passed {} KiB and was cut back; the audit table keeps every request (`session-vault log`)",
                    LOG_CAP / 1024
                );
            }
        }
    }
    std::io::stderr()
}

/// How often at most a summary of refused requests is logged.
pub const REFUSAL_SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// What a client can have refused as often as it likes; each is logged at
/// `debug` by its caller and counted here for the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No credential in scope, vault locked, unreadable directory.
    Lookup,
    /// A session's caller rule (`--allow-exe`).
    Rule,
    /// A `confirm` session the user did not confirm.
    NotConfirmed,
    /// A caller inside an agent tree.
    AgentTree,
    /// A frame whose sending process is not known.
    UnknownSender,
    /// A frame over 64 KiB.
    LargeFrame,
    /// A connection from another user, or whose credentials cannot be read.
    OtherUser,
}

impl Refused {
    const ALL: [Refused; 7] = [
        Refused::Lookup,
        Refused::Rule,
        Refused::NotConfirmed,
        Refused::AgentTree,
        Refused::UnknownSender,
        Refused::LargeFrame,
        Refused::OtherUser,
    ];

    fn what(self) -> &'static str {
        match self {
            Refused::Lookup => {
                "lookups (no credential in scope, vault locked, or unknown directory)"
            }
            Refused::Rule => "by a caller rule",
            Refused::NotConfirmed => "not confirmed",
            Refused::AgentTree => "from an agent tree",
            Refused::UnknownSender => "from an unknown sender",
            Refused::LargeFrame => "frames over 64 KiB",
            Refused::OtherUser => "connections from another user or an unknown one",
        }
    }
}

static REFUSED: [AtomicU64; Refused::ALL.len()] = [const { AtomicU64::new(0) }; Refused::ALL.len()];
static LAST_SUMMARY: Mutex<Option<Instant>> = Mutex::new(None);

/// Counts one refusal (logged at `debug` by the caller); logs one `info`
/// line with the counts since the last one when that is old enough, so a
/// client looping on any refusal cannot grow the log.
pub fn note_refusal(kind: Refused) {
    REFUSED[kind as usize].fetch_add(1, Ordering::Relaxed);
    let now = Instant::now();
    let Ok(mut last) = LAST_SUMMARY.try_lock() else {
        return;
    };
    if last.is_some_and(|t| now.duration_since(t) < REFUSAL_SUMMARY_EVERY) {
        return;
    }
    *last = Some(now);
    let mut total = 0;
    let mut parts = Vec::new();
    for k in Refused::ALL {
        let n = REFUSED[k as usize].swap(0, Ordering::Relaxed);
        if n > 0 {
            total += n;
            parts.push(format!("{n} {}", k.what()));
        }
    }
    tracing::info!(
        refused = total,
        "refused {total} request{} since the last summary: {}; `session-vault log` lists them (not oversized frames or connections it cannot identify), `--verbose` logs each",
        if total == 1 { "" } else { "s" },
        parts.join(", ")
    );
}

/// True when `JOURNAL_STREAM` names the very file stderr is (systemd sets
/// it to `DEVICE:INODE`; a child that inherited the variable but not the
/// stream must not use the journal's format).
fn stderr_is_journal() -> bool {
    let Some(v) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    same_file_as_stderr(dev, ino)
}

#[cfg(unix)]
fn same_file_as_stderr(dev: u64, ino: u64) -> bool {
    // SAFETY: fstat on fd 2 into a zeroed struct we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(2, &mut st) } != 0 {
        return false;
    }
    st.st_dev as u64 == dev && st.st_ino as u64 == ino
}

/// No journal on Windows.
#[cfg(not(unix))]
fn same_file_as_stderr(_dev: u64, _ino: u64) -> bool {
    false
}

/// The syslog priority the journal reads from a line's `<N>` prefix.
fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// `<N>message key=value …`, one line per event.
struct JournalFormat;

impl<S, N> FormatEvent<S, N> for JournalFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut line = String::new();
        ctx.field_format()
            .format_fields(Writer::new(&mut line), event)?;
        // The journal splits entries at newlines: keep one event one entry.
        let line = line.replace('\n', " ");
        let mut out = String::with_capacity(line.len() + 5);
        write!(out, "<{}>{line}", priority(event.metadata().level()))?;
        writeln!(writer, "{out}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities() {
        assert_eq!(priority(&Level::ERROR), 3);
        assert_eq!(priority(&Level::WARN), 4);
        assert_eq!(priority(&Level::INFO), 6);
        assert_eq!(priority(&Level::DEBUG), 7);
        assert_eq!(priority(&Level::TRACE), 7);
    }
}
