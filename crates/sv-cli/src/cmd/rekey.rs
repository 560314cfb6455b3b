//! `session-vault rekey --backend B`: re-wraps the vault key under another
//! backend (docs/design.md §6). The daemon does the work (see sv-daemon's
//! `vault/rekey.rs`); this only asks for a passphrase when B needs one and
//! prints the outcome.

use crate::cli::RekeyArgs;
use crate::client;
use crate::error::{CliError, Result};
use crate::input::SecretInput;
use sv_core::paths::VaultPaths;
use sv_core::protocol::{self as p, method};

pub fn run(paths: &VaultPaths, a: RekeyArgs) -> Result {
    let mut c = client::connect_or_start(paths)?;
    let st: p::StatusResult = c.call(method::STATUS, p::Empty {})?;
    if !st.initialized {
        return Err(CliError::Usage(
            "this vault has no key yet; run `session-vault unlock` to create it first".into(),
        ));
    }
    if st.locked {
        return Err(CliError::Locked(
            "the vault is locked; run `session-vault unlock` first, then rekey".into(),
        ));
    }
    let passphrase = if a.backend == "passphrase" {
        let pass = SecretInput::new().read_new_passphrase(
            "the two passphrases differ; nothing was changed, run rekey again",
        )?;
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
    Ok(())
}
