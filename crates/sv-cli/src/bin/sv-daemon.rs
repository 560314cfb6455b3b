//! The `sv-daemon` binary; see the `sv-daemon` crate.
fn main() -> std::process::ExitCode {
    sv_daemon::main()
}
