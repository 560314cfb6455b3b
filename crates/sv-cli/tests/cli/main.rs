//! The end-to-end tests of session-vault: one binary (one link step), one
//! module per feature, each starting the real `session-vault` and
//! `sv-daemon` binaries through the harness in [`util`].
//!
//! Tests that cannot run everywhere are `#[ignore]`d with what they need,
//! never skipped silently: the hardware backends' tests in [`backends`] run
//! inside their services from `scripts/test-backends.sh` (`--ignored
//! backends::keyring::`, `backends::tpm2::`), the tests that act as another
//! user from `scripts/test.sh` as root (`--ignored --skip backends::
//! --skip agents_real:: --skip agents_shell:: --skip agents_integrate::`),
//! the real agents' tests in [`agents_real`], [`agents_shell`] and
//! [`agents_integrate`] from `scripts/test-agents.sh`, which installs the
//! pinned agents first.

// The harness: a private HOME per test, the real binaries, `Run` results.
mod util;

// docs/agents.md's config, exec lines and .mcp.json run as written.
mod agents_doc;
// The real agents launched as a user does after `integrate AGENT --proxy`
// (ignored: scripts/test-agents.sh runs `agents_integrate::`).
mod agents_integrate;
// The real Claude Code, Codex and Gemini CLI against the mock provider API
// (ignored: scripts/test-agents.sh installs them and runs `agents_real::`).
mod agents_real;
// The real Claude Code's shell asking for the key under `exec --proxy`: refused
// and audited, while the agent completes (ignored: scripts/test-agents.sh).
mod agents_shell;
// The audit log: what is recorded, `log` filters, retention, no secrets.
mod audit_log;
// Callers as the kernel sees them: per-message senders, agent trees.
mod callers;
// The Secret Service and TPM2 key backends on real services, and rekey.
mod backends;
// Every core command against the real daemon and vault file.
mod commands;
// `init` hooks through the shells' parsers, completions, the man page.
mod completions_man;
// The daemon's own log: no secret at any level, journald prefixes.
mod daemon_log;
// `doctor`: finding keys in fixture homes and projects, and `--fix`.
mod doctor;
// Memory locking, no core dumps, sd_notify, the service files.
mod hardening;
// `integrate claude`: Claude Code's settings gain apiKeyHelper, `--undo`.
mod integrate_claude;
// `integrate codex --proxy`: Codex's config.toml, comments and layout
// kept, byte-exact undo, a broken file refused.
mod integrate_codex;
// `integrate --proxy`: settings and undo per agent; the helper's stand-in
// lives with the agent that ran it.
mod integrate_proxy;
// The hook's codex/gemini wrappers after `integrate --proxy`, in real shells.
mod integrate_wrappers;
// Idle locking, `lock`, SIGUSR1, and `unlock` restoring service.
mod locking;
// `exec --proxy` through the daemon's credential proxy to a mock provider
// over TLS: the real key on the request, stand-ins everywhere else.
#[cfg(target_os = "linux")]
mod proxy;
// `install` / `uninstall` of the rc-file block: one block, bytes kept.
mod rc_install;
// README.md's quick start and first block run as written.
mod readme;
// Crashes, concurrency, hostile frames, hygiene and tampering.
mod robustness;
// Caller rules: `add --confirm` through an askpass program, once per
// process tree; `add --allow-exe` by the running file's inode; list, log.
#[cfg(target_os = "linux")]
mod rules;
// Project/global scope and expiry, and quoting in real shells.
mod scope_expiry;
// `sv_load` / `sv_unload` in real bash, zsh and fish.
mod shell_hooks;
// Interactive use on a real terminal (tmux): hidden input, prompts.
mod terminal;
