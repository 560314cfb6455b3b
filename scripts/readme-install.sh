#!/usr/bin/env bash
# Runs the README's first command (install, create the vault, store a key
# for the user's project) literally, as a newcomer would, with everything it
# writes kept in a scratch directory: cargo installs into
# $CARGO_INSTALL_ROOT there, HOME and XDG_RUNTIME_DIR are fresh, and stdin
# gives the passphrase and the key. Then checks that `session-vault get`
# prints the key inside that project and exits 3 outside it.
# A release build: a few minutes on two cores. .ci/run runs it after the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$PWD
cmd=$(sh scripts/readme-command.sh 1)
echo "readme-install: running: $cmd"

# cargo and rustup keep their caches and toolchains under the real HOME.
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/sv-readme-install.XXXXXX")
export HOME="$scratch/home"
export XDG_RUNTIME_DIR="$scratch/run"
export CARGO_INSTALL_ROOT="$scratch/cargo"
export PATH="$CARGO_INSTALL_ROOT/bin:$PATH"
unset XDG_DATA_HOME XDG_CONFIG_HOME DBUS_SESSION_BUS_ADDRESS \
    SESSION_VAULT_BACKEND SESSION_VAULT_TCTI SESSION_VAULT_NO_AUTOSTART ANTHROPIC_API_KEY
mkdir -p "$HOME"
mkdir -m 0700 "$XDG_RUNTIME_DIR"
cleanup() {
    "$CARGO_INSTALL_ROOT/bin/session-vault" daemon stop >/dev/null 2>&1 || true
    rm -rf "$scratch"
}
trap cleanup EXIT

# The project the command names (`--project ~/src/app`): the user's own,
# so it exists before they run the command.
project_arg=$(printf '%s\n' "$cmd" | sed -n 's/.*--project \([^ ]*\).*/\1/p')
if [ -z "$project_arg" ]; then
    echo "readme-install: the README's first command names no --project" >&2
    exit 1
fi
project="${project_arg/#\~/$HOME}"
mkdir -p "$project"

passphrase="readme install passphrase"
key="sk-ant-api03-readme-install-check-key"
printf '%s\n%s\n' "$passphrase" "$key" | bash -euc "$cmd"

cli=$(command -v session-vault)
if [ "$cli" != "$CARGO_INSTALL_ROOT/bin/session-vault" ] || [ ! -x "$CARGO_INSTALL_ROOT/bin/sv-daemon" ]; then
    echo "readme-install: the binaries are not where the install line put them ($cli)" >&2
    exit 1
fi
# (ldd exits 0 on a static-pie binary too: read what it says.)
if ldd "$cli" 2>&1 | grep -q 'statically linked'; then
    echo "readme-install: $cli is statically linked"
else
    echo "readme-install: note: $cli is dynamically linked"
fi
got=$(cd "$project" && session-vault get --tool claude)
if [ "$got" != "$key" ]; then
    echo "readme-install: \`get\` in $project did not print the stored key" >&2
    exit 1
fi
code=0
(cd "$HOME" && session-vault get --tool claude >/dev/null 2>&1) || code=$?
if [ "$code" -ne 3 ]; then
    echo "readme-install: \`get\` outside the project exited $code, not 3" >&2
    exit 1
fi
echo "readme-install: ok (the key is served in $project_arg and not outside it; built from $checkout)"
