//! `session-vault env --tool T… [--format F] [--unset]`: shell code that
//! sets (or removes) the tools' variables, for `eval`.

use super::get::fetch;
use crate::cli::EnvArgs;
use crate::config::{tool_table, tool_vars};
use crate::error::Result;
use crate::output::print;
use sv_core::paths::VaultPaths;
use sv_core::quote::{render_env, EnvFormat};
use sv_core::SecretString;

pub fn run(paths: &VaultPaths, a: EnvArgs) -> Result {
    if a.unset {
        return unset(paths, &a);
    }
    let results = fetch(paths, &a.tool)?;
    let pairs: Vec<(&str, &SecretString)> = results
        .iter()
        .flat_map(|r| r.values.iter().map(|v| (v.name.as_str(), &v.value)))
        .collect();
    print(&render_env(EnvFormat::from(a.format), &pairs))
}

/// `env --unset`: the code that removes the tools' variables. Reads only the
/// tool table, never the daemon, so it works while the vault is locked.
fn unset(paths: &VaultPaths, a: &EnvArgs) -> Result {
    let table = tool_table(paths)?;
    let mut names = Vec::new();
    for t in &a.tool {
        names.extend(tool_vars(&table, t)?);
    }
    print(&render_unset(EnvFormat::from(a.format), &names))
}

/// The code that removes `names` from a shell. Names are valid variable
/// names (checked when the tool table is read); `json` lists them.
fn render_unset(format: EnvFormat, names: &[String]) -> String {
    let mut out = String::new();
    if format == EnvFormat::Json {
        out.push_str(&serde_json::Value::from(names.to_vec()).to_string());
        out.push('\n');
        return out;
    }
    for n in names {
        match format {
            EnvFormat::Sh => out += &format!("unset {n}\n"),
            EnvFormat::Fish => out += &format!("set -e -g {n}\n"),
            _ => out += &format!("Remove-Item -Path Env:{n} -ErrorAction SilentlyContinue\n"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_code() {
        let names = vec!["A".to_owned(), "B_2".to_owned()];
        assert_eq!(render_unset(EnvFormat::Sh, &names), "unset A\nunset B_2\n");
        assert_eq!(
            render_unset(EnvFormat::Fish, &names),
            "set -e -g A\nset -e -g B_2\n"
        );
        assert_eq!(
            render_unset(EnvFormat::PowerShell, &names),
            "Remove-Item -Path Env:A -ErrorAction SilentlyContinue\nRemove-Item -Path Env:B_2 -ErrorAction SilentlyContinue\n"
        );
        assert_eq!(render_unset(EnvFormat::Json, &names), "[\"A\",\"B_2\"]\n");
    }
}
