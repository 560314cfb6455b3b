//! The key backends on real services. The passphrase backend's own test
//! runs everywhere; the hardware backends' tests are `#[ignore]`d with the
//! service they need, and `scripts/test-backends.sh` runs them inside it
//! (and fails if none ran):
//!
//! ```sh
//! scripts/with-keyring.sh scripts/with-swtpm.sh cargo test -p sv-cli --all-features --test cli -- --ignored backends::keyring::
//! scripts/with-swtpm.sh cargo test -p sv-cli --all-features --test cli -- --ignored backends::tpm2::
//! ```
//!
//! Run outside their service, they fail and say where to run them: no
//! test here passes without having run.

use crate::util::*;

mod keyring;
mod tpm2;

/// The crash-mid-rekey tests need the daemon's test hook, compiled only
/// with the `test-hooks` feature (never in a release build).
fn need_test_hooks() {
    #[cfg(not(feature = "test-hooks"))]
    panic!("built without the test-hooks feature: test with --all-features");
}

fn status(env: &TestEnv) -> serde_json::Value {
    let r = env.run(&["daemon", "status", "--json"], None).ok();
    serde_json::from_str(&r.stdout).expect("status json")
}

/// Stops the daemon and waits until the process is gone (`daemon stop`
/// returns once the socket is removed; the lock goes with the process).
fn stop(env: &TestEnv) {
    let pid = env.daemon_pid();
    env.run(&["daemon", "stop"], None).ok();
    if let Some(pid) = pid {
        TestEnv::wait_gone(pid);
    }
}

fn restart(env: &TestEnv) {
    stop(env);
    env.run(&["daemon", "start"], None).ok();
}

fn wrappings(env: &TestEnv) -> Vec<String> {
    status(env)["wrappings"]
        .as_array()
        .expect("wrappings")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// vault.db and its WAL, as bytes.
fn vault_bytes(env: &TestEnv) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let p = format!("{}{suffix}", env.vault_db().display());
        if let Ok(b) = std::fs::read(&p) {
            all.extend_from_slice(&b);
        }
    }
    all
}

#[test]
fn rekey_to_the_same_passphrase_backend_changes_the_passphrase() {
    let env = TestEnv::with_backend("passphrase");
    env.start_unlocked();
    env.add("claude", &["--global"], "sk-ant-api03-new-passphrase");
    env.run(&["rekey", "--backend", "passphrase"], Some("\n"))
        .code(2);
    env.run(
        &["rekey", "--backend", "passphrase"],
        Some("a new passphrase\n"),
    )
    .ok();
    assert_eq!(wrappings(&env), vec!["passphrase"]);
    restart(&env);
    env.run(&["unlock"], Some(&format!("{PASS}\n"))).code(1);
    env.run(&["unlock"], Some("a new passphrase\n")).ok();
    assert_eq!(
        env.get_in(env.dir.path(), "claude").ok().stdout,
        "sk-ant-api03-new-passphrase\n"
    );
    // A locked vault cannot be rekeyed; an unknown backend is a usage error.
    env.run(&["lock"], None).ok();
    let r = env
        .run(&["rekey", "--backend", "passphrase"], Some("x\n"))
        .code(4);
    assert!(r.stderr.contains("unlock"), "{}", r.stderr);
    env.run(&["rekey", "--backend", "floppy"], None).code(2);
}
