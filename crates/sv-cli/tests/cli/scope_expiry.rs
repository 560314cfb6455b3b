//! Scope (docs/design.md §4) and expiry end to end, and shell quoting in real shells.
use crate::util::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn scope_rules() {
    let env = TestEnv::new();
    env.start_unlocked();
    let app = env.mkdir("p/app");
    let web = env.mkdir("p/app/web");
    let evil = env.mkdir("p/app-evil");
    let other = env.mkdir("p/other");
    let deep = env.mkdir("p/app/web/src/x");
    let link = env.dir.path().join("link-to-app");
    std::os::unix::fs::symlink(&app, &link).unwrap();

    env.add("claude", &["--project", app.to_str().unwrap()], "key-app");
    // Adding through a symlink stores the canonical path.
    let link_web = env.dir.path().join("link-to-web");
    std::os::unix::fs::symlink(&web, &link_web).unwrap();
    env.add(
        "claude",
        &["--project", link_web.to_str().unwrap()],
        "key-web",
    );

    assert_eq!(env.get_in(&app, "claude").ok().stdout, "key-app\n");
    assert_eq!(
        env.get_in(&web, "claude").ok().stdout,
        "key-web\n",
        "longest project wins"
    );
    assert_eq!(env.get_in(&deep, "claude").ok().stdout, "key-web\n");
    assert_eq!(
        env.get_in(&link, "claude").ok().stdout,
        "key-app\n",
        "symlinked path served"
    );
    env.get_in(&evil, "claude").code(3);
    env.get_in(&other, "claude").code(3);
    // Another tool in the right project: nothing.
    env.get_in(&app, "codex").code(3);

    env.add("claude", &["--global"], "key-global");
    assert_eq!(
        env.get_in(&other, "claude").ok().stdout,
        "key-global\n",
        "global fallback"
    );
    assert_eq!(env.get_in(&evil, "claude").ok().stdout, "key-global\n");
    assert_eq!(
        env.get_in(&app, "claude").ok().stdout,
        "key-app\n",
        "project beats global"
    );
}

#[test]
fn the_claimed_cwd_is_ignored() {
    // A client that claims to be in the project while it is not gets nothing:
    // the daemon reads the directory from /proc.
    use std::io::{BufRead, BufReader, Write};
    let env = TestEnv::new();
    env.start_unlocked();
    let app = env.mkdir("app");
    env.add("claude", &["--project", app.to_str().unwrap()], "key-app");
    let mut s = std::os::unix::net::UnixStream::connect(env.socket()).unwrap();
    let req = serde_json::json!({"jsonrpc":"2.0","id":1,"method":"get","params":{"tool":"claude","cwd":app}});
    writeln!(s, "{req}").unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["error"]["code"], -32002, "{line}");
    assert!(!line.contains("key-app"));
}

#[test]
fn idle_expiry_slides_and_hard_deadline_holds() {
    // Margins of a second or more on every clock, so a busy machine cannot
    // make this flaky (times are whole seconds).
    let env = TestEnv::new();
    env.start_unlocked();
    let a = env.mkdir("a");
    let b = env.mkdir("b");
    let c = env.mkdir("c");
    env.add(
        "claude",
        &["--project", a.to_str().unwrap(), "--ttl", "6"],
        "idle-unused",
    );
    env.add(
        "claude",
        &["--project", b.to_str().unwrap(), "--ttl", "6"],
        "idle-used",
    );
    env.add(
        "claude",
        &[
            "--project",
            c.to_str().unwrap(),
            "--ttl",
            "0",
            "--max-age",
            "10",
        ],
        "hard",
    );
    // c's deadline counts from here. On a loaded machine each `get` can
    // take a good part of a second, so the loop's length is not known in
    // advance: c is checked against the clock, not against the count.
    let c_added = std::time::Instant::now();
    // Serve b and c every 1.5 s for 7.5 s: b's idle clock slides past its
    // 6 s TTL; c is used too, but its deadline does not move.
    let mut c_served = 0;
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(env.get_in(&b, "claude").ok().stdout, "idle-used\n");
        if c_added.elapsed() < Duration::from_secs(9) {
            assert_eq!(env.get_in(&c, "claude").ok().stdout, "hard\n");
            c_served += 1;
        }
    }
    // At least the first three rounds (4.5 s of sleeps) come before 9 s
    // unless a `get` took over 750 ms.
    assert!(c_served >= 3, "c was served {c_served} times before 9 s");
    // a was never used and has expired.
    env.get_in(&a, "claude").code(3);
    // Past c's 10 s with a margin; b was last used at most 3.5 s before.
    std::thread::sleep(Duration::from_secs(11).saturating_sub(c_added.elapsed()));
    // c is past its hard deadline although it was just used; b lives on.
    env.get_in(&c, "claude").code(3);
    assert_eq!(env.get_in(&b, "claude").ok().stdout, "idle-used\n");
    // Expired sessions are purged from the vault.
    let js: serde_json::Value =
        serde_json::from_str(&env.run(&["list", "--json"], None).ok().stdout).unwrap();
    let left: Vec<_> = js
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["scope"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(left, [b.to_str().unwrap()]);
}

const NASTY: &str =
    r#"a'b"c$(touch pwned1)`touch pwned2`;touch pwned3|&<>*?~!#\\ $HOME ${PATH} 'end"#;

fn have(shell: &str) -> bool {
    Command::new(shell)
        .arg("-c")
        .arg("true")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn metacharacters_round_trip_through_real_shells() {
    let env = TestEnv::new();
    env.start_unlocked();
    let app = env.mkdir("app");
    env.add("claude", &["--project", app.to_str().unwrap()], NASTY);
    let sv = sv_bin();
    let script = format!(
        "eval \"$('{}' env --tool claude)\" && printf '%s' \"$ANTHROPIC_API_KEY\"",
        sv.display()
    );
    for shell in ["bash", "sh", "zsh"] {
        if shell == "zsh" && !have("zsh") {
            panic!("zsh is not installed; .ci/run installs it");
        }
        let mut cmd = Command::new(shell);
        cmd.arg("-c").arg(&script).current_dir(&app);
        env.apply_env(&mut cmd);
        let r = run_cmd(cmd, None).ok();
        assert_eq!(r.stdout, NASTY, "{shell}");
    }
    assert!(have("fish"), "fish is not installed; .ci/run installs it");
    let mut cmd = Command::new("fish");
    cmd.arg("-c")
        .arg(format!(
            "'{}' env --tool claude --format fish | source; printf '%s' \"$ANTHROPIC_API_KEY\"",
            sv.display()
        ))
        .current_dir(&app);
    env.apply_env(&mut cmd);
    let r = run_cmd(cmd, None).ok();
    assert_eq!(r.stdout, NASTY, "fish");
    for f in ["pwned1", "pwned2", "pwned3"] {
        assert!(!app.join(f).exists(), "{f}: a value was executed");
    }
}

#[test]
fn repeated_lookups_see_every_change() {
    // The daemon answers a repeated (tool, directory) lookup from memory;
    // each change to the vault must reach the very next lookup.
    let env = TestEnv::new();
    env.start_unlocked();
    let app = env.mkdir("p/app");
    let web = env.mkdir("p/app/web");
    env.add("claude", &["--global"], "key-global");
    for _ in 0..3 {
        assert_eq!(env.get_in(&web, "claude").ok().stdout, "key-global\n");
    }
    // A narrower session added: the next lookup takes it.
    env.add("claude", &["--project", app.to_str().unwrap()], "key-app");
    assert_eq!(env.get_in(&web, "claude").ok().stdout, "key-app\n");
    let web_id = env.add("claude", &["--project", web.to_str().unwrap()], "key-web");
    assert_eq!(env.get_in(&web, "claude").ok().stdout, "key-web\n");
    assert_eq!(env.get_in(&web, "claude").ok().stdout, "key-web\n");
    // Removed by id, by scope, by tool: gone at once.
    env.run(&["remove", &web_id], None).ok();
    assert_eq!(env.get_in(&web, "claude").ok().stdout, "key-app\n");
    env.run(&["remove", "--project", app.to_str().unwrap()], None)
        .ok();
    assert_eq!(env.get_in(&web, "claude").ok().stdout, "key-global\n");
    env.run(&["remove", "--tool", "claude"], None).ok();
    env.get_in(&web, "claude").code(3);
    // Locked: refused, then served again once unlocked.
    env.add("claude", &["--global"], "key-again");
    assert_eq!(env.get_in(&web, "claude").ok().stdout, "key-again\n");
    env.run(&["lock"], None).ok();
    env.get_in(&web, "claude").code(4);
    env.run(&["unlock"], Some(&format!("{PASS}\n"))).ok();
    assert_eq!(env.get_in(&web, "claude").ok().stdout, "key-again\n");
}

#[test]
fn a_remembered_lookup_expires_on_time() {
    // Whole-second margins, as above.
    let env = TestEnv::new();
    env.start_unlocked();
    let app = env.mkdir("app");
    let sub = env.mkdir("app/sub");
    env.add("claude", &["--global"], "key-global");
    env.add(
        "claude",
        &["--project", app.to_str().unwrap(), "--ttl", "4"],
        "key-app",
    );
    // Remembered for app/sub at t=0; then kept alive from app only.
    assert_eq!(env.get_in(&sub, "claude").ok().stdout, "key-app\n");
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(env.get_in(&app, "claude").ok().stdout, "key-app\n");
    }
    // 6 s after app/sub's last lookup, its session is alive (used from
    // app): still served there.
    assert_eq!(env.get_in(&sub, "claude").ok().stdout, "key-app\n");
    // Unused for more than its 4 s: the global one answers, everywhere.
    std::thread::sleep(Duration::from_millis(5200));
    assert_eq!(env.get_in(&sub, "claude").ok().stdout, "key-global\n");
    assert_eq!(env.get_in(&app, "claude").ok().stdout, "key-global\n");
}

#[test]
fn one_connection_follows_its_callers_directory() {
    // The directory is read from the kernel for every request on a
    // connection: a chdir, a rename of the directory the caller is in, and
    // its deletion all change the answer of the next request.
    let env = TestEnv::new();
    env.start_unlocked();
    let a = env.mkdir("a");
    let b = env.mkdir("b");
    let elsewhere = env.mkdir("elsewhere");
    let gone = env.mkdir("gone");
    env.add("claude", &["--project", a.to_str().unwrap()], "key-a");
    env.add("claude", &["--project", b.to_str().unwrap()], "key-b");
    env.add("claude", &["--project", gone.to_str().unwrap()], "key-gone");
    let script = r#"
import json, os, socket, sys
sock, a, b, elsewhere, gone = sys.argv[1:]
s = socket.socket(socket.AF_UNIX)
s.connect(sock)
f = s.makefile("rwb")
def get():
    f.write(b'{"jsonrpc":"2.0","id":1,"method":"get","params":{"tool":"claude"}}\n')
    f.flush()
    r = json.loads(f.readline())
    return r["result"]["values"][0]["value"] if "result" in r else r["error"]["code"]
out = []
os.chdir(a); out += [get(), get()]
os.chdir(b); out += [get()]
os.chdir(a); out += [get()]
os.rename(a, a + "2"); out += [get()]
os.rename(a + "2", a); out += [get()]
os.chdir(elsewhere); out += [get()]
os.chdir(gone); out += [get()]
os.rmdir(gone); out += [get()]
print(json.dumps(out))
"#;
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(script).arg(env.socket());
    for d in [&a, &b, &elsewhere, &gone] {
        cmd.arg(d);
    }
    let r = run_cmd(cmd, None).ok();
    let got: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(
        got,
        serde_json::json!([
            "key-a", "key-a", "key-b", "key-a", -32002, "key-a", -32002, "key-gone", -32002
        ]),
        "{}",
        r.stderr
    );
}
