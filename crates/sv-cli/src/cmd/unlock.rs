//! `session-vault unlock` (the first one creates the vault) and `lock`.

use crate::client;
use crate::error::{CliError, Result};
use crate::input::SecretInput;
use sv_core::paths::VaultPaths;
use sv_core::protocol::{self as p, method};
use sv_core::SecretString;

pub fn unlock(paths: &VaultPaths) -> Result {
    let mut c = client::connect_or_start(paths)?;
    let st: p::StatusResult = c.call(method::STATUS, p::Empty {})?;
    if !st.locked {
        println!("The vault is already unlocked.");
        return Ok(());
    }
    let mut input = SecretInput::new();
    let passphrase = if st.backend != "passphrase" {
        SecretString::default()
    } else if !st.initialized {
        if input.is_terminal() {
            eprintln!(
                "No vault yet: choose a passphrase to create one at {}.",
                st.vault
            );
        }
        input.read_new_passphrase(
            "the two passphrases differ; nothing was created, run `session-vault unlock` again",
        )?
    } else {
        input.read("Vault passphrase: ")?
    };
    if st.backend == "passphrase" && passphrase.is_empty() {
        return Err(CliError::Usage(
            "the passphrase is empty; nothing was changed".into(),
        ));
    }
    c.call::<_, p::Empty>(method::UNLOCK, p::UnlockParams { passphrase })?;
    println!(
        "{}",
        if st.initialized {
            "Vault unlocked."
        } else {
            "Vault created and unlocked."
        }
    );
    Ok(())
}

pub fn lock(paths: &VaultPaths) -> Result {
    let mut c = client::connect_or_start(paths)?;
    c.call::<_, p::Empty>(method::LOCK, p::Empty {})?;
    println!("Vault locked.");
    Ok(())
}
