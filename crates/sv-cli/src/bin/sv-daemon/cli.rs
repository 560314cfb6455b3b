//! The daemon's command line. Three flags, read by hand: the daemon is
//! started by programs (the CLI, service files), not typed at.

use sv_daemon::RunOptions;

pub const USAGE: &str = "usage: sv-daemon [--backend auto|tpm2|secret-service|keychain|dpapi|passphrase] [--foreground] [--verbose]

The session-vault daemon. Normally started by `session-vault daemon start`
or on demand by the CLI; runs in the foreground until SIGTERM.";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Run(RunOptions),
    Help,
    Version,
}

/// Reads the arguments (without the program name). `--help` and
/// `--version` answer as soon as they are met; `Err` is a usage error.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Action, String> {
    let mut opts = RunOptions::default();
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--backend" => match args.next() {
                Some(b) => opts.backend = Some(b),
                None => return Err("--backend needs a value".into()),
            },
            s if s.starts_with("--backend=") => opts.backend = Some(s[10..].to_owned()),
            // The daemon always runs in the foreground; the flag is accepted
            // for service files that say so.
            "--foreground" => {}
            "--verbose" | "-v" => opts.verbose = true,
            "--help" | "-h" => return Ok(Action::Help),
            "--version" | "-V" => return Ok(Action::Version),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(Action::Run(opts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Result<Action, String> {
        parse(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn reads_the_backend_and_verbosity() {
        let run = |backend: Option<&str>, verbose| {
            Ok(Action::Run(RunOptions {
                backend: backend.map(str::to_owned),
                verbose,
            }))
        };
        assert_eq!(parsed(&[]), run(None, false));
        assert_eq!(
            parsed(&["--backend", "tpm2", "--foreground", "-v"]),
            run(Some("tpm2"), true)
        );
        assert_eq!(
            parsed(&["--backend=passphrase"]),
            run(Some("passphrase"), false)
        );
    }

    #[test]
    fn help_and_version_answer_when_met() {
        assert_eq!(
            parsed(&["--verbose", "--help", "--bogus"]),
            Ok(Action::Help)
        );
        assert_eq!(parsed(&["-V"]), Ok(Action::Version));
        assert!(parsed(&["--bogus", "--help"]).is_err());
        assert!(parsed(&["--backend"]).is_err());
    }
}
