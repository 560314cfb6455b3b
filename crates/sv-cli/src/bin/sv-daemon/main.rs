//! The `sv-daemon` binary: the session-vault daemon, which holds the vault
//! key and serves credentials (the `sv-daemon` crate does the work). Usually
//! started by `session-vault daemon start`, by the CLI on demand, or by a
//! service manager.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    if let Err(e) = sv_daemon::reexec_with_clean_env() {
        eprintln!("sv-daemon: {e}");
        return ExitCode::from(1);
    }
    let args = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
    let opts = match cli::parse(args) {
        Ok(cli::Action::Run(opts)) => opts,
        Ok(cli::Action::Help) => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(cli::Action::Version) => {
            println!("sv-daemon {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("sv-daemon: {msg}\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    match sv_daemon::run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sv-daemon: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
