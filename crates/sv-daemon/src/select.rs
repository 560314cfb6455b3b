//! Which key backend the daemon runs with (docs/design.md §6): `--backend`,
//! else `SESSION_VAULT_BACKEND`, else `auto`.
//!
//! `auto` walks tpm2 → libsecret → passphrase. For a new vault it takes the
//! first backend that is available. For a vault that already has key
//! wrappings it only considers backends holding one (the others could not
//! open it): the first available of those, else the first this build has,
//! so that opening fails with that backend's own explanation (keyring
//! locked, TPM gone) rather than "not protected by passphrase". Every
//! skipped backend's reason goes into the reports `status --verbose` shows.

use crate::error::DaemonError;
use sv_core::protocol as p;
use sv_keyring::KeyBackend;

pub const CHOICES: &str = "auto, tpm2, secret-service, keychain, dpapi or passphrase";

/// The backend to use, and the availability of each for `status`.
pub fn select_backend(
    requested: Option<String>,
    wrapped: &[String],
) -> Result<(Box<dyn KeyBackend>, Vec<p::BackendReport>), DaemonError> {
    let requested = requested
        .or_else(|| std::env::var("SESSION_VAULT_BACKEND").ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "auto".into());
    let wanted = match requested.as_str() {
        "auto" => None,
        other => Some(sv_keyring::canonical_name(other).ok_or_else(|| {
            DaemonError::Usage(format!("unknown backend `{requested}`; use {CHOICES}"))
        })?),
    };
    let probes = sv_keyring::probe_all();
    let reports: Vec<p::BackendReport> = probes
        .iter()
        .map(|(n, r)| p::BackendReport {
            name: n.to_string(),
            available: r.is_ok(),
            reason: r.as_ref().err().cloned(),
        })
        .collect();
    let name = match wanted {
        Some(n) => n,
        None => auto(&probes, wrapped)?,
    };
    match sv_keyring::backend_by_name(name) {
        Some(b) => {
            let probe = probes
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, r)| r.clone());
            if let Some(Err(reason)) = probe {
                // Explicitly asked for, or the only backend able to open
                // this vault: start anyway when the vault needs exactly this
                // one (the reason is shown by status and unlock); refuse a
                // new vault on an unusable backend.
                if wanted.is_some() && !wrapped.iter().any(|w| w == name) {
                    return Err(DaemonError::Setup(format!(
                        "the {name} backend is not available: {reason}; use --backend auto or passphrase"
                    )));
                }
                tracing::warn!(backend = name, "{reason}");
            }
            Ok((b, reports))
        }
        None => {
            let reason = probes
                .iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, r)| r.as_ref().err().cloned())
                .unwrap_or_else(|| "not supported on this platform".into());
            Err(DaemonError::Setup(format!(
                "the {name} backend is not available: {reason}; use --backend passphrase or auto"
            )))
        }
    }
}

fn auto(
    probes: &[(&'static str, Result<(), String>)],
    wrapped: &[String],
) -> Result<&'static str, DaemonError> {
    if wrapped.is_empty() {
        return Ok(probes
            .iter()
            .find(|(_, r)| r.is_ok())
            .map(|(n, _)| *n)
            .unwrap_or("passphrase"));
    }
    let holders: Vec<&(&'static str, Result<(), String>)> = probes
        .iter()
        .filter(|(n, _)| wrapped.iter().any(|w| w == n))
        .collect();
    if let Some((n, _)) = holders.iter().find(|(_, r)| r.is_ok()) {
        return Ok(n);
    }
    if let Some((n, _)) = holders
        .iter()
        .find(|(n, _)| sv_keyring::backend_by_name(n).is_some())
    {
        return Ok(n);
    }
    Err(DaemonError::Setup(format!(
        "this vault's key is protected by {}, which this build of session-vault cannot use; install a build with that backend",
        wrapped.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probes(ok: &[&'static str]) -> Vec<(&'static str, Result<(), String>)> {
        ["tpm2", "libsecret", "passphrase"]
            .into_iter()
            .map(|n| {
                (
                    n,
                    if ok.contains(&n) {
                        Ok(())
                    } else {
                        Err("no".to_owned())
                    },
                )
            })
            .collect()
    }

    #[test]
    fn new_vaults_take_the_first_available() {
        assert_eq!(
            auto(&probes(&["libsecret", "passphrase"]), &[]).unwrap(),
            "libsecret"
        );
        assert_eq!(auto(&probes(&["passphrase"]), &[]).unwrap(), "passphrase");
    }

    #[test]
    fn existing_vaults_take_a_backend_holding_a_wrapping() {
        let w = vec!["passphrase".to_owned()];
        assert_eq!(
            auto(&probes(&["libsecret", "passphrase"]), &w).unwrap(),
            "passphrase"
        );
        let w = vec!["passphrase".to_owned(), "libsecret".to_owned()];
        assert_eq!(
            auto(&probes(&["libsecret", "passphrase"]), &w).unwrap(),
            "libsecret"
        );
        // The holder is unavailable: still chosen, so its error explains.
        let w = vec!["libsecret".to_owned()];
        assert_eq!(auto(&probes(&["passphrase"]), &w).unwrap(), "libsecret");
        let w = vec!["keychain".to_owned()];
        assert!(auto(&probes(&["passphrase"]), &w).is_err());
    }
}
