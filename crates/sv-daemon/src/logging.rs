//! Where the daemon's log lines go: stderr with timestamps, or, when
//! stderr is systemd's journal stream, one line per event prefixed with the
//! syslog priority (`<6>` info, `<4>` warning, …) and no timestamp, which the
//! journal adds itself (see `sd-daemon(3)`).
//!
//! Levels: `info` by default, `debug` with `--verbose`, one level through
//! `RUST_LOG` (`error`, `warn`, `info`, `debug`, `trace`, `off`; per-module
//! filters would need a regex engine this daemon does without). No log line carries a secret at any
//! level: the code only ever logs ids, tools, paths and pids.

use std::fmt::Write as _;
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
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false);
    let _ = if stderr_is_journal() {
        builder.event_format(JournalFormat).try_init()
    } else {
        builder.try_init()
    };
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
