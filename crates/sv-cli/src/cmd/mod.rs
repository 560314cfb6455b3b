//! One module per command group; `run` hands each command to its own.
//! Every command returns `Result<()>`: a failure carries its exit code
//! (crate::error).

mod add;
mod daemon;
mod doctor;
mod env;
mod exec;
mod exec_proxy;
mod get;
mod integrate;
mod list;
mod log;
mod rekey;
mod remove;
mod service;
mod shell;
mod unlock;

use crate::cli::Command;
use crate::client;
use crate::error::Result;

pub fn run(cmd: Command) -> Result {
    let paths = client::paths()?;
    match cmd {
        Command::Daemon { action } => daemon::run(&paths, action),
        Command::Unlock => unlock::unlock(&paths),
        Command::Lock => unlock::lock(&paths),
        Command::Add(a) => add::run(&paths, a),
        Command::Env(a) => env::run(&paths, a),
        Command::Get(a) => get::run(&paths, a),
        Command::Exec(a) => exec::run(&paths, a),
        Command::List(a) => list::run(&paths, a),
        Command::Remove(a) => remove::run(&paths, a),
        Command::Init(a) => shell::init(&paths, a),
        Command::Install(a) => shell::install(a),
        Command::Uninstall(a) => shell::uninstall(a),
        Command::Completions(a) => shell::completions(a),
        Command::Man(a) => shell::man(a),
        Command::Integrate(a) => integrate::run(a),
        Command::Doctor(a) => doctor::run(&paths, a),
        Command::Log(a) => log::run(&paths, a),
        Command::Rekey(a) => rekey::run(&paths, a),
    }
}
