//! TPM2 on a software TPM (swtpm) under `scripts/with-swtpm.sh`, in a
//! build with the `tpm2` feature.

use super::*;
use std::path::Path;

/// Fails (never skips) when the TPM is not there.
pub(super) fn need_tpm() {
    assert!(
        std::env::var_os("SESSION_VAULT_TCTI").is_some(),
        "no SESSION_VAULT_TCTI: run under scripts/with-swtpm.sh (scripts/test-backends.sh does)"
    );
    #[cfg(not(feature = "tpm2"))]
    panic!("built without the tpm2 feature: test with --all-features");
}

#[test]
#[ignore = "needs swtpm and the tpm2 feature: run by scripts/test-backends.sh"]
fn tpm2_seals_the_key_and_opens_without_a_passphrase() {
    need_tpm();
    let env = TestEnv::with_backend("tpm2");
    env.run(&["daemon", "start"], None).ok();
    let st = status(&env);
    assert_eq!(st["backend"], "tpm2");
    assert_eq!(st["locked"], false, "{st}");
    let proj = env.mkdir("p");
    env.add(
        "claude",
        &["--project", proj.to_str().unwrap()],
        "sk-ant-api03-sealed-by-the-tpm",
    );
    restart(&env);
    assert_eq!(
        env.get_in(&proj, "claude").ok().stdout,
        "sk-ant-api03-sealed-by-the-tpm\n"
    );
    assert_eq!(wrappings(&env), vec!["tpm2"]);
}

#[test]
#[ignore = "needs swtpm and the tpm2 feature: run by scripts/test-backends.sh"]
fn rekey_tpm2_to_passphrase_and_back() {
    need_tpm();
    let mut env = TestEnv::with_backend("tpm2");
    env.run(&["daemon", "start"], None).ok();
    env.add("codex", &["--global"], "sk-proj-tpm-round-trip");
    env.run(
        &["rekey", "--backend", "passphrase"],
        Some(&format!("{PASS}\n")),
    )
    .ok();
    assert_eq!(wrappings(&env), vec!["passphrase"]);
    env.set_backend("auto");
    restart(&env);
    assert_eq!(status(&env)["backend"], "passphrase");
    env.run(&["unlock"], Some(&format!("{PASS}\n"))).ok();
    env.run(&["rekey", "--backend", "tpm2"], None).ok();
    assert_eq!(wrappings(&env), vec!["tpm2"]);
    restart(&env);
    let st = status(&env);
    assert_eq!(st["backend"], "tpm2", "{st}");
    assert_eq!(st["locked"], false);
    assert_eq!(
        env.get_in(env.dir.path(), "codex").ok().stdout,
        "sk-proj-tpm-round-trip\n"
    );
}

#[test]
#[ignore = "needs swtpm and --features tpm2,test-hooks: run by scripts/test-backends.sh"]
fn a_crash_during_rekey_to_tpm2_leaves_both_wrappings() {
    need_tpm();
    need_test_hooks();
    let mut env = TestEnv::with_backend("passphrase");
    env.extra_env.push((
        "SESSION_VAULT_TEST_CRASH_AFTER_REKEY_WRAP".into(),
        "1".into(),
    ));
    env.start_unlocked();
    env.add("gemini", &["--global"], "AIzaSy-tpm-crash");
    let pid = env.daemon_pid().expect("pid");
    assert_ne!(env.run(&["rekey", "--backend", "tpm2"], None).code, 0);
    TestEnv::wait_gone(pid);
    env.extra_env
        .retain(|(k, _)| k != "SESSION_VAULT_TEST_CRASH_AFTER_REKEY_WRAP");
    env.set_backend("tpm2");
    env.run(&["daemon", "start"], None).ok();
    let mut w = wrappings(&env);
    w.sort();
    assert_eq!(w, vec!["passphrase", "tpm2"]);
    assert_eq!(
        env.get_in(env.dir.path(), "gemini").ok().stdout,
        "AIzaSy-tpm-crash\n"
    );
    stop(&env);
    env.set_backend("passphrase");
    env.start_unlocked();
    assert_eq!(
        env.get_in(env.dir.path(), "gemini").ok().stdout,
        "AIzaSy-tpm-crash\n"
    );
}

/// Flips one byte inside the sealed private part of the TPM blob in
/// vault.db (the daemon is stopped, so the WAL has been checkpointed).
fn damage_tpm_blob(db: &Path) {
    let mut bytes = std::fs::read(db).expect("vault.db");
    let at = bytes
        .windows(5)
        .position(|w| w == b"SVT2\x01")
        .expect("a TPM2 blob in vault.db");
    let pub_len = u16::from_be_bytes([bytes[at + 5], bytes[at + 6]]) as usize;
    let priv_at = at + 7 + pub_len;
    let priv_len = u16::from_be_bytes([bytes[priv_at], bytes[priv_at + 1]]) as usize;
    bytes[priv_at + 2 + priv_len / 2] ^= 0x55;
    std::fs::write(db, bytes).expect("write vault.db");
}

#[test]
#[ignore = "needs swtpm and the tpm2 feature: run by scripts/test-backends.sh"]
fn a_damaged_tpm_blob_refuses_to_open_and_explains() {
    need_tpm();
    let env = TestEnv::with_backend("tpm2");
    env.run(&["daemon", "start"], None).ok();
    env.add("claude", &["--global"], "sk-ant-api03-under-a-damaged-seal");
    stop(&env);
    assert!(!Path::new(&format!("{}-wal", env.vault_db().display())).exists_and_nonempty());
    damage_tpm_blob(&env.vault_db());
    env.run(&["daemon", "start"], None).ok();
    let st = status(&env);
    assert_eq!(st["locked"], true, "{st}");
    assert_eq!(st["initialized"], true);
    let r = env.run(&["unlock"], None).code(1);
    assert!(r.stderr.contains("damaged"), "{}", r.stderr);
    assert!(
        r.stderr.contains("rekey from another backend") || r.stderr.contains("backup"),
        "{}",
        r.stderr
    );
    assert_eq!(env.get_in(env.dir.path(), "claude").code, 4);
    assert_eq!(
        status(&env)["sessions"],
        1,
        "nothing was deleted or recreated"
    );
    assert_eq!(wrappings(&env), vec!["tpm2"]);
}

trait NonEmpty {
    fn exists_and_nonempty(&self) -> bool;
}

impl NonEmpty for Path {
    fn exists_and_nonempty(&self) -> bool {
        std::fs::metadata(self)
            .map(|m| m.len() > 0)
            .unwrap_or(false)
    }
}
