//! gnome-keyring (the Secret Service) under `scripts/with-keyring.sh`,
//! started unlocked with the password `test`. The keyring is shared by
//! every test of the process, and some tests lock it or restart it, so
//! those tests take [`KEYRING`] for their whole run. The last test also
//! moves the key under the TPM: this suite runs with swtpm up as well.

use super::*;
use std::process::Command;
use std::sync::Mutex;

static KEYRING: Mutex<()> = Mutex::new(());

fn keyring_guard() -> std::sync::MutexGuard<'static, ()> {
    KEYRING.lock().unwrap_or_else(|p| p.into_inner())
}

/// Fails (never skips) when the keyring is not there.
fn need_keyring() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no DBUS_SESSION_BUS_ADDRESS: run under scripts/with-keyring.sh (scripts/test-backends.sh does)"
    );
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
#[ignore = "needs gnome-keyring: run by scripts/test-backends.sh"]
fn secret_service_holds_the_key_and_vault_db_never_does() {
    need_keyring();
    let _k = keyring_guard();
    let env = TestEnv::with_backend("secret-service");
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
#[ignore = "needs gnome-keyring: run by scripts/test-backends.sh"]
fn rekey_secret_service_to_passphrase_and_back() {
    need_keyring();
    let _k = keyring_guard();
    let mut env = TestEnv::with_backend("secret-service");
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
    env.set_backend("auto");
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
#[ignore = "needs gnome-keyring and --features test-hooks: run by scripts/test-backends.sh"]
fn a_crash_in_the_middle_of_rekey_leaves_a_vault_that_opens_with_either() {
    need_keyring();
    need_test_hooks();
    let _k = keyring_guard();
    let mut env = TestEnv::with_backend("passphrase");
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
    env.set_backend("secret-service");
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
#[ignore = "needs gnome-keyring: run by scripts/test-backends.sh"]
fn a_locked_keyring_is_reported_with_how_to_unlock_it() {
    need_keyring();
    let _k = keyring_guard();
    let env = TestEnv::with_backend("secret-service");
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
#[ignore = "needs gnome-keyring: run by scripts/test-backends.sh"]
fn a_deleted_key_item_refuses_to_open_and_never_creates_a_new_key() {
    need_keyring();
    let _k = keyring_guard();
    let env = TestEnv::with_backend("secret-service");
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
#[ignore = "needs gnome-keyring: run by scripts/test-backends.sh"]
fn the_keyring_going_away_after_start_keeps_serving_from_memory() {
    need_keyring();
    let _k = keyring_guard();
    let env = TestEnv::with_backend("secret-service");
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
#[ignore = "needs gnome-keyring and swtpm: run by scripts/test-backends.sh"]
fn the_tpm_sealed_vault_never_holds_the_key() {
    super::tpm2::need_tpm();
    need_keyring();
    let _k = keyring_guard();
    // Learn the key through the keyring, then move it under the TPM.
    let env = TestEnv::with_backend("secret-service");
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
