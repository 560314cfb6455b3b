#!/usr/bin/env bash
# The whole test suite: unit, property and end-to-end tests against the real
# binaries, first on the passphrase backend, then again on the Secret Service
# (a private gnome-keyring) and on TPM2 (swtpm).
# Needs on PATH: bash zsh fish tmux shellcheck python3 git systemd-analyze,
# gnome-keyring-daemon dbus-run-session secret-tool swtpm, and libtss2-dev to
# build the tpm2 feature (.ci/run installs them all on Debian).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== workspace suite (passphrase backend)"
cargo test --workspace --locked --all-features
bash scripts/test-backends.sh
