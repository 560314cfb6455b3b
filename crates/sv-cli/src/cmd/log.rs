//! `session-vault log`: the daemon's audit log, as a table or JSON.

use crate::cli::LogArgs;
use crate::client;
use crate::error::{CliError, Result};
use crate::output::{escape_control, print, render_table};
use sv_core::ops::{format_utc, parse_since, AuditEntry, LogParams, LogResult};
use sv_core::paths::VaultPaths;
use sv_core::protocol::method;

pub fn run(paths: &VaultPaths, a: LogArgs) -> Result {
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
        table(&r.entries)
    };
    print(&text)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A proxied request in one cell: `POST api.anthropic.com/v1/messages?beta
/// -> 200, 12 B up, 340 B down, 45 ms` (query names only, never values).
fn request_cell(q: &sv_core::ops::ProxiedRequest) -> String {
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

/// One row per record. The tool, executable and directory are the
/// caller's: escaped before they reach the terminal.
fn table(entries: &[AuditEntry]) -> String {
    let dash = || "-".to_owned();
    let outside = |s: &Option<String>| {
        s.as_deref()
            .map_or_else(dash, |s| escape_control(s).into_owned())
    };
    let cells: Vec<[String; 7]> = entries
        .iter()
        .map(|AuditEntry { record: e, .. }| {
            [
                format_utc(e.time),
                e.outcome.as_str().to_owned(),
                outside(&e.tool),
                e.session_id
                    .as_deref()
                    .map(|s| escape_control(&s.chars().take(8).collect::<String>()).into_owned())
                    .unwrap_or_else(dash),
                e.pid.map(|p| p.to_string()).unwrap_or_else(dash),
                outside(&e.exe),
                match &e.request {
                    Some(q) => escape_control(&request_cell(q)).into_owned(),
                    None => outside(&e.cwd),
                },
            ]
        })
        .collect();
    let head = [
        "TIME (UTC)",
        "OUTCOME",
        "TOOL",
        "SESSION",
        "PID",
        "EXE",
        "CWD / REQUEST",
    ];
    // The rule that refused (or was confirmed) in a column of its own, when
    // a record names one (docs/design.md §11).
    if entries.iter().any(|e| e.record.rule.is_some()) {
        let rules: Vec<String> = entries.iter().map(|e| outside(&e.record.rule)).collect();
        let rows: Vec<[&str; 8]> = cells
            .iter()
            .zip(&rules)
            .map(|(r, rule)| {
                let [a, b, c, d, e, f, g] = r.each_ref().map(String::as_str);
                [a, b, c, d, e, f, g, rule.as_str()]
            })
            .collect();
        let [a, b, c, d, e, f, g] = head;
        return render_table([a, b, c, d, e, f, g, "RULE"], &rows);
    }
    let rows: Vec<[&str; 7]> = cells
        .iter()
        .map(|r| r.each_ref().map(String::as_str))
        .collect();
    render_table(head, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sv_core::ops::{AuditOutcome, AuditRecord};

    #[test]
    fn table_has_one_row_per_record() {
        let e = AuditEntry {
            id: 1,
            record: AuditRecord {
                time: 0,
                tool: Some("claude".into()),
                session_id: Some("0123456789abcdef".into()),
                outcome: AuditOutcome::Served,
                pid: Some(7),
                exe: None,
                cwd: Some("/p".into()),
                request: None,
                rule: None,
            },
        };
        let t = table(std::slice::from_ref(&e));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].starts_with("1970-01-01 00:00:00  served "), "{t}");
        assert!(
            lines[1].contains(" 01234567 ") && lines[1].ends_with("/p"),
            "{t}"
        );
        assert!(!t.contains("RULE"), "{t}");
        let refused = AuditEntry {
            id: 2,
            record: AuditRecord {
                outcome: AuditOutcome::RefusedAllowExe,
                rule: Some("allow-exe /usr/bin/node".into()),
                ..e.record.clone()
            },
        };
        let t = table(&[e, refused]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].ends_with("RULE"), "{t}");
        assert!(lines[1].trim_end().ends_with("-"), "{t}");
        assert!(
            lines[2].contains("refused_allow_exe") && lines[2].ends_with("allow-exe /usr/bin/node"),
            "{t}"
        );
    }
}
