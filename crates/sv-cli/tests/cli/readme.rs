//! README.md is checked against the real binaries: the quick start's `sh`
//! blocks run as written in a private HOME (stdin giving the passphrase and
//! the key, a probe in place of the agent), the first block's line after the
//! install does the same, and the apt list is the one CI installs. The
//! install itself (a release build of several minutes) runs in CI:
//! `scripts/readme-install.sh`, which runs the README's first command
//! literally.
use crate::util::*;
use std::path::Path;
use std::process::Command;

const README: &str = include_str!("../../../../README.md");
const APT_LIST: &str = include_str!("../../../../scripts/apt-packages.txt");
const CI_RUN: &str = include_str!("../../../../.ci/run");
const KEY: &str = "sk-ant-api03-readme-quick-start-test-key-'$(x)'";

/// The fenced blocks of (part of) the README: (language, body).
fn blocks(text: &str) -> Vec<(String, String)> {
    code_blocks(text, "README.md")
}

/// The lines of a shell block that are commands (not blank, not comments).
fn commands(block: &str) -> Vec<String> {
    block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The README's first `sh` block: the install line and the test command.
fn first_block() -> Vec<String> {
    let (_, body) = blocks(README)
        .into_iter()
        .find(|(lang, _)| lang == "sh")
        .expect("a sh block in README.md");
    commands(&body)
}

/// The commands of the Quick start section's `sh` blocks, in order.
fn quick_start() -> Vec<String> {
    let start = README
        .find("\n## Quick start\n")
        .expect("a Quick start section");
    let rest = &README[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    blocks(&rest[..end])
        .into_iter()
        .filter(|(lang, _)| lang == "sh")
        .flat_map(|(_, body)| commands(&body))
        .collect()
}

/// A newcomer's machine: no TPM, no Secret Service, `auto` backend, and
/// their project at `~/src/app`.
fn newcomer() -> TestEnv {
    let mut env = TestEnv::new();
    env.extra_env.retain(|(k, _)| {
        ![
            "SESSION_VAULT_BACKEND",
            "DBUS_SESSION_BUS_ADDRESS",
            "SESSION_VAULT_TCTI",
        ]
        .contains(&k.as_str())
    });
    std::fs::create_dir_all(env.home.join("src/app")).unwrap();
    env
}

/// Runs `script` with bash -eu as the newcomer would type it, from the
/// checkout, with the built binaries and `probe_dir` first on PATH.
fn run_script(env: &TestEnv, script: &str, probe_dir: &Path) -> Run {
    let bin_dir = sv_bin().parent().unwrap().to_owned();
    let path = std::env::join_paths([bin_dir, probe_dir.to_owned()].into_iter().chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let mut cmd = Command::new("bash");
    cmd.args(["-euc", script]);
    env.apply_env(&mut cmd);
    cmd.env("PATH", path)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    run_cmd(cmd, Some(&format!("{PASS}\n{KEY}\n")))
}

/// `get` prints the key inside the project and exits 3 outside it.
fn key_served_only_in_the_project(env: &TestEnv) {
    let app = env.home.join("src/app");
    let r = env.get_in(&app, "claude").ok();
    assert_eq!(r.stdout, format!("{KEY}\n"));
    env.get_in(&env.home, "claude").code(3);
}

#[test]
fn the_quick_start_runs_as_written() {
    let lines = quick_start();
    let installs: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("scripts/install.sh"))
        .collect();
    assert_eq!(
        installs,
        [&"scripts/install.sh".to_owned()],
        "the quick start installs with scripts/install.sh, once"
    );
    assert!(
        lines.iter().any(|l| l == "session-vault unlock"),
        "{lines:?}"
    );
    let agents: Vec<&String> = lines.iter().filter(|l| l.ends_with("-- claude")).collect();
    assert!(!agents.is_empty(), "no agent run in {lines:?}");

    let env = newcomer();
    // The agent: records what it received, one line per run.
    let probe_dir = env.dir.path().join("probe");
    std::fs::create_dir(&probe_dir).unwrap();
    let record = env.dir.path().join("claude-runs");
    let probe = probe_dir.join("claude");
    std::fs::write(
        &probe,
        format!(
            "#!/bin/sh\nprintf '%s\\t%s\\n' \"$PWD\" \"${{ANTHROPIC_API_KEY-}}\" >> '{}'\n",
            record.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).unwrap();

    // The install is CI's step (scripts/readme-install.sh); here the built
    // binaries are first on PATH instead.
    let script: String = lines
        .iter()
        .filter(|l| !l.starts_with("scripts/install.sh"))
        .map(|l| format!("{l}\n"))
        .collect();
    let r = run_script(&env, &script, &probe_dir);
    assert_eq!(
        r.code, 0,
        "{script}\nstderr: {}\nstdout: {}",
        r.stderr, r.stdout
    );

    let runs = std::fs::read_to_string(&record).expect("the agent ran");
    let runs: Vec<&str> = runs.lines().collect();
    assert_eq!(runs.len(), agents.len(), "{runs:?}");
    let app = env.home.join("src/app").canonicalize().unwrap();
    for (line, run) in agents.iter().zip(&runs) {
        let (cwd, key) = run.split_once('\t').unwrap();
        assert_eq!(Path::new(cwd), app, "{line}");
        if line.contains("--proxy") {
            // docs/design.md §10: the agent holds a stand-in, never the key.
            assert!(
                !key.is_empty() && key != KEY,
                "{line}: the key reached the agent"
            );
        } else {
            assert_eq!(key, KEY, "{line}");
        }
    }
    key_served_only_in_the_project(&env);
}

#[test]
fn the_first_block_stores_the_key_for_the_users_project_and_ci_runs_it() {
    let first = first_block();
    assert_eq!(first.len(), 2, "install line and test command: {first:?}");
    let install = &first[0];
    assert_eq!(first[1], "scripts/test.sh");
    // scripts/readme-command.sh (what CI runs) reads the same commands.
    for (n, want) in first.iter().enumerate() {
        let out = Command::new("sh")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/readme-command.sh"))
            .arg((n + 1).to_string())
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{want}\n"));
    }
    assert!(
        CI_RUN.contains("scripts/readme-command.sh 2"),
        "CI runs the README's test command"
    );
    assert!(
        CI_RUN.contains("scripts/readme-install.sh"),
        "CI runs the README's install line"
    );

    let rest = install
        .strip_prefix("scripts/install.sh && ")
        .unwrap_or_else(|| panic!("the first command installs first: {install}"));
    assert!(
        rest.contains("--project ~/src/app") && !rest.contains("--project ."),
        "the key is for the user's project, not this checkout: {rest}"
    );
    let env = newcomer();
    let r = run_script(&env, rest, env.dir.path());
    assert_eq!(r.code, 0, "{rest}\nstderr: {}", r.stderr);
    key_served_only_in_the_project(&env);
}

#[test]
fn the_apt_line_is_the_list_ci_installs_and_nothing_else() {
    let want: Vec<&str> = APT_LIST
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .collect();
    let apt: Vec<String> = blocks(README)
        .into_iter()
        .filter(|(lang, _)| lang == "sh")
        .flat_map(|(_, body)| commands(&body))
        .filter(|l| l.contains("apt-get"))
        .collect();
    assert_eq!(apt.len(), 1, "one apt line in the README: {apt:?}");
    let pkgs: Vec<&str> = apt[0]
        .strip_prefix("sudo apt-get install -y --no-install-recommends ")
        .unwrap_or_else(|| panic!("install only, no recommends: {}", apt[0]))
        .split_whitespace()
        .collect();
    assert_eq!(pkgs, want, "README.md and scripts/apt-packages.txt differ");
    assert!(!README.contains("apt-get upgrade") && !README.contains("dist-upgrade"));
    assert!(
        CI_RUN.contains("--no-install-recommends") && CI_RUN.contains("scripts/apt-packages.txt")
    );
}
