//! `session-vault rekey --backend B`: re-wraps the vault key under another
//! backend (SPEC §6). The daemon does the work (see sv-daemon's
//! `vault/rekey.rs`); this only asks for a passphrase when B needs one and
//! prints the outcome.

use crate::client;
use crate::error::{CliError, Result};
use crate::input::SecretInput;
use clap::Args;
use sv_core::paths::VaultPaths;
use sv_core::protocol::{self as p, method};

#[derive(Args, Debug)]
pub struct RekeyArgs {
    /// The backend to protect the vault key with from now on.
    #[arg(long, value_parser = ["tpm2", "secret-service", "libsecret", "keychain", "dpapi", "passphrase"])]
    pub backend: String,
}

pub fn run(paths: &VaultPaths, a: RekeyArgs) -> Result<u8> {
    let mut c = client::connect_or_start(paths)?;
    let st: p::StatusResult = c.call(method::STATUS, p::Empty {})?;
    if !st.initialized {
        return Err(CliError::Usage(
            "this vault has no key yet; run `session-vault unlock` to create it first".into(),
        ));
    }
    if st.locked {
        return Err(CliError::Unavailable(
            "the vault is locked; run `session-vault unlock` first, then rekey".into(),
        ));
    }
    let passphrase = if a.backend == "passphrase" {
        let mut input = SecretInput::new();
        let pass = if input.is_terminal() {
            let a = input.read("New vault passphrase: ")?;
            let b = input.read("Repeat the passphrase: ")?;
            if a != b {
                return Err(CliError::Usage(
                    "the two passphrases differ; nothing was changed, run rekey again".into(),
                ));
            }
            a
        } else {
            input.read("")?
        };
        if pass.is_empty() {
            return Err(CliError::Usage(
                "the passphrase is empty; nothing was changed".into(),
            ));
        }
        Some(pass)
    } else {
        None
    };
    let r: p::RekeyResult = c.call(
        method::REKEY,
        p::RekeyParams {
            backend: a.backend,
            passphrase,
        },
    )?;
    if r.removed.is_empty() {
        println!(
            "Vault key re-wrapped under {}; the daemon now uses it.",
            r.backend
        );
    } else {
        println!(
            "Vault key re-wrapped under {} and verified; removed the {} wrapping. The daemon now uses {}.",
            r.backend,
            r.removed.join(", "),
            r.backend
        );
    }
    Ok(0)
}
