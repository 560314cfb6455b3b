//! `session-vault`: parses the command line, talks to the daemon, prints.
//! The rules live in `sv-core`; the key and the vault in `sv-daemon`.

mod agent_tree;
mod cli;
mod client;
mod cmd;
mod config;
mod error;
mod input;
mod output;
mod platform;
mod rcfile;
mod wrappers;

use std::process::ExitCode;

fn main() -> ExitCode {
    // `get --tool T` runs on every request of an agent's key helper; it
    // skips building clap's whole command tree (see `fast_get`).
    let command = match fast_get(std::env::args_os().skip(1)) {
        Some(get) => Ok(cli::Command::Get(get)),
        None => cli::parse(),
    };
    match command.and_then(cmd::run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(message) = e.message() {
                eprintln!("session-vault: {message}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}

/// Recognises exactly `get --tool T` / `get --tool=T` (T not an option);
/// every other command line, `--help` included, goes through clap.
fn fast_get(mut args: impl Iterator<Item = std::ffi::OsString>) -> Option<cli::GetArgs> {
    if args.next()? != "get" {
        return None;
    }
    let first = args.next()?.into_string().ok()?;
    let tool = match first.strip_prefix("--tool=") {
        Some(t) => t.to_owned(),
        None if first == "--tool" => args.next()?.into_string().ok()?,
        None => return None,
    };
    if args.next().is_some() || tool.is_empty() || tool.starts_with('-') {
        return None;
    }
    Some(cli::GetArgs {
        tool,
        var: None,
        stand_in: false,
    })
}

#[cfg(test)]
mod tests {
    use super::fast_get;

    fn parse(line: &str) -> Option<String> {
        fast_get(line.split(' ').map(Into::into)).map(|g| g.tool)
    }

    #[test]
    fn only_the_plain_get_skips_clap() {
        assert_eq!(parse("get --tool claude").as_deref(), Some("claude"));
        assert_eq!(parse("get --tool=codex").as_deref(), Some("codex"));
        for other in [
            "get --tool claude --var X",
            "get --tool --help",
            "get --help",
            "get",
            "env --tool claude",
            "get --tool=",
            "get --var X --tool claude",
        ] {
            assert_eq!(parse(other), None, "{other}");
        }
    }
}
