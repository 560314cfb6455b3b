#!/usr/bin/env bash
# The real-agent tests: installs the pinned Claude Code, Codex and Gemini CLI
# (scripts/install-agents.sh) and runs the tests that need them, which plain
# `cargo test` lists as ignored. Each agent runs against the mock provider API
# over TLS on loopback; nothing leaves the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(bash scripts/install-agents.sh "${SV_AGENTS_PREFIX:-/opt/sv-agents}")
export SV_AGENTS_BIN=$bin
echo "== real agents ($("$bin/claude" --version 2>/dev/null | head -1); $("$bin/codex" --version 2>/dev/null | head -1); gemini $("$bin/gemini" --version 2>/dev/null | head -1))"
scripts/expect-ran.sh cargo test -p sv-cli --locked --test cli -- --ignored agents_real:: agents_shell:: agents_integrate:: --test-threads 1
