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

use std::path::PathBuf;
use std::time::Duration;

use sv_testkit::agents::{
    prepare, run, Agent, AgentHome, Exposure, Launch, Outcome, Wiring, MOCK_TEXT,
};
use sv_testkit::mock::{MockConfig, MockServer};

use crate::util::TestEnv;

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
pub(crate) fn check_proxied(
    agent: Agent,
    real_key: &str,
    mock: &MockServer,
    home: &AgentHome,
    out: &Outcome,
) {
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

/// One run through `session-vault exec --proxy --tool T -- <agent> …`: the
/// real daemon, the key stored for the project (the agent's working
/// directory), config.toml pointing the tool's upstream at the mock over TLS
/// with the mock's CA as `ca_file`. The agent talks plain HTTP to the proxy
/// on loopback and trusts no extra CA; only the proxy talks TLS to the mock.
pub(crate) struct ProxiedRun {
    pub(crate) key: String,
    pub(crate) mock: MockServer,
    pub(crate) home: AgentHome,
    pub(crate) outcome: Outcome,
    /// Dropped last: its Drop stops the daemon.
    pub(crate) env: TestEnv,
}

/// The vault an agent runs against: the real daemon, its HOME the
/// agent's, the key stored for the agent's project, and the tool's upstream
/// the mock provider over TLS (its CA as `ca_file`), holding each call a
/// second and echoing the key it received.
pub(crate) struct AgentVault {
    pub(crate) exe: PathBuf,
    pub(crate) key: String,
    pub(crate) mock: MockServer,
    pub(crate) home: AgentHome,
    /// Dropped last: its Drop stops the daemon.
    pub(crate) env: TestEnv,
}

/// Sets up the [`AgentVault`] for `agent`, the mock configured further by
/// the caller; panics when the agent is not installed.
pub(crate) fn agent_vault(
    agent: Agent,
    configure_mock: impl FnOnce(&mut MockConfig),
) -> AgentVault {
    let exe = agent.executable().unwrap_or_else(|| {
        panic!(
            "{} is not installed: run scripts/install-agents.sh (or set SV_AGENTS_BIN)",
            agent.tool()
        )
    });
    let env = TestEnv::passphrase();
    let key = agent.fake_key();
    let mut config = MockConfig::new(env.mkdir("mock"));
    config.hold_ms = 1000;
    config.echo_received_key = true;
    configure_mock(&mut config);
    let mock = MockServer::start(config, true).expect("start the mock provider");
    let ca = mock.ca_file.clone().expect("the mock serves TLS");
    env.write_config(&format!(
        "[tools.{tool}]\nupstream = \"https://127.0.0.1:{port}\"\nca_file = \"{ca}\"\n",
        tool = agent.tool(),
        port = mock.port,
        ca = ca.display()
    ));
    env.start_unlocked();
    let home = AgentHome::new(env.dir.path()).expect("agent home");
    let work = home.work.canonicalize().expect("work dir");
    env.add(agent.tool(), &["--project", work.to_str().unwrap()], &key);
    AgentVault {
        exe,
        key,
        mock,
        home,
        env,
    }
}

/// What session-vault run by the agent needs to find its daemon (the same
/// HOME): the vault's `XDG_*` and `SESSION_VAULT_*` variables.
pub(crate) fn vault_env(env: &TestEnv) -> Vec<(String, String)> {
    env.command(&[])
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_str()?.to_owned(), v?.to_str()?.to_owned())))
        .filter(|(k, _)| k.starts_with("XDG_") || k.starts_with("SESSION_VAULT_"))
        .collect()
}

fn proxied_run(agent: Agent) -> ProxiedRun {
    proxied_run_with(agent, |_| {}, |_| {})
}

/// [`proxied_run`] with the mock's configuration and the agent's launch
/// (its arguments and environment, before `exec --proxy` wraps it) adjusted
/// by the caller.
pub(crate) fn proxied_run_with(
    agent: Agent,
    configure_mock: impl FnOnce(&mut MockConfig),
    adjust_launch: impl FnOnce(&mut Launch),
) -> ProxiedRun {
    let AgentVault {
        exe,
        key,
        mock,
        home,
        env,
    } = agent_vault(agent, configure_mock);
    // The agent's HOME is the vault's HOME: whatever the agent writes there
    // (or under the XDG directories the vault uses) is scanned; the vault's
    // own files hold the key sealed only.
    let proxy = env.proxy_addr();
    let wiring = Wiring {
        // Codex takes its base URL from its config.toml only: the provider's
        // base_url is the proxy's (prepare adds `/v1`).
        base_url: format!("http://{proxy}/t/{}", agent.tool()),
        key: None,
        set_base_url_var: false,
        ca_file: None,
        codex_builtin_provider: false,
    };
    let mut agent_env = prepare(agent, &home, &wiring).expect("write the agent's settings");
    agent_env.extend(vault_env(&env));

    let mut launch = Launch::agent(agent, &exe, &home, agent_env, "say hi");
    adjust_launch(&mut launch);
    let launch = launch.wrapped(
        &crate::util::sv_bin(),
        &["exec", "--proxy", "--tool", agent.tool(), "--"],
    );
    let holding = mock.dir.join("holding");
    let outcome = run(&launch, TIMEOUT, key.as_bytes(), Some(&holding)).expect("start the agent");
    ProxiedRun {
        key,
        mock,
        home,
        outcome,
        env,
    }
}

/// A run's figures for the test's output: the agent's processes and
/// samples, and the requests the mock got.
pub(crate) fn what_was_seen(out: &Outcome, mock: &MockServer) -> String {
    let requests: Vec<String> = mock
        .requests()
        .iter()
        .map(|q| format!("{} {}", q.method(), q.path()))
        .collect();
    format!(
        "{} processes seen, {} samples ({} while held), requests at the mock {requests:?}",
        out.tree.processes.len(),
        out.tree.samples,
        out.tree.samples_while_holding,
    )
}

/// The stand-in the agent saw: the reply is "<MOCK_TEXT> <echo>", the
/// mock's echo of the key it received, which the proxy turned into the
/// stand-in on the way back.
pub(crate) fn echoed_stand_in(real_key: &str, out: &Outcome) -> String {
    let after = out
        .stdout
        .split_once(&format!("{MOCK_TEXT} "))
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no echo after the mock's text: {}", out.describe()));
    let stand_in: String = after.chars().take(real_key.len()).collect();
    assert_eq!(stand_in.len(), real_key.len(), "{}", out.describe());
    assert_ne!(stand_in, real_key);
    stand_in
}

/// The checks of [`check_proxied`], and that they looked where it matters:
/// the mock echoed the key it received, the proxy turned it into the
/// stand-in on the way back, and the files the agent wrote are returned
/// (those holding the stand-in, which is what the agent saw).
fn check_proxied_run(agent: Agent, r: &ProxiedRun) -> Vec<std::path::PathBuf> {
    check_proxied(agent, &r.key, &r.mock, &r.home, &r.outcome);
    let out = &r.outcome;
    let stand_in = echoed_stand_in(&r.key, out);
    let files: Vec<_> = [&r.home.home, &r.home.work]
        .iter()
        .flat_map(|d| sv_testkit::agents::files_containing(d, stand_in.as_bytes()))
        .collect();
    eprintln!(
        "{} through exec --proxy: {}; files holding the stand-in: {files:?}",
        agent.tool(),
        what_was_seen(out, &r.mock)
    );
    files
}

#[test]
#[ignore = "runs the real Claude Code: scripts/test-agents.sh installs it and runs this with --ignored"]
fn claude_through_exec_proxy() {
    let r = proxied_run(Agent::Claude);
    let files = check_proxied_run(Agent::Claude, &r);
    // Its key-less `HEAD` preconnect of the base URL is answered by the
    // proxy itself: nothing upstream, and no refusal in the audit log.
    assert!(r.mock.requests().iter().all(|q| q.method() == "POST"));
    let log = r.env.run(&["log", "--denied", "--json"], None).ok();
    assert!(!log.stdout.contains("refused_stand_in"), "{}", log.stdout);
    // The transcript holds what the agent saw: the stand-in, not the key.
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().contains("/.claude/projects/")),
        "no transcript under ~/.claude/projects holds the stand-in: {files:?}"
    );
}

#[test]
#[ignore = "runs the real Codex CLI: scripts/test-agents.sh installs it and runs this with --ignored"]
fn codex_through_exec_proxy() {
    let r = proxied_run(Agent::Codex);
    let files = check_proxied_run(Agent::Codex, &r);
    // Its WebSocket attempt was answered 426 by the proxy (never reaching
    // the mock), and it fell back to POST /v1/responses.
    assert!(r.mock.requests().iter().all(|q| q.method() == "POST"));
    // Its session files under CODEX_HOME (scanned with the rest of HOME)
    // hold what it saw: the stand-in.
    assert!(
        files.iter().any(|f| f.starts_with(&r.home.codex_home)),
        "no file under CODEX_HOME holds the stand-in: {files:?}"
    );
}

#[test]
#[ignore = "runs the real Gemini CLI: scripts/test-agents.sh installs it and runs this with --ignored"]
fn gemini_through_exec_proxy() {
    let r = proxied_run(Agent::Gemini);
    check_proxied_run(Agent::Gemini, &r);
    // Its key went in x-goog-api-key (checked above); `?alt=sse` reached the
    // mock with the path.
    assert!(
        r.mock
            .requests()
            .iter()
            .any(|q| q.path().ends_with(":streamGenerateContent?alt=sse")),
        "{:?}",
        r.mock.requests()
    );
}
