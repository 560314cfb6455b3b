//! `integrate claude|gemini --proxy` (docs/design.md §10): the settings are
//! written and `--undo` gives the bytes back; Claude Code's key helper
//! prints a stand-in bound to the agent that ran it (a Python process
//! running the helper through `sh -c`, as Claude Code does): it stays live
//! after the helper exits, the same one is given again, and it dies with
//! the agent.
use crate::util::*;
use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;
use sv_testkit::mock::{MockConfig, MockServer};

const CLAUDE_KEY: &str = "sk-ant-api03-REALclaudeKEY0123456789abcdefghijklmnopqrstuvwxyzAA";

const SETTINGS: &str = "{\n  \"model\": \"x\",\n  \"env\": {\"FOO\": \"bar\"}\n}\n";

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// One HTTP/1.1 request on a fresh connection: the status.
fn post(addr: &str, path: &str, key: &str) -> u16 {
    let mut s = TcpStream::connect(addr).expect("connect to the proxy");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nx-api-key: {key}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn claude_user_settings_get_the_stand_in_helper_and_base_url_and_undo_is_byte_exact() {
    let env = TestEnv::passphrase();
    env.start_unlocked();
    let settings: PathBuf = env.home.join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(&settings, SETTINGS).unwrap();
    let addr = env.proxy_addr();

    env.run(&["integrate", "claude", "--user", "--proxy"], None)
        .ok();
    let v = json(&settings);
    assert_eq!(
        v["apiKeyHelper"],
        "session-vault get --tool claude --stand-in"
    );
    assert_eq!(
        v["env"]["ANTHROPIC_BASE_URL"],
        format!("http://{addr}/t/claude")
    );
    assert_eq!(v["env"]["FOO"], "bar");
    assert_eq!(v["model"], "x");
    // Again: nothing changes. Plain integrate over it: undo first.
    let r = env
        .run(&["integrate", "claude", "--user", "--proxy"], None)
        .ok();
    assert!(r.stdout.contains("nothing changed"), "{}", r.stdout);
    env.run(&["integrate", "claude", "--user"], None).code(1);

    env.run(&["integrate", "claude", "--user", "--undo"], None)
        .ok();
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), SETTINGS);

    // A file that did not exist is removed again.
    std::fs::remove_file(&settings).unwrap();
    env.run(&["integrate", "claude", "--user", "--proxy"], None)
        .ok();
    assert!(settings.exists());
    env.run(&["integrate", "claude", "--user", "--undo"], None)
        .ok();
    assert!(!settings.exists());

    // Something else changed since: only session-vault's keys go.
    std::fs::write(&settings, SETTINGS).unwrap();
    env.run(&["integrate", "claude", "--user", "--proxy"], None)
        .ok();
    let mut v = json(&settings);
    v["model"] = "y".into();
    std::fs::write(&settings, serde_json::to_vec(&v).unwrap()).unwrap();
    env.run(&["integrate", "claude", "--user", "--undo"], None)
        .ok();
    let v = json(&settings);
    assert_eq!(v["model"], "y");
    assert!(v.get("apiKeyHelper").is_none());
    assert_eq!(v["env"], serde_json::json!({"FOO": "bar"}));
}

#[test]
fn gemini_settings_select_the_api_key_and_undo_is_byte_exact() {
    let env = TestEnv::passphrase();
    let settings = env.home.join(".gemini/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    let before =
        "{\"security\": {\"auth\": {\"selectedType\": \"oauth-personal\"}}, \"general\": {}}";
    std::fs::write(&settings, before).unwrap();
    env.run(&["integrate", "gemini", "--proxy"], None).ok();
    assert_eq!(
        json(&settings)["security"]["auth"]["selectedType"],
        "gemini-api-key"
    );
    env.run(&["integrate", "gemini", "--undo"], None).ok();
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), before);
    // Without the proxy Gemini CLI has no way to ask: refused as usage.
    env.run(&["integrate", "gemini"], None).code(2);
    // No file before: none after.
    std::fs::remove_file(&settings).unwrap();
    env.run(&["integrate", "gemini", "--proxy"], None).ok();
    env.run(&["integrate", "gemini", "--undo"], None).ok();
    assert!(!settings.exists());
}

/// The fake agent: runs the key helper through `sh -c` twice (the second
/// time with a shell that stays, as bash does with two commands), prints
/// both answers and its pid, then waits for a line on stdin.
const AGENT: &str = r#"
import json, os, subprocess, sys
a = subprocess.run(["sh", "-c", sys.argv[1]], capture_output=True, text=True)
b = subprocess.run(["bash", "-c", sys.argv[1] + "; true"], capture_output=True, text=True)
print(json.dumps({"pid": os.getpid(), "a": a.stdout.strip(), "b": b.stdout.strip(),
                  "err": a.stderr + b.stderr}), flush=True)
sys.stdin.readline()
"#;

fn agent(env: &TestEnv) -> (std::process::Child, serde_json::Value) {
    let mut cmd = std::process::Command::new("python3");
    cmd.args(["-c", AGENT, "session-vault get --tool claude --stand-in"]);
    env.apply_env(&mut cmd);
    // The helper is found on PATH, as Claude Code finds it.
    let bin_dir = sv_bin().parent().unwrap().to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.env("PATH", path)
        .current_dir(env.home.clone())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).expect(&line);
    (child, v)
}

#[test]
fn the_helpers_stand_in_lives_with_the_agent_that_ran_it() {
    let env = TestEnv::passphrase();
    let mock = MockServer::start(MockConfig::new(env.mkdir("mock")), true).expect("mock");
    let ca = mock.ca_file.clone().expect("TLS");
    env.write_config(&format!(
        "[tools.claude]\nupstream = \"https://127.0.0.1:{}\"\nca_file = \"{}\"\n",
        mock.port,
        ca.display()
    ));
    env.start_unlocked();
    env.add("claude", &["--global"], CLAUDE_KEY);
    let addr = env.proxy_addr();

    let (mut child, v) = agent(&env);
    let stand_in = v["a"].as_str().unwrap().to_owned();
    assert!(!stand_in.is_empty(), "{v}");
    assert_ne!(stand_in, CLAUDE_KEY);
    assert_eq!(stand_in.len(), CLAUDE_KEY.len());
    assert!(stand_in.starts_with("sk-ant-"), "{stand_in}");
    // The same agent asks again: the same stand-in.
    assert_eq!(v["b"], v["a"], "{v}");
    // The helpers have exited; the agent lives: served, with the real key.
    assert_eq!(post(&addr, "/t/claude/v1/messages", &stand_in), 200);
    let got: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.method() == "POST")
        .collect();
    assert_eq!(got[0].header("x-api-key"), Some(CLAUDE_KEY));

    // Another agent gets its own.
    let (mut other, w) = agent(&env);
    assert_ne!(w["a"], v["a"]);

    // The agent exits: its stand-in dies with it, the other's lives on.
    writeln!(child.stdin.as_mut().unwrap()).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(post(&addr, "/t/claude/v1/messages", &stand_in), 401);
    assert_eq!(
        post(&addr, "/t/claude/v1/messages", w["a"].as_str().unwrap()),
        200
    );
    writeln!(other.stdin.as_mut().unwrap()).unwrap();
    other.wait().unwrap();

    // The audit log says stand_in, never served, for the helper's lookups.
    let log = env.run(&["log", "--json"], None).ok().stdout;
    assert!(log.contains("stand_in"), "{log}");
    assert!(!log.contains(CLAUDE_KEY));
}
