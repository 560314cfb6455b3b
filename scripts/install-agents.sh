#!/usr/bin/env bash
# Installs the pinned versions of the real agents that the agent tests run
# (crates/sv-cli/tests/cli/agents_real.rs) into one npm prefix, and prints the
# prefix's bin directory. Bump a version here only after running the agent
# tests with it and updating "Verified agent versions" in docs/agents.md.
#
#   scripts/install-agents.sh [PREFIX]      default: $SV_AGENTS_PREFIX or /opt/sv-agents
#
# Then: SV_AGENTS_BIN=PREFIX/node_modules/.bin cargo test -p sv-cli --test cli -- --ignored agents_real:: agents_shell:: agents_integrate::
# Needs node >= 20 and npm (Debian: apt-get install nodejs npm).
set -euo pipefail

CLAUDE_CODE_VERSION=2.1.197
CODEX_VERSION=0.171.0
GEMINI_CLI_VERSION=0.61.0

prefix=${1:-${SV_AGENTS_PREFIX:-/opt/sv-agents}}
command -v npm >/dev/null || { echo "install-agents.sh: npm not found; install nodejs and npm first" >&2; exit 1; }
mkdir -p "$prefix"
want="@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION @openai/codex@$CODEX_VERSION @google/gemini-cli@$GEMINI_CLI_VERSION"

# Already there at exactly these versions: nothing to do (CI reruns are cheap).
installed() {
    local pkg=$1 version=$2 json="$prefix/node_modules/$1/package.json"
    [[ -f $json ]] && [[ $(node -p "require('$json').version" 2>/dev/null) == "$version" ]]
}
if installed @anthropic-ai/claude-code "$CLAUDE_CODE_VERSION" &&
    installed @openai/codex "$CODEX_VERSION" &&
    installed @google/gemini-cli "$GEMINI_CLI_VERSION"; then
    echo "$prefix/node_modules/.bin"
    exit 0
fi

# --save-exact keeps the prefix's package.json pinned; no audit or fund
# chatter, no update notice (nothing else may go out during a test run).
npm install --prefix "$prefix" --save-exact --no-audit --no-fund --no-update-notifier \
    --loglevel=error $want >&2
for bin in claude codex gemini; do
    [[ -x $prefix/node_modules/.bin/$bin ]] || { echo "install-agents.sh: $bin missing after npm install" >&2; exit 1; }
done
echo "$prefix/node_modules/.bin"
