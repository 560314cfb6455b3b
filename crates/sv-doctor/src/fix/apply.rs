//! Applying a plan: the keys into the vault, then each file edited on its
//! opened directory, with a private backup (docs/design.md §12).

use super::{Outcome, Plan, VaultSink, BACKUP_BY};
use sv_fs::{Backups, Dir, EditError};

/// Stores and rewrites, file by file; the originals go to `backups`. Stops
/// at a fatal refusal.
pub fn apply(plan: &Plan, sink: &mut dyn VaultSink, backups: &Backups) -> Vec<Outcome> {
    let mut out = Vec::new();
    let mut stop = false;
    for fp in &plan.files {
        let file = fp.path.clone();
        if stop {
            out.push(Outcome::NotAttempted { file });
            continue;
        }
        // The directory planned on, opened without following any link: a
        // directory swapped for a symlink since is refused here.
        let (dir, name) = match Dir::of_file(&fp.target) {
            Ok(d) => d,
            Err(e) => {
                out.push(Outcome::Failed {
                    file,
                    message: format!("{e}; nothing was stored or changed"),
                });
                continue;
            }
        };
        match dir.read(name) {
            Ok(Some(now)) if *now == *fp.original => {}
            _ => {
                out.push(Outcome::Changed { file });
                continue;
            }
        }
        let mut sessions = Vec::new();
        let mut refused = None;
        for req in &fp.stores {
            match sink.store(req) {
                Ok(id) => sessions.push(id),
                Err(r) => {
                    stop = r.fatal;
                    refused = Some(r.message);
                    break;
                }
            }
        }
        if let Some(message) = refused {
            out.push(Outcome::Refused { file, message });
            continue;
        }
        match dir.edit(
            name,
            Some(&fp.original),
            &fp.rewritten,
            0o600,
            Some((backups, BACKUP_BY)),
        ) {
            Ok(Some(backup)) => out.push(Outcome::Applied {
                file,
                written: fp.target.clone(),
                backup,
                sessions,
            }),
            Ok(None) | Err(EditError::Changed) => out.push(Outcome::Changed { file }),
            Err(EditError::Failed(message)) => out.push(Outcome::Failed { file, message }),
        }
    }
    out
}
