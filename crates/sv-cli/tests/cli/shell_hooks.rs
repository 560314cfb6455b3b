//! The generated hooks in real bash, zsh and fish against the real daemon:
//! `sv_load` sets exactly the stored value and runs nothing in it,
//! `sv_unload` clears it, a tool with nothing here fails clearly; and the
//! `install` block, once added, gives every new shell `sv_load`.
use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Values that would run something, expand or end the quoting if a hook
/// ever evaluated them unquoted. `@CANARY@` is replaced by a path that must
/// never come to exist.
const NASTY: &[&str] = &[
    r#"sk-ant-$(touch @CANARY@)-`touch @CANARY@`-'; touch @CANARY@; echo '-"$HOME"-\$x-\'-\\-;|&<>*?{a,b}~!#%"#,
    r#"'$(touch @CANARY@)'"#,
    r#"\'; touch @CANARY@ #"#,
    r#"(touch @CANARY@); { touch @CANARY@; } $((1+1)) ${HOME} %s %n"#,
    "tab\tand unicode \u{2019}\u{2018} ‘quoted’ $env:PATH",
];

fn bin_dir() -> PathBuf {
    sv_bin().parent().expect("binary directory").to_owned()
}

/// PATH with the binaries under test first.
fn path_with_bin() -> std::ffi::OsString {
    let mut p = bin_dir().into_os_string();
    p.push(":");
    p.push(std::env::var_os("PATH").unwrap_or_default());
    p
}

/// `shell ARGS` in `cwd` with the test environment and the binaries on PATH.
fn shell(env: &TestEnv, cwd: &Path, program: &str, args: &[&str]) -> Run {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(cwd);
    env.apply_env(&mut cmd);
    cmd.env("PATH", path_with_bin());
    run_cmd(cmd, None)
}

struct Case {
    program: &'static str,
    args: &'static [&'static str],
    /// Loads the hook, runs sv_load/sv_unload and records what it saw in
    /// files: `val` (the variable), `child` (what a child process sees),
    /// `after` (the variable after sv_unload, or UNSET).
    script: &'static str,
}

const POSIX_SCRIPT: &str = r#"
eval "$(session-vault init SHELL)" || exit 90
sv_load claude codex || exit 91
printf '%s' "$ANTHROPIC_API_KEY" > val
printf '%s' "$OPENAI_API_KEY" > val2
sh -c 'printf "%s" "$ANTHROPIC_API_KEY"' > child
sv_unload claude codex || exit 92
printf '%s' "${ANTHROPIC_API_KEY-UNSET}${OPENAI_API_KEY-UNSET}" > after
"#;

const FISH_SCRIPT: &str = r#"
session-vault init fish | source; or exit 90
sv_load claude codex; or exit 91
printf '%s' "$ANTHROPIC_API_KEY" > val
printf '%s' "$OPENAI_API_KEY" > val2
sh -c 'printf "%s" "$ANTHROPIC_API_KEY"' > child
sv_unload claude codex; or exit 92
if set -q ANTHROPIC_API_KEY; or set -q OPENAI_API_KEY
    printf 'still set' > after
else
    printf 'UNSETUNSET' > after
end
"#;

fn cases() -> Vec<Case> {
    vec![
        Case {
            program: "bash",
            args: &["--norc", "--noprofile", "-c"],
            script: POSIX_SCRIPT,
        },
        Case {
            program: "zsh",
            args: &["-f", "-c"],
            script: POSIX_SCRIPT,
        },
        Case {
            program: "fish",
            args: &["--no-config", "-c"],
            script: FISH_SCRIPT,
        },
    ]
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn sv_load_sets_exactly_the_stored_value_and_runs_nothing() {
    let env = TestEnv::new();
    let app = env.mkdir("p/app");
    let canary = env.dir.path().join("canary");
    env.start_unlocked();
    for (i, nasty) in NASTY.iter().enumerate() {
        let value = nasty.replace("@CANARY@", canary.to_str().unwrap());
        let second = format!("{}-second", value.chars().rev().collect::<String>());
        env.run(&["remove", "--project", app.to_str().unwrap()], None)
            .ok();
        env.add("claude", &["--project", app.to_str().unwrap()], &value);
        env.add("codex", &["--project", app.to_str().unwrap()], &second);
        for case in cases() {
            for f in ["val", "val2", "child", "after"] {
                let _ = std::fs::remove_file(app.join(f));
            }
            let script = case.script.replace("SHELL", case.program);
            let mut args = case.args.to_vec();
            args.push(&script);
            let r = shell(&env, &app, case.program, &args);
            assert_eq!(
                r.code, 0,
                "{} value #{i}: stderr {}",
                case.program, r.stderr
            );
            assert_eq!(read(&app.join("val")), value, "{} value #{i}", case.program);
            assert_eq!(
                read(&app.join("val2")),
                second,
                "{} value #{i}",
                case.program
            );
            assert_eq!(
                read(&app.join("child")),
                value,
                "{} value #{i} not exported",
                case.program
            );
            assert_eq!(
                read(&app.join("after")),
                "UNSETUNSET",
                "{} value #{i}",
                case.program
            );
            assert!(
                !canary.exists(),
                "{} ran something inside value #{i}",
                case.program
            );
            assert!(
                r.stderr.contains("sv_load: loaded claude codex"),
                "{}",
                r.stderr
            );
            assert!(
                !r.stderr.contains(&value),
                "{} printed the secret",
                case.program
            );
        }
    }
}

#[test]
fn sv_load_fails_clearly_when_a_tool_has_nothing_here() {
    let env = TestEnv::new();
    let app = env.mkdir("p/app");
    let elsewhere = env.mkdir("p/other");
    env.start_unlocked();
    env.add(
        "claude",
        &["--project", app.to_str().unwrap()],
        "sk-ant-here-only",
    );
    let posix = r#"eval "$(session-vault init SHELL)"
export OPENAI_API_KEY=keep
sv_load claude codex; code=$?
printf '%s|%s|%s' "$code" "${ANTHROPIC_API_KEY-UNSET}" "$OPENAI_API_KEY"
sv_load; printf '|%s' "$?""#;
    let fish = r#"session-vault init fish | source
set -gx OPENAI_API_KEY keep
sv_load claude codex; set -l code $status
set -q ANTHROPIC_API_KEY; and set -l a $ANTHROPIC_API_KEY; or set -l a UNSET
printf '%s|%s|%s' $code $a $OPENAI_API_KEY
sv_load; printf '|%s' $status"#;
    for (program, args, script) in [
        ("bash", &["--norc", "--noprofile", "-c"][..], posix),
        ("zsh", &["-f", "-c"][..], posix),
        ("fish", &["--no-config", "-c"][..], fish),
    ] {
        let script = script.replace("SHELL", program);
        let mut a = args.to_vec();
        a.push(&script);
        // Here only claude has a key: codex has none, so nothing is loaded.
        let r = shell(&env, &app, program, &a);
        assert_eq!(r.stdout, "3|UNSET|keep|2", "{program}: stderr {}", r.stderr);
        assert!(
            r.stderr.contains("no credential for tool `codex`"),
            "{program}: {}",
            r.stderr
        );
        assert!(
            r.stderr
                .contains("sv_load: nothing loaded for claude codex (exit 3)"),
            "{program}: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains("sv_load: name the tools to load"),
            "{program}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("sk-ant-here-only"));
        // Outside the project nothing matches at all.
        let r = shell(&env, &elsewhere, program, &a);
        assert!(
            r.stdout.starts_with("3|UNSET|keep"),
            "{program}: {} {}",
            r.stdout,
            r.stderr
        );
        assert!(
            r.stderr.contains(elsewhere.to_str().unwrap()),
            "{program}: {}",
            r.stderr
        );
    }
}

/// Under `set -eu` (a script sourcing the hook) a failed `sv_load` still
/// explains itself before errexit ends the shell with its status.
#[test]
fn sv_load_explains_itself_under_errexit_and_nounset() {
    let env = TestEnv::new();
    let app = env.mkdir("p/app");
    env.start_unlocked();
    for (program, args, prelude) in [
        ("bash", &["--norc", "--noprofile", "-c"][..], "set -eu"),
        ("zsh", &["-f", "-c"][..], "setopt err_exit no_unset"),
    ] {
        let script = format!(
            "{prelude}; eval \"$(session-vault init {program})\"; sv_load claude; echo not-reached"
        );
        let r = shell(&env, &app, program, &[args, &[script.as_str()]].concat());
        assert_eq!(r.code, 3, "{program}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{program}: {}", r.stdout);
        assert!(
            r.stderr
                .contains("sv_load: nothing loaded for claude (exit 3)"),
            "{program}: {}",
            r.stderr
        );
    }
}

#[test]
fn sv_load_reports_a_locked_vault_and_an_unknown_tool() {
    let env = TestEnv::new();
    let app = env.mkdir("p/app");
    env.start_unlocked();
    env.add("claude", &["--global"], "sk-global");
    let script = r#"eval "$(session-vault init bash)"; sv_load nosuchtool; echo "code=$?""#;
    let r = shell(&env, &app, "bash", &["--norc", "--noprofile", "-c", script]);
    assert_eq!(r.stdout.trim(), "code=2", "{}", r.stderr);
    assert!(
        r.stderr.contains("unknown tool `nosuchtool`"),
        "{}",
        r.stderr
    );
    env.run(&["lock"], None).ok();
    let script = r#"eval "$(session-vault init bash)"; sv_load claude; echo "code=$?""#;
    let r = shell(&env, &app, "bash", &["--norc", "--noprofile", "-c", script]);
    assert_eq!(r.stdout.trim(), "code=4", "{}", r.stderr);
    // sv_unload needs no daemon and no unlocked vault.
    let script = r#"eval "$(session-vault init bash)"; export ANTHROPIC_API_KEY=x; sv_unload claude; echo "${ANTHROPIC_API_KEY-UNSET}""#;
    let r = shell(&env, &app, "bash", &["--norc", "--noprofile", "-c", script]);
    assert_eq!(r.stdout.trim(), "UNSET", "{}", r.stderr);
}

#[test]
fn installed_blocks_give_new_shells_sv_load() {
    let env = TestEnv::new();
    let app = env.mkdir("p/app");
    env.start_unlocked();
    let value = NASTY[0].replace("@CANARY@", env.dir.path().join("canary").to_str().unwrap());
    env.add("claude", &["--project", app.to_str().unwrap()], &value);
    std::fs::write(env.home.join(".bashrc"), "export MINE=1").unwrap();
    let zdot = env.mkdir("zdot");
    for (shell_name, extra) in [
        ("bash", vec![]),
        ("zsh", vec![("ZDOTDIR", zdot.clone())]),
        ("fish", vec![]),
    ] {
        let mut cmd = env.command(&["install", "--shell", shell_name]);
        for (k, v) in &extra {
            cmd.env(k, v);
        }
        let r = run_cmd(cmd, None).ok();
        assert!(
            r.stdout.contains("Added the session-vault block"),
            "{}",
            r.stdout
        );
    }
    assert!(zdot.join(".zshrc").exists());
    assert!(env
        .home
        .join(".config/fish/conf.d/session-vault.fish")
        .exists());
    for (program, args) in [
        ("bash", vec!["-i", "-c"]),
        ("zsh", vec!["-i", "-c"]),
        ("fish", vec!["-c"]),
    ] {
        let script = r#"sv_load claude >/dev/null 2>&1; printf '%s' "$ANTHROPIC_API_KEY""#;
        let mut a = args.clone();
        a.push(script);
        let mut cmd = Command::new(program);
        cmd.args(&a).current_dir(&app);
        env.apply_env(&mut cmd);
        cmd.env("PATH", path_with_bin()).env("ZDOTDIR", &zdot);
        let r = run_cmd(cmd, None);
        assert_eq!(r.stdout, value, "{program}: stderr {}", r.stderr);
    }
}
