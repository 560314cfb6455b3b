//! `session-vault`: parses the command line, talks to the daemon, prints.
//! The rules live in `sv-core`; the key and the vault in `sv-daemon`.

mod audit_log;
mod cli;
mod client;
mod commands;
mod doctor_cmd;
mod error;
mod input;
mod integrate;
mod rcfile;
mod rekey;
mod service;
mod shell;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("session-vault: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
