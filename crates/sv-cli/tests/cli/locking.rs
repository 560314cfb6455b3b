//! Locking: `lock_after` idle seconds in config.toml lock the vault by
//! themselves, `session-vault lock` and SIGUSR1 lock at once, `daemon
//! status` says since when, and `unlock` restores service.
use crate::util::*;
use serde_json::Value;
use std::time::{Duration, Instant};

const SECRET: &str = "sk-ant-api03-LOCKTEST-0123456789abcdef";

/// `lock_after` for the idle test: long enough that the steps which must
/// land inside one idle window (unlock then add; unlock then get) do so on
/// a loaded two-core machine running the rest of the suite beside it,
/// short enough to wait for twice.
const LOCK_AFTER: i64 = 5;

fn status(env: &TestEnv) -> Value {
    let r = env.run(&["daemon", "status", "--json"], None).ok();
    serde_json::from_str(&r.stdout).expect("status json")
}

/// Polls until the vault reports locked; panics after `limit`.
fn wait_locked(env: &TestEnv, limit: Duration) -> Value {
    let start = Instant::now();
    loop {
        let st = status(env);
        if st["locked"] == true {
            return st;
        }
        assert!(
            start.elapsed() < limit,
            "still unlocked after {limit:?}: {st}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn idle_vault_locks_itself_and_unlock_restores_service() {
    let env = TestEnv::passphrase();
    env.write_config(&format!("lock_after = {LOCK_AFTER}\n"));
    let app = env.mkdir("app");
    let before_unlock = now();
    env.start_unlocked();
    env.add("claude", &["--global"], SECRET);
    let st = status(&env);
    assert_eq!(st["backend"], "passphrase");
    assert_eq!(st["lock_after"], LOCK_AFTER, "{st}");

    // Nobody uses the key: it locks, and says since when.
    let st = wait_locked(&env, Duration::from_secs(30));
    let since = st["locked_since"].as_i64().expect("locked_since");
    assert!(
        since >= before_unlock + LOCK_AFTER && since <= now(),
        "locked at {since}, unlocked after {before_unlock}"
    );
    let text = env.run(&["daemon", "status"], None).ok().stdout;
    assert!(text.contains("Locked:           yes (since 20"), "{text}");
    assert!(
        text.contains(&format!("Auto-lock:        after {LOCK_AFTER}s idle")),
        "{text}"
    );
    let r = env.get_in(&app, "claude").code(4);
    assert!(
        r.stdout.is_empty() && r.stderr.contains("session-vault unlock"),
        "{}",
        r.stderr
    );

    // unlock restores service (well inside the idle window).
    env.run(&["unlock"], Some(&format!("{PASS}\n"))).ok();
    assert_eq!(
        env.get_in(&app, "claude").ok().stdout,
        format!("{SECRET}\n")
    );
    let st = status(&env);
    assert_eq!(st["locked_since"], Value::Null, "{st}");

    // The refusal while locked is in the audit log.
    let log = env.run(&["log", "--json", "--denied"], None).ok().stdout;
    assert!(log.contains("refused_locked"), "{log}");
    // And it locks again once idle.
    wait_locked(&env, Duration::from_secs(30));
}

#[test]
fn lock_command_and_sigusr1_lock_at_once() {
    let env = TestEnv::passphrase();
    let app = env.mkdir("app");
    env.start_unlocked();
    env.add("claude", &["--global"], SECRET);
    assert_eq!(status(&env)["locked"], false);
    assert_eq!(
        status(&env)["lock_after"],
        Value::Null,
        "auto-lock is off by default"
    );

    assert_eq!(env.run(&["lock"], None).ok().stdout, "Vault locked.\n");
    let st = status(&env);
    assert_eq!(st["locked"], true);
    assert!(
        st["locked_since"]
            .as_i64()
            .is_some_and(|t| (t - now()).abs() <= 5),
        "{st}"
    );
    env.get_in(&app, "claude").code(4);

    // A wrong passphrase leaves it locked; the right one opens it.
    let r = env.run(&["unlock"], Some("not the passphrase\n"));
    assert_ne!(r.code, 0);
    assert_eq!(status(&env)["locked"], true);
    env.run(&["unlock"], Some(&format!("{PASS}\n"))).ok();
    env.get_in(&app, "claude").ok();

    let pid = env.daemon_pid().expect("daemon pid");
    // SAFETY: plain kill(2) to the daemon this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGUSR1) }, 0);
    let st = wait_locked(&env, Duration::from_secs(10));
    assert_eq!(st["pid"], pid, "the daemon survived SIGUSR1");
    env.get_in(&app, "claude").code(4);
    env.run(&["unlock"], Some(&format!("{PASS}\n"))).ok();
    assert_eq!(
        env.get_in(&app, "claude").ok().stdout,
        format!("{SECRET}\n")
    );
}
