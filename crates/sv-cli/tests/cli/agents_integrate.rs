//! The real agents launched as a user launches them after `session-vault
//! integrate AGENT --proxy` (docs/design.md §10, docs/agents.md):
//!
//! - Claude Code: plain `claude -p …` in the project; its settings'
//!   `apiKeyHelper` gets a stand-in bound to it and `env.ANTHROPIC_BASE_URL`
//!   points it at the proxy.
//! - Codex and Gemini CLI: `codex …` / `gemini …` typed in a bash that
//!   loaded session-vault's hook (`eval "$(session-vault init bash)"`),
//!   whose wrapper function runs them through `exec --proxy`; Codex's
//!   provider and Gemini CLI's auth type come from `integrate`.
//!
//! Each run uses the real daemon with the key stored for the project,
//! `config.toml` pointing the tool's upstream at the mock provider over TLS,
//! the mock holding each call a second and echoing the key it received.
//! It must show: the agent completes and prints the mock's reply (the echo
//! scrubbed to the stand-in), every model call reached the mock with the
//! REAL key in the agent's header, and no process of the agent's tree nor
//! any file under its HOME or project ever held the real key.
//!
//! Skipped unless asked for: `scripts/test-agents.sh` installs the agents
//! and runs these with `--ignored agents_integrate::`.

use std::time::Duration;

use sv_testkit::agents::{prepare, run, Agent, Launch, Wiring};

use crate::agents_real::{
    agent_vault, check_proxied, echoed_stand_in, vault_env, what_was_seen, AgentVault, ProxiedRun,
};
use crate::util::sv_bin;

const TIMEOUT: Duration = Duration::from_secs(60);

struct IntegratedRun {
    run: ProxiedRun,
    /// What `integrate` printed.
    integrated: String,
}

/// Single quotes for bash.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// How the agent is started after `integrate`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    /// As a user types it: `claude …`, or `codex …` / `gemini …` in a bash
    /// that loaded the hook.
    Normal,
    /// `session-vault exec --proxy --tool T -- T …` (Claude Code as an agent
    /// tree, with the `integrate claude --proxy` settings still in place).
    ExecProxy,
}

fn integrated_run(agent: Agent, start: Start) -> IntegratedRun {
    let AgentVault {
        exe,
        key,
        mock,
        home,
        env,
    } = agent_vault(agent, |_| {});
    // The agent's HOME is the vault's HOME (env.home): integrate edits the
    // files the agent reads.
    assert_eq!(home.home, env.home);
    let work = home.work.canonicalize().expect("work dir");

    // The agent's offline environment, and no settings pointing anywhere:
    // those are integrate's to write.
    let wiring = Wiring {
        base_url: "http://unused.invalid".into(),
        key: None,
        set_base_url_var: false,
        ca_file: None,
        codex_builtin_provider: false,
    };
    let mut agent_env = prepare(agent, &home, &wiring).expect("the agent's environment");
    match agent {
        Agent::Claude => {}
        // A user's own config: a model, no provider.
        Agent::Codex => std::fs::write(
            home.codex_home.join("config.toml"),
            "# mine\nmodel = \"gpt-5-codex\"\n",
        )
        .unwrap(),
        // Updates and statistics off (offline), no auth type selected.
        Agent::Gemini => std::fs::write(
            home.home.join(".gemini/settings.json"),
            "{\n  \"general\": {\"disableAutoUpdate\": true, \"disableUpdateNag\": true},\n  \"privacy\": {\"usageStatisticsEnabled\": false}\n}\n",
        )
        .unwrap(),
    }
    let integrated = match agent {
        Agent::Claude => env.run_in(&work, &["integrate", "claude", "--proxy"], None),
        _ => env.run(&["integrate", agent.tool(), "--proxy"], None),
    }
    .ok()
    .stdout;

    // session-vault on PATH (Claude Code's helper, the hook) and what it
    // needs to find its daemon.
    let bin_dir = sv_bin().parent().unwrap().display().to_string();
    for (k, v) in agent_env.iter_mut() {
        if k == "PATH" {
            *v = format!("{bin_dir}:{v}");
        }
    }
    agent_env.extend(vault_env(&env));

    let launch = match agent {
        _ if start == Start::ExecProxy => Launch::agent(agent, &exe, &home, agent_env, "say hi")
            .wrapped(
                &sv_bin(),
                &["exec", "--proxy", "--tool", agent.tool(), "--"],
            ),
        // Exactly `claude -p …`, from the project.
        Agent::Claude => Launch::agent(agent, &exe, &home, agent_env, "say hi"),
        // `codex …` / `gemini …` typed in a bash that loaded the hook.
        _ => {
            let typed: Vec<String> = std::iter::once(agent.tool().to_owned())
                .chain(agent.prompt_args("say hi").iter().map(|a| sh_quote(a)))
                .collect();
            let script = format!(
                "eval \"$(session-vault init bash)\" || exit 90\n\
                 [ \"$(type -t {tool})\" = function ] || exit 91\n\
                 {typed}\n",
                tool = agent.tool(),
                typed = typed.join(" ")
            );
            Launch {
                program: "/bin/bash".into(),
                args: vec![
                    "--norc".into(),
                    "--noprofile".into(),
                    "-c".into(),
                    script.into(),
                ],
                env: agent_env,
                cwd: home.work.clone(),
            }
        }
    };
    let holding = mock.dir.join("holding");
    let outcome = run(&launch, TIMEOUT, key.as_bytes(), Some(&holding)).expect("start the agent");
    IntegratedRun {
        run: ProxiedRun {
            key,
            mock,
            home,
            outcome,
            env,
        },
        integrated,
    }
}

/// What every run through `integrate --proxy` must show; returns the
/// stand-in the agent saw (the mock's echo, scrubbed by the proxy).
fn check(agent: Agent, r: &IntegratedRun) -> String {
    let (run, out) = (&r.run, &r.run.outcome);
    assert!(
        out.success(),
        "{} failed: {}\n(integrate said: {})",
        agent.tool(),
        out.describe(),
        r.integrated
    );
    check_proxied(agent, &run.key, &run.mock, &run.home, out);
    let stand_in = echoed_stand_in(&run.key, out);
    eprintln!(
        "{} after integrate --proxy: {}",
        agent.tool(),
        what_was_seen(out, &run.mock)
    );
    stand_in
}

#[test]
#[ignore = "runs the real Claude Code: scripts/test-agents.sh installs it and runs this with --ignored"]
fn claude_plain_launch_after_integrate_proxy() {
    let r = integrated_run(Agent::Claude, Start::Normal);
    check(Agent::Claude, &r);
    // The helper's lookups are stand-ins, never plaintext.
    let log = r.run.env.run(&["log", "--json"], None).ok().stdout;
    assert!(log.contains("stand_in"), "{log}");
    assert!(!log.contains(&r.run.key));
}

#[test]
#[ignore = "runs the real Codex CLI: scripts/test-agents.sh installs it and runs this with --ignored"]
fn codex_through_the_shell_hook_after_integrate_proxy() {
    let r = integrated_run(Agent::Codex, Start::Normal);
    let stand_in = check(Agent::Codex, &r);
    // Its provider from integrate goes straight to POST /v1/responses.
    assert!(r.run.mock.requests().iter().all(|q| q.method() == "POST"));
    // Its session files hold what it saw: the stand-in.
    let files = sv_testkit::agents::files_containing(&r.run.home.codex_home, stand_in.as_bytes());
    assert!(
        !files.is_empty(),
        "no file under CODEX_HOME holds the stand-in"
    );
    // The user's own line is still in its config.
    let config = std::fs::read_to_string(r.run.home.codex_home.join("config.toml")).unwrap();
    assert!(
        config.starts_with("# mine\nmodel = \"gpt-5-codex\"\n"),
        "{config}"
    );
}

#[test]
#[ignore = "runs the real Gemini CLI: scripts/test-agents.sh installs it and runs this with --ignored"]
fn gemini_through_the_shell_hook_after_integrate_proxy() {
    let r = integrated_run(Agent::Gemini, Start::Normal);
    check(Agent::Gemini, &r);
    assert!(
        r.run
            .mock
            .requests()
            .iter()
            .any(|q| q.path().ends_with(":streamGenerateContent?alt=sse")),
        "{:?}",
        r.run.mock.requests()
    );
}

#[test]
#[ignore = "runs the real Claude Code: scripts/test-agents.sh installs it and runs this with --ignored"]
fn claude_through_exec_proxy_with_the_integrate_settings() {
    // docs/agents.md: to make Claude Code an agent tree, launch it through
    // exec --proxy; the settings `integrate claude --proxy` wrote stay.
    let r = integrated_run(Agent::Claude, Start::ExecProxy);
    check(Agent::Claude, &r);
}
