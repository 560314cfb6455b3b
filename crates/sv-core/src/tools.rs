//! The tool table: which environment variables a tool's credential sets.
//!
//! Built-in: `claude`, `cursor`, `codex`, `gemini`. A user's `config.toml`
//! adds tools (or replaces a built-in's variables):
//!
//! ```toml
//! [tools.openrouter]
//! vars = ["OPENROUTER_API_KEY"]
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
    vars: Vec<String>,
}

/// Maps tool names to the variables their credential sets.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolTable {
    tools: BTreeMap<String, Vec<String>>,
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
        ToolTable { tools }
    }

    /// Built-ins plus the `[tools.*]` tables of a `config.toml` text.
    pub fn with_config(text: &str) -> Result<Self, ToolTableError> {
        let cfg: ConfigFile =
            toml::from_str(text).map_err(|e| ToolTableError::Syntax(one_line(&e.to_string())))?;
        let mut table = Self::builtin();
        for (name, entry) in cfg.tools {
            if !valid_tool_name(&name) {
                return Err(ToolTableError::BadToolName(name));
            }
            if entry.vars.is_empty() {
                return Err(ToolTableError::NoVars(name));
            }
            for (i, var) in entry.vars.iter().enumerate() {
                if !valid_var_name(var) {
                    return Err(ToolTableError::BadVarName {
                        tool: name,
                        var: var.clone(),
                    });
                }
                if entry.vars[..i].contains(var) {
                    return Err(ToolTableError::DuplicateVar {
                        tool: name,
                        var: var.clone(),
                    });
                }
            }
            table.tools.insert(name, entry.vars);
        }
        Ok(table)
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
