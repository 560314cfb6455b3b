//! After `integrate codex|gemini --proxy` the shell hook's normal launch
//! goes through the proxy: `init` defines a `codex` / `gemini` function
//! only for the agents integrated (and only until `--undo`), the shells'
//! parsers accept it, and a real shell that loaded the hook runs the agent
//! (a fake `codex` on PATH) as `session-vault exec --proxy --tool codex --
//! codex …`: arguments exact, exit status kept, a stand-in and no key in
//! its environment, inside an agent tree.
use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const CODEX_KEY: &str = "sk-proj-REALcodexKEY0123456789abcdefghijklmnopqrstuvwxyz";

fn bin_dir() -> PathBuf {
    sv_bin().parent().expect("binary directory").to_owned()
}

fn shell(env: &TestEnv, cwd: &Path, path: &str, program: &str, args: &[&str]) -> Run {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(cwd);
    env.apply_env(&mut cmd);
    cmd.env("PATH", path);
    run_cmd(cmd, None)
}

fn init(env: &TestEnv, sh: &str) -> String {
    env.run(&["init", sh], None).ok().stdout
}

#[test]
fn init_defines_the_wrappers_only_for_integrated_agents_and_the_shells_parse_them() {
    let env = TestEnv::passphrase();
    let plain = init(&env, "bash");
    assert!(!plain.contains("function codex") && !plain.contains("function gemini"));
    env.run(&["daemon", "start"], None).ok();
    env.run(&["integrate", "codex", "--proxy"], None).ok();
    env.run(&["integrate", "gemini", "--proxy"], None).ok();

    let bash = init(&env, "bash");
    assert!(bash.starts_with(&plain), "the hook itself changed");
    assert!(
        bash.contains(
            "function codex {\n    command session-vault exec --proxy --tool codex -- codex \"$@\"\n}\n"
        ),
        "{bash}"
    );
    assert!(bash.contains("function gemini {"), "{bash}");
    let dir = env.mkdir("hooks");
    let path = std::env::var("PATH").unwrap_or_default();
    for (sh, check) in [
        ("bash", vec!["-n"]),
        ("zsh", vec!["-n"]),
        ("fish", vec!["--no-execute"]),
        ("bash", vec!["shellcheck", "-s", "bash", "-S", "style"]),
    ] {
        let code = init(&env, sh);
        assert!(code.contains("codex"), "{sh}: {code}");
        let file = dir.join(sh);
        std::fs::write(&file, &code).unwrap();
        // A check that names its own program (shellcheck) runs that.
        let (program, mut args) = match check.split_first() {
            Some((p, rest)) if !p.starts_with('-') => (*p, rest.to_vec()),
            _ => (sh, check.clone()),
        };
        args.push(file.to_str().unwrap());
        let r = shell(&env, &dir, &path, program, &args);
        assert_eq!(
            r.code, 0,
            "{program} rejects the {sh} hook: {}{}",
            r.stdout, r.stderr
        );
    }
    // PowerShell gets no wrapper (its hook is unchanged).
    let ps = init(&env, "powershell");
    assert!(!ps.contains("exec --proxy"), "{ps}");

    env.run(&["integrate", "codex", "--undo"], None).ok();
    let bash = init(&env, "bash");
    assert!(!bash.contains("function codex") && bash.contains("function gemini"));
    env.run(&["integrate", "gemini", "--undo"], None).ok();
    assert_eq!(init(&env, "bash"), plain);
    // A file `integrate` did not write names no function.
    std::fs::write(env.data_dir().join("shell-wrappers"), "rm\nls -la\n").unwrap();
    let r = env.run(&["init", "bash"], None).ok();
    assert_eq!(r.stdout, plain);
    assert_eq!(r.stderr, "");
}

/// The fake Codex: records its arguments, the variables it got, and what
/// `session-vault get` answers inside it; exits 7.
const FAKE_CODEX: &str = r#"#!/bin/sh
out="$SV_FAKE_OUT"
for a in "$@"; do printf '%s\n' "$a"; done > "$out.args"
printf '%s\n' "${CODEX_API_KEY-UNSET}" "${OPENAI_API_KEY-UNSET}" "${OPENAI_BASE_URL-UNSET}" > "$out.vars"
cat /proc/$$/environ > "$out.environ" 2>/dev/null
session-vault get --tool codex > /dev/null 2>&1
echo "$?" > "$out.get"
exit 7
"#;

const ARGS: &[&str] = &[
    "exec",
    "two words",
    "",
    "*",
    "$HOME",
    "--",
    "it's \"quoted\"",
];

#[test]
fn a_shell_with_the_hook_runs_codex_through_exec_proxy() {
    let env = TestEnv::passphrase();
    env.start_unlocked();
    env.add("codex", &["--global"], CODEX_KEY);
    env.run(&["integrate", "codex", "--proxy"], None).ok();
    let addr = env.proxy_addr();

    let fake_dir = env.mkdir("fake-bin");
    let fake = fake_dir.join("codex");
    std::fs::write(&fake, FAKE_CODEX).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}:{}",
        bin_dir().display(),
        fake_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let work = env.mkdir("work");
    // The arguments travel through the shell as variables, untouched.
    let quoted: Vec<String> = ARGS
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let posix = format!(
        "eval \"$(session-vault init SHELL)\" || exit 90\n\
         type codex | head -n 1 > type\n\
         codex {}\n\
         echo \"$?\" > status\n",
        quoted.join(" ")
    );
    for sh in ["bash", "zsh"] {
        let out = work.join(sh);
        let script = posix.replace("SHELL", sh);
        let mut args = vec!["-c", script.as_str()];
        if sh == "bash" {
            args.splice(0..0, ["--norc", "--noprofile"]);
        } else {
            args.insert(0, "-f");
        }
        let mut cmd = Command::new(sh);
        cmd.args(&args).current_dir(&work);
        env.apply_env(&mut cmd);
        cmd.env("PATH", &path).env("SV_FAKE_OUT", &out);
        let r = run_cmd(cmd, None);
        assert_eq!(r.code, 0, "{sh}: {}\n{}", r.stdout, r.stderr);
        let file = |ext: &str| {
            std::fs::read_to_string(work.join(format!("{sh}.{ext}"))).unwrap_or_default()
        };
        let typed = std::fs::read_to_string(work.join("type")).unwrap();
        assert!(
            typed.contains("function"),
            "{sh}: codex is not the hook's function: {typed}"
        );
        assert_eq!(
            std::fs::read_to_string(work.join("status")).unwrap().trim(),
            "7",
            "{sh}: the exit status was not kept: {}",
            r.stderr
        );
        let got: Vec<String> = file("args").lines().map(str::to_owned).collect();
        assert_eq!(got, ARGS, "{sh}: the arguments changed");
        let vars: Vec<String> = file("vars").lines().map(str::to_owned).collect();
        let stand_in = &vars[0];
        assert_ne!(stand_in, "UNSET", "{sh}: no stand-in in CODEX_API_KEY");
        assert_ne!(stand_in, CODEX_KEY);
        assert_eq!(stand_in.len(), CODEX_KEY.len());
        assert!(stand_in.starts_with("sk-proj-"), "{stand_in}");
        assert_eq!(vars[2], format!("http://{addr}/t/codex/v1"));
        assert!(
            !contains(file("environ").as_bytes(), CODEX_KEY.as_bytes()),
            "{sh}: the real key is in the agent's environment"
        );
        assert!(!file("environ").is_empty(), "{sh}: no environ read");
        // It runs in an agent tree: no plaintext for it.
        assert_eq!(file("get").trim(), "5", "{sh}");
        // Codex's provider names the same proxy.
        let config = std::fs::read_to_string(env.home.join(".codex/config.toml")).unwrap();
        assert!(config.contains(&format!("base_url = \"http://{addr}/t/codex/v1\"")));
    }

    // fish
    let out = work.join("fish");
    let fish_args: Vec<String> = ARGS
        .iter()
        .map(|a| format!("'{}'", a.replace('\\', r"\\").replace('\'', r"\'")))
        .collect();
    let script = format!(
        "session-vault init fish | source; or exit 90\ncodex {}\necho $status > status\n",
        fish_args.join(" ")
    );
    let mut cmd = Command::new("fish");
    cmd.args(["--no-config", "-c", &script]).current_dir(&work);
    env.apply_env(&mut cmd);
    cmd.env("PATH", &path).env("SV_FAKE_OUT", &out);
    let r = run_cmd(cmd, None);
    assert_eq!(r.code, 0, "fish: {}\n{}", r.stdout, r.stderr);
    assert_eq!(
        std::fs::read_to_string(work.join("status")).unwrap().trim(),
        "7"
    );
    let got: Vec<String> = std::fs::read_to_string(work.join("fish.args"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(got, ARGS, "fish: the arguments changed");
    let vars = std::fs::read_to_string(work.join("fish.vars")).unwrap();
    assert!(
        !vars.contains(CODEX_KEY) && !vars.starts_with("UNSET"),
        "{vars}"
    );
}
