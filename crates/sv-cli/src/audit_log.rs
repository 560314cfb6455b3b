//! `session-vault log`: the daemon's audit log, as a table or JSON, and the
//! lock lines of `daemon status`.

use crate::cli::LogArgs;
use crate::client;
use crate::error::{CliError, Result};
use std::io::Write;
use sv_core::ops::{format_utc, parse_since, AuditEntry, LogParams, LogResult, ProxiedRequest};
use sv_core::paths::VaultPaths;
use sv_core::protocol::{self as p, method, StatusResult};

pub fn run(paths: &VaultPaths, a: LogArgs) -> Result<u8> {
    let since = match &a.since {
        None => None,
        Some(s) => {
            let age = parse_since(s).map_err(CliError::Usage)?;
            Some(now().saturating_sub(age))
        }
    };
    let mut c = client::connect_or_start(paths)?;
    let r: LogResult = c.call(
        method::LOG,
        LogParams {
            tool: a.tool,
            since,
            denied: a.denied,
            limit: Some(a.limit),
        },
    )?;
    let text = if a.json {
        let json = serde_json::to_string_pretty(&r.entries)
            .map_err(|e| CliError::Failed(format!("cannot encode the records: {e}")))?;
        format!("{json}\n")
    } else {
        render(&r.entries)
    };
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())
        .and_then(|_| o.flush())
        .map_err(|e| CliError::Failed(format!("cannot write to stdout: {e}")))?;
    Ok(0)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

const HEAD: [&str; 7] = [
    "TIME (UTC)",
    "OUTCOME",
    "TOOL",
    "SESSION",
    "PID",
    "EXE",
    "CWD / REQUEST",
];

/// A proxied request in one cell: `POST api.anthropic.com/v1/messages?beta
/// -> 200, 12 B up, 340 B down, 45 ms` (query names only, never values).
fn request_cell(q: &ProxiedRequest) -> String {
    format!(
        "{} {}{} -> {}, {} B up, {} B down, {} ms",
        q.method,
        q.host.as_deref().unwrap_or(""),
        q.path,
        q.status,
        q.bytes_up,
        q.bytes_down,
        q.duration_ms
    )
}

/// `Proxy: 127.0.0.1:PORT` (`daemon status`).
pub fn proxy_line(st: &StatusResult) -> String {
    match &st.proxy {
        Some(p::ProxyStatus {
            listen: Some(addr),
            note,
        }) => {
            let mut s = format!("Proxy:            {addr}\n");
            if let Some(n) = note {
                s += &format!("Proxy warning:    {n}\n");
            }
            s
        }
        Some(p::ProxyStatus { listen: None, note }) => format!(
            "Proxy:            not running ({})\n",
            note.as_deref().unwrap_or("see the daemon's log")
        ),
        None => "Proxy:            not running\n".to_owned(),
    }
}

fn render(entries: &[AuditEntry]) -> String {
    let dash = || "-".to_owned();
    let rows: Vec<[String; 7]> = entries
        .iter()
        .map(|e| {
            [
                format_utc(e.time),
                e.outcome.as_str().to_owned(),
                e.tool.clone().unwrap_or_else(dash),
                e.session_id
                    .as_deref()
                    .map(|s| s.chars().take(8).collect())
                    .unwrap_or_else(dash),
                e.pid.map(|p| p.to_string()).unwrap_or_else(dash),
                e.exe.clone().unwrap_or_else(dash),
                match &e.request {
                    Some(q) => request_cell(q),
                    None => e.cwd.clone().unwrap_or_else(dash),
                },
            ]
        })
        .collect();
    let mut w = HEAD.map(str::len);
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: [&str; 7]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == cells.len() - 1 {
                s += c;
            } else {
                s += &format!("{c:<width$}  ", width = w[i]);
            }
        }
        s.push('\n');
        s
    };
    let mut s = line(HEAD);
    for r in &rows {
        s += &line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6]]);
    }
    s
}

/// `Locked: yes (since …)` and, when set, the auto-lock delay.
pub fn lock_lines(st: &StatusResult) -> String {
    let mut s = match (st.locked, st.locked_since) {
        (true, Some(t)) => format!("Locked:           yes (since {} UTC)\n", format_utc(t)),
        (true, None) => "Locked:           yes\n".to_owned(),
        (false, _) => "Locked:           no\n".to_owned(),
    };
    if let Some(secs) = st.lock_after {
        s += &format!("Auto-lock:        after {secs}s idle\n");
    }
    s
}

/// What the daemon reports of its own hardening (`daemon status --verbose`).
pub fn hygiene_lines(st: &StatusResult) -> String {
    let Some(h) = &st.hygiene else {
        return String::new();
    };
    let yes_no = |b: Option<bool>, yes: &str, no: &str| match b {
        Some(true) => yes.to_owned(),
        Some(false) => no.to_owned(),
        None => "unknown".to_owned(),
    };
    let mut s = String::new();
    s += &format!(
        "Dumpable:         {}\n",
        yes_no(
            h.dumpable,
            "yes (WARNING: memory can be read by a debugger)",
            "no"
        )
    );
    s += &format!(
        "Core dumps:       {}\n",
        match h.core_limit {
            Some(0) => "off".to_owned(),
            Some(n) => format!("up to {n} bytes"),
            None => "unlimited".to_owned(),
        }
    );
    if let Some(kb) = h.locked_kb {
        s += &format!("Locked memory:    {kb} kB\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use sv_core::ops::AuditOutcome;

    #[test]
    fn table_has_one_row_per_record() {
        let e = AuditEntry {
            id: 1,
            time: 0,
            tool: Some("claude".into()),
            session_id: Some("0123456789abcdef".into()),
            outcome: AuditOutcome::Served,
            pid: Some(7),
            exe: None,
            cwd: Some("/p".into()),
            request: None,
        };
        let t = render(&[e]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].starts_with("1970-01-01 00:00:00  served "), "{t}");
        assert!(
            lines[1].contains(" 01234567 ") && lines[1].ends_with("/p"),
            "{t}"
        );
    }
}
