//! `session-vault list [--json] [--tool T] [--project DIR]`: the stored
//! sessions, never their secrets.

use crate::cli::ListArgs;
use crate::client;
use crate::config::project_filter;
use crate::error::Result;
use crate::output::{escape_control, print, render_table};
use std::borrow::Cow;
use sv_core::paths::VaultPaths;
use sv_core::protocol::{self as p, method};
use sv_core::ttl::format_remaining;

/// A session's caller rules in one cell (docs/design.md §11):
/// `confirm, allow-exe /usr/bin/node`, or `-`.
fn rules_cell(confirm: bool, allow_exe: &[std::borrow::Cow<'_, str>]) -> Cow<'static, str> {
    if !confirm && allow_exe.is_empty() {
        // Most sessions: no allocation per row of a long list.
        return Cow::Borrowed("-");
    }
    let summary = sv_core::rules::CallerRules {
        confirm,
        allow_exe: allow_exe
            .iter()
            .map(|p| sv_core::rules::AllowedExe {
                path: p.to_string(),
                dev: 0,
                ino: 0,
            })
            .collect(),
    }
    .summary();
    Cow::Owned(escape_control(&summary).into_owned())
}

pub fn run(paths: &VaultPaths, a: ListArgs) -> Result {
    let project = a.project.as_deref().map(project_filter);
    let mut c = client::connect_or_start(paths)?;
    let params = p::ListParams {
        tool: a.tool,
        project,
        // The table needs five columns: ask for just those.
        brief: !a.json,
    };
    let text = c.call_with(method::LIST, params, |line| {
        if a.json {
            let r: p::ListResult<p::ListRow<'_>> = client::read_response(line)?;
            let infos: Vec<p::SessionInfo> = r.sessions.iter().map(p::ListRow::to_info).collect();
            let mut text = serde_json::to_string_pretty(&infos).unwrap_or_default();
            text.push('\n');
            return Ok(text);
        }
        let r: p::ListResult<p::BriefRow<'_>> = client::read_response(line)?;
        // Tool names and project paths come from whoever added the session.
        let cells: Vec<[_; 6]> = r
            .sessions
            .iter()
            .map(|s| {
                [
                    escape_control(&s.0),
                    escape_control(&s.1),
                    escape_control(&s.2),
                    escape_control(&s.3),
                    format_remaining(s.4.map(|t| (t - r.now).max(0) as u64)).into(),
                    rules_cell(s.5, &s.6),
                ]
            })
            .collect();
        // The RULES column only when a session has caller rules.
        if r.sessions.iter().any(|s| s.5 || !s.6.is_empty()) {
            let rows: Vec<[&str; 6]> = cells.iter().map(|c| c.each_ref().map(|s| &**s)).collect();
            return Ok(render_table(
                [
                    "ID",
                    "TOOL",
                    "FINGERPRINT",
                    "PROJECT",
                    "EXPIRES IN",
                    "RULES",
                ],
                &rows,
            ));
        }
        let rows: Vec<[&str; 5]> = cells
            .iter()
            .map(|c| [&*c[0], &*c[1], &*c[2], &*c[3], &*c[4]])
            .collect();
        Ok(render_table(
            ["ID", "TOOL", "FINGERPRINT", "PROJECT", "EXPIRES IN"],
            &rows,
        ))
    })?;
    print(&text)
}
