//! The hardware-backed key backends on real services: gnome-keyring (the
//! Secret Service) under `scripts/with-keyring.sh` and swtpm under
//! `scripts/with-swtpm.sh`. Each test needs its service's environment
//! variable (DBUS_SESSION_BUS_ADDRESS, SESSION_VAULT_TCTI) and says why it
//! skips when it is absent; CI always provides them:
//!
//! ```sh
//! scripts/with-keyring.sh scripts/with-swtpm.sh cargo test -p sv-cli --all-features --test backends
//! ```
//!
//! The keyring is shared by every test of this binary, and some tests lock
//! it or restart it, so those tests take [`KEYRING`] for their whole run.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

static KEYRING: Mutex<()> = Mutex::new(());

fn keyring_guard() -> std::sync::MutexGuard<'static, ()> {
    KEYRING.lock().unwrap_or_else(|p| p.into_inner())
}

fn have_keyring() -> bool {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        eprintln!("SKIPPED: no DBUS_SESSION_BUS_ADDRESS; run under scripts/with-keyring.sh");
        return false;
    }
    true
}

fn have_tpm() -> bool {
    if std::env::var_os("SESSION_VAULT_TCTI").is_none() {
        eprintln!("SKIPPED: no SESSION_VAULT_TCTI; run under scripts/with-swtpm.sh");
        return false;
    }
    if !cfg!(feature = "tpm2") {
        eprintln!("SKIPPED: built without the tpm2 feature; use --all-features");
        return false;
    }
    true
}

/// A test environment whose daemon uses `backend`.
fn env_with(backend: &str) -> TestEnv {
    let mut env = TestEnv::new();
    set_backend(&mut env, backend);
    env
}

fn set_backend(env: &mut TestEnv, backend: &str) {
    env.extra_env.retain(|(k, _)| k != "SESSION_VAULT_BACKEND");
    env.extra_env
        .push(("SESSION_VAULT_BACKEND".into(), backend.into()));
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

/// The vault id in the Secret Service reference blob stored in vault.db.
fn keyring_vault_id(env: &TestEnv) -> String {
    let bytes = vault_bytes(env);
    let at = bytes
        .windows(5)
        .position(|w| w == b"SVSS\x01")
        .expect("a Secret Service reference in vault.db");
    String::from_utf8(bytes[at + 5..at + 37].to_vec()).expect("hex id")
}

fn secret_tool(args: &[&str]) -> std::process::Output {
    Command::new("secret-tool")
        .args(args)
        .output()
        .expect("secret-tool (apt-get install libsecret-tools)")
}

fn keyring_secret(id: &str) -> Option<Vec<u8>> {
    let o = secret_tool(&["lookup", "service", "session-vault", "username", id]);
    (o.status.success() && !o.stdout.is_empty()).then_some(o.stdout)
}

fn dbus_send(args: &[&str]) -> std::process::Output {
    Command::new("dbus-send")
        .arg("--session")
        .arg("--print-reply")
        .args(args)
        .output()
        .expect("dbus-send")
}

fn lock_login_keyring() {
    let o = dbus_send(&[
        "--dest=org.freedesktop.secrets",
        "/org/freedesktop/secrets",
        "org.freedesktop.Secret.Service.Lock",
        "array:objpath:/org/freedesktop/secrets/collection/login",
    ]);
    assert!(
        o.status.success(),
        "lock: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Unlocks the login keyring the way a login does: a keyring daemon
/// started with the password (replacing the running one).
fn unlock_login_keyring() {
    let tmp = std::env::var("SV_KEYRING_TMP").expect("SV_KEYRING_TMP from with-keyring.sh");
    let o = Command::new("sh")
        .arg("-c")
        .arg("printf test | gnome-keyring-daemon --replace --unlock --components=secrets")
        .env("HOME", format!("{tmp}/home"))
        .env("XDG_DATA_HOME", format!("{tmp}/data"))
        .env("XDG_RUNTIME_DIR", format!("{tmp}/run"))
        .output()
        .expect("gnome-keyring-daemon");
    assert!(
        o.status.success(),
        "unlock: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Wait until the new daemon answers.
    for _ in 0..100 {
        let o = dbus_send(&[
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            "string:org.freedesktop.secrets",
        ]);
        if String::from_utf8_lossy(&o.stdout).contains("boolean true") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the keyring daemon did not come back");
}

fn secret_service_pid() -> i32 {
    let o = dbus_send(&[
        "--dest=org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus.GetConnectionUnixProcessID",
        "string:org.freedesktop.secrets",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    text.split_whitespace()
        .last()
        .and_then(|s| s.parse().ok())
        .expect("pid of the keyring daemon")
}

#[test]
fn secret_service_holds_the_key_and_vault_db_never_does() {
    if !have_keyring() {
        return;
    }
    let _k = keyring_guard();
    let env = env_with("secret-service");
    env.run(&["daemon", "start"], None).ok();
    let st = status(&env);
    assert_eq!(st["backend"], "libsecret");
    assert_eq!(st["locked"], false, "opens without a passphrase: {st}");
    let proj = env.mkdir("proj");
    env.add(
        "claude",
        &["--project", proj.to_str().unwrap()],
        "sk-ant-api03-kept-by-the-keyring",
    );
    restart(&env);
    assert_eq!(
        env.get_in(&proj, "claude").ok().stdout,
        "sk-ant-api03-kept-by-the-keyring\n"
    );
    stop(&env);
    let id = keyring_vault_id(&env);
    let vek = keyring_secret(&id).expect("the vault key item in the keyring");
    assert_eq!(vek.len(), 32);
    assert!(
        !contains(&vault_bytes(&env), &vek),
        "the vault key must never be written to vault.db"
    );
    // The item is findable by its clear label and attributes.
    let o = secret_tool(&[
        "search",
        "--all",
        "service",
        "session-vault",
        "username",
        &id,
    ]);
    let text = String::from_utf8_lossy(&o.stdout) + String::from_utf8_lossy(&o.stderr);
    assert!(text.contains("session-vault vault key"), "{text}");
    assert!(
        text.contains("attribute.application = session-vault"),
        "{text}"
    );
    // `daemon status --verbose` names the backends and the wrapping.
    env.run(&["daemon", "start"], None).ok();
    let v = env
        .run(&["daemon", "status", "--verbose"], None)
        .ok()
        .stdout;
    assert!(
        v.contains("Key protection:   libsecret (desktop keyring)"),
        "{v}"
    );
    assert!(v.contains("Key wrappings:    libsecret"), "{v}");
}

#[test]
fn rekey_secret_service_to_passphrase_and_back() {
    if !have_keyring() {
        return;
    }
    let _k = keyring_guard();
    let mut env = env_with("secret-service");
    env.run(&["daemon", "start"], None).ok();
    env.add("codex", &["--global"], "sk-proj-survives-two-rekeys");
    let first_id = keyring_vault_id(&env);
    let r = env
        .run(
            &["rekey", "--backend", "passphrase"],
            Some(&format!("{PASS}\n")),
        )
        .ok();
    assert!(
        r.stdout.contains("removed the libsecret wrapping"),
        "{}",
        r.stdout
    );
    assert_eq!(status(&env)["backend"], "passphrase");
    assert_eq!(wrappings(&env), vec!["passphrase"]);
    assert!(
        keyring_secret(&first_id).is_none(),
        "the old keyring item is deleted after a verified rekey"
    );
    assert_eq!(
        env.get_in(env.dir.path(), "codex").ok().stdout,
        "sk-proj-survives-two-rekeys\n"
    );
    // Auto picks the backend that holds a wrapping: passphrase, locked.
    set_backend(&mut env, "auto");
    restart(&env);
    let st = status(&env);
    assert_eq!(st["backend"], "passphrase", "{st}");
    assert_eq!(st["locked"], true);
    env.run(&["unlock"], Some("not it\n")).code(1);
    env.run(&["unlock"], Some(&format!("{PASS}\n"))).ok();
    assert_eq!(
        env.get_in(env.dir.path(), "codex").ok().stdout,
        "sk-proj-survives-two-rekeys\n"
    );
    // And back: no passphrase asked for.
    let r = env
        .run(&["rekey", "--backend", "secret-service"], None)
        .ok();
    assert!(
        r.stdout.contains("removed the passphrase wrapping"),
        "{}",
        r.stdout
    );
    assert_eq!(wrappings(&env), vec!["libsecret"]);
    restart(&env);
    let st = status(&env);
    assert_eq!(st["backend"], "libsecret", "{st}");
    assert_eq!(st["locked"], false);
    assert_eq!(
        env.get_in(env.dir.path(), "codex").ok().stdout,
        "sk-proj-survives-two-rekeys\n"
    );
    assert_eq!(st["sessions"], 1);
}

#[test]
fn a_crash_in_the_middle_of_rekey_leaves_a_vault_that_opens_with_either() {
    if !have_keyring() {
        return;
    }
    let _k = keyring_guard();
    let mut env = env_with("passphrase");
    env.start_unlocked();
    env.add("gemini", &["--global"], "AIzaSy-crash-safe");
    stop(&env);
    env.extra_env.push((
        "SESSION_VAULT_TEST_CRASH_AFTER_REKEY_WRAP".into(),
        "1".into(),
    ));
    env.start_unlocked();
    let pid = env.daemon_pid().expect("daemon pid");
    let r = env.run(&["rekey", "--backend", "secret-service"], None);
    assert_ne!(r.code, 0, "the daemon aborted mid-rekey: {}", r.stdout);
    TestEnv::wait_gone(pid);
    env.extra_env
        .retain(|(k, _)| k != "SESSION_VAULT_TEST_CRASH_AFTER_REKEY_WRAP");
    // Both wrappings are there: the old passphrase one opens ...
    env.run(&["daemon", "start"], None).ok();
    let mut w = wrappings(&env);
    w.sort();
    assert_eq!(w, vec!["libsecret", "passphrase"]);
    stop(&env);
    env.run(&["daemon", "start", "--backend", "passphrase"], None)
        .ok();
    env.run(&["unlock"], Some(&format!("{PASS}\n"))).ok();
    assert_eq!(
        env.get_in(env.dir.path(), "gemini").ok().stdout,
        "AIzaSy-crash-safe\n"
    );
    stop(&env);
    // ... and so does the new keyring one, without a passphrase.
    set_backend(&mut env, "secret-service");
    env.run(&["daemon", "start"], None).ok();
    assert_eq!(status(&env)["locked"], false);
    assert_eq!(
        env.get_in(env.dir.path(), "gemini").ok().stdout,
        "AIzaSy-crash-safe\n"
    );
    // Finishing the rekey cleans up.
    env.run(&["rekey", "--backend", "secret-service"], None)
        .ok();
    assert_eq!(wrappings(&env), vec!["libsecret"]);
}

#[test]
fn a_locked_keyring_is_reported_with_how_to_unlock_it() {
    if !have_keyring() {
        return;
    }
    let _k = keyring_guard();
    let env = env_with("secret-service");
    env.run(&["daemon", "start"], None).ok();
    env.add(
        "claude",
        &["--global"],
        "sk-ant-api03-behind-a-locked-keyring",
    );
    stop(&env);
    lock_login_keyring();
    let started = env.run(&["daemon", "start"], None);
    // Whatever happens next, leave the keyring usable for the other tests.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        started.ok();
        let st = status(&env);
        assert_eq!(st["locked"], true, "{st}");
        let note = st["backend_note"].as_str().unwrap_or_default().to_owned();
        assert!(note.contains("locked"), "{note}");
        let r = env.run(&["unlock"], None).code(4);
        assert!(
            r.stderr.contains("unlock your login keyring"),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("session-vault unlock"), "{}", r.stderr);
        let v = env.run(&["daemon", "status"], None).ok().stdout;
        assert!(v.contains("Backend warning:"), "{v}");
    }));
    unlock_login_keyring();
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }
    env.run(&["unlock"], None).ok();
    assert_eq!(
        env.get_in(env.dir.path(), "claude").ok().stdout,
        "sk-ant-api03-behind-a-locked-keyring\n"
    );
    assert_eq!(wrappings(&env), vec!["libsecret"]);
}

#[test]
fn a_deleted_key_item_refuses_to_open_and_never_creates_a_new_key() {
    if !have_keyring() {
        return;
    }
    let _k = keyring_guard();
    let env = env_with("secret-service");
    env.run(&["daemon", "start"], None).ok();
    env.add(
        "cursor",
        &["--global"],
        "cursor-key-whose-vault-key-vanishes",
    );
    stop(&env);
    let id = keyring_vault_id(&env);
    let o = secret_tool(&["clear", "service", "session-vault", "username", &id]);
    assert!(o.status.success());
    assert!(keyring_secret(&id).is_none());
    env.run(&["daemon", "start"], None).ok();
    let st = status(&env);
    assert_eq!(st["locked"], true, "{st}");
    assert_eq!(st["initialized"], true);
    assert!(
        st["backend_note"]
            .as_str()
            .unwrap_or_default()
            .contains("missing"),
        "{st}"
    );
    let r = env.run(&["unlock"], None).code(1);
    assert!(r.stderr.contains("is missing"), "{}", r.stderr);
    assert!(r.stderr.contains("no new key was created"), "{}", r.stderr);
    let r = env.get_in(env.dir.path(), "cursor");
    assert_eq!(r.code, 4, "{}", r.stderr);
    stop(&env);
    // Nothing was rewritten over the vault: same key check value, same
    // wrapping, the session still listed.
    assert_eq!(keyring_vault_id(&env), id);
    env.run(&["daemon", "start"], None).ok();
    assert_eq!(status(&env)["sessions"], 1);
    assert_eq!(wrappings(&env), vec!["libsecret"]);
}

#[test]
fn the_keyring_going_away_after_start_keeps_serving_from_memory() {
    if !have_keyring() {
        return;
    }
    let _k = keyring_guard();
    let env = env_with("secret-service");
    env.run(&["daemon", "start"], None).ok();
    env.add("claude", &["--global"], "sk-ant-api03-served-from-memory");
    let pid = secret_service_pid();
    // SAFETY: plain kill(2) of the keyring daemon with-keyring.sh started.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    TestEnv::wait_gone(pid);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert_eq!(
            env.get_in(env.dir.path(), "claude").ok().stdout,
            "sk-ant-api03-served-from-memory\n"
        );
        let st = status(&env);
        assert_eq!(st["locked"], false);
        let note = st["backend_note"].as_str().unwrap_or_default().to_owned();
        assert!(note.contains("serving from memory"), "{st}");
    }));
    unlock_login_keyring();
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }
    assert!(status(&env)["backend_note"].is_null());
}

#[test]
fn tpm2_seals_the_key_and_opens_without_a_passphrase() {
    if !have_tpm() {
        return;
    }
    let env = env_with("tpm2");
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
fn rekey_tpm2_to_passphrase_and_back() {
    if !have_tpm() {
        return;
    }
    let mut env = env_with("tpm2");
    env.run(&["daemon", "start"], None).ok();
    env.add("codex", &["--global"], "sk-proj-tpm-round-trip");
    env.run(
        &["rekey", "--backend", "passphrase"],
        Some(&format!("{PASS}\n")),
    )
    .ok();
    assert_eq!(wrappings(&env), vec!["passphrase"]);
    set_backend(&mut env, "auto");
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
fn a_crash_during_rekey_to_tpm2_leaves_both_wrappings() {
    if !have_tpm() {
        return;
    }
    let mut env = env_with("passphrase");
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
    set_backend(&mut env, "tpm2");
    env.run(&["daemon", "start"], None).ok();
    let mut w = wrappings(&env);
    w.sort();
    assert_eq!(w, vec!["passphrase", "tpm2"]);
    assert_eq!(
        env.get_in(env.dir.path(), "gemini").ok().stdout,
        "AIzaSy-tpm-crash\n"
    );
    stop(&env);
    set_backend(&mut env, "passphrase");
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
fn a_damaged_tpm_blob_refuses_to_open_and_explains() {
    if !have_tpm() {
        return;
    }
    let env = env_with("tpm2");
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

#[test]
fn the_tpm_sealed_vault_never_holds_the_key() {
    if !have_tpm() || !have_keyring() {
        return;
    }
    let _k = keyring_guard();
    // Learn the key through the keyring, then move it under the TPM.
    let env = env_with("secret-service");
    env.run(&["daemon", "start"], None).ok();
    env.add("claude", &["--global"], "sk-ant-api03-moved-to-the-tpm");
    let id = keyring_vault_id(&env);
    let vek = keyring_secret(&id).expect("vault key item");
    env.run(&["rekey", "--backend", "tpm2"], None).ok();
    assert_eq!(wrappings(&env), vec!["tpm2"]);
    assert_eq!(
        env.get_in(env.dir.path(), "claude").ok().stdout,
        "sk-ant-api03-moved-to-the-tpm\n"
    );
    stop(&env);
    assert!(!contains(&vault_bytes(&env), &vek));
    assert!(
        keyring_secret(&id).is_none(),
        "the keyring item is gone after the rekey"
    );
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

#[test]
fn rekey_to_the_same_passphrase_backend_changes_the_passphrase() {
    let env = env_with("passphrase");
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
