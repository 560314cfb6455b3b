//! `integrate claude` through the real binary: Claude Code's settings get
//! `apiKeyHelper`, every other key stays, broken JSON is refused untouched,
//! `--undo` gives the file back; and the helper command really serves the key.
use crate::util::*;
use std::path::{Path, PathBuf};

const HELPER: &str = "session-vault get --tool claude";

const SETTINGS: &str = r#"{
    "model": "claude-sonnet-4",
    "permissions": {"allow": ["Bash(npm run test:*)"], "deny": []},
    "env": {"FOO": "bar"},
    "hooks": {},
    "zzz_last": [1, 2, 3]
}"#;

/// The newest backup of `p`, from the index in the vault's data directory
/// (a path that does not exist when there is none): never beside `p`.
fn backup(env: &TestEnv, p: &Path) -> PathBuf {
    assert!(!PathBuf::from(format!("{}.session-vault-backup", p.display())).exists());
    let dir = env.data_dir().join("backups");
    let index = std::fs::read_to_string(dir.join("index.jsonl")).unwrap_or_default();
    index
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .rfind(|v| v["original"].as_str() == p.to_str() && v["by"] == "integrate")
        .map_or(dir.join("none"), |v| {
            dir.join(v["backup"].as_str().unwrap())
        })
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn project_settings_keep_every_other_key_and_undo_restores_the_bytes() {
    let env = TestEnv::new();
    let app = env.mkdir("p/app");
    let settings = app.join(".claude/settings.local.json");
    write(&settings, SETTINGS);

    let r = env.run_in(&app, &["integrate", "claude"], None).ok();
    assert!(r.stdout.contains("Set apiKeyHelper"), "{}", r.stdout);
    let v = json(&settings);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "model",
            "permissions",
            "env",
            "hooks",
            "zzz_last",
            "apiKeyHelper"
        ]
    );
    let before: serde_json::Value = serde_json::from_str(SETTINGS).unwrap();
    for (k, val) in before.as_object().unwrap() {
        assert_eq!(&v[k], val, "{k} changed");
    }
    assert_eq!(v["apiKeyHelper"], HELPER);
    assert_eq!(
        std::fs::read_to_string(backup(&env, &settings)).unwrap(),
        SETTINGS
    );

    // Twice: nothing changes.
    let after_once = std::fs::read(&settings).unwrap();
    let r = env
        .run(
            &["integrate", "claude", "--project", app.to_str().unwrap()],
            None,
        )
        .ok();
    assert!(r.stdout.contains("already"), "{}", r.stdout);
    assert_eq!(std::fs::read(&settings).unwrap(), after_once);

    let undo = || {
        let args = [
            "integrate",
            "claude",
            "--project",
            app.to_str().unwrap(),
            "--undo",
        ];
        env.run(&args, None).ok()
    };
    let r = undo();
    assert!(
        r.stdout.contains("Removed session-vault's apiKeyHelper"),
        "{}",
        r.stdout
    );
    assert_eq!(
        std::fs::read_to_string(&settings).unwrap(),
        SETTINGS,
        "undo must restore the exact bytes"
    );
    assert!(!backup(&env, &settings).exists());
    let r = undo();
    assert!(r.stdout.contains("nothing to undo"), "{}", r.stdout);
}

#[test]
fn an_existing_helper_comes_back_and_later_edits_survive_undo() {
    let env = TestEnv::new();
    let app = env.mkdir("p/app");
    let settings = app.join(".claude/settings.local.json");
    write(
        &settings,
        r#"{"apiKeyHelper": "~/bin/old-helper.sh", "a": 1}"#,
    );
    env.run_in(&app, &["integrate", "claude", "--project", "."], None)
        .ok();
    assert_eq!(json(&settings)["apiKeyHelper"], HELPER);
    // The user edits something else meanwhile.
    let mut v = json(&settings);
    v["b"] = 2.into();
    std::fs::write(&settings, serde_json::to_string(&v).unwrap()).unwrap();
    env.run_in(&app, &["integrate", "claude", "--undo"], None)
        .ok();
    let v = json(&settings);
    assert_eq!(v["apiKeyHelper"], "~/bin/old-helper.sh");
    assert_eq!(v["a"], 1);
    assert_eq!(v["b"], 2);
}

#[test]
fn broken_or_non_object_json_is_refused_and_left_untouched() {
    let env = TestEnv::new();
    let app = env.mkdir("p/app");
    let settings = app.join(".claude/settings.local.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    for broken in [
        "{\"model\": \"x\",",
        "{\"a\": 1} trailing",
        "[\"not\", \"an object\"]",
        "",
    ] {
        std::fs::write(&settings, broken).unwrap();
        for extra in [&[][..], &["--undo"][..]] {
            let mut args = vec!["integrate", "claude", "--project", app.to_str().unwrap()];
            args.extend_from_slice(extra);
            let r = env.run(&args, None).code(1);
            assert!(r.stderr.contains("nothing was changed"), "{}", r.stderr);
            assert!(
                r.stderr.contains(settings.to_str().unwrap()),
                "{}",
                r.stderr
            );
            assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
            assert_eq!(std::fs::read_to_string(&settings).unwrap(), broken);
            assert!(
                !backup(&env, &settings).exists(),
                "no backup for a refused file"
            );
        }
    }
}

#[test]
fn user_settings_are_created_and_removed_again() {
    let env = TestEnv::new();
    let settings = env.home.join(".claude/settings.json");
    let r = env.run(&["integrate", "claude", "--user"], None).ok();
    assert!(
        r.stdout.contains(settings.to_str().unwrap()),
        "{}",
        r.stdout
    );
    assert_eq!(
        std::fs::read_to_string(&settings).unwrap(),
        format!("{{\n  \"apiKeyHelper\": \"{HELPER}\"\n}}\n")
    );
    env.run(&["integrate", "claude", "--user", "--undo"], None)
        .ok();
    assert!(!settings.exists());
    assert!(!backup(&env, &settings).exists());

    // CLAUDE_CONFIG_DIR moves the user settings.
    let cfg = env.mkdir("claude-config");
    let mut cmd = env.command(&["integrate", "claude", "--user"]);
    cmd.env("CLAUDE_CONFIG_DIR", &cfg);
    run_cmd(cmd, None).ok();
    assert_eq!(json(&cfg.join("settings.json"))["apiKeyHelper"], HELPER);

    let r = env
        .run(&["integrate", "claude", "--user", "--project", "."], None)
        .code(2);
    assert!(r.stderr.contains("cannot be used with"), "{}", r.stderr);
}

#[test]
fn a_plaintext_key_in_the_settings_is_pointed_out_without_printing_it() {
    let env = TestEnv::new();
    let settings = env.home.join(".claude/settings.json");
    write(
        &settings,
        r#"{"env": {"ANTHROPIC_API_KEY": "sk-ant-api03-plaintext"}}"#,
    );
    let r = env.run(&["integrate", "claude", "--user"], None).ok();
    assert!(
        r.stderr.contains("ANTHROPIC_API_KEY in plaintext"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("sk-ant-api03-plaintext")
            && !r.stdout.contains("sk-ant-api03-plaintext")
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(backup(&env, &settings))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the backup may hold a key: owner only");
}

/// What Claude Code does with the setting: run it through /bin/sh in the
/// project and take its output as the key.
#[test]
fn the_helper_command_serves_the_projects_key() {
    let env = TestEnv::new();
    let app = env.mkdir("p/app");
    env.start_unlocked();
    env.add(
        "claude",
        &["--project", app.to_str().unwrap()],
        "sk-ant-api03-from-vault",
    );
    env.run_in(&app, &["integrate", "claude"], None).ok();
    let helper = json(&app.join(".claude/settings.local.json"))["apiKeyHelper"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.args(["-c", &helper]).current_dir(&app);
    env.apply_env(&mut cmd);
    let mut path = sv_bin().parent().unwrap().as_os_str().to_owned();
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    cmd.env("PATH", path);
    let r = run_cmd(cmd, None).ok();
    assert_eq!(r.stdout, "sk-ant-api03-from-vault\n");
}

#[test]
fn a_settings_link_out_of_the_project_is_refused() {
    let env = TestEnv::new();
    let app = env.mkdir("p/app");
    let elsewhere = env.mkdir("elsewhere");
    let victim = elsewhere.join("other.json");
    std::fs::write(&victim, "{\"keep\": true}\n").unwrap();
    std::fs::create_dir_all(app.join(".claude")).unwrap();
    std::os::unix::fs::symlink(&victim, app.join(".claude/settings.local.json")).unwrap();
    let r = env
        .run(
            &["integrate", "claude", "--project", app.to_str().unwrap()],
            None,
        )
        .code(1);
    assert!(
        r.stderr.contains("leads outside the project"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "{\"keep\": true}\n"
    );
    assert!(!backup(&env, &victim).exists());
}

/// issue: `integrate --project` checked the link out of the project at
/// planning and wrote by path later: a project writer who swaps `.claude`
/// for a symlink to `~/.claude` in between got the user's settings
/// replaced. A real attacker thread swaps in a loop during each run.
#[test]
fn a_claude_dir_swapped_for_a_symlink_during_integrate_is_never_followed() {
    let env = TestEnv::new();
    let user_claude = env.home.join(".claude");
    std::fs::create_dir_all(&user_claude).unwrap();
    let mine = "{\"model\": \"the user's own\"}\n";
    for name in ["settings.json", "settings.local.json"] {
        std::fs::write(user_claude.join(name), mine).unwrap();
    }
    let mut won = 0;
    let rounds = 100;
    for round in 0..rounds {
        let app = env.mkdir(&format!("p/app{round}"));
        let dot = app.join(".claude");
        std::fs::create_dir_all(&dot).unwrap();
        std::fs::write(dot.join("settings.local.json"), SETTINGS).unwrap();
        let attacker =
            SymlinkSwapper::start(&dot, &app.join(".claude-real"), &user_claude, 100, 100, 50);
        let _ = env.run_in(&app, &["integrate", "claude"], None);
        attacker.stop();
        for name in ["settings.json", "settings.local.json"] {
            if std::fs::read_to_string(user_claude.join(name)).unwrap() != mine {
                won += 1;
                std::fs::write(user_claude.join(name), mine).unwrap();
            }
        }
        let leftovers: Vec<_> = std::fs::read_dir(&user_claude)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n != "settings.json" && n != "settings.local.json")
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
    assert_eq!(
        won, 0,
        "the user's settings were replaced {won} times in {rounds} rounds"
    );
}
