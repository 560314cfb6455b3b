//! What the rewrites of one file are planned from: its credentials, one
//! group per tool (per MCP server in MCP files). [`plan`](super::plan)
//! makes the groups; the shell and JSON rewrites read them.

use crate::Finding;

/// Credentials of one tool found in one file (one MCP server for MCP files).
pub(super) struct Group<'a> {
    pub tool: String,
    pub server: Option<String>,
    pub findings: Vec<&'a Finding>,
}
