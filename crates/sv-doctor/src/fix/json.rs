//! Rewriting JSON configs: a Claude settings `env` key becomes
//! `apiKeyHelper`, an MCP server's key leaves its `env` and the server is
//! wrapped in `session-vault exec --tool T --`, Codex `auth.json`'s key
//! becomes `null`. Every other key keeps its place and order.

use super::group::Group;
use super::CLAUDE_HELPER;
use crate::scan::SecretJson;
use crate::JsonLoc;
use serde_json::Value;
use zeroize::Zeroizing;

/// The new file: pretty-printed, with the original's final line break.
pub(super) fn render(root: &SecretJson, original: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut s = Zeroizing::new(
        serde_json::to_string_pretty(&root.0).map_err(|e| format!("cannot write JSON: {e}"))?,
    );
    if original.ends_with(b"\n") {
        s.push('\n');
    }
    Ok(Zeroizing::new(std::mem::take(&mut *s).into_bytes()))
}

pub(super) fn json_edit(root: &mut Value, g: &Group<'_>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let first = g.findings[0];
    match &first.loc {
        JsonLoc::ClaudeEnv(_) => {
            if g.tool == "claude" {
                match root.get("apiKeyHelper") {
                    None => {}
                    Some(Value::String(s)) if s == CLAUDE_HELPER => {}
                    Some(_) => {
                        return Err("`apiKeyHelper` is already set to something else; remove the key from `env` by hand".into())
                    }
                }
            }
            let obj = root
                .as_object_mut()
                .ok_or("the file is not a JSON object")?;
            let env = obj
                .get_mut("env")
                .and_then(Value::as_object_mut)
                .ok_or("no `env` object")?;
            for f in &g.findings {
                if let JsonLoc::ClaudeEnv(var) = &f.loc {
                    if env.shift_remove(var).is_some() {
                        out.push(format!("remove env.{var}"));
                    }
                }
            }
            if env.is_empty() {
                obj.shift_remove("env");
            }
            if g.tool == "claude" {
                if obj.get("apiKeyHelper").is_none() {
                    out.push(format!("set \"apiKeyHelper\": \"{CLAUDE_HELPER}\""));
                }
                obj.insert("apiKeyHelper".into(), Value::String(CLAUDE_HELPER.into()));
            } else {
                out.push(format!(
                    "Claude Code no longer gets it from settings: start it with `session-vault exec --tool {} -- claude`",
                    g.tool
                ));
            }
        }
        JsonLoc::McpEnv { server, .. } => {
            let srv = root
                .get_mut("mcpServers")
                .and_then(|m| m.get_mut(server.as_str()))
                .and_then(Value::as_object_mut)
                .ok_or_else(|| format!("MCP server `{server}` is not an object"))?;
            let Some(cmd) = srv
                .get("command")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                return Err(format!(
                    "MCP server `{server}` has no `command` to wrap (a remote server?); move the key by hand"
                ));
            };
            let args: Vec<Value> = match srv.get("args") {
                None => Vec::new(),
                Some(Value::Array(a)) => a.clone(),
                Some(_) => {
                    return Err(format!(
                        "MCP server `{server}` has `args` that is not a list"
                    ))
                }
            };
            let wrapped =
                cmd == "session-vault" && args.first().and_then(Value::as_str) == Some("exec");
            let new_args: Vec<Value> = if wrapped {
                let have = args.windows(2).any(|w| {
                    w[0].as_str() == Some("--tool") && w[1].as_str() == Some(g.tool.as_str())
                });
                let mut a = args.clone();
                if !have {
                    a.insert(1, Value::String("--tool".into()));
                    a.insert(2, Value::String(g.tool.clone()));
                }
                a
            } else {
                let mut a: Vec<Value> = ["exec", "--tool", g.tool.as_str(), "--", cmd.as_str()]
                    .iter()
                    .map(|s| Value::String((*s).into()))
                    .collect();
                a.extend(args.iter().cloned());
                a
            };
            let env = srv
                .get_mut("env")
                .and_then(Value::as_object_mut)
                .ok_or("no `env` object")?;
            for f in &g.findings {
                if let JsonLoc::McpEnv { var, .. } = &f.loc {
                    if env.shift_remove(var).is_some() {
                        out.push(format!("remove mcpServers.{server}.env.{var}"));
                    }
                }
            }
            if env.is_empty() {
                srv.shift_remove("env");
            }
            if new_args != args || cmd != "session-vault" {
                out.push(format!(
                    "run server `{server}` as `session-vault exec --tool {} -- …`",
                    g.tool
                ));
            }
            srv.insert("command".into(), Value::String("session-vault".into()));
            srv.insert("args".into(), Value::Array(new_args));
        }
        JsonLoc::TopLevel(_) => {
            let obj = root
                .as_object_mut()
                .ok_or("the file is not a JSON object")?;
            for f in &g.findings {
                if let JsonLoc::TopLevel(var) = &f.loc {
                    obj.insert(var.clone(), Value::Null);
                    out.push(format!("set {var} to null"));
                }
            }
            out.push(format!(
                "Codex now needs the key in its environment: run it with `session-vault exec --tool {} -- codex`",
                g.tool
            ));
        }
        JsonLoc::Other => {
            return Err(
                "doctor does not know how to rewrite this place; move the key by hand".into(),
            )
        }
    }
    Ok(out)
}
