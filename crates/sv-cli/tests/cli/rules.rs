//! A session's caller rules (docs/design.md §11, docs/callers.md), on the
//! real daemon with real processes: `add --confirm` asks the askpass
//! program the daemon was started with, once per process tree, and never
//! holds up other clients meanwhile; `add --allow-exe` serves a plaintext
//! key only below a program that runs the allowed file (by device and
//! inode); `list` shows the rules and `log` the rule that refused; a vault
//! of the previous schema migrates to sessions without rules.
use crate::util::*;
use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "sk-ant-api03-RULES-test-key-0000000000000000";
const OTHER_KEY: &str = "sk-ant-api03-OTHER-project-key-111111111111";

/// An askpass program that records each question (`PROMPT|QUESTION`, one
/// line per call) in `log`, then runs `then` (its exit status is the
/// answer).
fn askpass(env: &TestEnv, name: &str, then: &str) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = env.mkdir("askpass");
    let log = dir.join(format!("{name}.log"));
    let script = dir.join(name);
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s|%s\\n' \"$SSH_ASKPASS_PROMPT\" \"$1\" >> '{}'\n{then}\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, log)
}

/// The questions asked so far.
fn asked(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A test environment whose daemon asks through `program`.
fn env_asking(program: Option<&Path>) -> TestEnv {
    let mut env = TestEnv::new();
    if let Some(p) = program {
        env.extra_env.push((
            "SESSION_VAULT_ASKPASS".into(),
            p.to_string_lossy().into_owned(),
        ));
    }
    env
}

/// `sh -c SCRIPT` in `cwd`, in a session (process tree) of its own whose
/// leader is that shell; `SV` in the script is the session-vault binary.
fn tree(env: &TestEnv, cwd: &Path, script: &str) -> Run {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).current_dir(cwd);
    env.apply_env(&mut cmd);
    cmd.env("SV", sv_bin());
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    run_cmd(cmd, None)
}

fn log_json(env: &TestEnv) -> Vec<Value> {
    let r = env.run(&["log", "--json"], None).ok();
    serde_json::from_str(&r.stdout).unwrap()
}

/// A tool and its project: a private directory with a `--confirm` key.
fn confirm_session(env: &TestEnv) -> PathBuf {
    env.start_unlocked();
    let app = env.mkdir("app");
    let mut args = vec![
        "add",
        "--tool",
        "claude",
        "--project",
        app.to_str().unwrap(),
    ];
    args.push("--confirm");
    env.run(&args, Some(&format!("{KEY}\n"))).ok();
    app
}

#[test]
fn a_yes_is_asked_once_per_process_tree_and_holds_until_its_leader_exits() {
    let env0 = TestEnv::new();
    let (yes, log) = askpass(&env0, "yes", "exit 0");
    let env = env_asking(Some(&yes));
    let app = confirm_session(&env);
    let three = "$SV get --tool claude; $SV get --tool claude; $SV env --tool claude; true";
    let r = tree(&env, &app, three).ok();
    assert_eq!(
        r.stdout.matches(KEY).count(),
        3,
        "served three times: {}",
        r.stdout
    );
    let q = asked(&log);
    assert_eq!(q.len(), 1, "one question for the tree: {q:?}");
    assert!(
        q[0].starts_with("confirm|session-vault: reveal the key of `claude`"),
        "{q:?}"
    );
    assert!(
        q[0].contains(app.to_str().unwrap()),
        "names the project: {q:?}"
    );
    assert!(
        q[0].contains("session-vault (pid "),
        "names the program: {q:?}"
    );
    // Another tree (the first one's leader has exited): asked again.
    tree(&env, &app, "$SV get --tool claude; true").ok();
    assert_eq!(asked(&log).len(), 2);
    // The serves after a yes say so in the log.
    let served: Vec<Value> = log_json(&env)
        .into_iter()
        .filter(|e| e["outcome"] == "served")
        .collect();
    assert_eq!(served.len(), 4);
    assert_eq!(served[0]["rule"], "confirm: yes");
    assert!(served[1].get("rule").is_none(), "{:?}", served[1]);
    // A session without --confirm asks nothing.
    let free = env.mkdir("free");
    env.add("claude", &["--project", free.to_str().unwrap()], OTHER_KEY);
    assert_eq!(
        env.get_in(&free, "claude").ok().stdout,
        format!("{OTHER_KEY}\n")
    );
    assert_eq!(asked(&log).len(), 2);
}

#[test]
fn requests_of_one_tree_at_the_same_time_share_one_question() {
    let env0 = TestEnv::new();
    let (slow_yes, log) = askpass(&env0, "slow-yes", "sleep 1\nexit 0");
    let env = env_asking(Some(&slow_yes));
    let app = confirm_session(&env);
    let together = "$SV get --tool claude & $SV get --tool claude & $SV get --tool claude & wait";
    let r = tree(&env, &app, together).ok();
    assert_eq!(
        r.stdout.matches(KEY).count(),
        3,
        "{} {}",
        r.stdout,
        r.stderr
    );
    assert_eq!(asked(&log).len(), 1, "{:?}", asked(&log));
}

#[test]
fn a_no_or_no_askpass_program_is_exit_5_naming_the_variable() {
    let env0 = TestEnv::new();
    let (no, log) = askpass(&env0, "no", "exit 1");
    let env = env_asking(Some(&no));
    let app = confirm_session(&env);
    let r = env.get_in(&app, "claude").code(5);
    assert!(r.stdout.is_empty() && !r.stderr.contains(KEY));
    assert!(
        r.stderr.contains("said no") && r.stderr.contains("SESSION_VAULT_ASKPASS"),
        "{}",
        r.stderr
    );
    assert_eq!(asked(&log).len(), 1);
    // A no is not remembered: the next reveal asks again.
    env.get_in(&app, "claude").code(5);
    assert_eq!(asked(&log).len(), 2);
    let last = log_json(&env).pop().unwrap();
    assert_eq!(last["outcome"], "refused_confirm");
    assert_eq!(last["rule"], "confirm: no");
    assert!(last["session_id"].is_string());

    // A daemon without any askpass program refuses, saying what to set.
    let env = env_asking(None);
    let app = confirm_session(&env);
    let r = env.get_in(&app, "claude").code(5);
    assert!(
        r.stderr.contains("SESSION_VAULT_ASKPASS") && r.stderr.contains("SSH_ASKPASS"),
        "{}",
        r.stderr
    );
    let last = log_json(&env).pop().unwrap();
    assert_eq!(last["rule"], "confirm: no askpass program");
    // `add --confirm` says so when this shell has none either.
    let r = env.run(
        &["add", "--tool", "codex", "--global", "--confirm"],
        Some("sk-proj-x\n"),
    );
    assert!(r.stderr.contains("SESSION_VAULT_ASKPASS"), "{}", r.stderr);

    // A program that is not there: refused, never served.
    let env = env_asking(Some(Path::new("/nonexistent/askpass")));
    let app = confirm_session(&env);
    let r = env.get_in(&app, "claude").code(5);
    assert!(r.stderr.contains("could not be run"), "{}", r.stderr);
}

#[test]
fn an_askpass_that_never_answers_is_a_no_after_the_timeout() {
    let env0 = TestEnv::new();
    let (hang, log) = askpass(&env0, "hang", "exec sleep 60");
    let env = env_asking(Some(&hang));
    env.write_config("confirm_timeout = 1\n");
    let app = confirm_session(&env);
    let t = Instant::now();
    let r = env.get_in(&app, "claude").code(5);
    let took = t.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(took >= Duration::from_secs(1), "took {took:?}");
    assert!(r.stderr.contains("no answer in 1 s"), "{}", r.stderr);
    assert_eq!(asked(&log).len(), 1);
    assert_eq!(
        log_json(&env).pop().unwrap()["rule"],
        "confirm: no answer in 1 s"
    );
}

#[test]
fn three_hundred_lookups_of_other_sessions_flow_while_a_question_is_open() {
    let env0 = TestEnv::new();
    let release = env0.dir.path().join("release");
    let (slow, log) = askpass(
        &env0,
        "slow",
        &format!(
            "while [ ! -e '{}' ]; do sleep 0.05; done\nexit 0",
            release.display()
        ),
    );
    let env = env_asking(Some(&slow));
    let app = confirm_session(&env);
    let a = env.mkdir("a");
    let b = env.mkdir("b");
    env.add("claude", &["--project", a.to_str().unwrap()], "key-a");
    env.add("claude", &["--project", b.to_str().unwrap()], "key-b");
    // The question opens and stays open.
    let mut waiting = env.command(&["get", "--tool", "claude"]);
    waiting
        .current_dir(&app)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let waiting = waiting.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while asked(&log).is_empty() {
        assert!(Instant::now() < deadline, "the question was never asked");
        std::thread::sleep(Duration::from_millis(20));
    }
    let t = Instant::now();
    env.gets_across(&a, &b, 300);
    let took = t.elapsed();
    // Well before the question's own 60 s timeout would have freed a
    // daemon that waited on it.
    assert!(took < Duration::from_secs(45), "took {took:?}");
    assert!(
        !release.exists() && asked(&log).len() == 1,
        "all 300 answered while the question was open ({took:?})"
    );
    eprintln!("300 lookups while a question was open: {took:?}");
    std::fs::write(&release, "").unwrap();
    let o = waiting.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.stdout, format!("{KEY}\n").as_bytes());
}

/// `dir/NAME`, a copy of the system's `sh` (a file of its own).
fn copy_of_sh(env: &TestEnv, dir: &str) -> PathBuf {
    let d = env.mkdir(dir);
    let to = d.join("sh");
    std::fs::copy("/bin/sh", &to).unwrap();
    to
}

/// `SH -c SCRIPT` in `cwd` (the script's CLI is a child of SH: `; true`
/// keeps the shell from exec'ing it in place).
fn under(env: &TestEnv, sh: &Path, cwd: &Path, script: &str) -> Run {
    let mut cmd = Command::new(sh);
    cmd.arg("-c")
        .arg(format!("{script}; true"))
        .current_dir(cwd);
    env.apply_env(&mut cmd);
    cmd.env("SV", sv_bin());
    run_cmd(cmd, None)
}

#[test]
fn allow_exe_serves_below_the_allowed_file_only() {
    let env = TestEnv::new();
    env.start_unlocked();
    let app = env.mkdir("app");
    let allowed = copy_of_sh(&env, "allowed");
    let copy = copy_of_sh(&env, "copy");
    let linked = env.mkdir("linked").join("sh");
    std::fs::hard_link(&allowed, &linked).unwrap();
    // A relative path is resolved by the CLI, then to its inode.
    let r = env.run_in(
        &env.mkdir("."),
        &[
            "add",
            "--tool",
            "claude",
            "--project",
            app.to_str().unwrap(),
            "--allow-exe",
            "allowed/sh",
        ],
        Some(&format!("{KEY}\n")),
    );
    r.ok();
    let get = "$SV get --tool claude";
    // Below the allowed file: its child, and its grandchild.
    assert_eq!(
        under(&env, &allowed, &app, get).ok().stdout,
        format!("{KEY}\n")
    );
    let deeper = format!("sh -c '{get}; true'");
    assert_eq!(
        under(&env, &allowed, &app, &deeper).ok().stdout,
        format!("{KEY}\n")
    );
    // A hard link is the same file (same inode): allowed, as documented.
    assert_eq!(
        under(&env, &linked, &app, get).ok().stdout,
        format!("{KEY}\n")
    );
    // A copy elsewhere is another file, whatever its name and bytes.
    let r = under(&env, &copy, &app, "$SV get --tool claude || exit $?");
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("allows only") && r.stderr.contains(allowed.to_str().unwrap()),
        "{}",
        r.stderr
    );
    // Not below it at all (the test runner's child).
    env.get_in(&app, "claude").code(5);
    // The file at the allowed path replaced (as package managers upgrade:
    // written beside it, renamed over it; a new inode): no longer the allowed file, until the key is added again.
    let new = env.mkdir("allowed").join("sh.new");
    std::fs::copy(&copy, &new).unwrap();
    std::fs::rename(&new, &allowed).unwrap();
    let r = under(&env, &allowed, &app, "$SV get --tool claude || exit $?");
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("no longer at their paths"),
        "{}",
        r.stderr
    );
    // The log names the rule that refused.
    let refused: Vec<Value> = log_json(&env)
        .into_iter()
        .filter(|e| e["outcome"] == "refused_allow_exe")
        .collect();
    assert_eq!(refused.len(), 3);
    assert_eq!(
        refused[0]["rule"],
        format!("allow-exe {}", allowed.display())
    );
    let human = env.run(&["log", "--denied"], None).ok().stdout;
    let head = human.lines().next().unwrap();
    assert!(head.ends_with("RULE"), "{human}");
    assert!(
        human.lines().nth(1).unwrap().contains("refused_allow_exe")
            && human
                .lines()
                .nth(1)
                .unwrap()
                .ends_with(&format!("allow-exe {}", allowed.display())),
        "{human}"
    );
    // The rule checks plaintext only: exec without --proxy is refused too.
    let r = under(
        &env,
        &copy,
        &app,
        "$SV exec --tool claude -- true || exit $?",
    );
    assert_eq!(r.code, 5, "{}", r.stderr);
    // A path that names no file is refused at add.
    let r = env.run(
        &[
            "add",
            "--tool",
            "codex",
            "--global",
            "--allow-exe",
            "/nonexistent/node",
        ],
        Some("sk-proj-x\n"),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn list_shows_each_sessions_rules() {
    let env = TestEnv::new();
    env.start_unlocked();
    let app = env.mkdir("app");
    let allowed = copy_of_sh(&env, "allowed");
    env.add("codex", &["--global"], "sk-proj-plain");
    let before = env.run(&["list"], None).ok().stdout;
    assert!(
        !before.contains("RULES"),
        "no column without rules: {before}"
    );
    env.add(
        "claude",
        &[
            "--project",
            app.to_str().unwrap(),
            "--confirm",
            "--allow-exe",
            allowed.to_str().unwrap(),
            "/bin/sh",
        ],
        KEY,
    );
    let table = env.run(&["list"], None).ok().stdout;
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].ends_with("RULES"), "{table}");
    let codex = lines.iter().find(|l| l.contains("codex")).unwrap();
    assert!(codex.trim_end().ends_with('-'), "{table}");
    let sh = std::fs::canonicalize("/bin/sh").unwrap();
    let claude = lines.iter().find(|l| l.contains("claude")).unwrap();
    assert!(
        claude.ends_with(&format!(
            "confirm, allow-exe {} {}",
            allowed.display(),
            sh.display()
        )),
        "{table}"
    );
    let json: Value =
        serde_json::from_str(&env.run(&["list", "--json"], None).ok().stdout).unwrap();
    let c = json
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["tool"] == "claude")
        .unwrap();
    assert_eq!(c["confirm"], true);
    assert_eq!(
        c["allow_exe"],
        serde_json::json!([allowed.to_str().unwrap(), sh.to_str().unwrap()])
    );
    let x = json
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["tool"] == "codex")
        .unwrap();
    assert_eq!(
        (x["confirm"].clone(), x["allow_exe"].clone()),
        (Value::Bool(false), serde_json::json!([]))
    );
}

#[test]
fn a_new_stand_in_needs_a_yes_too() {
    let env0 = TestEnv::new();
    let (no, no_log) = askpass(&env0, "no", "exit 1");
    let (yes, yes_log) = askpass(&env0, "yes", "exit 0");
    let print = "printf '%s' \"$ANTHROPIC_API_KEY\"";
    // A no: nothing is issued, exit 5.
    let env = env_asking(Some(&no));
    let app = confirm_session(&env);
    let r = env.run_in(
        &app,
        &[
            "exec", "--proxy", "--tool", "claude", "--", "sh", "-c", print,
        ],
        None,
    );
    if r.stderr.contains("user namespace") {
        panic!(
            "this kernel refuses unprivileged user namespaces, which exec --proxy needs: {}",
            r.stderr
        );
    }
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    let q = asked(&no_log);
    assert_eq!(q.len(), 1);
    assert!(q[0].contains("issue a proxy stand-in"), "{q:?}");
    // A yes: a stand-in, never the key; each `exec --proxy` is asked.
    let env = env_asking(Some(&yes));
    let app = confirm_session(&env);
    for n in 1..=2 {
        let r = env
            .run_in(
                &app,
                &[
                    "exec", "--proxy", "--tool", "claude", "--", "sh", "-c", print,
                ],
                None,
            )
            .ok();
        assert!(
            !r.stdout.is_empty() && r.stdout != KEY,
            "a stand-in: {}",
            r.stdout
        );
        assert_eq!(asked(&yes_log).len(), n);
    }
}

#[test]
fn a_vault_of_the_previous_schema_migrates_with_no_rules() {
    let env = TestEnv::new();
    env.start_unlocked();
    let app = env.mkdir("app");
    env.add("claude", &["--project", app.to_str().unwrap()], KEY);
    env.get_in(&app, "claude").ok();
    env.run(&["daemon", "stop"], None).ok();
    // Take the vault back to schema 4: without the rules' columns.
    let back = "import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\nfor t,col in [('sessions','confirm'),('sessions','allow_exe'),('audit','rule')]:\n    c.execute(f'ALTER TABLE {t} DROP COLUMN {col}')\nc.execute('PRAGMA user_version=4')\nc.commit()\n";
    let st = Command::new("python3")
        .args(["-c", back])
        .arg(env.vault_db())
        .status()
        .expect("python3 is installed");
    assert!(st.success());
    // The daemon migrates it: the key is served as before, without rules.
    env.start_unlocked();
    assert_eq!(env.get_in(&app, "claude").ok().stdout, format!("{KEY}\n"));
    let list = env.run(&["list"], None).ok().stdout;
    assert!(!list.contains("RULES") && list.contains("claude"), "{list}");
    let log = log_json(&env);
    assert_eq!(log.len(), 2, "the old record kept: {log:?}");
    assert!(log
        .iter()
        .all(|e| e["outcome"] == "served" && e.get("rule").is_none()));
    env.run(&["daemon", "stop"], None).ok();
    let v = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys;print(sqlite3.connect(sys.argv[1]).execute('PRAGMA user_version').fetchone()[0])",
        ])
        .arg(env.vault_db())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&v.stdout).trim(), "5");
}
