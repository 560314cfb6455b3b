//! `exec --proxy` end to end (docs/design.md §10): the real daemon and its
//! credential proxy, a mock provider over real TLS whose test CA the tools
//! trust through `ca_file` in config.toml, and a Python child as the agent.

use crate::util::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;
use sv_testkit::mock::{MockConfig, MockServer};

const CLAUDE_KEY: &str = "sk-ant-api03-REALclaudeKEY0123456789abcdefghijklmnopqrstuvwxyzAA";
const OPENAI_KEY: &str = "sk-proj-REALopenaiKEY0123456789abcdefghijklmnop";

/// The agent: records its environment and command line, sends one request
/// with its claude stand-in and one with its codex stand-in to claude's
/// base URL, and prints what it had and got as JSON.
const AGENT: &str = r#"
import json, os, sys, urllib.request, urllib.error
out = sys.argv[1]
with open(out + "/environ", "wb") as f:
    f.write(open("/proc/self/environ", "rb").read())
with open(out + "/cmdline", "wb") as f:
    f.write(open("/proc/self/cmdline", "rb").read())
def call(url, headers):
    req = urllib.request.Request(url, data=b'{"model":"m"}', headers=headers, method="POST")
    try:
        r = urllib.request.urlopen(req, timeout=30)
        return [r.status, r.read().decode()]
    except urllib.error.HTTPError as e:
        return [e.code, e.read().decode()]
base = os.environ["ANTHROPIC_BASE_URL"]
key = os.environ["ANTHROPIC_API_KEY"]
res = {
    "pid": os.getpid(),
    "claude_stand_in": key,
    "codex_stand_in": os.environ["OPENAI_API_KEY"],
    "codex_api_key": os.environ.get("CODEX_API_KEY"),
    "base": base,
    "openai_base": os.environ["OPENAI_BASE_URL"],
    "claude": call(base + "/v1/messages?beta=true", {"x-api-key": key, "content-type": "application/json"}),
    "other": call(base + "/v1/messages", {"x-api-key": os.environ["OPENAI_API_KEY"]}),
}
print(json.dumps(res))
"#;

/// The mock provider (sv-testkit) over TLS with a test CA of its own.
fn start_mock(env: &TestEnv) -> MockServer {
    MockServer::start(MockConfig::new(env.mkdir("mock")), true).expect("mock provider")
}

fn mock_addr(mock: &MockServer) -> String {
    format!("127.0.0.1:{}", mock.port)
}

/// The model requests the mock got.
fn posts(mock: &MockServer) -> Vec<sv_testkit::mock::Recorded> {
    mock.requests()
        .into_iter()
        .filter(|r| r.method() == "POST")
        .collect()
}

/// One HTTP/1.1 request on a fresh connection: the status and the body.
fn post(addr: &str, path: &str, header: (&str, &str)) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the proxy");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{}: {}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}",
        header.0, header.1
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_owned())
}

fn config(mock: &MockServer) -> String {
    let ca: &Path = mock.ca_file.as_deref().expect("TLS");
    format!(
        "[tools.claude]\nupstream = \"https://{addr}\"\nca_file = \"{ca}\"\n\
         [tools.codex]\nupstream = \"https://{addr}/v1\"\nca_file = \"{ca}\"\n",
        addr = mock_addr(mock),
        ca = ca.display()
    )
}

#[test]
fn exec_proxy_puts_the_real_key_on_the_request_and_nowhere_else() {
    let env = TestEnv::passphrase();
    let mock = start_mock(&env);
    env.write_config(&config(&mock));
    env.start_unlocked();
    let claude_session = env.add("claude", &["--global"], CLAUDE_KEY);
    env.add("codex", &["--global"], OPENAI_KEY);
    let addr = env.proxy_addr();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");

    // `daemon status` names the proxy, and the port is recorded 0600.
    let r = env.run(&["daemon", "status"], None).ok();
    assert!(
        r.stdout.contains(&format!("Proxy:            {addr}\n")),
        "{}",
        r.stdout
    );
    let port_file = env.data_dir().join("proxy.port");
    let recorded = std::fs::read_to_string(&port_file).unwrap();
    assert_eq!(Some(recorded.trim()), addr.split(':').nth(1));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&port_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let out = env.mkdir("agent-out");
    let out_s = out.to_str().unwrap();
    let r = env
        .run(
            &[
                "exec", "--proxy", "--tool", "claude", "--tool", "codex", "--", "python3", "-c",
                AGENT, out_s,
            ],
            None,
        )
        .ok();
    let got: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| {
        panic!("agent output {e}: {} / {}", r.stdout, r.stderr);
    });
    let stand_in = got["claude_stand_in"].as_str().unwrap().to_owned();
    let codex_stand_in = got["codex_stand_in"].as_str().unwrap().to_owned();
    assert!(stand_in.starts_with("sk-ant-api03-") && stand_in.len() == CLAUDE_KEY.len());
    assert_ne!(stand_in, CLAUDE_KEY);
    assert!(codex_stand_in.starts_with("sk-proj-"));
    assert_eq!(got["codex_api_key"].as_str(), Some(codex_stand_in.as_str()));
    assert_eq!(got["base"], format!("http://{addr}/t/claude"));
    assert_eq!(got["openai_base"], format!("http://{addr}/t/codex"));

    // Through the proxy: the mock got the real key in x-api-key.
    assert_eq!(got["claude"][0], 200, "{got}");
    assert!(
        got["claude"][1].as_str().unwrap().contains("mock provider"),
        "{got}"
    );
    let seen = posts(&mock);
    assert_eq!(seen.len(), 1, "only the claude request went upstream");
    assert_eq!(seen[0].header("x-api-key"), Some(CLAUDE_KEY));
    assert_eq!(seen[0].header("authorization"), None);
    assert_eq!(seen[0].path(), "/v1/messages?beta=true");
    // The codex stand-in at claude's base URL: refused, naming its tool.
    assert_eq!(got["other"][0], 401, "{got}");
    let other = got["other"][1].as_str().unwrap();
    assert!(other.contains("codex"), "{other}");
    let _: serde_json::Value = serde_json::from_str(other).expect("a JSON body");

    // Nothing real in the agent's environment or command line.
    for file in ["environ", "cmdline"] {
        let bytes = std::fs::read(out.join(file)).unwrap();
        for key in [CLAUDE_KEY, OPENAI_KEY] {
            assert!(!contains(&bytes, key.as_bytes()), "{file} holds a real key");
        }
    }
    assert!(contains(
        &std::fs::read(out.join("environ")).unwrap(),
        format!("ANTHROPIC_API_KEY={stand_in}").as_bytes()
    ));

    // The agent has exited: its stand-in is dead, whoever presents it.
    let (status, body) = post(&addr, "/t/claude/v1/messages", ("x-api-key", &stand_in));
    assert_eq!(status, 401, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("session-vault exec --proxy"),
        "{body}"
    );
    // Never issued: the same answer.
    let (status, _) = post(
        &addr,
        "/t/claude/v1/messages",
        ("x-api-key", "sk-ant-api03-madeup"),
    );
    assert_eq!(status, 401);
    assert_eq!(posts(&mock).len(), 1, "nothing more went upstream");

    // The audit log: the stand-in issued to the process that became the
    // agent (exec in place: the same pid), the proxied request without its
    // query values, and the refusals.
    // The proxy's records are written by the daemon's audit writer a moment
    // after each response ends (docs/proxy.md, Audit): wait for them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let r = loop {
        let r = env.run(&["log", "--json"], None).ok();
        let done = r.stdout.contains("\"proxied\"") && r.stdout.contains("\"refused_stand_in\"");
        if done || std::time::Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(!r.stdout.contains(CLAUDE_KEY) && !r.stdout.contains(&stand_in));
    assert!(!r.stdout.contains("beta=true"), "{}", r.stdout);
    let log: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    let pid = got["pid"].as_i64().unwrap();
    let issued = log
        .iter()
        .find(|e| e["outcome"] == "stand_in" && e["tool"] == "claude")
        .expect("the issue is logged");
    assert_eq!(
        issued["pid"], pid,
        "bound to the process that became the agent"
    );
    assert_eq!(issued["session_id"], claude_session.as_str());
    let proxied = log
        .iter()
        .find(|e| e["outcome"] == "proxied")
        .unwrap_or_else(|| panic!("no proxied record: {}", r.stdout));
    assert_eq!(proxied["tool"], "claude");
    assert_eq!(proxied["session_id"], claude_session.as_str());
    assert_eq!(proxied["request"]["method"], "POST");
    assert_eq!(proxied["request"]["path"], "/v1/messages?beta");
    assert_eq!(proxied["request"]["status"], 200);
    assert_eq!(
        proxied["request"]["host"].as_str(),
        Some(mock_addr(&mock).as_str())
    );
    assert!(proxied["request"]["bytes_down"].as_u64().unwrap() > 0);
    // Found from the loopback connection while it was open (best effort:
    // an agent that closes it at once may be gone first), never another.
    assert!(
        proxied["pid"].is_null() || proxied["pid"] == pid,
        "{proxied}"
    );
    assert!(log.iter().any(|e| e["outcome"] == "refused_stand_in"));
    let r = env.run(&["log", "--tool", "claude"], None).ok();
    assert!(
        r.stdout.contains(&format!(
            "POST {}/v1/messages?beta -> 200",
            mock_addr(&mock)
        )),
        "{}",
        r.stdout
    );
    let r = env.run(&["log", "--denied", "--json"], None).ok();
    assert!(!r.stdout.contains("\"proxied\""), "{}", r.stdout);

    // Locked: 503 telling what to run.
    env.run(&["lock"], None).ok();
    let (status, body) = post(&addr, "/t/claude/v1/messages", ("x-api-key", &stand_in));
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("session-vault unlock"), "{body}");
    assert_eq!(posts(&mock).len(), 1);

    // The port is the vault's: the same after a restart.
    env.run(&["daemon", "stop"], None).ok();
    env.run(&["daemon", "start"], None).ok();
    assert_eq!(env.proxy_addr(), addr);
}

/// `exec --proxy` starts an agent that prints its claude stand-in and then
/// waits for a line on stdin.
fn agent_holding_its_stand_in(env: &TestEnv) -> (std::process::Child, String) {
    spawn_and_read_line(env.command(&[
        "exec",
        "--proxy",
        "--tool",
        "claude",
        "--",
        "sh",
        "-c",
        "echo \"$ANTHROPIC_API_KEY\"; read line",
    ]))
}

#[test]
fn a_live_stand_in_serves_while_its_process_lives_and_not_after() {
    let env = TestEnv::passphrase();
    let mock = start_mock(&env);
    env.write_config(&config(&mock));
    env.start_unlocked();
    env.add("claude", &["--global"], CLAUDE_KEY);
    let addr = env.proxy_addr();
    let (mut child, stand_in) = agent_holding_its_stand_in(&env);
    // Another process presents it while the agent lives: served (the
    // limit of a stand-in, docs/design.md §1).
    let (status, body) = post(&addr, "/t/claude/v1/messages", ("x-api-key", &stand_in));
    assert_eq!(status, 200, "{body}");
    assert_eq!(posts(&mock)[0].header("x-api-key"), Some(CLAUDE_KEY));
    // The agent exits: its stand-in with it.
    writeln!(child.stdin.as_mut().unwrap()).unwrap();
    assert!(child.wait().unwrap().success());
    let (status, _) = post(&addr, "/t/claude/v1/messages", ("x-api-key", &stand_in));
    assert_eq!(status, 401);
    assert_eq!(posts(&mock).len(), 1);

    // Removal: a live agent's stand-in dies with its session.
    let (mut child, stand_in) = agent_holding_its_stand_in(&env);
    env.run(&["remove", "--tool", "claude"], None).ok();
    let (status, _) = post(&addr, "/t/claude/v1/messages", ("x-api-key", &stand_in));
    assert_eq!(status, 401);
    writeln!(child.stdin.as_mut().unwrap()).unwrap();
    child.wait().unwrap();
    assert_eq!(posts(&mock).len(), 1);

    // No credential here: nothing is run, exit 3 as for `exec`.
    let r = env
        .run(&["exec", "--proxy", "--tool", "claude", "--", "true"], None)
        .code(3);
    assert!(r.stderr.contains("no credential"), "{}", r.stderr);
}

#[test]
fn proxy_listen_in_config_is_used_and_must_be_loopback() {
    let env = TestEnv::passphrase();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    env.write_config(&format!("proxy_listen = \"127.0.0.1:{port}\"\n"));
    env.start_unlocked();
    assert_eq!(env.proxy_addr(), format!("127.0.0.1:{port}"));
    env.run(&["daemon", "stop"], None).ok();
    env.write_config("proxy_listen = \"0.0.0.0:8787\"\n");
    let r = env.run(&["daemon", "start"], None);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("loopback"), "{}", r.stderr);
}

#[test]
fn a_user_tool_from_config_goes_through_its_own_upstream_and_auth_place() {
    let env = TestEnv::passphrase();
    let mock = start_mock(&env);
    let ca = mock.ca_file.as_deref().expect("TLS");
    env.write_config(&format!(
        "[tools.router]\nvars = [\"ROUTER_API_KEY\"]\nupstream = \"https://{}/v1\"\n\
         auth = \"bearer\"\nbase_url_var = \"ROUTER_BASE_URL\"\nca_file = \"{}\"\n",
        mock_addr(&mock),
        ca.display()
    ));
    env.start_unlocked();
    let key = "sk-or-v1-REALrouterKEY0123456789abcdef0123456789abcdef";
    env.add("router", &["--global"], key);
    let agent = r#"
import os, urllib.request
req = urllib.request.Request(os.environ["ROUTER_BASE_URL"] + "/responses", data=b'{"model":"m"}',
    headers={"authorization": "Bearer " + os.environ["ROUTER_API_KEY"]}, method="POST")
print(urllib.request.urlopen(req, timeout=30).status, os.environ["ROUTER_BASE_URL"])
"#;
    let r = env
        .run(
            &[
                "exec", "--proxy", "--tool", "router", "--", "python3", "-c", agent,
            ],
            None,
        )
        .ok();
    let addr = env.proxy_addr();
    assert_eq!(r.stdout.trim(), format!("200 http://{addr}/t/router"));
    let seen = posts(&mock);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path(), "/v1/responses");
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {key}").as_str())
    );
}
