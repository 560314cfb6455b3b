//! The real agents from npm (Claude Code, Codex, Gemini CLI, at the versions
//! `scripts/install-agents.sh` pins) complete one non-interactive prompt
//! against the mock provider API over TLS, with a fake key.
//!
//! Each run checks what the proxy tests (docs/design.md §10) will rely on:
//! the agent authenticates in its provider's header, and the two leak
//! detectors work: sampling `/proc/PID/environ` and `cmdline` of the agent's
//! whole tree while the mock holds a request open, and scanning the files
//! the agent wrote under its HOME. In these direct runs the key IS in the
//! agent's environment and the mock echoes it into the reply (so the agent
//! writes it into its transcript): both detectors must find it. Through
//! `exec --proxy` the same runs must find nothing (`Exposure::assert_none`).
//!
//! Skipped unless asked for: `scripts/test-agents.sh` installs the agents
//! and runs these with `--ignored agents_real::`; then a missing agent
//! fails.

use std::time::Duration;

use sv_testkit::agents::{
    prepare, run, Agent, AgentHome, Exposure, Launch, Outcome, Wiring, MOCK_TEXT,
};
use sv_testkit::mock::{MockConfig, MockServer};

const TIMEOUT: Duration = Duration::from_secs(60);

/// One direct run: the agent, a fresh HOME, the mock over TLS.
struct DirectRun {
    key: String,
    mock: MockServer,
    home: AgentHome,
    outcome: Outcome,
    _root: tempfile::TempDir,
}

fn direct_run(agent: Agent, codex_builtin_provider: bool) -> DirectRun {
    let exe = agent.executable().unwrap_or_else(|| {
        panic!(
            "{} is not installed: run scripts/install-agents.sh (or set SV_AGENTS_BIN)",
            agent.tool()
        )
    });
    let root = tempfile::Builder::new()
        .prefix("svagent")
        .tempdir()
        .expect("tempdir");
    let key = agent.fake_key();
    let mut config = MockConfig::new(root.path().join("mock"));
    config.hold_ms = 1000;
    config.echo_received_key = true;
    let mock = MockServer::start(config, true).expect("start the mock provider");
    let home = AgentHome::new(root.path()).expect("agent home");
    let wiring = Wiring {
        base_url: mock.base_url(),
        key: Some(key.clone()),
        set_base_url_var: true,
        ca_file: mock.ca_file.clone(),
        codex_builtin_provider,
    };
    let env = prepare(agent, &home, &wiring).expect("write the agent's settings");
    let launch = Launch::agent(agent, &exe, &home, env, "say hi");
    let holding = mock.dir.join("holding");
    let outcome = run(&launch, TIMEOUT, key.as_bytes(), Some(&holding)).expect("start the agent");
    DirectRun {
        key,
        mock,
        home,
        outcome,
        _root: root,
    }
}

/// What every direct run must show.
fn check_direct(agent: Agent, r: &DirectRun, min_processes_with_key: usize) {
    let out = &r.outcome;
    assert!(out.success(), "{} failed: {}", agent.tool(), out.describe());
    assert!(
        out.stdout.contains(MOCK_TEXT),
        "{} did not print the mock's reply: {}",
        agent.tool(),
        out.describe()
    );
    // The mock echoed the key it received into the reply: the agent shows it.
    assert!(out.stdout.contains(&r.key), "{}", out.describe());

    let requests = r.mock.requests();
    let model_calls: Vec<_> = requests
        .iter()
        .filter(|q| agent.is_model_request(q))
        .collect();
    assert!(
        !model_calls.is_empty(),
        "the mock saw no model call from {}: {requests:?}",
        agent.tool()
    );
    for call in &model_calls {
        assert_eq!(
            agent.key_sent(call),
            Some(r.key.as_str()),
            "{} sent its key elsewhere than {}: {call:?}",
            agent.tool(),
            agent.auth_header()
        );
    }

    // The detectors see the key where a direct run puts it.
    let exposure = Exposure::of(&r.key, out, &[&r.home.home, &r.home.work]);
    assert!(
        out.tree.samples_while_holding > 0,
        "no sample while the mock held a request open: {:?}",
        out.tree
    );
    let in_environ = exposure
        .processes
        .iter()
        .filter(|h| h.place == "environ")
        .count();
    assert!(
        in_environ >= min_processes_with_key,
        "expected the key in the environ of at least {min_processes_with_key} of {}'s processes, found {:?} (tree: {:?})",
        agent.tool(),
        exposure.processes,
        out.tree.processes
    );
    assert!(
        !exposure.files.is_empty(),
        "{} wrote no file holding the echoed key under HOME: the file scan proved nothing",
        agent.tool()
    );
    assert!(!exposure.is_none());
    eprintln!(
        "{}: {} processes seen, {} samples ({} while held); key found in {:?} and files {:?}",
        agent.tool(),
        out.tree.processes.len(),
        out.tree.samples,
        out.tree.samples_while_holding,
        exposure.processes,
        exposure.files
    );
}

/// What a run through the proxy (`exec --proxy`, or the agent's settings
/// after `integrate --proxy`) must show, with the mock echoing the key it
/// received (`echo_received_key`) and holding each call (`hold_ms`): the
/// agent completes, every model call reached the mock with the REAL key in
/// the agent's header, the echoed key came back scrubbed, and no process of
/// the agent's tree nor any file under its HOME or working directory ever
/// held the real key.
#[allow(dead_code)] // the proxy runs call it once `exec --proxy` is wired
fn check_proxied(agent: Agent, real_key: &str, mock: &MockServer, home: &AgentHome, out: &Outcome) {
    assert!(out.success(), "{} failed: {}", agent.tool(), out.describe());
    assert!(out.stdout.contains(MOCK_TEXT), "{}", out.describe());
    assert!(
        !out.stdout.contains(real_key) && !out.stderr.contains(real_key),
        "the real key reached the agent's output: the proxy did not scrub the reply"
    );
    let requests = mock.requests();
    let model_calls: Vec<_> = requests
        .iter()
        .filter(|q| agent.is_model_request(q))
        .collect();
    assert!(!model_calls.is_empty(), "no model call: {requests:?}");
    for call in &model_calls {
        assert_eq!(agent.key_sent(call), Some(real_key), "{call:?}");
    }
    Exposure::of(real_key, out, &[&home.home, &home.work]).assert_none(out);
}

#[test]
#[ignore = "runs the real Claude Code: scripts/test-agents.sh installs it and runs this with --ignored"]
fn claude_direct_over_tls() {
    let r = direct_run(Agent::Claude, false);
    check_direct(Agent::Claude, &r, 1);
    // Claude Code preconnects with HEAD / before its first call.
    assert!(r.mock.requests().iter().any(|q| q.method() == "HEAD"));
}

#[test]
#[ignore = "runs the real Codex CLI: scripts/test-agents.sh installs it and runs this with --ignored"]
fn codex_direct_over_tls_provider_env_key() {
    let r = direct_run(Agent::Codex, false);
    // The node wrapper and the Rust binary both hold the key.
    check_direct(Agent::Codex, &r, 2);
}

#[test]
#[ignore = "runs the real Codex CLI: scripts/test-agents.sh installs it and runs this with --ignored"]
fn codex_direct_over_tls_builtin_provider() {
    let r = direct_run(Agent::Codex, true);
    check_direct(Agent::Codex, &r, 2);
}

#[test]
#[ignore = "runs the real Gemini CLI: scripts/test-agents.sh installs it and runs this with --ignored"]
fn gemini_direct_over_tls() {
    let r = direct_run(Agent::Gemini, false);
    // Gemini CLI relaunches itself: two node processes hold the key.
    check_direct(Agent::Gemini, &r, 2);
}
