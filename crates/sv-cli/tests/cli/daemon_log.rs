//! The daemon's log: at every level, through add/get/env/exec/lock/unlock
//! and a wrong passphrase, no line holds a secret or a passphrase; under
//! systemd (JOURNAL_STREAM naming stderr) lines carry the journal's `<N>`
//! priority prefix instead of a timestamp.
use crate::util::*;
use std::process::Stdio;
use std::time::{Duration, Instant};

const SECRET: &str = "sk-ant-api03-LOGTEST-zz9-plural-z-alpha-0123456789";
const SECRET2: &str = "AIzaSyLOGTEST-gemini-key-never-logged-42";
const WRONG: &str = "this is the wrong passphrase, friend";

#[test]
fn no_log_line_at_trace_level_holds_a_secret_or_passphrase() {
    let mut env = TestEnv::passphrase();
    env.extra_env.push(("RUST_LOG".into(), "trace".into()));
    let app = env.mkdir("p/app");
    env.start_unlocked();
    env.add("claude", &["--project", app.to_str().unwrap()], SECRET);
    env.add("gemini", &["--global"], SECRET2);
    assert_eq!(
        env.get_in(&app, "claude").ok().stdout,
        format!("{SECRET}\n")
    );
    let r = env
        .run_in(
            &app,
            &[
                "env", "--tool", "claude", "--tool", "gemini", "--format", "json",
            ],
            None,
        )
        .ok();
    assert!(r.stdout.contains(SECRET2));
    env.run_in(
        &app,
        &exec_claude(&[
            "sh",
            "-c",
            "test \"$ANTHROPIC_API_KEY\" = \"$1\"",
            "sh",
            SECRET,
        ]),
        None,
    )
    .ok();
    env.get_in(&env.mkdir("elsewhere"), "claude").code(3);
    env.run(&["lock"], None).ok();
    env.get_in(&app, "claude").code(4);
    let r = env.run(&["unlock"], Some(&format!("{WRONG}\n")));
    assert_ne!(r.code, 0, "a wrong passphrase must fail");
    assert!(!r.stderr.contains(WRONG));
    env.run(&["unlock"], Some(&format!("{PASS}\n"))).ok();
    env.get_in(&app, "claude").ok();
    env.run(&["list", "--json"], None).ok();
    env.run(&["log"], None).ok();
    env.run(&["daemon", "stop"], None).ok();

    let log = std::fs::read(env.data_dir().join("sv-daemon.log")).expect("sv-daemon.log");
    let text = String::from_utf8_lossy(&log);
    // The log is live at every level (so the check below means something).
    for needle in [
        " INFO ",
        " WARN ",
        " DEBUG ",
        "served credential",
        "wrong passphrase",
        "vault locked",
    ] {
        assert!(text.contains(needle), "no {needle:?} in the log:\n{text}");
    }
    for secret in [SECRET, SECRET2, PASS, WRONG] {
        assert!(
            !contains(&log, secret.as_bytes()),
            "the log holds {secret:?}:\n{text}"
        );
        // Nor a recognisable piece of one.
        assert!(
            !contains(&log, &secret.as_bytes()[..16]),
            "the log holds part of {secret:?}"
        );
    }
}

fn sv_daemon_bin() -> std::path::PathBuf {
    sv_bin().with_file_name("sv-daemon")
}

/// Runs sv-daemon in the foreground with stderr to `log` and JOURNAL_STREAM
/// naming `journal_of`'s device:inode; stops it with SIGTERM once ready.
fn run_foreground(
    env: &TestEnv,
    log: &std::path::Path,
    journal_of: &std::path::Path,
    verbose: bool,
) -> String {
    use std::os::unix::fs::MetadataExt;
    let file = std::fs::File::create(log).unwrap();
    std::fs::write(journal_of, b"").ok();
    let m = std::fs::metadata(journal_of).unwrap();
    let mut cmd = std::process::Command::new(sv_daemon_bin());
    env.apply_env(&mut cmd);
    cmd.arg("--foreground")
        .env("JOURNAL_STREAM", format!("{}:{}", m.dev(), m.ino()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file);
    if verbose {
        cmd.arg("--verbose");
    }
    let mut child = cmd.spawn().expect("spawn sv-daemon");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !env.socket().exists() {
        assert!(Instant::now() < deadline, "sv-daemon did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    env.run(&["daemon", "status"], None).ok();
    // SAFETY: plain kill(2) to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    std::fs::read_to_string(log).unwrap()
}

#[test]
fn journal_format_under_systemd_and_timestamps_otherwise() {
    let env = TestEnv::passphrase();
    let log = env.dir.path().join("stderr.log");
    let text = run_foreground(&env, &log, &log, true);
    assert!(text.lines().count() >= 2, "{text}");
    for line in text.lines() {
        let prio = line
            .strip_prefix('<')
            .and_then(|l| l.split_once('>'))
            .map(|(p, _)| p);
        assert!(
            matches!(prio, Some("3" | "4" | "6" | "7")),
            "not journal format: {line:?}"
        );
        assert!(
            !line.contains("Z  INFO") && !line.starts_with("20"),
            "timestamp in {line:?}"
        );
    }
    assert!(text.lines().any(|l| l.starts_with("<6>ready ")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("<6>stopped")), "{text}");

    // JOURNAL_STREAM inherited but naming another file: plain format.
    let other = env.dir.path().join("not-stderr");
    let text = run_foreground(&env, &log, &other, false);
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("20") && first.contains(" INFO ready "),
        "{text}"
    );
    assert!(
        !text.contains(" DEBUG "),
        "debug lines only with --verbose or RUST_LOG: {text}"
    );
}

/// A client looping on a directory with no key once grew the log by
/// 1.1 MB/s: refusals are in the audit table, and the log gets at most one
/// summary line per minute for them.
#[test]
fn ten_thousand_refusals_do_not_grow_the_log() {
    use std::io::{BufRead, BufReader};
    let env = TestEnv::passphrase();
    let empty = env.mkdir("nothing/here");
    env.start_unlocked();
    let log = env.data_dir().join("sv-daemon.log");
    let before = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    // The daemon reads the caller's directory from /proc: ask from `empty`.
    let script = "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\nf=s.makefile('rwb')\nn=0\nfor batch in range(100):\n    for i in range(100):\n        f.write(b'{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"get\",\"params\":{\"tool\":\"claude\"}}\\n' % (batch*100+i))\n    f.flush()\n    for i in range(100):\n        if b'no credential' in f.readline(): n += 1\nprint(n)\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(env.socket())
        .current_dir(&empty)
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("python3 is installed");
    let mut out = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut out)
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(out.trim(), "10000", "every lookup was refused");
    let after = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    assert!(
        after.saturating_sub(before) < 2048,
        "10 000 refusals grew the log by {} bytes",
        after - before
    );
    // The audit table still has each one.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = env.run(&["log", "--json", "--denied", "--limit", "10000"], None);
        let n = r.stdout.matches("refused_scope").count();
        if n >= 10_000 {
            break;
        }
        assert!(Instant::now() < deadline, "{n} refusals in the audit log");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs `script` (python3, the socket as its argument) in `cwd`; returns
/// what it printed.
fn python_client(env: &TestEnv, cwd: &std::path::Path, script: &str) -> String {
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(env.socket())
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("python3 is installed");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Every refusal a client can repeat is rate-limited in the log, not only
/// a lookup with no credential: a client refused by a caller rule 10 000
/// times, and 200 connections each sending a frame over 64 KiB, grow the
/// log by under 2 KiB (each used to write a warn line), while the audit
/// table still holds each refused lookup.
#[test]
fn ten_thousand_rule_refusals_and_oversized_frames_do_not_grow_the_log() {
    let env = TestEnv::passphrase();
    env.start_unlocked();
    let app = env.mkdir("app");
    let allowed = env.mkdir("allowed").join("sh");
    std::fs::copy("/bin/sh", &allowed).unwrap();
    env.run(
        &[
            "add",
            "--tool",
            "claude",
            "--project",
            app.to_str().unwrap(),
            "--allow-exe",
            allowed.to_str().unwrap(),
        ],
        Some(&format!("{SECRET}\n")),
    )
    .ok();
    let log = env.data_dir().join("sv-daemon.log");
    let size = || std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    // The first refusal of a run logs its summary at once: start after it.
    let one = "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\ns.sendall(b'{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"get\",\"params\":{\"tool\":\"claude\"}}\\n')\nprint(b'allows only' in s.makefile('rb').readline())\n";
    assert_eq!(
        python_client(&env, &app, one),
        "True",
        "python3 is refused by the rule"
    );
    let before = size();
    let rules = "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\nf=s.makefile('rwb')\nn=0\nfor batch in range(100):\n    for i in range(100):\n        f.write(b'{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"get\",\"params\":{\"tool\":\"claude\"}}\\n' % (batch*100+i))\n    f.flush()\n    for i in range(100):\n        if b'allows only' in f.readline(): n += 1\nprint(n)\n";
    assert_eq!(
        python_client(&env, &app, rules),
        "10000",
        "every lookup was refused by the rule"
    );
    let frames = "import socket,sys\nn=0\nfor i in range(200):\n    s=socket.socket(socket.AF_UNIX)\n    s.connect(sys.argv[1])\n    try:\n        s.sendall(b'x'*70000+b'\\n')\n    except OSError:\n        pass\n    if b'64 KiB' in s.makefile('rb').readline(): n += 1\n    s.close()\nprint(n)\n";
    assert_eq!(
        python_client(&env, &app, frames),
        "200",
        "every frame was refused"
    );
    let grown = size().saturating_sub(before);
    assert!(grown < 2048, "the refusals grew the log by {grown} bytes");
    // The audit table still has each refused lookup.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = env.run(&["log", "--json", "--denied", "--limit", "20000"], None);
        let n = r.stdout.matches("refused_allow_exe").count();
        if n > 10_000 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{n} rule refusals in the audit log"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The log file the CLI opens for the daemon is cut back once it passes
/// 1 MiB (docs/operations.md), with a line saying so.
#[test]
fn the_log_file_is_cut_back_past_one_mib() {
    use std::io::Write;
    let env = TestEnv::passphrase();
    env.start_unlocked();
    let log = env.data_dir().join("sv-daemon.log");
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let filler = "x".repeat(1023) + "\n";
    for _ in 0..1100 {
        f.write_all(filler.as_bytes()).unwrap();
    }
    drop(f);
    assert!(std::fs::metadata(&log).unwrap().len() > 1024 * 1024);
    // Any line the daemon writes next (locking logs one at info).
    env.run(&["lock"], None).ok();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if text.contains("vault locked") {
            assert!(text.len() < 4096, "{} bytes left", text.len());
            assert!(
                text.contains("log passed 1024 KiB and was cut back"),
                "{text}"
            );
            assert!(!text.contains("xxxx"), "the old lines stayed");
            break;
        }
        assert!(Instant::now() < deadline, "no line after the lock");
        std::thread::sleep(Duration::from_millis(50));
    }
}
