//! Every core command of docs/design.md §3 against the real daemon and vault file.
use crate::util::*;
use std::process::Command;

#[test]
fn daemon_start_status_stop() {
    let env = TestEnv::passphrase();
    let r = env.run(&["daemon", "status"], None).code(4);
    assert!(r.stderr.contains("daemon start"), "{}", r.stderr);
    let r = env.run(&["daemon", "start"], None).ok();
    assert!(r.stdout.contains("Daemon started"), "{}", r.stdout);
    assert!(
        r.stdout.contains("No vault exists yet") && r.stdout.contains("session-vault unlock"),
        "a new passphrase vault waits for its first unlock: {}",
        r.stdout
    );
    let r = env.run(&["daemon", "start"], None).ok();
    assert!(r.stdout.contains("already running"), "{}", r.stdout);
    let st = env.run(&["daemon", "status"], None).ok().stdout;
    for field in [
        "Version:",
        "Uptime:",
        "Sessions stored:  0",
        "Key protection:   passphrase (software)",
        "Locked:           no vault yet (`session-vault unlock` creates it)",
    ] {
        assert!(st.contains(field), "missing {field} in {st}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&env.run(&["daemon", "status", "--json"], None).ok().stdout).unwrap();
    assert_eq!(v["locked"], true);
    assert_eq!(v["initialized"], false);
    let verbose = env
        .run(&["daemon", "status", "--verbose"], None)
        .ok()
        .stdout;
    assert!(verbose.contains("passphrase  in use"), "{verbose}");
    let pid = env.daemon_pid().unwrap();
    env.run(&["daemon", "stop"], None).ok();
    TestEnv::wait_gone(pid);
    assert!(!env.socket().exists(), "socket removed at stop");
    env.run(&["daemon", "status"], None).code(4);
    let r = env.run(&["daemon", "stop"], None).ok();
    assert!(r.stdout.contains("not running"));
}

#[test]
fn before_any_vault_exists_the_commands_say_how_to_create_it() {
    let env = TestEnv::passphrase();
    let app = env.mkdir("app");
    let r = env.get_in(&app, "claude").code(4);
    assert!(
        r.stderr.contains("no vault exists yet") && r.stderr.contains("`session-vault unlock`"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("locked"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    let r = env
        .run(&["add", "--tool", "claude", "--global"], Some("sk-1\n"))
        .code(4);
    assert!(r.stderr.contains("no vault exists yet"), "{}", r.stderr);
    let st = env.run(&["daemon", "status"], None).ok().stdout;
    assert!(st.contains("no vault yet"), "{st}");
    assert!(!st.contains("Hardware"), "{st}");
    // Once created and locked again, `locked` is the word.
    env.run(&["unlock"], Some(&format!("{PASS}\n"))).ok();
    env.run(&["lock"], None).ok();
    let r = env.get_in(&app, "claude").code(4);
    assert!(r.stderr.contains("locked"), "{}", r.stderr);
    let st = env.run(&["daemon", "status"], None).ok().stdout;
    assert!(st.contains("Locked:           yes"), "{st}");
}

#[test]
fn unlock_reads_one_line_and_leaves_the_next_to_add() {
    let env = TestEnv::passphrase();
    let app = env.mkdir("app");
    // As a user would pipe it: one line for unlock, one for add.
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        r#""$SV" unlock && "$SV" add --tool claude --project "$APP""#,
    ]);
    env.apply_env(&mut cmd);
    cmd.env("SV", sv_bin()).env("APP", &app).current_dir(&app);
    let r = run_cmd(cmd, Some(&format!("{PASS}\nsk-ant-piped\n"))).ok();
    assert!(r.stdout.contains("Stored session"), "{}", r.stdout);
    assert_eq!(env.get_in(&app, "claude").ok().stdout, "sk-ant-piped\n");
    // The passphrase was the first line alone: a restart opens with it.
    let pid = env.daemon_pid().unwrap();
    env.run(&["daemon", "stop"], None).ok();
    TestEnv::wait_gone(pid);
    env.run(&["unlock"], Some(&format!("{PASS}\n"))).ok();
}

#[test]
fn usage_errors_start_with_one_sentence_that_says_what_to_do() {
    let env = TestEnv::new();
    for (args, help) in [
        (
            &["install", "bash", "--shell", "zsh"][..],
            "session-vault install --help",
        ),
        (&["init", "tcsh"][..], "session-vault init --help"),
        (&["add", "--tool", "claude"][..], "session-vault add --help"),
        (
            &["rekey", "--backend", "libsecret"][..],
            "session-vault rekey --help",
        ),
        (&["frobnicate"][..], "session-vault --help"),
        (&["daemon"][..], "session-vault daemon --help"),
        (&[][..], "session-vault --help"),
    ] {
        let r = env.run(args, None).code(2);
        let mut lines = r.stderr.lines();
        let first = lines.next().unwrap_or_default();
        assert!(
            first.starts_with("session-vault: ") && first.ends_with(&format!("see `{help}`")),
            "{args:?}: {}",
            r.stderr
        );
        assert!(!first.contains("error:"), "{args:?}: {first}");
        // clap's usage (or the command list) follows after a blank line.
        assert_eq!(
            lines.next().unwrap_or_default(),
            "",
            "{args:?}: {}",
            r.stderr
        );
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
    }
    let r = env
        .run(&["daemon", "start", "--backend", "libsecret"], None)
        .code(2);
    assert!(r.stderr.contains("secret-service"), "{}", r.stderr);
}

#[test]
fn list_and_log_escape_control_characters_from_outside() {
    let env = TestEnv::new();
    env.start_unlocked();
    // A project whose name clears the screen and retitles the terminal.
    let evil = env.mkdir("evil\u{1b}[2J\u{1b}]0;pwned\u{7}");
    env.add("claude", &["--project", evil.to_str().unwrap()], "sk-evil");
    env.get_in(&evil, "claude").ok();
    for args in [&["list"][..], &["log"][..]] {
        let out = env.run(args, None).ok().stdout;
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{7}'),
            "{args:?} printed raw control characters: {out:?}"
        );
        assert!(
            out.contains("evil\\u{1b}[2J\\u{1b}]0;pwned\\u{7}"),
            "{args:?}: {out}"
        );
    }
    // JSON keeps the real name (escaped the JSON way).
    let json = env.run(&["list", "--json"], None).ok().stdout;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["scope"], evil.to_str().unwrap());
}

#[test]
fn unlock_creates_then_lock_and_wrong_passphrase() {
    let env = TestEnv::passphrase();
    let r = env.run(&["unlock"], Some(&format!("{PASS}\n"))).ok();
    assert!(
        r.stdout.contains("created"),
        "first unlock creates the vault: {}",
        r.stdout
    );
    let app = env.mkdir("app");
    env.add("claude", &["--project", app.to_str().unwrap()], "sk-1");
    env.run(&["lock"], None).ok();
    let r = env.get_in(&app, "claude").code(4);
    assert!(
        r.stderr.contains("locked") && r.stderr.contains("unlock"),
        "{}",
        r.stderr
    );
    // Adding while locked fails before the secret is read.
    let r = env
        .run(&["add", "--tool", "claude", "--global"], Some("sk-2\n"))
        .code(4);
    assert!(r.stderr.contains("unlock"));

    let db_before = std::fs::read(env.vault_db()).unwrap();
    let r = env.run(&["unlock"], Some("not the passphrase\n")).code(1);
    assert!(r.stderr.contains("wrong passphrase"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "one-line error: {}", r.stderr);
    assert_eq!(
        std::fs::read(env.vault_db()).unwrap(),
        db_before,
        "a wrong passphrase changes nothing"
    );
    env.get_in(&app, "claude").code(4);

    env.run(&["unlock"], Some(&format!("{PASS}\n"))).ok();
    assert_eq!(env.get_in(&app, "claude").ok().stdout, "sk-1\n");
    let r = env.run(&["unlock"], Some("whatever\n")).ok();
    assert!(r.stdout.contains("already unlocked"));
}

#[test]
fn the_vault_survives_a_daemon_restart() {
    let env = TestEnv::new();
    env.start_unlocked();
    let app = env.mkdir("app");
    env.add(
        "codex",
        &["--project", app.to_str().unwrap()],
        "sk-proj-abc",
    );
    let pid = env.daemon_pid().unwrap();
    env.run(&["daemon", "stop"], None).ok();
    TestEnv::wait_gone(pid);
    env.run(&["daemon", "start"], None).ok();
    // A passphrase vault restarts locked; tpm2 and libsecret reopen alone.
    if std::env::var("SV_TEST_BACKEND").map_or(true, |b| b == "passphrase") {
        env.get_in(&app, "codex").code(4);
    }
    env.run(&["unlock"], Some(&format!("{PASS}\n"))).ok();
    assert_eq!(env.get_in(&app, "codex").ok().stdout, "sk-proj-abc\n");
}

#[test]
fn add_validates_its_input() {
    let env = TestEnv::new();
    env.start_unlocked();
    let r = env
        .run(&["add", "--tool", "claude", "--global"], Some("\n"))
        .code(2);
    assert!(r.stderr.contains("empty"), "{}", r.stderr);
    let r = env
        .run(&["add", "--tool", "nope", "--global"], Some("x\n"))
        .code(2);
    assert!(
        r.stderr.contains("unknown tool") && r.stderr.contains("claude"),
        "{}",
        r.stderr
    );
    env.run(&["add", "--tool", "claude"], Some("x\n")).code(2);
    env.run(
        &["add", "--tool", "claude", "--global", "--project", "/tmp"],
        Some("x\n"),
    )
    .code(2);
    let r = env
        .run(
            &["add", "--tool", "claude", "--project", "/does/not/exist"],
            Some("x\n"),
        )
        .code(2);
    assert!(r.stderr.contains("/does/not/exist"), "{}", r.stderr);
    let r = env.run(&["list", "--json"], None).ok();
    assert_eq!(r.stdout.trim(), "[]", "nothing was stored");
}

#[test]
fn env_formats_get_exec_list_remove() {
    let env = TestEnv::new();
    env.start_unlocked();
    let app = env.mkdir("app");
    let a = app.to_str().unwrap();
    let id = env.add("claude", &["--project", a, "--label", "work"], "sk-ant-1");
    env.add("gemini", &["--global", "--ttl", "0"], "AIza-g");

    let sh = env
        .run_in(&app, &["env", "--tool", "claude"], None)
        .ok()
        .stdout;
    assert_eq!(sh, "export ANTHROPIC_API_KEY='sk-ant-1'\n");
    let fish = env
        .run_in(&app, &["env", "--tool", "claude", "--format", "fish"], None)
        .ok()
        .stdout;
    assert_eq!(fish, "set -gx ANTHROPIC_API_KEY 'sk-ant-1'\n");
    let ps = env
        .run_in(
            &app,
            &["env", "--tool", "claude", "--format", "powershell"],
            None,
        )
        .ok()
        .stdout;
    assert_eq!(ps, "$env:ANTHROPIC_API_KEY = 'sk-ant-1'\n");
    let js = env
        .run_in(
            &app,
            &[
                "env", "--tool", "claude", "--tool", "gemini", "--format", "json",
            ],
            None,
        )
        .ok()
        .stdout;
    let v: serde_json::Value = serde_json::from_str(&js).unwrap();
    assert_eq!(v["ANTHROPIC_API_KEY"], "sk-ant-1");
    assert_eq!(v["GEMINI_API_KEY"], "AIza-g");
    // One missing tool fails the whole command and prints nothing.
    let r = env
        .run_in(&app, &["env", "--tool", "claude", "--tool", "codex"], None)
        .code(3);
    assert!(r.stdout.is_empty());

    // exec: the variable exists only in the child; status and stdin pass through.
    let r = env
        .run_in(
            &app,
            &exec_claude(&[
                "sh",
                "-c",
                "read l; printf '%s|%s' \"$ANTHROPIC_API_KEY\" \"$l\"; exit 7",
            ]),
            Some("from-stdin\n"),
        )
        .code(7);
    assert_eq!(r.stdout, "sk-ant-1|from-stdin");
    let r = env
        .run_in(&app, &exec_claude(&["definitely-not-a-command-xyz"]), None)
        .code(1);
    assert!(r.stderr.contains("cannot run"), "{}", r.stderr);
    env.run_in(&app, &["exec", "--tool", "claude"], None)
        .code(2);
    // exec replaces the CLI process: the child has the CLI's pid.
    let mut cmd = env.command(&["exec", "--tool", "claude", "--", "sh", "-c", "echo $$"]);
    cmd.current_dir(&app);
    let child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let o = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), pid.to_string());

    let table = env.run(&["list"], None).ok().stdout;
    let head = table.lines().next().unwrap();
    for col in ["ID", "TOOL", "FINGERPRINT", "PROJECT", "EXPIRES IN"] {
        assert!(head.contains(col), "{head}");
    }
    assert!(
        table.contains(&id) && table.contains(a) && table.contains("global"),
        "{table}"
    );
    assert!(
        table.contains("7h 59m") || table.contains("8h 0m"),
        "{table}"
    );
    assert!(table.contains("never"), "{table}");
    assert!(!table.contains("sk-ant-1"));
    let js: serde_json::Value = serde_json::from_str(
        &env.run(&["list", "--json", "--tool", "claude"], None)
            .ok()
            .stdout,
    )
    .unwrap();
    let arr = js.as_array().unwrap();
    assert_eq!(arr.len(), 1);
    assert_eq!(arr[0]["id"], id.as_str());
    assert_eq!(arr[0]["label"], "work");
    assert_eq!(arr[0]["fingerprint"].as_str().unwrap().len(), 8);
    let js: serde_json::Value = serde_json::from_str(
        &env.run(&["list", "--json", "--project", a], None)
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(js.as_array().unwrap().len(), 1);

    assert_eq!(
        env.run(&["remove", &id[..8]], None).ok().stdout,
        "Removed 1 session.\n"
    );
    env.get_in(&app, "claude").code(3);
    env.add("claude", &["--project", a], "sk-ant-2");
    env.add("claude", &["--project", a], "sk-ant-3");
    assert_eq!(
        env.run(&["remove", "--project", a], None).ok().stdout,
        "Removed 2 sessions.\n"
    );
    assert_eq!(
        env.run(&["remove", "--tool", "gemini"], None).ok().stdout,
        "Removed 1 session.\n"
    );
    // An id that matches nothing is exit 3; a malformed id is a usage error (2).
    // Clearing a tool or a project that has nothing is still success.
    assert_eq!(
        env.run(&["remove", "--tool", "gemini"], None).ok().stdout,
        "Removed 0 sessions.\n"
    );
    env.run(&["remove"], None).code(2);
    let r = env.run(&["remove", "ab"], None).code(2);
    assert!(r.stderr.contains("at least 4"), "{}", r.stderr);
    let r = env.run(&["remove", "not-a-uuid"], None).code(2);
    assert!(r.stderr.contains("UUID"), "{}", r.stderr);
    assert_eq!(r.stdout, "");
    let r = env
        .run(&["remove", "0123abcd-0000-4000-8000-000000000000"], None)
        .code(3);
    assert!(r.stderr.contains("no session matches"), "{}", r.stderr);
}

#[test]
fn user_tools_with_several_variables() {
    let env = TestEnv::new();
    env.write_config("[tools.aws-ish]\nvars = [\"AK_ID\", \"AK_SECRET\"]\n[tools.openrouter]\nvars = [\"OPENROUTER_API_KEY\"]\n");
    env.start_unlocked();
    let r = env
        .run(
            &["add", "--tool", "aws-ish", "--global"],
            Some("id-1\nsecret-2\n"),
        )
        .ok();
    assert!(r.stdout.starts_with("Stored session "));
    let out = env.run(&["env", "--tool", "aws-ish"], None).ok().stdout;
    assert_eq!(out, "export AK_ID='id-1'\nexport AK_SECRET='secret-2'\n");
    let r = env.run(&["get", "--tool", "aws-ish"], None).code(2);
    assert!(r.stderr.contains("--var"));
    assert_eq!(
        env.run(&["get", "--tool", "aws-ish", "--var", "AK_SECRET"], None)
            .ok()
            .stdout,
        "secret-2\n"
    );
    env.add("openrouter", &["--global"], "sk-or-1");
    assert_eq!(
        env.run(&["get", "--tool", "openrouter"], None).ok().stdout,
        "sk-or-1\n"
    );
}

#[test]
fn broken_config_is_a_clear_error() {
    let env = TestEnv::new();
    env.write_config("[tools.x]\nvars = [\"1BAD\"]\n");
    let r = env
        .run(&["add", "--tool", "x", "--global"], Some("v\n"))
        .code(2);
    assert!(
        r.stderr.contains("config.toml") && r.stderr.contains("1BAD"),
        "{}",
        r.stderr
    );
}

#[test]
fn no_autostart_means_exit_4() {
    let mut env = TestEnv::new();
    env.extra_env
        .push(("SESSION_VAULT_NO_AUTOSTART".into(), "1".into()));
    let r = env.run(&["get", "--tool", "claude"], None).code(4);
    assert!(r.stderr.contains("daemon start"), "{}", r.stderr);
    assert!(env.daemon_pid().is_none());
}

#[test]
fn on_demand_start_and_help() {
    let env = TestEnv::new();
    // Any command that needs the daemon starts it.
    env.run(&["list"], None).ok();
    assert!(env.daemon_pid().is_some());
    for sub in [
        "daemon", "unlock", "lock", "add", "env", "get", "exec", "list", "remove",
    ] {
        let r = env.run(&[sub, "--help"], None).ok();
        assert!(r.stdout.contains("Usage"), "{sub}: {}", r.stdout);
    }
    let mut c = Command::new(sv_bin());
    c.arg("--version");
    let o = c.output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn foreground_start_execs_the_daemon_in_place() {
    let env = TestEnv::new();
    let mut cmd = env.command(&["daemon", "start", "--foreground"]);
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let pid = loop {
        if let Some(p) = env.daemon_pid() {
            break p;
        }
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(30));
    };
    assert_eq!(pid as u32, child.id(), "the CLI process became the daemon");
    // SAFETY: kill(2) of our child.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
