//! Property of `sv_store::Store::open` on damaged files: it returns `Ok` or
//! a clean `Err`, never panics or hangs; a refused file is left exactly as
//! it was; an opened one answers every read without panicking.
//!
//! The first input byte picks the mode:
//! - 0: the rest is the whole `vault.db`;
//! - 1: the rest patches a real vault (3-byte records: offset hi, offset
//!   lo in 16-byte units, value), optionally truncated (a record whose
//!   offset is 0xFFFF truncates there);
//! - 2: a real vault with the rest as its `vault.db-wal`.

use std::path::Path;
use std::sync::OnceLock;
use sv_core::{Expiry, Scope, SealedSecret};
use sv_store::{SealedValue, SessionRow, Store, StoreError};

/// A real vault file: key material, a few sessions, checkpointed.
pub fn template() -> &'static [u8] {
    static T: OnceLock<Vec<u8>> = OnceLock::new();
    T.get_or_init(|| {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("vault.db");
        let mut s = Store::open(&p).expect("new store");
        s.initialize(&[7; 32], "passphrase", &[9; 80], 1)
            .expect("init");
        for (i, scope) in [
            Scope::Global,
            Scope::project("/p/app"),
            Scope::project("/p/app/web"),
        ]
        .into_iter()
        .enumerate()
        {
            let row = SessionRow {
                id: format!("0000000{i}-aaaa-bbbb-cccc-dddddddddddd"),
                tool: "claude".into(),
                scope,
                label: Some(format!("label {i}")),
                fingerprint: "0011aabb".into(),
                expiry: Expiry::new(100, 3600, Some(7200)),
                vars: vec!["ANTHROPIC_API_KEY".into()],
                rules: Default::default(),
            };
            let v = [SealedValue {
                var: "ANTHROPIC_API_KEY".into(),
                sealed: SealedSecret {
                    nonce: vec![i as u8; 24],
                    ciphertext: vec![3; 48],
                },
            }];
            s.insert_session(&row, &v).expect("insert");
        }
        s.checkpoint().expect("checkpoint");
        drop(s);
        std::fs::read(&p).expect("read template")
    })
}

fn tmp_root() -> &'static Path {
    // Memory-backed when possible: the store fsyncs.
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm
    } else {
        Path::new("/tmp")
    }
}

pub fn check(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (main, wal): (Vec<u8>, Option<&[u8]>) = match mode % 3 {
        0 => (rest.to_vec(), None),
        1 => {
            let mut v = template().to_vec();
            for rec in rest.chunks_exact(3) {
                let off = u16::from_be_bytes([rec[0], rec[1]]);
                if off == 0xFFFF {
                    v.truncate(rec[2] as usize * 256);
                    continue;
                }
                if let Some(b) = v.get_mut(off as usize * 16 + (rec[2] as usize & 15)) {
                    *b = rec[2];
                }
            }
            (v, None)
        }
        _ => (template().to_vec(), Some(rest)),
    };
    let d = tempfile::tempdir_in(tmp_root()).expect("tempdir");
    let p = d.path().join("vault.db");
    std::fs::write(&p, &main).expect("write vault");
    if let Some(w) = wal {
        std::fs::write(d.path().join("vault.db-wal"), w).expect("write wal");
    }
    match Store::open(&p) {
        Ok(mut s) => {
            // Every read answers Ok or Err; none panics.
            let _ = s.count();
            let _ = s.key_check_value();
            let _ = s.wrapped_backends();
            let _ = s.key_wrap("passphrase");
            if let Ok(rows) = s.list(None, None) {
                for r in rows.iter().take(8) {
                    let _ = s.sealed_values(&r.id);
                }
            }
            let _ = s.sessions_in_scopes(
                "claude",
                &sv_core::scope::covering_scopes(Path::new("/p/app/web/x")),
            );
            let _ = s.purge_expired(10_000);
            let _ = s.checkpoint();
        }
        Err(StoreError::Damaged { .. } | StoreError::NewerSchema { .. }) if wal.is_none() => {
            let after = std::fs::read(&p).expect("read back");
            assert!(after == main, "a refused vault was modified");
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.is_empty());
        }
    }
}
