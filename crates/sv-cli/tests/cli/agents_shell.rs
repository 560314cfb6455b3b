//! The real Claude Code through `session-vault exec --proxy`, whose own
//! shell asks the vault for the plaintext key (docs/design.md §11: an agent
//! tree is refused every plaintext request, exit 5, audited as
//! `refused_agent_tree`), while the agent itself completes its prompt
//! through the proxy with the real key on every call (§10).
//!
//! The mock provider answers Claude's first message with a `Bash` tool call
//! running the command under test, and the message that carries the
//! command's output back with a text quoting it. The command reports its
//! pid (the process that asks the vault is that one, by `exec`), so the
//! audit record can be matched to it.
//!
//! Skipped unless asked for, as the other real-agent tests:
//! `scripts/test-agents.sh` installs the agents and runs these with
//! `--ignored agents_shell::`; then a missing agent fails.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use sv_testkit::agents::{Agent, MOCK_TEXT};

use crate::agents_real::{check_proxied, proxied_run_with, ProxiedRun};
use crate::util::sv_bin;

/// What session-vault prints when it refuses a caller inside an agent tree.
const REFUSAL: &str = "inside an agent tree";

/// The line Claude's `Bash` tool runs: `vault_command` (a session-vault
/// command line, `session-vault` found on PATH) in a shell that prints its
/// pid, lives long enough for the test's sampler to see it (and look for
/// the key in its environment), then becomes that command; and the
/// command's exit code after. `stdin` is piped into it when given.
fn tool_line(vault_command: &str, stdin: Option<&str>) -> String {
    let pipe = stdin.map(|s| format!("echo {s} | ")).unwrap_or_default();
    format!("{pipe}sh -c 'echo PID=$$; sleep 1; exec {vault_command}'; echo EXIT=$?")
}

/// Claude Code through `exec --proxy`, told by the mock to run `line` with
/// its Bash tool; session-vault is on its PATH, and Bash is allowed (a
/// narrower `Bash(session-vault …:*)` rule refuses the `$?` and `$$`
/// expansions the line needs, and `-p` asks no one).
fn claude_runs(line: &str) -> ProxiedRun {
    let sv_dir = sv_bin()
        .parent()
        .expect("the binary's directory")
        .to_path_buf();
    proxied_run_with(
        Agent::Claude,
        |mock| mock.tool_command = Some(line.to_owned()),
        |launch| {
            launch
                .args
                .extend(["--allowedTools", "Bash"].map(Into::into));
            for (k, v) in launch.env.iter_mut() {
                if k == "PATH" {
                    *v = format!("{}:{v}", sv_dir.display());
                }
            }
        },
    )
}

/// What every run here must show: the agent completed through the proxy
/// (the checks of `agents_real`: the real key on every call, nowhere in the
/// agent's processes, files or output), its tool's output went back in the
/// second call with exit code `exit` and without the key, and the process
/// that ran the session-vault command was one of the agent's (so the
/// sampler looked for the key in its environment). Returns that output and
/// that process's pid.
fn check_tool_ran(r: &ProxiedRun, exit: i32) -> (String, i64) {
    let out = &r.outcome;
    check_proxied(Agent::Claude, &r.key, &r.mock, &r.home, out);

    // Two model calls, both with the real key in x-api-key: the tool call,
    // and the one carrying its output back.
    let calls: Vec<_> = r
        .mock
        .requests()
        .into_iter()
        .filter(|q| Agent::Claude.is_model_request(q))
        .collect();
    assert_eq!(
        calls.len(),
        2,
        "expected the tool call and its answer: {calls:?}\n{}",
        out.describe()
    );
    for call in &calls {
        assert_eq!(call.header("x-api-key"), Some(r.key.as_str()), "{call:?}");
    }
    assert_eq!(calls[0].tool_result(), None, "{:?}", calls[0]);
    let result = calls[1]
        .tool_result()
        .unwrap_or_else(|| panic!("the second call carried no tool result: {:?}", calls[1]));
    let exit_line = format!("EXIT={exit}");
    assert!(result.contains(&exit_line), "not {exit_line}: {result}");
    assert!(
        !result.contains(&r.key),
        "the real key reached the agent's shell"
    );
    // The agent's final answer quotes what its shell got.
    assert!(
        out.stdout.contains("Tool output: PID=")
            && out.stdout.contains(&exit_line)
            && out.stdout.contains(MOCK_TEXT),
        "{}",
        out.describe()
    );

    let pid: i64 = result
        .lines()
        .find_map(|l| l.trim().strip_prefix("PID="))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no PID= line in the tool's output: {result}"));
    assert!(
        out.tree.processes.contains_key(&(pid as i32)),
        "pid {pid} was never seen in the agent's tree: {:?}",
        out.tree.processes
    );
    eprintln!(
        "claude's shell through exec --proxy: {:.1}s, tool result {result:?}",
        out.elapsed.as_secs_f64()
    );
    (result.to_owned(), pid)
}

/// [`check_tool_ran`] for a refused command: exit 5 with the refusal, the
/// refusal audited as `refused_agent_tree` for the process that asked (the
/// shell's child that became session-vault, in the project), with `tool`
/// when given, and the key still served, unchanged, outside the tree.
fn check_refused_from_the_shell(r: &ProxiedRun, tool: Option<&str>) {
    let (result, pid) = check_tool_ran(r, 5);
    assert!(result.contains(REFUSAL), "no refusal message: {result}");
    let record = wait_for_record(r, pid);
    assert_eq!(record["outcome"], "refused_agent_tree", "{record}");
    if let Some(tool) = tool {
        assert_eq!(record["tool"], tool, "{record}");
    }
    let exe = sv_bin().canonicalize().expect("the binary's path");
    assert_eq!(
        record["exe"].as_str().map(Path::new),
        Some(exe.as_path()),
        "{record}"
    );
    let work = r.home.work.canonicalize().expect("work dir");
    assert_eq!(
        record["cwd"].as_str().map(Path::new),
        Some(work.as_path()),
        "{record}"
    );
    eprintln!("audited: {record}");
    let get = r.env.get_in(&work, "claude").ok();
    assert_eq!(get.stdout.trim(), r.key);
}

/// The audit record of `pid` (records arrive through the daemon's batching
/// audit writer a moment after the request), waited for up to 15 s.
fn wait_for_record(r: &ProxiedRun, pid: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let log = r.env.run(&["log", "--json"], None).ok();
        assert!(!log.stdout.contains(&r.key), "the audit log holds the key");
        let entries: Vec<Value> = serde_json::from_str(&log.stdout)
            .unwrap_or_else(|e| panic!("log --json: {e}\n{}", log.stdout));
        if let Some(e) = entries.iter().find(|e| e["pid"].as_i64() == Some(pid)) {
            return e.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no audit record for pid {pid} after 15 s: {entries:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "runs the real Claude Code: scripts/test-agents.sh installs it and runs this with --ignored"]
fn claude_shell_get_is_refused_while_the_agent_completes_through_the_proxy() {
    let r = claude_runs(&tool_line("session-vault get --tool claude", None));
    check_refused_from_the_shell(&r, Some("claude"));
}

#[test]
#[ignore = "runs the real Claude Code: scripts/test-agents.sh installs it and runs this with --ignored"]
fn claude_shell_env_is_refused_while_the_agent_completes_through_the_proxy() {
    let r = claude_runs(&tool_line("session-vault env --tool claude", None));
    check_refused_from_the_shell(&r, Some("claude"));
}

#[test]
#[ignore = "runs the real Claude Code: scripts/test-agents.sh installs it and runs this with --ignored"]
fn claude_shell_add_is_refused_and_changes_nothing() {
    let planted = "sk-ant-api03-PLANTED-by-the-agent-0000000000AA";
    let r = claude_runs(&tool_line(
        "session-vault add --tool claude --global",
        Some(planted),
    ));
    check_refused_from_the_shell(&r, None);
    // No global key was stored: outside the project nothing is served.
    let elsewhere = r.env.mkdir("elsewhere");
    r.env.get_in(&elsewhere, "claude").code(3);
}

#[test]
#[ignore = "runs the real Claude Code: scripts/test-agents.sh installs it and runs this with --ignored"]
fn claude_shell_exec_without_proxy_is_refused() {
    let r = claude_runs(&tool_line("session-vault exec --tool claude -- env", None));
    check_refused_from_the_shell(&r, Some("claude"));
}

/// What the agent's shell may do: start a command through `exec --proxy`
/// itself. That command gets a stand-in of its own (the tree's stand-in
/// request is allowed), never the key.
#[test]
#[ignore = "runs the real Claude Code: scripts/test-agents.sh installs it and runs this with --ignored"]
fn claude_shell_exec_proxy_gets_a_stand_in_only() {
    let r = claude_runs(&tool_line(
        "session-vault exec --proxy --tool claude -- env",
        None,
    ));
    let (result, pid) = check_tool_ran(&r, 0);
    let stand_in = result
        .lines()
        .find_map(|l| l.strip_prefix("ANTHROPIC_API_KEY="))
        .unwrap_or_else(|| panic!("no key variable in the command's environment: {result}"));
    assert!(
        stand_in.starts_with("sk-ant-") && stand_in.len() == r.key.len() && stand_in != r.key,
        "not a stand-in of the key's shape: {stand_in:?}"
    );
    let base_url = result
        .lines()
        .find_map(|l| l.strip_prefix("ANTHROPIC_BASE_URL="))
        .unwrap_or_else(|| panic!("no base URL in the command's environment: {result}"));
    assert!(base_url.starts_with("http://127.0.0.1:"), "{base_url}");
    let record = wait_for_record(&r, pid);
    assert_eq!(record["outcome"], "stand_in", "{record}");
    assert_eq!(record["tool"], "claude", "{record}");
}
