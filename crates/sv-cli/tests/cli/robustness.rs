//! Crashes, concurrency, hostile frames, hygiene and tampering.
use crate::util::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn daemon_bin() -> PathBuf {
    sv_bin().parent().unwrap().join("sv-daemon")
}

/// Waits (10 s at most) until a daemon answers on the test's socket.
fn wait_for_socket(env: &TestEnv) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(env.socket()).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "daemon did not come up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn rpc(s: &mut UnixStream, line: &str) -> serde_json::Value {
    s.write_all(line.as_bytes()).unwrap();
    s.write_all(b"\n").unwrap();
    let mut out = String::new();
    BufReader::new(s.try_clone().unwrap())
        .read_line(&mut out)
        .unwrap();
    serde_json::from_str(&out).unwrap_or_else(|_| panic!("not JSON: {out:?}"))
}

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn kill_9_during_concurrent_adds_loses_no_acknowledged_session() {
    let mut env = TestEnv::new();
    env.start_unlocked();
    let app = env.mkdir("app");
    let pid = env.daemon_pid().unwrap();
    env.extra_env
        .push(("SESSION_VAULT_NO_AUTOSTART".into(), "1".into()));
    let env = Arc::new(env);
    let stored = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for t in 0..6 {
        let (env, stored, stop, app) = (env.clone(), stored.clone(), stop.clone(), app.clone());
        threads.push(std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let r = env.run(
                    &[
                        "add",
                        "--tool",
                        "claude",
                        "--project",
                        app.to_str().unwrap(),
                    ],
                    Some(&format!("sk-{t}-{i}\n")),
                );
                if let Some(id) = r.stdout.trim().strip_prefix("Stored session ") {
                    stored.lock().unwrap().push(id.to_owned());
                }
                i += 1;
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill(2) of the daemon we started.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    TestEnv::wait_gone(pid);
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let acknowledged = stored.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 6,
        "the adds ran: {}",
        acknowledged.len()
    );
    assert!(
        env.socket().exists(),
        "the crash left a stale socket behind"
    );
    // The next start replaces the stale socket and the vault opens.
    env.run(&["daemon", "start"], None).ok();
    env.run(&["unlock"], Some(&format!("{PASS}\n"))).ok();
    let js: serde_json::Value =
        serde_json::from_str(&env.run(&["list", "--json"], None).ok().stdout).unwrap();
    let ids: Vec<&str> = js
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    for id in &acknowledged {
        assert!(
            ids.contains(&id.as_str()),
            "session {id} acknowledged but lost"
        );
    }
    env.get_in(&app, "claude").ok();
}

#[test]
fn three_hundred_concurrent_lookups_across_two_projects() {
    let env = TestEnv::new();
    env.start_unlocked();
    let a = env.mkdir("a");
    let b = env.mkdir("b");
    env.add("claude", &["--project", a.to_str().unwrap()], "key-a");
    env.add("claude", &["--project", b.to_str().unwrap()], "key-b");
    env.gets_across(&a, &b, 300);
}

#[test]
fn hostile_frames_leave_the_daemon_serving() {
    let env = TestEnv::new();
    env.start_unlocked();
    let app = env.mkdir("app");
    env.add("claude", &["--project", app.to_str().unwrap()], "key-app");
    // An idle connection and a half-sent frame stay open meanwhile.
    let idle = UnixStream::connect(env.socket()).unwrap();
    let mut half = UnixStream::connect(env.socket()).unwrap();
    half.write_all(br#"{"jsonrpc":"2.0","id":1,"meth"#).unwrap();

    let mut s = UnixStream::connect(env.socket()).unwrap();
    assert_eq!(rpc(&mut s, "this is not json")["error"]["code"], -32700);
    assert_eq!(rpc(&mut s, "[1,2,3]")["error"]["code"], -32700);
    assert_eq!(
        rpc(&mut s, r#"{"jsonrpc":"1.0","id":2,"method":"status"}"#)["error"]["code"],
        -32600
    );
    let v = rpc(
        &mut s,
        r#"{"jsonrpc":"2.0","id":3,"method":"steal_everything"}"#,
    );
    assert_eq!(v["error"]["code"], -32601);
    assert_eq!(v["id"], 3);
    assert_eq!(
        rpc(
            &mut s,
            r#"{"jsonrpc":"2.0","id":4,"method":"add","params":{"tool":5}}"#
        )["error"]["code"],
        -32602
    );
    assert_eq!(
        rpc(&mut s, "\u{0}\u{1}\u{ff}garbage")["error"]["code"],
        -32700
    );
    // Still usable on the same connection.
    assert!(
        rpc(&mut s, r#"{"jsonrpc":"2.0","id":5,"method":"status"}"#)["result"]["version"]
            .is_string()
    );

    // A frame over 64 KiB gets an error and the connection is closed.
    let mut big = UnixStream::connect(env.socket()).unwrap();
    let payload = vec![b'x'; 70 * 1024];
    let _ = big.write_all(&payload);
    let mut resp = String::new();
    BufReader::new(big.try_clone().unwrap())
        .read_line(&mut resp)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&resp).unwrap();
    assert_eq!(v["error"]["code"], -32008);
    let mut rest = Vec::new();
    let _ = big.read_to_end(&mut rest);

    // A client that sends half a frame and disconnects.
    let mut gone = UnixStream::connect(env.socket()).unwrap();
    gone.write_all(b"{\"jsonrpc\":").unwrap();
    drop(gone);

    assert_eq!(env.get_in(&app, "claude").ok().stdout, "key-app\n");
    drop(idle);
    drop(half);
    assert_eq!(env.get_in(&app, "claude").ok().stdout, "key-app\n");
}

#[test]
fn no_secret_in_files_argv_or_environ() {
    let mut env = TestEnv::new();
    let secret = "sk-ant-api03-NEVER-ON-DISK-0123456789";
    let app = env.mkdir("app");
    // The user's shell already exports a key when the daemon autostarts:
    // the daemon must not inherit it.
    env.extra_env.push((
        "ANTHROPIC_API_KEY".into(),
        "sk-ant-exported-in-shell".into(),
    ));
    env.run(&["unlock"], Some(&format!("{PASS}\n"))).ok();
    env.add("claude", &["--project", app.to_str().unwrap()], secret);
    env.add("codex", &["--global"], secret);
    for _ in 0..3 {
        env.get_in(&app, "claude").ok();
    }
    env.run_in(&app, &["env", "--tool", "claude"], None).ok();
    let pid = env.daemon_pid().unwrap();
    let dir = env.data_dir();
    for name in ["vault.db", "vault.db-wal", "vault.db-shm", "sv-daemon.log"] {
        if let Ok(bytes) = std::fs::read(dir.join(name)) {
            assert!(
                !contains(&bytes, secret.as_bytes()),
                "{name} holds the secret"
            );
            assert!(
                !contains(&bytes, PASS.as_bytes()),
                "{name} holds the passphrase"
            );
        }
    }
    for f in ["cmdline", "environ"] {
        let bytes = std::fs::read(format!("/proc/{pid}/{f}")).unwrap();
        assert!(
            !contains(&bytes, secret.as_bytes()),
            "daemon {f} holds the secret"
        );
        assert!(
            !contains(&bytes, b"sk-ant-exported-in-shell"),
            "daemon {f} inherited an exported key"
        );
        assert!(
            !contains(&bytes, PASS.as_bytes()),
            "daemon {f} holds the passphrase"
        );
    }
    // Modes: vault 0600 in a 0700 directory, socket 0600.
    assert_eq!(mode(&env.vault_db()), 0o600);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&env.socket()), 0o600);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        assert_eq!(mode(&p) & 0o077, 0, "{} is open to others", p.display());
    }
}

#[test]
fn swapped_ciphertexts_are_refused() {
    let env = TestEnv::new();
    env.start_unlocked();
    let a = env.mkdir("a");
    let b = env.mkdir("b");
    let ida = env.add("claude", &["--project", a.to_str().unwrap()], "key-a");
    let idb = env.add("claude", &["--project", b.to_str().unwrap()], "key-b");
    let pid = env.daemon_pid().unwrap();
    env.run(&["daemon", "stop"], None).ok();
    TestEnv::wait_gone(pid);
    {
        let c = rusqlite::Connection::open(env.vault_db()).unwrap();
        let get = |id: &str| -> (Vec<u8>, Vec<u8>) {
            c.query_row(
                "SELECT nonce, ciphertext FROM session_values WHERE session_id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
        };
        let (na, ca) = get(&ida);
        let (nb, cb) = get(&idb);
        c.execute(
            "UPDATE session_values SET nonce = ?1, ciphertext = ?2 WHERE session_id = ?3",
            rusqlite::params![nb, cb, ida],
        )
        .unwrap();
        c.execute(
            "UPDATE session_values SET nonce = ?1, ciphertext = ?2 WHERE session_id = ?3",
            rusqlite::params![na, ca, idb],
        )
        .unwrap();
    }
    env.start_unlocked();
    for dir in [&a, &b] {
        let r = env.get_in(dir, "claude").code(1);
        assert!(r.stderr.contains("integrity check"), "{}", r.stderr);
        assert!(!r.stderr.contains("key-a") && !r.stderr.contains("key-b") && r.stdout.is_empty());
    }
}

#[test]
fn newer_or_damaged_vaults_are_refused_untouched() {
    let env = TestEnv::new();
    env.start_unlocked();
    let pid = env.daemon_pid().unwrap();
    env.run(&["daemon", "stop"], None).ok();
    TestEnv::wait_gone(pid);
    {
        let c = rusqlite::Connection::open(env.vault_db()).unwrap();
        c.pragma_update(None, "user_version", 42).unwrap();
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    let before = std::fs::read(env.vault_db()).unwrap();
    let r = env.run(&["daemon", "start"], None).code(4);
    assert!(r.stderr.contains("newer session-vault"), "{}", r.stderr);
    assert_eq!(std::fs::read(env.vault_db()).unwrap(), before);

    std::fs::write(env.vault_db(), b"garbage garbage garbage garbage").unwrap();
    let r = env.run(&["daemon", "start"], None).code(4);
    assert!(r.stderr.contains("damaged"), "{}", r.stderr);
    assert_eq!(
        std::fs::read(env.vault_db()).unwrap(),
        b"garbage garbage garbage garbage"
    );
}

#[test]
fn sigterm_exits_0_and_removes_the_socket_and_one_daemon_per_user() {
    let env = TestEnv::new();
    let mut cmd = Command::new(daemon_bin());
    env.apply_env(&mut cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_socket(&env);
    // A second daemon for the same user refuses to start.
    let mut second = Command::new(daemon_bin());
    env.apply_env(&mut second);
    let o = second.output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already running"));
    assert!(
        env.socket().exists(),
        "the loser did not remove the winner's socket"
    );
    // A connection in the middle of a request keeps working until SIGTERM.
    let mut s = UnixStream::connect(env.socket()).unwrap();
    assert!(rpc(&mut s, r#"{"jsonrpc":"2.0","id":1,"method":"status"}"#)["result"].is_object());
    // SAFETY: kill(2) of our child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(!env.socket().exists());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("SIGTERM"), "{err}");
}

#[test]
fn a_runtime_dir_open_to_others_is_refused() {
    let env = TestEnv::new();
    std::fs::set_permissions(&env.runtime, std::fs::Permissions::from_mode(0o755)).unwrap();
    let r = env.run(&["daemon", "start"], None).code(4);
    assert!(r.stderr.contains("open to other users"), "{}", r.stderr);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root (CI is)"]
fn peers_of_another_uid_are_refused() {
    need_root();
    let env = TestEnv::new();
    env.start_unlocked();
    env.add("claude", &["--global"], "key-global");
    // Even with the directory and socket opened to everyone...
    for d in [env.dir.path(), &env.runtime] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(env.socket(), std::fs::Permissions::from_mode(0o666)).unwrap();
    let (_, answer) = raw_request_as_nobody(
        &env.socket(),
        std::path::Path::new("/"),
        r#"{"jsonrpc":"2.0","id":1,"method":"get","params":{"tool":"claude"}}"#,
    );
    assert!(
        answer.contains("-32003") && answer.contains("another user"),
        "{answer}"
    );
    assert!(!answer.contains("key-global"));
    assert!(env.daemon_pid().is_some(), "daemon still serving");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root (CI is)"]
fn a_runtime_dir_of_another_user_is_never_talked_to() {
    need_root();
    let env = TestEnv::new();
    // SAFETY: chown(2) on our own temp directory.
    let c = std::ffi::CString::new(env.runtime.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
    let r = env
        .run(
            &["add", "--tool", "claude", "--global"],
            Some("sk-must-not-leave\n"),
        )
        .code(4);
    assert!(
        r.stderr.contains("not a directory of yours"),
        "{}",
        r.stderr
    );
    let r = env.run(&["get", "--tool", "claude"], None).code(4);
    assert!(r.stderr.contains("XDG_RUNTIME_DIR"), "{}", r.stderr);
}

#[test]
fn a_reply_naming_other_variables_is_refused() {
    // A fake daemon (same uid) answers `get` with a name that is shell code.
    let env = TestEnv::new();
    let listener = std::os::unix::net::UnixListener::bind(env.socket()).unwrap();
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut s, _) = listener.accept().unwrap();
            let mut line = String::new();
            BufReader::new(s.try_clone().unwrap())
                .read_line(&mut line)
                .unwrap();
            let reply = r#"{"jsonrpc":"2.0","id":1,"result":{"session_id":"x","tool":"claude","scope":"global","values":[{"name":"X;touch pwned;Y","value":"v"}]}}"#;
            s.write_all(reply.as_bytes()).unwrap();
            s.write_all(b"\n").unwrap();
        }
    });
    let app = env.mkdir("app");
    for args in [
        &["env", "--tool", "claude"][..],
        &["exec", "--tool", "claude", "--", "true"][..],
    ] {
        let r = env.run_in(&app, args, None).code(1);
        assert!(r.stdout.is_empty(), "{}", r.stdout);
        assert!(
            r.stderr.contains("variables other than ANTHROPIC_API_KEY"),
            "{}",
            r.stderr
        );
    }
    server.join().unwrap();
    assert!(!app.join("pwned").exists());
}

#[test]
fn a_slow_typist_keeps_the_connection() {
    // `add` asks for status, then waits for the user to paste the key on
    // the same connection: more than 30 s idle between frames is fine.
    let env = TestEnv::new();
    env.start_unlocked();
    let mut s = UnixStream::connect(env.socket()).unwrap();
    assert!(rpc(&mut s, r#"{"jsonrpc":"2.0","id":1,"method":"status"}"#)["result"].is_object());
    std::thread::sleep(Duration::from_secs(31));
    assert!(rpc(&mut s, r#"{"jsonrpc":"2.0","id":2,"method":"status"}"#)["result"].is_object());
}

#[test]
fn a_daemon_started_by_hand_drops_exported_keys() {
    let env = TestEnv::new();
    let mut cmd = Command::new(daemon_bin());
    env.apply_env(&mut cmd);
    cmd.env("ANTHROPIC_API_KEY", "sk-ant-exported-by-hand")
        .env("SOMETHING_ELSE", "x");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_socket(&env);
    let environ = std::fs::read(format!("/proc/{}/environ", child.id())).unwrap();
    assert!(!contains(&environ, b"sk-ant-exported-by-hand"));
    assert!(!contains(&environ, b"SOMETHING_ELSE"));
    assert!(
        contains(&environ, b"XDG_RUNTIME_DIR="),
        "the allow-listed variables stay"
    );
    // SAFETY: kill(2) of our child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// Without XDG_RUNTIME_DIR the socket lives in `<data>/run` (0700), which
/// no other user can create first; `/tmp/session-vault-UID`, the old
/// fallback, could be taken by anyone and blocked the daemon for good.
#[test]
fn the_runtime_dir_fallback_cannot_be_taken_by_another_user() {
    let env = TestEnv::passphrase();
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = env.command(args);
        cmd.env_remove("XDG_RUNTIME_DIR");
        run_cmd(cmd, stdin)
    };
    // The old fallback, taken the way an attacker would: a file, or (as
    // root) a directory owned by nobody. Only when nothing of a real
    // session sits there.
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let old = PathBuf::from(format!("/tmp/session-vault-{uid}"));
    let planted = old.symlink_metadata().is_err() && std::fs::write(&old, "taken").is_ok();
    run(&["daemon", "start"], None).ok();
    run(&["unlock"], Some(&format!("{PASS}\n"))).ok();
    run(
        &["add", "--tool", "claude", "--global"],
        Some("sk-fallback-key-0123456789\n"),
    )
    .ok();
    let got = run(&["get", "--tool", "claude"], None);
    if planted {
        let _ = std::fs::remove_file(&old);
    }
    assert_eq!(got.ok().stdout, "sk-fallback-key-0123456789\n");
    let dir = env.data_dir().join("run");
    let meta = std::fs::symlink_metadata(&dir).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    assert!(dir.join("session-vault.sock").exists());
    run(&["daemon", "stop"], None).ok();
}
