//! The tool table: which environment variables a tool's credential sets.
//!
//! Built-in: `claude`, `cursor`, `codex`, `gemini`. A user's `config.toml`
//! adds tools (or replaces a built-in's variables):
//!
//! ```toml
//! [tools.openrouter]
//! vars = ["OPENROUTER_API_KEY"]
//! # For `exec --proxy` (docs/design.md §10): where the key goes, in which
//! # place, and the variable the agent reads its base URL from.
//! upstream = "https://openrouter.ai/api/v1"
//! auth = "bearer"
//! base_url_var = "OPENROUTER_BASE_URL"
//!
//! [tools.claude]
//! upstream = "https://anthropic.example.com"  # a built-in's upstream
//! ca_file = "/etc/ssl/corp-ca.pem"            # an added trust anchor
//! ```
//!
//! ```
//! use sv_core::ToolTable;
//! let t = ToolTable::with_config("[tools.openrouter]\nvars = [\"OPENROUTER_API_KEY\"]\n").unwrap();
//! assert_eq!(t.vars("openrouter").unwrap(), ["OPENROUTER_API_KEY"]);
//! assert_eq!(t.vars("claude").unwrap(), ["ANTHROPIC_API_KEY"]);
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;

/// The command Claude Code's `apiKeyHelper` setting runs to get its key
/// (written by `integrate claude` and `doctor --fix`).
pub const CLAUDE_HELPER: &str = "session-vault get --tool claude";

/// Built-in tools and the variable each one reads.
pub const BUILTIN_TOOLS: &[(&str, &str)] = &[
    ("claude", "ANTHROPIC_API_KEY"),
    ("cursor", "CURSOR_API_KEY"),
    ("codex", "OPENAI_API_KEY"),
    ("gemini", "GEMINI_API_KEY"),
];

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ToolTableError {
    #[error("config.toml is not valid TOML: {0}")]
    Syntax(String),
    #[error(
        "config.toml: tool name `{0}` is invalid; use lower-case letters, digits, `-` and `_`"
    )]
    BadToolName(String),
    #[error("config.toml: tool `{tool}` has an invalid variable name `{var}`; use A-Z, 0-9 and `_`, not starting with a digit")]
    BadVarName { tool: String, var: String },
    #[error("config.toml: tool `{0}` lists no variables; add `vars = [\"NAME\"]`")]
    NoVars(String),
    #[error("config.toml: tool `{tool}` lists `{var}` twice")]
    DuplicateVar { tool: String, var: String },
}

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    tools: BTreeMap<String, ToolEntry>,
    /// Keys the daemon reads (e.g. `lock_after`); ignored here.
    #[serde(flatten)]
    _rest: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolEntry {
    /// Required for a new tool; a built-in keeps its own when omitted.
    #[serde(default)]
    vars: Option<Vec<String>>,
    #[serde(default)]
    upstream: Option<String>,
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    base_url_var: Option<String>,
    #[serde(default)]
    ca_file: Option<String>,
}

impl ToolEntry {
    fn split(self) -> (Option<Vec<String>>, ToolProxy) {
        let proxy = ToolProxy {
            upstream: self.upstream,
            auth: self.auth,
            base_url_var: self.base_url_var,
            ca_file: self.ca_file,
        };
        (self.vars, proxy)
    }
}

/// A tool's proxy settings from `config.toml` (docs/design.md §10), as
/// written: the daemon checks them against the built-in routes and builds
/// the upstream (`sv_proxy`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolProxy {
    /// `https://host[:port][/base/path]`.
    pub upstream: Option<String>,
    /// `x-api-key`, `bearer`, `x-goog-api-key` or `query-key`.
    pub auth: Option<String>,
    /// The variable the agent reads its base URL from.
    pub base_url_var: Option<String>,
    /// A PEM file of extra trust anchors for this tool's upstream.
    pub ca_file: Option<String>,
}

impl ToolProxy {
    fn is_empty(&self) -> bool {
        self == &ToolProxy::default()
    }
}

/// Maps tool names to the variables their credential sets.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolTable {
    tools: BTreeMap<String, Vec<String>>,
    proxy: BTreeMap<String, ToolProxy>,
}

impl Default for ToolTable {
    fn default() -> Self {
        Self::builtin()
    }
}

impl ToolTable {
    /// The four built-in tools.
    pub fn builtin() -> Self {
        let tools = BUILTIN_TOOLS
            .iter()
            .map(|(t, v)| (t.to_string(), vec![v.to_string()]))
            .collect();
        ToolTable {
            tools,
            proxy: BTreeMap::new(),
        }
    }

    /// Built-ins plus the `[tools.*]` tables of a `config.toml` text.
    pub fn with_config(text: &str) -> Result<Self, ToolTableError> {
        let cfg: ConfigFile =
            toml::from_str(text).map_err(|e| ToolTableError::Syntax(one_line(&e.to_string())))?;
        let mut table = Self::builtin();
        for (name, entry) in cfg.tools {
            let (entry_vars, proxy) = entry.split();
            if !valid_tool_name(&name) {
                return Err(ToolTableError::BadToolName(name));
            }
            if let Some(var) = &proxy.base_url_var {
                if !valid_var_name(var) {
                    return Err(ToolTableError::BadVarName {
                        tool: name,
                        var: var.clone(),
                    });
                }
            }
            let vars = match entry_vars {
                Some(vars) => vars,
                // A built-in's proxy settings alone keep its variables.
                None if table.tools.contains_key(&name) && !proxy.is_empty() => {
                    table.tools[&name].clone()
                }
                None => Vec::new(),
            };
            if vars.is_empty() {
                return Err(ToolTableError::NoVars(name));
            }
            for (i, var) in vars.iter().enumerate() {
                if !valid_var_name(var) {
                    return Err(ToolTableError::BadVarName {
                        tool: name,
                        var: var.clone(),
                    });
                }
                if vars[..i].contains(var) {
                    return Err(ToolTableError::DuplicateVar {
                        tool: name,
                        var: var.clone(),
                    });
                }
            }
            if !proxy.is_empty() {
                table.proxy.insert(name.clone(), proxy);
            }
            table.tools.insert(name, vars);
        }
        Ok(table)
    }

    /// The proxy settings `config.toml` gives `tool`, if any.
    pub fn proxy(&self, tool: &str) -> Option<&ToolProxy> {
        self.proxy.get(tool)
    }

    /// The variables of `tool`, or `None` when the tool is unknown.
    pub fn vars(&self, tool: &str) -> Option<&[String]> {
        self.tools.get(tool).map(|v| v.as_slice())
    }

    /// Every tool name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tools.keys().map(|k| k.as_str())
    }

    /// Every (tool, variable) pair.
    pub fn all_vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.tools
            .iter()
            .flat_map(|(t, vs)| vs.iter().map(move |v| (t.as_str(), v.as_str())))
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Tool names: `[a-z0-9][a-z0-9_-]{0,63}`.
pub fn valid_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !name.starts_with(['-', '_'])
}

/// Environment variable names a POSIX shell accepts: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn valid_var_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.len() <= 128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins() {
        let t = ToolTable::builtin();
        assert_eq!(t.vars("codex").unwrap(), ["OPENAI_API_KEY"]);
        assert_eq!(t.vars("gemini").unwrap(), ["GEMINI_API_KEY"]);
        assert_eq!(t.vars("cursor").unwrap(), ["CURSOR_API_KEY"]);
        assert!(t.vars("nope").is_none());
    }

    #[test]
    fn user_tools_with_several_vars() {
        let t = ToolTable::with_config(
            "lock_after = 600\n[tools.aws-ish]\nvars = [\"A_KEY\", \"A_SECRET\"]\n",
        )
        .unwrap();
        assert_eq!(t.vars("aws-ish").unwrap(), ["A_KEY", "A_SECRET"]);
    }

    #[test]
    fn bad_configs_are_refused_with_reasons() {
        assert!(matches!(
            ToolTable::with_config("[tools.x\n"),
            Err(ToolTableError::Syntax(_))
        ));
        assert_eq!(
            ToolTable::with_config("[tools.Bad]\nvars=[\"X\"]"),
            Err(ToolTableError::BadToolName("Bad".into()))
        );
        assert!(matches!(
            ToolTable::with_config("[tools.x]\nvars=[\"1X\"]"),
            Err(ToolTableError::BadVarName { .. })
        ));
        assert_eq!(
            ToolTable::with_config("[tools.x]\nvars=[]"),
            Err(ToolTableError::NoVars("x".into()))
        );
        assert!(matches!(
            ToolTable::with_config("[tools.x]\nvars=[\"A\",\"A\"]"),
            Err(ToolTableError::DuplicateVar { .. })
        ));
        assert!(matches!(
            ToolTable::with_config("[tools.x]\nvar=[\"A\"]"),
            Err(ToolTableError::Syntax(_))
        ));
        assert!(matches!(
            ToolTable::with_config("[tools.x]\nupstream=\"https://h\""),
            Err(ToolTableError::NoVars(_))
        ));
        assert!(matches!(
            ToolTable::with_config("[tools.x]\nvars=[\"A\"]\nbase_url_var=\"A-B\""),
            Err(ToolTableError::BadVarName { .. })
        ));
    }

    #[test]
    fn proxy_settings() {
        let t = ToolTable::with_config(
            "[tools.claude]\nupstream = \"https://127.0.0.1:9\"\nca_file = \"/ca.pem\"\n\
             [tools.groq]\nvars = [\"GROQ_API_KEY\"]\nupstream = \"https://api.groq.com/openai/v1\"\n\
             auth = \"bearer\"\nbase_url_var = \"GROQ_BASE_URL\"\n",
        )
        .unwrap();
        assert_eq!(t.vars("claude").unwrap(), ["ANTHROPIC_API_KEY"]);
        let c = t.proxy("claude").unwrap();
        assert_eq!(c.upstream.as_deref(), Some("https://127.0.0.1:9"));
        assert_eq!(c.ca_file.as_deref(), Some("/ca.pem"));
        let g = t.proxy("groq").unwrap();
        assert_eq!(g.auth.as_deref(), Some("bearer"));
        assert_eq!(g.base_url_var.as_deref(), Some("GROQ_BASE_URL"));
        assert!(t.proxy("codex").is_none());
    }

    #[test]
    fn names() {
        assert!(valid_var_name("ANTHROPIC_API_KEY"));
        assert!(valid_var_name("_x1"));
        assert!(!valid_var_name("A-B"));
        assert!(!valid_var_name(""));
        assert!(valid_tool_name("open-router_2"));
        assert!(!valid_tool_name("-x"));
    }
}
