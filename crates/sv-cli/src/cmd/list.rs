//! `session-vault list [--json] [--tool T] [--project DIR]`: the stored
//! sessions, never their secrets.

use crate::cli::ListArgs;
use crate::client;
use crate::config::project_filter;
use crate::error::Result;
use crate::output::{escape_control, print, render_table};
use sv_core::paths::VaultPaths;
use sv_core::protocol::{self as p, method};
use sv_core::ttl::format_remaining;

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
        let cells: Vec<[_; 5]> = r
            .sessions
            .iter()
            .map(|s| {
                [
                    escape_control(&s.0),
                    escape_control(&s.1),
                    escape_control(&s.2),
                    escape_control(&s.3),
                    format_remaining(s.4.map(|t| (t - r.now).max(0) as u64)).into(),
                ]
            })
            .collect();
        let rows: Vec<[&str; 5]> = cells.iter().map(|c| c.each_ref().map(|s| &**s)).collect();
        Ok(render_table(
            ["ID", "TOOL", "FINGERPRINT", "PROJECT", "EXPIRES IN"],
            &rows,
        ))
    })?;
    print(&text)
}
