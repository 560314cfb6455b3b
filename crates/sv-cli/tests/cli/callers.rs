//! Callers as the kernel sees them (docs/design.md §11): every request is
//! answered for the process that sent it, whoever opened the connection
//! (a forked child, a process the connection was passed to, a process that
//! took over a dead connector's pid), and from inside an agent tree (a
//! user namespace of its own) no plaintext key is served and the vault
//! cannot be changed, whatever the tree does to leave.
use crate::util::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KEY_APP: &str = "sk-ant-api03-APP-only-for-p-app-000000000000";
const KEY_OTHER: &str = "sk-ant-api03-OTHER-for-p-other-11111111111";

/// Socket tricks no CLI does: `inherit`, `pass`, `other-user` and `reuse`
/// (see each).
const CLIENT: &str = r#"
import json, os, socket, sys, time
mode, sock, app, other, req = sys.argv[1:6]
req = req.encode() + b"\n"

def reply(s):
    return s.makefile().readline()

def ask_from_forked_child(become):
    # Connect in APP, fork; the child calls `become` and asks on the
    # inherited connection.
    os.chdir(app)
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        become()
        s.sendall(req)
        os.write(w, json.dumps({"pid": os.getpid(), "reply": reply(s)}).encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    print(os.read(r, 65536).decode())

def another_user():
    os.setgid(65534)
    os.setuid(65534)

if mode == "inherit":
    # The child moves to OTHER.
    ask_from_forked_child(lambda: os.chdir(other))
elif mode == "after-parent":
    # The parent (in APP) asks first, then its forked child (also in APP)
    # asks on the inherited connection, then the parent again.
    os.chdir(app)
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    f = s.makefile()
    s.sendall(req)
    first = f.readline()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        s.sendall(req)
        os.write(w, f.readline().encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    child = os.read(r, 65536).decode()
    s.sendall(req)
    again = f.readline()
    print(json.dumps({"pid": pid, "first": first, "child": child, "again": again}))
elif mode == "pass":
    # Connect in APP, hand the connection over SCM_RIGHTS to a process
    # started in OTHER (which never inherited it), which asks.
    os.chdir(app)
    a, b = socket.socketpair()
    child = os.fork()
    if child == 0:
        a.close()
        os.chdir(other)
        _, fds, _, _ = socket.recv_fds(b, 16, 1)
        s = socket.socket(fileno=fds[0])
        s.sendall(req)
        b.sendall(json.dumps({"pid": os.getpid(), "reply": reply(s)}).encode())
        os._exit(0)
    b.close()
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    socket.send_fds(a, [b"x"], [s.fileno()])
    s.close()
    out = a.recv(65536).decode()
    os.waitpid(child, 0)
    print(out)
elif mode == "other-user":
    # The child becomes another user (as root).
    ask_from_forked_child(another_user)
elif mode in ("reuse", "reuse-partial"):
    # A connector P in APP hands its connection to this process (in OTHER)
    # and exits; a new process R takes P's pid (ns_last_pid, as root) and
    # sits in APP; then this process asks. With "reuse-partial" P wrote
    # the first half of the request before it left.
    os.chdir(other)
    a, b = socket.socketpair()
    p = os.fork()
    if p == 0:
        os.chdir(app)
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock)
        if mode == "reuse-partial":
            s.sendall(req[: len(req) // 2])
            time.sleep(0.3)
        socket.send_fds(b, [b"x"], [s.fileno()])
        os._exit(0)
    _, fds, _, _ = socket.recv_fds(a, 16, 1)
    s = socket.socket(fileno=fds[0])
    os.waitpid(p, 0)
    r_pid = None
    for _ in range(200):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(p - 1))
        rr, ww = os.pipe()
        c = os.fork()
        if c == 0:
            if os.getpid() == p:
                os.chdir(app)
                os.write(ww, b"1")
                time.sleep(30)
            os._exit(0)
        os.close(ww)
        if os.read(rr, 1) == b"1":
            r_pid = c
            break
        os.waitpid(c, 0)
    rest = req[len(req) // 2 :] if mode == "reuse-partial" else req
    s.sendall(rest)
    out = {"pid": os.getpid(), "p": p, "reused": r_pid == p, "reply": reply(s)}
    if r_pid:
        os.kill(r_pid, 9)
        os.waitpid(r_pid, 0)
    print(json.dumps(out))
"#;

fn get_req() -> String {
    r#"{"jsonrpc":"2.0","id":7,"method":"get","params":{"tool":"claude"}}"#.to_owned()
}

/// Runs [`CLIENT`] in `mode`: the JSON line it prints.
fn client(env: &TestEnv, mode: &str, app: &Path, other: &Path) -> Value {
    let out = Command::new("python3")
        .args(["-c", CLIENT, mode])
        .arg(env.socket())
        .arg(app)
        .arg(other)
        .arg(get_req())
        .stdin(Stdio::null())
        .output()
        .expect("python3 is installed (.ci/run installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "client {mode}: {e}: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn log_json(env: &TestEnv) -> Vec<Value> {
    let r = env.run(&["log", "--json"], None).ok();
    match serde_json::from_str(&r.stdout) {
        Ok(Value::Array(a)) => a,
        other => panic!("log --json is not an array: {other:?}\n{}", r.stdout),
    }
}

fn record_of(env: &TestEnv, pid: i64) -> Value {
    log_json(env)
        .into_iter()
        .rev()
        .find(|e| e["pid"].as_i64() == Some(pid))
        .unwrap_or_else(|| panic!("no audit record for pid {pid}: {:#?}", log_json(env)))
}

/// A vault with a key for `p/app` only; `p/other` has none.
fn app_and_other() -> (TestEnv, std::path::PathBuf, std::path::PathBuf) {
    let env = TestEnv::new();
    let app = env.mkdir("p/app");
    let other = env.mkdir("p/other");
    env.start_unlocked();
    env.add("claude", &["--project", app.to_str().unwrap()], KEY_APP);
    (env, app, other)
}

#[track_caller]
fn refused_for_other(env: &TestEnv, got: &Value, other: &Path) {
    let reply = got["reply"].as_str().unwrap();
    assert!(!reply.contains(KEY_APP), "served /p/app's key: {reply}");
    let v: Value = serde_json::from_str(reply).unwrap();
    assert_eq!(v["error"]["code"], -32002, "{reply}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains(other.to_str().unwrap()), "{msg}");
    let rec = record_of(env, got["pid"].as_i64().unwrap());
    assert_eq!(rec["outcome"], "refused_scope", "{rec}");
    assert_eq!(rec["cwd"].as_str(), other.to_str(), "{rec}");
}

#[test]
fn a_forked_child_on_an_inherited_connection_is_judged_by_its_own_directory() {
    let (env, app, other) = app_and_other();
    let got = client(&env, "inherit", &app, &other);
    refused_for_other(&env, &got, &other);
    // With a key of its own there, the child gets that one.
    env.add("claude", &["--project", other.to_str().unwrap()], KEY_OTHER);
    let got = client(&env, "inherit", &app, &other);
    let reply = got["reply"].as_str().unwrap();
    assert!(
        reply.contains(KEY_OTHER) && !reply.contains(KEY_APP),
        "{reply}"
    );
    let rec = record_of(&env, got["pid"].as_i64().unwrap());
    assert_eq!(rec["outcome"], "served");
    assert_eq!(rec["cwd"].as_str(), other.to_str());
}

/// A connection belongs to the first process that sends on it
/// (docs/callers.md, "One connection, one process"): a child asking on it
/// afterwards is refused, even from the same directory, and audited under
/// its own pid; the parent goes on being served.
#[test]
fn a_child_asking_on_a_connection_its_parent_used_is_refused() {
    let (env, app, other) = app_and_other();
    let got = client(&env, "after-parent", &app, &other);
    for served in ["first", "again"] {
        let reply = got[served].as_str().unwrap();
        assert!(reply.contains(KEY_APP), "{served}: {reply}");
    }
    let child = got["child"].as_str().unwrap();
    assert!(!child.contains(KEY_APP), "{child}");
    let v: Value = serde_json::from_str(child).unwrap();
    assert_eq!(v["error"]["code"], -32011, "{child}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("open a connection of your own"), "{msg}");
    let rec = record_of(&env, got["pid"].as_i64().unwrap());
    assert_eq!(rec["outcome"], "refused_unknown_caller", "{rec}");
}

#[test]
fn a_connection_passed_over_scm_rights_is_judged_by_its_new_holder() {
    let (env, app, other) = app_and_other();
    let got = client(&env, "pass", &app, &other);
    refused_for_other(&env, &got, &other);
}

#[test]
#[ignore = "needs root (ns_last_pid); scripts/test.sh runs it as root"]
fn a_new_process_with_a_dead_connectors_pid_inherits_nothing() {
    need_root();
    let (env, app, other) = app_and_other();
    let got = client(&env, "reuse", &app, &other);
    assert_eq!(got["reused"], true, "could not reuse the pid: {got}");
    refused_for_other(&env, &got, &other);
    // Half a request from the dead connector, the rest from its heir:
    // written by two processes, refused whoever asks.
    let got = client(&env, "reuse-partial", &app, &other);
    let reply = got["reply"].as_str().unwrap();
    assert!(!reply.contains(KEY_APP), "{reply}");
    let v: Value = serde_json::from_str(reply).unwrap();
    assert_eq!(v["error"]["code"], -32011, "{reply}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("two different processes"),
        "{reply}"
    );
    assert!(
        log_json(&env)
            .iter()
            .any(|e| e["outcome"] == "refused_unknown_caller"),
        "the refusal is audited"
    );
}

#[test]
#[ignore = "needs root (setuid); scripts/test.sh runs it as root"]
fn a_connection_handed_to_another_user_is_refused_per_message() {
    need_root();
    let (env, app, other) = app_and_other();
    let got = client(&env, "other-user", &app, &other);
    let reply = got["reply"].as_str().unwrap();
    assert!(!reply.contains(KEY_APP), "{reply}");
    let v: Value = serde_json::from_str(reply).unwrap();
    assert_eq!(v["error"]["code"], -32003, "{reply}");
    let rec = record_of(&env, got["pid"].as_i64().unwrap());
    assert_eq!(rec["outcome"], "refused_uid", "{rec}");
}

// ---- Agent trees ----

/// Runs `script` under `sh -c` in a new user namespace (an agent tree, as
/// `exec --proxy` makes one), with `$SV` the CLI and `$OUT` a directory for
/// results; waits up to 20 s for `$OUT/done`, which the script writes.
fn in_agent_tree(env: &TestEnv, cwd: &Path, script: &str) -> std::path::PathBuf {
    in_tree_made_by(
        env,
        cwd,
        &["unshare", "--user", "--map-current-user", "--"],
        script,
    )
}

/// As [`in_agent_tree`], the tree made by `session-vault exec --proxy`
/// itself, as a user runs an agent.
fn in_exec_proxy(env: &TestEnv, cwd: &Path, script: &str) -> std::path::PathBuf {
    let sv = sv_bin();
    let sv = sv.to_str().unwrap();
    in_tree_made_by(
        env,
        cwd,
        &[sv, "exec", "--proxy", "--tool", "claude", "--"],
        script,
    )
}

fn in_tree_made_by(
    env: &TestEnv,
    cwd: &Path,
    launcher: &[&str],
    script: &str,
) -> std::path::PathBuf {
    let out = tempfile::Builder::new()
        .prefix("tree")
        .tempdir_in(env.dir.path())
        .unwrap()
        .keep();
    let mut cmd = Command::new(launcher[0]);
    cmd.args(&launcher[1..]).args(["sh", "-c", script]);
    env.apply_env(&mut cmd);
    cmd.env("SV", sv_bin())
        .env("OUT", &out)
        .current_dir(cwd)
        .stdin(Stdio::null());
    let status = cmd.status().expect("util-linux unshare is installed");
    assert!(
        status.success(),
        "{} failed ({status}): this test needs unprivileged user namespaces",
        launcher.join(" ")
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !out.join("done").exists() {
        assert!(
            Instant::now() < deadline,
            "the agent-tree script did not finish"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    out
}

fn code_of(out: &Path, name: &str) -> i32 {
    let text = std::fs::read_to_string(out.join(name)).unwrap_or_default();
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("no exit code in {name}: {text:?}"))
}

/// Every refused command, as `sh` lines writing `$OUT/NAME` (exit code)
/// and `$OUT/NAME.err` (stderr).
const REFUSED: &[(&str, &str)] = &[
    ("get", "\"$SV\" get --tool claude"),
    ("env", "\"$SV\" env --tool claude"),
    ("exec", "\"$SV\" exec --tool claude -- true"),
    (
        "add",
        "echo sk-ant-api03-NEW-from-the-agent-0000000 | \"$SV\" add --tool claude --global",
    ),
    ("remove", "\"$SV\" remove --tool claude"),
    ("log", "\"$SV\" log"),
    ("stop", "\"$SV\" daemon stop"),
];

fn refused_lines() -> String {
    REFUSED
        .iter()
        .map(|(name, cmd)| {
            format!("{cmd} >/dev/null 2>\"$OUT/{name}.err\" </dev/null; echo $? >\"$OUT/{name}\"\n")
        })
        .collect::<String>()
        // add and unlock read stdin from their pipe, not /dev/null
        .replace(
            "| \"$SV\" add --tool claude --global >/dev/null 2>\"$OUT/add.err\" </dev/null",
            "| \"$SV\" add --tool claude --global >/dev/null 2>\"$OUT/add.err\"",
        )
}

#[track_caller]
fn all_refused(env: &TestEnv, out: &Path, how: &str) {
    for (name, _) in REFUSED {
        let code = code_of(out, name);
        let err = std::fs::read_to_string(out.join(format!("{name}.err"))).unwrap_or_default();
        assert_eq!(code, 5, "{how}: `{name}` from an agent tree: {err}");
        assert!(
            err.contains("is inside an agent tree"),
            "{how}: `{name}`: {err}"
        );
        assert!(!err.contains(KEY_APP));
    }
    // Nothing changed: the key is still there and still served outside.
    let r = env.get_in(&env.dir.path().join("p/app"), "claude").ok();
    assert_eq!(r.stdout.trim(), KEY_APP, "{how}");
}

/// `lines` as scripts run in an agent tree: straight from it, and after
/// each way of leaving it (a new session with setsid, a double fork, and
/// with `nohup` a process that outlives its parent). Each script touches
/// `$OUT/done` when it is through.
fn ways_out(lines: &str, nohup: bool) -> Vec<(&'static str, String)> {
    let quoted = lines.replace('\'', "'\\''");
    let mut ways = vec![
        ("direct", format!("{lines}touch \"$OUT/done\"")),
        (
            "setsid",
            format!("setsid -w sh -c '{quoted}'; touch \"$OUT/done\""),
        ),
        (
            "double fork",
            format!("( ( {lines} touch \"$OUT/done\" ) & ) ; exit 0"),
        ),
    ];
    if nohup {
        ways.push((
            "nohup",
            format!(
                "nohup sh -c 'sleep 0.5; {quoted}touch \"$OUT/done\"' >/dev/null 2>&1 & exit 0"
            ),
        ));
    }
    ways
}

#[test]
fn an_agent_tree_gets_no_plaintext_and_changes_nothing_however_it_detaches() {
    let (env, app, _) = app_and_other();
    for (how, script) in ways_out(&refused_lines(), true) {
        let out = in_agent_tree(&env, &app, &script);
        all_refused(&env, &out, how);
    }

    // Every refusal is audited, naming the rule.
    let refusals = log_json(&env)
        .into_iter()
        .filter(|e| e["outcome"] == "refused_agent_tree")
        .count();
    assert!(refusals >= 4 * REFUSED.len(), "{refusals} refusals audited");
}

#[test]
fn what_exec_proxy_starts_gets_no_plaintext_however_it_detaches() {
    let (env, app, _) = app_and_other();
    for (how, script) in ways_out(&refused_lines(), false) {
        let out = in_exec_proxy(&env, &app, &script);
        all_refused(&env, &out, &format!("exec --proxy, {how}"));
    }
    // lock still works from inside.
    let out = in_exec_proxy(
        &env,
        &app,
        "\"$SV\" lock >/dev/null 2>&1; echo $? >\"$OUT/lock\"; touch \"$OUT/done\"",
    );
    assert_eq!(code_of(&out, "lock"), 0);
    env.get_in(&app, "claude").code(4);
}

#[test]
fn an_agent_tree_may_lock_list_and_ask_the_status_but_not_unlock() {
    let (env, app, _) = app_and_other();
    let script = "\"$SV\" list >\"$OUT/list.out\" 2>&1; echo $? >\"$OUT/list\"
\"$SV\" daemon status >\"$OUT/status.out\" 2>&1; echo $? >\"$OUT/status\"
\"$SV\" lock >\"$OUT/lock.out\" 2>&1; echo $? >\"$OUT/lock\"
echo 'correct horse battery staple' | \"$SV\" unlock >\"$OUT/unlock.out\" 2>&1; echo $? >\"$OUT/unlock\"
touch \"$OUT/done\"";
    let out = in_agent_tree(&env, &app, script);
    for name in ["list", "status", "lock"] {
        let text = std::fs::read_to_string(out.join(format!("{name}.out"))).unwrap();
        assert_eq!(
            code_of(&out, name),
            0,
            "`{name}` from an agent tree: {text}"
        );
    }
    let list = std::fs::read_to_string(out.join("list.out")).unwrap();
    assert!(list.contains("claude") && !list.contains(KEY_APP), "{list}");
    let unlock = std::fs::read_to_string(out.join("unlock.out")).unwrap();
    assert_eq!(code_of(&out, "unlock"), 5, "{unlock}");
    assert!(unlock.contains("agent tree"), "{unlock}");
    // The lock took and the tree's unlock did not: the user's own shell
    // finds the vault locked, and unlocks it.
    env.get_in(&app, "claude").code(4);
    env.run(&["unlock"], Some(&format!("{PASS}\n"))).ok();
    env.get_in(&app, "claude").ok();
}
